"""Every selection mode serves the same batches as the recorded trace.

``tests/data/selection_trace.json`` holds, for fixed-seed fits on digits in
every mode, a digest of each training step's input and coreset weights, the
training loss of each step and the per-epoch history. It was recorded before
the selection layer was split into one module per strategy
(``sklearn_crest/selection/``), so this test shows that the split, and any
later refactoring, changes no batch, no weight and no decision.

Regenerate a case only for a change meant to alter its behaviour, and say
so in the commit: ``python tests/test_selection_trace.py [CASE ...]``.
"""

import hashlib
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

TRACE = pathlib.Path(__file__).parent / "data" / "selection_trace.json"

# float32 everywhere: the bfloat16 default depends on the CPU.
_COMMON = {"selection_precision": "float32"}
CASES = {
    "random": {"selection": "random", "train_frac": 0.3},
    "full": {"selection": "full"},
    "per_step": {"selection": "per_step", "train_frac": 0.3},
    "per_step_reuse": {"selection": "per_step", "train_frac": 0.3,
                       "proxy_reuse_steps": 2},
    "per_step_drop": {"selection": "per_step", "train_frac": 0.3,
                      "drop_learned": True, "watch_interval": 1, "drop_interval": 2,
                      "drop_thresh": 0.3, "min_train_frac": 0.5},
    "per_step_balanced": {"selection": "per_step", "train_frac": 0.3,
                          "class_balance": "balanced", "random_subset_size": 100},
    "crest": {"selection": "crest", "train_frac": 0.3, "check_thresh_factor": 0.02},
    "crest_sample_check": {"selection": "crest", "train_frac": 0.3,
                           "check_loss": "sample", "check_sample_size": 64,
                           "check_thresh_factor": 0.02},
    "crest_cycle": {"selection": "crest", "train_frac": 0.3,
                    "region_coresets": "cycle", "num_minibatch_coreset": 3},
    "crest_drop": {"selection": "crest", "train_frac": 0.3, "drop_learned": True,
                   "watch_interval": 1, "drop_interval": 2, "drop_thresh": 0.3},
    "craig": {"selection": "craig", "train_frac": 0.3},
    "craig_drop": {"selection": "craig", "train_frac": 0.3, "drop_learned": True,
                   "watch_interval": 1, "drop_interval": 2, "drop_thresh": 0.3},
    "craig_subset_weighting": {"selection": "craig", "train_frac": 0.3,
                               "batch_weighting": "subset"},
    "gradmatch": {"selection": "gradmatch", "train_frac": 0.3},
    "gradmatch_interval": {"selection": "gradmatch", "train_frac": 0.3,
                           "selection_interval": 2},
}
HISTORY_KEYS = ("n_selections", "n_checks", "n_steps", "n_forward_examples",
                "pool_size", "coreset_size", "selected_loss", "subset_loss",
                "train_loss")


class _TracingClassifier(CrestClassifier):
    """Records a digest of each training batch's input and weights."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training:
            weights = self.coreset_weights(X)
            self.trace_.append([
                hashlib.sha1(np.ascontiguousarray(X.numpy()).tobytes()).hexdigest()[:16],
                None if weights is None else
                hashlib.sha1(weights.numpy().astype(np.float32).tobytes()).hexdigest()[:16],
            ])
        return super().get_loss(y_pred, y_true, X=X, training=training)


def _digits():
    X, y = load_digits(return_X_y=True)
    return (X[:900] / 16.0).astype(np.float32), y[:900]


def run_case(params):
    """The trace of one fixed-seed fit: step digests and per-epoch history."""
    X, y = _digits()
    torch.manual_seed(0)
    net = _TracingClassifier(MLP, max_epochs=6, batch_size=32, lr=0.1,
                             optimizer__momentum=0.9,
                             train_split=None, verbose=0, random_state=0,
                             **_COMMON, **params)
    net.trace_ = []
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
    TRACE.write_text(json.dumps({name: recorded[name] for name in CASES}, indent=0))


@pytest.fixture(scope="module")
def recorded():
    return json.loads(TRACE.read_text())


def test_trace_covers_every_case(recorded):
    assert set(recorded) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_batches_weights_and_history(name, recorded, torch_single_thread):
    expected = recorded[name]
    got = run_case(CASES[name])
    assert len(got["steps"]) == len(expected["steps"])
    for step, (got_step, expected_step) in enumerate(zip(got["steps"],
                                                         expected["steps"])):
        assert got_step == expected_step, f"{name}: step {step} differs"
    for key in HISTORY_KEYS:
        for value, reference in zip(got["history"][key], expected["history"][key]):
            assert (math.isnan(value) and math.isnan(reference)) or value == \
                pytest.approx(reference, rel=1e-5, abs=1e-7), (name, key)


if __name__ == "__main__":
    import sys

    _record(sys.argv[1:])
