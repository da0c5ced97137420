"""What CREST adds to training: per-step cost and selection/check overhead.

Three measurements, each side by side in one run (the machine is shared and
noisy, so only ratios measured together mean anything):

1. Step cost: ``CrestClassifier.train_step`` on a weighted coreset batch
   against skorch's plain ``NeuralNetClassifier.train_step`` on the same
   module architecture and batch, interleaved, median over repeats.
   Target: at most 1.05x.
2. Overhead share: a CREST fit on Fashion-MNIST at ``train_frac=0.1``; the
   share of the fit's wall time spent in selection and checks (from
   ``history``). Target: at most 20% for the small CNN.
3. What the check measures: at every check of run 2, the loss on the check
   sample (what the library uses) and the loss on all random subsets (what the
   authors' check uses) are compared with the quadratic model's prediction; the
   report gives how often the two would decide differently, and how the model's
   error grows with the steps since the last selection.

Run: ``python benchmarks/bench_step_overhead.py`` (``--quick`` for a smoke run).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNetClassifier

from sklearn_crest import CrestClassifier
from sklearn_crest._models import MLP, SmallCNN
from sklearn_crest._training_iterator import StepRegistry
from sklearn_crest.selection import Step
from sklearn_crest.selection import CrestRegions
from sklearn_crest.selection._selection_pass import prediction
from sklearn_crest.datasets import fetch_fashion_mnist

MODELS = {"mlp": (MLP, {"module__n_features": 784}), "cnn": (SmallCNN, {})}
COMMON = dict(criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.SGD,
              lr=0.05, optimizer__momentum=0.9, batch_size=128, train_split=None,
              verbose=0)


def step_cost(model, X, y, repeats):
    """Median seconds of one train_step: plain skorch vs CrestClassifier."""
    module, module_kwargs = MODELS[model]
    torch.manual_seed(0)
    plain = NeuralNetClassifier(module, module__n_classes=10, **module_kwargs,
                                **COMMON).initialize()
    crest = CrestClassifier(module, selection="crest", max_epochs=0, random_state=0,
                            **COMMON)
    crest.fit(X[:256], y[:256])  # initializes module, classes and schedule
    crest.module_.load_state_dict(plain.module_.state_dict())
    rng = np.random.RandomState(0)
    rows = rng.choice(len(X), 128, replace=False)
    batch = (torch.from_numpy(X[rows]), torch.from_numpy(y[rows]))
    weights = torch.as_tensor(rng.gamma(2.0, 0.5, 128), dtype=torch.float32)
    weights *= 128 / weights.sum()
    # A coreset batch's weights are registered under its input, as the
    # training iterator does; get_loss finds them there.
    registry = StepRegistry()
    registry.add(batch[0], Step(np.arange(128), weights))
    crest._step_registry = registry
    weighted_batch = batch
    times = {"plain": [], "crest": []}
    for _ in range(5):  # warm-up: allocator, thread pool
        plain.train_step(batch)
        crest.train_step(weighted_batch)
    for _ in range(repeats):
        start = time.perf_counter()
        plain.train_step(batch)
        times["plain"].append(time.perf_counter() - start)
        start = time.perf_counter()
        crest.train_step(weighted_batch)
        times["crest"].append(time.perf_counter() - start)
    plain_s, crest_s = np.median(times["plain"]), np.median(times["crest"])
    return {"model": model, "plain_step_ms": 1e3 * plain_s,
            "crest_step_ms": 1e3 * crest_s, "ratio": crest_s / plain_s}


def _eval_losses(model, data, positions, chunk):
    """Per-example losses at ``positions``, in eval mode."""
    losses = []
    with model.eval_mode(), torch.inference_mode():
        for start in range(0, len(positions), chunk):
            X, y = data.batch(positions[start:start + chunk])
            output = prediction(model.forward(X))
            losses.append(model.per_example_loss(output, y.to(output.device)))
    return torch.cat(losses)


def overhead_run(model, X, y, epochs, train_frac, check_thresh_factor,
                 check_sample_size, with_reference):
    """A CREST fit; wall time, selection/check seconds and the check log.

    With ``with_reference``, every check also measures the loss on all random
    subsets (the authors' check), outside the timed overhead; that forward pass
    is as large as a selection's, so it is practical for the MLP only.
    """
    module, module_kwargs = MODELS[model]
    full_check = []
    original_check = CrestRegions._sample_check_passes
    original_bind = CrestRegions.bind

    def bind_and_remember(schedule, data):
        schedule.benchmark_data = data
        return original_bind(schedule, data)

    def check_with_reference(schedule, model):
        # Also measure what the authors' check measures: the loss on every
        # example of the region's random subsets. Outside the timed region of
        # the library's own check, and excluded from the overhead below.
        start = time.perf_counter()
        region = schedule.region
        reference = float(_eval_losses(model, schedule.benchmark_data,
                                       region["positions"], 256).mean())
        # The authors' check anchors the model at the loss of all subsets
        # (as evaluated when each subset was drawn).
        anchor_shift = (float(region["losses"].mean())
                        - schedule.quadratic_model.loss_at_selection)
        full_check.append((reference, anchor_shift))
        spent = time.perf_counter() - start
        passed = original_check(schedule, model)
        schedule.reference_seconds = getattr(schedule, "reference_seconds", 0) + spent
        return passed

    if with_reference:
        CrestRegions._sample_check_passes = check_with_reference
        CrestRegions.bind = bind_and_remember
    try:
        # The sample check: what this benchmark compares with the authors'.
        clf = CrestClassifier(module, selection="crest", selection__check_loss="sample",
                              max_epochs=epochs, train_frac=train_frac,
                              selection__check_thresh_factor=check_thresh_factor,
                              selection__check_sample_size=check_sample_size,
                              random_state=0, **COMMON)
        start = time.perf_counter()
        clf.fit(X, y)
        wall = time.perf_counter() - start
    finally:
        CrestRegions._sample_check_passes = original_check
        CrestRegions.bind = original_bind
    history = clf.history
    reference_s = getattr(clf.strategy_, "reference_seconds", 0.0)
    wall -= reference_s  # the reference measurement is not part of CREST
    selection_s = float(sum(history[:, "selection_s"]))
    check_s = float(sum(history[:, "check_s"]))
    log = np.array(clf.strategy_.check_log, dtype=float)
    row = {
        "model": model, "epochs": epochs, "train_frac": train_frac,
        "check_sample_size": check_sample_size,
        "check_thresh_factor": check_thresh_factor, "fit_s": wall,
        "steps": int(sum(history[:, "n_steps"])),
        "selections": int(sum(history[:, "n_selections"])),
        "checks": int(sum(history[:, "n_checks"])),
        "selection_s": selection_s, "check_s": check_s,
        "overhead_share": (selection_s + check_s) / wall,
    }
    if not with_reference or len(log) == 0:
        return row
    reference, anchor_shift = np.array(full_check).T
    tau = check_thresh_factor
    sample_error = np.abs(log[:, 2] - log[:, 3]) / np.abs(log[:, 2])
    # Same quadratic increment, anchored at the loss of all random subsets.
    full_error = np.abs(reference - (log[:, 3] + anchor_shift)) / np.abs(reference)
    fired_sample = sample_error > tau
    fired_full = full_error > tau
    by_age = {}
    for age in (1, 2, 4, 8, 16, 32):
        mask = (log[:, 1] >= age) & (log[:, 1] < 2 * age)
        if mask.any():
            by_age[f"{age}-{2 * age - 1}"] = {
                "checks": int(mask.sum()),
                "median_error_sample": float(np.median(sample_error[mask])),
                "median_error_all_subsets": float(np.median(full_error[mask]))}
    row.update({
        "checks_firing_sample": int(fired_sample.sum()),
        "checks_firing_all_subsets": int(fired_full.sum()),
        "decision_agreement": float(np.mean(fired_sample == fired_full)),
        "error_correlation": float(np.corrcoef(sample_error, full_error)[0, 1])
        if len(log) > 2 else float("nan"),
        "error_by_steps_since_selection": by_age,
    })
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--check-thresh-factor", type=float, default=0.1)
    parser.add_argument("--check-sample-sizes", default="128",
                        help="comma-separated check_sample_size values to run")
    parser.add_argument("--thresholds", default=None,
                        help="comma-separated check_thresh_factor values (default: "
                             "--check-thresh-factor)")
    parser.add_argument("--reference-models", default="mlp",
                        help="models whose checks are compared with the "
                             "all-subsets check")
    parser.add_argument("--out", default="benchmarks/output/step_overhead.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    X, y = fetch_fashion_mnist(return_X_y=True, download_if_missing=False)
    repeats, epochs = (20, 2) if args.quick else (200, args.epochs)
    if args.quick:
        X, y = X[:6000], y[:6000]
    results = {"torch_threads": torch.get_num_threads(), "step_cost": [],
               "overhead": []}
    for model in args.models.split(","):
        row = step_cost(model, X, y, repeats)
        results["step_cost"].append(row)
        print(f"step cost {model}: plain {row['plain_step_ms']:.2f} ms, crest "
              f"{row['crest_step_ms']:.2f} ms, ratio {row['ratio']:.3f} "
              "(target <= 1.05)", flush=True)
    thresholds = (args.thresholds or str(args.check_thresh_factor)).split(",")
    runs = [(model, int(size), float(tau)) for model in args.models.split(",")
            for size in args.check_sample_sizes.split(",") for tau in thresholds]
    references = args.reference_models.split(",")
    for model, size, tau in runs:
        row = overhead_run(model, X, y, epochs, 0.1, tau, size, model in references)
        results["overhead"].append(row)
        print(f"overhead {model} (check_sample_size={size}, check_thresh_factor="
              f"{tau}): fit {row['fit_s']:.1f} s, {row['steps']} steps, "
              f"{row['selections']} selections ({row['selection_s']:.2f} s), "
              f"{row['checks']} checks ({row['check_s']:.2f} s), share "
              f"{row['overhead_share']:.1%} (target <= 20%)", flush=True)
        if "decision_agreement" not in row:
            continue
        print(f"    check decisions agree "
              f"with the all-subsets check on {row['decision_agreement']:.1%} "
              f"(fired {row['checks_firing_sample']} vs "
              f"{row['checks_firing_all_subsets']}), error correlation "
              f"{row['error_correlation']:.2f}", flush=True)
        for age, stats in row["error_by_steps_since_selection"].items():
            print(f"    {age:>6} steps after selection: {stats['checks']:4d} checks, "
                  f"median |L - L_hat| / L {stats['median_error_sample']:.3f} "
                  f"(sample) {stats['median_error_all_subsets']:.3f} (all subsets)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
