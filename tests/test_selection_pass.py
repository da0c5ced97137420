"""The selection's forward pass: precision, channels-last kernels, skorch's forward."""

import pytest
import torch
from conftest import MLP
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_crest import CrestClassifier
from sklearn_crest.selection import _selection_pass
from sklearn_crest._net_view import NetModel
from sklearn_crest.selection._selection_pass import autocast_dtype, selection_outputs

pytestmark = pytest.mark.usefixtures("torch_single_thread")


class TinyCNN(torch.nn.Module):
    """8 x 8 digits through a convolution, pooling and a linear layer; the
    forward takes an optional ``temperature`` fit parameter."""

    def __init__(self, n_classes):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.output = torch.nn.Linear(4 * 4 * 4, n_classes)

    def forward(self, X, temperature=1.0):
        images = X.reshape(-1, 1, 8, 8)
        hidden = torch.max_pool2d(torch.relu(self.conv(images)), 2)
        return self.output(hidden.flatten(1)) / temperature


def _fitted(module, digits600, **params):
    X, y = digits600
    settings = dict(selection="per_step", train_frac=0.3, batch_size=32, lr=0.1,
                    max_epochs=2, train_split=None, verbose=0, random_state=0)
    settings.update(params)
    if settings["selection"] in ("per_step", "crest"):
        settings.setdefault("selection__random_subset_size", 0.2)
    return CrestClassifier(module, **settings).fit(X, y)


def _batch(digits600, rows=200):
    X, y = digits600
    return torch.from_numpy(X[:rows]), torch.from_numpy(y[:rows])


def test_precision_resolves_to_an_autocast_dtype(monkeypatch):
    assert autocast_dtype("float32", "cpu") is None
    assert autocast_dtype("bfloat16", "cpu") is torch.bfloat16
    monkeypatch.setattr(_selection_pass, "native_bfloat16", lambda device: True)
    assert autocast_dtype("auto", "cpu") is torch.bfloat16
    monkeypatch.setattr(_selection_pass, "native_bfloat16", lambda device: False)
    assert autocast_dtype("auto", "cpu") is None
    # Devices without autocast support run float32.
    assert autocast_dtype("bfloat16", "meta") is None


def test_channels_last_pass_matches_the_module_and_leaves_it_untouched(digits600):
    net = _fitted(TinyCNN, digits600)
    weight = net.module_.conv.weight
    before, strides = weight.detach().clone(), weight.stride()
    X, y = _batch(digits600)
    net.module_.train()
    probabilities, losses = selection_outputs(NetModel(net), [(X, y)], "float32")
    with torch.no_grad():
        logits = net.module_.eval()(X)
    net.module_.train()
    torch.testing.assert_close(probabilities, torch.softmax(logits, 1),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        losses, torch.nn.functional.cross_entropy(logits, y, reduction="none"),
        rtol=1e-4, atol=1e-5)
    # The module keeps its layout, values and training mode.
    assert weight.stride() == strides
    assert torch.equal(weight.detach(), before)
    assert net.module_.training


def test_a_module_already_channels_last_runs_its_own_forward():
    from sklearn_crest._models import SmallCNN
    from sklearn_crest.selection._selection_pass import _channels_last_parameters
    nchw = SmallCNN(10).to(memory_format=torch.contiguous_format)
    copies = _channels_last_parameters(nchw)
    assert copies["module.features.3.weight"].is_contiguous(
        memory_format=torch.channels_last)
    assert not nchw.features[3].weight.is_contiguous(memory_format=torch.channels_last)
    # SmallCNN trains channels-last: nothing to substitute.
    assert _channels_last_parameters(SmallCNN(10)) is None


def test_bfloat16_pass_returns_float32_close_to_the_float32_pass(digits600):
    net = _fitted(TinyCNN, digits600)
    batch = _batch(digits600)
    exact, exact_losses = selection_outputs(NetModel(net), [batch], "float32")
    reduced, reduced_losses = selection_outputs(NetModel(net), [batch], "bfloat16")
    assert reduced.dtype == reduced_losses.dtype == torch.float32
    assert not torch.equal(reduced, exact)  # it did run in bfloat16
    torch.testing.assert_close(reduced, exact, rtol=0, atol=0.05)
    torch.testing.assert_close(reduced_losses, exact_losses, rtol=0.05, atol=0.05)


def test_the_pass_gets_the_fit_parameters_of_the_training_steps(digits600):
    X, y = digits600
    net = _fitted(TinyCNN, digits600)
    batch = _batch(digits600)
    net._forward_params = {"temperature": 4.0}
    try:
        hot, _ = selection_outputs(NetModel(net), [batch], "float32")
    finally:
        net._forward_params = {}
    cold, _ = selection_outputs(NetModel(net), [batch], "float32")
    # A higher temperature flattens the probabilities.
    assert hot.max(1).values.mean() < cold.max(1).values.mean()
    # And a fit with the parameter trains and selects with it.
    fitted = CrestClassifier(TinyCNN, selection="per_step", train_frac=0.3,
                             selection__random_subset_size=0.2, batch_size=32, max_epochs=2,
                             train_split=None, verbose=0, random_state=0)
    fitted.fit(X, y, temperature=2.0)
    assert fitted.history[-1, "n_selections"] > 0


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_every_precision_trains_a_cnn(digits600, precision):
    X, y = digits600
    net = _fitted(TinyCNN, digits600, selection__selection_precision=precision, max_epochs=6,
                  lr=0.3)
    assert net.history[-1, "n_selections"] > 0
    assert net.score(X, y) > 0.5


def test_auto_keeps_craig_and_gradmatch_in_float32(digits600, monkeypatch):
    seen = []
    original = _selection_pass.selection_outputs

    def recording(net, batches, precision):
        seen.append(precision)
        return original(net, batches, precision)
    monkeypatch.setattr("sklearn_crest.selection._base.selection_outputs", recording)
    for selection in ("craig", "gradmatch"):
        _fitted(MLP, digits600, selection=selection)
    _fitted(MLP, digits600, selection="per_step")
    assert seen[:2] == ["float32", "float32"]
    assert set(seen[2:]) == {"auto"}
    seen.clear()
    _fitted(MLP, digits600, selection="craig", selection__selection_precision="bfloat16")
    assert seen == ["bfloat16"]


def test_an_unknown_precision_is_refused(digits600):
    X, y = digits600
    with pytest.raises(InvalidParameterError, match="selection_precision"):
        CrestClassifier(MLP, selection__selection_precision="float16", train_split=None,
                        verbose=0).fit(X, y)


def test_a_selection_pass_is_chunked_for_the_cache_on_cpu_and_by_memory_on_gpu():
    from sklearn_crest.selection._selection_pass import DEVICE_CHUNK_INPUT_BYTES, chunk_rows
    # CPU (and skorch's device=None): one batch, whatever the rows.
    assert chunk_rows("cpu", 128, row_bytes=3136) == 128
    assert chunk_rows(None, 128, row_bytes=3136) == 128
    assert chunk_rows("cpu", 128, row_bytes=None) == 128
    # GPU: as many rows as fit the input bound, at least two batches and at
    # most sixteen (activations can be tens of times the input).
    assert chunk_rows("cuda", 16, row_bytes=3136) == 16 * 16
    assert chunk_rows("cuda", 4096, row_bytes=3136) == DEVICE_CHUNK_INPUT_BYTES // 3136
    assert chunk_rows("cuda:1", 128, row_bytes=10**8) == 256
    assert chunk_rows("cuda", 128, row_bytes=None) == 256  # a Dataset's rows


class SoftmaxCNN(TinyCNN):
    """Ends in a softmax, for NLLLoss."""

    def forward(self, X, temperature=1.0):
        return torch.softmax(super().forward(X, temperature), dim=1)


def test_a_reduced_precision_pass_does_not_misjudge_the_output_convention(digits600):
    # bfloat16 softmax rows sum to 1 only within about 1e-2; the estimator's
    # check of a probability output (NLLLoss) must see a float32 batch.
    X, y = digits600
    net = _fitted(SoftmaxCNN, digits600, criterion=torch.nn.NLLLoss,
                  selection__selection_precision="bfloat16")
    net._output_convention_checked = False  # as after a module change
    probabilities, losses = selection_outputs(NetModel(net), [_batch(digits600)], "bfloat16")
    assert net._output_convention_checked
    assert torch.isfinite(losses).all()
    torch.testing.assert_close(probabilities.sum(1), torch.ones(200), rtol=0, atol=2e-2)


class ReshapingConv(torch.nn.Conv2d):
    """A convolution that standardises its weight through ``view``, which a
    channels-last copy of the weight does not allow."""

    def forward(self, X):
        weight = self.weight.view(self.weight.size(0), -1)
        weight = (weight - weight.mean(1, keepdim=True)).view_as(self.weight)
        return torch.nn.functional.conv2d(X, weight, self.bias, padding=1)


class ReshapingCNN(TinyCNN):
    def __init__(self, n_classes):
        super().__init__(n_classes)
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                                        ReshapingConv(4, 4, 3, padding=1))


def test_a_layer_that_reshapes_its_weight_falls_back_to_the_module_layout(digits600):
    X, y = digits600
    net = _fitted(ReshapingCNN, digits600, max_epochs=3)
    assert net.history[-1, "n_selections"] > 0
    probabilities, _ = selection_outputs(NetModel(net), [_batch(digits600)], "float32")
    with torch.no_grad():
        expected = torch.softmax(net.module_.eval()(torch.from_numpy(X[:200])), 1)
    torch.testing.assert_close(probabilities, expected, rtol=1e-4, atol=1e-5)


def test_device_none_selects_on_the_cpu(digits600):
    # skorch's device=None leaves tensors where they are.
    X, y = digits600
    net = _fitted(TinyCNN, digits600, device=None)
    assert net.history[-1, "n_selections"] > 0
    assert net.predict(X).shape == y.shape
