"""``selection="crest"``: mini-batch coresets reused within regions where a
quadratic model of the loss holds (Yang, Kang, Mirzasoleiman, ICML 2023).

1. **Selection.** A region starts with two coresets from two random subsets
   (``random_subset_size``; ``"auto"``: two batches, as ``per_step``) and a
   quadratic model of the loss around the current parameters
   (``_coresets/curvature.py``). With ``check_loss="training"`` (the default) the
   model's ``L0`` and ``g`` are the region's first training step's weighted
   coreset loss and its gradient, which training computes anyway (the
   step's receivers, :class:`~sklearn_crest.selection.Step`), and its curvature is the
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
import numbers
import time

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._coresets.curvature import QuadraticLossModel
from .._coresets.facility_location import METRICS
from ._base import SelectionStrategy
from ._class_streams import draw_per_class
from ._drop_learned import DROP_LEARNED_CONSTRAINTS
from ._random_subsets import RANDOM_SUBSET_CONSTRAINTS
from ._step import Step
from ._crest_sample_check import SampleCheck
from ._selection_pass import PRECISION_CONSTRAINT, prediction

# A training-loss-checked region probes the curvature (a double backward over
# one batch) on every this many selections; the curvature is a run-long
# running average, and the other selections reuse it.
_PROBE_EVERY = 4


class CrestRegions(SampleCheck, SelectionStrategy):
    """CREST: coresets reused while a quadratic loss model holds.

    Parameters
    ----------
    check_thresh_factor : float >= 0, default=0.2
        Re-select when the checked loss and the quadratic model's prediction
        differ by more than this fraction of the loss. Smaller values mean
        more selections. Tune it per dataset and model. The authors' 0.1 is
        for their check on a sample; with the training-loss check on the
        Fashion-MNIST CNN (3 seeds) 0.2 re-selected at 4.8% of the steps
        instead of 8.6%, at the same accuracy (``benchmarks/RESULTS.md``,
        section 00b).
    check_interval : int >= 1, default=1
        Steps between checks until the second selection; later selections
        adapt it (``interval_mul``).
    interval_mul : float > 0, default=1.0
        The check interval becomes
        ``ceil(first_curvature / curvature * interval_mul)``.
    num_minibatch_coreset : int >= 1, default=5
        Random subsets, hence mini-batch coresets, of the first region;
        later regions adapt it (``batch_num_mul``).
    batch_num_mul : float > 0, default=5
        A region's subset count becomes
        ``min(check_interval * batch_num_mul, steps_per_epoch)``.
    region_coresets : {"resample", "cycle"}, default="resample"
        What a region serves once it has evaluated its subsets:
        ``"resample"``, a fresh coreset at each step by facility location on a
        random subset of the examples the region has evaluated (no forward
        pass); ``"cycle"``, the region's coresets again in a fresh order, as
        in the authors' code.
    check_loss : {"training", "sample"}, default="training"
        What a check measures. ``"training"``: no forward pass; each
        training step on a coreset served from the region's pool reports the
        weighted change of its examples' losses since they were measured,
        and a check compares their mean since the last check with the change
        the quadratic model predicts; the model is anchored on the region's
        first training step. ``"sample"``: an eval-mode pass over a fixed
        check sample (``check_sample_size`` examples) on which the model was
        fitted. On the Fashion-MNIST CNN (3 seeds) ``"training"`` gained
        +0.66 points over random batches against ``"sample"``'s +0.57, with
        7.6% of the steps re-selecting instead of 16.8%, in half the time.
    check_sample_size : int >= 1, default=512
        With ``check_loss="sample"`` (or when a training step hands CREST no
        gradient, which warns): the examples the quadratic model is fitted
        on and each check measures. On Fashion-MNIST (MLP), 512 examples took
        the same decision as the authors' all-subsets check in 97% of checks.
    random_subset_size, class_balance, selection_metric, selection_precision
        The random subsets and their coresets, as in
        :class:`~sklearn_crest.selection.PerStepCoresets`.
    drop_learned, watch_interval, drop_interval, drop_thresh, min_train_frac
        Dropping learned examples from the pool, as in
        :class:`~sklearn_crest.selection.PerStepCoresets`.

    Examples
    --------
    >>> from sklearn_crest.selection import CrestRegions
    >>> CrestRegions(check_thresh_factor=0.05)
    CrestRegions(check_thresh_factor=0.05)
    """

    name = "crest"
    printed_history = ("n_selections", "n_checks", "n_steps", "selection_s",
                       "check_s")
    _parameter_constraints = {
        "check_thresh_factor": [Interval(numbers.Real, 0, None, closed="left")],
        "check_interval": [Interval(numbers.Integral, 1, None, closed="left")],
        "interval_mul": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_minibatch_coreset": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_num_mul": [Interval(numbers.Real, 0, None, closed="neither")],
        "region_coresets": [StrOptions({"resample", "cycle"})],
        "check_loss": [StrOptions({"sample", "training"})],
        "check_sample_size": [Interval(numbers.Integral, 1, None, closed="left")],
        **RANDOM_SUBSET_CONSTRAINTS,
        "selection_metric": [StrOptions(set(METRICS))],
        **PRECISION_CONSTRAINT,
        **DROP_LEARNED_CONSTRAINTS,
    }
    region_parameters = ("random_subset_size", "class_balance", "region_coresets",
                         "check_sample_size", "selection_metric", "check_loss")
    plans_epochs = False

    def __init__(self, check_thresh_factor=0.2, check_interval=1, interval_mul=1.0,
                 num_minibatch_coreset=5, batch_num_mul=5, region_coresets="resample",
                 check_loss="training", check_sample_size=512,
                 random_subset_size="auto", class_balance="proportional",
                 selection_metric="euclidean", selection_precision="auto",
                 drop_learned=False, watch_interval=5, drop_interval=20,
                 drop_thresh=0.1, min_train_frac=0.8):
        self.check_thresh_factor = check_thresh_factor
        self.check_interval = check_interval
        self.interval_mul = interval_mul
        self.num_minibatch_coreset = num_minibatch_coreset
        self.batch_num_mul = batch_num_mul
        self.region_coresets = region_coresets
        self.check_loss = check_loss
        self.check_sample_size = check_sample_size
        self.random_subset_size = random_subset_size
        self.class_balance = class_balance
        self.selection_metric = selection_metric
        self.selection_precision = selection_precision
        self.drop_learned = drop_learned
        self.watch_interval = watch_interval
        self.drop_interval = drop_interval
        self.drop_thresh = drop_thresh
        self.min_train_frac = min_train_frac

    def _fresh_state(self):
        return {
            "steps_between_checks": int(self.check_interval),
            "region_size": int(self.num_minibatch_coreset),
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
                "anchor_pending": False, "anchor_loss": None}

    def reset_region(self):
        """Forget the coresets and the quadratic model too."""
        super().reset_region()
        self.quadratic_model = QuadraticLossModel()
        self.reference_curvature = None
        self.probe_countdown = 0

    def _reconfigure(self, old):
        # Initial values that a user changed apply now; adapted values that
        # the user did not touch stay adapted.
        if self.check_interval != old["check_interval"]:
            self.steps_between_checks = int(self.check_interval)
        if self.num_minibatch_coreset != old["num_minibatch_coreset"]:
            self.region_size = int(self.num_minibatch_coreset)

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
            # The training step's losses on this coreset come back to the
            # training-loss check, and the region's first step's loss and
            # gradient anchor the quadratic model.
            observation = self._observation_for(positions, weights)
            anchoring = self.anchor_pending
            yield Step(positions, weights,
                       on_losses=self._loss_receiver(model, observation,
                                                     weights if anchoring else None),
                       on_gradient=self._anchor_on_gradient if anchoring else None)

    def _select_or_check(self, model, data, n_steps):
        if self.last_selection_step is None or not self.coresets:
            self._select(model, data, n_steps)
            return
        since = self.pool.global_step - self.last_selection_step
        if since > 0 and since % self.steps_between_checks == 0:
            if self.check_loss == "training":
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
        self.region_subsets = min(2, self.region_size)
        # Two coresets now; the rest of the region's num_minibatch_coreset are
        # built when a step first needs them. The authors build all of them at
        # once, but regions often end before the last ones are used, and each
        # costs a forward pass over a whole random subset.
        self._grow_region(model, data, min(2, self.region_size))
        # The quadratic model: from the region's first training step, or
        # fitted on a check sample of the subsets now.
        if self.check_loss == "training":
            self._await_training_anchor(model, data)
        else:
            self._draw_check_sample(data)
            self._fit_quadratic_model(model)
            # Measured at the anchor, where the model predicts L0.
            self.region["predicted"][:] = self.quadratic_model.loss_at_selection
        self.observations = []
        self._adapt(n_steps)
        self.last_selection_step = self.pool.global_step
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
        measured = np.full(len(union), self.pool.global_step, dtype=np.int64)
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
        if (self.region_subsets >= self.region_size
                and self.region_coresets == "cycle"):
            if not self.coreset_order:
                self.coreset_order = list(self.pool.rng.permutation(len(self.coresets)))
            return self.coresets[self.coreset_order.pop()]
        start = time.perf_counter()
        # A region pruned by drop_learned may have too little left to choose
        # from; it then evaluates a fresh random subset, as while it grows.
        too_small = (len(self.region["positions"])
                     < min(2 * self.batch_size, int(self.pool.positions.size)))
        if self.region_subsets < self.region_size or too_small:
            self._grow_region(model, data, 1)
            self.region_subsets += 1
            self.served += 1
            coreset = self.coresets[-1]
        else:
            region = self.region
            subset = draw_per_class(region["positions"], self.pool.labels[region["positions"]],
                                    self._class_quotas()[1], self.pool.rng)
            # Served once and forgotten: a long region must not hoard them.
            coreset = self._coresets_from([subset], region["positions"],
                                          region["proxies"], region["losses"])[0]
        self.epoch_stats["selection_s"] += time.perf_counter() - start
        return coreset

    def _pool_changed(self):
        if self.region is not None:
            # Dropped examples leave the region's proxy pool too.
            kept = np.isin(self.region["positions"], self.pool.positions)
            self.region = {key: value[kept] for key, value in self.region.items()}

    # ----------------------------------------------------- the loss model
    def _await_training_anchor(self, model, data):
        """Prepare the quadratic model of a training-loss-checked region.

        ``L0`` and ``g`` come from the region's first training step, which
        computes the first coreset's weighted loss and its gradient at the
        anchor anyway (the step's reported losses and
        :meth:`_anchor_on_gradient`): no pass of its own. The curvature is the
        run's running average of Hutchinson probes, and a probe (a double
        backward over one batch of the region's examples) runs on every
        ``_PROBE_EVERY``-th selection only: the average spans the whole run,
        and one probe moves it little.
        """
        probe_due = self.probe_countdown <= 0 or self.quadratic_model.n_probes == 0
        if probe_due and not self.quadratic_model.first_order:
            union = self.region["positions"]
            rows = self.pool.rng.choice(union, size=min(self.batch_size, len(union)),
                                   replace=False)
            X, y = data.batch(rows)

            def closure():
                output = prediction(model.forward(X))
                return model.per_example_loss(output, y).mean()

            with model.eval_mode():
                self.quadratic_model.probe(model.parameters(), closure,
                                           self.pool.torch_generator)
            self.epoch_stats["n_forward_examples"] += int(len(rows))
            self.probe_countdown = _PROBE_EVERY
        self.probe_countdown -= 1
        parameters = model.parameters()
        self.quadratic_model.clear_anchor().refresh_curvature(
            torch.cat([p.detach().reshape(-1) for p in parameters]))
        self.anchor_pending = True
        self.anchor_loss = None

    def _anchor_on_gradient(self, model):
        """Anchor the quadratic model on the region's first training step:
        its weighted loss (from its reported losses) and the gradients that
        the backward pass left on the parameters, before the optimizer steps
        (skorch's ``on_grad_computed``)."""
        if not (self.anchor_pending and self.anchor_loss is not None):
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
        self.anchor_loss = None
        self.epoch_stats["check_s"] += time.perf_counter() - start

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
        self.steps_between_checks = max(1, math.ceil(ratio * self.interval_mul))
        # Coresets are built on demand, so the new count applies to this region
        # already (in the authors' code, only from the next selection on).
        self.region_size = max(1, min(
            int(self.steps_between_checks * self.batch_num_mul), max(n_steps, 1)))

    # ------------------------------------------------------------- checks
    def _training_check_passes(self):
        """The check on what training measured anyway (``check_loss="training"``).

        Each coreset served from the region's proxy pool was trained on at
        least a step after its examples' losses were measured; the training
        step's own per-example losses (reported through its :class:`Step`) give
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
        self.check_log.append((self.pool.global_step,
                               self.pool.global_step - self.last_selection_step,
                               float(loss),
                               float(loss - observed_change + predicted_change)))
        return bool(error <= self.check_thresh_factor * loss)

    def _observation_for(self, positions, weights):
        """What the training-loss check needs of the coreset served at this
        step: for its examples whose losses were measured at an earlier step
        (in the region's pool), those losses, the model's predictions then
        and the coreset weights; None when there is none to observe."""
        region = self.region
        if (self.check_loss != "training"
                or region is None or self.quadratic_model.anchor is None):
            return None
        rows = np.minimum(np.searchsorted(region["positions"], positions),
                          len(region["positions"]) - 1)
        earlier = ((region["positions"][rows] == positions)
                   & (region["measured"][rows] < self.pool.global_step)
                   & np.isfinite(region["predicted"][rows]))
        if not earlier.any():
            return None
        rows = rows[earlier]
        return {"mask": torch.as_tensor(earlier), "weights": weights[torch.as_tensor(earlier)],
                "losses": region["losses"][rows], "predicted": region["predicted"][rows]}

    def _loss_receiver(self, model, observation, anchor_weights):
        """The step's receiver of its losses, or None where it has nothing
        to observe and anchors nothing."""
        if observation is None and anchor_weights is None:
            return None
        return lambda losses: self._observe_training_losses(
            losses, model, observation, anchor_weights)

    def _observe_training_losses(self, losses, model, observation, anchor_weights):
        """Record the weighted change of the observed examples' losses since
        they were measured, and the change the quadratic model predicts over
        the same parameters (``check_loss="training"``); on a region's first
        step, its weighted loss, the model's ``L0``."""
        if self.anchor_pending and anchor_weights is not None:
            weights = anchor_weights.to(losses.device, losses.dtype)
            if len(weights) == len(losses):
                # The training step's own loss: mean(w_i * l_i).
                self.anchor_loss = float(torch.dot(weights, losses.detach())
                                         / len(losses))
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
