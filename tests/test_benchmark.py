"""The benchmark command on the embedded dataset, with tiny settings."""

import csv
import json
import math

import numpy as np
import pytest

from sklearn_crest import benchmark


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("bench")
    try:
        code = benchmark.main(["--epochs", "3", "--seeds", "2", "--hidden", "32",
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
    assert len(results["runs"]) == 6  # 3 methods x 2 seeds
    assert set(results["summary"]) == {"full", "random", "crest"}
    steps = {m: results["summary"][m]["steps"] for m in results["summary"]}
    # 1,257 training digits, batch 32: full 40 steps/epoch; 10%: ceil(125.7/32)=4.
    assert steps == {"full": 120, "random": 12, "crest": 12}
    crest = [r for r in results["runs"] if r["method"] == "crest"]
    assert all(r["n_selections"] >= 1 for r in crest)
    assert all(0 <= acc <= 1 for r in results["runs"] for acc in r["test_acc"])
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 * 3  # one row per run and epoch
    table = (out / "summary.md").read_text()
    for method in ("full", "random", "crest"):
        assert f"| {method} |" in table
    assert "test acc" in table and "speedup" in table


def test_quiet_prints_only_the_table(tmp_path, capsys):
    benchmark.main(["--epochs", "1", "--seeds", "1", "--hidden", "16",
                    "--methods", "random,crest", "--out", str(tmp_path), "--quiet"])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "| crest |" in captured.out


def test_progress_lines_without_quiet(tmp_path, capsys):
    benchmark.main(["--epochs", "2", "--seeds", "1", "--hidden", "16",
                    "--methods", "crest", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.count("[ crest seed 0] epoch") == 2


def test_flip_labels_flips_the_fraction_to_other_classes():
    y = np.repeat(np.arange(10), 100)
    noisy = benchmark.flip_labels(y, 0.2, seed=0)
    assert np.sum(noisy != y) == 200
    assert set(np.unique(noisy)) <= set(range(10))
    np.testing.assert_array_equal(noisy, benchmark.flip_labels(y, 0.2, seed=0))


def test_summary_figures_on_hand_made_runs():
    def run(method, accs, walls):
        return {"method": method, "seed": 0, "test_acc": accs, "wall_s": walls,
                "steps": [10, 20], "examples_seen": [100, 200], "selection_s": 1.0,
                "check_s": 1.0, "n_selections": 2}
    runs = [run("full", [0.80, 0.90], [10.0, 20.0]),
            run("crest", [0.70, 0.85], [2.0, 4.0])]
    summary = benchmark.summarize(runs)
    assert summary["crest"]["relative_error"] == pytest.approx((0.90 - 0.85) / 0.90)
    assert summary["crest"]["speedup_wall"] == pytest.approx(5.0)
    # full first reaches 0.85 after its second epoch (20 s); crest took 4 s.
    assert summary["crest"]["speedup_to_accuracy"] == pytest.approx(5.0)
    assert summary["crest"]["overhead_share"] == pytest.approx(0.5)
    assert math.isnan(benchmark.time_to_reach(runs[0], 0.95))


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["--methods", "crest,bogus"])
    with pytest.raises(SystemExit):
        benchmark.main(["--model", "cnn", "--label-noise", "1.5"])
    assert "usage" in capsys.readouterr().err


def test_table_without_full_leaves_comparisons_blank():
    run = {"method": "crest", "seed": 0, "test_acc": [0.5, 0.6], "wall_s": [1.0, 2.0],
           "steps": [1, 2], "examples_seen": [10, 20], "selection_s": 0.5,
           "check_s": 0.5, "n_selections": 1}
    table = benchmark.format_table(benchmark.summarize([run]))
    row = [line for line in table.splitlines() if line.startswith("| crest")][0]
    assert "nan" not in row
    assert row.count("| - ") == 3
