"""``selection="infobatch"``: InfoBatch's unbiased dynamic data pruning
(Qin et al., ICLR 2024, "InfoBatch: Lossless Training Speed Up by Unbiased
Dynamic Data Pruning").

Each example's score is its most recent training loss, read from the
training step itself (each :class:`Step` carries a receiver for its
losses): no extra forward pass.
At the start of every epoch, the examples scored below the mean score are
"well learned"; a random ``prune_ratio`` of them sit the epoch out, and the
rest of them have their loss weighted by ``1 / (1 - prune_ratio)``, so the
epoch's expected gradient is the full data's. The epoch trains on the kept
examples in shuffled batches, so it has fewer steps than a full epoch. In
the last ``1 - prune_until`` of a training call's epochs every example is
used, unweighted (InfoBatch's annealing).

Departures from the authors' code (``NUS-HPC-AI-Lab/InfoBatch``), each with
its reason, also listed on the departures page:

- An example that has never been trained on has no score and counts as not
  learned (the authors start every score at 1, which makes the first
  epochs' threshold depend on that constant).
- The annealing counts the epochs of each ``fit`` or ``partial_fit`` call
  (the authors' ``num_epochs`` is the whole training run, given up front);
  a fit is one call. As in the authors' sampler (which plans epoch ``e`` as
  iteration ``e + 1``), the first ``floor(prune_until * epochs)`` epochs of
  the call prune: 7 of 8, 17 of 20, 175 of 200 at ``prune_until=0.875``.
- A fit that ends before its full-data epochs (``EarlyStopping``) warns:
  its model comes from pruned, reweighted epochs only.
- Scores are stored by position in the training set; a pickle keeps them
  (floats, not training rows), so a continued fit prunes with them.

With several processes (``_processes.py``) each process scores and prunes
the examples of its own share, against the mean score of all processes'
examples (an all-reduce per epoch), and all processes take the largest
process's number of steps (a process with fewer kept examples repeats some
of them, at random, in its last batches).
"""

import math
import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from .. import _user_warnings as user_warnings
from ._base import SelectionStrategy
from ._step import Step


class InfoBatchPruning(SelectionStrategy):
    """Prune a random part of the well-learned examples at every epoch.

    Its epochs have as many steps as their kept examples fill, so the
    estimator's ``train_frac`` does not apply.

    Parameters
    ----------
    prune_ratio : float in [0, 0.9], default=0.5
        The fraction of the well-learned examples (last training loss below
        the mean) left out of each epoch; the others' losses are weighted by
        ``1 / (1 - prune_ratio)``. 0 prunes nothing. At most 0.9, the
        authors' cap: beyond it the few kept examples carry weights over 10.
        On the Fashion-MNIST CNN (20 epochs, 3 seeds) 0.3, 0.5 and 0.7 took
        79%, 65% and 51% of full training's steps for 0.28, 0.50 and 0.75
        points of test accuracy.
    prune_until : float in [0, 1], default=0.875
        The fraction of each ``fit`` or ``partial_fit`` call's epochs that
        prune (InfoBatch's ``delta``): the first ``floor(prune_until *
        epochs)``, the authors' count (17 of 20 epochs at 0.875); the rest
        train on every example, unweighted. A fit that stops before them
        (``EarlyStopping``) warns.

    Examples
    --------
    >>> from sklearn_crest.selection import InfoBatchPruning
    >>> InfoBatchPruning(prune_ratio=0.3)
    InfoBatchPruning(prune_ratio=0.3)
    """

    name = "infobatch"
    uses_train_frac = False
    warm_up_epochs = 0
    plans_epochs = True
    _parameter_constraints = {
        "prune_ratio": [Interval(numbers.Real, 0, 0.9, closed="both")],
        "prune_until": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, prune_ratio=0.5, prune_until=0.875):
        self.prune_ratio = prune_ratio
        self.prune_until = prune_until

    def _fresh_state(self):
        # scores: the latest training loss of each example (NaN: never
        # trained on); observed: (positions, losses) of the steps since the
        # scores were last written (kept on the training device); call_start
        # and call_epochs:
        # the epochs of the current fit or partial_fit call, over which
        # pruning is scheduled. None of it depends on the model as it is
        # now, so a region reset (a rebuilt module, a new batch size) keeps
        # it; only new training data restarts it.
        return {"scores": None, "scores_fingerprint": None, "observed": [],
                "call_start": 0, "call_epochs": None}

    def _transient_state(self):
        # plan: (epoch, positions, weights, n_pruned, mean score) of the
        # epoch being trained.
        return {**super()._transient_state(), "plan": None}

    def __getstate__(self):
        if getattr(self, "observed", None):
            self._write_observed_scores()  # losses, not device tensors, travel
        return super().__getstate__()

    # ----------------------------------------------------------- the data
    def bind(self, data):
        super().bind(data)
        if self.scores_fingerprint != self.pool.fingerprint:
            # Other data: scores and pending losses describe other examples.
            self.scores = np.full(self.pool.n_train, np.nan, dtype=np.float32)
            self.scores_fingerprint = self.pool.fingerprint
            self.observed = []

    def begin_training_call(self, n_epochs):
        self.call_start = self.pool.epoch
        self.call_epochs = int(n_epochs)

    def steps_for(self, n_train):
        planned = self.plan is not None and self.plan[0] == self.pool.epoch
        # With several processes the plan is agreed through collectives,
        # which every process must call at the same point: at the start of
        # the epoch, not wherever a total is asked for first (a progress bar
        # in the main process only). Until then the total is the unpruned one.
        if n_train == self.pool.n_train and (planned or not self.processes.distributed):
            return self._epoch_plan()[5]
        return math.ceil(n_train / (self.batch_size * self.processes.world_size))

    # ------------------------------------------------------ the schedule
    def pruning_epochs(self):
        """How many of the current call's epochs prune: the authors' count,
        ``floor(prune_until * epochs)`` (their epoch ``e`` prunes while
        ``e + 1 <= prune_until * epochs``); 0 with ``prune_ratio=0``."""
        if self.call_epochs is None or self.prune_ratio == 0:
            return 0
        return math.floor(self.prune_until * self.call_epochs)

    def _prunes_now(self):
        """Whether this epoch prunes: within the first ``prune_until`` of the
        call's epochs (InfoBatch's ``delta``), and with a ratio above 0."""
        return self.pool.epoch - self.call_start < self.pruning_epochs()

    def end_training_call(self):
        """Warn when the call ended (``EarlyStopping``, an interrupt) after
        pruned epochs only, before its full-data annealing epochs."""
        if self.call_epochs is None:
            return
        trained = self.pool.epoch - self.call_start
        pruning = self.pruning_epochs()
        if 0 < trained <= pruning < self.call_epochs and trained < self.call_epochs:
            user_warnings.warn(
                f"selection='infobatch' stopped after {trained} of {self.call_epochs} "
                f"epochs, all of them pruned and reweighted: its last "
                f"{self.call_epochs - pruning} epochs, which train on every example "
                "unweighted (InfoBatch's annealing), never ran, so the model ends "
                "where pruning left it. With EarlyStopping, set max_epochs to the "
                "epochs the fit will really train, or continue the stopped fit "
                "unpruned for a few epochs (net.set_params(selection='full'), "
                "then partial_fit(X, y, epochs=N)).")

    def _epoch_plan(self):
        """The epoch's kept positions (shuffled), their loss weights and its
        number of steps; decided once, at the epoch's first use."""
        if self.plan is not None and self.plan[0] == self.pool.epoch:
            return self.plan
        self._write_observed_scores()
        pool = self.pool.positions
        scores = self.scores[pool]
        seen = ~np.isnan(scores)
        if self.processes.distributed:
            # The threshold is the mean score of every process's examples.
            total, count = self.processes.sum(
                [scores[seen].sum(dtype=np.float64), seen.sum()])
            seen_anywhere = count > 0
            mean_score = float(total / count) if seen_anywhere else math.nan
        else:
            seen_anywhere = seen.any()
            mean_score = float(scores[seen].mean()) if seen_anywhere else math.nan
        weights = np.ones(pool.size, dtype=np.float32)
        kept = np.arange(pool.size)
        if self._prunes_now() and seen_anywhere:
            ratio = float(self.prune_ratio)
            well_learned = self._prune_candidates(seen, scores, mean_score)
            # As the authors: keep int((1 - r) * count) of them, at random.
            n_keep = int((1.0 - ratio) * well_learned.size)
            stay = self.pool.rng.choice(well_learned, size=n_keep, replace=False)
            weights[stay] = self._kept_weight(ratio)
            dropped = np.zeros(pool.size, dtype=bool)
            dropped[well_learned] = True
            dropped[stay] = False
            kept = np.flatnonzero(~dropped)
        order = kept[self.pool.rng.permutation(kept.size)]
        n_steps = math.ceil(order.size / self.batch_size)
        if self.processes.distributed:
            # Every process takes as many steps as the one that kept most.
            n_steps = int(self.processes.max([n_steps])[0])
            batches = self._exact_steps(order, n_steps)
            order = np.concatenate(batches) if batches else order
        self.plan = (self.pool.epoch, pool[order], weights[order],
                     int(pool.size - kept.size), mean_score, n_steps)
        return self.plan

    def _prune_candidates(self, seen, scores, mean_score):
        """Pool rows that may be pruned: the well-learned examples, scored
        below the mean (the benchmark's ablation draws them at random)."""
        return np.flatnonzero(seen & (scores < mean_score))

    def _kept_weight(self, ratio):
        """The loss weight of a candidate that stays: ``1 / (1 - r)``, which
        keeps the epoch's expected gradient the full data's."""
        return 1.0 / (1.0 - ratio)

    def plan_epoch(self, model, data, n_steps):
        _, positions, weights, _, _, _ = self._epoch_plan()
        weighted = bool((weights != 1.0).any())
        for start in range(0, positions.size, self.batch_size):
            batch = positions[start:start + self.batch_size]
            batch_weights = (torch.from_numpy(weights[start:start + self.batch_size])
                             if weighted else None)
            yield Step(batch, batch_weights,
                       on_losses=lambda losses, batch=batch: self._score(batch, losses))

    # ------------------------------------------------------------ scores
    def _score(self, positions, losses):
        """Keep the step's per-example losses as its examples' scores (on
        the training device until the next epoch's plan reads them: no host
        synchronisation per step)."""
        if len(losses) == len(positions):
            self.observed.append((positions, losses.detach()))
        elif not getattr(self, "mismatch_warned", False):
            self.mismatch_warned = True
            user_warnings.warn(
                f"selection='infobatch' scores examples by the losses of the "
                f"batch they were served in, but get_loss received {len(losses)} "
                f"losses for a batch of {len(positions)} examples (a training step "
                "that splits or changes the batch); those examples keep their "
                "earlier scores. Call get_loss once per served batch, with all of "
                "its examples, for InfoBatch to see every loss.")

    def _write_observed_scores(self):
        if not self.observed:
            return
        positions = np.concatenate([np.asarray(p) for p, _ in self.observed])
        losses = torch.cat([l.float() for _, l in self.observed]).cpu().numpy()
        self.scores[positions] = losses  # later steps overwrite earlier ones
        self.observed = []

    def extra_history(self):
        if self.plan is None:
            return {"n_kept": 0, "n_pruned": 0, "mean_score": math.nan}
        _, positions, _, n_pruned, mean_score, _ = self.plan
        return {"n_kept": int(positions.size), "n_pruned": n_pruned,
                "mean_score": mean_score}
