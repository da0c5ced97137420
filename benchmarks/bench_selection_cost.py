"""What one fresh coreset costs, in random training steps, per setting.

Each variant is a short ``CrestClassifier`` fit on Fashion-MNIST (the first
epoch is random warm-up, every later step builds a fresh per-step coreset),
run in its own subprocess after an untimed warm-up fit, interleaved with a
``selection="random"`` fit of the same seed, repeat after repeat. For each
repeat:

    cost = (fit seconds - random's fit seconds) / selections
           / (random's seconds per step)

i.e. the wall-clock each selection adds, in random steps of the same run;
the report gives the median over repeats, with the selection's own timers
(``selection_s``, ``selection_forward_s`` from ``history``) beside it.
``--baseline DIR`` adds the same fits with the package of another checkout
(for a before/after comparison in one run).

Run: ``python benchmarks/bench_selection_cost.py`` (``--quick`` for a
smoke run on 6,000 examples).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# name -> CrestClassifier parameters; "random" is the reference.
VARIANTS = {
    "random": {"selection": "random"},
    "per_step float32, 600 examples": {"selection": "per_step", "selection__random_subset_size": 600,
                                       "selection__selection_precision": "float32"},
    "per_step bfloat16, 600 examples": {"selection": "per_step", "selection__random_subset_size": 600,
                                        "selection__selection_precision": "bfloat16"},
    "per_step defaults": {"selection": "per_step"},
}
BASELINE_VARIANT = {"selection": "per_step"}


def child(spec):
    """One timed fit in this process; prints its figures as JSON."""
    import torch

    import sklearn_crest
    from sklearn_crest import CrestClassifier
    from sklearn_crest._models import MLP, SmallCNN
    # The library's own loader, not the benchmark command's: a baseline
    # checkout (--baseline) may predate the crest_benchmark package.
    from sklearn_crest.datasets import fetch_fashion_mnist

    torch.set_num_threads(spec["threads"])
    X, y = fetch_fashion_mnist(spec.get("data_home"), subset="train", return_X_y=True)
    X, y = X[:spec["n_train"]], y[:spec["n_train"]]
    module = SmallCNN if spec["model"] == "cnn" else MLP

    def fit(params, epochs, rows):
        net = CrestClassifier(module, max_epochs=epochs, batch_size=128, lr=0.05,
                              optimizer=torch.optim.SGD, optimizer__momentum=0.9,
                              train_split=None, verbose=0, device=spec["device"],
                              random_state=spec["seed"], **params)
        net.fit(X[:rows], y[:rows])
        return net

    # Untimed: the first fit of a process pays one-time set-up.
    fit(spec["params"], 2, 4096)
    start = time.perf_counter()
    net = fit(spec["params"], spec["epochs"], len(y))
    seconds = time.perf_counter() - start
    history = net.history
    print(json.dumps({
        "seconds": seconds,
        "steps": int(np.sum(history[:, "n_steps"])),
        "selections": int(np.sum(history[:, "n_selections"])),
        "selection_s": float(np.sum(history[:, "selection_s"])),
        "forward_s": float(np.sum(history[:, "selection_forward_s"])),
        "forward_examples": int(np.sum(history[:, "n_forward_examples"])),
        # Which checkout's package ran: its commit, never a local path.
        "commit": _commit_of(Path(sklearn_crest.__file__).parent),
    }))


def _commit_of(folder):
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def run_variant(name, params, args, seed, source=None):
    spec = {"params": params, "seed": seed, "epochs": args.epochs,
            "n_train": args.n_train, "model": args.model, "threads": args.threads,
            "device": args.device, "data_home": args.data_home}
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(Path(source).resolve())
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs per fit; the first one is random warm-up")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=60_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="also time per_step with the package of this checkout")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--out", default=None, help="write the raw figures here (JSON)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.quick:
        args.epochs, args.repeats, args.n_train = 2, 1, 6000
    variants = dict(VARIANTS)
    sources = {name: None for name in variants}
    if args.baseline:
        variants["per_step defaults (baseline checkout)"] = BASELINE_VARIANT
        sources["per_step defaults (baseline checkout)"] = args.baseline
    figures = {name: [] for name in variants}
    for repeat in range(args.repeats):
        # Interleaved, so that machine load hits every variant alike.
        for name, params in variants.items():
            figures[name].append(run_variant(name, params, args, seed=repeat,
                                             source=sources[name]))
            print(f"repeat {repeat} {name}: {figures[name][-1]}", file=sys.stderr)
    print(f"Fashion-MNIST {args.model}, {args.n_train} examples, {args.epochs} epochs, "
          f"{args.threads} torch thread(s), device {args.device}, "
          f"{args.repeats} repeats (medians)\n")
    header = ("variant", "fit s", "ms / random step", "selections",
              "cost / selection (random steps)", "selection_s / selection (steps)",
              "forward s / selection (steps)")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name, runs in figures.items():
        costs, own, forward, step_ms = [], [], [], []
        for run, reference in zip(runs, figures["random"]):
            step_s = reference["seconds"] / reference["steps"]
            step_ms.append(1e3 * step_s)
            if run["selections"]:
                extra = run["seconds"] - step_s * run["steps"]
                costs.append(extra / run["selections"] / step_s)
                own.append(run["selection_s"] / run["selections"] / step_s)
                forward.append(run["forward_s"] / run["selections"] / step_s)

        def median(values):
            return f"{np.median(values):.2f}" if values else "-"
        print(f"| {name} | {np.median([r['seconds'] for r in runs]):.1f} | "
              f"{np.median(step_ms):.1f} | {runs[0]['selections']} | {median(costs)} | "
              f"{median(own)} | {median(forward)} |")
    if args.out:
        config = {**vars(args), "baseline": args.baseline and _commit_of(args.baseline)}
        Path(args.out).write_text(json.dumps({"config": config, "figures": figures},
                                             indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
