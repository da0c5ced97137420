"""Per-method figures over seeds, paired by seed, and the verdict they give.

Differences between methods are paired by seed (the same seed's runs share
the model's initialisation and the first epoch's batches), with the
standard error over seeds; a single seed has no spread.
"""

import math

import numpy as np

from .methods import BY_NAME, METHODS, method


def time_to_reach(run, target):
    """Seconds of ``run`` until its test accuracy first reaches ``target``."""
    for accuracy, seconds in zip(run["test_acc"], run["wall_s"]):
        if accuracy >= target:
            return seconds
    return math.nan


def _mean_and_error(values):
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan
    error = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
    return float(values.mean()), float(error)


def _paired_difference(runs, reference):
    """Mean and standard error over seeds of ``final accuracy - reference's``,
    for the seeds both have; (nan, nan) without any."""
    finals = {r["seed"]: r["test_acc"][-1] for r in reference}
    return _mean_and_error([r["test_acc"][-1] - finals[r["seed"]] for r in runs
                            if r["seed"] in finals])


def _paired_wall_saved(runs, reference):
    """Mean and standard error over seeds of ``1 - wall-clock / reference's``,
    for the seeds both have; (nan, nan) without any."""
    walls = {r["seed"]: r["wall_s"][-1] for r in reference}
    return _mean_and_error([1.0 - r["wall_s"][-1] / walls[r["seed"]] for r in runs
                            if r["seed"] in walls])


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


def _against_approximated(method_runs, reference_runs):
    """Shares of the approximated method's accuracy, wall-clock and forwarded
    examples, paired by seed (nan without a common seed)."""
    reference = {r["seed"]: r for r in reference_runs}
    paired = [r for r in method_runs if r["seed"] in reference]
    if not paired:
        return math.nan, math.nan, math.nan
    return (
        float(np.mean([r["test_acc"][-1] / reference[r["seed"]]["test_acc"][-1]
                       for r in paired])),
        float(np.mean([r["wall_s"][-1] / reference[r["seed"]]["wall_s"][-1]
                       for r in paired])),
        float(np.mean([r.get("n_forward_examples", 0)
                       / max(reference[r["seed"]].get("n_forward_examples", 0), 1)
                       for r in paired])))


def summarize(runs):
    """Per-method figures over seeds (means and standard deviations)."""
    by_method = {m.name: [r for r in runs if r["method"] == m.name] for m in METHODS}
    by_method = {m: rs for m, rs in by_method.items() if rs}
    full = {r["seed"]: r for r in by_method.get("full", [])}
    summary = {}
    for name, method_runs in by_method.items():
        entry = BY_NAME[name]
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
        if name != "random" and "random" in by_method:
            row["vs_random_mean"], row["vs_random_se"] = _paired_difference(
                method_runs, by_method["random"])
            if entry.selects:
                row["selection_cost_steps"] = _selection_cost_in_steps(
                    method_runs, by_method["random"])
        # Paired with the run of the same seed whose wall-clock, total steps
        # or epoch plan it was given.
        for key, reference in (("vs_timed", entry.equal_time_of),
                               ("vs_steps", entry.equal_steps_of),
                               ("vs_plan", entry.same_plan_of)):
            if reference in by_method:
                row[key + "_mean"], row[key + "_se"] = _paired_difference(
                    method_runs, by_method[reference])
        pruned = [r for r in method_runs if r.get("pruned_per_epoch")
                  and None not in r["pruned_per_epoch"] + r["kept_per_epoch"]]
        if pruned:
            # The share of the epochs' examples left out (InfoBatch).
            row["pruned_share"] = float(np.mean(
                [sum(r["pruned_per_epoch"])
                 / max(sum(r["pruned_per_epoch"]) + sum(r["kept_per_epoch"]), 1)
                 for r in pruned]))
        if entry.approximates in by_method:
            prefix = f"of_{entry.approximates}_"
            (row[prefix + "accuracy"], row[prefix + "time"],
             row[prefix + "forward"]) = _against_approximated(
                method_runs, by_method[entry.approximates])
        if full:
            row.update(_against_full(name, method_runs, full, by_method["full"]))
        summary[name] = row
    return summary


def _against_full(name, method_runs, full, full_runs):
    """Relative error and speedups over full-data training of the same seed."""
    paired = [r for r in method_runs if r["seed"] in full]
    full_acc = np.array([full[r["seed"]]["test_acc"][-1] for r in paired])
    acc = np.array([r["test_acc"][-1] for r in paired])
    row = {
        # Relative error: the accuracy lost against full-data training, as a
        # fraction of full's accuracy.
        "relative_error": float(np.mean((full_acc - acc) / full_acc)),
        "speedup_wall": float(np.mean(
            [full[r["seed"]]["wall_s"][-1] / r["wall_s"][-1] for r in paired])),
        # How much faster than full to reach this method's final accuracy.
        "speedup_to_accuracy": float(np.mean(
            [time_to_reach(full[r["seed"]], r["test_acc"][-1]) / r["wall_s"][-1]
             for r in paired])),
    }
    if name != "full":
        # Paired per seed: accuracy minus full's, and the share of full's
        # wall-clock saved.
        row["vs_full_mean"], row["vs_full_se"] = _paired_difference(
            method_runs, full_runs)
        row["wall_saved_mean"], row["wall_saved_se"] = _paired_wall_saved(
            method_runs, full_runs)
    return row


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
    # Methods that select at every epoch after the random first one.
    selective = [m for m in summary
                 if method(m).selects and method(m).selection != "infobatch"]
    if epochs is not None and epochs <= 2 and selective:
        caveats.append(f"{epochs} epoch(s): the first is the random warm-up, so "
                       f"the coreset methods selected in {epochs - 1} epoch(s) only")
    if caveats:
        text += " Caveats: " + "; ".join(caveats) + "."
    return text


def _verdict(summary):
    lines = []
    coresets = sorted((m for m in METHODS if m.verdict_rank is not None),
                      key=lambda m: m.verdict_rank)
    selective = [m.name for m in coresets if m.name in summary]
    if "random" in summary and selective:
        steps = [f"{m} {_difference(summary[m], 'vs_random')}" for m in selective
                 if _difference(summary[m], "vs_random")]
        lines.append("at equal steps, against random batches: "
                     + ", ".join(steps) + ".")
        timed = [(m.name, m.equal_time_of) for m in METHODS
                 if m.name in summary and m.equal_time_of in selective]
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
    for name, key, budget in (("random_pruning", "vs_steps", "steps"),
                              ("random_at_infobatch_time", "vs_timed", "wall-clock")):
        difference = _difference(summary.get(name, {}), key, sign=-1.0)
        if difference:
            parts.append(f"random batches at its {budget} ({name}): {difference}")
    if not parts:
        return ("InfoBatch not compared: add full (and random_pruning, "
                "random_at_infobatch_time) to --methods.")
    return "InfoBatch minus " + "; minus ".join(parts) + " (positive: InfoBatch wins)."
