"""Accuracy against wall-clock for several benchmark runs: the cost frontier.

Each argument is a folder written by ``python -m crest_benchmark``
(its ``results.json``), optionally with a label: ``folder`` or
``folder=label``. Every method of every folder becomes one point (mean final
accuracy against mean training wall-clock over its seeds, with the standard
deviations as error bars), and the table printed to stdout lists the same
figures, with each method's paired difference to the ``random`` run of its
own folder or, with ``--random-from``, of another folder (random is
deterministic given the seed, so one run of it serves every setting).

    python benchmarks/plot_frontier.py runs/A runs/B=smaller-subsets \\
        --random-from runs/A --out frontier.png

Wall-clock is only comparable between folders run on the same machine under
the same load; the script says nothing about that, the runs' notes must.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np


def load_points(specs, random_from=None):
    """(label, method, accuracy mean, std, wall mean, std, share, updates/step,
    paired difference to random and its standard error) per folder and method."""
    reference = None
    if random_from is not None:
        reference = _final_by_seed(json.loads(
            (Path(random_from) / "results.json").read_text()), "random")
    points = []
    for spec in specs:
        folder, _, label = spec.partition("=")
        results = json.loads((Path(folder) / "results.json").read_text())
        label = label or Path(folder).name
        random = reference or _final_by_seed(results, "random")
        methods = sorted({r["method"] for r in results["runs"]})
        for method in methods:
            runs = [r for r in results["runs"] if r["method"] == method]
            final = np.array([r["test_acc"][-1] for r in runs])
            wall = np.array([r["wall_s"][-1] for r in runs])
            share = np.mean([(r["selection_s"] + r["check_s"]) / r["wall_s"][-1]
                             for r in runs])
            updates = np.mean([r["n_selections"] / r["steps"][-1] for r in runs])
            diffs = np.array([r["test_acc"][-1] - random[r["seed"]] for r in runs
                              if r["seed"] in random])
            if method == "random" or diffs.size == 0:
                diff = error = math.nan
            else:
                diff = float(diffs.mean())
                error = (float(diffs.std(ddof=1) / math.sqrt(diffs.size))
                         if diffs.size > 1 else math.nan)
            points.append({
                "label": label, "method": method,
                "acc": float(final.mean()),
                "acc_std": float(final.std(ddof=1)) if final.size > 1 else 0.0,
                "wall": float(wall.mean()),
                "wall_std": float(wall.std(ddof=1)) if wall.size > 1 else 0.0,
                "share": float(share), "updates_per_step": float(updates),
                "vs_random": diff, "vs_random_se": error, "seeds": len(runs),
                "train_frac": runs[0].get("train_frac",
                                          results["config"].get("train_frac")),
            })
    return points


def _final_by_seed(results, method):
    return {r["seed"]: r["test_acc"][-1] for r in results["runs"]
            if r["method"] == method}


def format_points(points):
    lines = ["| setting | method | seeds | accuracy | vs random (pt) | wall s | "
             "sel+check share | updates/step |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in points:
        vs = ("-" if not np.isfinite(p["vs_random"]) else
              f"{100 * p['vs_random']:+.2f}" + (
                  f" +- {100 * p['vs_random_se']:.2f}"
                  if np.isfinite(p["vs_random_se"]) else ""))
        lines.append(
            f"| {p['label']} | {p['method']} | {p['seeds']} | "
            f"{p['acc']:.4f} +- {p['acc_std']:.4f} | {vs} | "
            f"{p['wall']:.1f} | {p['share']:.0%} | {p['updates_per_step']:.3f} |")
    return "\n".join(lines)


def plot_points(points, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = {"full": "tab:gray", "random": "tab:blue", "crest": "tab:red",
              "per_step": "tab:orange", "random_at_crest_time": "tab:cyan",
              "random_at_per_step_time": "tab:olive"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seen = set()
    for p in points:
        color = colors.get(p["method"], "black")
        ax.errorbar(p["wall"], p["acc"], xerr=p["wall_std"], yerr=p["acc_std"],
                    fmt="o", color=color, capsize=2,
                    label=p["method"] if p["method"] not in seen else None)
        seen.add(p["method"])
        # Random batches are named by their budget, the others by setting.
        name = (f"random {p['train_frac']:.0%}"
                if p["method"] == "random" and p["train_frac"] else p["label"])
        ax.annotate(name, (p["wall"], p["acc"]), fontsize=7,
                    xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("training wall-clock (s, log scale)")
    ax.set_ylabel("final accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="folder or folder=label")
    parser.add_argument("--random-from", default=None,
                        help="folder whose random run every setting is paired with")
    parser.add_argument("--out", default="frontier.png")
    args = parser.parse_args(argv)
    points = load_points(args.folders, args.random_from)
    print(format_points(points))
    plot_points(points, args.out)


if __name__ == "__main__":
    main()
