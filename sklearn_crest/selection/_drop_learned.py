"""Dropping learned examples from the pool (the authors' ``drop_learned``).

Every ``drop_interval`` epochs, examples whose losses, as the selection
measured them over the last ``watch_interval`` epochs, all stayed at or below
``drop_thresh`` leave the pool that random subsets are drawn from. Each class
keeps at least one random subset's quota, and the pool never shrinks below
``min_train_frac`` of this process's share.
"""

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

#: Constraints of the parameters of dropping learned examples.
DROP_LEARNED_CONSTRAINTS = {
    "drop_learned": ["boolean"],
    "watch_interval": [Interval(numbers.Integral, 1, None, closed="left")],
    "drop_interval": [Interval(numbers.Integral, 1, None, closed="left")],
    "drop_thresh": [Interval(numbers.Real, 0, None, closed="left")],
    "min_train_frac": [Interval(numbers.Real, 0, 1, closed="right")],
}


def unused_drop_settings(strategy):
    """The dropping settings set away from their defaults while
    ``drop_learned`` is off, as ``name=value`` strings: they change nothing."""
    params = strategy.get_params()
    if params.get("drop_learned", True):
        return []
    defaults = type(strategy)().get_params()
    return [f"{name}={params[name]!r}" for name in DROP_LEARNED_CONSTRAINTS
            if name != "drop_learned" and params[name] != defaults[name]]


class LearnedExampleDropping:
    """The watched losses of the training examples, and the drop rule.

    Parameters
    ----------
    watch_interval : int
        Epochs of losses kept (one row per epoch, a ring).
    n_train : int
        Training examples (columns).
    """

    def __init__(self, watch_interval, n_train):
        self.losses = np.full((watch_interval, n_train), -1.0, dtype=np.float32)
        self.epochs = np.full(watch_interval, -1)

    def watch(self, epoch, positions, losses):
        """Record the losses just measured at ``positions`` in ``epoch``."""
        row = epoch % len(self.epochs)
        if self.epochs[row] != epoch:
            # A row holds one epoch's losses; older values there are stale.
            self.losses[row] = -1.0
            self.epochs[row] = epoch
        self.losses[row, positions] = losses

    def learned_rows(self, pool, floor_quotas, drop_thresh, min_train_frac):
        """Indices into ``pool.positions`` of the examples to drop now;
        ``floor_quotas()`` gives ``(pool_counts, quotas)``, the examples per
        class that must stay."""
        watch = self.losses[:, pool.positions]
        observed = (watch >= 0).any(axis=0)
        highest = watch.max(axis=0)
        learned = observed & (highest <= drop_thresh)
        if not learned.any():
            return np.empty(0, dtype=np.int64)
        pool_counts, quotas = floor_quotas()
        pool_labels = pool.labels[pool.positions]
        # Each class keeps at least its floor, the hardest of its learned
        # ones first. (The authors' rule drops all of a class's learned
        # examples or none, so a class that is almost entirely learned, the
        # case dropping is for, dropped nothing.)
        order = np.argsort(highest, kind="stable")  # best learned first
        droppable = np.zeros_like(learned)
        for c in range(pool.n_classes):
            in_class = order[(pool_labels[order] == c) & learned[order]]
            limit = max(0, int(pool_counts[c]) - int(quotas[c]))
            droppable[in_class[:limit]] = True
        # Of this process's share (all the data in a single process): each
        # process drops only examples it owns, measured only by itself.
        floor = math.ceil(min_train_frac * pool.n_owned)
        allowed = max(0, int(pool.positions.size) - floor)
        candidates = np.flatnonzero(droppable)
        if candidates.size > allowed:
            # Drop the best-learned first and stop at the floor.
            candidates = candidates[np.argsort(highest[candidates],
                                               kind="stable")[:allowed]]
        return candidates
