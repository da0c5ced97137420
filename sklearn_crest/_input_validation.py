"""The estimator's input checks: training data, labels, prediction input.

A fit that fails on its input restores the fitted attributes it had
touched, so that a fitted model is never corrupted by bad input.
"""

import collections.abc

import numpy as np
import torch
from scipy import sparse
from skorch.exceptions import NotInitializedError
from skorch.utils import is_dataset
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._data import KnownLabels, _dataset_labels

# Fitted attributes that validating training data sets; a fit that fails on
# its input restores them.
_DATA_ATTRIBUTES = ("n_features_in_", "feature_names_in_", "label_encoder_",
                    "input_ndim_")


def prepare_training_data(net, X, y, reset, classes=None):
    """Validate training data and fit the label encoding (when ``reset``).

    Returns the input for skorch: a float32 tensor and the *original*
    labels for arrays (skorch's datasets keep them, so that its scoring
    callbacks compare original labels with ``predict``; batches are encoded
    when served), or the Dataset and its labels (for stratified splits).
    """
    saved = {name: getattr(net, name) for name in _DATA_ATTRIBUTES
             if hasattr(net, name)}
    try:
        return _validate_training_data(net, X, y, reset, classes)
    except Exception:
        for name in _DATA_ATTRIBUTES:
            if name in saved:
                setattr(net, name, saved[name])
            elif hasattr(net, name):
                delattr(net, name)
        raise


def _validate_training_data(net, X, y, reset, classes):
    if is_dataset(X):
        if y is not None:
            raise ValueError(
                "Pass y=None when X is a torch Dataset: the labels come from "
                "the dataset.")
        labels = _dataset_labels(X)
        # Each epoch's iterator takes these instead of reading the items.
        net._known_labels = KnownLabels(X, labels)
        if labels.size == 0:
            raise ValueError("The Dataset passed as X is empty.")
        if labels.min() < 0:
            raise ValueError("Dataset labels must be class indices >= 0.")
        if reset:
            n_classes = int(labels.max()) + 1
            if classes is not None:
                n_classes = max(n_classes, len(classes))
            net.label_encoder_ = LabelEncoder().fit(np.arange(n_classes))
            net.input_ndim_ = None
            require_two_classes(net.classes_)
        elif labels.max() >= len(net.classes_):
            raise ValueError(
                f"The Dataset has label {int(labels.max())}, beyond the "
                f"{len(net.classes_)} classes of the first fit.")
        return X, labels
    if isinstance(X, collections.abc.Mapping) and not sparse.issparse(X):
        # (scipy's DOK sparse format is a dict too: scikit-learn's sparse
        # error applies to it.)
        raise TypeError(
            "X is a dict (inputs for a module with several arguments); "
            f"{type(net).__name__} selects training examples by row and "
            "cannot index a dict of arrays. Pass a torch Dataset whose items "
            "are (dict_of_tensors, label) instead: its batches reach the "
            "module as keyword arguments, as in skorch.")
    if y is None:
        raise ValueError(
            f"{type(net).__name__} requires y to be passed, but the target y "
            "is None; pass labels, or a torch Dataset yielding (x, y) as X.")
    X = validate_data(net, _to_numpy(X), reset=reset, dtype=np.float32,
                      allow_nd=True, ensure_min_samples=1)
    y = _to_numpy(y)
    if getattr(y, "ndim", 1) == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    y = column_or_1d(y)
    check_classification_targets(y)
    if len(y) != len(X):
        raise ValueError(
            f"X has {len(X)} samples but y has {len(y)}; they must match.")
    if reset or getattr(net, "label_encoder_", None) is None:
        # Also after skorch's initialize() + load_params(), where classes=
        # stands for the labels of the fit that made the parameters.
        if classes is None:
            # classes=[] is treated as None: inferred from y. (In skorch
            # it turns the inference off; classes_ then comes from here.)
            given = net.classes is not None and len(net.classes) > 0
            classes = net.classes if given else np.unique(y)
        net.label_encoder_ = LabelEncoder().fit(np.asarray(classes))
        net.input_ndim_ = X.ndim
        require_two_classes(net.classes_)
    unknown = np.setdiff1d(np.unique(y), net.classes_)
    if unknown.size:
        raise ValueError(
            f"y contains labels {unknown.tolist()} not seen in the first fit "
            f"(classes_ = {net.classes_.tolist()}); call fit instead of "
            "partial_fit to start over with new classes, or pass all classes "
            "to the first partial_fit with classes=.")
    return torch.from_numpy(np.ascontiguousarray(X)), y


# ----------------------------------------------------------- prediction
def prediction_input(net, X):
    if not net.initialized_:
        # skorch's error, which is also scikit-learn's NotFittedError.
        raise NotInitializedError(
            f"This {type(net).__name__} instance is not initialized yet. "
            "Call 'initialize' or 'fit' with appropriate arguments before "
            "using this method.")
    if is_dataset(X):
        return X
    check_is_fitted(net)
    X = validate_data(net, _to_numpy(X), reset=False, dtype=np.float32,
                      allow_nd=True)
    return torch.from_numpy(np.ascontiguousarray(X))


def refuse_sample_weight(fit_params):
    """A clear error for ``sample_weight``, which skorch would pass to the
    module's forward (and its validation split would fail on)."""
    if "sample_weight" in fit_params:
        raise TypeError(
            "CrestClassifier.fit takes no sample_weight: each training step "
            "already weights its examples by their coreset weights, and skorch "
            "would pass sample_weight to the module's forward. To weight "
            "examples, repeat them in X (oversampling), or pass a torch Dataset "
            "whose items carry a weight and override per_example_loss to apply "
            "it (see the user guide, 'Differences from NeuralNetClassifier').")


def require_two_classes(classes):
    if len(classes) < 2:
        raise ValueError(
            f"CrestClassifier needs at least two classes; y has only "
            f"{list(classes)}. A classifier of one class predicts nothing (and "
            "scikit-learn's classifiers refuse it too). For partial_fit on "
            "batches that may hold one class, pass every class with classes=.")


def _to_numpy(data):
    """CPU numpy view of a torch tensor; anything else unchanged."""
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    return data
