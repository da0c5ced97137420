"""The selection layer's contract: a strategy owns its parameters and plugs
in without driver edits, as a name or as an object."""

import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_crest import CrestClassifier
from sklearn_crest.selection import (
    STRATEGIES,
    CrestRegions,
    PerStepCoresets,
    SelectionStrategy,
    register_strategy,
)

from conftest import MLP
from toy_strategy import HardestFirst


class RecordingClassifier(CrestClassifier):
    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training:
            self.served_.append((X.clone(), self.coreset_weights(X)))
        return super().get_loss(y_pred, y_true, X=X, training=training)


def _net(selection, cls=CrestClassifier, **kwargs):
    settings = dict(train_frac=0.2, batch_size=32, max_epochs=3, lr=0.1,
                    train_split=None, verbose=0, random_state=0)
    return cls(MLP, selection=selection, **{**settings, **kwargs})


def test_a_strategy_object_with_its_own_parameter_fits_clones_and_pickles(digits600):
    X, y = digits600
    net = _net(HardestFirst(weight=3.0), RecordingClassifier)
    net.served_ = []
    net.fit(X, y)
    steps = int(np.ceil(0.2 * 600 / 32))
    assert net.history[:, "n_steps"] == [steps] * 3
    assert isinstance(net.strategy_, HardestFirst)
    assert net.strategy_ is not net.selection  # the user's object stays unstarted
    assert not hasattr(net.selection, "pool")
    # Warm-up epoch: random batches, unweighted; then the strategy's own
    # weights reach get_loss, and the step losses reach the strategy.
    assert all(w is None for _, w in net.served_[:steps])
    assert all(torch.equal(w, torch.full((len(w),), 3.0)) for _, w in net.served_[steps:])
    assert net.strategy_.reported_losses == 2 * steps * 32
    first = net.served_[steps][0].numpy()
    assert len(np.unique(first, axis=0)) == len(first) == 32
    assert net.history[1:, "n_forward_examples"] == [600, 600]
    # Its parameter is the estimator's, routed like module__*.
    assert net.get_params()["selection__weight"] == 3.0
    twin = clone(net).set_params(selection__weight=5.0)
    assert twin.selection.weight == 3.0  # set_params routes, never mutates
    twin.served_ = []
    twin.fit(X, y)
    assert torch.equal(twin.served_[-1][1], torch.full((32,), 5.0))
    restored = pickle.loads(pickle.dumps(net))
    assert isinstance(restored.strategy_, HardestFirst)
    restored.served_ = []
    restored.partial_fit(X, y)
    assert restored.history[-1, "n_steps"] == steps


def test_a_strategy_object_is_grid_searched_over_its_parameter(digits600):
    X, y = digits600
    search = GridSearchCV(_net(HardestFirst(), max_epochs=2),
                          {"selection__weight": [0.5, 2.0]}, cv=2, n_jobs=2)
    search.fit(X, y)
    assert [p["selection__weight"] for p in search.cv_results_["params"]] == [0.5, 2.0]
    assert search.best_estimator_.strategy_.weight in (0.5, 2.0)


def test_a_strategy_defined_in_a_users_script_works_in_joblib_workers(tmp_path):
    # The new user's trial: a strategy class in the script itself, which
    # joblib's worker processes never imported.
    script = tmp_path / "my_search.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, torch
        from sklearn.datasets import load_digits
        from sklearn.model_selection import GridSearchCV
        from sklearn_crest import CrestClassifier
        from sklearn_crest.selection import SelectionStrategy

        class EveryOther(SelectionStrategy):
            def __init__(self, offset=0):
                self.offset = offset
            def plan_epoch(self, model, data, n_steps):
                order = self.pool.positions[self.offset::2]
                for i in range(n_steps):
                    yield order[i * self.batch_size:(i + 1) * self.batch_size], None

        class Net(torch.nn.Module):
            def __init__(self, n_features, n_classes):
                super().__init__()
                self.layer = torch.nn.Linear(n_features, n_classes)
            def forward(self, X):
                return self.layer(X)

        if __name__ == "__main__":
            X, y = load_digits(return_X_y=True)
            X = (X[:300] / 16).astype(np.float32)
            net = CrestClassifier(Net, selection=EveryOther(), max_epochs=2,
                                  train_split=None, verbose=0, random_state=0)
            search = GridSearchCV(net, {"selection__offset": [0, 1]}, cv=2, n_jobs=2)
            search.fit(X, y[:300])
            print("searched", sorted(p["selection__offset"]
                                     for p in search.cv_results_["params"]))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "searched [0, 1]" in done.stdout


def test_a_registered_name_works_and_registration_is_checked(digits600):
    X, y = digits600
    with pytest.raises(InvalidParameterError, match="hardest_first"):
        _net("hardest_first", max_epochs=1).fit(X, y)
    register_strategy(HardestFirst)
    try:
        net = _net("hardest_first", max_epochs=2, selection__weight=4.0).fit(X, y)
        assert net.strategy_.weight == 4.0
    finally:
        del STRATEGIES[HardestFirst.name]
    with pytest.raises(TypeError, match="SelectionStrategy subclass"):
        register_strategy(object)

    class Nameless(SelectionStrategy):
        pass
    with pytest.raises(ValueError, match="non-empty string"):
        register_strategy(Nameless)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_get_params_shows_the_chosen_strategys_parameters_with_defaults(name):
    net = CrestClassifier(MLP, selection=name)
    strategy = STRATEGIES[name]()
    shown = {key[len("selection__"):]: value for key, value in net.get_params().items()
             if key.startswith("selection__")}
    assert shown == strategy.get_params()
    # Shallow parameters hold only what was set: clone and grid search stay
    # free to switch the selection.
    assert not any(key.startswith("selection__")
                   for key in net.get_params(deep=False))
    assert set(strategy.region_parameters) <= set(strategy.get_params())
    assert STRATEGIES[name].name == name


def test_a_parameter_of_another_strategy_is_an_error_naming_its_owners(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match=r"selection='crest'.*check_thresh_factor|"
                                         r"check_thresh_factor.*selection='crest'"):
        _net("random", selection__check_thresh_factor=0.05).fit(X, y)
    with pytest.raises(ValueError, match="selection='crest' or 'per_step'|"
                                         "'per_step' or 'crest'"):
        _net("random", selection__random_subset_size=64).fit(X, y)
    with pytest.raises(InvalidParameterError, match="check_thresh_factor.*selection__"):
        _net("crest", selection__check_thresh_factor=-1.0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="Did you mean 'crest'"):
        _net("crset").fit(X, y)


def test_switching_selection_keeps_the_pool_and_counters(digits600):
    X, y = digits600
    net = _net("per_step", max_epochs=4, selection__drop_learned=True,
               selection__drop_interval=2, selection__drop_thresh=10.0,
               selection__min_train_frac=0.9).fit(X, y)
    before = net.strategy_
    assert isinstance(before, PerStepCoresets)
    pool = before.pool.positions.copy()
    epoch, step = before.pool.epoch, before.pool.global_step
    assert pool.size < 600  # dropping changed it
    # A grid that switches selection: the per_step settings go with it.
    net.set_params(selection="crest", selection__drop_learned=False,
                   selection__drop_interval=20, selection__drop_thresh=0.1,
                   selection__min_train_frac=0.8)
    net.partial_fit(X, y)
    after = net.strategy_
    assert isinstance(after, CrestRegions)
    np.testing.assert_array_equal(after.pool.positions, pool)
    assert after.pool.epoch == epoch + 4 and after.pool.global_step > step
    # No warm-up again: the first continued epoch already selects.
    assert net.history[-4, "n_selections"] >= 1


class _LossDroppingClassifier(CrestClassifier):
    """A get_loss override that never calls super(): the pre-step-object
    way to silently stop CREST's checks."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.per_example_loss(y_pred, y_true).mean()


@pytest.mark.parametrize("selection", ["crest", "infobatch"])
def test_a_get_loss_override_that_drops_the_losses_is_detected(digits600, selection):
    X, y = digits600
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _net(selection, _LossDroppingClassifier, max_epochs=3).fit(X, y)
    assert any("never reported their per-example losses" in str(w.message)
               for w in caught)


def test_a_strategy_that_reads_nothing_back_is_not_warned_about(digits600):
    X, y = digits600
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _net("per_step", _LossDroppingClassifier, max_epochs=2).fit(X, y)
    messages = [str(w.message) for w in caught]
    # The override skips the weights (that warning is right), but per_step
    # reads no losses back.
    assert any("trained without their weights" in m for m in messages)
    assert not any("never reported" in m for m in messages)


def test_the_base_refuses_a_strategy_without_a_plan(digits600):
    X, y = digits600

    class NoPlan(SelectionStrategy):
        pass
    with pytest.raises(NotImplementedError):
        _net(NoPlan(), max_epochs=2).fit(X, y)


def test_switching_selection_keeps_the_watched_losses_only_for_the_same_window(digits600):
    X, y = digits600
    net = _net("per_step", max_epochs=2, selection__drop_learned=True,
               selection__watch_interval=2).fit(X, y)
    watched = net.strategy_.dropping
    assert watched.losses.shape == (2, len(y))
    net.set_params(selection="crest", selection__drop_learned=True,
                   selection__watch_interval=2)
    net.partial_fit(X, y)
    assert net.strategy_.dropping is watched  # the same window carries over
    net.set_params(selection="per_step", selection__drop_learned=True,
                   selection__watch_interval=3)
    net.partial_fit(X, y)
    assert net.strategy_.dropping.losses.shape == (3, len(y))  # a new window


def test_setting_the_same_selection_again_keeps_its_settings(digits600):
    # A grid that lists the selection (as GridSearchCV's set_params does)
    # must not drop the settings the estimator was built with.
    net = _net("crest", selection__check_thresh_factor=0.05)
    net.set_params(selection="crest", train_frac=0.3)
    assert net.get_params()["selection__check_thresh_factor"] == 0.05
    net.set_params(selection="per_step")
    assert "selection__check_thresh_factor" not in net.get_params()
    strategy = HardestFirst()
    net = _net(strategy, selection__weight=3.0)
    net.set_params(selection=strategy)
    assert net.get_params()["selection__weight"] == 3.0
    net.set_params(selection=HardestFirst(weight=0.5))
    assert net.get_params()["selection__weight"] == 0.5
