"""How unstable is a method's learning curve? From benchmark results.

Reads the ``results.json`` of runs of ``python -m crest_benchmark``
(one or more directories, each optionally labelled ``LABEL=DIR``) and prints,
per method and seed, the final test accuracy, the difference from random
batches of the same seed (when a run holds random), and two measures of how
the test accuracy swings before the first learning-rate decay (epochs 2-12 of
the paper's 20-epoch schedule): the mean absolute change from one epoch to
the next, and the largest drop.

    python benchmarks/curve_swing.py random=DIR_A gradmatch_lam0.5=DIR_B ...
"""

import json
import pathlib
import sys

import numpy as np


def swing(curve, first=1, last=12):
    """Mean absolute epoch-to-epoch change and largest drop, in points."""
    window = np.asarray(curve[first:last], dtype=float)
    steps = np.diff(window)
    return 100 * np.abs(steps).mean(), 100 * max(0.0, -steps.min())


def main(arguments):
    rows, random_final = [], {}
    for argument in arguments:
        label, _, directory = argument.rpartition("=")
        runs = json.loads((pathlib.Path(directory) / "results.json").read_text())["runs"]
        for run in runs:
            name = f"{label}:{run['method']}" if label else run["method"]
            if run["method"] == "random":
                random_final[run["seed"]] = run["test_acc"][-1]
            rows.append((name, run["seed"], run["test_acc"]))
    print("| run | final test acc per seed | vs random (pt, mean) | "
          "mean epoch-to-epoch change (pt) | largest drop (pt) |")
    print("| --- | --- | --- | --- | --- |")
    for name in dict.fromkeys(name for name, _, _ in rows):
        mine = sorted((seed, curve) for n, seed, curve in rows if n == name)
        finals = " / ".join(f"{curve[-1]:.4f}" for _, curve in mine)
        gaps = [100 * (curve[-1] - random_final[seed]) for seed, curve in mine
                if seed in random_final]
        gap = f"{np.mean(gaps):+.2f}" if gaps else "-"
        swings = np.array([swing(curve) for _, curve in mine])
        print(f"| {name} | {finals} | {gap} | {swings[:, 0].mean():.2f} | "
              f"{swings[:, 1].max():.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
