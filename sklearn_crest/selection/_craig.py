"""``selection="craig"``: CRAIG (Mirzasoleiman, Bilmes, Leskovec, ICML 2020),
the paper's per-epoch baseline.

Facility location on the whole pool's last-layer gradient proxies, per class,
picks ``ceil(train_frac * n)`` medoids weighted by their cluster sizes
(``_epoch_subset.py`` serves them as the epoch's batches). Large classes run
the engine's blocked kernel path.
"""

import numpy as np

from .._coresets.facility_location import allocate_budget, select_in_ground_sets
from ._base import group_by_class
from ._epoch_subset import EpochSubsetStrategy

# Kernel blocks of the whole-pool selection. A class of 5,000 proxy-like
# points (a Fashion-MNIST class's size) with 500 picks took 1.07 s in one
# block and 0.38 s in 2,048-point blocks (16 MiB), for 99.98% of the
# objective (benchmarks/pool_block_size.py).
_POOL_SELECTION_KERNEL_BYTES = 16 * 2**20


class CraigSubsets(EpochSubsetStrategy):
    """CRAIG: per-class facility location on the whole pool, once per epoch."""

    name = "craig"
    printed_history = ("n_selections", "n_steps", "selection_s", "coreset_size")
    parameters = ("train_frac", "drop_learned", "watch_interval", "drop_interval",
                  "drop_thresh", "min_train_frac", "selection_metric",
                  "class_balance", "selection_interval", "selection_precision",
                  "batch_weighting")
    region_parameters = ("class_balance", "selection_metric")

    def choose_subset(self, proxies, activations, labels, budget):
        counts = np.bincount(labels, minlength=self.n_classes)
        quotas = allocate_budget(counts, budget, self.config["class_balance"],
                                 every_class=True)
        groups = group_by_class(np.arange(len(labels)), labels, self.n_classes)
        solved = select_in_ground_sets(
            proxies, groups, quotas, metric=self.config["selection_metric"],
            random_state=self.rng, max_kernel_bytes=_POOL_SELECTION_KERNEL_BYTES)
        indices = np.concatenate([s[0] for s in solved]).astype(np.int64)
        weights = np.concatenate([s[1] for s in solved])
        return indices, weights
