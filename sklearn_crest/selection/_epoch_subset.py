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
import time

import numpy as np
import torch

from .._coresets.facility_location import allocate_budget
from .._coresets.proxies import softmax_minus_onehot
from ._base import SelectionStrategy


class EpochSubsetStrategy(SelectionStrategy):
    """A weighted subset of the pool per epoch (or per ``selection_interval``
    epochs); subclasses choose it in :meth:`choose_subset`."""

    def _transient_state(self):
        return {**super()._transient_state(), "epoch_subset": None,
                "epoch_subset_epoch": None}

    def plan_epoch(self, model, data, n_steps):
        if (self.epoch_subset is None or self.epoch - self.epoch_subset_epoch
                >= self.config["selection_interval"]):
            self._select_epoch_subset(model, data)
        return self._epoch_subset_batches(n_steps)

    def pool_outputs(self, model, data):
        """Probabilities, losses and the output layer's inputs (None when the
        strategy needs none) of the whole pool, in one eval pass. The pass
        runs once per epoch, and the strategies fit weights to what it gives:
        ``"auto"`` keeps it in float32 (in bfloat16 GradMatch's per-class
        gradient error rose above random subsets' on digits); only an
        explicit ``"bfloat16"`` applies here."""
        precision = self.config["selection_precision"]
        precision = "float32" if precision == "auto" else precision
        probabilities, losses = self._evaluate(model, data, self.pool, precision)
        return probabilities, losses, None

    def choose_subset(self, proxies, activations, labels, budget):
        """``(indices, weights)``: rows of the pool and their weights."""
        raise NotImplementedError

    def _select_epoch_subset(self, model, data):
        start = time.perf_counter()
        pool = self.pool
        budget = self._epoch_subset_budget()
        probabilities, losses, activations = self.pool_outputs(model, data)
        labels = self.labels[pool]
        proxies = softmax_minus_onehot(probabilities, labels)
        losses = losses.cpu().numpy()
        self._watch_losses(pool, losses)
        indices, weights = self.choose_subset(proxies, activations, labels, budget)
        weights = np.asarray(weights, dtype=np.float64)
        total = weights.sum()
        weights = (weights * (len(weights) / total) if total > 0
                   else np.ones_like(weights))
        self.epoch_subset = (pool[indices], torch.as_tensor(weights, dtype=torch.float32))
        self.epoch_subset_epoch = self.epoch
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
        return min(math.ceil(self.config["train_frac"] * self.n_train
                             / self.processes.world_size),
                   int(self.pool.size))

    def _drop_floor_quotas(self):
        # A class keeps at least its share of the epoch subset.
        pool_counts = np.bincount(self.labels[self.pool], minlength=self.n_classes)
        quotas = allocate_budget(pool_counts, self._epoch_subset_budget(),
                                 self.config["class_balance"], every_class=True)
        return pool_counts, quotas

    def _epoch_subset_batches(self, n_steps):
        """``n_steps`` shuffled batches of the epoch's weighted subset (the
        subset is reshuffled when the epoch needs more rows than it has)."""
        positions, weights = self.epoch_subset
        needed = n_steps * self.batch_size
        order = self.rng.permutation(len(positions))
        while order.size < needed:
            order = np.concatenate([order, self.rng.permutation(len(positions))])
        per_batch = self.config["batch_weighting"] == "batch"
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
