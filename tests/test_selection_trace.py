"""Every selection mode serves the same batches as the recorded trace.

``tests/data/selection_trace.json`` holds, for fixed-seed fits on digits in
every mode, the positions each training step trained on, their coreset
weights, and the per-epoch history. A refactoring of the selection layer that
changes a batch, a weight or a decision fails this test.

The trace must hold on every x86-64 processor, and processors differ in the
last bits of what they compute (AVX512, AVX2 and the scalar kernels sum in
other orders, and their ``exp`` differ by an ulp). So:

- the traced fits train in float64 (:class:`_MLP64`): after a few dozen steps
  two kernels differ around 1e-14, where in float32 they differed around
  1e-6 and a greedy choice between near-equal gains flipped;
- what a step trained on is compared exactly (positions; no two rows of the
  traced data are equal, so positions are what the greedy chose), and every
  float (weights, losses, history) with a tolerance far above that noise and
  far below any change of behaviour.

``.ci/run`` runs this file a second time under ``ATEN_CPU_CAPABILITY=default``
(the scalar kernels), so a processor-dependent trace fails in CI.

Regenerate a case only for a change meant to alter its behaviour, and say
so in the commit: ``python tests/test_selection_trace.py [CASE ...]``.
"""

import json
import math
import pathlib
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from conftest import MLP

from sklearn_crest import CrestClassifier
from sklearn_crest.selection import STRATEGIES

TRACE = pathlib.Path(__file__).parent / "data" / "selection_trace.json"

# Weights and losses agree to about 1e-12 between kernels in float64; a weight
# off by one example changes a weight by at least 1/batch_size.
RTOL, ATOL = 1e-9, 1e-12

# float32 selection passes, for the strategies that have them: the bfloat16
# default depends on the CPU.
_PRECISION = {"selection__selection_precision": "float32"}
CASES = {
    "random": {"selection": "random", "train_frac": 0.3},
    "random_rs2": {"selection": "random", "train_frac": 0.3,
                   "selection__random_sampling": "without_replacement"},
    "full": {"selection": "full"},
    "per_step": {"selection": "per_step", "train_frac": 0.3},
    "per_step_reuse": {"selection": "per_step", "train_frac": 0.3,
                       "selection__proxy_reuse_steps": 2},
    "per_step_drop": {"selection": "per_step", "train_frac": 0.3,
                      "selection__drop_learned": True, "selection__watch_interval": 1, "selection__drop_interval": 2,
                      "selection__drop_thresh": 0.3, "selection__min_train_frac": 0.5},
    "per_step_balanced": {"selection": "per_step", "train_frac": 0.3,
                          "selection__class_balance": "balanced", "selection__random_subset_size": 100},
    "crest": {"selection": "crest", "train_frac": 0.3, "selection__check_thresh_factor": 0.02},
    "crest_sample_check": {"selection": "crest", "train_frac": 0.3,
                           "selection__check_loss": "sample", "selection__check_sample_size": 64,
                           "selection__check_thresh_factor": 0.02},
    "crest_cycle": {"selection": "crest", "train_frac": 0.3,
                    "selection__region_coresets": "cycle", "selection__num_minibatch_coreset": 3},
    "crest_drop": {"selection": "crest", "train_frac": 0.3, "selection__drop_learned": True,
                   "selection__watch_interval": 1, "selection__drop_interval": 2, "selection__drop_thresh": 0.3},
    "craig": {"selection": "craig", "train_frac": 0.3},
    "craig_drop": {"selection": "craig", "train_frac": 0.3, "selection__drop_learned": True,
                   "selection__watch_interval": 1, "selection__drop_interval": 2, "selection__drop_thresh": 0.3},
    "craig_subset_weighting": {"selection": "craig", "train_frac": 0.3,
                               "selection__batch_weighting": "subset"},
    "gradmatch": {"selection": "gradmatch", "train_frac": 0.3},
    "gradmatch_interval": {"selection": "gradmatch", "train_frac": 0.3,
                           "selection__selection_interval": 2},
    "infobatch": {"selection": "infobatch", "selection__prune_ratio": 0.5, "selection__prune_until": 0.7},
}
HISTORY_KEYS = ("n_selections", "n_checks", "n_steps", "n_forward_examples",
                "pool_size", "coreset_size", "selected_loss", "subset_loss",
                "train_loss")


class _MLP64(MLP):
    """The tests' MLP in float64, initialised from numpy's generator: torch's
    float32 ``uniform_`` rounds differently in its vectorised and scalar
    kernels (the output layer's initial weights differed by 1.5e-8)."""

    def __init__(self, n_features, n_classes):
        super().__init__(n_features, n_classes)
        self.double()
        rng = np.random.default_rng(0)
        with torch.no_grad():
            for layer in (self.hidden, self.output):
                bound = 1.0 / math.sqrt(layer.in_features)  # torch's default scale
                for parameter in (layer.weight, layer.bias):
                    parameter.copy_(torch.from_numpy(
                        rng.uniform(-bound, bound, size=tuple(parameter.shape))))

    def forward(self, X):
        return super().forward(X.double())


class _TracingClassifier(CrestClassifier):
    """Records the positions and coreset weights of each training batch."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training:
            weights = self.coreset_weights(X)
            self.trace_.append({
                "positions": [self.position_of_row_[row.tobytes()]
                              for row in X.numpy()],
                "weights": None if weights is None else weights.tolist(),
                "loss": float(loss),
            })
        return loss


def _digits():
    X, y = load_digits(return_X_y=True)
    X, y = (X[:900] / 16.0).astype(np.float32), y[:900]
    # A row's bytes name its position only if no two rows are equal.
    assert len(np.unique(X, axis=0)) == len(X)
    return X, y


def _precision_for(params):
    has_precision = "selection_precision" in STRATEGIES[params["selection"]]().get_params()
    return _PRECISION if has_precision else {}


def run_case(params):
    """The trace of one fixed-seed fit: what each step trained on, and the
    per-epoch history."""
    X, y = _digits()
    torch.manual_seed(0)
    net = _TracingClassifier(_MLP64, max_epochs=6, batch_size=32, lr=0.1,
                             optimizer__momentum=0.9,
                             train_split=None, verbose=0, random_state=0,
                             **_precision_for(params), **params)
    net.trace_ = []
    net.position_of_row_ = {row.tobytes(): i for i, row in enumerate(X)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    history = {key: [float(v) for v in net.history[:, key]] for key in HISTORY_KEYS}
    return {"steps": net.trace_, "history": history}


def _record(names=None):
    """Record the cases ``names`` (all by default), keeping the others."""
    torch.set_num_threads(1)
    TRACE.parent.mkdir(exist_ok=True)
    recorded = json.loads(TRACE.read_text()) if TRACE.exists() else {}
    for name in names or CASES:
        recorded[name] = run_case(CASES[name])
    TRACE.write_text(json.dumps({name: recorded[name] for name in CASES},
                                separators=(",", ":")) + "\n")


def assert_same_trace(got, expected, name):
    """Raise AssertionError at the first step or history value that differs."""
    assert len(got["steps"]) == len(expected["steps"]), (
        f"{name}: {len(got['steps'])} steps, recorded {len(expected['steps'])}")
    for step, (got_step, expected_step) in enumerate(zip(got["steps"],
                                                         expected["steps"])):
        assert got_step["positions"] == expected_step["positions"], (
            f"{name}: step {step} trained on other examples")
        if expected_step["weights"] is None:
            assert got_step["weights"] is None, f"{name}: step {step} is weighted"
        else:
            assert got_step["weights"] is not None, (
                f"{name}: step {step} lost its weights")
            np.testing.assert_allclose(
                got_step["weights"], expected_step["weights"], rtol=RTOL, atol=ATOL,
                err_msg=f"{name}: step {step}'s weights differ")
        assert got_step["loss"] == pytest.approx(
            expected_step["loss"], rel=RTOL, abs=ATOL), (
            f"{name}: step {step}'s loss differs")
    for key in HISTORY_KEYS:
        got_values, expected_values = got["history"][key], expected["history"][key]
        assert len(got_values) == len(expected_values), (name, key)
        for epoch, (value, reference) in enumerate(zip(got_values, expected_values)):
            assert (math.isnan(value) and math.isnan(reference)) or value == \
                pytest.approx(reference, rel=RTOL, abs=ATOL), (
                f"{name}: history {key!r} differs at epoch {epoch}")


@pytest.fixture(scope="module")
def recorded():
    return json.loads(TRACE.read_text())


def test_trace_covers_every_case(recorded):
    assert set(recorded) == set(CASES)


def test_every_registered_strategy_has_a_case():
    """A strategy added to the registry must be traced too."""
    traced = {params["selection"] for params in CASES.values()}
    missing = sorted(set(STRATEGIES) - traced)
    assert not missing, (
        f"selection modes {missing} have no case in CASES: add one and record "
        "it with `python tests/test_selection_trace.py NAME`.")


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_batches_weights_and_history(name, recorded, torch_single_thread):
    assert_same_trace(run_case(CASES[name]), recorded[name], name)


if __name__ == "__main__":
    import sys

    _record(sys.argv[1:])
