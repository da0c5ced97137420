"""``selection="full"``: every example once per epoch, as plain skorch trains.

The accuracy reference: ``ceil(n / batch_size)`` steps per epoch over a fresh
permutation of the whole training set, with unit weights. ``train_frac`` does
not apply.
"""

from ._base import SelectionStrategy


class FullData(SelectionStrategy):
    """Shuffled batches of the whole training set; no parameters.

    Examples
    --------
    >>> from sklearn_crest.selection import FullData
    >>> FullData()
    FullData()
    """

    name = "full"
    uses_train_frac = False
    warm_up_epochs = 0

    def plan_epoch(self, model, data, n_steps):
        if self.processes.distributed:
            # This process's share, in as many steps as every other's.
            yield from ((batch, None) for batch
                        in self._exact_steps(self.pool.rng.permutation(self.pool.positions), n_steps))
            return
        order = self.pool.rng.permutation(self.pool.n_train)
        for start in range(0, self.pool.n_train, self.batch_size):
            yield order[start:start + self.batch_size], None
