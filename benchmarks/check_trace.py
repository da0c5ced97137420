"""What CREST's check sees: the loss it measures against the loss its
quadratic model predicts, over a stretch of training, and where it re-selects.

Run from the repository root (about a minute on 2 cores)::

    python benchmarks/check_trace.py --out benchmarks/results/crest-check-trace

One ``selection="crest"`` fit of the Fashion-MNIST CNN under the paper's
protocol (the benchmark command's settings, library defaults otherwise), for
``--epochs`` epochs. Each check of the default ``selection__check_loss="training"``
compares the training loss of the examples it observed (served from the
region's pool, measured when the region evaluated them) with what the model
predicted for them: that loss then, plus the change the quadratic model
predicts since. A check fails when the two differ by more than
``check_thresh_factor`` times the loss, and the next step starts a region.

Writes ``check_trace.png`` (a window of ``--window`` steps from the second
epoch on) and ``check_trace.json`` (every check of the fit: step, steps since
the region started, measured and predicted loss, passed).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--window", type=int, default=150,
                        help="steps shown in the figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", default="crest-check-trace")
    args = parser.parse_args()

    from skorch.callbacks import LRScheduler

    from sklearn_crest import CrestClassifier
    from sklearn_crest._models import SmallCNN
    from crest_benchmark.data import load_data
    from crest_benchmark.runner import MOMENTUM, PAPER_WEIGHT_DECAY, paper_lr_factor

    X, y, _, _ = load_data("fashion-mnist", "cnn", args.data_home)
    net = CrestClassifier(
        SmallCNN, selection="crest", max_epochs=args.epochs, batch_size=128,
        lr=0.1, optimizer=torch.optim.SGD, optimizer__momentum=MOMENTUM,
        optimizer__weight_decay=PAPER_WEIGHT_DECAY, train_split=None, verbose=0,
        random_state=args.seed,
        callbacks=[("lr_schedule", LRScheduler(
            policy=torch.optim.lr_scheduler.LambdaLR,
            lr_lambda=paper_lr_factor(args.epochs), step_every="epoch"))])
    net.fit(X, y)
    strategy = net.strategy_
    factor = net.strategy_.check_thresh_factor
    checks = [{"step": int(step), "since_selection": int(since),
               "measured": float(measured), "predicted": float(predicted),
               "passed": bool(abs(measured - predicted) <= factor * abs(measured))}
              for step, since, measured, predicted in strategy.check_log]

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = int(net.history[-1, "n_steps"])
    (out / "check_trace.json").write_text(json.dumps({
        "epochs": args.epochs, "seed": args.seed, "steps_per_epoch": steps_per_epoch,
        "check_thresh_factor": factor,
        "selections_per_epoch": [int(v) for v in net.history[:, "n_selections"]],
        "checks": checks}, indent=1))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = steps_per_epoch  # the warm-up epoch has no regions
    shown = [c for c in checks if first <= c["step"] < first + args.window]
    steps = np.array([c["step"] for c in shown])
    measured = np.array([c["measured"] for c in shown])
    predicted = np.array([c["predicted"] for c in shown])
    failed = np.array([not c["passed"] for c in shown])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.fill_between(steps, measured * (1 - factor), measured * (1 + factor),
                    color="0.85", step="mid",
                    label=f"measured +- {factor:g} x measured (the check's tolerance)")
    ax.plot(steps, measured, "o-", ms=3, lw=1, label="measured: observed examples' "
            "training loss")
    ax.plot(steps, predicted, "x", ms=5, label="predicted by the quadratic model")
    for step in steps[failed]:
        ax.axvline(step + 1, color="C3", lw=0.8, alpha=0.7)
    ax.plot([], [], color="C3", lw=0.8, label="check failed: a new region next step")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    n_regions = sum(net.history[:, "n_selections"])
    ax.set_title(f"What CREST's check sees (Fashion-MNIST CNN, seed {args.seed}): "
                 f"{len(checks)} checks, {n_regions} regions in "
                 f"{args.epochs * steps_per_epoch} steps", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "check_trace.png", dpi=120)
    print(f"{len(checks)} checks, {sum(not c['passed'] for c in checks)} failed, "
          f"{n_regions} regions; wrote {out / 'check_trace.png'}")


if __name__ == "__main__":
    main()
