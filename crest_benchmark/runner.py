"""Training and timing: one fit per method and seed under the paper's
protocol, the budgets that equal-time and equal-steps rows take from earlier
runs of the same seed, and an untimed warm-up.

Timing: the wall-clock of a run is the sum of its training epochs (skorch's
``dur``, which includes CREST's selection and checks); the evaluation after
each epoch, which only draws the learning curves, is excluded.
"""

import argparse
import math
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler

from sklearn_crest import CrestClassifier
from sklearn_crest._models import MLP, SmallCNN, SmallCNN1d

from .methods import NAMES, method, selection_settings

# SGD's momentum under either schedule; the paper's protocol adds weight decay.
MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 5e-4


def paper_lr_factor(n_epochs):
    """The paper's learning-rate multiplier as a function of the epoch index:
    linear warm start over the first 10% of the epochs, then 1, then 0.1 from
    60% and 0.01 from 85% of the epochs."""
    # At epoch granularity; at least two warm-up epochs (half rate, then
    # full) where the run has them, so that short runs warm up too.
    warm = min(max(2, math.ceil(0.1 * n_epochs)), max(n_epochs, 1))
    first_decay = math.ceil(0.6 * n_epochs)
    second_decay = math.ceil(0.85 * n_epochs)

    def factor(epoch):
        if epoch < warm:
            return (epoch + 1) / warm
        if epoch >= second_decay:
            return 0.01
        if epoch >= first_decay:
            return 0.1
        return 1.0
    return factor


class TestAccuracy(Callback):
    """Test accuracy after every epoch, outside the timed training."""

    def __init__(self, X_test, y_test, log=None, label=""):
        self.X_test = X_test
        self.y_test = y_test
        self.log = log
        self.label = label

    def on_epoch_end(self, net, **kwargs):
        accuracy = float(np.mean(net.predict(self.X_test) == self.y_test))
        net.history.record("test_acc", accuracy)
        if self.log is not None:
            row = net.history[-1]
            self.log(f"{self.label} epoch {row['epoch']:3d}  test_acc {accuracy:.4f}  "
                     f"train {row['dur']:.2f}s  steps {row['n_steps']}  "
                     f"selections {row['n_selections']}")


def run_one(name, seed, data, args, log, train_frac=None):
    """Train one model; return its learning curve and totals."""
    X_train, y_train, X_test, y_test = data
    entry = method(name)
    module = ((SmallCNN1d if args.dataset == "mnist1d" else SmallCNN)
              if args.model == "cnn" else MLP)
    extra = {} if args.model == "cnn" else {"module__hidden": args.hidden}
    label = f"[{name:>6} seed {seed}]"
    callbacks = [("test_acc", TestAccuracy(X_test, y_test, log, label))]
    optimizer_params = {"optimizer__momentum": MOMENTUM}
    if args.schedule == "paper":
        optimizer_params["optimizer__weight_decay"] = PAPER_WEIGHT_DECAY
        callbacks.insert(0, ("lr_schedule", LRScheduler(
            policy=torch.optim.lr_scheduler.LambdaLR,
            lr_lambda=paper_lr_factor(args.epochs), step_every="epoch")))
    if entry.takes_train_frac:
        # Not for InfoBatch: it would warn that the setting is not used.
        extra["train_frac"] = train_frac if train_frac is not None else args.train_frac
    selection = selection_settings(name, args)
    net = CrestClassifier(
        module, max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=torch.optim.SGD, train_split=None, verbose=0, random_state=seed,
        callbacks=callbacks, device=getattr(args, "device", "cpu"),
        **optimizer_params, **extra, **selection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-data subset notice
        net.fit(X_train, y_train)
    return _record(net, name, seed, args, len(y_train), extra.get("train_frac"),
                   selection.get("selection__random_sampling", "with_replacement"))


def _record(net, name, seed, args, n_train, train_frac, random_sampling):
    """A fit's history as the benchmark's run record."""
    entry = method(name)
    history = net.history
    durations = np.array(history[:, "dur"], dtype=float)
    steps = np.array(history[:, "n_steps"], dtype=float)
    examples = steps * args.batch_size
    if entry.selection == "full":
        examples = np.full_like(steps, n_train)
    # InfoBatch's per-epoch figures (absent for the other selections).
    kept, pruned, mean_score = ([row.get(key) for row in history]
                                for key in ("n_kept", "n_pruned", "mean_score"))
    if entry.selection == "infobatch" and None not in kept:
        examples = np.array(kept, dtype=float)  # the last batch may be short
    # The learning rate each epoch trained with, as the optimizer had it.
    lrs = (history[:, "event_lr"] if args.schedule == "paper"
           else [args.lr] * len(history))
    run = {
        "method": name, "seed": seed,
        # None where train_frac does not set the steps (InfoBatch).
        "train_frac": train_frac,
        "lr": [float(v) for v in lrs],
        "test_acc": [float(a) for a in history[:, "test_acc"]],
        "wall_s": np.cumsum(durations).tolist(),
        "steps": np.cumsum(steps).astype(int).tolist(),
        "examples_seen": np.cumsum(examples).astype(int).tolist(),
        "selection_s": float(np.sum(history[:, "selection_s"])),
        "selection_forward_s": float(np.sum(history[:, "selection_forward_s"])),
        "check_s": float(np.sum(history[:, "check_s"])),
        "n_selections": int(np.sum(history[:, "n_selections"])),
        "n_checks": int(np.sum(history[:, "n_checks"])),
        "n_forward_examples": int(np.sum(history[:, "n_forward_examples"])),
        "selections_per_epoch": [int(v) for v in history[:, "n_selections"]],
        "selected_loss": [None if not np.isfinite(v) else float(v)
                          for v in history[:, "selected_loss"]],
        "subset_loss": [None if not np.isfinite(v) else float(v)
                        for v in history[:, "subset_loss"]],
        "pool_size": [int(v) for v in history[:, "pool_size"]],
    }
    if entry.selection == "random":
        run["random_sampling"] = random_sampling
    if entry.selection == "infobatch":
        run["kept_per_epoch"] = [None if v is None else int(v) for v in kept]
        run["pruned_per_epoch"] = [None if v is None else int(v) for v in pruned]
        run["mean_score"] = [None if v is None or not np.isfinite(v) else float(v)
                             for v in mean_score]
    return run


def warm_up(data, args):
    """One short, untimed fit of every way of training among the methods, so
    that no timed run pays the process's one-time set-up (first kernel
    calls, the allocator, a device's context): on digits, random's first run
    took 0.2 s against per_step's 0.0 without it."""
    X_train, y_train, X_test, y_test = data
    rows = min(len(y_train), 8 * args.batch_size)
    small = (X_train[:rows], y_train[:rows], X_test[:args.batch_size],
             y_test[:args.batch_size])
    short = argparse.Namespace(**{**vars(args), "epochs": 2})
    # One method for each way of training (selection and random sampling).
    ways = {(method(m).selection, method(m).random_sampling): m
            for m in reversed(args.methods)}
    for name in sorted(ways.values(), key=NAMES.index):
        run_one(name, 0, small, short, lambda message: None, train_frac=0.5)


def equal_time_train_frac(timed_run, random_run, train_frac):
    """The ``train_frac`` at which random batches take ``timed_run``'s
    wall-clock: random's own rate of steps per second, for the other run's
    seconds (at most 1)."""
    ratio = timed_run["wall_s"][-1] / max(random_run["wall_s"][-1], 1e-12)
    return min(1.0, train_frac * ratio)


def equal_steps_train_frac(stepped_run, n_train, batch_size, epochs):
    """The ``train_frac`` at which random batches take ``stepped_run``'s total
    steps: its steps over full training's, ``epochs * ceil(n_train /
    batch_size)``, in (0, 1]. (Random's epochs all have ``ceil(train_frac *
    n_train / batch_size)`` steps, so its total is within ``epochs`` of
    ``stepped_run``'s, whose epochs differ.)"""
    full_steps = epochs * math.ceil(n_train / batch_size)
    return min(1.0, max(stepped_run["steps"][-1], 1) / full_steps)


def run_all(data, args, log, epoch_log):
    """Every method for every seed, interleaved per seed so that the
    machine's load hits them alike; each budget-taking row after the runs it
    takes its budget from."""
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        done = {}
        for name in args.methods:
            entry = method(name)
            train_frac = None
            if entry.equal_time_of:
                train_frac = equal_time_train_frac(done[entry.equal_time_of],
                                                   done["random"], args.train_frac)
            elif entry.equal_steps_of:
                train_frac = equal_steps_train_frac(done[entry.equal_steps_of],
                                                    len(data[1]), args.batch_size,
                                                    args.epochs)
            done[name] = run = run_one(name, seed, data, args, epoch_log, train_frac)
            runs.append(run)
            log(f"[{name} seed {seed}] {args.eval_set} acc {run['test_acc'][-1]:.4f}"
                f" after {run['steps'][-1]} steps in {run['wall_s'][-1]:.1f} s")
    return runs
