"""The selection layer's contract: strategies plug in without driver edits."""

import pickle

import numpy as np
import pytest
import torch

from sklearn_crest import CrestClassifier
from sklearn_crest._classifier import CREST_PARAMS
from sklearn_crest.selection import (
    SELECTION_NAMES,
    STRATEGIES,
    CrestRegions,
    PerStepCoresets,
    SelectionStrategy,
    parameters_in_use,
    register_strategy,
)

from conftest import MLP


class HardestFirst(SelectionStrategy):
    """A toy strategy: after the warm-up, each epoch trains on the pool's
    examples with the highest losses, weighted 2 (a test of the plug-in
    contract, not a method)."""

    name = "hardest_first"
    parameters = ("train_frac",)

    def plan_epoch(self, model, data, n_steps):
        losses = self._evaluate(model, data, self.pool)[1].cpu().numpy()
        order = self.pool[np.argsort(-losses, kind="stable")]
        for step in range(n_steps):
            positions = order[step * self.batch_size:(step + 1) * self.batch_size]
            yield positions, torch.full((len(positions),), 2.0)


@pytest.fixture
def hardest_first():
    """The toy strategy, registered for one test."""
    register_strategy(HardestFirst)
    yield HardestFirst
    del STRATEGIES[HardestFirst.name]
    SELECTION_NAMES.discard(HardestFirst.name)


class RecordingClassifier(CrestClassifier):
    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training:
            self.served_.append((X.clone(), self.coreset_weights(X)))
        return super().get_loss(y_pred, y_true, X=X, training=training)


def test_a_new_strategy_needs_only_its_module_and_registration(digits600,
                                                               hardest_first):
    X, y = digits600
    net = RecordingClassifier(MLP, selection="hardest_first", train_frac=0.2,
                              batch_size=32, max_epochs=3, lr=0.1, train_split=None,
                              verbose=0, random_state=0)
    net.served_ = []
    net.fit(X, y)
    steps = int(np.ceil(0.2 * 600 / 32))
    assert net.history[:, "n_steps"] == [steps] * 3
    assert isinstance(net.schedule_, HardestFirst)
    # Warm-up epoch: the base's random batches, unweighted; then the
    # strategy's own batches and weights reach get_loss.
    assert all(w is None for _, w in net.served_[:steps])
    assert all(w is not None and torch.equal(w, torch.full((len(w),), 2.0))
               for _, w in net.served_[steps:])
    # Its first batch is the hardest examples under the model of that time:
    # 32 distinct rows of X.
    first = net.served_[steps][0].numpy()
    assert len(np.unique(first, axis=0)) == len(first) == 32
    # The base counts the strategy's eval passes for the history.
    assert net.history[1:, "n_forward_examples"] == [600, 600]
    restored = pickle.loads(pickle.dumps(net))
    assert isinstance(restored.schedule_, HardestFirst)
    restored.served_ = []
    restored.partial_fit(X, y)
    assert restored.history[-1, "n_steps"] == steps


def test_an_unregistered_selection_is_refused_and_registration_is_checked(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match="selection"):
        CrestClassifier(MLP, selection="hardest_first", max_epochs=1,
                        train_split=None, verbose=0).fit(X, y)
    with pytest.raises(TypeError, match="SelectionStrategy subclass"):
        register_strategy(object)

    class Unknown(SelectionStrategy):
        name = "unknown"
        parameters = ("train_frac", "temperature")
    with pytest.raises(ValueError, match=r"\['temperature'\]"):
        register_strategy(Unknown)
    assert "unknown" not in STRATEGIES and "unknown" not in SELECTION_NAMES


def test_a_registered_strategy_gets_the_ignored_parameter_warning(digits600,
                                                                  hardest_first):
    X, y = digits600
    with pytest.warns(UserWarning, match="does not use proxy_reuse_steps=2"):
        CrestClassifier(MLP, selection="hardest_first", proxy_reuse_steps=2,
                        max_epochs=1, train_split=None, verbose=0).fit(X, y)


def test_every_selection_parameter_is_read_by_some_strategy():
    used = parameters_in_use()
    assert set(used) == set(CREST_PARAMS) - {"selection"}
    assert used["proxy_reuse_steps"] == ("per_step",)
    assert set(used["drop_learned"]) == {"crest", "per_step", "craig", "gradmatch"}
    for name, cls in STRATEGIES.items():
        assert cls.name == name
        assert set(cls.region_parameters) <= set(cls.parameters)


def test_switching_selection_keeps_the_pool_and_counters(digits600):
    X, y = digits600
    net = CrestClassifier(MLP, selection="per_step", train_frac=0.2, batch_size=32,
                          max_epochs=4, drop_learned=True, drop_interval=2,
                          drop_thresh=10.0, min_train_frac=0.9, train_split=None,
                          verbose=0, random_state=0).fit(X, y)
    before = net.schedule_
    assert isinstance(before, PerStepCoresets)
    pool, epoch, step = before.pool.copy(), before.epoch, before.global_step
    assert pool.size < 600  # dropping changed it
    net.set_params(selection="crest", drop_learned=False)
    net.partial_fit(X, y)
    after = net.schedule_
    assert isinstance(after, CrestRegions)
    np.testing.assert_array_equal(after.pool, pool)
    assert after.epoch == epoch + 4 and after.global_step > step
    # No warm-up again: the first continued epoch already selects.
    assert net.history[-4, "n_selections"] >= 1
