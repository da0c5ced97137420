"""The base of every selection strategy: the pool, the step budget, and the
pieces that several strategies share.

A strategy decides which training examples each optimizer step sees. The
estimator's training iterator asks it for one epoch at a time
(:meth:`SelectionStrategy.epoch_batches`): ``(positions, weights)`` per
step, positions into the training set and per-example loss weights (None for
unit weights). The strategy never holds data, only positions, so it pickles
small and survives ``partial_fit``.

Shared here, so that a strategy module holds only its own idea:

- the **pool** (the training positions still in play) and dropping learned
  examples from it (``drop_learned``, for strategies that list it among their
  parameters);
- the **step budget**: ``ceil(train_frac * n / batch_size)`` steps per epoch;
- the **share** of a data-parallel fit (``_processes.py``): with several
  processes, each owns a disjoint, class-stratified part of the training
  positions as its pool, selects there with its own random stream, and
  trains ``batch_size`` of its examples per step; the budget counts steps of
  ``world_size * batch_size`` examples, so an epoch still covers
  ``train_frac`` of the data;
- the **warm-up**: strategies that score examples with the model train their
  first ``warm_up_epochs`` epochs on uniform random batches (the gradients of
  an untrained network carry no information), as in the authors' code;
- **random subsets** split over the classes (``class_balance``,
  ``random_subset_size``) and drawn from per-class shuffled streams
  (``_class_streams.py``);
- the **eval pass** (``_selection_pass.py``), counted and timed;
- the per-epoch **statistics** that the estimator records in ``history``.

To add a strategy: subclass :class:`SelectionStrategy` in a new module, set
``name`` and ``parameters``, implement :meth:`plan_epoch`, and register the
class in ``selection/__init__.py``.
"""

import math
import numbers
import time

import numpy as np
import torch

from .. import _user_warnings as user_warnings
from .._coresets.facility_location import allocate_budget
from .._processes import SINGLE_PROCESS
from .._coresets.proxies import softmax_minus_onehot
from ._class_streams import ClassStreams
from .._coresets.minibatch import minibatch_coresets, quotas_per_subset
from ._selection_pass import chunk_rows, selection_outputs


class SelectionStrategy:
    """Which examples each training step sees, over a whole fit.

    Parameters
    ----------
    config : dict
        The estimator's selection hyperparameters (``train_frac``,
        ``random_subset_size``, ...), validated by the estimator.
    batch_size : int
        Examples per training step.
    random_state : RandomState
        Source of all of the strategy's randomness.

    Attributes
    ----------
    name : str
        The value of the estimator's ``selection`` that chooses this class.
    parameters : tuple of str
        The estimator parameters the strategy reads; a non-default value of
        any other selection parameter is a no-op, and the fit says so.
    region_parameters : tuple of str
        Parameters whose change (between ``partial_fit`` calls) discards the
        strategy's transient state (:meth:`reset_region`).
    warm_up_epochs : int
        Leading epochs of uniform random batches.
    plans_epochs : bool
        Whether all of an epoch's batches are known when it starts (a
        ``Dataset`` can then be read through the user's ``DataLoader``).
    processes : TrainingProcesses
        The processes of the fit (``_processes.py``), set by the training
        iterator for each fit call; never pickled.
    """

    name = None
    parameters = ()
    # The history figures that the epoch table prints for this mode (all of
    # HISTORY_KEYS and extra_history's stay in history).
    printed_history = ("n_steps",)
    region_parameters = ()
    warm_up_epochs = 1
    plans_epochs = True
    processes = SINGLE_PROCESS

    def __init__(self, config, batch_size, random_state):
        self.config = dict(config)
        self.batch_size = int(batch_size)
        self.rng = random_state
        self.torch_generator = torch.Generator().manual_seed(
            int(random_state.randint(2**31 - 1)))
        self.n_train = None
        self.data_fingerprint = None
        self.pool = None
        self.pool_owner = (0, 1)
        self.n_owned = None
        self._class_members = None
        self._class_streams = None
        self._quota_cache = None
        self.epoch = 0
        self.global_step = 0
        self.loss_watch = None
        self.loss_watch_epoch = None
        self.labels = None
        self.n_classes = 0
        self.subset_size_warned = False
        self.epoch_stats = self._new_epoch_stats()
        self.__dict__.update(self._fresh_state(self.config))
        self.__dict__.update(self._transient_state())

    # --------------------------------------------------------------- state
    def _transient_state(self):
        """Attributes that hold the current selection's choices (coresets,
        proxies, anything derived from the model as it was): reset by
        :meth:`reset_region`, and left out of a pickle. Subclasses extend it."""
        return {"coresets": []}

    def reset_region(self):
        """Forget what was chosen with the model (the module was rebuilt, the
        training data changed, a selection setting changed): the next step
        selects afresh."""
        self.__dict__.update(self._transient_state())

    def reconfigured(self, strategy_class, config, batch_size):
        """This strategy under new hyperparameters (``set_params`` between
        ``partial_fit`` calls), keeping the pool, the counters and the loss
        history. Another ``selection`` gives an instance of its class that
        takes over the shared state and starts without a region."""
        if strategy_class is not type(self):
            successor = strategy_class.__new__(strategy_class)
            shared = {key: value for key, value in self.__dict__.items()
                      if key in _SHARED_STATE}
            successor.__dict__.update(strategy_class._fresh_state(config))
            successor.__dict__.update(shared)
            successor.config = dict(self.config)
            successor.reset_region()
            return successor.reconfigured(strategy_class, config, batch_size)
        old, old_batch_size = self.config, self.batch_size
        self.config = dict(config)
        self.batch_size = int(batch_size)
        if (config["drop_learned"], config["watch_interval"]) != (
                old.get("drop_learned"), old.get("watch_interval")):
            self.loss_watch = None  # reallocated by the next bind
        self._quota_cache = None  # quotas depend on the subset size and batch
        self._reconfigure(old)
        # Choices made under other selection settings do not carry over.
        # (A pickle of an earlier version may lack a newer setting.)
        if (any(config[key] != old.get(key) for key in self.region_parameters)
                or self.batch_size != old_batch_size):
            self.reset_region()
        return self

    @classmethod
    def _fresh_state(cls, config):
        """The strategy's own long-lived attributes (beyond the shared
        ones), as a new fit starts them: applied by the constructor and
        when ``selection`` switches between calls."""
        return {}

    def _reconfigure(self, old_config):
        """Hook: take a changed configuration (``self.config``; the previous
        one is ``old_config``)."""

    def __getstate__(self):
        """What a pickle keeps: settings, counters and positions into the
        training set, never its examples or labels. A fit continued from an
        unpickled model starts a new region; the pool and the loss history
        carry over."""
        state = self.__dict__.copy()
        state.update(self._transient_state(), labels=None, _class_members=None,
                     _class_streams=None, _quota_cache=None)
        # The process group belongs to the running fit, not to the model.
        state.pop("processes", None)
        # The torch generator travels as its state in a numpy array: skorch
        # unpickles the strategy (a CUDA-dependent attribute) with its tensors
        # mapped to the training device, and a CPU generator refuses a state
        # tensor on CUDA ("RNG state must be a torch.ByteTensor").
        state["torch_generator"] = self.torch_generator.get_state().numpy()
        return state

    def __setstate__(self, state):
        generator_state = state.pop("torch_generator")
        # Pickles from before data-parallel fits: a single process's pool.
        state.setdefault("pool_owner", (0, 1))
        state.setdefault("n_owned", state.get("n_train"))
        self.__dict__.update(self._transient_state())
        self.__dict__.update(state)
        self.torch_generator = torch.Generator()
        self.torch_generator.set_state(
            torch.from_numpy(np.array(generator_state, dtype=np.uint8)))

    # ------------------------------------------------------------ the data
    def bind(self, data):
        """Attach to a training set. Other data (not merely the same rows
        again) restarts the pool and the region: positions into the old data
        mean nothing in the new; so does another place in another number of
        processes, whose share of the data differs."""
        fingerprint = data.fingerprint()
        owner = (self.processes.rank, self.processes.world_size)
        if (fingerprint != self.data_fingerprint
                or owner != getattr(self, "pool_owner", (0, 1))):
            self.data_fingerprint = fingerprint
            self.n_train = len(data)
            self.pool = self._owned_positions(data)
            self.pool_owner = owner
            self.n_owned = int(self.pool.size)
            self._pool_changed()  # state derived from another share goes
            self.loss_watch = None
            self.reset_region()
            self._class_members = None
            self._class_streams = None
            self._quota_cache = None
        if self.labels is None or self.labels is not data.labels:
            # The same data again has the same labels (the fingerprint says
            # so): the per-class caches stay; they follow pool changes only.
            self.labels = data.labels
            self.n_classes = int(self.labels.max()) + 1 if self.n_train else 0
        if self._drops_learned() and self.loss_watch is None:
            self.loss_watch = np.full((self.config["watch_interval"], self.n_train),
                                      -1.0, dtype=np.float32)
            self.loss_watch_epoch = np.full(self.config["watch_interval"], -1)

    def _owned_positions(self, data):
        """The training positions this process selects from and trains on:
        all of them in a single process; with several, a disjoint share,
        class-stratified (each class dealt out in turn, in an order all
        processes draw alike), after which each process draws from its own
        random stream (seeded by the shared draw and its rank, so a fixed
        number of processes repeats its runs)."""
        processes = self.processes
        labels = data.labels
        n = len(labels)
        if not processes.distributed:
            return np.arange(n, dtype=np.int64)
        size, digest = data.content_identity()
        identity = np.array([size, int(digest[:12], 16)], dtype=np.float64)  # exact
        # One all-reduce for the largest and (negated) the smallest values.
        highest, lowest = np.split(processes.max(np.concatenate([identity, -identity])), 2)
        if np.any(highest != -lowest):
            raise ValueError(
                "The processes of this data-parallel fit passed different "
                "training data. Every process must call fit with the whole "
                "training set (the same rows and labels): the processes split it "
                "between themselves.")
        if n < processes.world_size:
            # The same data everywhere now: every process refuses alike.
            raise ValueError(
                f"{n} training examples cannot be shared by "
                f"{processes.world_size} processes: each needs at least one. "
                "Train in fewer processes.")
        seed = int(processes.from_first([self.rng.randint(2**31 - 1)])[0])
        order = np.random.RandomState(seed).permutation(n)
        order = order[np.argsort(labels[order], kind="stable")]
        owned = np.sort(order[processes.rank::processes.world_size])
        own_seeds = np.random.SeedSequence([seed, processes.rank]).generate_state(2)
        self.rng = np.random.RandomState(int(own_seeds[0]))
        self.torch_generator = torch.Generator().manual_seed(int(own_seeds[1]))
        return owned.astype(np.int64)

    def steps_per_epoch(self):
        """Optimizer steps in one epoch: the step budget."""
        return self.steps_for(self.n_train)

    def steps_for(self, n_train):
        """Optimizer steps in one epoch over ``n_train`` training examples
        (each step trains ``batch_size`` examples in every process)."""
        return math.ceil(self.config["train_frac"] * n_train
                         / (self.batch_size * self.processes.world_size))

    def epoch_is_planned(self):
        """Whether the coming epoch's batches are all known when it starts
        (they are not chosen step by step with the model of each step)."""
        return self.epoch < self.warm_up_epochs or self.plans_epochs

    # ----------------------------------------------------------- the epoch
    def epoch_batches(self, model, data):
        """Yield ``(positions, weights)`` for each of one epoch's training batches.

        ``model`` is a :class:`~sklearn_crest.selection._model.SelectionModel`
        and ``data`` the training set's ``IndexedData``. ``weights`` holds the
        batch's per-example loss weights, or None for unit weights; the
        estimator's ``get_loss`` applies them. Batches are produced lazily: a
        strategy that selects with the model of each step selects when the
        step before it has trained.
        """
        self.bind(data)
        self.epoch_stats = self._new_epoch_stats()
        n_steps = self.steps_per_epoch()
        if self._drops_learned():
            self._maybe_drop_learned()
        if self.epoch < self.warm_up_epochs:
            plan = self._random_batches(n_steps)
        else:
            plan = self.plan_epoch(model, data, n_steps)
        for positions, weights in plan:
            self.global_step += 1
            self.epoch_stats["n_steps"] += 1
            yield positions, weights
        self.epoch += 1

    def plan_epoch(self, model, data, n_steps):
        """Yield ``(positions, weights)`` for the epoch's ``n_steps`` steps
        (the warm-up epochs excepted). The strategy's own idea."""
        raise NotImplementedError

    def begin_training_call(self, n_epochs):
        """Hook: a ``fit`` or ``partial_fit`` call is about to train
        ``n_epochs`` epochs (InfoBatch schedules its pruning over them)."""

    def end_training_call(self):
        """Hook: the ``fit`` or ``partial_fit`` call has ended, all its epochs
        trained or stopped early (``EarlyStopping``, an interrupt)."""

    def batch_served(self, positions):
        """Hook: the batch of ``positions`` is the one the coming training
        step trains on (called by the training iterator, in training order,
        also when a planned epoch was read ahead through a loader)."""

    def wants_training_losses(self):
        """Whether :meth:`observe_training_losses` should be called with the
        coming training step's per-example losses."""
        return False

    def observe_training_losses(self, losses, model):
        """Take the per-example losses (a tensor, in the order of the batch
        last served) that the training step computed anyway."""

    def wants_gradient(self):
        """Whether :meth:`observe_gradient` should be called after the coming
        training step's backward pass."""
        return False

    def observe_gradient(self, model):
        """Read the gradients that the training step's backward pass left on
        ``model.parameters()``, before the optimizer steps."""

    def _exact_steps(self, order, n_steps):
        """``order`` cut into exactly ``n_steps`` batches of ``batch_size``
        (the last one short). Where ``order`` runs out first (a process's
        share is a little smaller than the others'), random repeats of it
        fill the last batches: every process must take the same number of
        steps."""
        missing = (n_steps - 1) * self.batch_size + 1 - order.size
        if n_steps > 0 and missing > 0 and order.size:
            order = np.concatenate([order, self.rng.choice(order, size=missing)])
        return [order[i * self.batch_size:(i + 1) * self.batch_size]
                for i in range(n_steps)]

    def _random_batches(self, n_steps):
        """``n_steps`` batches of uniformly random pool examples, no repeats
        within the epoch unless the epoch needs more examples than the pool."""
        needed = n_steps * self.batch_size
        order = self.rng.permutation(self.pool)
        while order.size < needed:
            order = np.concatenate([order, self.rng.permutation(self.pool)])
        return [(order[i * self.batch_size:(i + 1) * self.batch_size], None)
                for i in range(n_steps)]

    # ------------------------------------------------------------- history
    @staticmethod
    def _new_epoch_stats():
        return {"n_selections": 0, "n_checks": 0, "n_steps": 0,
                "n_forward_examples": 0, "selection_forward_s": 0.0,
                "selection_s": 0.0, "check_s": 0.0, "selected_loss": [],
                "subset_loss": []}

    def history_record(self):
        """Per-epoch figures for the net's history."""
        stats = self.epoch_stats
        coreset_examples = (len(np.unique(np.concatenate(
            [_to_host(c[0]) for c in self.coresets]))) if self.coresets else 0)
        return {
            "n_selections": stats["n_selections"],
            "n_checks": stats["n_checks"],
            "n_steps": stats["n_steps"],
            "n_forward_examples": stats["n_forward_examples"],
            "selection_s": stats["selection_s"],
            "selection_forward_s": stats["selection_forward_s"],
            "check_s": stats["check_s"],
            "pool_size": int(self.pool.size) if self.pool is not None else 0,
            "coreset_size": int(coreset_examples),
            "selected_loss": _mean_or_nan(stats["selected_loss"]),
            "subset_loss": _mean_or_nan(stats["subset_loss"]),
            **self.extra_history(),
        }

    def extra_history(self):
        """The strategy's own per-epoch figures for the history."""
        return {}

    # ------------------------------------------------------ the eval pass
    def _evaluate(self, model, data, positions, precision=None):
        """Probabilities (on the host) and losses of the examples at
        ``positions``, in one eval-mode selection pass, counted and timed."""
        start = time.perf_counter()
        chunk = chunk_rows(model.device, self.batch_size, data.row_bytes())
        batches = (data.batch(positions[i:i + chunk])
                   for i in range(0, len(positions), chunk))
        probabilities, losses = selection_outputs(
            model, batches, precision or self.config["selection_precision"])
        outputs = probabilities.cpu(), losses
        self.epoch_stats["n_forward_examples"] += int(len(positions))
        self.epoch_stats["selection_forward_s"] += time.perf_counter() - start
        return outputs

    def _proxies_and_losses(self, model, data, positions):
        """Last-layer gradient proxies (softmax minus one-hot, on the host)
        and losses (numpy) of the examples at ``positions``, in one eval
        pass; the losses are watched for dropping learned examples."""
        probabilities, losses = self._evaluate(model, data, positions)
        proxies = softmax_minus_onehot(probabilities, self.labels[positions])
        losses = losses.cpu().numpy()
        self._watch_losses(positions, losses)
        return proxies, losses

    def _coresets_from(self, subsets, union, proxies, losses):
        """One weighted mini-batch coreset of ``batch_size`` from each random
        subset (``_coresets/minibatch.py``); ``union`` is the sorted positions
        that the rows of ``proxies`` and ``losses`` describe. Returns
        ``(positions, weights)`` per subset, weights of mean 1."""
        rows = [[np.searchsorted(union, part) for part in parts] for parts in subsets]
        solved = minibatch_coresets(
            proxies, rows, quotas_per_subset(subsets, self.batch_size),
            metric=self.config["selection_metric"], random_state=self.rng)
        coresets = []
        for selected, sizes, _ in solved:
            # Cluster sizes sum to the subset size; rescale to mean 1 so that a
            # coreset step's loss is on the scale of an ordinary batch mean.
            weights = sizes * (len(selected) / sizes.sum())
            coresets.append((union[selected],
                             torch.as_tensor(weights, dtype=torch.float32)))
            self.epoch_stats["selected_loss"].append(float(losses[selected].mean()))
        return coresets

    # ------------------------------------------------------ random subsets
    def _random_subset_total(self):
        """Examples wanted in one random subset, before class quotas. A
        fraction is of this process's share (the training set in a single
        process), so that several processes together evaluate what one
        would, each a part."""
        size = self.config["random_subset_size"]
        if size == "auto":
            return self._auto_subset_total()
        if isinstance(size, numbers.Integral):
            return int(size)
        return size * self.n_owned

    def _auto_subset_total(self):
        """``random_subset_size="auto"``: the smallest subset that gives
        facility location a real choice (two batches). On the Fashion-MNIST
        CNN it kept per-step selection's gain over random batches (+0.86
        against +0.89 points with 600 examples) at half the cost."""
        return 2 * self.batch_size

    def _class_quotas(self):
        """Per-class examples of one random subset, grown where the subset
        would be too small to choose a coreset from; cached until the pool
        changes (per-step selection asks at every step).

        ``class_balance="proportional"`` (the default) gives each class a
        share proportional to its size in the pool, at least one example: the
        coreset's weighted loss then estimates the mean loss over the pool,
        which full-data training minimises. ``"balanced"`` gives every class
        the same quota, as the authors do; on imbalanced data the fit then
        minimises a class-balanced loss and shifts the predicted class prior.
        """
        if self._quota_cache is not None:
            return self._quota_cache
        pool_counts = np.bincount(self.labels[self.pool], minlength=self.n_classes)
        total = max(1, math.ceil(self._random_subset_total()))
        wanted = min(2 * self.batch_size, int(self.pool.size))
        quotas = self._quotas_for(pool_counts, total)
        subset_size = int(quotas.sum())
        if subset_size < wanted:
            # The smallest subset that gives a real choice.
            quotas = self._quotas_for(pool_counts, wanted)
            self._warn_small_subset(subset_size, wanted, int(quotas.sum()))
        self._quota_cache = (pool_counts, quotas)
        return self._quota_cache

    def _warn_small_subset(self, subset_size, wanted, used):
        small_pool = self.pool.size < 2 * self.batch_size
        # "auto" grows to two batches by design; a pool too small for that
        # is worth a word whatever the setting.
        if self.subset_size_warned or not (
                small_pool or self.config["random_subset_size"] != "auto"):
            return
        if small_pool:
            # Raising random_subset_size cannot help here.
            advice = (f"The pool has only {int(self.pool.size)} examples, "
                      f"fewer than 2 * batch_size: a coreset can barely "
                      "choose; lower batch_size for a real choice.")
        else:
            advice = ("Raise random_subset_size to at least "
                      f"{wanted} (an int is a count), leave it at \"auto\", "
                      "or lower batch_size, to silence this.")
        user_warnings.warn(
            f"random_subset_size={self.config['random_subset_size']!r} "
            f"gives random subsets of {subset_size} examples, too few to "
            f"choose a coreset of batch_size={self.batch_size} from; using "
            f"{used} (at most the pool). {advice}")
        self.subset_size_warned = True

    def _quotas_for(self, pool_counts, total):
        """At least ``total`` examples (at most the pool) split over classes."""
        total = min(int(total), int(pool_counts.sum()))
        if self.config["class_balance"] == "proportional":
            return allocate_budget(pool_counts, total, "proportional",
                                   every_class=True)
        present = max(int(np.count_nonzero(pool_counts)), 1)
        quota = math.ceil(total / present)
        while int(np.minimum(pool_counts, quota).sum()) < total:
            quota += 1
        return np.minimum(pool_counts, quota)

    def _draw_random_subsets(self, n_subsets):
        """Random subsets of the pool with the class quotas, drawn in order
        from its per-class shuffled streams: consecutive subsets are disjoint
        until a class is used up."""
        _, quotas = self._class_quotas()
        streams = self._pool_streams()
        return [streams.draw(quotas) for _ in range(n_subsets)]

    def _pool_streams(self):
        """Shuffled per-class streams of the pool (``_class_streams.py``);
        rebuilt when the pool changes."""
        if self._class_streams is None:
            self._class_streams = ClassStreams(self._pool_members(), self.rng)
        return self._class_streams

    def _pool_members(self):
        """The pool's positions of each class; built in one pass when the pool
        changes, not per epoch or per draw (with 3M examples and 2000 classes,
        one scan per class took 6.5 s per epoch)."""
        if self._class_members is None:
            self._class_members = group_by_class(self.pool, self.labels[self.pool],
                                                 self.n_classes)
        return self._class_members

    # -------------------------------------------------------- drop learned
    def _drops_learned(self):
        return "drop_learned" in self.parameters and self.config["drop_learned"]

    def _watch_losses(self, positions, losses):
        """Record the losses just measured, for dropping learned examples."""
        if not self._drops_learned():
            return
        row = self.epoch % self.config["watch_interval"]
        if self.loss_watch_epoch[row] != self.epoch:
            # A row holds one epoch's losses; older values there are stale.
            self.loss_watch[row] = -1.0
            self.loss_watch_epoch[row] = self.epoch
        self.loss_watch[row, positions] = losses

    def _drop_floor_quotas(self):
        """Per class, the examples dropping must leave (with the pool's
        per-class counts): one random subset's quota."""
        return self._class_quotas()

    def _maybe_drop_learned(self):
        """Every ``drop_interval`` epochs, drop the pool's examples whose
        watched losses all stay under ``drop_thresh``."""
        if self.epoch == 0 or (self.epoch + 1) % self.config["drop_interval"]:
            return
        watch = self.loss_watch[:, self.pool]
        observed = (watch >= 0).any(axis=0)
        highest = watch.max(axis=0)
        learned = observed & (highest <= self.config["drop_thresh"])
        if not learned.any():
            return
        pool_counts, quotas = self._drop_floor_quotas()
        pool_labels = self.labels[self.pool]
        # Each class keeps at least its floor, the hardest of its learned
        # ones first. (The authors' rule drops all of a class's learned
        # examples or none, so a class that is almost entirely learned, the
        # case dropping is for, dropped nothing.)
        order = np.argsort(highest, kind="stable")  # best learned first
        droppable = np.zeros_like(learned)
        for c in range(self.n_classes):
            in_class = order[(pool_labels[order] == c) & learned[order]]
            limit = max(0, int(pool_counts[c]) - int(quotas[c]))
            droppable[in_class[:limit]] = True
        # Of this process's share (all the data in a single process): each
        # process drops only examples it owns, measured only by itself.
        floor = math.ceil(self.config["min_train_frac"] * self.n_owned)
        allowed = max(0, int(self.pool.size) - floor)
        candidates = np.flatnonzero(droppable)
        if candidates.size > allowed:
            # Drop the best-learned first and stop at the floor.
            candidates = candidates[np.argsort(highest[candidates],
                                               kind="stable")[:allowed]]
        if candidates.size:
            self.pool = np.delete(self.pool, candidates)
            self._class_members = None
            self._class_streams = None
            self._quota_cache = None
            self._pool_changed()

    def _pool_changed(self):
        """Hook: the pool lost examples; drop them from derived state."""


# Attributes every strategy has, which a switch of ``selection`` carries over.
_SHARED_STATE = frozenset((
    "config", "batch_size", "rng", "torch_generator", "n_train", "data_fingerprint",
    "pool", "pool_owner", "n_owned", "_class_members", "_class_streams",
    "_quota_cache", "epoch", "global_step", "loss_watch", "loss_watch_epoch",
    "labels", "n_classes", "subset_size_warned", "epoch_stats"))


#: Every per-epoch figure a strategy records in the history (extra_history's
#: own keys aside).
HISTORY_KEYS = ("n_selections", "n_checks", "n_steps", "n_forward_examples",
                "selection_s", "selection_forward_s", "check_s", "pool_size",
                "coreset_size", "selected_loss", "subset_loss")


def group_by_class(positions, labels, n_classes):
    """``positions`` split by their ``labels``: one array per class, in the
    order of ``positions`` within a class (one stable sort, not a scan per
    class)."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_classes)
    return np.split(positions[order], np.cumsum(counts)[:-1])


def _mean_or_nan(values):
    """Mean of floats, or of device scalars (read here, once per epoch)."""
    if not values:
        return float("nan")
    if all(isinstance(v, torch.Tensor) for v in values):
        return float(torch.stack(values).double().mean())  # one read
    return float(np.mean([float(v) for v in values]))


def _to_host(positions):
    return positions.cpu().numpy() if isinstance(positions, torch.Tensor) else positions
