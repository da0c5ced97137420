"""The benchmark command on the embedded dataset, with tiny settings."""

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from crest_benchmark import cli, data, methods, report, runner, stats


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench")
    try:
        code = cli.main(["--epochs", "3", "--seeds", "2", "--hidden", "32",
                               "--out", str(out), "--quiet"])
    finally:
        torch.set_num_threads(threads)
    return code, out


def test_command_writes_files_and_table(finished_run, capsys):
    code, out = finished_run
    assert code == 0
    for name in ("results.json", "results.csv", "summary.md", "accuracy_vs_time.png",
                 "accuracy_vs_steps.png", "selected_loss.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 12  # 6 methods x 2 seeds
    timed = {"random_at_per_step_time", "random_at_crest_time"}
    assert set(results["summary"]) == {"full", "random", "per_step", "crest"} | timed
    assert results["config"]["schedule"] == "paper"
    steps = {m: results["summary"][m]["steps"] for m in results["summary"]}
    # 1,257 training digits, batch 32: full 40 steps/epoch; 10%: ceil(125.7/32)=4.
    assert {m: steps[m] for m in steps if m not in timed} == {
        "full": 120, "random": 12, "per_step": 12, "crest": 12}
    # Random batches given a coreset mode's wall-clock: the same number of
    # steps in each of the 3 epochs, at least one.
    timed_runs = [r for r in results["runs"] if r["method"] in timed]
    assert len(timed_runs) == 4
    for run in timed_runs:
        per_epoch = np.diff([0] + run["steps"])
        assert per_epoch.min() >= 1 and len(set(per_epoch)) == 1, run["steps"]
    crest = [r for r in results["runs"] if r["method"] == "crest"]
    assert all(r["n_selections"] >= 1 for r in crest)
    assert all(0 <= acc <= 1 for r in results["runs"] for acc in r["test_acc"])
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 * 3  # one row per run and epoch
    table = (out / "summary.md").read_text()
    for method in ("full", "random", "per_step", "crest"):
        assert f"| {method} |" in table
    assert "test acc" in table and "speedup" in table
    # What ran, what the columns mean, and what it says.
    assert table.startswith("digits, mlp (32 hidden), 3 epochs of batch 32")
    assert "2 seed(s) from 0" in table
    assert "updates/step: fresh coresets" in table
    assert "Verdict: at equal steps, against random batches: per_step " in table
    # The first screen answers "does this save me time?".
    at_equal_time = table.split("At equal wall-clock, random batches minus the method: ", 1)
    assert len(at_equal_time) == 2
    verdict_line = at_equal_time[1].splitlines()[0]
    assert "per_step +" in verdict_line or "per_step -" in verdict_line
    assert "crest +" in verdict_line or "crest -" in verdict_line
    assert "| random_at_crest_time |" in table


def test_quiet_prints_only_the_table(tmp_path, capsys):
    cli.main(["--epochs", "1", "--seeds", "1", "--hidden", "16",
                    "--methods", "random,crest", "--out", str(tmp_path), "--quiet"])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "| crest |" in captured.out


def test_progress_lines_without_quiet(tmp_path, capsys):
    # One line per run on the console; every epoch in progress.log, and on
    # the console too with --epoch-log.
    cli.main(["--epochs", "2", "--seeds", "1", "--hidden", "16",
                    "--methods", "random,crest", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.count("[ crest seed 0] epoch") == 0
    assert "[crest seed 0] test acc" in err and "[random seed 0] test acc" in err
    assert (tmp_path / "progress.log").read_text().count("[ crest seed 0] epoch") == 2
    cli.main(["--epochs", "2", "--seeds", "1", "--hidden", "16",
                    "--methods", "crest", "--out", str(tmp_path), "--epoch-log"])
    assert capsys.readouterr().err.count("[ crest seed 0] epoch") == 2


def test_help_shows_no_default_for_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-warm-up" in text and "(default: True)" not in text
    assert "(default: False)" not in text


def test_flip_labels_flips_the_fraction_to_other_classes():
    y = np.repeat(np.arange(10), 100)
    noisy = data.flip_labels(y, 0.2, seed=0)
    assert np.sum(noisy != y) == 200
    assert set(np.unique(noisy)) <= set(range(10))
    np.testing.assert_array_equal(noisy, data.flip_labels(y, 0.2, seed=0))


def test_summary_figures_on_hand_made_runs():
    def run(method, accs, walls):
        return {"method": method, "seed": 0, "test_acc": accs, "wall_s": walls,
                "steps": [10, 20], "examples_seen": [100, 200], "selection_s": 1.0,
                "check_s": 1.0, "n_selections": 2}
    runs = [run("full", [0.80, 0.90], [10.0, 20.0]),
            run("crest", [0.70, 0.85], [2.0, 4.0])]
    summary = stats.summarize(runs)
    assert summary["crest"]["relative_error"] == pytest.approx((0.90 - 0.85) / 0.90)
    assert summary["crest"]["speedup_wall"] == pytest.approx(5.0)
    # full first reaches 0.85 after its second epoch (20 s); crest took 4 s.
    assert summary["crest"]["speedup_to_accuracy"] == pytest.approx(5.0)
    assert summary["crest"]["overhead_share"] == pytest.approx(0.5)
    assert math.isnan(stats.time_to_reach(runs[0], 0.95))


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--methods", "crest,bogus"])
    with pytest.raises(SystemExit):
        cli.main(["--model", "cnn", "--label-noise", "1.5"])
    assert "usage" in capsys.readouterr().err


def test_table_without_full_leaves_comparisons_blank():
    run = {"method": "crest", "seed": 0, "test_acc": [0.5, 0.6], "wall_s": [1.0, 2.0],
           "steps": [1, 2], "examples_seen": [10, 20], "selection_s": 0.5,
           "check_s": 0.5, "n_selections": 1}
    table = report.format_table(stats.summarize([run]))
    row = [line for line in table.splitlines() if line.startswith("| crest")][0]
    assert "nan" not in row
    # vs random, relative error, selection cost, speedup, speedup to
    # accuracy: all blank.
    assert row.count("| - ") == 5


def test_paper_schedule_warms_up_then_decays_twice():
    factor = runner.paper_lr_factor(20)
    assert [factor(e) for e in range(20)] == (
        [0.5, 1.0] + [1.0] * 10 + [0.1] * 5 + [0.01] * 3)
    # Ten epochs: still two warm-up epochs; decays at epochs 6 and 9.
    short = runner.paper_lr_factor(10)
    assert [short(e) for e in range(10)] == (
        [0.5, 1.0] + [1.0] * 4 + [0.1] * 3 + [0.01])
    assert runner.paper_lr_factor(1)(0) == 1.0


def test_paper_schedule_reaches_the_optimizer(tmp_path):
    code = cli.main(["--epochs", "5", "--seeds", "1", "--hidden", "16",
                           "--methods", "random", "--out", str(tmp_path),
                           "--quiet"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["schedule"] == "paper"
    # The optimizer's rate per epoch: 0.1 times the paper's factor.
    factor = runner.paper_lr_factor(5)
    np.testing.assert_allclose(results["runs"][0]["lr"],
                               [0.1 * factor(e) for e in range(5)])


def test_equal_time_row_and_paired_differences(tmp_path):
    code = cli.main(["--epochs", "2", "--seeds", "2", "--hidden", "16",
                           "--methods", "random,crest,per_step,random_at_crest_time,"
                           "random_at_per_step_time",
                           "--out", str(tmp_path), "--quiet"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    runs = {(r["method"], r["seed"]): r for r in results["runs"]}
    for seed in (0, 1):
        crest, random = runs["crest", seed], runs["random", seed]
        equal = runs["random_at_crest_time", seed]
        expected = runner.equal_time_train_frac(crest, random, 0.1)
        assert equal["train_frac"] == pytest.approx(expected)
        # It trains at that budget: 1,257 digits, batch 32, 2 epochs. (Which
        # of crest and random is slower is timing, not asserted here.)
        assert equal["steps"][-1] == 2 * math.ceil(equal["train_frac"] * 1257 / 32)
        per_step = runs["per_step", seed]
        assert runs["random_at_per_step_time", seed]["train_frac"] == pytest.approx(
            runner.equal_time_train_frac(per_step, random, 0.1))
        # A fresh coreset at every step after the random first epoch.
        assert per_step["selections_per_epoch"] == [0, per_step["steps"][-1] // 2]
    summary = results["summary"]
    diffs = [runs["crest", s]["test_acc"][-1] - runs["random", s]["test_acc"][-1]
             for s in (0, 1)]
    assert summary["crest"]["vs_random_mean"] == pytest.approx(np.mean(diffs))
    assert summary["crest"]["vs_random_se"] == pytest.approx(
        np.std(diffs, ddof=1) / np.sqrt(2))
    assert 0 < summary["crest"]["of_per_step_accuracy"] < 2
    assert "vs_random_mean" not in summary["random"]
    equal = [runs["random_at_crest_time", s]["test_acc"][-1]
             - runs["crest", s]["test_acc"][-1] for s in (0, 1)]
    assert summary["random_at_crest_time"]["vs_timed_mean"] == pytest.approx(
        np.mean(equal))
    table = (tmp_path / "summary.md").read_text()
    assert "random_at_crest_time minus crest at equal wall-clock" in table
    assert "crest keeps" in table


def test_equal_time_train_frac_scales_by_the_wall_clock_ratio():
    crest = {"wall_s": [1.0, 6.0]}
    random = {"wall_s": [0.5, 2.0]}
    assert runner.equal_time_train_frac(crest, random, 0.1) == pytest.approx(0.3)
    # Never more than full training.
    assert runner.equal_time_train_frac(crest, random, 0.5) == 1.0


def test_validation_split_holds_out_part_of_the_training_set():
    X_train, y_train, X_eval, y_eval = data.load_data(
        "digits", "mlp", eval_set="validation")
    X_full, y_full, X_test, _ = data.load_data("digits", "mlp")
    assert len(y_train) + len(y_eval) == len(y_full)
    # Held out from the training rows, never the test rows.
    test_rows = {row.tobytes() for row in X_test}
    assert not any(row.tobytes() in test_rows for row in X_eval)
    assert np.bincount(y_eval).min() > 0


def test_bad_train_frac_is_an_argparse_error(capsys):
    for value in ("2", "0"):
        with pytest.raises(SystemExit):
            cli.main(["--train-frac", value])
    assert "--train-frac must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--methods", "random_at_crest_time"])


def test_merge_combines_folders_and_refuses_unlike_runs(tmp_path, capsys):
    common = ["--epochs", "2", "--hidden", "16", "--quiet", "--seeds", "1"]
    cli.main(common + ["--methods", "full", "--out", str(tmp_path / "a")])
    cli.main(common + ["--methods", "random,crest", "--out", str(tmp_path / "b")])
    capsys.readouterr()
    code = cli.main(["--merge", str(tmp_path / "a"), str(tmp_path / "b"),
                           "--out", str(tmp_path / "m")])
    assert code == 0
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    assert [r["method"] for r in merged["runs"]] == ["full", "random", "crest"]
    # Comparisons with full exist only once the folders are merged.
    assert "relative_error" in merged["summary"]["crest"]
    assert (tmp_path / "m" / "accuracy_vs_time.png").stat().st_size > 0
    # Unlike settings, or the same run twice, are refused with the reason.
    cli.main(common + ["--methods", "random", "--epochs", "3",
                             "--out", str(tmp_path / "c")])
    capsys.readouterr()
    assert cli.main(["--merge", str(tmp_path / "a"), str(tmp_path / "c"),
                           "--out", str(tmp_path / "x")]) == 2
    assert "its epochs is 3, not 2" in capsys.readouterr().err
    assert cli.main(["--merge", str(tmp_path / "b"), str(tmp_path / "b"),
                           "--out", str(tmp_path / "x")]) == 2
    assert "already in an earlier folder" in capsys.readouterr().err


def test_paper_layout_table_on_hand_made_runs():
    def run(method, acc, wall, selection_s=0.0, forward_s=0.0, n_selections=0):
        return {"method": method, "seed": 0, "test_acc": [acc], "wall_s": [wall],
                "steps": [10], "examples_seen": [100], "selection_s": selection_s,
                "selection_forward_s": forward_s, "check_s": 0.0,
                "n_selections": n_selections}
    runs = [run("full", 0.90, 100.0), run("random", 0.81, 10.0),
            run("gradmatch", 0.855, 40.0, selection_s=30.0, forward_s=20.0,
                n_selections=3)]
    paper = report.format_paper_table(stats.summarize(runs))
    lines = paper.splitlines()
    # The paper's order: random before gradmatch; full is the reference.
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| random", "| gradmatch"]
    gradmatch = lines[3]
    assert "5.00%" in gradmatch        # (0.90 - 0.855) / 0.90
    assert "2.50x" in gradmatch        # 100 s / 40 s
    assert "30.0 (20.0)" in gradmatch  # selection s (forward pass s)
    assert "+50%" in gradmatch         # 10 s beyond a 20 s pass
    assert "In the paper's layout" in report.format_report(
        stats.summarize(runs))
    # Without full training there is nothing to compare against.
    assert report.format_paper_table(stats.summarize(runs[1:])) == ""


def test_the_command_runs_the_paper_baselines(tmp_path, capsys):
    code = cli.main(["--epochs", "3", "--seeds", "1", "--hidden", "32",
                           "--methods", "full,random,craig,gradmatch",
                           "--out", str(tmp_path), "--quiet"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    by_method = {r["method"]: r for r in results["runs"]}
    for method in ("craig", "gradmatch"):
        run = by_method[method]
        # One selection per epoch after the random first one, each a forward
        # pass over the whole training set.
        assert run["selections_per_epoch"] == [0, 1, 1]
        assert 0 < run["selection_forward_s"] <= run["selection_s"]
    assert "| craig |" in capsys.readouterr().out


def test_selection_cost_is_extra_time_per_selection_in_random_steps():
    def run(method, seed, wall, steps, n_selections=0):
        return {"method": method, "seed": seed, "test_acc": [0.8], "wall_s": [wall],
                "steps": [steps], "examples_seen": [steps], "selection_s": 0.0,
                "check_s": 0.0, "n_selections": n_selections,
                "n_forward_examples": 10 * n_selections}
    runs = [run("random", 0, 10.0, 100), run("random", 1, 20.0, 100),
            # seed 0: 5 s beyond random's 10 s for 50 selections of 0.1 s
            # steps = 1 step each; seed 1: 30 s beyond for 50 of 0.2 s = 3.
            run("per_step", 0, 15.0, 100, 50), run("per_step", 1, 50.0, 100, 50),
            run("crest", 0, 12.0, 100, 4), run("crest", 1, 24.0, 100, 4)]
    summary = stats.summarize(runs)
    assert summary["per_step"]["selection_cost_steps"] == pytest.approx(2.0)  # median
    assert summary["crest"]["selection_cost_steps"] == pytest.approx(5.0)
    assert math.isnan(summary["random"].get("selection_cost_steps", math.nan))
    assert summary["per_step"]["forward_examples_per_step"] == pytest.approx(5.0)
    assert summary["crest"]["of_per_step_time"] == pytest.approx((12 / 15 + 24 / 50) / 2)
    assert summary["crest"]["of_per_step_forward"] == pytest.approx(40 / 500)
    table = report.format_table(summary)
    assert "selection cost (steps)" in table
    assert "forwarding 8% of its examples" in table


def test_the_warm_up_fits_each_selection_once_untimed(tmp_path, monkeypatch):
    calls = []
    original = runner.run_one

    def recording(method, seed, data, args, log, train_frac=None):
        calls.append((method, args.epochs))
        return original(method, seed, data, args, log, train_frac)
    monkeypatch.setattr(runner, "run_one", recording)
    common = ["--epochs", "3", "--seeds", "1", "--hidden", "16", "--quiet",
              "--methods", "random,per_step,random_at_per_step_time"]
    assert cli.main(common + ["--out", str(tmp_path / "a")]) == 0
    # One 2-epoch warm-up per selection (random_at_* is random), then the runs.
    assert calls[:2] == [("random", 2), ("per_step", 2)]
    assert [c[0] for c in calls[2:]] == ["random", "per_step",
                                         "random_at_per_step_time"]
    calls.clear()
    assert cli.main(common + ["--out", str(tmp_path / "b"), "--no-warm-up"]) == 0
    assert len(calls) == 3
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["config"]["device"] == "cpu"


def test_one_seed_prints_no_spread_and_bad_passthrough_values_are_usage_errors(
        tmp_path, capsys):
    code = cli.main(["--epochs", "2", "--seeds", "1", "--hidden", "16", "--quiet",
                           "--methods", "random,per_step,random_at_per_step_time",
                           "--out", str(tmp_path)])
    assert code == 0
    report = capsys.readouterr().out
    random_row = [line for line in report.splitlines() if line.startswith("| random |")][0]
    assert "+-" not in random_row  # no "+- 0.0000" from a single seed
    assert "At equal wall-clock, random batches minus the method: per_step" in report
    for option, value in (("--region-coresets", "foo"), ("--check-thresh-factor", "-1"),
                          ("--random-subset-size", "x"), ("--check-loss", "both")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([option, value])
        assert exit_info.value.code == 2
        assert "usage" in capsys.readouterr().err


def test_every_option_has_help_and_no_contradicting_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    for option in ("--dataset", "--model", "--seeds", "--first-seed", "--out",
                   "--data-home", "--quiet", "--drop-learned", "--selection-metric"):
        # Each option is followed by a description, not by the next option.
        after = text.split(option, 2)[-1].split("--", 1)[0]
        assert len(after.strip()) > 10, option


# InfoBatch, its random baselines, and RS2.

def _fake_run(method, seed, accuracy, walls, steps, n_selections=0, **extra):
    """A run as run_one returns it, for tests that train nothing."""
    epochs = len(walls)
    return {"method": method, "seed": seed, "train_frac": None,
            "lr": [0.1] * epochs, "test_acc": [accuracy] * epochs,
            "wall_s": list(walls), "steps": list(steps),
            "examples_seen": [32 * s for s in steps], "selection_s": 0.0,
            "selection_forward_s": 0.0, "check_s": 0.0,
            "n_selections": n_selections, "n_checks": 0, "n_forward_examples": 0,
            "selections_per_epoch": [0] * epochs, "selected_loss": [None] * epochs,
            "subset_loss": [None] * epochs, "pool_size": [1257] * epochs, **extra}


def test_the_new_methods_are_accepted_and_ordered_after_their_budgets(capsys):
    args = cli.parse_args(
        ["--methods", "random_pruning,random_at_infobatch_time,rs2,infobatch,"
                      "random,full"])
    # Each budget-taking row after the runs it takes its budget from.
    assert args.methods == ["full", "random", "rs2", "infobatch",
                            "random_at_infobatch_time", "random_pruning"]
    assert cli.parse_args(["--methods", "infobatch"]).methods == ["infobatch"]
    assert methods.DEFAULT_METHODS == ("full", "random", "per_step", "crest",
                                       "random_at_per_step_time", "random_at_crest_time")
    for chosen in ("random,random_pruning", "infobatch,random_at_infobatch_time"):
        with pytest.raises(SystemExit):
            cli.main(["--methods", chosen])
    err = capsys.readouterr().err
    assert "random_pruning needs infobatch in --methods" in err
    assert "random_at_infobatch_time needs infobatch and random" in err
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for method in ("infobatch", "rs2", "random_pruning", "random_at_infobatch_time"):
        assert method in help_text


def test_random_pruning_gets_infobatchs_steps_and_equal_time_its_wall_clock(
        tmp_path, monkeypatch):
    """The per-seed budgets, with the timing mocked: no training."""
    calls = []
    # seed: (InfoBatch's total steps, its wall-clock, random's wall-clock)
    infobatch_runs = {0: (70, 1.0, 0.2), 1: (66, 1.2, 0.4)}
    accuracy = {"full": (0.95, 0.96), "random": (0.80, 0.82), "rs2": (0.83, 0.83),
                "infobatch": (0.94, 0.96), "random_pruning": (0.93, 0.95),
                "random_at_infobatch_time": (0.90, 0.92)}

    def fake_run_one(method, seed, data, args, log, train_frac=None):
        calls.append((method, seed, train_frac))
        steps, infobatch_wall, random_wall = infobatch_runs[seed]
        acc = accuracy[method][seed]
        if method == "full":
            return _fake_run(method, seed, acc, [1.5, 3.0], [40, 80])
        if method in ("random", "rs2"):
            return _fake_run(method, seed, acc, [random_wall / 2, random_wall], [4, 8])
        if method == "infobatch":
            return _fake_run(method, seed, acc, [0.5, infobatch_wall], [40, steps],
                             kept_per_epoch=[1257, 1000], pruned_per_epoch=[0, 257])
        per_epoch = math.ceil(train_frac * 1257 / 32)
        return _fake_run(method, seed, acc, [0.5, 1.0], [per_epoch, 2 * per_epoch])
    monkeypatch.setattr(runner, "run_one", fake_run_one)
    code = cli.main(["--epochs", "2", "--seeds", "2", "--no-warm-up", "--quiet",
                           "--methods", "full,random,rs2,infobatch,random_pruning,"
                                        "random_at_infobatch_time",
                           "--out", str(tmp_path)])
    assert code == 0
    budgets = {(m, s): f for m, s, f in calls}
    for seed, (steps, infobatch_wall, random_wall) in infobatch_runs.items():
        # Full training: 2 epochs of ceil(1257 / 32) = 40 steps.
        assert budgets["random_pruning", seed] == pytest.approx(steps / 80)
        assert budgets["random_at_infobatch_time", seed] == pytest.approx(
            0.1 * infobatch_wall / random_wall)
        assert budgets["infobatch", seed] is None
        assert budgets["rs2", seed] is None  # the run's own train_frac
    # Within a seed, InfoBatch and random run before the rows that need them.
    assert [m for m, s, _ in calls if s == 0] == [
        "full", "random", "rs2", "infobatch", "random_at_infobatch_time",
        "random_pruning"]
    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["summary"]
    assert set(summary) == set(accuracy)
    infobatch = summary["infobatch"]
    assert infobatch["vs_full_mean"] == pytest.approx(-0.005)
    assert infobatch["wall_saved_mean"] == pytest.approx(
            np.mean([1 - 1.0 / 3.0, 1 - 1.2 / 3.0]))
    assert infobatch["pruned_share"] == pytest.approx(257 / 2514)
    assert summary["random_pruning"]["vs_steps_mean"] == pytest.approx(-0.01)
    assert summary["random_at_infobatch_time"]["vs_timed_mean"] == pytest.approx(-0.04)
    assert summary["rs2"]["vs_random_mean"] == pytest.approx(0.02)
    report = (tmp_path / "summary.md").read_text()
    for method in accuracy:
        assert f"| {method} |" in report
    assert ("Verdict: InfoBatch minus full data: -0.50 pt +- 0.50 (within 2 "
            "standard errors) in accuracy, with " in report)
    steps_saved = 1 - summary["infobatch"]["steps"] / summary["full"]["steps"]
    assert (f"{steps_saved:.0%} of full's steps saved and 63% +- 3% of its "
            "wall-clock saved" in report)
    assert ("10% of the epochs' examples pruned; minus random batches at its steps "
            "(random_pruning): +1.00 pt" in report)
    assert ("minus random batches at its wall-clock (random_at_infobatch_time): "
            "+4.00 pt" in report)
    assert ("RS2 (random batches without replacement) minus random (with "
            "replacement) at equal steps: +2.00 pt +- 1.00" in report)
    assert "random_pruning minus infobatch at equal steps: -1.00 pt" in report
    assert "random_at_infobatch_time minus infobatch at equal wall-clock" in report
    # The coreset sentences need a coreset method; none ran.
    assert "Equal wall-clock not measured" not in report
    # InfoBatch's rows are in the paper's layout too.
    paper = report.split("In the paper's layout")[1]
    for method in ("rs2", "infobatch", "random_pruning", "random_at_infobatch_time"):
        assert f"| {method} |" in paper
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 0


def test_methods_that_choose_no_examples_show_no_selection_figures():
    runs = [_fake_run("random", 0, 0.8, [1.0], [10]),
            # As if a sampler counted its draws: still not a selection.
            _fake_run("rs2", 0, 0.8, [1.0], [10], n_selections=2),
            _fake_run("infobatch", 0, 0.8, [5.0], [80]),
            _fake_run("random_pruning", 0, 0.8, [4.0], [80], n_selections=1)]
    summary = stats.summarize(runs)
    assert "selection_cost_steps" not in summary["rs2"]
    table = report.format_table(summary)
    for method in ("rs2", "infobatch", "random_pruning"):
        cells = [line for line in table.splitlines()
                 if line.startswith(f"| {method} |")][0].split(" | ")
        # updates/step and selection cost (steps).
        assert cells[6:8] == ["-", "-"], method


def test_the_verdict_speaks_of_infobatch_and_rs2_only_when_compared():
    def summary(*methods):
        return stats.summarize([_fake_run(m, 0, 0.9, [1.0], [10]) for m in methods])
    assert stats.verdict(summary("full")).startswith("Verdict: nothing to compare")
    assert "InfoBatch not compared: add full" in stats.verdict(summary("infobatch"))
    assert "RS2 not compared: add random" in stats.verdict(summary("rs2"))
    text = stats.verdict(summary("full", "random", "rs2", "infobatch", "crest"))
    assert text.startswith("Verdict: at equal steps, against random batches: crest ")
    assert "InfoBatch minus full data: +0.00 pt in accuracy" in text
    assert "RS2 (random batches without replacement) minus random" in text


def test_the_warm_up_fits_rs2_apart_from_random(tmp_path, monkeypatch):
    calls = []

    def fake_run_one(method, seed, data, args, log, train_frac=None):
        calls.append((method, args.epochs))
        steps = [40, 80] if method in ("full", "infobatch") else [4, 8]
        return _fake_run(method, seed, 0.9, [0.5, 1.0], steps)
    monkeypatch.setattr(runner, "run_one", fake_run_one)
    assert cli.main(["--epochs", "3", "--seeds", "1", "--quiet",
                           "--methods", "random,rs2,infobatch,random_pruning,"
                                        "random_at_infobatch_time",
                           "--out", str(tmp_path)]) == 0
    # rs2 samples differently from random; the random_* rows are random.
    assert calls[:3] == [("random", 2), ("rs2", 2), ("infobatch", 2)]
    assert len(calls) == 3 + 5


def test_the_command_runs_infobatch_rs2_and_their_baselines(tmp_path, monkeypatch):
    """On digits, for real: needs CrestClassifier's selection="infobatch"
    and random_sampling."""
    import torch
    made = []
    real = runner.CrestClassifier

    def recording(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)
    recording._parameter_constraints = real._parameter_constraints
    monkeypatch.setattr(runner, "CrestClassifier", recording)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = cli.main(["--epochs", "4", "--seeds", "2", "--hidden", "16",
                               "--quiet", "--no-warm-up", "--methods",
                               "full,random,rs2,infobatch,random_at_infobatch_time,"
                               "random_pruning", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    by_selection = {}
    for kwargs in made:
        by_selection.setdefault(
            (kwargs["selection"], kwargs.get("selection__random_sampling")), []).append(kwargs)
    # InfoBatch takes no train_frac; rs2 samples without replacement, random
    # (and its budget rows) explicitly with.
    assert all("train_frac" not in k for k in by_selection["infobatch", None])
    assert len(by_selection["random", "without_replacement"]) == 2
    assert len(by_selection["random", "with_replacement"]) == 2 * 3
    results = json.loads((tmp_path / "results.json").read_text())
    runs = {(r["method"], r["seed"]): r for r in results["runs"]}
    for seed in (0, 1):
        infobatch, random = runs["infobatch", seed], runs["random", seed]
        assert infobatch["train_frac"] is None
        # Pruning: fewer steps than full's 4 x 40, every example kept or pruned.
        assert infobatch["steps"][-1] < runs["full", seed]["steps"][-1] == 160
        assert sum(infobatch["pruned_per_epoch"]) > 0
        assert all(k + p == 1257 for k, p in zip(infobatch["kept_per_epoch"],
                                                  infobatch["pruned_per_epoch"]))
        assert infobatch["examples_seen"][-1] == sum(infobatch["kept_per_epoch"])
        pruning = runs["random_pruning", seed]
        assert pruning["train_frac"] == pytest.approx(
            runner.equal_steps_train_frac(infobatch, 1257, 32, 4))
        assert pruning["train_frac"] == pytest.approx(infobatch["steps"][-1] / 160)
        # As many steps as InfoBatch's, up to the rounding of equal epochs.
        assert pruning["steps"][-1] == 4 * math.ceil(pruning["train_frac"] * 1257 / 32)
        assert abs(pruning["steps"][-1] - infobatch["steps"][-1]) < 4
        assert runs["random_at_infobatch_time", seed]["train_frac"] == pytest.approx(
            runner.equal_time_train_frac(infobatch, random, 0.1))
        assert runs["rs2", seed]["random_sampling"] == "without_replacement"
        assert random["random_sampling"] == "with_replacement"
        assert runs["rs2", seed]["steps"] == random["steps"]
    summary = results["summary"]
    assert 0 < summary["infobatch"]["pruned_share"] < 1
    assert np.isfinite(summary["infobatch"]["wall_saved_mean"])
    report = (tmp_path / "summary.md").read_text()
    assert "Verdict: InfoBatch minus full data: " in report
    assert "of full's steps saved and " in report and "of its wall-clock saved" in report
    assert "minus random batches at its steps (random_pruning): " in report
    assert "RS2 (random batches without replacement) minus random (with " in report
    assert "random_pruning: random batches with infobatch's total steps" in report


def test_the_verdict_says_when_a_run_is_too_small_to_answer():
    summary = {"random": {"n_seeds": 1}, "crest": {"n_seeds": 1,
                                                     "vs_random_mean": 0.004}}
    text = stats.verdict(summary, {"epochs": 2})
    assert "Caveats: one seed: no standard error" in text
    assert "2 epoch(s): the first is the random warm-up" in text
    summary = {"random": {"n_seeds": 3},
               "crest": {"n_seeds": 3, "vs_random_mean": 0.004, "vs_random_se": 0.003}}
    text = stats.verdict(summary, {"epochs": 20})
    assert "crest +0.40 pt +- 0.30 (within 2 standard errors)" in text
    assert "Caveats" not in text
    summary["crest"]["vs_random_se"] = 0.001
    assert "standard errors" not in stats.verdict(summary, {"epochs": 20})


# Provenance: what produced a result file.

def test_results_record_their_provenance(finished_run):
    _, out = finished_run
    results = json.loads((out / "results.json").read_text())
    origin = results["provenance"]
    for key in ("sklearn_crest", "python", "torch", "skorch", "scikit-learn",
                "numpy", "device", "processor", "date"):
        assert isinstance(origin[key], str) and origin[key], key
    assert origin["device"] == "cpu"
    assert origin["device_name"] == origin["processor"]
    assert isinstance(origin["cpu_count"], int) and origin["cpu_count"] >= 1
    # The fixture runs with one torch thread.
    assert origin["torch_threads"] == 1
    assert origin["date"].endswith("Z") and origin["date"][:4].isdigit()
    # A commit and a dirty flag from a checkout; neither from an install.
    assert (origin["commit"] is None) == (origin["dirty"] is None)
    if origin["commit"] is not None:
        assert isinstance(origin["commit"], str) and isinstance(origin["dirty"], bool)
    # The report names the machine and the versions on the line after the run.
    lines = (out / "summary.md").read_text().splitlines()
    assert lines[1].startswith(origin["processor"])
    assert f"torch {origin['torch']}" in lines[1] and "device cpu" in lines[1]
    # No absolute path of the machine that ran it.
    assert not Path(results["config"]["out"]).is_absolute()


def test_git_commit_is_none_outside_a_checkout_or_without_git(tmp_path, monkeypatch):
    from crest_benchmark.provenance import git_commit
    assert git_commit(tmp_path) == (None, None)
    # A folder inside some other repository (say, site-packages in a
    # checkout's virtual environment) is not a checkout of the package.
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        (tmp_path / "site" / "pkg").mkdir(parents=True)
        assert git_commit(tmp_path / "site" / "pkg") == (None, None)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert git_commit(Path(runner.__file__).parents[1] / "sklearn_crest") == (None, None)


def test_the_provenance_line_names_device_and_commit():
    from crest_benchmark.provenance import describe
    line = describe({"processor": "Some CPU", "cpu_count": 8, "torch_threads": 4,
                     "device": "cuda", "device_name": "Some GPU",
                     "sklearn_crest": "0.1.0", "commit": "abc1234", "dirty": True,
                     "torch": "2.1", "skorch": "1.1", "scikit-learn": "1.6",
                     "numpy": "2.0", "python": "3.11.7", "date": "2026-01-01T00:00:00Z"})
    assert line.startswith("Some CPU, 8 CPUs, 4 torch threads, device cuda (Some GPU)")
    assert "sklearn-crest 0.1.0 (abc1234, dirty)" in line
    assert "predates" in describe(None)


def test_a_merge_keeps_each_parts_provenance(tmp_path, capsys):
    common = ["--epochs", "1", "--hidden", "16", "--quiet", "--seeds", "1",
              "--no-warm-up"]
    cli.main(common + ["--methods", "random", "--out", str(tmp_path / "a")])
    cli.main(common + ["--methods", "random", "--first-seed", "1",
                       "--out", str(tmp_path / "b")])
    # A folder written before provenance existed.
    older = json.loads((tmp_path / "b" / "results.json").read_text())
    del older["provenance"]
    (tmp_path / "b" / "results.json").write_text(json.dumps(older))
    capsys.readouterr()
    assert cli.main(["--merge", str(tmp_path / "a"), str(tmp_path / "b"),
                     "--out", str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    assert [part["folder"] for part in merged["parts"]] == ["a", "b"]
    assert merged["parts"][0]["provenance"] == a["provenance"]
    assert merged["parts"][1]["provenance"] is None
    assert merged["parts"][1]["runs"] == [["random", 1]]
    # The merge's own provenance: the code that summarised, no device.
    assert merged["provenance"]["device"] is None
    assert f"a: {a['provenance']['processor']}" in printed
    assert "b: provenance: not recorded" in printed
    # Paths as given relative to the working folder, else by name: never
    # the absolute paths of this machine.
    text = (tmp_path / "m" / "results.json").read_text()
    assert str(tmp_path) not in text
    assert merged["config"]["merged_from"] == ["a", "b"]
    # Merging a merge keeps the inner parts.
    assert cli.main(["--merge", str(tmp_path / "m"), "--out", str(tmp_path / "n")]) == 0
    nested = json.loads((tmp_path / "n" / "results.json").read_text())
    assert [p["folder"] for p in nested["parts"][0]["parts"]] == ["a", "b"]
    assert "m/a: " in capsys.readouterr().out


def test_portable_paths_are_relative_or_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert report.portable_path(tmp_path / "x" / "y") == str(Path("x", "y"))
    assert report.portable_path("x/y") == "x/y"
    assert report.portable_path(tmp_path.parent / "elsewhere") == "elsewhere"


# The table of methods is the one source of what a method is.

def test_every_method_the_command_names_is_one_entry_of_the_table(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    listed = text.split("comma-separated, of ", 1)[1].split(";", 1)[0]
    assert tuple(listed.split(", ")) == methods.NAMES
    assert len(set(methods.NAMES)) == len(methods.METHODS)
    assert set(methods.DEFAULT_METHODS) <= set(methods.NAMES)
    assert cli.parse_args([]).methods == sorted(methods.DEFAULT_METHODS,
                                                key=methods.NAMES.index)


def test_every_reference_in_the_table_points_at_an_earlier_method():
    from sklearn_crest.selection import STRATEGIES
    order = {name: i for i, name in enumerate(methods.NAMES)}
    for entry in methods.METHODS:
        assert entry.selection in STRATEGIES, entry.name
        assert (entry.random_sampling is not None) == (entry.selection == "random")
        for reference in (entry.equal_time_of, entry.equal_steps_of,
                          entry.same_plan_of, entry.approximates):
            assert reference is None or reference in order, entry.name
        # The runs a budget comes from run first within a seed.
        for reference in entry.budget_from:
            assert order[reference] < order[entry.name], entry.name
        assert not (entry.equal_time_of and entry.equal_steps_of), entry.name
    for rank in ("paper_rank", "verdict_rank"):
        ranks = [getattr(m, rank) for m in methods.METHODS
                 if getattr(m, rank) is not None]
        assert len(ranks) == len(set(ranks)), rank
    assert len({m.color for m in methods.METHODS}) == len(methods.METHODS)


def test_selection_settings_are_the_estimators_parameters():
    from sklearn_crest import CrestClassifier
    from sklearn_crest._models import MLP
    from sklearn_crest.selection import STRATEGIES
    args = cli.parse_args(["--check-thresh-factor", "0.5", "--prune-ratio", "0.3",
                           "--drop-learned"])
    for entry in methods.METHODS:
        settings = methods.selection_settings(entry.name, args)
        net = CrestClassifier(MLP, **settings)
        strategy = net._check_crest_params()  # every setting is the strategy's
        assert isinstance(strategy, entry.strategy or STRATEGIES[entry.selection])
        params = net.get_params()
        # Each option reaches the strategies that have it, and only those.
        for option, value in (("check_thresh_factor", 0.5), ("prune_ratio", 0.3),
                              ("drop_learned", True)):
            if option in strategy.get_params():
                assert params[f"selection__{option}"] == value, entry.name
            else:
                assert f"selection__{option}" not in params, entry.name
