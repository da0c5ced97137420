"""Unpickling of models saved before the selection layer was split.

Earlier versions kept every selection mode in one ``CrestSchedule`` class of
this module, and their pickles name it. Nothing else uses this module: an
unpickled ``CrestSchedule`` becomes the strategy of its ``selection``
(``selection/``), with the settings that version did not have at the values
it behaved with.
"""

import numpy as np
import torch

from .selection import STRATEGIES


class CrestSchedule:
    """A pickled schedule of an earlier version; unpickles as a strategy."""

    def __setstate__(self, state):
        # What versions before the training-loss check and the selection
        # precision did: sample checks, float32 passes where bf16 is not native.
        state["config"] = {"selection_precision": "auto", "check_loss": "sample",
                           **state["config"]}
        generator = state["torch_generator"]
        if isinstance(generator, torch.Generator):  # the oldest pickles
            state["torch_generator"] = generator.get_state().numpy()
        else:
            state["torch_generator"] = np.asarray(generator, dtype=np.uint8)
        state.setdefault("_class_streams", None)  # rebuilt from the pool
        strategy = STRATEGIES[state["config"]["selection"]]
        self.__class__ = strategy
        strategy.__setstate__(self, state)
        for key, value in strategy._fresh_state(self.config).items():
            self.__dict__.setdefault(key, value)
