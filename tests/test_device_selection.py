"""The device-resident per-step path chooses what the host path chooses.

On a CUDA device it runs by default; here it is forced onto the CPU
(``device_path="always"``), where the same code runs on CPU tensors.
"""

import numpy as np
import pytest
import torch
from conftest import MLP

from sklearn_crest import CrestClassifier
from sklearn_crest._coresets.facility_location import (
    batched_naive_greedy,
    select_in_ground_sets,
)
from sklearn_crest.selection._per_step_device import _Layout, _padded_kernels

pytestmark = pytest.mark.usefixtures("torch_single_thread")


class RecordingClassifier(CrestClassifier):
    """Records each training batch's input and coreset weights."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training:
            self.served_.append((X.clone(), self.coreset_weights(X)))
        return super().get_loss(y_pred, y_true, X=X, training=training)


def _fit(digits600, path, **params):
    X, y = digits600
    settings = dict(selection="per_step", train_frac=0.3, selection__random_subset_size=0.2,
                    batch_size=32, lr=0.1, max_epochs=1, train_split=None,
                    verbose=0, random_state=0, selection__selection_precision="float32")
    settings.update(params)
    net = RecordingClassifier(MLP, **settings)
    net.served_ = []
    net.fit(X, y)  # the random warm-up epoch
    net.strategy_.device_path = path
    net.partial_fit(X, y)
    net.partial_fit(X, y)
    return net


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_the_device_path_serves_the_host_paths_coresets(digits600, metric):
    host = _fit(digits600, "never", selection__selection_metric=metric)
    device = _fit(digits600, "always", selection__selection_metric=metric)
    assert len(host.served_) == len(device.served_) == 18
    for (X_host, w_host), (X_device, w_device) in zip(host.served_, device.served_):
        torch.testing.assert_close(X_device, X_host, rtol=0, atol=0)
        if w_host is None:
            assert w_device is None
        else:
            torch.testing.assert_close(w_device, w_host, rtol=1e-6, atol=1e-6)
    X = digits600[0]
    np.testing.assert_allclose(device.predict_proba(X), host.predict_proba(X),
                               rtol=0, atol=1e-6)
    for key in ("n_selections", "n_forward_examples", "coreset_size"):
        assert device.history[:, key] == host.history[:, key]
    np.testing.assert_allclose(device.history[1:, "selected_loss"],
                               host.history[1:, "selected_loss"], rtol=1e-6)
    np.testing.assert_allclose(device.history[1:, "subset_loss"],
                               host.history[1:, "subset_loss"], rtol=1e-6)


def test_the_device_layout_and_the_engine_choose_alike_on_uneven_classes():
    rng = np.random.RandomState(0)
    proxies = torch.as_tensor(rng.standard_normal((90, 4)), dtype=torch.float32)
    sizes = (40, 7, 30, 13)  # classes of the concatenated draw, in order
    layout = _Layout(sizes, 24, "cpu")
    local, weights, _ = batched_naive_greedy(
        _padded_kernels(proxies, layout, "euclidean"), layout.valid, layout.quotas,
        layout.n_steps)
    picked = (layout.offsets[:, None] + local).reshape(-1)[layout.chosen]
    weights = weights.reshape(-1)[layout.chosen]
    offsets = np.cumsum(sizes) - np.array(sizes)
    groups = [offsets[c] + np.arange(n) for c, n in enumerate(sizes)]
    quotas = layout.quotas.numpy()
    engine = select_in_ground_sets(proxies, groups, quotas, metric="euclidean")
    np.testing.assert_array_equal(picked.numpy(), np.concatenate([s[0] for s in engine]))
    np.testing.assert_array_equal(weights.numpy(), np.concatenate([s[1] for s in engine]))
    # Every row of a class is counted once, by its nearest pick.
    assert weights.sum() == sum(sizes) and len(picked) == 24


def test_drop_learned_keeps_the_host_path(digits600):
    X, y = digits600
    net = CrestClassifier(MLP, selection="per_step", selection__drop_learned=True,
                          train_split=None, verbose=0, max_epochs=1, batch_size=32)
    net.fit(X, y)
    net.strategy_.device_path = "always"
    from sklearn_crest._data import IndexedData
    from skorch.dataset import Dataset
    data = IndexedData(Dataset(torch.from_numpy(X), y), net.encode_labels)
    assert net.strategy_._device_selection(data) is None
    net.strategy_.device_path = "auto"
    net.set_params(selection__drop_learned=False)
    net._reconfigure_selection()
    assert net.strategy_._device_selection(data) is None  # CPU data: host path
