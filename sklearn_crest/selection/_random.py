"""``selection="random"``: uniformly random batches of ``train_frac`` of the data.

The comparator that every coreset method must beat at equal steps: each
epoch's ``ceil(train_frac * n / batch_size)`` steps take a fresh permutation
of the pool, so no example repeats within an epoch (unless an epoch needs
more examples than the pool has), with unit weights.
"""

from ._base import SelectionStrategy


class RandomBatches(SelectionStrategy):
    """Uniformly random batches, unweighted."""

    name = "random"
    parameters = ("train_frac",)
    warm_up_epochs = 0

    def plan_epoch(self, model, data, n_steps):
        return self._random_batches(n_steps)
