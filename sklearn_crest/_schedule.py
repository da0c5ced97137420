"""The CREST batch schedule: which examples each training step sees, and when.

Every epoch has ``ceil(train_frac * n / batch_size)`` steps. Epoch 0 trains on
uniform random batches (the model's gradients are meaningless before any
training); selection starts with epoch 1, as in the authors' code.

A mini-batch coreset is built in three moves, whatever the mode:

1. **Random subset.** A random subset of the current pool:
   ``random_subset_size * n`` examples (a float), ``random_subset_size`` (an
   int), or under ``"auto"`` two batches (``per_step``) or 1% of the set
   (``crest``); split over the classes in proportion to their sizes
   (``class_balance="proportional"``) or equally (``"balanced"``), and taken
   in order from per-class shuffled streams (``_class_streams.py``).
2. **Gradient proxies.** An eval-mode forward pass over the subset
   (``_selection_pass.py``: bfloat16 where native, channels-last
   convolutions) gives each example's last-layer gradient proxy (softmax
   minus one-hot) and its loss.
3. **Facility location.** Per class (largest-remainder budgets), the greedy
   picks exactly ``batch_size`` medoids, weighted by their cluster sizes and
   rescaled to mean 1. Each training step consumes one such coreset, as the
   paper describes.

``selection="per_step"`` builds a fresh one at every step (the paper's
"greedy mini-batch selection"), optionally keeping the unselected examples of
recent subsets as candidates (``proxy_reuse_steps``) so that each step
evaluates fewer new ones.

``selection="crest"`` reuses coresets within *regions*:

4. **Selection.** A region starts with two coresets from two random subsets, a
   fixed check sample drawn from those subsets, and a quadratic model of the
   check sample's loss around the current parameters (``_curvature.py``).
5. **Serving.** Each step builds a coreset from a further random subset until
   the region has ``num_minibatch_coreset`` of them (a region that ends early
   never pays for the rest); then every step gets a fresh coreset by facility
   location on a random subset of the region's proxy pool, the union of its
   subsets, at no forward-pass cost (``region_coresets="resample"``), or the
   region's coresets cycle in a fresh order (``"cycle"``, the authors').
6. **Checks.** Every ``check_interval`` (I) steps the model's prediction is
   compared with a measured loss; when they differ by more than
   ``check_thresh_factor`` times the loss, a new region starts at once.
   ``check_loss="training"`` (the default) measures nothing extra: each
   training step on a coreset from the region's pool reports how its
   examples' losses changed since the region evaluated them, against the
   model's predicted change. ``"sample"`` evaluates the check sample again.
7. **Adaptive interval.** At later selections I becomes
   ``ceil(ref_curvature / curvature * interval_mul)`` and the region's subset
   count ``min(I * batch_num_mul, steps_per_epoch)``.

``selection="craig"`` and ``"gradmatch"`` (the paper's baselines) select once
per epoch (every ``selection_interval`` epochs) from the whole pool: one
eval-mode pass gives every example's proxy (and the output layer's input), a
weighted subset of ``ceil(train_frac * n)`` examples is chosen per class by
facility location (CRAIG) or by orthogonal matching pursuit on the last
layer's gradients (GradMatch, ``_gradient_matching.py``), and the epoch's
steps take shuffled batches of it, each example with its weight.

All these modes can drop learned examples (``drop_learned``): examples whose
recorded losses all stay under ``drop_thresh`` leave the pool every
``drop_interval`` epochs, never taking it below ``min_train_frac`` of the
training set, nor a class below one random-subset quota.

Why the check is cheap and consistent here: the authors' check is a forward
pass over all random subsets (or the whole training set) at almost every
step, which took 81-96% of the fit time of a prototype that followed it
literally, and it compares a loss with a model of another loss. Here the
quadratic model's ``L0`` and gradient are taken on a fixed sample of
``check_sample_size`` examples in eval mode, as is the selection's Hutchinson
probe (the curvature itself is a running average over the fit's probes); the
training-loss check then costs a few vector operations per step, and the
sample check a forward pass over that same sample in the same mode.
"""

import collections
import contextlib
import math
import numbers
import time

import numpy as np
import torch
from sklearn.utils.random import sample_without_replacement

from . import _user_warnings as user_warnings
from ._class_streams import ClassStreams, draw_per_class
from ._curvature import QuadraticLossModel
from ._device_selection import DeviceSelection
from ._facility_location import allocate_budget, select_in_ground_sets
from ._gradient_matching import gradient_matching_subset
from ._proxies import OutputLayerInputs, find_output_layer, softmax_minus_onehot
from ._selection_pass import prediction as _prediction
from ._selection_pass import CPU_BATCHES_PER_CHUNK, chunk_rows, selection_outputs
from ._selection_pass import take_rows as _take_rows

# Examples per forward pass of the check passes (``check_loss="sample"``), in
# training batches: the selection passes' CPU chunk (``_selection_pass.py``),
# which keeps a check's memory within what training itself needs.
_EVAL_BATCHES_PER_CHUNK = CPU_BATCHES_PER_CHUNK

# The authors' random subset: 1% of the training set.
_AUTHORS_SUBSET_FRACTION = 0.01

# Kernel blocks of CRAIG's whole-pool selection. A class of 5,000 proxy-like
# points (a Fashion-MNIST class's size) with 500 picks took 1.07 s in one
# block and 0.38 s in 2,048-point blocks (16 MiB), for 99.98% of the
# objective (benchmarks/pool_block_size.py).
_POOL_SELECTION_KERNEL_BYTES = 16 * 2**20


class CrestSchedule:
    """State and logic of CREST's data selection over a whole fit.

    The schedule is created when the net is initialised and survives
    ``partial_fit``; it holds positions into the training set, never data.

    Parameters
    ----------
    config : dict
        The estimator's CREST hyperparameters (``selection``, ``train_frac``,
        ``random_subset_size``, ...), validated by the estimator.
    batch_size : int
        Examples per training step, which is also the size of one mini-batch
        coreset.
    random_state : RandomState
        Source of all randomness of the schedule.
    """

    def __init__(self, config, batch_size, random_state):
        self.config = dict(config)
        self.batch_size = int(batch_size)
        self.rng = random_state
        self.torch_generator = torch.Generator().manual_seed(
            int(random_state.randint(2**31 - 1)))
        self.n_train = None
        self.data_fingerprint = None
        self.pool = None
        self._class_members = None
        self._class_streams = None
        self._quota_cache = None
        self.served = 0
        self.check_batch = None
        self.epoch = 0
        self.global_step = 0
        self.last_selection_step = None
        self.check_interval = int(config["check_interval"])
        self.n_coresets = int(config["num_minibatch_coreset"])
        self.reference_curvature = None
        self.coresets = []
        self.coreset_order = []
        self.check_sample = None
        # The region's proxy pool: positions, gradient proxies and losses of
        # the union of its random subsets; later coresets are resampled from it.
        self.region = None
        self.region_subsets = 0
        # (global step, steps since selection, checked loss, predicted loss)
        # of the latest checks: the evidence of what the check measures.
        self.check_log = collections.deque(maxlen=100_000)
        self.quadratic_model = QuadraticLossModel()
        self.loss_watch = None
        self.loss_watch_epoch = None
        self.labels = None
        self.n_classes = 0
        self.subset_size_warned = False
        self.output_layer_warned = False
        self.epoch_stats = self._new_epoch_stats()

    # ------------------------------------------------------------------ set-up
    def reconfigure(self, config, batch_size):
        """Take new hyperparameters (``set_params`` between ``partial_fit`` calls)
        while keeping the state: pool, coresets, model, intervals."""
        old = self.config
        old_batch_size = self.batch_size
        self.config = dict(config)
        self.batch_size = int(batch_size)
        # Initial values that a user changed apply now; adapted values that
        # the user did not touch stay adapted.
        if config["check_interval"] != old["check_interval"]:
            self.check_interval = int(config["check_interval"])
        if config["num_minibatch_coreset"] != old["num_minibatch_coreset"]:
            self.n_coresets = int(config["num_minibatch_coreset"])
        if (config["drop_learned"], config["watch_interval"]) != (
                old["drop_learned"], old["watch_interval"]):
            self.loss_watch = None  # reallocated by the next bind
        self._quota_cache = None  # quotas depend on the subset size and batch
        # Coresets, proxy pools and the quadratic model made under other
        # selection settings do not carry over.
        region_keys = ("selection", "random_subset_size", "proxy_reuse_steps",
                       "class_balance", "gradmatch_regularization",
                       "region_coresets", "check_sample_size", "selection_metric",
                       "check_loss")
        if (any(config[key] != old[key] for key in region_keys)
                or self.batch_size != old_batch_size):
            self.reset_region()

    @staticmethod
    def _empty_region():
        """The state of the current region when there is none."""
        return {"coresets": [], "coreset_order": [], "served": 0, "region": None,
                "region_subsets": 0, "last_selection_step": None,
                "check_batch": None, "check_sample": None,
                "epoch_subset": None, "epoch_subset_epoch": None,
                "observations": [], "pending_observation": None}

    def __getstate__(self):
        """What a pickle keeps: settings, counters and positions into the
        training set, never its examples or labels. The check sample's
        tensors, the labels and the region's proxies and losses are left out,
        so a fit continued from an unpickled model starts a new region (the
        pool and the loss history carry over)."""
        state = self.__dict__.copy()
        state.update(self._empty_region(), labels=None, _class_members=None,
                     _class_streams=None, _quota_cache=None)
        # The torch generator travels as its state in a numpy array: skorch
        # unpickles the schedule (a CUDA-dependent attribute) with its tensors
        # mapped to the training device, and a CPU generator refuses a state
        # tensor on CUDA ("RNG state must be a torch.ByteTensor").
        state["torch_generator"] = self.torch_generator.get_state().numpy()
        return state

    def __setstate__(self, state):
        generator_state = state.pop("torch_generator")
        # Pickles of earlier versions lack this round's attributes and
        # settings, and hold the generator itself.
        self.__dict__.update({"_class_streams": None, "observations": [],
                              "pending_observation": None})
        self.__dict__.update(state)
        self.config = {"selection_precision": "auto", "check_loss": "sample",
                       **self.config}
        if isinstance(generator_state, torch.Generator):
            self.torch_generator = generator_state
            return
        self.torch_generator = torch.Generator()
        self.torch_generator.set_state(
            torch.from_numpy(np.array(generator_state, dtype=np.uint8)))

    def reset_region(self):
        """Forget the coresets and the quadratic model (the module was rebuilt,
        or the training data changed): the next step selects afresh."""
        self.__dict__.update(self._empty_region())
        self.quadratic_model = QuadraticLossModel()
        self.reference_curvature = None

    def bind(self, data):
        """Attach to a training set. Other data (not merely the same rows
        again) restarts the pool and the region: positions into the old data
        mean nothing in the new."""
        fingerprint = data.fingerprint()
        if fingerprint != self.data_fingerprint:
            self.data_fingerprint = fingerprint
            self.n_train = len(data)
            self.pool = np.arange(self.n_train, dtype=np.int64)
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
        if self.config["drop_learned"] and self.loss_watch is None:
            self.loss_watch = np.full((self.config["watch_interval"], self.n_train),
                                      -1.0, dtype=np.float32)
            self.loss_watch_epoch = np.full(self.config["watch_interval"], -1)

    def steps_per_epoch(self):
        """Optimizer steps in one epoch: the step budget."""
        return self.steps_for(self.n_train)

    def steps_for(self, n_train):
        """Optimizer steps in one epoch over ``n_train`` training examples."""
        if self.config["selection"] == "full":
            return math.ceil(n_train / self.batch_size)
        return math.ceil(self.config["train_frac"] * n_train / self.batch_size)

    def epoch_is_planned(self):
        """Whether the coming epoch's batches are all known when it starts
        (they are not chosen step by step with the model of each step)."""
        return self.epoch == 0 or self.config["selection"] not in ("per_step", "crest")

    @staticmethod
    def _new_epoch_stats():
        return {"n_selections": 0, "n_checks": 0, "n_steps": 0,
                "n_forward_examples": 0, "selection_forward_s": 0.0,
                "selection_s": 0.0, "check_s": 0.0, "selected_loss": [],
                "subset_loss": []}

    # --------------------------------------------------------------- the epoch
    def epoch_batches(self, net, data):
        """Yield ``(positions, weights)`` for each of one epoch's training batches.

        ``weights`` holds the batch's per-example coreset weights, or None for
        unit weights; the estimator's ``get_loss`` applies them.
        """
        self.bind(data)
        self.epoch_stats = self._new_epoch_stats()
        n_steps = self.steps_per_epoch()
        selection = self.config["selection"]
        if selection not in ("random", "full") and self.config["drop_learned"]:
            self._maybe_drop_learned()
        if selection == "full":
            order = self.rng.permutation(self.n_train)
            for start in range(0, self.n_train, self.batch_size):
                yield self._step(order[start:start + self.batch_size], None)
        elif selection == "random" or self.epoch == 0:
            for positions in self._random_batches(n_steps):
                yield self._step(positions, None)
        elif selection == "per_step":
            on_device = self._device_selection(data)
            for _ in range(n_steps):
                start = time.perf_counter()
                if self.config["proxy_reuse_steps"]:
                    self._select_from_candidates(net, data)
                elif on_device is not None:
                    self._select_on_device(net, on_device)
                else:
                    self.region = None
                    self._forward_and_select(net, data, 1)
                self.epoch_stats["n_selections"] += 1
                self.epoch_stats["selection_s"] += time.perf_counter() - start
                positions, weights = self.coresets[-1]
                self.coresets = self.coresets[-1:]
                yield self._step(positions, weights)
        elif selection in ("craig", "gradmatch"):
            if (self.epoch_subset is None or self.epoch - self.epoch_subset_epoch
                    >= self.config["selection_interval"]):
                self._select_epoch_subset(net, data)
            for batch in self._epoch_subset_batches(n_steps):
                yield self._step(*batch)
        else:
            for _ in range(n_steps):
                self._select_or_check(net, data, n_steps)
                positions, weights = self._next_coreset(net, data)
                # The training step's losses on this coreset come back
                # through observe_training_losses.
                self.pending_observation = self.observation_for(positions, weights)
                yield self._step(positions, weights)
        self.epoch += 1

    def _device_selection(self, data):
        """The device-resident per-step path (``_device_selection.py``) when
        it applies: in-memory data on a CUDA device (``device_path="auto"``;
        "always" also on the CPU, for tests), and nothing that needs the
        losses on the host (``drop_learned``)."""
        setting = getattr(self, "device_path", "auto")
        if (setting == "never" or data.X is None or self.config["drop_learned"]
                or (setting == "auto" and data.X.device.type != "cuda")):
            return None
        return DeviceSelection(data, self.batch_size, self.config["selection_metric"])

    def _select_on_device(self, net, selection):
        """A fresh per-step coreset, all on the device; its figures are kept
        as device scalars and read when the epoch's history is recorded."""
        start = time.perf_counter()
        parts = self._draw_random_subsets(1)[0]
        positions, weights, subset_loss, selected_loss = selection.select(
            net, parts, self.config["selection_precision"])
        self.epoch_stats["n_forward_examples"] += int(sum(len(p) for p in parts))
        self.epoch_stats["selection_forward_s"] += time.perf_counter() - start
        self.epoch_stats["subset_loss"].append(subset_loss)
        self.epoch_stats["selected_loss"].append(selected_loss)
        self.coresets = [(positions, weights)]

    def _step(self, positions, weights):
        self.global_step += 1
        self.epoch_stats["n_steps"] += 1
        return positions, weights

    def _random_batches(self, n_steps):
        """``n_steps`` batches of uniformly random pool examples, no repeats
        within the epoch unless the epoch needs more examples than the pool."""
        needed = n_steps * self.batch_size
        order = self.rng.permutation(self.pool)
        while order.size < needed:
            order = np.concatenate([order, self.rng.permutation(self.pool)])
        return [order[i * self.batch_size:(i + 1) * self.batch_size]
                for i in range(n_steps)]

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
        }

    # ------------------------------------------------------- select and check
    def _select_or_check(self, net, data, n_steps):
        if self.last_selection_step is None or not self.coresets:
            self._select(net, data, n_steps)
            return
        since = self.global_step - self.last_selection_step
        if since > 0 and since % self.check_interval == 0:
            if self.config["check_loss"] == "training":
                passes = self._training_check_passes()
            else:
                passes = self._check_passes(net)
            if not passes:
                self._select(net, data, n_steps)

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
        if not math.isfinite(self.quadratic_model.loss_at_selection):
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
        error = abs(observed[:, 0].mean() - observed[:, 1].mean())
        loss = abs(observed[:, 2].mean())
        self.epoch_stats["n_checks"] += 1
        self.epoch_stats["check_s"] += time.perf_counter() - start
        self.check_log.append((self.global_step,
                               self.global_step - self.last_selection_step,
                               float(loss),
                               float(loss - observed[:, 0].mean() + observed[:, 1].mean())))
        return bool(error <= self.config["check_thresh_factor"] * loss)

    def observation_for(self, positions, weights):
        """What the training-loss check needs of the coreset served at this
        step: for its examples whose losses were measured at an earlier step
        (in the region's pool), those losses, the model's predictions then
        and the coreset weights; None when there is none to observe."""
        region = self.region
        if (self.config["selection"] != "crest" or self.config["check_loss"] != "training"
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

    def observe_training_losses(self, losses, net):
        """Take the per-example training losses of the step just served:
        record the weighted change of the observed examples' losses since
        they were measured, and the change the quadratic model predicts over
        the same parameters (``check_loss="training"``)."""
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
        predicted_now = self._predicted_loss(net)
        self.observations.append((now - then, predicted_now - predicted_then, now))
        self.epoch_stats["check_s"] += time.perf_counter() - start

    def _check_passes(self, net):
        start = time.perf_counter()
        losses = _losses_of_batches(net, self._check_chunks())
        true_loss = float(losses.mean())
        predicted = self.quadratic_model.predict(_parameters(net))
        self.epoch_stats["n_checks"] += 1
        self.epoch_stats["n_forward_examples"] += int(losses.numel())
        self.epoch_stats["check_s"] += time.perf_counter() - start
        self.check_log.append((self.global_step,
                               self.global_step - self.last_selection_step,
                               true_loss, predicted))
        tolerance = self.config["check_thresh_factor"] * abs(true_loss)
        return abs(true_loss - predicted) <= tolerance

    def _eval_chunk(self):
        return _EVAL_BATCHES_PER_CHUNK * self.batch_size

    def _check_chunks(self):
        X, y = self.check_batch
        step = self._eval_chunk()
        return [(_take_rows(X, slice(i, i + step)), y[i:i + step])
                for i in range(0, len(y), step)]

    def _random_subset_total(self):
        """Examples wanted in one random subset, before class quotas."""
        size = self.config["random_subset_size"]
        if size == "auto":
            # The smallest subset that gives facility location a real choice
            # (two batches): on the Fashion-MNIST CNN it kept per-step
            # selection's gain over random batches (+0.86 against +0.89
            # points with 600 examples) at half the cost. A CREST region's
            # pool is the union of its subsets, and its coresets are
            # resampled from it: there the authors' 1% stands, at least two
            # batches.
            floor = 2 * self.batch_size
            if self.config["selection"] == "crest":
                return max(floor, _AUTHORS_SUBSET_FRACTION * self.n_train)
            return floor
        if isinstance(size, numbers.Integral):
            return int(size)
        return size * self.n_train

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
            small_pool = self.pool.size < 2 * self.batch_size
            # "auto" grows to two batches by design; a pool too small for
            # that is worth a word whatever the setting.
            if not self.subset_size_warned and (
                    small_pool or self.config["random_subset_size"] != "auto"):
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
                    f"{int(quotas.sum())} (at most the pool). {advice}")
                self.subset_size_warned = True
        self._quota_cache = (pool_counts, quotas)
        return self._quota_cache

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
        """Shuffled per-class streams of the pool, from which random subsets
        are drawn in order (``_class_streams.py``); rebuilt when the pool
        changes."""
        if self._class_streams is None:
            self._class_streams = ClassStreams(self._pool_members(), self.rng)
        return self._class_streams

    def _pool_members(self):
        """The pool's positions of each class; built in one pass when the pool
        changes, not per epoch or per draw (with 3M examples and 2000 classes,
        one scan per class took 6.5 s per epoch)."""
        if self._class_members is None:
            self._class_members = _group_by_class(self.pool, self.labels[self.pool],
                                                  self.n_classes)
        return self._class_members

    def _select(self, net, data, n_steps):
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
        self._forward_and_select(net, data, min(2, self.n_coresets))
        # The check sample: a sample of the random subsets, gathered once, so
        # that every check sees exactly these tensors (no re-reading, and no
        # fresh augmentation from a Dataset's transforms).
        union = self.region["positions"]
        check_size = min(self.config["check_sample_size"], len(union))
        # In random order: the curvature probe takes the first chunk, which
        # must not be the lowest positions (one class, in class-sorted data).
        self.check_sample = self.rng.choice(union, size=check_size, replace=False)
        self.check_batch = data.batch(self.check_sample)
        self._fit_quadratic_model(net)
        # Measured at the anchor, where the model predicts L0.
        self.region["predicted"][:] = self.quadratic_model.loss_at_selection
        self.observations = []
        self._adapt(n_steps)
        self.last_selection_step = self.global_step
        self.epoch_stats["n_selections"] += 1
        self.epoch_stats["selection_s"] += time.perf_counter() - start

    def _forward_and_select(self, net, data, n_subsets):
        """Draw ``n_subsets`` random subsets, run one eval forward pass over
        their union, and add one mini-batch coreset from each subset.

        The subsets' positions, gradient proxies and losses join the region's
        proxy pool, from which later coresets of the region are resampled.
        """
        subsets = self._draw_random_subsets(n_subsets)
        union = np.unique(np.concatenate([np.concatenate(s) for s in subsets]))
        probabilities, losses = self._evaluate(net, data, union)
        proxies = softmax_minus_onehot(probabilities, self.labels[union])
        losses = losses.cpu().numpy()
        if self.config["drop_learned"]:
            self._watch_losses(union, losses)
        self.epoch_stats["subset_loss"].append(float(losses.mean()))
        self._add_coresets(subsets, union, proxies, losses)
        # What the quadratic model predicted when these losses were measured
        # (NaN before it is fitted; _select sets L0 then): the training-loss
        # check compares the change of an example's loss since then with the
        # change of the prediction.
        predicted = np.full(len(union), self._predicted_loss(net))
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

    def _predicted_loss(self, net):
        """The quadratic model's loss at the current parameters (NaN without
        a fitted model: per-step selection, or before the region's fit)."""
        if self.config["selection"] != "crest" or self.quadratic_model.anchor is None:
            return math.nan
        return self.quadratic_model.predict(_parameters(net))

    def _select_from_candidates(self, net, data):
        """A per-step coreset from a random subset that reuses the examples
        of earlier steps' subsets that were evaluated but not selected.

        Such an example stays a candidate for ``proxy_reuse_steps`` further
        steps (its proxy that many steps old at most); each step evaluates
        only the fresh examples that top the subset back up to its class
        quotas, about ``batch_size`` once the candidates are in steady state
        instead of the whole subset.
        """
        _, quotas = self._class_quotas()
        members = self._pool_members()
        kept = self.region
        if kept is not None:
            young = kept["age"] <= self.config["proxy_reuse_steps"]
            kept = {key: value[young] for key, value in kept.items()}
        have = ([np.empty(0, dtype=np.int64)] * self.n_classes if kept is None else
                _group_by_class(kept["positions"], self.labels[kept["positions"]],
                                self.n_classes))
        fresh = []
        for c, class_members in enumerate(members):
            wanted = min(int(quotas[c]), class_members.size) - have[c].size
            if wanted > 0:
                # Draw as many more as the candidates hold, then drop those:
                # at least `wanted` new ones remain, in O(draw) not O(class).
                drawn = _draw_per_class(self.rng, [class_members],
                                        [wanted + have[c].size])[0]
                fresh.append(drawn[~np.isin(drawn, have[c])][:wanted])
        fresh = np.unique(np.concatenate(fresh)) if fresh else np.empty(0, np.int64)
        if fresh.size:
            probabilities, losses = self._evaluate(net, data, fresh)
            proxies = softmax_minus_onehot(probabilities, self.labels[fresh])
            losses = losses.cpu().numpy()
            if self.config["drop_learned"]:
                self._watch_losses(fresh, losses)
            new = {"positions": fresh, "proxies": proxies, "losses": losses,
                   "age": np.zeros(fresh.size, dtype=np.int64)}
            if kept is not None:
                merged = np.concatenate([kept["positions"], fresh])
                order = np.argsort(merged, kind="stable")
                new = {
                    "positions": merged[order],
                    "proxies": torch.cat([kept["proxies"], proxies])[order],
                    "losses": np.concatenate([kept["losses"], losses])[order],
                    "age": np.concatenate([kept["age"], new["age"]])[order],
                }
            kept = new
        union = kept["positions"]
        parts = _group_by_class(union, self.labels[union], self.n_classes)
        self.epoch_stats["subset_loss"].append(float(kept["losses"].mean()))
        self.coresets = []
        self._add_coresets([[p for p in parts if p.size]], union, kept["proxies"],
                           kept["losses"])
        # Selected examples are trained on now: they leave the candidates.
        remaining = ~np.isin(union, self.coresets[-1][0])
        kept = {key: value[remaining] for key, value in kept.items()}
        kept["age"] = kept["age"] + 1
        self.region = kept

    def _evaluate(self, net, data, positions, precision=None):
        """Probabilities and losses of the examples at ``positions`` (one
        eval-mode pass), counted and timed for the history."""
        start = time.perf_counter()
        chunk = chunk_rows(net.device, self.batch_size, data.row_bytes())
        batches = (data.batch(positions[i:i + chunk])
                   for i in range(0, len(positions), chunk))
        probabilities, losses = selection_outputs(
            net, batches, precision or self.config["selection_precision"])
        outputs = probabilities.cpu(), losses
        self.epoch_stats["n_forward_examples"] += int(len(positions))
        self.epoch_stats["selection_forward_s"] += time.perf_counter() - start
        return outputs

    def _select_epoch_subset(self, net, data):
        """CRAIG's or GradMatch's weighted subset of the whole pool.

        One eval-mode pass over the pool gives every example's gradient proxy
        (and, for GradMatch, the output layer's input); the subset has
        ``ceil(train_frac * n)`` examples, split over the classes as
        ``class_balance`` says, and its weights are rescaled to mean 1.
        """
        start = time.perf_counter()
        pool = self.pool
        budget = self._epoch_subset_budget()
        gradmatch = self.config["selection"] == "gradmatch"
        layer = find_output_layer(net.module_, self.n_classes) if gradmatch else None
        recorder = OutputLayerInputs(layer) if layer is not None else None
        # The whole-pool pass runs once per epoch, and GradMatch's pursuit
        # fits weights to these gradients: "auto" keeps it in float32 (in
        # bfloat16 its per-class gradient error rose above random subsets' on
        # digits). Only an explicit "bfloat16" applies here.
        precision = self.config["selection_precision"]
        precision = "float32" if precision == "auto" else precision
        with recorder if recorder is not None else contextlib.nullcontext():
            probabilities, losses = self._evaluate(net, data, pool, precision)
        labels = self.labels[pool]
        proxies = softmax_minus_onehot(probabilities, labels)
        losses = losses.cpu().numpy()
        if self.config["drop_learned"]:
            self._watch_losses(pool, losses)
        if gradmatch:
            activations = recorder.activations(probabilities) if recorder else None
            if activations is None:
                self._warn_no_output_layer(layer)
            indices, weights = gradient_matching_subset(
                _last_layer_gradients(proxies, activations), labels, budget,
                regularization=self.config["gradmatch_regularization"],
                class_balance=self.config["class_balance"], random_state=self.rng)
        else:
            indices, weights = _craig_subset(
                proxies, labels, budget, self.n_classes, self.config, self.rng)
        weights = np.asarray(weights, dtype=np.float64)
        total = weights.sum()
        weights = (weights * (len(weights) / total) if total > 0
                   else np.ones_like(weights))
        self.epoch_subset = (pool[indices], torch.as_tensor(weights, dtype=torch.float32))
        self.epoch_subset_epoch = self.epoch
        # The history's coreset_size counts the subset's distinct examples.
        self.coresets = [self.epoch_subset]
        self.epoch_stats["n_selections"] += 1
        self.epoch_stats["subset_loss"].append(float(losses.mean()))
        self.epoch_stats["selected_loss"].append(float(losses[indices].mean()))
        self.epoch_stats["selection_s"] += time.perf_counter() - start

    def _epoch_subset_budget(self):
        """Examples in CRAIG's or GradMatch's subset: ``train_frac`` of the
        training set (not of a pool shrunk by drop_learned), at most the pool."""
        return min(math.ceil(self.config["train_frac"] * self.n_train),
                   int(self.pool.size))

    def _warn_no_output_layer(self, layer):
        if self.output_layer_warned:
            return
        self.output_layer_warned = True
        reason = ("has no torch.nn.Linear with one output per class" if layer is None
                  else "has a torch.nn.Linear with one output per class, but its "
                  "output is not the module's prediction")
        user_warnings.warn(
            f"selection='gradmatch' matches the gradients of the output layer's "
            f"weights and bias, but the module {reason}; matching the bias "
            "gradients (softmax minus one-hot) only. End the module with a "
            "torch.nn.Linear(n_features, n_classes) that produces the logits "
            "(a softmax after it is fine) to match the full last-layer gradient.")

    def _epoch_subset_batches(self, n_steps):
        """``n_steps`` shuffled batches of the epoch's weighted subset (the
        subset is reshuffled when the epoch needs more rows than it has)."""
        positions, weights = self.epoch_subset
        needed = n_steps * self.batch_size
        order = self.rng.permutation(len(positions))
        while order.size < needed:
            order = np.concatenate([order, self.rng.permutation(len(positions))])
        for i in range(n_steps):
            rows = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield positions[rows], weights[torch.as_tensor(rows)]

    def _add_coresets(self, subsets, union, proxies, losses):
        """One weighted coreset of ``batch_size`` from each random subset, by
        facility location per class on the gradient proxies; ``union`` is the
        sorted positions that the rows of ``proxies`` and ``losses`` describe."""
        ground_sets, quotas, owners = [], [], []
        for subset_index, parts in enumerate(subsets):
            sizes = [len(p) for p in parts]
            budget = min(self.batch_size, sum(sizes))
            for part, quota in zip(parts, allocate_budget(
                    sizes, budget, "proportional", every_class=True)):
                if quota:
                    ground_sets.append(np.searchsorted(union, part))
                    quotas.append(int(quota))
                    owners.append(subset_index)
        solved = select_in_ground_sets(
            proxies, ground_sets, quotas, metric=self.config["selection_metric"],
            random_state=self.rng)
        for subset_index in range(len(subsets)):
            mine = [s for s, owner in zip(solved, owners) if owner == subset_index]
            positions = np.concatenate([s[0] for s in mine])
            sizes = np.concatenate([s[1] for s in mine])
            # Cluster sizes sum to the subset size; rescale to mean 1 so that a
            # coreset step's loss is on the scale of an ordinary batch mean.
            weights = sizes * (len(positions) / sizes.sum())
            self.coresets.append((union[positions],
                                  torch.as_tensor(weights, dtype=torch.float32)))
            self.epoch_stats["selected_loss"].append(float(losses[positions].mean()))

    def _fit_quadratic_model(self, net):
        """Model the check sample's loss around the current parameters.

        ``L0``, ``g`` and ``h`` all describe the loss that the checks measure:
        the unweighted mean loss of the check sample, in eval mode. (The
        authors anchor ``L0`` on one loss and take ``g`` from another, so their
        check fires on the difference between the two losses as much as on the
        model's error.)
        """
        X, y = self.check_batch
        total = len(y)
        module = net.module_
        was_training = module.training
        net._set_training(False)
        parameters = _parameters(net)

        def closure_for(rows):
            def closure():
                output = _prediction(net.forward_unpadded(_take_rows(X, rows)))
                return net.per_example_loss(output, y[rows]).mean()
            return closure

        step = self.batch_size
        chunks = [(closure_for(slice(i, i + step)), min(step, total - i) / total)
                  for i in range(0, total, step)]
        try:
            self.quadratic_model.fit(parameters, chunks, self.torch_generator)
        finally:
            net._set_training(was_training)
        self.epoch_stats["n_forward_examples"] += int(total)

    def _adapt(self, n_steps):
        curvature = self.quadratic_model.curvature_norm
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

    def _next_coreset(self, net, data):
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
            self._forward_and_select(net, data, 1)
            self.region_subsets += 1
            self.served += 1
            coreset = self.coresets[-1]
        else:
            region = self.region
            _, quotas = self._class_quotas()
            subset = draw_per_class(region["positions"], self.labels[region["positions"]],
                                    quotas, self.rng)
            self._add_coresets([subset], region["positions"], region["proxies"],
                               region["losses"])
            # Served once and forgotten: a long region must not hoard them.
            coreset = self.coresets.pop()
        self.epoch_stats["selection_s"] += time.perf_counter() - start
        return coreset

    # ------------------------------------------------------------ drop learned
    def _watch_losses(self, positions, losses):
        row = self.epoch % self.config["watch_interval"]
        if self.loss_watch_epoch[row] != self.epoch:
            # A row holds one epoch's losses; older values there are stale.
            self.loss_watch[row] = -1.0
            self.loss_watch_epoch[row] = self.epoch
        self.loss_watch[row, positions] = losses

    def _maybe_drop_learned(self):
        if self.epoch == 0 or (self.epoch + 1) % self.config["drop_interval"]:
            return
        watch = self.loss_watch[:, self.pool]
        observed = (watch >= 0).any(axis=0)
        highest = watch.max(axis=0)
        learned = observed & (highest <= self.config["drop_thresh"])
        if not learned.any():
            return
        if self.config["selection"] in ("craig", "gradmatch"):
            # A class keeps at least its share of the epoch subset.
            pool_counts = np.bincount(self.labels[self.pool], minlength=self.n_classes)
            quotas = allocate_budget(pool_counts, self._epoch_subset_budget(),
                                     self.config["class_balance"], every_class=True)
        else:
            pool_counts, quotas = self._class_quotas()
        pool_labels = self.labels[self.pool]
        # Each class keeps at least one random-subset quota of examples (the
        # epoch subset's share, for CRAIG and GradMatch), the hardest of its
        # learned ones first. (The authors' rule drops all of a
        # class's learned examples or none, so a class that is almost entirely
        # learned, the case dropping is for, dropped nothing.)
        order = np.argsort(highest, kind="stable")  # best learned first
        droppable = np.zeros_like(learned)
        for c in range(self.n_classes):
            in_class = order[(pool_labels[order] == c) & learned[order]]
            limit = max(0, int(pool_counts[c]) - int(quotas[c]))
            droppable[in_class[:limit]] = True
        floor = math.ceil(self.config["min_train_frac"] * self.n_train)
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
            if self.region is not None:
                # Dropped examples leave the region's proxy pool (and the
                # per-step candidates) too.
                kept = np.isin(self.region["positions"], self.pool)
                self.region = {key: value[kept] for key, value in self.region.items()}


def _craig_subset(proxies, labels, budget, n_classes, config, rng):
    """CRAIG's subset: facility location on the gradient proxies, per class,
    weighted by cluster sizes, with the engine's block path for large classes."""
    counts = np.bincount(labels, minlength=n_classes)
    quotas = allocate_budget(counts, budget, config["class_balance"], every_class=True)
    groups = _group_by_class(np.arange(len(labels)), labels, n_classes)
    solved = select_in_ground_sets(proxies, groups, quotas,
                                   metric=config["selection_metric"], random_state=rng,
                                   max_kernel_bytes=_POOL_SELECTION_KERNEL_BYTES)
    indices = np.concatenate([s[0] for s in solved]).astype(np.int64)
    weights = np.concatenate([s[1] for s in solved])
    return indices, weights


def _last_layer_gradients(proxies, activations):
    """Per-class gradient features for GradMatch, as CORDS's "PerClassPerGradient":
    for an example of class ``c``, the gradient of its loss with respect to the
    output layer's bias ``c`` and weight row ``c``, i.e. ``(p_c - 1)`` and
    ``(p_c - 1) * h`` with ``h`` the layer's input. Without ``activations``
    (no usable output layer), the whole proxy ``p - onehot(y)``: the bias
    gradients of every class, CORDS's choice without the linear layer."""
    proxies = proxies.numpy() if isinstance(proxies, torch.Tensor) else proxies
    activations = None if activations is None else activations.numpy()

    def class_gradients(rows, label):
        if activations is None:
            return proxies[rows]
        logit_gradient = proxies[rows, label][:, None]
        return np.concatenate([logit_gradient, logit_gradient * activations[rows]],
                              axis=1)
    return class_gradients


def _group_by_class(positions, labels, n_classes):
    """``positions`` split by their ``labels``: one array per class, in the
    order of ``positions`` within a class (one stable sort, not a scan per
    class)."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_classes)
    return np.split(positions[order], np.cumsum(counts)[:-1])


def _draw_per_class(rng, members, quotas):
    """For each class with a quota, ``min(quota, size)`` distinct members drawn
    uniformly, in expected time proportional to the draw: a permutation of a
    whole class only when the draw takes a large part of it."""
    parts = []
    for class_members, quota in zip(members, quotas):
        size = class_members.size
        quota = min(int(quota), size)
        if not (size and quota):
            continue
        if 4 * quota >= size:
            parts.append(class_members[rng.permutation(size)[:quota]])
        else:
            picks = sample_without_replacement(size, quota, method="tracking_selection",
                                               random_state=rng)
            parts.append(class_members[picks])
    return parts


def _mean_or_nan(values):
    """Mean of floats, or of device scalars (read here, once per epoch)."""
    if not values:
        return float("nan")
    if all(isinstance(v, torch.Tensor) for v in values):
        return float(torch.stack(values).double().mean())  # one read
    return float(np.mean([float(v) for v in values]))


def _to_host(positions):
    return positions.cpu().numpy() if isinstance(positions, torch.Tensor) else positions


def _parameters(net):
    return [p for p in net.module_.parameters() if p.requires_grad]


def _eval_losses(net, data, positions, chunk):
    """Per-example losses at ``positions``, in eval mode."""
    return _losses_of_batches(
        net, (data.batch(positions[start:start + chunk])
              for start in range(0, len(positions), chunk)))


def _losses_of_batches(net, batches):
    """Per-example losses of ``(X, y)`` batches, in eval mode."""
    was_training = net.module_.training
    net._set_training(False)
    try:
        with torch.inference_mode():
            losses = []
            for X, y in batches:
                output = _prediction(net.forward_unpadded(X))
                losses.append(net.per_example_loss(output, y.to(output.device)))
    finally:
        net._set_training(was_training)
    return torch.cat(losses)
