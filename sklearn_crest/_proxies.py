"""Last-layer gradient proxies: the features that coresets are selected on.

For softmax outputs ``p`` and cross-entropy, the gradient of the loss with
respect to the logits is ``p - onehot(y)``. CRAIG and CREST select coresets on
this C-dimensional proxy of the full gradient (Katharopoulos and Fleuret 2018
show it bounds the gradient norm up to a constant).
"""

import numpy as np
import torch


def softmax_minus_onehot(probabilities, labels):
    """Gradient of the cross-entropy with respect to the logits.

    Parameters
    ----------
    probabilities : ndarray or torch.Tensor of shape (n, C)
        Class probabilities (rows sum to one).
    labels : ndarray or torch.Tensor of shape (n,)
        Encoded labels in ``[0, C)``.

    Returns
    -------
    ndarray or torch.Tensor of shape (n, C)
        Same type (and device) as ``probabilities``.
    """
    if isinstance(probabilities, torch.Tensor):
        labels = torch.as_tensor(labels, device=probabilities.device,
                                 dtype=torch.long)
        proxy = probabilities.clone()
        proxy[torch.arange(proxy.shape[0], device=proxy.device), labels] -= 1.0
        return proxy
    proxy = np.array(probabilities, dtype=np.float64, copy=True)
    labels = np.asarray(labels, dtype=np.int64)
    proxy[np.arange(proxy.shape[0]), labels] -= 1.0
    return proxy


def estimator_gradient_proxy(estimator, X, y):
    """``predict_proba(X) - onehot(y)`` of a fitted probabilistic classifier.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba`` and ``classes_``
    X : array-like of shape (n, d)
    y : array-like of shape (n,)
        Labels, all of them in ``estimator.classes_``.

    Returns
    -------
    ndarray of shape (n, n_classes)
    """
    probabilities = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    encoded = np.searchsorted(estimator.classes_, y)
    return softmax_minus_onehot(probabilities, encoded)
