"""The training set as a strategy reads it: rows by position."""

import numpy as np
import torch
from skorch.dataset import Dataset

from .._data import IndexedData


class TrainingData(IndexedData):
    """In-memory training data for a training loop of one's own.

    Strategies hold positions, never rows; they read rows and labels
    through this (the estimator builds the same from its own input).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, ...)
        Training input (float32).
    y : array-like of int of shape (n_samples,)
        Class indices ``0 .. n_classes - 1``.
    device : str, torch.device or None, default=None
        Keep the rows on this device (gathered there at every step).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_crest.selection import TrainingData
    >>> data = TrainingData(np.zeros((4, 2), dtype=np.float32), [0, 1, 0, 1])
    >>> data.batch(np.array([1, 3]))[1].tolist()
    [1, 1]
    """

    def __init__(self, X, y, device=None):
        X = torch.as_tensor(np.asarray(X, dtype=np.float32)
                            if not isinstance(X, torch.Tensor) else X)
        y = torch.as_tensor(np.asarray(y), dtype=torch.int64)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"TrainingData needs as many labels as rows, at "
                             f"least one; got {len(X)} rows and {len(y)} labels.")
        super().__init__(Dataset(X, y), lambda labels: labels, device=device)
