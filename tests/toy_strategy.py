"""A toy selection strategy with a parameter of its own, in one module.

After the warm-up, each epoch trains on the pool's examples with the highest
losses, each weighted ``weight``: a test of the plug-in contract, not a
method. Nothing in the library knows of it.
"""

import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from sklearn_crest.selection import SelectionStrategy, Step


class HardestFirst(SelectionStrategy):
    """Train on the hardest examples, weighted.

    Parameters
    ----------
    weight : float > 0, default=2.0
        The loss weight of every selected example.
    """

    name = "hardest_first"
    _parameter_constraints = {"weight": [Interval(numbers.Real, 0, None, closed="neither")]}

    def __init__(self, weight=2.0):
        self.weight = weight

    def _fresh_state(self):
        return {"reported_losses": 0}

    def plan_epoch(self, model, data, n_steps):
        pool = self.pool.positions
        losses = self._evaluate(model, data, pool, precision="float32")[1].cpu().numpy()
        order = pool[np.argsort(-losses, kind="stable")]
        for step in range(n_steps):
            positions = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield Step(positions, torch.full((len(positions),), float(self.weight)),
                       on_losses=self._count_losses)

    def _count_losses(self, losses):
        self.reported_losses += len(losses)
