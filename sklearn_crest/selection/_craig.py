"""``selection="craig"``: CRAIG (Mirzasoleiman, Bilmes, Leskovec, ICML 2020),
the paper's per-epoch baseline.

Facility location on the whole pool's last-layer gradient proxies, per class,
picks ``ceil(train_frac * n)`` medoids weighted by their cluster sizes
(``_epoch_subset.py`` serves them as the epoch's batches). Large classes run
the engine's blocked kernel path.
"""

import numpy as np

from sklearn.utils._param_validation import StrOptions

from .._coresets.facility_location import METRICS, allocate_budget, select_in_ground_sets
from ._epoch_subset import (
    EPOCH_SUBSET_CONSTRAINTS,
    EPOCH_SUBSET_PARAMETER_DOCS,
    EpochSubsetStrategy,
)
from ._pool import group_by_class

# Kernel blocks of the whole-pool selection. A class of 5,000 proxy-like
# points (a Fashion-MNIST class's size) with 500 picks took 1.07 s in one
# block and 0.38 s in 2,048-point blocks (16 MiB), for 99.98% of the
# objective (benchmarks/pool_block_size.py).
_POOL_SELECTION_KERNEL_BYTES = 16 * 2**20


class CraigSubsets(EpochSubsetStrategy):
    __doc__ = f"""CRAIG: per-class facility location on the whole pool, once per epoch.

    Parameters
    ----------
    selection_metric : {{"euclidean", "cosine"}}, default="euclidean"
        Similarity of gradient proxies for facility location.
    {EPOCH_SUBSET_PARAMETER_DOCS}
    Examples
    --------
    >>> from sklearn_crest.selection import CraigSubsets
    >>> CraigSubsets(selection_interval=2)
    CraigSubsets(selection_interval=2)
    """

    name = "craig"
    printed_history = ("n_selections", "n_steps", "selection_s", "coreset_size")
    _parameter_constraints = {"selection_metric": [StrOptions(set(METRICS))],
                              **EPOCH_SUBSET_CONSTRAINTS}
    region_parameters = ("class_balance", "selection_metric")

    def __init__(self, selection_metric="euclidean", class_balance="proportional",
                 selection_interval=1, batch_weighting="batch",
                 selection_precision="auto", drop_learned=False, watch_interval=5,
                 drop_interval=20, drop_thresh=0.1, min_train_frac=0.8):
        self.selection_metric = selection_metric
        self.class_balance = class_balance
        self.selection_interval = selection_interval
        self.batch_weighting = batch_weighting
        self.selection_precision = selection_precision
        self.drop_learned = drop_learned
        self.watch_interval = watch_interval
        self.drop_interval = drop_interval
        self.drop_thresh = drop_thresh
        self.min_train_frac = min_train_frac

    def choose_subset(self, proxies, activations, labels, budget):
        counts = np.bincount(labels, minlength=self.pool.n_classes)
        quotas = allocate_budget(counts, budget, self.class_balance,
                                 every_class=True)
        groups = group_by_class(np.arange(len(labels)), labels, self.pool.n_classes)
        solved = select_in_ground_sets(
            proxies, groups, quotas, metric=self.selection_metric,
            random_state=self.pool.rng, max_kernel_bytes=_POOL_SELECTION_KERNEL_BYTES)
        indices = np.concatenate([s[0] for s in solved]).astype(np.int64)
        weights = np.concatenate([s[1] for s in solved])
        return indices, weights
