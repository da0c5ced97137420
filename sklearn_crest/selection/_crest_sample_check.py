"""CREST's check on a fixed sample (``check_loss="sample"``), and the
fallback of the training-loss check.

The quadratic model is fitted on a check sample drawn from the region's
random subsets, in eval mode, and each check measures the same examples in
the same mode: one forward pass over ``check_sample_size`` examples per
check, and a forward and backward pass (and a Hutchinson double backward)
per selection. With ``check_loss="training"`` this is only the fallback for
a region whose first training step handed over no loss and gradient.
"""

import math
import time

import torch

from .. import _user_warnings as user_warnings
from ._selection_pass import CPU_BATCHES_PER_CHUNK, prediction, take_rows

# Examples per forward pass of the check passes, in training batches: the
# selection passes' CPU chunk (``_selection_pass.py``), which keeps a check's
# memory within what training itself needs.
_EVAL_BATCHES_PER_CHUNK = CPU_BATCHES_PER_CHUNK


class SampleCheck:
    """The check-sample half of :class:`~sklearn_crest.selection.CrestRegions`."""

    def _draw_check_sample(self, data):
        """A sample of the region's random subsets, gathered once, so that
        every check sees exactly these tensors (no re-reading, and no fresh
        augmentation from a Dataset's transforms)."""
        union = self.region["positions"]
        # Split over the processes (whose checks average their samples'
        # losses), like the subsets.
        check_size = min(math.ceil(self.check_sample_size
                                   / self.processes.world_size), len(union))
        # In random order: the curvature probe takes the first chunk, which
        # must not be the lowest positions (one class, in class-sorted data).
        self.check_sample = self.pool.rng.choice(union, size=check_size, replace=False)
        self.check_batch = data.batch(self.check_sample)

    def _anchor_on_check_sample(self, model, data):
        """The fallback when a region's first step did not hand over its loss
        and gradient: fit the model on a check sample now (a step late)."""
        self.anchor_pending = False
        self.anchor_loss = None
        if not self.gradient_missing_warned:
            self.gradient_missing_warned = True
            user_warnings.warn(
                "selection='crest' anchors its loss model on the region's first "
                "training step, through get_loss (which reports the step's "
                "losses) and skorch's on_grad_computed, but this "
                "fit's training step handed over neither; it fits the model on a "
                "check sample of check_sample_size examples instead, which costs "
                "a forward and backward pass over it at every selection. Call "
                "super().get_loss(...) and super().train_step_single(...) in "
                "overrides, and let train_step notify on_grad_computed.")
        self._draw_check_sample(data)
        self._fit_quadratic_model(model)
        self.region["predicted"][:] = self.quadratic_model.loss_at_selection

    def _fit_quadratic_model(self, model):
        """Model the check sample's loss around the current parameters.

        ``L0``, ``g`` and ``h`` all describe the loss that the checks measure:
        the unweighted mean loss of the check sample, in eval mode. (The
        authors anchor ``L0`` on one loss and take ``g`` from another, so their
        check fires on the difference between the two losses as much as on the
        model's error.)
        """
        X, y = self.check_batch
        total = len(y)

        def closure_for(rows):
            def closure():
                output = prediction(model.forward(take_rows(X, rows)))
                return model.per_example_loss(output, y[rows]).mean()
            return closure

        step = self.batch_size
        chunks = [(closure_for(slice(i, i + step)), min(step, total - i) / total)
                  for i in range(0, total, step)]
        with model.eval_mode():
            self.quadratic_model.fit(model.parameters(), chunks, self.pool.torch_generator)
        self.epoch_stats["n_forward_examples"] += int(total)

    def check_sample_losses(self, model):
        """Per-example losses of the check sample now, in eval mode: exactly
        the tensors the quadratic model was fitted on."""
        X, y = self.check_batch
        step = _EVAL_BATCHES_PER_CHUNK * self.batch_size
        losses = []
        with model.eval_mode(), torch.inference_mode():
            for i in range(0, len(y), step):
                output = prediction(model.forward(take_rows(X, slice(i, i + step))))
                losses.append(model.per_example_loss(output,
                                                     y[i:i + step].to(output.device)))
        return torch.cat(losses)

    def _sample_check_passes(self, model):
        """The check on the check sample's measured loss (``check_loss="sample"``)."""
        start = time.perf_counter()
        losses = self.check_sample_losses(model)
        true_loss = float(losses.mean())
        predicted = self.quadratic_model.predict(model.parameters())
        if self.processes.distributed:
            # The mean over the processes' check samples, for all of them.
            true_loss, predicted = (float(v) for v in self.processes.sum(
                [true_loss, predicted]) / self.processes.world_size)
        self.epoch_stats["n_checks"] += 1
        self.epoch_stats["n_forward_examples"] += int(losses.numel())
        self.epoch_stats["check_s"] += time.perf_counter() - start
        self.check_log.append((self.pool.global_step,
                               self.pool.global_step - self.last_selection_step,
                               true_loss, predicted))
        tolerance = self.check_thresh_factor * abs(true_loss)
        return abs(true_loss - predicted) <= tolerance
