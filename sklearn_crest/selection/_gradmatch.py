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

import numpy as np
import torch

from .. import _user_warnings as user_warnings
from .._coresets.gradient_matching import gradient_matching_subset
from .._coresets.proxies import OutputLayerInputs, find_output_layer
from ._epoch_subset import EpochSubsetStrategy


class GradMatchSubsets(EpochSubsetStrategy):
    """GradMatch: per-class gradient matching by OMP on the whole pool."""

    name = "gradmatch"
    printed_history = ("n_selections", "n_steps", "selection_s", "coreset_size")
    parameters = ("train_frac", "drop_learned", "watch_interval", "drop_interval",
                  "drop_thresh", "min_train_frac", "class_balance",
                  "selection_interval", "gradmatch_regularization",
                  "selection_precision", "batch_weighting")
    region_parameters = ("class_balance", "gradmatch_regularization")

    def pool_outputs(self, model, data):
        layer = find_output_layer(model.module, self.n_classes)
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
            regularization=self.config["gradmatch_regularization"],
            class_balance=self.config["class_balance"], random_state=self.rng)
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
