"""The shared frame of the paper's baselines, CRAIG and GradMatch: one
weighted subset of the whole pool per epoch, trained on in shuffled batches.

Every ``selection_interval`` epochs one eval-mode pass over the pool gives
every example's gradient proxy and loss (in float32 unless
``selection_precision="bfloat16"``); the strategy chooses a weighted subset of
``ceil(train_frac * n)`` examples, split over the classes as
``class_balance`` says; the weights are rescaled to mean 1; and the epoch's
steps take shuffled batches of the subset, each example with its weight.
"""

import math
import numbers
import time

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._coresets.facility_location import CLASS_BALANCES, allocate_budget
from .._coresets.proxies import softmax_minus_onehot
from ._base import SelectionStrategy
from ._drop_learned import DROP_LEARNED_CONSTRAINTS
from ._selection_pass import PRECISION_CONSTRAINT

#: Constraints of the parameters that CRAIG and GradMatch share.
EPOCH_SUBSET_CONSTRAINTS = {
    "class_balance": [StrOptions(set(CLASS_BALANCES))],
    "selection_interval": [Interval(numbers.Integral, 1, None, closed="left")],
    "batch_weighting": [StrOptions({"subset", "batch"})],
    **PRECISION_CONSTRAINT,
    **DROP_LEARNED_CONSTRAINTS,
}

#: The numpydoc entries of those parameters, shared by both docstrings.
EPOCH_SUBSET_PARAMETER_DOCS = """class_balance : {"proportional", "balanced"}, default="proportional"
        How the subset's budget is split over the classes: in proportion to
        their sizes, or equally (capped at what a class has).
    selection_interval : int >= 1, default=1
        Epochs between selections of the weighted subset (CORDS's
        ``select_every``); the epochs in between reuse it in a fresh order.
        The paper's Table 1 re-selects every epoch.
    batch_weighting : {"batch", "subset"}, default="batch"
        How a batch of the subset weights its losses. ``"batch"``: a weighted
        mean within the batch, ``sum(w_i * l_i) / sum(w_i)``, as CORDS trains
        both methods. ``"subset"``: the subset's weights are rescaled to mean
        1 once and a batch's loss is ``mean(w_i * l_i)``, so a batch of heavy
        examples takes a larger step. On the Fashion-MNIST CNN (3 seeds)
        GradMatch ended 0.16 points below random batches with ``"batch"``
        against 0.49 with ``"subset"``, CRAIG 0.39 against 0.28.
    selection_precision : {"auto", "float32", "bfloat16"}, default="auto"
        Precision of the whole-pool pass; ``"auto"`` keeps it in float32 (the
        weights are fitted to its gradients), ``"bfloat16"`` forces autocast.
    drop_learned, watch_interval, drop_interval, drop_thresh, min_train_frac
        Dropping learned examples from the pool, as in
        :class:`~sklearn_crest.selection.PerStepCoresets`.
"""


class EpochSubsetStrategy(SelectionStrategy):
    """A weighted subset of the pool per epoch (or per ``selection_interval``
    epochs); subclasses choose it in :meth:`choose_subset`."""

    def _transient_state(self):
        return {**super()._transient_state(), "epoch_subset": None,
                "epoch_subset_epoch": None}

    def plan_epoch(self, model, data, n_steps):
        if (self.epoch_subset is None or self.pool.epoch - self.epoch_subset_epoch
                >= self.selection_interval):
            self._select_epoch_subset(model, data)
        return self._epoch_subset_batches(n_steps)

    def pool_outputs(self, model, data):
        """Probabilities, losses and the output layer's inputs (None when the
        strategy needs none) of the whole pool, in one eval pass. The pass
        runs once per epoch, and the strategies fit weights to what it gives:
        ``"auto"`` keeps it in float32 (in bfloat16 GradMatch's per-class
        gradient error rose above random subsets' on digits); only an
        explicit ``"bfloat16"`` applies here."""
        precision = self.selection_precision
        precision = "float32" if precision == "auto" else precision
        probabilities, losses = self._evaluate(model, data, self.pool.positions, precision)
        return probabilities, losses, None

    def choose_subset(self, proxies, activations, labels, budget):
        """``(indices, weights)``: rows of the pool and their weights."""
        raise NotImplementedError

    def _select_epoch_subset(self, model, data):
        start = time.perf_counter()
        pool = self.pool.positions
        budget = self._epoch_subset_budget()
        probabilities, losses, activations = self.pool_outputs(model, data)
        labels = self.pool.labels[pool]
        proxies = softmax_minus_onehot(probabilities, labels)
        losses = losses.cpu().numpy()
        self._watch_losses(pool, losses)
        indices, weights = self.choose_subset(proxies, activations, labels, budget)
        weights = np.asarray(weights, dtype=np.float64)
        total = weights.sum()
        weights = (weights * (len(weights) / total) if total > 0
                   else np.ones_like(weights))
        self.epoch_subset = (pool[indices], torch.as_tensor(weights, dtype=torch.float32))
        self.epoch_subset_epoch = self.pool.epoch
        # The history's coreset_size counts the subset's distinct examples.
        self.coresets = [self.epoch_subset]
        self.epoch_stats["n_selections"] += 1
        self.epoch_stats["subset_loss"].append(float(losses.mean()))
        self.epoch_stats["selected_loss"].append(float(losses[indices].mean()))
        self.epoch_stats["selection_s"] += time.perf_counter() - start

    def _epoch_subset_budget(self):
        """Examples in the subset: ``train_frac`` of the training set (not of
        a pool shrunk by drop_learned), at most the pool; with several
        processes, each chooses its part of that from its own share."""
        return min(math.ceil(self.train_frac * self.pool.n_train
                             / self.processes.world_size),
                   int(self.pool.positions.size))

    def _drop_floor_quotas(self):
        # A class keeps at least its share of the epoch subset.
        pool_counts = np.bincount(self.pool.labels[self.pool.positions], minlength=self.pool.n_classes)
        quotas = allocate_budget(pool_counts, self._epoch_subset_budget(),
                                 self.class_balance, every_class=True)
        return pool_counts, quotas

    def _epoch_subset_batches(self, n_steps):
        """``n_steps`` shuffled batches of the epoch's weighted subset (the
        subset is reshuffled when the epoch needs more rows than it has)."""
        positions, weights = self.epoch_subset
        needed = n_steps * self.batch_size
        order = self.pool.rng.permutation(len(positions))
        while order.size < needed:
            order = np.concatenate([order, self.pool.rng.permutation(len(positions))])
        per_batch = self.batch_weighting == "batch"
        for i in range(n_steps):
            rows = order[i * self.batch_size:(i + 1) * self.batch_size]
            batch_weights = weights[torch.as_tensor(rows)]
            if per_batch:
                # Mean 1 within the batch: get_loss's mean(w_i * l_i) is then
                # CORDS's sum(w_i * l_i) / sum(w_i).
                total = batch_weights.sum()
                batch_weights = (batch_weights * (len(rows) / total) if total > 0
                                 else torch.ones_like(batch_weights))
            yield positions[rows], batch_weights
