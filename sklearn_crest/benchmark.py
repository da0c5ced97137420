"""What CREST buys: full-data training, a random subset and CREST, side by side.

Run ``python -m sklearn_crest.benchmark`` (or ``sklearn-crest``). It trains the
same model several ways for several seeds and writes a table, a JSON and a CSV
file and PNG plots:

- ``full``: ordinary full-data epochs;
- ``random``: uniform random batches at ``train_frac`` of full's steps;
- ``crest``: CREST at the same steps;
- ``per_step``: a fresh mini-batch coreset at every step (the paper's
  "greedy mini-batch selection" of its Figure 3), the same steps;
- ``craig`` and ``gradmatch``: the paper's coreset baselines, a weighted
  subset of ``train_frac`` of the training set chosen from all of it at the
  start of every epoch (facility location on gradient proxies; orthogonal
  matching pursuit on last-layer gradients), the same steps;
- ``rs2``: random batches without replacement across epochs (RS2, Okanovic
  et al. 2024: every example is seen once before any is seen twice, with the
  class proportions kept), the same steps; ``random`` draws a fresh
  permutation every epoch (with replacement across epochs);
- ``infobatch``: InfoBatch's dynamic pruning (Qin et al. 2024) at full-data
  epochs: each epoch leaves out a random part of the well-learned examples
  (last training loss below the mean), so its steps are what it prunes to,
  not ``train_frac``'s;
- ``random_at_crest_time``, ``random_at_per_step_time`` and
  ``random_at_infobatch_time``: random batches given as many steps as fit
  into CREST's (per_step's, InfoBatch's) wall-clock for the same seed: equal
  time rather than equal steps;
- ``random_pruning``: InfoBatch's own baseline, random batches with as many
  steps in all as InfoBatch took for the same seed;
- ``infobatch_random_plan`` and ``infobatch_random_plan_unscaled``: the
  InfoBatch paper's ablation, InfoBatch's per-epoch plan (scores, annealing,
  as many examples pruned per epoch) with the pruned examples drawn uniformly
  from the whole pool instead of from the well-learned ones, with and without
  the ``1 / (1 - prune_ratio)`` weight on the kept candidates.

Besides the main table, the command prints the paper's layout (its Table 1 and
Figure 2): each method's relative error against full-data training and its
wall-clock speedup over it, with the share of the selection time spent beyond
the selection's forward passes.

``--schedule paper`` (the default) trains every method under the paper's
protocol: SGD with momentum 0.9 and weight decay 5e-4, the learning rate warmed
up linearly over the first 10% of the epochs, then multiplied by 0.1 at 60% and
at 85% of them. ``--schedule constant`` keeps one learning rate throughout.
``--eval-set validation`` holds out part of the training set and reports on it
instead of the test set, for choosing settings without looking at test data.

Defaults use scikit-learn's embedded ``load_digits`` with a small MLP, so the
command runs in well under a minute with nothing to download. The real
benchmark is ``--dataset fashion-mnist --model cnn`` (or ``mlp``).

Timing: the wall-clock of a run is the sum of its training epochs (skorch's
``dur``, which includes CREST's selection and checks); the test-set evaluation
after each epoch, which only draws the learning curves, is excluded.
"""

import argparse
import csv
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    InvalidParameterError,
    validate_parameter_constraints,
)

from ._classifier import CrestClassifier
from ._models import MLP, SmallCNN, SmallCNN1d
from .selection import InfoBatchPruning

# In run order within a seed: a method comes after the methods it takes its
# budget from (EQUAL_TIME, EQUAL_STEPS).
METHODS = ("full", "random", "rs2", "crest", "per_step", "craig", "gradmatch",
           "infobatch", "infobatch_random_plan", "infobatch_random_plan_unscaled",
           "random_at_crest_time", "random_at_per_step_time",
           "random_at_infobatch_time", "random_pruning")
DEFAULT_METHODS = ("full", "random", "per_step", "crest")
# The CrestClassifier `selection` each method runs.
SELECTIONS = {"full": "full", "random": "random", "rs2": "random",
              "crest": "crest", "per_step": "per_step", "craig": "craig",
              "gradmatch": "gradmatch", "infobatch": "infobatch",
              "infobatch_random_plan": "infobatch",
              "infobatch_random_plan_unscaled": "infobatch",
              "random_at_crest_time": "random",
              "random_at_per_step_time": "random",
              "random_at_infobatch_time": "random", "random_pruning": "random"}
# Random batches given the wall-clock of another method of the same seed.
EQUAL_TIME = {"random_at_crest_time": "crest", "random_at_per_step_time": "per_step",
              "random_at_infobatch_time": "infobatch"}
# Random batches given the total steps of another method of the same seed.
EQUAL_STEPS = {"random_pruning": "infobatch"}
# The InfoBatch paper's ablation: InfoBatch's epoch plan, other examples
# pruned; compared with infobatch of the same seed.
SAME_PLAN = {"infobatch_random_plan": "infobatch",
             "infobatch_random_plan_unscaled": "infobatch"}


class _UniformPruningOfThePlan(InfoBatchPruning):
    """InfoBatch's epoch plan with its pruned examples drawn uniformly from
    the pool: as many candidates as InfoBatch's well-learned examples, a
    ``prune_ratio`` of them pruned, the rest weighted ``1 / (1 - r)``."""

    def _prune_candidates(self, seen, scores, mean_score):
        count = int(np.count_nonzero(seen & (scores < mean_score)))
        return np.sort(self.rng.choice(seen.size, size=count, replace=False))


class _UnscaledUniformPruningOfThePlan(_UniformPruningOfThePlan):
    """The same, with the kept candidates unweighted."""

    def _kept_weight(self, ratio):
        return 1.0


class _PlanAblation(CrestClassifier):
    """``selection="infobatch"`` with another strategy class (benchmark only:
    the ablation is a measurement, not a selection mode)."""

    strategy_class = _UniformPruningOfThePlan

    def initialize_history(self):
        super().initialize_history()
        self.schedule_ = self.strategy_class(
            self._crest_config(), self.batch_size,
            check_random_state(self._fit_seed()))
        return self


class _UnscaledPlanAblation(_PlanAblation):
    strategy_class = _UnscaledUniformPruningOfThePlan


ESTIMATORS = {"infobatch_random_plan": _PlanAblation,
              "infobatch_random_plan_unscaled": _UnscaledPlanAblation}
# CrestClassifier's `random_sampling` for each method of selection "random":
# a fresh permutation every epoch ("with_replacement" across epochs), or
# RS2's one pass over the data before any example repeats.
RANDOM_SAMPLING = {"random": "with_replacement", "rs2": "without_replacement",
                   "random_at_crest_time": "with_replacement",
                   "random_at_per_step_time": "with_replacement",
                   "random_at_infobatch_time": "with_replacement",
                   "random_pruning": "with_replacement"}


def _subset_size(text):
    """``random_subset_size``: "auto", an int (a count) or a float (a fraction)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'auto', a count or a fraction") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return int(value) if value.is_integer() and value >= 1 and "." not in text else value


# Coreset hyperparameters that the command passes through to CrestClassifier.
PASSTHROUGH = {
    "random_subset_size": _subset_size, "num_minibatch_coreset": int,
    "check_interval": int, "check_thresh_factor": float, "interval_mul": float,
    "batch_num_mul": float, "watch_interval": int, "drop_interval": int,
    "drop_thresh": float, "min_train_frac": float, "check_sample_size": int,
    "region_coresets": str, "proxy_reuse_steps": int, "class_balance": str,
    "selection_interval": int, "gradmatch_regularization": float,
    "selection_precision": str, "check_loss": str, "selection_metric": str,
    "batch_weighting": str, "prune_ratio": float, "prune_until": float,
}
# The string parameters' accepted values, for argparse's own error messages.
PASSTHROUGH_CHOICES = {
    "region_coresets": ("resample", "cycle"),
    "class_balance": ("proportional", "balanced"),
    "selection_precision": ("auto", "float32", "bfloat16"),
    "check_loss": ("training", "sample"),
    "selection_metric": ("euclidean", "cosine"),
    "batch_weighting": ("subset", "batch"),
}
DATASET_DEFAULTS = {
    # epochs, batch size, learning rate (constant schedule, paper schedule)
    "digits": (30, 32, (0.05, 0.1)),
    "fashion-mnist": (20, 128, (0.05, 0.1)),
    "mnist1d": (20, 128, (0.05, 0.1)),
}
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


def load_data(name, model, data_home=None, label_noise=0.0, seed=0,
              eval_set="test", validation_fraction=1 / 6):
    """Train/evaluation arrays (float32 in [0, 1]) for a dataset name.

    With ``eval_set="validation"`` the evaluation set is a stratified
    ``validation_fraction`` of the training set (10,000 of Fashion-MNIST's
    60,000), held out from training; the test set is not touched.
    """
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=0)
    elif name == "fashion-mnist":
        from .datasets import fetch_fashion_mnist
        X_train, y_train = fetch_fashion_mnist(data_home, subset="train",
                                               return_X_y=True)
        X_test, y_test = fetch_fashion_mnist(data_home, subset="test",
                                             return_X_y=True)
    elif name == "mnist1d":
        from .datasets import make_mnist1d
        X_train, y_train, X_test, y_test = make_mnist1d(
            data_home=data_home, return_X_y=True)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    if model == "cnn" and name == "digits":
        raise ValueError("--model cnn needs Fashion-MNIST's 28x28 images or "
                         "MNIST-1D's signals: use --dataset fashion-mnist or mnist1d")
    if eval_set == "validation":
        from sklearn.model_selection import train_test_split
        X_train, X_test, y_train, y_test = train_test_split(
            X_train, y_train, test_size=validation_fraction, stratify=y_train,
            random_state=0)
    y_train = flip_labels(y_train, label_noise, seed) if label_noise else y_train
    return X_train, y_train, X_test, y_test


def flip_labels(y, fraction, seed):
    """Give ``fraction`` of the labels (chosen with ``seed``) another class."""
    rng = np.random.RandomState(seed)
    y = np.array(y, copy=True)
    classes = np.unique(y)
    flipped = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    shift = rng.randint(1, len(classes), size=flipped.size)
    positions = np.searchsorted(classes, y[flipped])
    y[flipped] = classes[(positions + shift) % len(classes)]
    return y


def run_one(method, seed, data, args, log, train_frac=None):
    """Train one model; return its learning curve and totals."""
    X_train, y_train, X_test, y_test = data
    module = ((SmallCNN1d if args.dataset == "mnist1d" else SmallCNN)
              if args.model == "cnn" else MLP)
    extra = {} if args.model == "cnn" else {"module__hidden": args.hidden}
    params = {name: getattr(args, name) for name in PASSTHROUGH
              if getattr(args, name) is not None}
    label = f"[{method:>6} seed {seed}]"
    callbacks = [("test_acc", TestAccuracy(X_test, y_test, log, label))]
    optimizer_params = {"optimizer__momentum": MOMENTUM}
    if args.schedule == "paper":
        optimizer_params["optimizer__weight_decay"] = PAPER_WEIGHT_DECAY
        callbacks.insert(0, ("lr_schedule", LRScheduler(
            policy=torch.optim.lr_scheduler.LambdaLR,
            lr_lambda=paper_lr_factor(args.epochs), step_every="epoch")))
    if SELECTIONS[method] != "infobatch":
        # InfoBatch's steps follow its kept examples: no train_frac (it
        # would warn that the setting is not used).
        params["train_frac"] = train_frac if train_frac is not None else args.train_frac
    sampling = RANDOM_SAMPLING.get(method)
    # An estimator without the parameter draws random batches with replacement.
    if sampling is not None and (
            sampling != "with_replacement"
            or "random_sampling" in CrestClassifier._parameter_constraints):
        params["random_sampling"] = sampling
    net = ESTIMATORS.get(method, CrestClassifier)(
        module, selection=SELECTIONS[method],
        drop_learned=args.drop_learned, max_epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr,
        optimizer=torch.optim.SGD, train_split=None, verbose=0, random_state=seed,
        callbacks=callbacks, device=getattr(args, "device", "cpu"),
        **optimizer_params, **extra, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-data subset notice
        net.fit(X_train, y_train)
    history = net.history
    durations = np.array(history[:, "dur"], dtype=float)
    steps = np.array(history[:, "n_steps"], dtype=float)
    examples = steps * args.batch_size
    if method == "full":
        examples = np.full_like(steps, len(y_train))
    # InfoBatch's per-epoch figures (absent for the other selections).
    kept, pruned, mean_score = ([row.get(key) for row in history]
                                for key in ("n_kept", "n_pruned", "mean_score"))
    if SELECTIONS[method] == "infobatch" and None not in kept:
        examples = np.array(kept, dtype=float)  # the last batch may be short
    # The learning rate each epoch trained with, as the optimizer had it.
    lrs = (history[:, "event_lr"] if args.schedule == "paper"
           else [args.lr] * len(history))
    run = {
        "method": method, "seed": seed,
        # None where train_frac does not set the steps (InfoBatch).
        "train_frac": params.get("train_frac"),
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
    if SELECTIONS[method] == "random":
        run["random_sampling"] = params.get("random_sampling", "with_replacement")
    if SELECTIONS[method] == "infobatch":
        run["kept_per_epoch"] = [None if v is None else int(v) for v in kept]
        run["pruned_per_epoch"] = [None if v is None else int(v) for v in pruned]
        run["mean_score"] = [None if v is None or not np.isfinite(v) else float(v)
                             for v in mean_score]
    return run


def warm_up(data, args):
    """One short, untimed fit of every method, so that no timed run pays the
    process's one-time set-up (first kernel calls, the allocator, a device's
    context): on digits, random's first run took 0.2 s against per_step's
    0.0 without it."""
    X_train, y_train, X_test, y_test = data
    rows = min(len(y_train), 8 * args.batch_size)
    small = (X_train[:rows], y_train[:rows], X_test[:args.batch_size],
             y_test[:args.batch_size])
    short = argparse.Namespace(**{**vars(args), "epochs": 2})
    # One method for each way of training (selection and random sampling).
    ways = {(SELECTIONS[m], RANDOM_SAMPLING.get(m)): m for m in reversed(args.methods)}
    for method in sorted(ways.values(), key=METHODS.index):
        run_one(method, 0, small, short, lambda message: None, train_frac=0.5)


def time_to_reach(run, target):
    """Seconds of ``run`` until its test accuracy first reaches ``target``."""
    for accuracy, seconds in zip(run["test_acc"], run["wall_s"]):
        if accuracy >= target:
            return seconds
    return math.nan


def _paired_difference(runs, reference):
    """Mean and standard error over seeds of ``final accuracy - reference's``,
    for the seeds both have; (nan, nan) without any."""
    finals = {r["seed"]: r["test_acc"][-1] for r in reference}
    diffs = np.array([r["test_acc"][-1] - finals[r["seed"]] for r in runs
                      if r["seed"] in finals])
    if diffs.size == 0:
        return math.nan, math.nan
    error = diffs.std(ddof=1) / math.sqrt(diffs.size) if diffs.size > 1 else math.nan
    return float(diffs.mean()), float(error)


def _selects(method):
    """Whether a method chooses its examples (not full data nor random
    batches): only those have updates per step and a selection cost."""
    return SELECTIONS.get(method) not in ("full", "random")


def _paired_wall_saved(runs, reference):
    """Mean and standard error over seeds of ``1 - wall-clock / reference's``,
    for the seeds both have; (nan, nan) without any."""
    walls = {r["seed"]: r["wall_s"][-1] for r in reference}
    saved = np.array([1.0 - r["wall_s"][-1] / walls[r["seed"]] for r in runs
                      if r["seed"] in walls])
    if saved.size == 0:
        return math.nan, math.nan
    error = saved.std(ddof=1) / math.sqrt(saved.size) if saved.size > 1 else math.nan
    return float(saved.mean()), float(error)


def _selection_cost_in_steps(runs, random_runs):
    """What one selection (a new coreset, region or epoch subset) costs, in
    random training steps: the wall-clock a run spent beyond random's at the
    same steps, per selection, over random's time per step; paired by seed,
    the median over seeds. NaN without selections or a random run."""
    random_by_seed = {r["seed"]: r for r in random_runs}
    costs = []
    for run in runs:
        reference = random_by_seed.get(run["seed"])
        if reference is None or not run.get("n_selections"):
            continue
        step_s = reference["wall_s"][-1] / max(reference["steps"][-1], 1)
        # Random's time for this run's steps (equal steps unless train_frac differs).
        extra = run["wall_s"][-1] - step_s * run["steps"][-1]
        costs.append(extra / run["n_selections"] / step_s)
    return float(np.median(costs)) if costs else math.nan


def summarize(runs):
    """Per-method figures over seeds (means and standard deviations)."""
    by_method = {m: [r for r in runs if r["method"] == m] for m in METHODS}
    by_method = {m: rs for m, rs in by_method.items() if rs}
    full = {r["seed"]: r for r in by_method.get("full", [])}
    summary = {}
    for method, method_runs in by_method.items():
        final = np.array([r["test_acc"][-1] for r in method_runs])
        wall = np.array([r["wall_s"][-1] for r in method_runs])
        overhead = np.array([r["selection_s"] + r["check_s"] for r in method_runs])
        steps = np.array([r["steps"][-1] for r in method_runs], dtype=float)
        row = {
            "n_seeds": int(final.size),
            "test_acc_mean": float(final.mean()),
            # Sample standard deviation over seeds (0 for a single seed).
            "test_acc_std": float(final.std(ddof=1)) if final.size > 1 else 0.0,
            "wall_s": float(wall.mean()),
            "steps": int(np.mean(steps)),
            "examples_seen": int(np.mean([r["examples_seen"][-1]
                                          for r in method_runs])),
            "selection_s": float(np.mean([r["selection_s"] for r in method_runs])),
            # Older result files lack it: their selection is then all "beyond".
            "selection_forward_s": float(np.mean([r.get("selection_forward_s", 0.0)
                                                  for r in method_runs])),
            "check_s": float(np.mean([r["check_s"] for r in method_runs])),
            "overhead_share": float(np.mean(overhead / wall)),
            "n_selections": float(np.mean([r["n_selections"] for r in method_runs])),
            # Coreset updates (new regions; for per_step, every coreset) per step.
            "selections_per_step": float(np.mean(
                [r["n_selections"] for r in method_runs] / steps)),
        }
        row["forward_examples_per_step"] = float(np.mean(
            [r.get("n_forward_examples", 0) for r in method_runs] / steps))
        if method != "random" and "random" in by_method:
            row["vs_random_mean"], row["vs_random_se"] = _paired_difference(
                method_runs, by_method["random"])
            if _selects(method):
                row["selection_cost_steps"] = _selection_cost_in_steps(
                    method_runs, by_method["random"])
        if method in EQUAL_TIME and EQUAL_TIME[method] in by_method:
            # Paired with the method whose wall-clock it was given.
            row["vs_timed_mean"], row["vs_timed_se"] = _paired_difference(
                method_runs, by_method[EQUAL_TIME[method]])
        if method in EQUAL_STEPS and EQUAL_STEPS[method] in by_method:
            # Paired with the method whose total steps it was given.
            row["vs_steps_mean"], row["vs_steps_se"] = _paired_difference(
                method_runs, by_method[EQUAL_STEPS[method]])
        if method in SAME_PLAN and SAME_PLAN[method] in by_method:
            row["vs_plan_mean"], row["vs_plan_se"] = _paired_difference(
                method_runs, by_method[SAME_PLAN[method]])
        pruned = [r for r in method_runs if r.get("pruned_per_epoch")
                  and None not in r["pruned_per_epoch"] + r["kept_per_epoch"]]
        if pruned:
            # The share of the epochs' examples left out (InfoBatch).
            row["pruned_share"] = float(np.mean(
                [sum(r["pruned_per_epoch"])
                 / max(sum(r["pruned_per_epoch"]) + sum(r["kept_per_epoch"]), 1)
                 for r in pruned]))
        if method == "crest" and "per_step" in by_method:
            per_step = {r["seed"]: r for r in by_method["per_step"]}
            paired = [r for r in method_runs if r["seed"] in per_step]
            row["of_per_step_accuracy"] = float(np.mean(
                [r["test_acc"][-1] / per_step[r["seed"]]["test_acc"][-1]
                 for r in paired])) if paired else math.nan
            row["of_per_step_time"] = float(np.mean(
                [r["wall_s"][-1] / per_step[r["seed"]]["wall_s"][-1]
                 for r in paired])) if paired else math.nan
            row["of_per_step_forward"] = float(np.mean(
                [r.get("n_forward_examples", 0)
                 / max(per_step[r["seed"]].get("n_forward_examples", 0), 1)
                 for r in paired])) if paired else math.nan
        if full:
            paired = [r for r in method_runs if r["seed"] in full]
            full_acc = np.array([full[r["seed"]]["test_acc"][-1] for r in paired])
            acc = np.array([r["test_acc"][-1] for r in paired])
            # Relative error: the accuracy lost against full-data training, as
            # a fraction of full's accuracy.
            row["relative_error"] = float(np.mean((full_acc - acc) / full_acc))
            row["speedup_wall"] = float(np.mean(
                [full[r["seed"]]["wall_s"][-1] / r["wall_s"][-1] for r in paired]))
            # How much faster than full to reach this method's final accuracy.
            ratios = [time_to_reach(full[r["seed"]], r["test_acc"][-1])
                      / r["wall_s"][-1] for r in paired]
            row["speedup_to_accuracy"] = float(np.mean(ratios))
            if method != "full":
                # Paired per seed: accuracy minus full's, and the share of
                # full's wall-clock saved.
                row["vs_full_mean"], row["vs_full_se"] = _paired_difference(
                    method_runs, by_method["full"])
                row["wall_saved_mean"], row["wall_saved_se"] = _paired_wall_saved(
                    method_runs, by_method["full"])
        summary[method] = row
    return summary


def _plus_minus(mean, spread, digits, scale=1.0, signed=False):
    """``mean +- spread``; the mean alone when the spread is unknown (one
    seed)."""
    sign = "+" if signed else ""
    text = f"{scale * mean:{sign}.{digits}f}"
    if np.isfinite(spread):
        text += f" +- {scale * spread:.{digits}f}"
    return text


def format_table(summary):
    header = ("method", "test acc (mean +- sd)", "vs random (pt, mean +- se)",
              "rel. err", "wall s", "steps",
              "updates/step", "selection cost (steps)", "sel+check s (share)",
              "speedup", "speedup to acc")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for method, row in summary.items():
        vs_full = "relative_error" in row  # only when full ran too
        vs_random = row.get("vs_random_mean", math.nan)
        lines.append(" | ".join([
            method,
            _plus_minus(row["test_acc_mean"], row["test_acc_std"]
                        if row.get("n_seeds", 2) > 1 else math.nan, 4),
            "-" if not np.isfinite(vs_random) else
            _plus_minus(vs_random, row["vs_random_se"], 2, scale=100, signed=True),
            f"{row['relative_error']:+.2%}" if vs_full else "-",
            f"{row['wall_s']:.1f}",
            f"{row['steps']}",
            f"{row['selections_per_step']:.3f}"
            if row["n_selections"] and _selects(method) else "-",
            f"{row['selection_cost_steps']:.2f}"
            if np.isfinite(row.get("selection_cost_steps", math.nan)) else "-",
            f"{row['selection_s'] + row['check_s']:.1f} ({row['overhead_share']:.0%})",
            f"{row['speedup_wall']:.2f}x" if vs_full else "-",
            "-" if method == "full" or not vs_full else
            _format_speedup(row["speedup_to_accuracy"]),
        ]))
    table = "\n".join("| " + line + " |" for line in lines)
    notes = []
    if "of_per_step_accuracy" in summary.get("crest", {}):
        crest = summary["crest"]
        notes.append(
            f"crest keeps {crest['of_per_step_accuracy']:.1%} of per_step's accuracy "
            f"in {crest['of_per_step_time']:.2f}x its wall-clock, forwarding "
            f"{crest['of_per_step_forward']:.0%} of its examples")
    for references, key, budget in ((EQUAL_TIME, "vs_timed", "wall-clock"),
                                    (EQUAL_STEPS, "vs_steps", "steps"),
                                    (SAME_PLAN, "vs_plan", "epoch plan")):
        for method, reference in references.items():
            row = summary.get(method, {})
            if np.isfinite(row.get(key + "_mean", math.nan)):
                se = row[key + "_se"]
                notes.append(f"{method} minus {reference} at equal {budget}: "
                             f"{100 * row[key + '_mean']:+.2f} pt"
                             + (f" +- {100 * se:.2f}" if np.isfinite(se) else ""))
    return table + "".join("\n\n" + note for note in notes)


# The paper's order of methods in its Table 1, then this library's additions.
PAPER_ORDER = ("random", "craig", "gradmatch", "crest", "per_step",
               "random_at_crest_time", "random_at_per_step_time", "rs2",
               "infobatch", "random_pruning", "random_at_infobatch_time")


def format_paper_table(summary):
    """The paper's layout: relative error against full-data training (its
    Table 1) and wall-clock speedup over it (its Figure 2), per method, with
    what a selection costs beyond its forward passes (the pass over the
    examples to select from is the part no implementation can avoid)."""
    if "full" not in summary:
        return ""
    header = ("method", "relative error vs full", "speedup over full",
              "selection s (forward pass s)", "selection beyond the pass")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for method in PAPER_ORDER:
        row = summary.get(method)
        if row is None or "relative_error" not in row:
            continue
        forward = row["selection_forward_s"]
        beyond = ((row["selection_s"] - forward) / forward if forward > 0
                  else math.nan)
        lines.append(" | ".join([
            method, f"{row['relative_error']:.2%}", f"{row['speedup_wall']:.2f}x",
            f"{row['selection_s']:.1f} ({forward:.1f})"
            if row["n_selections"] and _selects(method) else "-",
            f"{beyond:+.0%}" if np.isfinite(beyond) and _selects(method) else "-",
        ]))
    return "\n".join("| " + line + " |" for line in lines)


LEGEND = """\
test acc: final accuracy, mean +- standard deviation over seeds.
vs random: final accuracy minus random's of the same seed, in points, mean +- standard error.
rel. err: accuracy lost against full training, as a fraction of full's accuracy.
wall s: training wall-clock (selection and checks included, evaluation excluded), mean over seeds.
updates/step: fresh coresets (per_step), new regions (crest) or subsets (craig, gradmatch) per optimizer step; "-" where a method chooses no examples or made no selection.
selection cost (steps): the wall-clock a method spent beyond random's at the same steps, per selection, in random steps of the same seed (median).
sel+check s (share): seconds in selection and checks, and their share of the wall-clock.
speedup: full's wall-clock over the method's; speedup to acc: full's time to first reach the method's final accuracy, over the method's time.
random_at_<method>_time: random batches given <method>'s wall-clock of the same seed."""
# Legend lines for methods that are in a report only when they ran.
METHOD_LEGEND = {
    "rs2": "rs2: random batches without replacement across epochs (RS2: every example "
           "once before any twice, class proportions kept); random draws a fresh "
           "permutation every epoch.",
    "infobatch": "infobatch: InfoBatch, full-data epochs less a random part of the "
                 "well-learned examples (loss below the mean); its steps are what it "
                 "prunes to, not train_frac's.",
    "random_pruning": "random_pruning: random batches with infobatch's total steps "
                      "of the same seed (InfoBatch's own baseline).",
    "infobatch_random_plan": "infobatch_random_plan: InfoBatch's epoch plan with its "
                             "pruned examples drawn uniformly from the pool, the kept "
                             "candidates weighted 1 / (1 - prune_ratio) (the InfoBatch "
                             "paper's ablation).",
    "infobatch_random_plan_unscaled": "infobatch_random_plan_unscaled: the same, "
                                      "unweighted.",
}


def legend(summary):
    """The columns' legend, and a line for each less usual method that ran."""
    return LEGEND + "".join("\n" + line for method, line in METHOD_LEGEND.items()
                            if method in summary)


def describe_config(config):
    """One line: what was trained, on what, how often."""
    get = config.get
    model = get("model") + (f" ({get('hidden')} hidden)" if get("model") == "mlp" else "")
    return (f"{get('dataset')}, {model}, {get('epochs')} epochs of batch "
            f"{get('batch_size')}, train_frac {get('train_frac')}, schedule "
            f"{get('schedule')} (lr {get('lr')}), {get('seeds')} seed(s) from "
            f"{get('first_seed')}, device {get('device', 'cpu')}, evaluated on the "
            f"{get('eval_set', 'test')} set")


def _difference(row, key, sign=1.0):
    """``row``'s ``key_mean +- key_se`` in points (the mean times ``sign``),
    or None where it was not measured."""
    mean, se = row.get(key + "_mean", math.nan), row.get(key + "_se", math.nan)
    if not np.isfinite(mean):
        return None
    return (f"{100 * sign * mean:+.2f} pt"
            + (f" +- {100 * se:.2f}" if np.isfinite(se) else "")
            + (" (within 2 standard errors)" if np.isfinite(se)
               and abs(mean) <= 2 * se else ""))


def verdict(summary, config=None):
    """One sentence per question: do coresets beat random batches at equal
    steps, and at equal wall-clock? What does InfoBatch cost in accuracy and
    save in time, against full data and random batches at its budget? Does
    RS2's sampling without replacement beat random batches? Then the caveats
    of a run too small to answer them: one seed, or too few epochs."""
    text = _verdict(summary)
    caveats = []
    if summary and min(row["n_seeds"] for row in summary.values()) < 2:
        caveats.append("one seed: no standard error, and differences of a few "
                       "tenths of a point are within the spread between seeds; "
                       "run --seeds 3 or more before trusting them")
    epochs = (config or {}).get("epochs")
    selective = [m for m in summary if _selects(m) and SELECTIONS[m] != "infobatch"]
    if epochs is not None and epochs <= 2 and selective:
        caveats.append(f"{epochs} epoch(s): the first is the random warm-up, so "
                       f"the coreset methods selected in {epochs - 1} epoch(s) only")
    if caveats:
        text += " Caveats: " + "; ".join(caveats) + "."
    return text


def _verdict(summary):
    lines = []
    selective = [m for m in ("per_step", "crest", "craig", "gradmatch") if m in summary]
    if "random" in summary and selective:
        steps = [f"{m} {_difference(summary[m], 'vs_random')}" for m in selective
                 if _difference(summary[m], "vs_random")]
        lines.append("at equal steps, against random batches: "
                     + ", ".join(steps) + ".")
        timed = [(m, t) for m, t in EQUAL_TIME.items()
                 if m in summary and t in selective]
        if timed:
            lines.append("At equal wall-clock, random batches minus the method: "
                         + ", ".join(f"{t} {_difference(summary[m], 'vs_timed')}"
                                     for m, t in timed
                                     if _difference(summary[m], "vs_timed"))
                         + " (positive: random wins).")
        else:
            lines.append("Equal wall-clock not measured: add random_at_per_step_time "
                         "(or random_at_crest_time) to --methods.")
    if "infobatch" in summary:
        lines.append(_infobatch_verdict(summary))
    if "rs2" in summary:
        rs2 = _difference(summary["rs2"], "vs_random")
        lines.append(
            "RS2 (random batches without replacement) minus random (with "
            f"replacement) at equal steps: {rs2}." if rs2 else
            "RS2 not compared: add random to --methods.")
    if not lines:
        return ("Verdict: nothing to compare; run random and a coreset method "
                "(--methods random,per_step), full and infobatch, or random and rs2.")
    return "Verdict: " + " ".join(lines)


def _infobatch_verdict(summary):
    """InfoBatch minus full data (accuracy, and the wall-clock saved), minus
    random batches at its steps and at its wall-clock, where they ran."""
    row = summary["infobatch"]
    parts = []
    vs_full = _difference(row, "vs_full")
    if vs_full:
        saved, se = row["wall_saved_mean"], row["wall_saved_se"]
        saved = f"{saved:.0%}" + (f" +- {se:.0%}" if np.isfinite(se) else "")
        pruned = (f", {row['pruned_share']:.0%} of the epochs' examples pruned"
                  if "pruned_share" in row else "")
        steps_saved = 1.0 - row["steps"] / max(summary["full"]["steps"], 1)
        parts.append(f"full data: {vs_full} in accuracy, with {steps_saved:.0%} of "
                     f"full's steps saved and {saved} of its wall-clock saved "
                     f"(the steps are the robust figure; wall-clock moves with "
                     f"the machine's load){pruned}")
    # Stored as the random run minus InfoBatch's: turned round here.
    for method, key, budget in (("random_pruning", "vs_steps", "steps"),
                                ("random_at_infobatch_time", "vs_timed", "wall-clock")):
        difference = _difference(summary.get(method, {}), key, sign=-1.0)
        if difference:
            parts.append(f"random batches at its {budget} ({method}): {difference}")
    if not parts:
        return ("InfoBatch not compared: add full (and random_pruning, "
                "random_at_infobatch_time) to --methods.")
    return "InfoBatch minus " + "; minus ".join(parts) + " (positive: InfoBatch wins)."


def format_report(summary, config=None):
    """What ran, the main table with its legend, the verdict, and the paper's
    layout when full training ran."""
    paper = format_paper_table(summary)
    head = describe_config(config) + "\n\n" if config else ""
    return (head + format_table(summary) + "\n\n" + legend(summary) + "\n\n"
            + verdict(summary, config)
            + ("\n\nIn the paper's layout (Table 1, Figure 2):\n\n" + paper
               if paper else ""))


def _format_speedup(value):
    return "not reached by full" if not np.isfinite(value) else f"{value:.2f}x"


def _config(args):
    """The settings a result file records: every option but --quiet."""
    return {k: v for k, v in vars(args).items() if k not in ("quiet", "epoch_log")}


def write_outputs(runs, summary, args, out):
    out.mkdir(parents=True, exist_ok=True)
    config = _config(args)
    (out / "results.json").write_text(json.dumps(
        {"config": config, "summary": summary, "runs": runs}, indent=2))
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "seed", "epoch", "test_acc", "wall_s", "steps",
                         "examples_seen", "selected_loss", "pool_size"])
        for run in runs:
            for epoch, values in enumerate(zip(
                    run["test_acc"], run["wall_s"], run["steps"],
                    run["examples_seen"], run["selected_loss"], run["pool_size"]), 1):
                writer.writerow([run["method"], run["seed"], epoch, *values])
    (out / "summary.md").write_text(format_report(summary, config) + "\n")
    return plot(runs, out, f"{getattr(args, 'eval_set', 'test')} accuracy")


PLOT_COLORS = {"full": "tab:gray", "random": "tab:blue", "crest": "tab:red",
               "per_step": "tab:orange", "random_at_crest_time": "tab:cyan",
               "random_at_per_step_time": "tab:olive", "craig": "tab:green",
               "gradmatch": "tab:purple", "infobatch": "tab:brown",
               "rs2": "tab:pink", "random_at_infobatch_time": "darkgoldenrod",
               "random_pruning": "slateblue", "infobatch_random_plan": "sienna",
               "infobatch_random_plan_unscaled": "rosybrown"}
# Legend labels where the method's name alone says too little.
PLOT_LABELS = {"rs2": "rs2 (random, without replacement)",
               "random_pruning": "random_pruning (infobatch's steps)",
               "infobatch_random_plan": "infobatch's plan, uniform pruning",
               "infobatch_random_plan_unscaled": "the same, unweighted"}


def plot(runs, out, accuracy_label="test accuracy"):
    """Accuracy against time and steps, and the selected examples' loss."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed: no plots (pip install "
                      "'sklearn-crest[plots]').", UserWarning, stacklevel=2)
        return []
    colors = PLOT_COLORS
    written = []
    for x_key, x_label, name in (("wall_s", "training wall-clock (s)",
                                  "accuracy_vs_time.png"),
                                 ("steps", "optimizer steps", "accuracy_vs_steps.png")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for method in METHODS:
            method_runs = [r for r in runs if r["method"] == method]
            for i, run in enumerate(method_runs):
                ax.plot(run[x_key], run["test_acc"], color=colors[method],
                        alpha=0.8, marker=".",
                        label=PLOT_LABELS.get(method, method) if i == 0 else None)
        ax.set_xlabel(x_label)
        ax.set_ylabel(accuracy_label)
        # Log scale: the budgets differ tenfold, and early learning matters.
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(out / name)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, run in enumerate(r for r in runs if r["method"] == "crest"):
        for key, style, name in (("selected_loss", "-", "selected examples"),
                                 ("subset_loss", "--", "their random subsets")):
            values = run.get(key, [])
            epochs = [e for e, v in enumerate(values, 1) if v is not None]
            ax.plot(epochs, [v for v in values if v is not None], style,
                    color=colors["crest"], marker=".",
                    label=name if i == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss at selection time")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "selected_loss.png", dpi=120)
    plt.close(fig)
    written.append(out / "selected_loss.png")
    return written


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in the help, except where the help text already
    says what the default is (a default that depends on other options)."""

    def _get_help_string(self, action):
        if (action.default is None or "default:" in (action.help or "")
                or isinstance(action.default, bool)):
            # A flag's default is its absence: "(default: True)" after
            # --no-warm-up read as the opposite of what it does.
            return action.help
        return super()._get_help_string(action)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_crest.benchmark",
        formatter_class=_HelpFormatter,
        description="Train the same model with full data, random batches and "
                    "coresets (per-step, CREST, and on request CRAIG and "
                    "GradMatch) at the same step budget, and random batches at "
                    "the coreset methods' wall-clock; on request, InfoBatch's "
                    "dynamic pruning (with random batches at its steps and "
                    "wall-clock) and RS2's random batches without replacement; "
                    "report accuracy, wall-clock, the cost of selection and a "
                    "verdict.")
    parser.add_argument("--dataset", choices=sorted(DATASET_DEFAULTS),
                        default="digits",
                        help="digits: scikit-learn's embedded set (1,797 images, "
                             "about a minute); fashion-mnist: 60,000 images, "
                             "read from --data-home; mnist1d: 60,000 1-D "
                             "signals generated by the mnist1d package "
                             "(pip install -e '.[mnist1d]'; about 40 s the "
                             "first time, then cached under --data-home)")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                        help="the network: a one-hidden-layer MLP or a small CNN "
                             "(2-D for fashion-mnist, 1-D for mnist1d)")
    parser.add_argument("--train-frac", type=float, default=0.1,
                        help="fraction of full training's steps, in (0, 1]")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 30 for digits, 20 for fashion-mnist and "
                             "mnist1d")
    parser.add_argument("--seeds", type=int, default=3,
                        help="number of seeds; every method runs once per seed")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first seed (seeds are consecutive)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 32 for digits, 128 for fashion-mnist")
    parser.add_argument("--schedule", choices=("paper", "constant"), default="paper",
                        help="paper: momentum 0.9, weight decay 5e-4, linear warm "
                             "start over 10%% of the epochs, x0.1 at 60%% and 85%%; "
                             "constant: momentum 0.9, one learning rate")
    parser.add_argument("--lr", type=float, default=None,
                        help="default: 0.1 with --schedule paper, 0.05 with constant")
    parser.add_argument("--hidden", type=int, default=256,
                        help="hidden units of the MLP")
    parser.add_argument("--label-noise", type=float, default=0.0,
                        help="fraction of training labels flipped (seed 0)")
    parser.add_argument("--drop-learned", action="store_true",
                        help="drop learned examples from the pool (drop_learned=True)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated, of " + ", ".join(METHODS)
                        + "; random_at_<method>_time needs <method> and random, "
                          "random_pruning needs infobatch")
    parser.add_argument("--eval-set", choices=("test", "validation"), default="test",
                        help="validation: hold out a stratified sixth of the "
                             "training set and report on it")
    parser.add_argument("--device", default="cpu",
                        help="torch device of every run (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="skip the untimed warm-up fit of each method (the "
                             "first fit in a process pays one-time set-up: "
                             "kernels, allocator, thread pool)")
    parser.add_argument("--data-home", default=None,
                        help="folder with Fashion-MNIST's four *-ubyte.gz files "
                             "(default: $SKLEARN_CREST_DATA, ~/sklearn_crest_data "
                             "or the Debian package's folder)")
    parser.add_argument("--out", default="crest-benchmark",
                        help="folder for results.json, results.csv, summary.md "
                             "and the plots")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the report, no progress lines")
    parser.add_argument("--epoch-log", action="store_true",
                        help="print every run's per-epoch progress on the console "
                             "too (it is always written to progress.log in --out)")
    parser.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                        help="train nothing: merge the runs of earlier --out "
                             "folders (the same dataset, model, epochs, budget and "
                             "schedule; say, full training run beside the others "
                             "on another core) into one table, files and plots")
    for name, kind in PASSTHROUGH.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind,
                            default=None, choices=PASSTHROUGH_CHOICES.get(name),
                            help=f"CrestClassifier's {name} (default: the "
                                 "library's)")
    args = parser.parse_args(argv)
    passed = {name: getattr(args, name) for name in PASSTHROUGH
              if getattr(args, name) is not None}
    try:
        validate_parameter_constraints(
            {name: CrestClassifier._parameter_constraints[name] for name in passed},
            passed, caller_name="CrestClassifier")
    except InvalidParameterError as exc:
        parser.error(str(exc))
    epochs, batch_size, (constant_lr, paper_lr) = DATASET_DEFAULTS[args.dataset]
    args.epochs = args.epochs or epochs
    args.batch_size = args.batch_size or batch_size
    args.lr = args.lr or (paper_lr if args.schedule == "paper" else constant_lr)
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        parser.error(f"--methods takes a comma-separated subset of {METHODS}")
    for method, timed in EQUAL_TIME.items():
        if method in methods and not {timed, "random"} <= set(methods):
            parser.error(f"{method} needs {timed} and random in --methods "
                         f"(it takes {timed}'s wall-clock and random's step rate)")
    for method, stepped in EQUAL_STEPS.items():
        if method in methods and stepped not in methods:
            parser.error(f"{method} needs {stepped} in --methods "
                         f"(it takes {stepped}'s total steps)")
    if not 0.0 < args.train_frac <= 1.0:
        parser.error("--train-frac must be in (0, 1]")
    if not 0.0 <= args.label_noise < 1.0:
        parser.error("--label-noise must be in [0, 1)")
    for name in ("epochs", "seeds", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    # Run order within a seed: an equal-time or equal-steps row needs the
    # runs it takes its budget from first.
    args.methods = sorted(methods, key=METHODS.index)
    return args


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


# Settings that must agree for runs of several folders to be compared.
_MERGE_KEYS = ("dataset", "model", "train_frac", "epochs", "batch_size", "schedule",
               "lr", "hidden", "label_noise", "drop_learned", "eval_set")


def merge_results(folders):
    """The runs and configuration of several benchmark folders, checked to be
    comparable; raises ValueError naming the first setting that differs."""
    runs, config = [], None
    for folder in folders:
        results = json.loads((Path(folder) / "results.json").read_text())
        if config is None:
            config = results["config"]
        for key in _MERGE_KEYS:
            if results["config"].get(key) != config.get(key):
                raise ValueError(
                    f"cannot merge {folder}: its {key} is "
                    f"{results['config'].get(key)!r}, not {config.get(key)!r}")
        seen = {(r["method"], r["seed"]) for r in runs}
        for run in results["runs"]:
            if (run["method"], run["seed"]) in seen:
                raise ValueError(f"cannot merge {folder}: {run['method']} seed "
                                 f"{run['seed']} is already in an earlier folder")
            runs.append(run)
    order = {m: i for i, m in enumerate(METHODS)}
    runs.sort(key=lambda r: (r["seed"], order[r["method"]]))
    return runs, config


def main(argv=None):
    args = parse_args(argv)
    if args.merge:
        try:
            runs, config = merge_results(args.merge)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        seeds = sorted({run["seed"] for run in runs})
        args = argparse.Namespace(**{**config, "merged_from": args.merge,
                                     "out": args.out, "seeds": len(seeds),
                                     "first_seed": seeds[0] if seeds else 0})
        summary = summarize(runs)
        out = Path(args.out)
        plots = write_outputs(runs, summary, args, out)
        print(format_report(summary, _config(args)))
        print(f"\nmerged {len(runs)} runs into {out / 'results.json'}, "
              f"{out / 'results.csv'}, {out / 'summary.md'}"
              + "".join(f", {p}" for p in plots))
        return 0

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    # One line per run on the console, so that the report is on the first
    # screen; every epoch of every run in progress.log.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = open(out / "progress.log", "w")

    def epoch_log(message):
        progress.write(message + "\n")
        progress.flush()
        if args.epoch_log and not args.quiet:
            print(message, file=sys.stderr, flush=True)

    try:
        data = load_data(args.dataset, args.model, args.data_home, args.label_noise,
                         eval_set=args.eval_set)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log(f"{args.dataset}: {len(data[1])} training and {len(data[3])} {args.eval_set} "
        f"examples; model {args.model}, train_frac {args.train_frac}, "
        f"{args.epochs} epochs, schedule {args.schedule}, {args.seeds} seeds")
    if args.warm_up:
        warm_up(data, args)
    runs = []
    start = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        # Methods interleaved per seed, so that machine load hits them alike.
        done = {}
        for method in args.methods:
            train_frac = None
            if method in EQUAL_TIME:
                train_frac = equal_time_train_frac(done[EQUAL_TIME[method]],
                                                   done["random"], args.train_frac)
            elif method in EQUAL_STEPS:
                train_frac = equal_steps_train_frac(done[EQUAL_STEPS[method]],
                                                    len(data[1]), args.batch_size,
                                                    args.epochs)
            done[method] = run = run_one(method, seed, data, args, epoch_log,
                                         train_frac)
            runs.append(run)
            log(f"[{method} seed {seed}] {args.eval_set} acc {run['test_acc'][-1]:.4f}"
                f" after {run['steps'][-1]} steps in {run['wall_s'][-1]:.1f} s")
    progress.close()
    summary = summarize(runs)
    plots = write_outputs(runs, summary, args, out)
    print(format_report(summary, _config(args)))
    print(f"\nwrote {out / 'results.json'}, {out / 'results.csv'}, "
          f"{out / 'summary.md'}" + "".join(f", {p}" for p in plots)
          + f", {out / 'progress.log'} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
