"""The base of every selection strategy.

A strategy decides which training examples each optimizer step sees. It is
configured like a scikit-learn estimator: its parameters are its
``__init__``'s keyword arguments, with defaults and ``_parameter_constraints``
in its own module, so that ``get_params``, ``set_params`` and ``clone`` work,
and the estimator routes ``selection__<name>`` to it. A fit starts a clone
(:meth:`SelectionStrategy.start`), and the training loop asks it for one
epoch at a time (:meth:`SelectionStrategy.epoch_steps`): one
:class:`~sklearn_crest.selection.Step` per optimizer step.

What strategies share lives in small collaborators, each with its own
state: the pool, the process share, the random streams and the counters
(``_pool.py``), random subsets and their class quotas
(``_random_subsets.py``), dropping learned examples (``_drop_learned.py``)
and the history's figures (``_stats.py``). The base adds the step budget
(``ceil(train_frac * n / batch_size)`` steps per epoch), the warm-up epochs
(strategies that score examples with the model train their first
``warm_up_epochs`` epochs on random batches: an untrained network's
gradients carry no information), and the eval pass
(``_selection_pass.py``), counted and timed.
"""

import math
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .._coresets.minibatch import minibatch_coresets, quotas_per_subset
from .._coresets.proxies import softmax_minus_onehot
from .._processes import SINGLE_PROCESS
from ._drop_learned import LearnedExampleDropping
from ._pool import TrainingPool
from ._random_subsets import RandomSubsets
from ._selection_pass import chunk_rows, selection_outputs
from ._stats import history_record, new_epoch_stats
from ._step import Step


class SelectionStrategy(BaseEstimator):
    """Which examples each training step sees, over a whole fit.

    Subclasses declare their parameters as keyword arguments of
    ``__init__`` (which only stores them) and their constraints in
    ``_parameter_constraints``, and implement :meth:`plan_epoch`.

    Attributes
    ----------
    name : str or None
        The value of the estimator's ``selection`` that chooses this class
        when it is registered (:func:`~sklearn_crest.selection.register_strategy`).
        A strategy object works as ``selection`` without a name.
    uses_train_frac : bool
        Whether the estimator's step budget ``train_frac`` sizes its epochs.
    region_parameters : tuple of str
        Parameters whose change between ``partial_fit`` calls discards the
        strategy's transient state (:meth:`reset_region`).
    warm_up_epochs : int
        Leading epochs of uniform random batches.
    plans_epochs : bool
        Whether all of an epoch's batches are known when it starts (a
        ``Dataset`` can then be read through the user's ``DataLoader``).
    printed_history : tuple of str
        The history figures that the epoch table prints for this strategy.
    processes : TrainingProcesses
        The processes of the fit (``_processes.py``), set for each training
        call; never pickled.
    """

    name = None
    uses_train_frac = True
    printed_history = ("n_steps",)
    region_parameters = ()
    warm_up_epochs = 1
    plans_epochs = True
    processes = SINGLE_PROCESS
    _parameter_constraints: dict = {}

    # ------------------------------------------------------------ lifecycle
    def start(self, *, batch_size, train_frac=1.0, random_state=None):
        """Validate the parameters and start the state of a fit.

        Parameters
        ----------
        batch_size : int
            Examples per training step (per process).
        train_frac : float, default=1.0
            The step budget: an epoch has ``ceil(train_frac * n /
            batch_size)`` steps (where :attr:`uses_train_frac`).
        random_state : int, RandomState instance or None, default=None
            Source of all of the strategy's randomness.

        Returns
        -------
        self : SelectionStrategy
        """
        return self._begin(batch_size, train_frac,
                           TrainingPool(check_random_state(random_state)))

    def take_over(self, previous, *, batch_size, train_frac=1.0):
        """Start by continuing the fit of ``previous``, a started strategy of
        another class (``selection`` changed between ``partial_fit`` calls):
        its pool, counters and random streams carry over; no region does.

        Returns
        -------
        self : SelectionStrategy
        """
        self._begin(batch_size, train_frac, previous.pool)
        dropping = previous.dropping
        if (self._drops_learned() and dropping is not None
                and len(dropping.epochs) == self.watch_interval):
            # The watched losses carry over where they mean the same window.
            self.dropping = dropping
        self.random_subsets.warned = previous.random_subsets.warned
        self.processes = previous.processes
        return self

    def _begin(self, batch_size, train_frac, pool):
        self._validate_params()
        self.batch_size = int(batch_size)
        self.train_frac = float(train_frac)
        self.pool = pool
        self.random_subsets = RandomSubsets()
        self.dropping = None
        self.epoch_stats = new_epoch_stats()
        self.__dict__.update(self._fresh_state())
        self.__dict__.update(self._transient_state())
        return self

    def reconfigure(self, params, batch_size, train_frac):
        """Take new parameter values (``set_params`` between ``partial_fit``
        calls), keeping the pool, the counters and the loss history; a
        changed region parameter or batch size starts a new region."""
        old = self.get_params(deep=False)
        self.set_params(**params)
        self._validate_params()
        old_batch_size, self.batch_size = self.batch_size, int(batch_size)
        self.train_frac = float(train_frac)
        if not self._drops_learned() or old.get("watch_interval") != getattr(
                self, "watch_interval", None):
            self.dropping = None  # reallocated by the next bind
        self._reconfigure(old)
        if (any(params.get(key, old[key]) != old[key] for key in self.region_parameters)
                or self.batch_size != old_batch_size):
            self.reset_region()
        return self

    def _fresh_state(self):
        """The strategy's own long-lived attributes, as a fit starts them."""
        return {}

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

    def _reconfigure(self, old_params):
        """Hook: parameters changed (the previous values are ``old_params``)."""

    def __getstate__(self):
        """Settings, counters and positions into the training set, never
        its examples or labels. A fit continued from an unpickled model
        starts a new region; the pool and the loss history carry over."""
        state = self.__dict__.copy()
        if "pool" in state:
            state.update(self._transient_state())
        state.pop("processes", None)  # belongs to the running fit
        return state

    def __setstate__(self, state):
        self.__dict__.update(self._transient_state() if "pool" in state else {})
        self.__dict__.update(state)

    # ------------------------------------------------------------ the data
    def bind(self, data):
        """Attach to a training set (``IndexedData``); other data restart
        the pool and the region."""
        if self.pool.bind(data, self.processes):
            self._pool_changed()
            self.dropping = None
            self.reset_region()
        if self._drops_learned() and self.dropping is None:
            self.dropping = LearnedExampleDropping(self.watch_interval, self.pool.n_train)

    def steps_per_epoch(self):
        """Optimizer steps in one epoch: the step budget."""
        return self.steps_for(self.pool.n_train)

    def steps_for(self, n_train):
        """Optimizer steps in one epoch over ``n_train`` training examples
        (each step trains ``batch_size`` examples in every process)."""
        fraction = self.train_frac if self.uses_train_frac else 1.0
        return math.ceil(fraction * n_train
                         / (self.batch_size * self.processes.world_size))

    def epoch_is_planned(self):
        """Whether the coming epoch's batches are all known when it starts
        (they are not chosen step by step with the model of each step)."""
        return self.pool.epoch < self.warm_up_epochs or self.plans_epochs

    # ----------------------------------------------------------- the epoch
    def epoch_steps(self, model, data):
        """Yield one :class:`~sklearn_crest.selection.Step` per training step
        of one epoch.

        ``model`` is a :class:`~sklearn_crest.selection.SelectionModel` and
        ``data`` the training set's ``IndexedData``. Steps are produced
        lazily: a strategy that selects with the model of each step selects
        when the step before it has trained.
        """
        self.bind(data)
        self.epoch_stats = new_epoch_stats()
        n_steps = self.steps_per_epoch()
        if self._drops_learned():
            self._maybe_drop_learned()
        if self.pool.epoch < self.warm_up_epochs:
            plan = self._random_batches(n_steps)
        else:
            plan = self.plan_epoch(model, data, n_steps)
        for step in plan:
            self.pool.global_step += 1
            self.epoch_stats["n_steps"] += 1
            yield step if isinstance(step, Step) else Step(*step)
        self.pool.epoch += 1

    def plan_epoch(self, model, data, n_steps):
        """Yield the epoch's ``n_steps`` steps (the warm-up epochs
        excepted): :class:`Step` objects, or ``(positions, weights)`` pairs
        for steps that report nothing back. The strategy's own idea."""
        raise NotImplementedError

    def begin_training_call(self, n_epochs):
        """Hook: a ``fit`` or ``partial_fit`` call is about to train
        ``n_epochs`` epochs (InfoBatch schedules its pruning over them)."""

    def end_training_call(self):
        """Hook: the ``fit`` or ``partial_fit`` call has ended, all its epochs
        trained or stopped early (``EarlyStopping``, an interrupt)."""

    def _exact_steps(self, order, n_steps):
        """``order`` cut into exactly ``n_steps`` batches of ``batch_size``
        (the last one short). Where ``order`` runs out first (a process's
        share is a little smaller than the others'), random repeats of it
        fill the last batches: every process must take the same number of
        steps."""
        missing = (n_steps - 1) * self.batch_size + 1 - order.size
        if n_steps > 0 and missing > 0 and order.size:
            order = np.concatenate([order, self.pool.rng.choice(order, size=missing)])
        return [order[i * self.batch_size:(i + 1) * self.batch_size]
                for i in range(n_steps)]

    def _random_batches(self, n_steps):
        """``n_steps`` batches of uniformly random pool examples, no repeats
        within the epoch unless the epoch needs more examples than the pool."""
        needed = n_steps * self.batch_size
        positions, rng = self.pool.positions, self.pool.rng
        order = rng.permutation(positions)
        while order.size < needed:
            order = np.concatenate([order, rng.permutation(positions)])
        return [(order[i * self.batch_size:(i + 1) * self.batch_size], None)
                for i in range(n_steps)]

    # ------------------------------------------------------------- history
    def history_record(self):
        """Per-epoch figures for the net's history."""
        size = self.pool.positions.size if self.pool.positions is not None else 0
        return {**history_record(self.epoch_stats, size, self.coresets),
                **self.extra_history()}

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
            model, batches, precision or self.selection_precision)
        outputs = probabilities.cpu(), losses
        self.epoch_stats["n_forward_examples"] += int(len(positions))
        self.epoch_stats["selection_forward_s"] += time.perf_counter() - start
        return outputs

    def _proxies_and_losses(self, model, data, positions):
        """Last-layer gradient proxies (softmax minus one-hot, on the host)
        and losses (numpy) of the examples at ``positions``, in one eval
        pass; the losses are watched for dropping learned examples."""
        probabilities, losses = self._evaluate(model, data, positions)
        proxies = softmax_minus_onehot(probabilities, self.pool.labels[positions])
        losses = losses.cpu().numpy()
        self._watch_losses(positions, losses)
        return proxies, losses

    def _coresets_from(self, subsets, union, proxies, losses):
        """One weighted mini-batch coreset of ``batch_size`` from each random
        subset (``_coresets/minibatch.py``); ``union`` is the sorted
        positions that the rows of ``proxies`` and ``losses`` describe.
        Returns ``(positions, weights)`` per subset, weights of mean 1."""
        rows = [[np.searchsorted(union, part) for part in parts] for parts in subsets]
        solved = minibatch_coresets(
            proxies, rows, quotas_per_subset(subsets, self.batch_size),
            metric=self.selection_metric, random_state=self.pool.rng)
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
    def _class_quotas(self):
        """``(pool_counts, quotas)`` of one random subset (``_random_subsets.py``)."""
        return self.random_subsets.quotas(
            self.pool, getattr(self, "random_subset_size", "auto"),
            getattr(self, "class_balance", "proportional"), self.batch_size)

    def _draw_random_subsets(self, n_subsets):
        """Random subsets of the pool with the class quotas, drawn in order
        from its per-class shuffled streams: consecutive subsets are disjoint
        until a class is used up."""
        return self.random_subsets.draw(self.pool, n_subsets, self._class_quotas()[1])

    # -------------------------------------------------------- drop learned
    def _drops_learned(self):
        return bool(getattr(self, "drop_learned", False))

    def _watch_losses(self, positions, losses):
        """Record the losses just measured, for dropping learned examples."""
        if self._drops_learned():
            self.dropping.watch(self.pool.epoch, positions, losses)

    def _drop_floor_quotas(self):
        """Per class, the examples dropping must leave (with the pool's
        per-class counts): one random subset's quota."""
        return self._class_quotas()

    def _maybe_drop_learned(self):
        """Every ``drop_interval`` epochs, drop the pool's learned examples
        (``_drop_learned.py``)."""
        epoch = self.pool.epoch
        if epoch == 0 or (epoch + 1) % self.drop_interval:
            return
        rows = self.dropping.learned_rows(self.pool, self._drop_floor_quotas,
                                          self.drop_thresh, self.min_train_frac)
        if rows.size:
            self.pool.remove(rows)
            self._pool_changed()

    def _pool_changed(self):
        """Hook: the pool lost examples; drop them from derived state."""
