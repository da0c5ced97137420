"""The training iterator: what skorch's fit loop iterates once per epoch.

skorch's ``fit_loop`` asks ``get_iterator`` for one training iterator and
iterates it once per epoch; :class:`EpochIterator` serves there the batches
that the selection strategy chooses (``selection/``). Each batch stays the
``(X, y)`` pair that skorch, its callbacks and the user's module expect; its
:class:`~sklearn_crest.selection.Step` (coreset weights, and the receivers
of the step's losses and gradient) travels beside it in a
:class:`StepRegistry`, keyed by the batch's input object, until ``get_loss``
applies the weights and reports the losses.

Why a side table and not weights inside the batch: skorch passes a dict ``X``
to the module's ``forward`` as keyword arguments, so a weight key in ``X``
would reach every user module (which would have to accept and ignore it);
a weight column in ``y`` would reach the criterion, the scoring callbacks
and every ``get_loss`` override. Keyed by the input object, the weights are
invisible to everything but ``get_loss`` and ``coreset_weights(X)``, and a
wrapper that copies the batch is detected (the weights go missing, and the
epoch warns) rather than silently mis-weighted.
"""

import collections
import numbers
import warnings

import torch
from skorch.callbacks import PrintLog, ProgressBar
from skorch.dataset import get_len
from skorch.utils import to_tensor
from torch.utils.data import DataLoader

from . import _user_warnings as user_warnings
from ._data import IndexedData, SlicingIterator, _in_memory_tensors, data_device
from ._net_view import NetModel
from ._processes import training_processes
from ._selection_params import STRATEGY_OWNED_LOADER_PARAMS, selection_strategy
from .selection import HISTORY_KEYS


def _warn_about_the_step_size(net, n_train, world_size):
    """Warn, once per training call, where a step is larger than what it
    stands for: a batch larger than the training set (each example repeats
    within a step), or a budget far below one batch per epoch (an epoch
    still takes a whole step)."""
    batch_size, share = net.batch_size, n_train / max(world_size, 1)
    if batch_size > share:
        user_warnings.warn(
            f"batch_size={batch_size} is larger than the {int(share):,} training "
            f"examples{' of each process' if world_size > 1 else ''}: every step "
            f"trains {batch_size:,} rows drawn from {int(share):,}, each about "
            f"{batch_size / max(share, 1):.1f} times, so a step is more than the "
            "data and train_frac no longer measures it. Use a batch_size of at "
            f"most {int(share):,} (skorch's own loader would cap a batch at the data).")
        return
    if not net.strategy_.uses_train_frac:
        return
    wanted = float(net.train_frac) * share
    if wanted < batch_size / 2:
        user_warnings.warn(
            f"train_frac={net.train_frac!r} asks for {wanted:.1f} of the "
            f"{int(share):,} training examples per epoch, but an epoch takes at "
            f"least one step of batch_size={batch_size}: "
            f"{batch_size / max(wanted, 1e-12):.0f} times the budget. Raise "
            "train_frac, or lower batch_size, for the budget to mean what it says.")


def warn_about_per_batch_schedules(net):
    """A per-batch ``LRScheduler`` whose scheduler has a length
    (``total_steps``, ``T_max``) that the fit's steps did not match: under
    a step budget the usual ``max_epochs * ceil(n / batch_size)`` is far
    more than the fit takes, and one-cycle never leaves its warm-up."""
    for name, callback in getattr(net, "callbacks_", []):
        scheduler = getattr(callback, "lr_scheduler_", None)
        if getattr(callback, "step_every", None) != "batch" or scheduler is None:
            continue
        total = getattr(scheduler, "total_steps", None) or getattr(
            scheduler, "T_max", None)
        done = getattr(scheduler, "last_epoch", None)
        if not isinstance(total, numbers.Integral) or done is None:
            continue
        if done < total - 1 or done > total:
            strategy = getattr(net, "strategy_", None)
            n_train = strategy.pool.n_train if strategy is not None else None
            world = getattr(getattr(strategy, "processes", None), "world_size", 1)
            sizing = (f" (steps_per_epoch({n_train}) = "
                      f"{net.steps_per_epoch(n_train, n_processes=world)} here)"
                      if n_train else "")
            user_warnings.warn(
                f"The per-batch learning-rate schedule {name!r} "
                f"({type(scheduler).__name__}) was sized for {total} steps, but "
                f"it was stepped {done} times: selection={net.selection!r} "
                "takes its own number of steps per epoch. Size it with "
                f"max_epochs * net.steps_per_epoch(n_train){sizing}, or "
                "schedule per epoch (step_every='epoch').")


class EpochIterator:
    """What skorch's fit loop iterates once per epoch: the strategy's steps.

    In-memory data is sliced from its tensors. A user ``Dataset`` goes
    through ``iterator_train`` (torch's ``DataLoader`` by default, with the
    ``iterator_train__*`` settings: workers, pinned memory, collation) in
    every epoch whose examples are known when it starts: the first epoch,
    ``"random"``, ``"full"``, ``"craig"`` and ``"gradmatch"``. ``"per_step"``
    and ``"crest"`` choose each step's examples with the model of that step,
    so a loader could not prefetch them: their batches, like the selection's
    own passes, are read by ``iterator_train__num_workers`` threads of this
    process (in the calling thread without workers), with the same
    collation.
    """

    def __init__(self, net, dataset):
        self.net = net
        device = net._training_device()
        # Under skorch's AccelerateMixin (device=None) nothing else moves
        # the served batches to the accelerator's device.
        self.move_to = (device if net.device is None and device is not None
                        and torch.device(device).type != "cpu" else None)
        loader_params = {name: value for name, value
                         in net.get_params_for("iterator_train").items()
                         if name not in STRATEGY_OWNED_LOADER_PARAMS}
        self.data = IndexedData(dataset, net.encode_labels,
                                getattr(net, "_known_labels", None),
                                collate_fn=loader_params.get("collate_fn"),
                                num_workers=loader_params.get("num_workers", 0),
                                device=data_device(net.data_on_device, device,
                                                   dataset))
        self.loader_params = loader_params
        # skorch's fit loop asks for this iterator once per fit or
        # partial_fit call, before its epochs: the processes that train
        # together (one, unless a data-parallel accelerator says more) are
        # those of this call.
        net.strategy_.processes = training_processes(net)
        net.strategy_.begin_training_call(
            getattr(net, "_epochs_this_call", None) or net.max_epochs)
        _warn_about_the_step_size(net, len(self.data),
                                  net.strategy_.processes.world_size)
        if self.data.X is not None and (loader_params
                                        or net.iterator_train is not DataLoader):
            warnings.warn(
                "iterator_train and its settings do not apply to in-memory "
                "arrays and tensors: their training batches are sliced from "
                "the tensors directly, which is faster than any loader. Pass a "
                "torch Dataset to train through iterator_train.",
                UserWarning, stacklevel=3)

    def __len__(self):
        self.net.strategy_.bind(self.data)
        return self.net.strategy_.steps_per_epoch()

    def _planned_batches(self, batches):
        """The epoch's batches through ``iterator_train``, for a Dataset in an
        epoch whose examples are known up front; None otherwise."""
        if self.data.X is not None or not self.net.strategy_.epoch_is_planned():
            return None
        plan = list(batches)  # runs the epoch's selection, if any, now
        loader = self.net.iterator_train(
            self.data.dataset, batch_sampler=[step.positions.tolist() for step in plan],
            **self.loader_params)
        return ((step, X_y) for step, X_y in zip(plan, loader))

    def __iter__(self):
        registry = StepRegistry()
        self.net._step_registry = registry
        steps = self.net.strategy_.epoch_steps(NetModel(self.net), self.data)
        served = self._planned_batches(steps)
        if served is None:
            served = ((step, self.data.batch(step.positions)) for step in steps)
        for step, (X, y) in served:
            if self.move_to is not None:
                X, y = to_tensor(X, self.move_to), to_tensor(y, self.move_to)
            registry.add(X, step)
            yield X, y
        missed, unreported = registry.close()
        if missed:
            warnings.warn(
                f"{missed} coreset batches of this epoch were trained without "
                "their weights: get_loss did not receive the batch's input as "
                "the training iterator served it (a wrapper copied or moved the "
                "batch before get_loss). Pass the served X to get_loss, or read "
                "the weights with coreset_weights(X) before changing the batch.",
                UserWarning, stacklevel=2)
        if unreported:
            user_warnings.warn(
                f"{unreported} training steps of this epoch never reported their "
                "per-example losses, which the selection strategy reads "
                f"({type(self.net.strategy_).__name__}: CREST's checks and loss "
                "model, InfoBatch's scores): a get_loss override that does not "
                "call super().get_loss(y_pred, y_true, X=X, training=training). "
                "Call it (it also applies the coreset weights), or customise "
                "per_example_loss instead.")


class StepBudgetProgressBar(ProgressBar):
    """skorch's ProgressBar, with the training total of CREST's step budget;
    in a data-parallel fit, shown by the main process only."""

    def _shown(self, net):
        accelerator = getattr(net, "accelerator", None)
        return getattr(accelerator, "is_main_process", True)

    def on_epoch_begin(self, net, **kwargs):
        if self._shown(net):
            super().on_epoch_begin(net, **kwargs)

    def on_batch_end(self, net, **kwargs):
        if self._shown(net):
            super().on_batch_end(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        if self._shown(net):
            super().on_epoch_end(net, **kwargs)

    def _get_batches_per_epoch_phase(self, net, dataset, training):
        # The instance is the user's (skorch does not copy callbacks), so it
        # may later serve a plain skorch net: only a strategy changes the total.
        strategy = getattr(net, "strategy_", None)
        if training and dataset is not None and strategy is not None:
            return strategy.steps_for(get_len(dataset))
        return super()._get_batches_per_epoch_phase(net, dataset, training)


class StepRegistry:
    """The :class:`~sklearn_crest.selection.Step` of each of the latest
    training batches, keyed by the batch's input object: the weights and the
    receivers travel with the batch, while skorch's batches stay ``(X, y)``
    pairs that every skorch callback and mixin understands.

    Only the latest ``capacity`` batches are kept, so memory stays bounded
    (a batch is held until it leaves the window) however long the epoch.
    """

    def __init__(self, capacity=16):
        self.capacity = capacity
        self.entries = collections.OrderedDict()
        self.current = None
        self.missed = 0
        self.unreported = 0

    def __getstate__(self):
        # The entries hold training batches: a pickle must not.
        return {"capacity": self.capacity, "entries": collections.OrderedDict(),
                "current": None, "missed": 0, "unreported": 0}

    def add(self, X, step):
        """``step`` is the coming training step's, on the batch input ``X``."""
        self.current = step
        if step.weights is None and not step.wants_losses:
            return
        # [input, step, looked up]; the input is held so that its id cannot
        # be reused by another object while the entry exists.
        self.entries[id(X)] = [X, step, False]
        while len(self.entries) > self.capacity:
            self._forget(*self.entries.popitem(last=False)[1])

    def lookup(self, X):
        """The step served with the batch input ``X``, or None."""
        entry = self.entries.get(id(X))
        if entry is None or entry[0] is not X:
            return None
        entry[2] = True
        return entry[1]

    def report_to_current(self, losses):
        """Report ``losses`` to the step in training (its batch was copied)."""
        if self.current is not None:
            self.current.report_losses(losses)

    def report_gradient(self, model):
        """Hand the gradient of the step in training to its strategy."""
        if self.current is not None:
            self.current.report_gradient(model)

    def _forget(self, X, step, looked_up):
        self.missed += step.weights is not None and not looked_up
        self.unreported += not step.reported

    def close(self):
        """Forget every batch; return how many were trained without their
        weights, and how many never reported their losses."""
        for entry in self.entries.values():
            self._forget(*entry)
        counts = self.missed, self.unreported
        self.entries.clear()
        self.current, self.missed, self.unreported = None, 0, 0
        return counts


def adapt_callbacks(net):
    """skorch's callbacks, told about the selection: a ProgressBar counts
    the step budget's steps, and the epoch table shows the figures the
    strategy fills."""
    for _, callback in net.callbacks_:
        if type(callback) is ProgressBar and callback.batches_per_epoch == "auto":
            # skorch's 'auto' total is len(data) / batch_size; an epoch of
            # the step budget has train_frac of that.
            callback.__class__ = StepBudgetProgressBar
        if isinstance(callback, PrintLog) and callback.keys_ignored is None:
            # The others stay in history (16 columns and 230 characters wide
            # when all were printed, most of them always 0).
            try:
                strategy = selection_strategy(net)
            except (ValueError, TypeError):
                strategy = None  # fit says why
            shown = set(getattr(strategy, "printed_history", ()))
            if getattr(strategy, "drop_learned", False):
                shown.add("pool_size")
            callback.keys_ignored_ |= set(HISTORY_KEYS) - shown


def evaluation_iterator(net, dataset):
    """Batches of in-memory evaluation data sliced from the tensors (no
    loader); None where skorch's own iterator applies."""
    tensors = _in_memory_tensors(dataset)
    if (tensors is None or net.iterator_valid is not DataLoader
            or not set(net.get_params_for("iterator_valid")) <= {"batch_size"}):
        return None
    X, y, rows = tensors
    if net._shards_evaluation and training_processes(net).distributed:
        # A DataLoader, which Accelerate shards over the processes; skorch's
        # AccelerateMixin gathers the shards' outputs again (it would gather a
        # copy per process of sliced batches).
        rows = torch.as_tensor(rows)
        labels = (torch.zeros(len(rows), dtype=torch.int64) if y is None
                  else net.encode_labels(y)[rows])
        return DataLoader(torch.utils.data.TensorDataset(X[rows], labels),
                          batch_size=net._eval_batch_size())
    return SlicingIterator(X, net.encode_labels(y), rows, net._eval_batch_size())
