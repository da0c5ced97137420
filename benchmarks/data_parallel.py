"""Data-parallel fits against single-process fits, at the same step budget.

For each seed and selection, one fit in 1 process and one in N processes
(``torchrun --standalone``, gloo on the CPU, ``AcceleratedCrestClassifier``),
run back to back:

- the same global batch (``--global-batch``, 128 by default): each of the N
  processes trains ``global_batch / N`` examples per step, so both fits take
  the same number of steps of the same number of examples;
- the same CPU cores: the single process gets ``--cores`` torch threads,
  each of the N processes ``cores / N``.

Reports per selection the paired ratio of fit wall-clock (N processes over 1),
the test accuracies and their paired difference, the steps, and the
selections per fit, and writes ``results.json`` and ``report.md``.

    python benchmarks/data_parallel.py --model cnn --seeds 0 1 2 --out DIR
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def worker(args):
    """One process of one fit (under torchrun)."""
    import torch
    from accelerate import Accelerator

    from sklearn_crest import AcceleratedCrestClassifier
    from sklearn_crest._models import MLP, SmallCNN
    from sklearn_crest.datasets import fetch_fashion_mnist

    accelerator = Accelerator(cpu=True)
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    module, extra = ((SmallCNN, {}) if args.model == "cnn"
                     else (MLP, {"module__n_features": 784}))
    world = accelerator.num_processes
    net = AcceleratedCrestClassifier(
        module, accelerator=accelerator, selection=args.selection,
        batch_size=args.global_batch // world, max_epochs=args.epochs,
        train_frac=args.train_frac, lr=0.05, optimizer=torch.optim.SGD,
        optimizer__momentum=0.9, train_split=None, verbose=0,
        random_state=args.seed, **extra)
    accelerator.wait_for_everyone()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net.fit(X, y)
    wall = time.perf_counter() - start
    if accelerator.is_main_process:
        history = net.history
        result = {
            "processes": world, "selection": args.selection, "seed": args.seed,
            "wall_s": wall, "accuracy": float(net.score(X_test, y_test)),
            "steps": int(np.sum(history[:, "n_steps"])),
            "n_selections": int(np.sum(history[:, "n_selections"])),
            "selection_s": float(np.sum(history[:, "selection_s"])),
            "threads": torch.get_num_threads(),
        }
        Path(args.result).write_text(json.dumps(result))
    accelerator.wait_for_everyone()


def launch(processes, selection, seed, args):
    """One fit in ``processes`` processes; its rank 0's result."""
    threads = max(1, args.cores // processes)
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node", str(processes), __file__, "--worker",
                   "--selection", selection, "--seed", str(seed),
                   "--model", args.model, "--epochs", str(args.epochs),
                   "--train-frac", str(args.train_frac),
                   "--global-batch", str(args.global_batch), "--result", str(result)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{selection} seed {seed} in {processes} processes "
                               f"failed:\n{done.stderr[-4000:]}")
        return json.loads(result.read_text())


def summarize(runs, world):
    lines = [f"| selection | wall-clock {world} proc / 1 proc (paired) | "
             f"accuracy 1 proc | accuracy {world} proc | difference (paired) | "
             "steps | selections 1 / {w} proc | selection s, 1 proc / each of {w} |"
             .replace("{w}", str(world)),
             "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for selection in dict.fromkeys(r["selection"] for r in runs):
        pairs = {}
        for r in runs:
            if r["selection"] == selection:
                pairs.setdefault(r["seed"], {})[r["processes"]] = r
        pairs = [p for p in pairs.values() if 1 in p and world in p]
        ratio = np.array([p[world]["wall_s"] / p[1]["wall_s"] for p in pairs])
        single = np.array([p[1]["accuracy"] for p in pairs])
        multi = np.array([p[world]["accuracy"] for p in pairs])
        diff = multi - single
        spread = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        summary[selection] = {
            "wall_ratio_median": float(np.median(ratio)),
            "wall_ratio_min": float(ratio.min()), "wall_ratio_max": float(ratio.max()),
            "accuracy_single": float(single.mean()), "accuracy_multi": float(multi.mean()),
            "accuracy_difference": float(diff.mean()), "difference_se": float(spread),
            "selection_s_single": float(np.mean([p[1]["selection_s"] for p in pairs])),
            "selection_s_each": float(np.mean([p[world]["selection_s"] for p in pairs])),
            "n_seeds": len(pairs)}
        lines.append(
            f"| {selection} | {np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f}) "
            f"| {single.mean():.4f} | {multi.mean():.4f} "
            f"| {100 * diff.mean():+.2f} ± {100 * spread:.2f} pt "
            f"| {pairs[0][1]['steps']} / {pairs[0][world]['steps']} "
            f"| {np.mean([p[1]['n_selections'] for p in pairs]):.0f} / "
            f"{np.mean([p[world]['n_selections'] for p in pairs]):.0f} "
            f"| {np.mean([p[1]['selection_s'] for p in pairs]):.1f} / "
            f"{np.mean([p[world]['selection_s'] for p in pairs]):.1f} |")
    return summary, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--selection", default="per_step", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--selections", nargs="+", default=["random", "per_step", "crest"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--model", choices=("mlp", "cnn"), default="cnn")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-frac", type=float, default=0.1)
    parser.add_argument("--global-batch", type=int, default=128)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/output/data-parallel")
    parser.add_argument("--report-only", action="store_true",
                        help="print the report of the runs in OUT/results.json "
                             "(and in the --also folders) instead of running")
    parser.add_argument("--also", nargs="*", default=[],
                        help="with --report-only: more result folders to pool")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    out = Path(args.out)
    if args.report_only:
        runs, world = [], None
        for folder in [out, *map(Path, args.also)]:
            saved = json.loads((folder / "results.json").read_text())
            runs += saved["runs"]
            world = saved["config"]["processes"]
        print(summarize(runs, world)[1])
        return None
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        for selection in args.selections:
            # Alternate which goes first, so that drift on a shared machine
            # does not favour one side.
            order = [1, args.processes] if seed % 2 == 0 else [args.processes, 1]
            for processes in order:
                run = launch(processes, selection, seed, args)
                runs.append(run)
                print(f"{selection:>9} seed {seed} {processes} proc: "
                      f"{run['wall_s']:.1f} s, accuracy {run['accuracy']:.4f}, "
                      f"{run['steps']} steps", flush=True)
                (out / "results.json").write_text(json.dumps(
                    {"config": vars(args), "runs": runs}, indent=1))
    summary, table = summarize(runs, args.processes)
    command = "python benchmarks/data_parallel.py " + " ".join(
        (argv if argv is not None else sys.argv[1:]))
    (out / "results.json").write_text(json.dumps(
        {"config": vars(args), "command": command, "runs": runs, "summary": summary},
        indent=1))
    (out / "report.md").write_text(f"`{command}`\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
