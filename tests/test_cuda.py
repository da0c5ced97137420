"""CrestClassifier on a CUDA device: every mode fits, predicts and pickles there,
and selection chooses as it does on the CPU.

Skipped where CUDA is not available (CI's machines have no GPU); run
``python -m pytest tests/test_cuda.py`` on a machine with one.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from conftest import MLP

from skorch.dataset import Dataset as SkorchDataset

from sklearn_crest import CrestClassifier
from sklearn_crest._data import IndexedData
from sklearn_crest._net_view import NetModel
from sklearn_crest.selection import STRATEGIES
from sklearn_crest.selection._selection_pass import selection_outputs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device")

SELECTIONS = sorted(STRATEGIES)


def make_net(device, **params):
    settings = dict(selection="per_step", train_frac=0.3, selection__random_subset_size=0.2,
                    batch_size=32, lr=0.1, max_epochs=3, train_split=None,
                    verbose=0, random_state=0, device=device)
    settings.update(params)
    return CrestClassifier(MLP, **settings)


@pytest.mark.parametrize("selection", SELECTIONS)
def test_every_mode_fits_predicts_and_pickles_on_cuda(digits600, selection):
    X, y = digits600
    net = make_net("cuda", selection=selection, max_epochs=8, lr=0.5).fit(X, y)
    assert next(net.module_.parameters()).device.type == "cuda"
    assert net.score(X, y) > 0.5
    proba = net.predict_proba(X)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(restored.predict_proba(X), proba, rtol=0, atol=1e-6)
    # Training goes on after unpickling, on the device.
    restored.partial_fit(X, y)
    assert restored.history[-1, "n_steps"] > 0


@pytest.mark.parametrize("selection", ["crest", "per_step"])
def test_a_model_trained_on_cuda_unpickles_on_a_machine_without_cuda(
        digits600, selection, monkeypatch):
    X, y = digits600
    net = make_net("cuda", selection=selection, max_epochs=8, lr=0.5).fit(X, y)
    blob = pickle.dumps(net)
    proba = net.predict_proba(X)
    # skorch maps the CUDA tensors to the CPU when CUDA is unavailable.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch's DeviceWarning
        restored = pickle.loads(blob)
    assert restored.device == "cpu"
    assert next(restored.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.predict_proba(X), proba, rtol=0, atol=1e-5)


def _copy_on_cuda(net):
    """A copy of a CPU-fitted net whose module and device are CUDA's."""
    copied = copy.deepcopy(net)
    copied.module_.to("cuda")
    copied.device = "cuda"
    return copied


def test_the_selection_pass_matches_the_cpu_in_float32(digits600):
    X, y = digits600
    cpu = make_net("cpu", max_epochs=1).fit(X, y)
    cuda = _copy_on_cuda(cpu)
    batch = (torch.from_numpy(X[:200]), torch.from_numpy(y[:200]))
    p_cpu, l_cpu = selection_outputs(NetModel(cpu), [batch], "float32")
    p_cuda, l_cuda = selection_outputs(NetModel(cuda), [batch], "float32")
    assert p_cuda.device.type == "cuda"
    torch.testing.assert_close(p_cuda.cpu(), p_cpu, rtol=0, atol=1e-4)
    torch.testing.assert_close(l_cuda.cpu(), l_cpu, rtol=1e-4, atol=1e-4)


def test_per_step_selection_chooses_as_on_the_cpu(digits600):
    # Same weights, same schedule state: the coresets agree up to near-ties
    # of the greedy, which float rounding on another device may flip.
    X, y = digits600
    cpu = make_net("cpu", max_epochs=1, selection__selection_precision="float32").fit(X, y)
    cuda = _copy_on_cuda(cpu)
    data = IndexedData(SkorchDataset(torch.from_numpy(X), y), cpu.encode_labels)
    chosen = {}
    for name, net in (("cpu", cpu), ("cuda", cuda)):
        schedule = copy.deepcopy(cpu.strategy_)
        schedule.bind(data)
        chosen[name] = schedule._select_fresh(NetModel(net), data)[0]
    assert chosen["cpu"].size == 32
    overlap = np.intersect1d(chosen["cpu"], chosen["cuda"]).size / chosen["cpu"].size
    assert overlap >= 0.9


@pytest.mark.parametrize("data_on_device", [True, False])
def test_training_data_stay_on_the_device_when_asked(digits600, data_on_device,
                                                     monkeypatch):
    made = []

    class RecordingData(IndexedData):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
    monkeypatch.setattr("sklearn_crest._classifier.IndexedData", RecordingData)
    X, y = digits600
    make_net("cuda", data_on_device=data_on_device, max_epochs=1).fit(X, y)
    (data,) = made
    assert (data.X.device.type == "cuda") is data_on_device
    X_batch, y_batch = data.batch(np.arange(10))
    assert X_batch.device == y_batch.device == data.X.device


def test_data_on_device_trains_the_same_model(digits600):
    X, y = digits600
    probabilities = [make_net("cuda", data_on_device=setting).fit(X, y).predict_proba(X)
                     for setting in (True, False)]
    np.testing.assert_allclose(probabilities[0], probabilities[1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("data_on_device", [True, False])
def test_per_step_selects_on_the_device_when_the_data_are_there(digits600,
                                                              data_on_device,
                                                              monkeypatch):
    from sklearn_crest.selection._per_step_device import DeviceSelection
    calls = []
    original = DeviceSelection.select

    def recording(self, *args, **kwargs):
        calls.append(self.device.type)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(DeviceSelection, "select", recording)
    X, y = digits600
    net = make_net("cuda", data_on_device=data_on_device, max_epochs=3).fit(X, y)
    assert net.history[-1, "n_selections"] > 0
    assert set(calls) == ({"cuda"} if data_on_device else set())
    assert np.isfinite(net.history[-1, "selected_loss"])
