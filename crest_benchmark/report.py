"""The printed report (what ran, on what, the main table, its legend, the
verdict and the paper's layout) and the result files: results.json,
results.csv and summary.md, and the merge of earlier result folders."""

import csv
import json
import math
from pathlib import Path

import numpy as np

from . import provenance as provenance_
from .methods import METHODS, NAMES, method
from .plots import plot
from .stats import verdict


def _plus_minus(mean, spread, digits, scale=1.0, signed=False):
    """``mean +- spread``; the mean alone when the spread is unknown (one
    seed)."""
    sign = "+" if signed else ""
    text = f"{scale * mean:{sign}.{digits}f}"
    if np.isfinite(spread):
        text += f" +- {scale * spread:.{digits}f}"
    return text


def _format_speedup(value):
    return "not reached by full" if not np.isfinite(value) else f"{value:.2f}x"


def format_table(summary):
    header = ("method", "test acc (mean +- sd)", "vs random (pt, mean +- se)",
              "rel. err", "wall s", "steps",
              "updates/step", "selection cost (steps)", "sel+check s (share)",
              "speedup", "speedup to acc")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for name, row in summary.items():
        selects = method(name).selects
        vs_full = "relative_error" in row  # only when full ran too
        vs_random = row.get("vs_random_mean", math.nan)
        lines.append(" | ".join([
            name,
            _plus_minus(row["test_acc_mean"], row["test_acc_std"]
                        if row.get("n_seeds", 2) > 1 else math.nan, 4),
            "-" if not np.isfinite(vs_random) else
            _plus_minus(vs_random, row["vs_random_se"], 2, scale=100, signed=True),
            f"{row['relative_error']:+.2%}" if vs_full else "-",
            f"{row['wall_s']:.1f}",
            f"{row['steps']}",
            f"{row['selections_per_step']:.3f}"
            if row["n_selections"] and selects else "-",
            f"{row['selection_cost_steps']:.2f}"
            if np.isfinite(row.get("selection_cost_steps", math.nan)) else "-",
            f"{row['selection_s'] + row['check_s']:.1f} ({row['overhead_share']:.0%})",
            f"{row['speedup_wall']:.2f}x" if vs_full else "-",
            "-" if name == "full" or not vs_full else
            _format_speedup(row["speedup_to_accuracy"]),
        ]))
    table = "\n".join("| " + line + " |" for line in lines)
    return table + "".join("\n\n" + note for note in _notes(summary))


def _notes(summary):
    """What an approximation keeps of the method it approximates, and each
    budget-taking row against the run whose budget it took."""
    notes = []
    for entry in METHODS:
        row, reference = summary.get(entry.name, {}), entry.approximates
        if f"of_{reference}_accuracy" in row:
            notes.append(
                f"{entry.name} keeps {row[f'of_{reference}_accuracy']:.1%} of "
                f"{reference}'s accuracy in {row[f'of_{reference}_time']:.2f}x its "
                f"wall-clock, forwarding {row[f'of_{reference}_forward']:.0%} of "
                f"its examples")
    for attribute, key, budget in (("equal_time_of", "vs_timed", "wall-clock"),
                                   ("equal_steps_of", "vs_steps", "steps"),
                                   ("same_plan_of", "vs_plan", "epoch plan")):
        for entry in METHODS:
            reference = getattr(entry, attribute)
            row = summary.get(entry.name, {})
            if reference and np.isfinite(row.get(key + "_mean", math.nan)):
                se = row[key + "_se"]
                notes.append(f"{entry.name} minus {reference} at equal {budget}: "
                             f"{100 * row[key + '_mean']:+.2f} pt"
                             + (f" +- {100 * se:.2f}" if np.isfinite(se) else ""))
    return notes


def _paper_order():
    """The paper's order of methods in its Table 1, then this library's
    additions."""
    ranked = [m for m in METHODS if m.paper_rank is not None]
    return [m.name for m in sorted(ranked, key=lambda m: m.paper_rank)]


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
    for name in _paper_order():
        row = summary.get(name)
        if row is None or "relative_error" not in row:
            continue
        selects = method(name).selects
        forward = row["selection_forward_s"]
        beyond = ((row["selection_s"] - forward) / forward if forward > 0
                  else math.nan)
        lines.append(" | ".join([
            name, f"{row['relative_error']:.2%}", f"{row['speedup_wall']:.2f}x",
            f"{row['selection_s']:.1f} ({forward:.1f})"
            if row["n_selections"] and selects else "-",
            f"{beyond:+.0%}" if np.isfinite(beyond) and selects else "-",
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


def legend(summary):
    """The columns' legend, and a line for each less usual method that ran
    (in the paper's layout order, then the others)."""
    ran = [m for m in METHODS if m.legend and m.name in summary]
    ran.sort(key=lambda m: (m.paper_rank is None, m.paper_rank or 0))
    return LEGEND + "".join("\n" + m.legend for m in ran)


def describe_config(config):
    """One line: what was trained, on what, how often."""
    get = config.get
    model = get("model") + (f" ({get('hidden')} hidden)" if get("model") == "mlp" else "")
    return (f"{get('dataset')}, {model}, {get('epochs')} epochs of batch "
            f"{get('batch_size')}, train_frac {get('train_frac')}, schedule "
            f"{get('schedule')} (lr {get('lr')}), {get('seeds')} seed(s) from "
            f"{get('first_seed')}, device {get('device', 'cpu')}, evaluated on the "
            f"{get('eval_set', 'test')} set")


def describe_provenance(provenance, parts=None):
    """The machine and versions: one line for a run; for a merge, one line
    per merged folder (each keeps its own)."""
    return "\n".join(f"{folder}: {line}" if folder else line
                     for folder, line in _provenance_lines(provenance, parts))


def _provenance_lines(provenance, parts):
    """``(folder, line)`` pairs, a merged merge's folders as ``outer/inner``."""
    if not parts:
        return [("", provenance_.describe(provenance))]
    return [(part["folder"] + ("/" + inner if inner else ""), line)
            for part in parts
            for inner, line in _provenance_lines(part.get("provenance"),
                                                 part.get("parts"))]


def format_report(summary, config=None, machine=None):
    """What ran (and on what machine, a line from ``describe_provenance``),
    the main table with its legend, the verdict, and the paper's layout when
    full training ran."""
    paper = format_paper_table(summary)
    head = describe_config(config) + "\n" if config else ""
    head += machine + "\n" if machine else ""
    return (head + ("\n" if head else "") + format_table(summary) + "\n\n"
            + legend(summary) + "\n\n" + verdict(summary, config)
            + ("\n\nIn the paper's layout (Table 1, Figure 2):\n\n" + paper
               if paper else ""))


def portable_path(path):
    """A path as a result file records it: relative to the working folder,
    or the folder's name alone; never this machine's absolute path."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def config_of(args):
    """The settings a result file records: every option but --quiet and
    --epoch-log, with paths made portable."""
    config = {k: v for k, v in vars(args).items() if k not in ("quiet", "epoch_log")}
    for key in ("out", "data_home"):
        if config.get(key) is not None:
            config[key] = portable_path(config[key])
    for key in ("merge", "merged_from"):
        if config.get(key) is not None:
            config[key] = [portable_path(p) for p in config[key]]
    return config


def write_outputs(runs, summary, args, out, provenance, parts=None):
    """results.json (with the provenance, and a merge's parts), results.csv
    (one row per run and epoch), summary.md and the plots; returns the
    plots' paths."""
    out.mkdir(parents=True, exist_ok=True)
    config = config_of(args)
    results = {"config": config, "provenance": provenance}
    if parts is not None:
        results["parts"] = parts
    results.update(summary=summary, runs=runs)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "seed", "epoch", "test_acc", "wall_s", "steps",
                         "examples_seen", "selected_loss", "pool_size"])
        for run in runs:
            for epoch, values in enumerate(zip(
                    run["test_acc"], run["wall_s"], run["steps"],
                    run["examples_seen"], run["selected_loss"], run["pool_size"]), 1):
                writer.writerow([run["method"], run["seed"], epoch, *values])
    report = format_report(summary, config, describe_provenance(provenance, parts))
    (out / "summary.md").write_text(report + "\n")
    return plot(runs, out, f"{getattr(args, 'eval_set', 'test')} accuracy")


# Settings that must agree for runs of several folders to be compared.
_MERGE_KEYS = ("dataset", "model", "train_frac", "epochs", "batch_size", "schedule",
               "lr", "hidden", "label_noise", "drop_learned", "eval_set")


def merge_results(folders):
    """The runs, configuration and parts of several benchmark folders,
    checked to be comparable; raises ValueError naming the first setting
    that differs. Each part records its folder, its provenance (None for a
    folder that predates provenance) and its runs."""
    runs, config, parts = [], None, []
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
        part = {"folder": portable_path(folder),
                "provenance": results.get("provenance"),
                "runs": [[run["method"], run["seed"]] for run in results["runs"]]}
        if results.get("parts"):
            part["parts"] = results["parts"]
        parts.append(part)
    runs.sort(key=lambda r: (r["seed"], NAMES.index(r["method"])))
    return runs, config, parts
