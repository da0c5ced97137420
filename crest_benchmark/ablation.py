"""The InfoBatch paper's ablation: InfoBatch's epoch plan with the pruned
examples drawn uniformly from the whole pool instead of from the
well-learned ones. A measurement, not a selection mode of the library, so it
lives here as strategies of the benchmark's own, passed to the estimator as
``selection`` objects."""

import numpy as np

from sklearn_crest.selection import InfoBatchPruning


class UniformPruningOfThePlan(InfoBatchPruning):
    """InfoBatch's epoch plan with its pruned examples drawn uniformly from
    the pool: as many candidates as InfoBatch's well-learned examples, a
    ``prune_ratio`` of them pruned, the rest weighted ``1 / (1 - r)``."""

    def _prune_candidates(self, seen, scores, mean_score):
        count = int(np.count_nonzero(seen & (scores < mean_score)))
        return np.sort(self.pool.rng.choice(seen.size, size=count, replace=False))


class UnscaledUniformPruningOfThePlan(UniformPruningOfThePlan):
    """The same, with the kept candidates unweighted."""

    def _kept_weight(self, ratio):
        return 1.0
