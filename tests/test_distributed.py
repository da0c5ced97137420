"""Data-parallel fits: two processes (gloo, on the CPU) through
``AcceleratedCrestClassifier``, against each other and against one process.

The two processes run ``distributed_worker.py`` under ``torchrun``; every
selection mode of ``distributed_cases.py`` is fitted once (per_step twice,
for reproducibility). A hang would fail on the launcher's timeout.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_crest import AcceleratedCrestClassifier, CrestClassifier
from sklearn_crest._processes import SINGLE_PROCESS, TrainingProcesses, training_processes
from sklearn_crest.selection import STRATEGIES

sys.path.insert(0, str(Path(__file__).parent))
from distributed_cases import (  # noqa: E402
    BATCH_SIZE, CASES, COMMON, DATASET_CASES, RECIPE_CASES, IndexedMLP, digits_split)

WORKER = Path(__file__).parent / "distributed_worker.py"
# Every fit the worker runs: the modes on arrays, two on a Dataset, two
# through skorch's own recipe (class Net(AccelerateMixin, CrestClassifier)),
# and a fit continued by partial_fit.
ALL_CASES = [*CASES, *DATASET_CASES, *RECIPE_CASES, "crest_continued"]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both processes' records of every case."""
    out = tmp_path_factory.mktemp("data-parallel")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(WORKER), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.parametrize("case", ALL_CASES)
def test_processes_train_disjoint_examples_at_every_step(ranks, case):
    first, second = ranks[0][case]["steps"], ranks[1][case]["steps"]
    assert len(first) == len(second) > 0
    for mine, theirs in zip(first, second):
        assert len(mine) and len(theirs)
        assert not set(mine) & set(theirs)
    # Each process trains on its own share of the data throughout.
    seen = [set(np.concatenate(steps).astype(int)) for steps in (first, second)]
    assert not seen[0] & seen[1]


def test_an_epoch_keeps_the_step_budget(ranks):
    """Steps of 2 x batch_size examples: an epoch of "full" covers the
    training set once, in ceil(n / (2 * batch_size)) steps; one of "random"
    has ceil(train_frac * n / (2 * batch_size)) steps of full batches."""
    n = len(digits_split()[0])
    epochs = COMMON["max_epochs"]
    full_steps = -(-n // (2 * BATCH_SIZE))
    first, second = ranks[0]["full"]["steps"], ranks[1]["full"]["steps"]
    assert len(first) == epochs * full_steps
    epoch = [p for steps in (first[:full_steps], second[:full_steps]) for s in steps
             for p in s]
    assert sorted(epoch) == list(range(n))
    random_steps = int(np.ceil(COMMON["train_frac"] * n / (2 * BATCH_SIZE)))
    assert ranks[0]["random"]["history"]["n_steps"] == [random_steps] * epochs
    assert all(len(s) == BATCH_SIZE for s in ranks[0]["random"]["steps"])


@pytest.mark.parametrize("case", ALL_CASES)
def test_parameters_are_identical_after_every_epoch(ranks, case):
    digests = [rank[case]["digests"] for rank in ranks]
    calls = 2 if case == "crest_continued" else 1
    assert len(digests[0]) == calls * COMMON["max_epochs"]
    assert len(set(digests[0])) == len(digests[0])  # they did train
    assert digests[0] == digests[1]


@pytest.mark.parametrize("case", ALL_CASES)
def test_decisions_agree(ranks, case):
    """The same steps, selections and checks, and the same training loss
    (of the steps' global batches) in the history of both processes."""
    first, second = ranks[0][case], ranks[1][case]
    assert first["history"] == second["history"]
    assert first["checks"] == second["checks"]


@pytest.mark.parametrize("case", ["crest", "crest_sample_check", "recipe_crest"])
def test_crest_checked_and_reselected(ranks, case):
    """The agreement above is not vacuous: CREST checked and re-selected
    within the fit, and logged the same steps in both processes."""
    history = ranks[0][case]["history"]
    assert sum(history["n_checks"]) > 5
    assert sum(history["n_selections"]) > 2
    assert len(ranks[0][case]["checks"]) > 5


def test_drop_learned_drops_from_each_share(ranks):
    """Each process drops only examples of its own share."""
    full_share = ranks[0]["per_step"]["pool_size"]
    assert ranks[0]["per_step_drop"]["pool_size"] < full_share
    assert ranks[1]["per_step_drop"]["pool_size"] < ranks[1]["per_step"]["pool_size"]


def test_same_seed_and_processes_repeat_the_run(ranks):
    for rank in ranks:
        assert rank["per_step_again"]["steps"] == rank["per_step"]["steps"]
        assert rank["per_step_again"]["digests"] == rank["per_step"]["digests"]


@pytest.mark.parametrize("case", ["random", "per_step", "crest", "infobatch"])
def test_accuracy_matches_a_single_process_fit(ranks, case):
    """Two processes of batch_size against one of 2 * batch_size: the same
    steps of the same number of examples, the same accuracy within noise
    (500 test digits: a standard error of about 1 point)."""
    X_train, X_test, y_train, y_test = digits_split()
    params = {**COMMON, **CASES[case], "batch_size": 2 * BATCH_SIZE}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        single = CrestClassifier(IndexedMLP, **params).fit(X_train, y_train)
    assert abs(ranks[0][case]["accuracy"] - single.score(X_test, y_test)) <= 0.03
    assert ranks[0][case]["accuracy"] == ranks[1][case]["accuracy"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_fitted_model_pickles_without_rows_and_predicts(ranks, case):
    record = ranks[0][case]
    assert not record["pickle_has_rows"]
    if case not in RECIPE_CASES:  # the recipe gathers through live state
        assert record["restored_accuracy"] == record["accuracy"]
    # Every process predicts every row, also of a Dataset.
    assert record["dataset_predictions"] == 500
    assert ranks[1][case]["dataset_predictions"] == 500


# ---------------------------------------------------------------- in process
class _SameEverywhere(TrainingProcesses):
    """Rank ``rank`` of ``world_size`` processes that all hold the same values
    (the collectives of identical processes, without processes)."""

    def _reduce(self, values, op):
        values = np.asarray(values, dtype=np.float64)
        return values * self.world_size if op == "SUM" else values.copy()

    def from_first(self, values):
        return np.asarray(values, dtype=np.float64).copy()


def _bound_strategy(processes, labels, selection="per_step"):
    from sklearn_crest._data import IndexedData
    from skorch.dataset import Dataset

    strategy = STRATEGIES[selection]().start(batch_size=8, train_frac=0.1,
                                             random_state=np.random.RandomState(0))
    strategy.processes = processes
    X = torch.arange(len(labels), dtype=torch.float32)[:, None]
    data = IndexedData(Dataset(X, labels), lambda y: torch.as_tensor(y))
    strategy.bind(data)
    return strategy


def test_shares_are_disjoint_cover_the_data_and_keep_class_proportions():
    labels = np.repeat(np.arange(3), [50, 31, 20])
    shares = [_bound_strategy(_SameEverywhere(rank, 3), labels).pool.positions
              for rank in range(3)]
    assert sorted(np.concatenate(shares).tolist()) == list(range(len(labels)))
    for share in shares:
        counts = np.bincount(labels[share], minlength=3)
        assert np.all(np.abs(counts - np.bincount(labels) / 3) < 1)
        assert np.all(np.diff(share) > 0)


def test_step_budget_counts_steps_of_all_processes():
    labels = np.repeat(np.arange(2), 500)
    single = _bound_strategy(SINGLE_PROCESS, labels, "random")
    double = _bound_strategy(_SameEverywhere(0, 2), labels, "random")
    assert single.steps_per_epoch() == 13  # ceil(0.1 * 1000 / 8)
    assert double.steps_per_epoch() == 7  # ceil(0.1 * 1000 / 16)
    assert single.pool.positions.size == 1000 and double.pool.positions.size == 500


def test_processes_with_other_data_are_refused():
    class OtherData(_SameEverywhere):
        def _reduce(self, values, op):
            values = np.asarray(values, dtype=np.float64)
            return values + 1 if op == "MAX" else values

    with pytest.raises(ValueError, match="different training data"):
        _bound_strategy(OtherData(0, 2), np.repeat(np.arange(2), 10))


def test_a_strategy_pickles_without_its_processes():
    import pickle

    strategy = _bound_strategy(_SameEverywhere(1, 2), np.repeat(np.arange(2), 10))
    restored = pickle.loads(pickle.dumps(strategy))
    assert restored.processes is SINGLE_PROCESS
    assert restored.pool.owner == (1, 2)
    assert np.array_equal(restored.pool.positions, strategy.pool.positions)


def test_an_accelerator_without_a_process_group_is_refused():
    class Accelerator:
        num_processes = 2
        process_index = 0
        device = torch.device("cpu")

    class Net:
        accelerator = Accelerator()

    with pytest.raises(RuntimeError, match="torch.distributed is not initialized"):
        training_processes(Net())
    assert training_processes(CrestClassifier(IndexedMLP)) is SINGLE_PROCESS


def test_one_process_through_accelerate_fits_like_crest_classifier():
    """A single process through Accelerate is an ordinary fit: the same
    batches and parameters as CrestClassifier with the same seed."""
    from accelerate import Accelerator

    X_train, X_test, y_train, y_test = digits_split()
    params = {**COMMON, "max_epochs": 3, "selection": "per_step"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = CrestClassifier(IndexedMLP, device="cpu", **params).fit(X_train, y_train)
        accelerated = AcceleratedCrestClassifier(
            IndexedMLP, accelerator=Accelerator(cpu=True), **params).fit(X_train, y_train)
    for mine, theirs in zip(plain.module_.parameters(),
                            accelerated.module_.parameters()):
        assert torch.equal(mine, theirs)
    assert np.array_equal(plain.predict_proba(X_test), accelerated.predict_proba(X_test))


def test_fewer_examples_than_processes_are_refused():
    with pytest.raises(ValueError, match="cannot be shared by 3 processes"):
        _bound_strategy(_SameEverywhere(0, 3), np.array([0, 1]))


def test_infobatch_total_before_the_epoch_needs_no_other_process():
    """A progress bar (main process only) asks for the epoch's total before
    the epoch: with several processes InfoBatch answers without its plan,
    whose collectives every process must call at the same point."""
    class Counting(_SameEverywhere):
        calls = 0

        def _reduce(self, values, op):
            Counting.calls += 1
            return super()._reduce(values, op)

    labels = np.repeat(np.arange(2), 100)
    strategy = _bound_strategy(Counting(0, 2), labels, "infobatch")
    before = Counting.calls
    assert strategy.steps_for(len(labels)) == 13  # ceil(200 / 16), unpruned
    assert Counting.calls == before


def test_progress_bar_shows_on_the_main_process_only(capsys):
    from skorch.callbacks import ProgressBar

    class OtherProcess:
        num_processes = 1
        is_main_process = False
        device = None

    X_train, _, y_train, _ = digits_split()
    params = {**COMMON, "max_epochs": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = CrestClassifier(IndexedMLP, callbacks=[ProgressBar()], **params)
        net.accelerator = OtherProcess()
        net.fit(X_train, y_train)
        assert capsys.readouterr().err == ""
        del net.accelerator
        net.fit(X_train, y_train)
        shown = capsys.readouterr().err
        assert "it/s" in shown or "s/it" in shown


def test_a_multi_process_launch_that_runs_one_process_warns(monkeypatch):
    """`accelerate launch --num_processes 2` on a CPU machine starts one
    process (no multi-process backend without --multi_gpu): its environment
    has a rendezvous address but no WORLD_SIZE. The fit says so."""
    from accelerate import Accelerator

    from sklearn_crest._processes import launched_as_several_but_one

    launched = {"ACCELERATE_MIXED_PRECISION": "no", "MASTER_ADDR": "127.0.0.1"}
    assert launched_as_several_but_one(launched)
    assert not launched_as_several_but_one({**launched, "WORLD_SIZE": "2"})  # torchrun
    assert not launched_as_several_but_one({"ACCELERATE_MIXED_PRECISION": "no"})  # N=1
    assert not launched_as_several_but_one({})  # python train.py

    class Net:
        accelerator = Accelerator(cpu=True)

    for name, value in launched.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.warns(UserWarning, match="runs as one.*torchrun --nproc_per_node N"):
        assert training_processes(Net()) is SINGLE_PROCESS


@pytest.mark.parametrize("params, prints", [({"verbose": 0}, False),
                                            ({"callbacks__print_log": None}, False),
                                            ({"verbose": 1}, True)])
def test_the_epoch_table_follows_verbose(capsys, params, prints):
    """skorch's mixin printed the epoch table through accelerator.print,
    whatever verbose said; callbacks__print_log=None crashed."""
    from accelerate import Accelerator

    X_train, _, y_train, _ = digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = AcceleratedCrestClassifier(
            IndexedMLP, accelerator=Accelerator(cpu=True),
            **{**COMMON, "max_epochs": 1, **params}).fit(X_train, y_train)
        assert ("train_loss" in capsys.readouterr().out) == prints
        net.fit(X_train, y_train)  # a second initialize finds its settings
    assert ("train_loss" in capsys.readouterr().out) == prints


def test_every_registered_strategy_has_a_two_process_case():
    from distributed_cases import CASES
    from sklearn_crest.selection import STRATEGIES
    assert set(STRATEGIES) <= {case["selection"] for case in CASES.values()}
