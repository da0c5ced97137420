"""``selection="gradmatch"``: GradMatch (Killamsetty et al., ICML 2021), the
paper's other per-epoch baseline.

Orthogonal matching pursuit picks, per class, examples whose weighted
last-layer gradients match the class's mean gradient
(``_coresets/gradient_matching.py``), as CORDS's "PerClassPerGradient" variant: for an
example of class ``c`` the gradient of its loss with respect to the output
layer's bias ``c`` and weight row ``c``. The layer's inputs are recorded
during the same eval pass that gives the proxies.
"""

import contextlib
import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from .. import _user_warnings as user_warnings
from .._coresets.gradient_matching import gradient_matching_subset
from .._coresets.proxies import OutputLayerInputs, find_output_layer
from ._epoch_subset import (
    EPOCH_SUBSET_CONSTRAINTS,
    EPOCH_SUBSET_PARAMETER_DOCS,
    EpochSubsetStrategy,
)


class GradMatchSubsets(EpochSubsetStrategy):
    __doc__ = f"""GradMatch: per-class gradient matching by OMP on the whole pool.

    Parameters
    ----------
    regularization : float >= 0, default=0.0
        The ridge ``lam`` on the weights in ``||sum_S w_i g_i - sum_V g_i||^2
        + lam ||w||^2`` (CORDS's ``lam``: 0 by default there, 0.5 in its
        CIFAR-10 configuration). Unregularised by default, as measured on
        held-out digits (2 seeds, ``benchmarks/baseline_weighting.py``): 1.9
        points above random batches at 0, 0.1 below at 0.5. Each class's
        weights are then rescaled to sum to the class's size, so that the
        subset trains under the data's class prior. ``g_i`` is the gradient
        of the output layer's bias and weight row of the example's class,
        found by a forward hook on the module's last ``torch.nn.Linear`` with
        one output per class; a module without one gets a warning and
        matches the bias gradients ``softmax - onehot`` only.
    {EPOCH_SUBSET_PARAMETER_DOCS}
    Examples
    --------
    >>> from sklearn_crest.selection import GradMatchSubsets
    >>> GradMatchSubsets(regularization=0.5)
    GradMatchSubsets(regularization=0.5)
    """

    name = "gradmatch"
    printed_history = ("n_selections", "n_steps", "selection_s", "coreset_size")
    _parameter_constraints = {
        "regularization": [Interval(numbers.Real, 0, None, closed="left")],
        **EPOCH_SUBSET_CONSTRAINTS}
    region_parameters = ("class_balance", "regularization")

    def __init__(self, regularization=0.0, class_balance="proportional",
                 selection_interval=1, batch_weighting="batch",
                 selection_precision="auto", drop_learned=False, watch_interval=5,
                 drop_interval=20, drop_thresh=0.1, min_train_frac=0.8):
        self.regularization = regularization
        self.class_balance = class_balance
        self.selection_interval = selection_interval
        self.batch_weighting = batch_weighting
        self.selection_precision = selection_precision
        self.drop_learned = drop_learned
        self.watch_interval = watch_interval
        self.drop_interval = drop_interval
        self.drop_thresh = drop_thresh
        self.min_train_frac = min_train_frac

    def pool_outputs(self, model, data):
        layer = find_output_layer(model.module, self.pool.n_classes)
        recorder = OutputLayerInputs(layer) if layer is not None else None
        with recorder if recorder is not None else contextlib.nullcontext():
            probabilities, losses, _ = super().pool_outputs(model, data)
        activations = recorder.activations(probabilities) if recorder else None
        if activations is None:
            self._warn_no_output_layer(layer)
        return probabilities, losses, activations

    def choose_subset(self, proxies, activations, labels, budget):
        indices, weights = gradient_matching_subset(
            _last_layer_gradients(proxies, activations), labels, budget,
            regularization=self.regularization,
            class_balance=self.class_balance, random_state=self.pool.rng)
        return indices, class_totals_as_counts(weights, labels[indices],
                                               np.bincount(labels))

    def _warn_no_output_layer(self, layer):
        if getattr(self, "output_layer_warned", False):  # once per fit
            return
        self.output_layer_warned = True
        reason = ("has no torch.nn.Linear with one output per class" if layer is None
                  else "has a torch.nn.Linear with one output per class, but its "
                  "output is not the module's prediction")
        user_warnings.warn(
            f"selection='gradmatch' matches the gradients of the output layer's "
            f"weights and bias, but the module {reason}; matching the bias "
            "gradients (softmax minus one-hot) only. End the module with a "
            "torch.nn.Linear(n_features, n_classes) that produces the logits "
            "(a softmax after it is fine) to match the full last-layer gradient.")


def _last_layer_gradients(proxies, activations):
    """Per-class gradient features for GradMatch, as CORDS's "PerClassPerGradient":
    for an example of class ``c``, the gradient of its loss with respect to the
    output layer's bias ``c`` and weight row ``c``, i.e. ``(p_c - 1)`` and
    ``(p_c - 1) * h`` with ``h`` the layer's input. Without ``activations``
    (no usable output layer), the whole proxy ``p - onehot(y)``: the bias
    gradients of every class, CORDS's choice without the linear layer."""
    proxies = proxies.numpy() if isinstance(proxies, torch.Tensor) else proxies
    activations = None if activations is None else activations.numpy()

    def class_gradients(rows, label):
        if activations is None:
            return proxies[rows]
        logit_gradient = proxies[rows, label][:, None]
        return np.concatenate([logit_gradient, logit_gradient * activations[rows]],
                              axis=1)
    return class_gradients


def class_totals_as_counts(weights, picked_labels, class_counts):
    """The pursuit's weights rescaled within each class so that a class's
    weights sum to its number of examples, as CRAIG's cluster sizes do.

    The pursuit matches a class's gradient *sum*; the weights it needs for
    that say how many examples the picks stand for only when their gradients
    are typical. A class whose picks have larger gradients than its average
    example (a class being learned) gets less total weight than its size,
    one whose picks are smaller more, so each epoch would train under a
    class prior that follows which classes were hard at its start (on the
    Fashion-MNIST CNN, from 0.58 to 1.42 times the true class shares). Within
    a class the pursuit's relative weights stay.
    """
    weights = np.asarray(weights, dtype=np.float64).copy()
    for label in np.unique(picked_labels):
        mine = picked_labels == label
        total = weights[mine].sum()
        weights[mine] = (weights[mine] * (class_counts[label] / total) if total > 0
                         else class_counts[label] / mine.sum())
    return weights
