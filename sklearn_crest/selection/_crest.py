"""``selection="crest"``: mini-batch coresets reused within regions where a
quadratic model of the loss holds (Yang, Kang, Mirzasoleiman, ICML 2023).

1. **Selection.** A region starts with two coresets from two random subsets
   (``random_subset_size``; ``"auto"``: two batches, as ``per_step``) and a
   quadratic model of the loss around the current parameters
   (``_coresets/curvature.py``). With ``check_loss="training"`` (the default) the
   model's ``L0`` and ``g`` are the region's first training step's weighted
   coreset loss and its gradient, which skorch computes anyway
   (``observe_gradient``, from ``on_grad_computed``), and its curvature is the
   run's running average of Hutchinson probes, probed on every fourth
   selection only (one batch of the region's examples). With ``"sample"`` the
   model is fitted on a fixed check sample drawn from the subsets.
2. **Serving.** Each step builds a coreset from a further random subset until
   the region has ``num_minibatch_coreset`` of them (a region that ends early
   never pays for the rest); then every step gets a fresh coreset by facility
   location on a random subset of the region's proxy pool, the union of its
   subsets, at no forward-pass cost (``region_coresets="resample"``), or the
   region's coresets cycle in a fresh order (``"cycle"``, the authors').
3. **Checks.** Every ``check_interval`` (I) steps the model's prediction is
   compared with a measured loss; when they differ by more than
   ``check_thresh_factor`` times the loss, a new region starts at once.
   ``check_loss="training"`` (the default) measures nothing extra: each
   training step on a coreset from the region's pool reports how its
   examples' losses changed since the region evaluated them, against the
   model's predicted change. ``"sample"`` evaluates the check sample again.
4. **Adaptive interval.** At later selections I becomes
   ``ceil(ref_curvature / curvature * interval_mul)`` and the region's subset
   count ``min(I * batch_num_mul, steps_per_epoch)``.

With several processes (``_processes.py``) each process grows its own
regions from its share of the data, and the processes agree on every
decision that changes the steps: a check compares the means of all
processes' measurements (one all-reduce of a few numbers), so all re-select
together, and the adaptive interval follows the mean of their curvatures.

Why a region is cheap here: the authors' check is a forward pass over all
random subsets (or the whole training set) at almost every step, which took
81-96% of the fit time of a prototype that followed it literally. Here the
training-loss check costs a few vector operations per step, and a region's
model costs no pass of its own but a probe on every fourth selection. On the
Fashion-MNIST CNN a region cost 12.8 random steps with a model fitted on a
512-example check sample and 1% subsets, 7.5 with the model from the
training step, and 2.8 with two-batch subsets too (``benchmarks/RESULTS.md``,
section 00a). The sample check (``check_loss="sample"``) fits the model on
``check_sample_size`` examples in eval mode and measures the same examples
in the same mode.
"""

import collections
import math
import time

import numpy as np
import torch

from .. import _user_warnings as user_warnings
from .._coresets.curvature import QuadraticLossModel
from ._base import SelectionStrategy
from ._class_streams import draw_per_class
from ._selection_pass import CPU_BATCHES_PER_CHUNK, prediction, take_rows

# Examples per forward pass of the check passes (``check_loss="sample"``), in
# training batches: the selection passes' CPU chunk (``_selection_pass.py``),
# which keeps a check's memory within what training itself needs.
_EVAL_BATCHES_PER_CHUNK = CPU_BATCHES_PER_CHUNK

# A training-loss-checked region probes the curvature (a double backward over
# one batch) on every this many selections; the curvature is a run-long
# running average, and the other selections reuse it.
_PROBE_EVERY = 4


class CrestRegions(SelectionStrategy):
    """CREST: coresets reused while a quadratic loss model holds."""

    name = "crest"
    printed_history = ("n_selections", "n_checks", "n_steps", "selection_s",
                       "check_s")
    parameters = ("train_frac", "random_subset_size", "num_minibatch_coreset",
                  "check_interval", "check_thresh_factor", "interval_mul",
                  "batch_num_mul", "check_sample_size", "check_loss",
                  "region_coresets", "drop_learned", "watch_interval",
                  "drop_interval", "drop_thresh", "min_train_frac",
                  "selection_metric", "class_balance", "selection_precision")
    region_parameters = ("random_subset_size", "class_balance", "region_coresets",
                         "check_sample_size", "selection_metric", "check_loss")
    plans_epochs = False

    @classmethod
    def _fresh_state(cls, config):
        return {
            "check_interval": int(config["check_interval"]),
            "n_coresets": int(config["num_minibatch_coreset"]),
            "reference_curvature": None,
            # (global step, steps since selection, checked loss, predicted
            # loss) of the latest checks: the evidence of what the check
            # measures.
            "check_log": collections.deque(maxlen=100_000),
            "quadratic_model": QuadraticLossModel(),
            # Selections until the next curvature probe (0: the next one).
            "probe_countdown": 0,
            "gradient_missing_warned": False,
        }

    def _transient_state(self):
        # region: the region's proxy pool, the positions, gradient proxies
        # and losses of the union of its random subsets (and when and with
        # what prediction each loss was measured); later coresets are
        # resampled from it.
        return {**super()._transient_state(), "coreset_order": [], "served": 0,
                "region": None, "region_subsets": 0, "last_selection_step": None,
                "check_batch": None, "check_sample": None, "observations": [],
                "pending_observation": None, "anchor_pending": False,
                "anchor_weights": None, "anchor_loss": None}

    def reset_region(self):
        """Forget the coresets and the quadratic model too."""
        super().reset_region()
        self.quadratic_model = QuadraticLossModel()
        self.reference_curvature = None
        self.probe_countdown = 0

    def _reconfigure(self, old):
        # Initial values that a user changed apply now; adapted values that
        # the user did not touch stay adapted.
        if self.config["check_interval"] != old["check_interval"]:
            self.check_interval = int(self.config["check_interval"])
        if self.config["num_minibatch_coreset"] != old["num_minibatch_coreset"]:
            self.n_coresets = int(self.config["num_minibatch_coreset"])

    # ----------------------------------------------------------- the epoch
    def plan_epoch(self, model, data, n_steps):
        for _ in range(n_steps):
            if self.anchor_pending:
                # The region's first step trained without handing over its
                # loss and gradient (a get_loss or train_step override that
                # skips them): fit the model on a check sample instead.
                self._anchor_on_check_sample(model, data)
            self._select_or_check(model, data, n_steps)
            positions, weights = self._next_coreset(model, data)
            # The training step's losses on this coreset come back through
            # observe_training_losses, and the region's first step's
            # gradient through observe_gradient.
            self.pending_observation = self._observation_for(positions, weights)
            if self.anchor_pending:
                self.anchor_weights = weights
            yield positions, weights

    def _select_or_check(self, model, data, n_steps):
        if self.last_selection_step is None or not self.coresets:
            self._select(model, data, n_steps)
            return
        since = self.global_step - self.last_selection_step
        if since > 0 and since % self.check_interval == 0:
            if self.config["check_loss"] == "training":
                passes = self._training_check_passes()
            else:
                passes = self._sample_check_passes(model)
            if not passes:
                self._select(model, data, n_steps)

    # ----------------------------------------------------------- selection
    def _select(self, model, data, n_steps):
        """Start a region: first coresets, check sample, quadratic model."""
        start = time.perf_counter()
        self.coresets = []
        self.coreset_order = []
        self.served = 0
        self.region = None
        self.region_subsets = min(2, self.n_coresets)
        # Two coresets now; the rest of the region's num_minibatch_coreset are
        # built when a step first needs them. The authors build all of them at
        # once, but regions often end before the last ones are used, and each
        # costs a forward pass over a whole random subset.
        self._grow_region(model, data, min(2, self.n_coresets))
        # The quadratic model: from the region's first training step, or
        # fitted on a check sample of the subsets now.
        if self.config["check_loss"] == "training":
            self._await_training_anchor(model, data)
        else:
            self._draw_check_sample(data)
            self._fit_quadratic_model(model)
            # Measured at the anchor, where the model predicts L0.
            self.region["predicted"][:] = self.quadratic_model.loss_at_selection
        self.observations = []
        self._adapt(n_steps)
        self.last_selection_step = self.global_step
        self.epoch_stats["n_selections"] += 1
        self.epoch_stats["selection_s"] += time.perf_counter() - start

    def _grow_region(self, model, data, n_subsets):
        """Draw ``n_subsets`` random subsets, run one eval forward pass over
        their union, and add one mini-batch coreset from each subset.

        The subsets' positions, gradient proxies and losses join the region's
        proxy pool, from which later coresets of the region are resampled.
        """
        subsets = self._draw_random_subsets(n_subsets)
        union = np.unique(np.concatenate([np.concatenate(s) for s in subsets]))
        proxies, losses = self._proxies_and_losses(model, data, union)
        self.epoch_stats["subset_loss"].append(float(losses.mean()))
        self.coresets.extend(self._coresets_from(subsets, union, proxies, losses))
        # What the quadratic model predicted when these losses were measured
        # (NaN before it is fitted; _select sets L0 then): the training-loss
        # check compares the change of an example's loss since then with the
        # change of the prediction.
        predicted = np.full(len(union), self._predicted_loss(model))
        measured = np.full(len(union), self.global_step, dtype=np.int64)
        region = {"positions": union, "proxies": proxies, "losses": losses,
                  "predicted": predicted, "measured": measured}
        if self.region is not None:
            # New values first: where subsets overlap, the fresher proxy wins.
            merged = np.concatenate([union, self.region["positions"]])
            merged, first = np.unique(merged, return_index=True)
            region = {
                "positions": merged,
                "proxies": torch.cat([proxies, self.region["proxies"]])[first],
                "losses": np.concatenate([losses, self.region["losses"]])[first],
                "predicted": np.concatenate([predicted,
                                             self.region["predicted"]])[first],
                "measured": np.concatenate([measured,
                                            self.region["measured"]])[first],
            }
        self.region = region

    def _next_coreset(self, model, data):
        """The coreset for this step.

        Each coreset built so far is served once, in build order; while the
        region has fewer than ``n_coresets`` random subsets, a step builds a new
        one (a forward pass over a fresh random subset). After that, every step
        gets a fresh coreset chosen from a random subset of the region's proxy
        pool (the union of its random subsets, whose proxies are already
        known), so that a long region keeps showing new combinations of
        examples without further forward passes. The authors cycle the same
        few coresets instead (``region_coresets="cycle"``).
        """
        if self.served < len(self.coresets):
            self.served += 1
            return self.coresets[self.served - 1]
        if (self.region_subsets >= self.n_coresets
                and self.config["region_coresets"] == "cycle"):
            if not self.coreset_order:
                self.coreset_order = list(self.rng.permutation(len(self.coresets)))
            return self.coresets[self.coreset_order.pop()]
        start = time.perf_counter()
        # A region pruned by drop_learned may have too little left to choose
        # from; it then evaluates a fresh random subset, as while it grows.
        too_small = (len(self.region["positions"])
                     < min(2 * self.batch_size, int(self.pool.size)))
        if self.region_subsets < self.n_coresets or too_small:
            self._grow_region(model, data, 1)
            self.region_subsets += 1
            self.served += 1
            coreset = self.coresets[-1]
        else:
            region = self.region
            subset = draw_per_class(region["positions"], self.labels[region["positions"]],
                                    self._class_quotas()[1], self.rng)
            # Served once and forgotten: a long region must not hoard them.
            coreset = self._coresets_from([subset], region["positions"],
                                          region["proxies"], region["losses"])[0]
        self.epoch_stats["selection_s"] += time.perf_counter() - start
        return coreset

    def _pool_changed(self):
        if self.region is not None:
            # Dropped examples leave the region's proxy pool too.
            kept = np.isin(self.region["positions"], self.pool)
            self.region = {key: value[kept] for key, value in self.region.items()}

    # ----------------------------------------------------- the loss model
    def _draw_check_sample(self, data):
        """A sample of the region's random subsets, gathered once, so that
        every check sees exactly these tensors (no re-reading, and no fresh
        augmentation from a Dataset's transforms)."""
        union = self.region["positions"]
        # Split over the processes (whose checks average their samples'
        # losses), like the subsets.
        check_size = min(math.ceil(self.config["check_sample_size"]
                                   / self.processes.world_size), len(union))
        # In random order: the curvature probe takes the first chunk, which
        # must not be the lowest positions (one class, in class-sorted data).
        self.check_sample = self.rng.choice(union, size=check_size, replace=False)
        self.check_batch = data.batch(self.check_sample)

    def _await_training_anchor(self, model, data):
        """Prepare the quadratic model of a training-loss-checked region.

        ``L0`` and ``g`` come from the region's first training step, which
        computes the first coreset's weighted loss and its gradient at the
        anchor anyway (:meth:`observe_training_losses`,
        :meth:`observe_gradient`): no pass of its own. The curvature is the
        run's running average of Hutchinson probes, and a probe (a double
        backward over one batch of the region's examples) runs on every
        ``_PROBE_EVERY``-th selection only: the average spans the whole run,
        and one probe moves it little.
        """
        probe_due = self.probe_countdown <= 0 or self.quadratic_model.n_probes == 0
        if probe_due and not self.quadratic_model.first_order:
            union = self.region["positions"]
            rows = self.rng.choice(union, size=min(self.batch_size, len(union)),
                                   replace=False)
            X, y = data.batch(rows)

            def closure():
                output = prediction(model.forward(X))
                return model.per_example_loss(output, y).mean()

            with model.eval_mode():
                self.quadratic_model.probe(model.parameters(), closure,
                                           self.torch_generator)
            self.epoch_stats["n_forward_examples"] += int(len(rows))
            self.probe_countdown = _PROBE_EVERY
        self.probe_countdown -= 1
        parameters = model.parameters()
        self.quadratic_model.clear_anchor().refresh_curvature(
            torch.cat([p.detach().reshape(-1) for p in parameters]))
        self.anchor_pending = True
        self.anchor_weights = None
        self.anchor_loss = None

    def wants_gradient(self):
        """Whether the coming training step's gradient should be handed to
        :meth:`observe_gradient` (the region's first step)."""
        return self.anchor_pending and self.anchor_loss is not None

    def observe_gradient(self, model):
        """Anchor the quadratic model on the region's first training step:
        its weighted loss (seen by :meth:`observe_training_losses`) and the
        gradients that the backward pass left on the parameters, before the
        optimizer steps (skorch's ``on_grad_computed``)."""
        if not self.wants_gradient():
            return
        start = time.perf_counter()
        parameters = model.parameters()
        gradient = torch.cat([(p.grad if p.grad is not None
                               else torch.zeros_like(p)).detach().reshape(-1)
                              for p in parameters])
        self.quadratic_model.anchor_at(parameters, self.anchor_loss, gradient)
        # The region's examples were measured at the anchor, where the model
        # predicts L0.
        self.region["predicted"][:] = self.anchor_loss
        self.anchor_pending = False
        self.anchor_weights = self.anchor_loss = None
        self.epoch_stats["check_s"] += time.perf_counter() - start

    def _anchor_on_check_sample(self, model, data):
        """The fallback when a region's first step did not hand over its loss
        and gradient: fit the model on a check sample now (a step late)."""
        self.anchor_pending = False
        self.anchor_weights = self.anchor_loss = None
        if not self.gradient_missing_warned:
            self.gradient_missing_warned = True
            user_warnings.warn(
                "selection='crest' anchors its loss model on the region's first "
                "training step, through get_loss (which calls "
                "observe_training_losses) and skorch's on_grad_computed, but this "
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
            self.quadratic_model.fit(model.parameters(), chunks, self.torch_generator)
        self.epoch_stats["n_forward_examples"] += int(total)

    def _predicted_loss(self, model):
        """The quadratic model's loss at the current parameters (NaN before
        the region's model is fitted)."""
        if self.quadratic_model.anchor is None:
            return math.nan
        return self.quadratic_model.predict(model.parameters())

    def _adapt(self, n_steps):
        curvature = self.quadratic_model.curvature_norm
        if self.processes.distributed:
            # One interval for all processes: from the mean of their
            # curvatures, or kept where any of them has none.
            usable = math.isfinite(curvature) and curvature > 0
            count, total = self.processes.sum([usable, curvature if usable else 0.0])
            curvature = (total / count if count == self.processes.world_size
                         else math.nan)
        if not math.isfinite(curvature) or curvature <= 0:
            # A diverging run (non-finite curvature): keep the current interval
            # and count rather than fail here; skorch reports the loss.
            return
        if self.reference_curvature is None:
            self.reference_curvature = curvature
            return
        ratio = self.reference_curvature / max(curvature, 1e-12)
        self.check_interval = max(1, math.ceil(ratio * self.config["interval_mul"]))
        # Coresets are built on demand, so the new count applies to this region
        # already (in the authors' code, only from the next selection on).
        self.n_coresets = max(1, min(
            int(self.check_interval * self.config["batch_num_mul"]), max(n_steps, 1)))

    # ------------------------------------------------------------- checks
    def _training_check_passes(self):
        """The check on what training measured anyway (``check_loss="training"``).

        Each coreset served from the region's proxy pool was trained on at
        least a step after its examples' losses were measured; the training
        step's own per-example losses (:meth:`observe_training_losses`) give
        the weighted change of those losses since then, which the quadratic
        model should predict. The check compares the mean observed change
        with the mean predicted change over the observations since the last
        check: a few vector operations per step and no forward pass. Without
        an observation (the region's first steps serve freshly built
        coresets, whose losses are measured at the step itself) it passes.
        """
        diverged = not math.isfinite(self.quadratic_model.loss_at_selection)
        if self.processes.distributed:
            return self._agreed_training_check(diverged)
        if diverged:
            # A diverged model predicts nothing: select again, as a failing
            # sample check would.
            self.epoch_stats["n_checks"] += 1
            return False
        if not self.observations:
            return True
        start = time.perf_counter()
        observed = np.array(self.observations, dtype=np.float64)
        self.observations = []
        # Columns: observed change, predicted change, training loss now.
        return self._training_check_verdict(observed[:, 0].mean(), observed[:, 1].mean(),
                                            observed[:, 2].mean(), start)

    def _agreed_training_check(self, diverged):
        """The training-loss check over all processes' observations: the
        same sums everywhere, hence the same verdict."""
        start = time.perf_counter()
        observed = np.array(self.observations, dtype=np.float64).reshape(-1, 3)
        self.observations = []
        n_diverged, count, *sums = self.processes.sum(
            [diverged, len(observed), *observed.sum(axis=0)])
        if n_diverged:
            self.epoch_stats["n_checks"] += 1
            return False
        if not count:
            return True
        return self._training_check_verdict(*(np.array(sums) / count), start)

    def _training_check_verdict(self, observed_change, predicted_change, loss_now,
                                start):
        error = abs(observed_change - predicted_change)
        loss = abs(loss_now)
        self.epoch_stats["n_checks"] += 1
        self.epoch_stats["check_s"] += time.perf_counter() - start
        self.check_log.append((self.global_step,
                               self.global_step - self.last_selection_step,
                               float(loss),
                               float(loss - observed_change + predicted_change)))
        return bool(error <= self.config["check_thresh_factor"] * loss)

    def _observation_for(self, positions, weights):
        """What the training-loss check needs of the coreset served at this
        step: for its examples whose losses were measured at an earlier step
        (in the region's pool), those losses, the model's predictions then
        and the coreset weights; None when there is none to observe."""
        region = self.region
        if (self.config["check_loss"] != "training"
                or region is None or self.quadratic_model.anchor is None):
            return None
        rows = np.minimum(np.searchsorted(region["positions"], positions),
                          len(region["positions"]) - 1)
        earlier = ((region["positions"][rows] == positions)
                   & (region["measured"][rows] < self.global_step)
                   & np.isfinite(region["predicted"][rows]))
        if not earlier.any():
            return None
        rows = rows[earlier]
        return {"mask": torch.as_tensor(earlier), "weights": weights[torch.as_tensor(earlier)],
                "losses": region["losses"][rows], "predicted": region["predicted"][rows]}

    def wants_training_losses(self):
        return self.pending_observation is not None or (
            self.anchor_pending and self.anchor_weights is not None)

    def observe_training_losses(self, losses, model):
        """Record the weighted change of the observed examples' losses since
        they were measured, and the change the quadratic model predicts over
        the same parameters (``check_loss="training"``); on a region's first
        step, its weighted loss, the model's ``L0``."""
        if self.anchor_pending and self.anchor_weights is not None:
            weights = self.anchor_weights.to(losses.device, losses.dtype)
            if len(weights) == len(losses):
                # The training step's own loss: mean(w_i * l_i).
                self.anchor_loss = float(torch.dot(weights, losses.detach())
                                         / len(losses))
            self.anchor_weights = None
        observation, self.pending_observation = self.pending_observation, None
        if observation is None or len(losses) != len(observation["mask"]):
            return
        start = time.perf_counter()
        mask = observation["mask"].to(losses.device)
        weights = observation["weights"].to(losses.device, torch.float32)
        now = float(torch.dot(weights, losses.detach()[mask].float()) / weights.sum())
        weights = observation["weights"].numpy().astype(np.float64)
        then = float(np.dot(weights, observation["losses"]) / weights.sum())
        predicted_then = float(np.dot(weights, observation["predicted"]) / weights.sum())
        predicted_now = self._predicted_loss(model)
        self.observations.append((now - then, predicted_now - predicted_then, now))
        self.epoch_stats["check_s"] += time.perf_counter() - start

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
        self.check_log.append((self.global_step,
                               self.global_step - self.last_selection_step,
                               true_loss, predicted))
        tolerance = self.config["check_thresh_factor"] * abs(true_loss)
        return abs(true_loss - predicted) <= tolerance
