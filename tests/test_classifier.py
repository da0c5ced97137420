"""CrestClassifier: step budget, selection schedule, weights, sklearn and skorch glue."""

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import MLP, LazyMLP
from scipy import sparse
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LRScheduler,
    ProgressBar,
)
from skorch.dataset import Dataset as SkorchDataset
from skorch.dataset import ValidSplit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError
from torch.utils.data import TensorDataset

from sklearn_crest import CrestClassifier
from sklearn_crest.selection import HISTORY_KEYS, STRATEGIES

pytestmark = pytest.mark.usefixtures("torch_single_thread")

HISTORY_KEYS = ("n_selections", "n_checks", "n_steps", "n_forward_examples",
                "selection_forward_s",
                "selection_s", "check_s", "pool_size", "coreset_size", "selected_loss", "subset_loss")


def make_net(module=MLP, **params):
    """A tiny, fast, deterministic CrestClassifier (random subsets of 20%
    of the data where the selection draws them)."""
    settings = dict(selection="crest", train_frac=0.3, batch_size=32, lr=0.1,
                    max_epochs=3, train_split=None, verbose=0, random_state=0)
    settings.update(params)
    if _has_parameter(settings["selection"], "random_subset_size"):
        settings.setdefault("selection__random_subset_size", 0.2)
    return CrestClassifier(module, **settings)


def _has_parameter(selection, name):
    if isinstance(selection, str):
        return selection in STRATEGIES and name in STRATEGIES[selection]().get_params()
    return name in selection.get_params()


class StepCounter(Callback):
    """Counts, per epoch, training batches and actual optimizer steps."""

    def initialize(self):
        self.batches, self.steps = [], []
        self._batches = self._steps = 0
        self._hook = None
        return self

    def on_train_begin(self, net, **kwargs):
        # The optimizer exists now (fit initialises the net first).
        self._hook = net.optimizer_.register_step_post_hook(self._count_step)

    def _count_step(self, optimizer, args, kwargs):
        self._steps += 1

    def on_epoch_begin(self, net, **kwargs):
        self._batches = self._steps = 0

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self._batches += 1

    def on_epoch_end(self, net, **kwargs):
        self.batches.append(self._batches)
        self.steps.append(self._steps)

    def on_train_end(self, net, **kwargs):
        self._hook.remove()


class WeightRecordingClassifier(CrestClassifier):
    """Records the coreset weights that each training batch carries."""

    def train_step_single(self, batch, **fit_params):
        if not hasattr(self, "weights_seen_"):
            self.weights_seen_ = []
        assert len(batch) == 2  # skorch's (X, y): every callback understands it
        weight = self.coreset_weights(batch[0])
        self.weights_seen_.append(
            (len(self.history) - 1, len(batch[1]),
             None if weight is None else weight.detach().clone()))
        return super().train_step_single(batch, **fit_params)


def _counter(net):
    return dict(net.callbacks_)["counter"]


def _train_size(X, y, train_split):
    if train_split is None:
        return len(y)
    dataset_train, _ = train_split(SkorchDataset(X, y), y)
    return len(dataset_train)


# ------------------------------------------------------------- step budget
@pytest.mark.parametrize("n", [599, 600])
@pytest.mark.parametrize("train_split", [None, ValidSplit(5, stratified=True)],
                         ids=["no-split", "valid-split"])
@pytest.mark.parametrize("selection, check_thresh_factor", [
    ("crest", 0.1), ("crest", 0.0), ("random", 0.1), ("full", 0.1)])
def test_step_budget_is_exact(digits600, selection, check_thresh_factor,
                              train_split, n):
    X, y = digits600[0][:n], digits600[1][:n]
    crest_settings = ({"selection__check_thresh_factor": check_thresh_factor}
                      if selection == "crest" else {})
    net = make_net(selection=selection, train_split=train_split,
                   callbacks=[("counter", StepCounter())], **crest_settings)
    net.fit(X, y)

    n_train = _train_size(X, y, train_split)
    if selection == "full":
        expected = math.ceil(n_train / 32)
    else:
        expected = math.ceil(0.3 * n_train / 32)
    counter = _counter(net)
    assert net.history[:, "n_steps"] == [expected] * 3
    assert counter.steps == [expected] * 3
    assert counter.batches == [expected] * 3
    assert net.strategy_.pool.global_step == 3 * expected


def test_budget_scales_with_train_frac(digits600):
    X, y = digits600
    steps = {}
    for train_frac in (0.1, 0.5, 1.0):
        net = make_net(train_frac=train_frac, max_epochs=2,
                       callbacks=[("counter", StepCounter())]).fit(X, y)
        steps[train_frac] = _counter(net).steps
    assert steps == {0.1: [2, 2], 0.5: [10, 10], 1.0: [19, 19]}


# ---------------------------------------------------------- re-selections
def test_reselections_rise_as_check_thresh_factor_falls(digits600):
    X, y = digits600
    selections, checks = {}, {}
    for factor in (1e9, 1e-3, 0.0):
        net = make_net(selection__check_thresh_factor=factor, max_epochs=6).fit(X, y)
        selections[factor] = net.history[:, "n_selections"]
        checks[factor] = net.history[:, "n_checks"]

    # Epoch 0 is a random warm-up; the first selection opens epoch 1.
    assert all(s[0] == 0 for s in selections.values())
    assert selections[1e9] == [0, 1, 0, 0, 0, 0]
    assert sum(checks[1e9]) > 0  # checks run, but never fail
    totals = [sum(selections[f]) for f in (1e9, 1e-3, 0.0)]
    assert totals[0] < totals[1] < totals[2], totals
    # With a zero tolerance every check fails and re-selects.
    assert sum(selections[0.0]) == sum(checks[0.0]) + 1


def test_training_loss_checks_run_no_forward_pass(digits600):
    X, y = digits600
    forward, selections = {}, {}
    for check_loss in ("sample", "training"):
        net = make_net(selection__check_loss=check_loss, selection__check_thresh_factor=1e9,
                       selection__num_minibatch_coreset=2, max_epochs=4).fit(X, y)
        forward[check_loss] = sum(net.history[:, "n_forward_examples"])
        selections[check_loss] = net.history[:, "n_selections"]
        schedule = net.strategy_
    assert selections["training"] == selections["sample"] == [0, 1, 0, 0]
    # One region: its two random subsets and one batch for the curvature
    # probe are all the forward passes; the quadratic model's loss and
    # gradient come from the first training step, and checks add none.
    assert schedule.check_sample is None
    assert forward["training"] == len(schedule.region["positions"]) + 32
    assert forward["sample"] > 2 * forward["training"]
    # Every step but the region's first reported a loss change, and every
    # check (before each step) but the first read one: the last report waits
    # for the next fit's first check.
    assert len(schedule.check_log) == 3 * math.ceil(0.3 * len(y) / 32) - 2
    assert len(schedule.observations) == 1


def test_training_loss_checks_reselect_as_the_threshold_falls(digits600):
    X, y = digits600
    totals = {}
    for factor in (1e9, 1e-3, 0.0):
        net = make_net(selection__check_loss="training", selection__check_thresh_factor=factor,
                       max_epochs=5).fit(X, y)
        totals[factor] = sum(net.history[:, "n_selections"])
        checks = sum(net.history[:, "n_checks"])
    assert totals[1e9] == 1
    assert totals[1e9] < totals[1e-3] < totals[0.0]
    # A zero tolerance fails every check that had a report.
    assert totals[0.0] == checks + 1


def test_a_training_loss_report_is_the_weighted_change_since_measured(digits600):
    X, y = digits600
    net = make_net(selection__check_loss="training", selection__check_thresh_factor=1e9,
                   max_epochs=2).fit(X, y)
    schedule = net.strategy_
    schedule.observations = []
    observation = {
        "mask": torch.tensor([True, False, True]),
        "weights": torch.tensor([1.0, 3.0]),
        "losses": np.array([1.0, 2.0]), "predicted": np.array([0.5, 0.7])}
    from sklearn_crest._net_view import NetModel
    receiver = schedule._loss_receiver(NetModel(net), observation, None)
    receiver(torch.tensor([0.5, 9.0, 1.0]))
    ((observed, predicted, now),) = schedule.observations
    assert now == pytest.approx((0.5 + 3 * 1.0) / 4)
    assert observed == pytest.approx(now - (1.0 + 3 * 2.0) / 4)
    model_now = schedule.quadratic_model.predict(NetModel(net).parameters())
    assert predicted == pytest.approx(model_now - (0.5 + 3 * 0.7) / 4)


class GradientWitness(CrestClassifier):
    """Records, at each region's first step, what CREST anchors on and what
    the step computed, independently of the strategy."""

    def on_grad_computed(self, net, named_parameters, batch=None, training=False,
                         **kwargs):
        strategy = self.strategy_
        step = self._step_registry.current
        anchoring = (step is not None and step.wants_gradient
                     and strategy.anchor_loss is not None)
        if anchoring:
            X, y = batch
            weights = self.coreset_weights(X)
            with torch.no_grad():
                losses = self.per_example_loss(self.infer(X), y)
            self.witnessed_.append({
                "loss": float((weights * losses).mean()),
                "gradient": torch.cat([p.grad.detach().reshape(-1).clone()
                                       for p in self.module_.parameters()]),
                "anchor": torch.cat([p.detach().reshape(-1).clone()
                                     for p in self.module_.parameters()])})
        super().on_grad_computed(net, named_parameters, batch=batch,
                                 training=training, **kwargs)
        if anchoring:
            model = strategy.quadratic_model
            self.anchored_.append({"loss": model.loss_at_selection,
                                   "gradient": model.gradient.clone(),
                                   "anchor": model.anchor.clone()})


def test_crest_anchors_its_loss_model_on_the_regions_first_training_step(digits600):
    # selection__check_loss="training": L0 and g are the first coreset's weighted loss and
    # its gradient at the selection's parameters, as the training step computed
    # them; no check sample is evaluated.
    X, y = digits600
    net = GradientWitness(MLP, selection="crest", train_frac=0.3, batch_size=32,
                          lr=0.1, max_epochs=5, selection__check_thresh_factor=0.0,
                          train_split=None, verbose=0, random_state=0)
    net.witnessed_, net.anchored_ = [], []
    net.fit(X, y)
    n_selections = int(sum(net.history[:, "n_selections"]))
    assert n_selections >= 2
    assert len(net.anchored_) == len(net.witnessed_) == n_selections
    for seen, anchored in zip(net.witnessed_, net.anchored_):
        assert anchored["loss"] == pytest.approx(seen["loss"], rel=1e-5)
        torch.testing.assert_close(anchored["gradient"], seen["gradient"])
        torch.testing.assert_close(anchored["anchor"], seen["anchor"])
    assert net.strategy_.check_sample is None
    # A probe on the first selection, then one on every fourth.
    assert net.strategy_.quadratic_model.n_probes == math.ceil(n_selections / 4)


def test_crest_falls_back_to_a_check_sample_when_the_step_hands_over_nothing(
        digits600):
    # A get_loss override that skips super() hands CREST neither the losses nor
    # (so) the gradient: the fit warns once and fits its loss model on a check
    # sample, a step late, instead of running without one.
    class OwnLoss(CrestClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return torch.nn.functional.cross_entropy(y_pred, y_true)

    X, y = digits600
    net = OwnLoss(MLP, selection="crest", train_frac=0.3, batch_size=32, lr=0.1,
                  max_epochs=3, train_split=None, verbose=0, random_state=0)
    with pytest.warns(UserWarning, match="anchors its loss model") as record:
        net.fit(X, y)
    assert sum("anchors its loss model" in str(w.message) for w in record) == 1
    assert net.strategy_.check_sample is not None
    assert math.isfinite(net.strategy_.quadratic_model.loss_at_selection)


def test_settings_a_selection_does_not_use_are_named(digits600):
    X, y = digits600
    # Another strategy's parameter: an error naming the strategies that have it.
    for selection, name, value, owners in (
            ("per_step", "check_thresh_factor", 0.3, "'crest'"),
            ("random", "random_subset_size", 0.2, "'crest' or 'per_step'"),
            ("random", "drop_learned", True, "'craig' or 'crest' or 'gradmatch' or 'per_step'"),
            ("craig", "regularization", 1.0, "'gradmatch'"),
            ("gradmatch", "selection_metric", "cosine", "'craig' or 'crest' or 'per_step'"),
            ("per_step", "selection_interval", 2, "'craig' or 'gradmatch'"),
            ("crest", "proxy_reuse_steps", 2, "'per_step'")):
        with pytest.raises(ValueError, match=f"selection__{name}.*belongs to "
                                             f"selection={owners}"):
            make_net(selection=selection, max_epochs=1,
                     **{f"selection__{name}": value}).fit(X, y)
    # Settings that act only with another setting, or a budget the strategy
    # does not take: a warning, once per fit, at the user's line.
    net = make_net(selection="per_step", selection__drop_thresh=0.5,
                   selection__watch_interval=2, max_epochs=1)
    with pytest.warns(UserWarning, match="does not use") as record:
        net.fit(X, y)
    (message,) = [str(w.message) for w in record if "does not use" in str(w.message)]
    assert "selection__drop_thresh=0.5" in message
    assert "selection__watch_interval=2" in message
    assert "selection__drop_learned=True" in message
    assert record[0].filename == __file__  # points at the user's line
    with pytest.warns(UserWarning, match="does not use train_frac=0.5"):
        make_net(selection="full", train_frac=0.5, max_epochs=1).fit(X, y)
    # Defaults, and settings that act, say nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net(selection="crest", selection__check_thresh_factor=0.3, max_epochs=1).fit(X, y)
        make_net(selection="per_step", max_epochs=1, selection__drop_learned=True,
                 selection__drop_thresh=0.5).fit(X, y)


def test_random_and_full_never_select(digits600):
    X, y = digits600
    for selection in ("random", "full"):
        net = make_net(selection=selection).fit(X, y)
        assert net.history[:, "n_selections"] == [0, 0, 0]
        assert net.history[:, "n_checks"] == [0, 0, 0]
        assert net.history[:, "coreset_size"] == [0, 0, 0]


# ---------------------------------------------------------- drop learned
@pytest.mark.parametrize("min_train_frac", [0.5, 0.9])
@pytest.mark.parametrize("watch_interval", [1, 2])
def test_drop_learned_shrinks_pool_down_to_the_floor(digits600, min_train_frac,
                                                     watch_interval):
    X, y = digits600
    n = len(y)
    # A huge drop_thresh makes every observed example count as learned; drops
    # are tried at the start of epochs 3 and 5 (selection__drop_interval=2).
    net = make_net(selection__drop_learned=True, selection__drop_interval=2, selection__watch_interval=watch_interval,
                   selection__drop_thresh=10.0, selection__min_train_frac=min_train_frac, batch_size=16,
                   selection__random_subset_size=0.1, selection__check_thresh_factor=0.01,
                   max_epochs=6).fit(X, y)
    pool_sizes = net.history[:, "pool_size"]
    floor = math.ceil(min_train_frac * n)
    assert pool_sizes[:3] == [n] * 3
    assert all(size >= floor for size in pool_sizes), pool_sizes
    assert pool_sizes[-1] < n, pool_sizes
    assert all(a >= b for a, b in zip(pool_sizes, pool_sizes[1:])), pool_sizes
    schedule = net.strategy_
    assert len(schedule.pool.positions) == len(np.unique(schedule.pool.positions)) == pool_sizes[-1]
    # The last selection came after the last drop: it drew from the new pool.
    assert net.history[-1, "n_selections"] > 0
    served = np.concatenate([positions for positions, _ in schedule.coresets])
    assert np.isin(served, schedule.pool.positions).all()


def test_no_drop_without_drop_learned(digits600):
    X, y = digits600
    net = make_net(selection__drop_learned=False, selection__drop_interval=2, selection__watch_interval=1,
                   selection__drop_thresh=10.0, selection__min_train_frac=0.5, max_epochs=6).fit(X, y)
    assert net.history[:, "pool_size"] == [len(y)] * 6


# ---------------------------------------------------------------- weights
def test_get_loss_applies_the_batch_weights(digits600):
    X, y = digits600
    net = make_net(max_epochs=1).fit(X, y)
    Xb = torch.from_numpy(X[:8])
    yb = torch.from_numpy(net.label_encoder_.transform(y[:8]).astype(np.int64))
    y_pred = net.infer(Xb).detach()
    per_example = torch.nn.functional.cross_entropy(y_pred, yb, reduction="none")
    weights = torch.tensor([0.1, 1.9, 0.5, 1.5, 3.0, 0.2, 0.3, 0.5])

    # The batch's weights are found by its input object, as served.
    from sklearn_crest._training_iterator import StepRegistry
    from sklearn_crest.selection import Step
    registry = StepRegistry()
    net._step_registry = registry
    registry.add(Xb, Step(np.arange(8), weights))
    weighted = net.get_loss(y_pred, yb, X=Xb, training=True)
    torch.testing.assert_close(weighted, (weights * per_example).mean())
    assert not torch.allclose(weighted, per_example.mean())
    # Another tensor with the same values is another batch: unit weights.
    torch.testing.assert_close(
        net.get_loss(y_pred, yb, X=Xb.clone(), training=True), per_example.mean())
    assert registry.close() == (0, 0)
    # A served batch whose weights never reached get_loss is counted, and so
    # is a step whose losses never reached its strategy.
    registry.add(Xb, Step(np.arange(8), weights, on_losses=lambda losses: None))
    assert registry.close() == (1, 1)
    # Evaluation losses are never weighted.
    torch.testing.assert_close(net.get_loss(y_pred, yb, X=Xb, training=False),
                               per_example.mean())


def test_coreset_weights_reach_get_loss_during_training(digits600):
    X, y = digits600
    net = WeightRecordingClassifier(
        MLP, selection="crest", train_frac=0.3, selection__random_subset_size=0.2, batch_size=32, lr=0.1,
        max_epochs=3, selection__check_thresh_factor=1e9, train_split=None, verbose=0,
        random_state=0, selection__region_coresets="cycle").fit(X, y)
    seen = net.weights_seen_
    assert len(seen) == sum(net.history[:, "n_steps"])
    warm_up = [w for epoch, _, w in seen if epoch == 0]
    crest = [(size, w) for epoch, size, w in seen if epoch > 0]
    assert warm_up and all(w is None for w in warm_up)
    assert crest and all(w is not None for _, w in crest)
    coreset_weights = [w for _, w in net.strategy_.coresets]
    for size, w in crest:
        assert len(w) == size == 32
        assert (w > 0).all()
        assert float(w.mean()) == pytest.approx(1.0, abs=1e-5)
        # With one selection, every step uses one of its coresets' weights.
        assert any(torch.equal(w, c) for c in coreset_weights)
    assert max(float(w.std()) for _, w in crest) > 0.1


# ----------------------------------------------------- labels and inputs
def test_string_labels_round_trip(digits600):
    X, y = digits600
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"])
    y_str = names[y]
    net = make_net(max_epochs=4, lr=0.5).fit(X, y_str)
    np.testing.assert_array_equal(net.classes_, np.sort(names))
    predicted = net.predict(X)
    assert predicted.dtype == y_str.dtype
    assert set(predicted) <= set(names)
    proba = net.predict_proba(X)
    assert proba.shape == (len(y), 10)
    np.testing.assert_array_equal(predicted, net.classes_[proba.argmax(axis=1)])
    assert accuracy_score(y_str, predicted) > 0.5
    assert net.score(X, y_str) == accuracy_score(y_str, predicted)


def test_dataframe_sets_feature_names(digits600):
    X, y = digits600
    columns = [f"pixel_{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    net = make_net().fit(frame, pd.Series(y))
    np.testing.assert_array_equal(net.feature_names_in_, columns)
    assert net.n_features_in_ == X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_frame = net.predict(frame)
    np.testing.assert_array_equal(from_frame, make_net().fit(X, y).predict(X))
    with pytest.raises(ValueError, match="feature names"):
        net.predict(frame.rename(columns={"pixel_0": "other"}))


def test_tensors_float64_and_arrays_give_the_same_model(digits600):
    X, y = digits600
    reference = make_net().fit(X, y)
    proba = reference.predict_proba(X)
    assert proba.dtype == np.float32
    assert all(p.dtype == torch.float32 for p in reference.module_.parameters())

    from_tensors = make_net().fit(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_array_equal(
        from_tensors.predict_proba(torch.from_numpy(X)), proba)
    from_float64 = make_net().fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(from_float64.predict_proba(X.astype(np.float64)),
                                  proba)
    np.testing.assert_array_equal(from_float64.predict_proba(X), proba)
    # random_state matters: another seed gives another model.
    other = make_net(random_state=1).fit(X, y)
    assert not np.array_equal(other.predict_proba(X), proba)


def test_torch_dataset_input(digits600):
    X, y = digits600
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(y.astype(np.int64)))
    net = make_net(LazyMLP, max_epochs=5, lr=0.5).fit(dataset)
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    assert net.history[:, "n_steps"] == [math.ceil(0.3 * len(y) / 32)] * 5
    assert sum(net.history[:, "n_selections"]) >= 1
    from_dataset = net.predict(dataset)
    np.testing.assert_array_equal(from_dataset, net.predict(X))
    assert accuracy_score(y, from_dataset) > 0.5
    with pytest.raises(ValueError, match="y=None"):
        make_net(LazyMLP).fit(dataset, y)
    float_labels = TensorDataset(torch.from_numpy(X), torch.from_numpy(y * 1.0))
    with pytest.raises(ValueError, match="integer"):
        make_net(LazyMLP).fit(float_labels)


def test_module_output_size_from_classes(digits600):
    X, y = digits600
    keep = y < 3
    labels = np.array(["a", "b", "c"])[y[keep]]
    net = make_net(max_epochs=1).fit(X[keep], labels)
    assert net.module_.output.out_features == 3
    assert net.module_.hidden.in_features == X.shape[1]

    lazy = make_net(LazyMLP, max_epochs=1).fit(X[keep], labels)
    assert lazy.module_.output.out_features == 3

    # An output layer of another size would give predict_proba columns that
    # are not classes_: refused, with the fix.
    with pytest.raises(ValueError, match="leave module__n_classes unset"):
        make_net(max_epochs=1, module__n_classes=5).fit(X[keep], labels)

    with_classes = make_net(max_epochs=1, classes=["a", "b", "c", "d"]).fit(
        X[keep], labels)
    assert with_classes.module_.output.out_features == 4
    np.testing.assert_array_equal(with_classes.classes_, ["a", "b", "c", "d"])

    instance = make_net(MLP(X.shape[1], 3), max_epochs=1).fit(X[keep], labels)
    assert instance.predict(X[keep]).shape == (keep.sum(),)


def test_prediction_of_a_row_does_not_depend_on_its_batch(digits600):
    X, y = digits600
    net = make_net().fit(X, y)
    proba = net.predict_proba(X)
    np.testing.assert_array_equal(net.predict_proba(X[:5]), proba[:5])
    permutation = np.random.RandomState(0).permutation(len(y))
    np.testing.assert_array_equal(net.predict_proba(X[permutation]),
                                  proba[permutation])


def test_predict_before_fit_and_wrong_width(digits600):
    X, y = digits600
    with pytest.raises(NotFittedError):
        make_net().predict(X)
    net = make_net(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        net.predict(X[:, :10])


# ------------------------------------------------------------- persistence
def test_clone_pickle_and_params_round_trips(digits600, tmp_path):
    X, y = digits600
    net = make_net().fit(X, y)
    proba = net.predict_proba(X)

    cloned = clone(net)
    assert not cloned.initialized_
    assert (cloned.get_params()["selection__random_subset_size"]
            == net.get_params()["selection__random_subset_size"] == 0.2)
    np.testing.assert_array_equal(cloned.fit(X, y).predict_proba(X), proba)

    unpickled = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(unpickled.predict_proba(X), proba)
    np.testing.assert_array_equal(unpickled.classes_, net.classes_)
    assert unpickled.strategy_.pool.global_step == net.strategy_.pool.global_step

    net.save_params(f_params=tmp_path / "params.pt",
                    f_optimizer=tmp_path / "optimizer.pt",
                    f_history=tmp_path / "history.json")
    fresh = make_net(max_epochs=0).fit(X, y)
    assert not np.array_equal(fresh.predict_proba(X), proba)
    fresh.load_params(f_params=tmp_path / "params.pt",
                      f_optimizer=tmp_path / "optimizer.pt",
                      f_history=tmp_path / "history.json")
    np.testing.assert_array_equal(fresh.predict_proba(X), proba)
    assert fresh.history[:, "n_steps"] == net.history[:, "n_steps"]


def test_grid_search_in_parallel(digits600):
    X, y = digits600
    grid = {"selection__check_thresh_factor": [0.01, 1e9], "train_frac": [0.2, 0.5]}
    search = GridSearchCV(make_net(max_epochs=2), grid, cv=2, n_jobs=2,
                          error_score="raise").fit(X, y)
    assert (search.best_params_["selection__check_thresh_factor"]
            in grid["selection__check_thresh_factor"])
    assert search.best_params_["train_frac"] in grid["train_frac"]
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 4 and np.isfinite(scores).all()
    assert search.predict(X).shape == (len(y),)


# --------------------------------------------------------------- callbacks
def test_early_stopping(digits600):
    X, y = digits600
    # Asking for a 50% better valid_loss every epoch stops the fit early.
    net = make_net(max_epochs=20, train_split=ValidSplit(5, stratified=True),
                   callbacks=[EarlyStopping(patience=2, threshold=0.5)]).fit(X, y)
    assert len(net.history) < 20
    assert net.history[:, "n_steps"] == [net.history[0, "n_steps"]] * len(net.history)


def test_lr_scheduler(digits600):
    X, y = digits600
    net = make_net(callbacks=[LRScheduler(torch.optim.lr_scheduler.StepLR,
                                          step_size=1, gamma=0.5)]).fit(X, y)
    assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert net.history[:, "event_lr"] == pytest.approx([0.1, 0.05, 0.025])


def test_checkpoint(digits600, tmp_path):
    X, y = digits600
    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make_net(callbacks=[checkpoint]).fit(X, y)
    for name in ("params.pt", "optimizer.pt", "criterion.pt", "history.json"):
        assert (tmp_path / name).is_file(), name
    assert net.history[:, "event_cp"] == [True] * 3

    restored = make_net(max_epochs=0).fit(X, y)
    restored.load_params(checkpoint=checkpoint)
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))

    best = Checkpoint(dirname=str(tmp_path / "best"))
    make_net(train_split=ValidSplit(5, stratified=True), callbacks=[best]).fit(X, y)
    assert (tmp_path / "best" / "params.pt").is_file()


@pytest.mark.parametrize("train_split", [None, ValidSplit(5, stratified=True)],
                         ids=["no-split", "valid-split"])
def test_progress_bar(digits600, train_split):
    X, y = digits600
    net = make_net(train_split=train_split, callbacks=[ProgressBar()]).fit(X, y)
    assert len(net.history) == 3


@pytest.mark.parametrize("labels", ["strings", "shifted-ints"])
@pytest.mark.parametrize("use_caching", [True, False])
def test_epoch_scoring_matches_valid_acc(digits600, use_caching, labels):
    X, y = digits600
    # Labels that differ from their encoding 0..n_classes-1.
    y = np.array(list("abcdefghij"))[y] if labels == "strings" else y + 1
    scoring = EpochScoring("accuracy", on_train=False, lower_is_better=False,
                           name="my_acc", use_caching=use_caching)
    net = make_net(max_epochs=4, lr=0.5, train_split=ValidSplit(5, stratified=True),
                   callbacks=[("my_acc", scoring)]).fit(X, y)
    assert net.history[:, "my_acc"] == net.history[:, "valid_acc"]
    # valid_acc is the accuracy of the fitted model on skorch's validation rows.
    _, dataset_valid = net.get_split_datasets(
        torch.from_numpy(X),
        torch.from_numpy(net.label_encoder_.transform(y).astype(np.int64)))
    rows = np.asarray(dataset_valid.indices)
    assert net.history[-1, "valid_acc"] == pytest.approx(
        accuracy_score(y[rows], net.predict(X[rows])), abs=1e-12)
    assert net.history[-1, "valid_acc"] > 0.6


def test_valid_acc_without_caching(digits600):
    X, y = digits600
    y = y + 1  # integer labels that differ from their encoding
    net = make_net(max_epochs=3, lr=0.5, use_caching=False,
                   train_split=ValidSplit(5, stratified=True)).fit(X, y)
    _, dataset_valid = net.get_split_datasets(
        torch.from_numpy(X),
        torch.from_numpy(net.label_encoder_.transform(y).astype(np.int64)))
    rows = np.asarray(dataset_valid.indices)
    assert net.history[-1, "valid_acc"] == pytest.approx(
        accuracy_score(y[rows], net.predict(X[rows])), abs=1e-12)


# ------------------------------------------------------------- partial_fit
def test_partial_fit_continues_from_the_current_state(digits600):
    X, y = digits600
    steps = math.ceil(0.3 * len(y) / 32)
    net = make_net(max_epochs=2, selection__check_thresh_factor=1e9).fit(X, y)
    module, schedule, optimizer = net.module_, net.strategy_, net.optimizer_
    assert schedule.pool.global_step == 2 * steps
    snapshot = {k: v.clone() for k, v in module.state_dict().items()}

    # With a zero learning rate nothing may move unless something re-initialises.
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    net.partial_fit(X, y)
    assert len(net.history) == 4
    assert net.module_ is module and net.strategy_ is schedule
    assert net.optimizer_ is optimizer
    assert schedule.pool.global_step == 4 * steps
    assert schedule.pool.epoch == 4
    for key, value in net.module_.state_dict().items():
        assert torch.equal(value, snapshot[key]), key
    # No second warm-up and no second first selection.
    assert net.history[:, "n_selections"] == [0, 1, 0, 0]
    assert net.history[:, "n_steps"] == [steps] * 4

    for group in optimizer.param_groups:
        group["lr"] = 0.1
    net.partial_fit(X, y, epochs=1)
    assert len(net.history) == 5
    assert schedule.pool.global_step == 5 * steps
    assert net.history[-1, "train_loss"] < net.history[0, "train_loss"]


def test_partial_fit_from_scratch_with_classes(digits600):
    X, y = digits600
    first = y < 5
    net = make_net(max_epochs=1)
    net.partial_fit(X[first], y[first], classes=np.arange(10))
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    assert net.module_.output.out_features == 10
    net.partial_fit(X, y)
    assert len(net.history) == 2


def test_warm_start_continues(digits600):
    X, y = digits600
    net = make_net(max_epochs=2, warm_start=True, selection__check_thresh_factor=1e9).fit(X, y)
    module, schedule = net.module_, net.strategy_
    net.fit(X, y)
    assert net.module_ is module and net.strategy_ is schedule
    assert len(net.history) == 4
    assert net.history[:, "n_selections"] == [0, 1, 0, 0]


# -------------------------------------------------------------- small data
def test_small_random_subsets_warn_and_still_fit(digits600):
    X, y = digits600[0][:100], digits600[1][:100]
    net = make_net(batch_size=16, selection__random_subset_size=0.1, selection__check_thresh_factor=0.0,
                   max_epochs=3)
    with pytest.warns(UserWarning, match="random_subset_size") as record:
        net.fit(X, y)
    messages = [str(w.message) for w in record if "random_subset_size" in str(w.message)]
    assert len(messages) == 1
    assert "Raise selection__random_subset_size to at least 32" in messages[0]
    assert "lower batch_size" in messages[0]
    # Raised inside the schedule, attributed to the line that called fit.
    assert [w.filename for w in record if "random_subset_size" in str(w.message)] \
        == [__file__]
    assert net.predict(X).shape == (100,)
    assert all(len(positions) == 16 for positions, _ in net.strategy_.coresets)
    assert sum(net.history[:, "n_selections"]) > 1


def test_a_pool_smaller_than_two_batches_says_to_lower_batch_size(digits600):
    X, y = digits600[0][:100], digits600[1][:100]
    with pytest.warns(UserWarning, match="lower batch_size") as record:
        make_net(batch_size=64, max_epochs=2).fit(X, y)
    assert not any("Raise selection__random_subset_size" in str(w.message)
                   for w in record)


def test_the_default_subset_size_does_not_warn_on_small_data(digits600):
    # "auto" is two batches: it grows silently, in a grid search as well.
    X, y = digits600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GridSearchCV(CrestClassifier(MLP, max_epochs=2, batch_size=32, verbose=0,
                                     train_split=None, random_state=0),
                     {"train_frac": [0.1, 0.2]}, cv=2).fit(X, y)
    # per_step: two batches per random subset; crest: 1% of 600, at least that.
    for selection in ("per_step", "crest"):
        crest_settings = ({"selection__check_loss": "sample"}
                          if selection == "crest" else {})
        net = CrestClassifier(MLP, selection=selection, max_epochs=2, batch_size=32,
                              verbose=0, train_split=None, random_state=0,
                              **crest_settings).fit(X, y)
        assert net.strategy_._class_quotas()[1].sum() == 64
    per_step = CrestClassifier(MLP, max_epochs=2, batch_size=32, verbose=0,
                               train_split=None, random_state=0).fit(X, y)
    history = per_step.history[-1]
    assert history["n_forward_examples"] == 64 * history["n_selections"]


def test_no_warning_when_random_subsets_are_large_enough(digits600):
    X, y = digits600
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        make_net(selection__random_subset_size=0.2).fit(X, y)


# -------------------------------------------------------------- bad input
def _bad_inputs(X, y):
    X_nan = X.copy()
    X_nan[3, 5] = np.nan
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    return {
        "nan": (X_nan, y, ValueError, "NaN"),
        "inf": (X_inf, y, ValueError, "infinity"),
        "empty": (np.empty((0, X.shape[1]), dtype=np.float32), y[:0], ValueError,
                  "0 sample"),
        "y-length": (X, y[:-1], ValueError, "samples"),
        "y-none": (X, None, ValueError, "requires y"),
        "sparse": (sparse.csr_matrix(X), y, TypeError, "[Ss]parse"),
        "continuous-y": (X, y + 0.5, ValueError, "Unknown label type"),
    }


@pytest.mark.parametrize("case", ["nan", "inf", "empty", "y-length", "y-none",
                                  "sparse", "continuous-y"])
def test_bad_input_raises_clear_errors(digits600, case):
    X, y, error, match = _bad_inputs(*digits600)[case]
    with pytest.raises(error, match=match):
        make_net().fit(X, y)


@pytest.mark.parametrize("param, value", [
    ("train_frac", 0), ("train_frac", 1.5), ("selection", "foo"),
    ("predict_padding", "yes"), ("data_on_device", "yes"),
])
def test_bad_hyperparameters_raise_invalid_parameter_error(digits600, param, value):
    X, y = digits600
    with pytest.raises(InvalidParameterError, match=param):
        make_net(**{param: value}).fit(X, y)
    with pytest.raises(InvalidParameterError, match=param):
        make_net(**{param: value}).partial_fit(X, y)


@pytest.mark.parametrize("selection, param, value", [
    ("crest", "random_subset_size", 0.0), ("crest", "check_thresh_factor", -1.0),
    ("crest", "num_minibatch_coreset", 0), ("per_step", "drop_learned", "yes"),
    ("crest", "min_train_frac", 0.0), ("craig", "selection_metric", "manhattan"),
    ("crest", "region_coresets", "shuffle"), ("per_step", "proxy_reuse_steps", -1),
    ("crest", "class_balance", "equal"), ("craig", "selection_interval", 0),
    ("gradmatch", "regularization", -0.5), ("per_step", "selection_precision", "float16"),
    ("crest", "check_loss", "eval"), ("per_step", "random_subset_size", "half"),
    ("infobatch", "prune_ratio", 0.95), ("random", "random_sampling", "sometimes"),
])
def test_bad_strategy_parameters_raise_invalid_parameter_error(digits600, selection,
                                                               param, value):
    X, y = digits600
    # The strategy's constraint, and the estimator's route to it, are named.
    match = rf"'{param}' parameter of \w+ must be .*selection__"
    net = make_net(selection=selection, **{f"selection__{param}": value})
    with pytest.raises(InvalidParameterError, match=match):
        net.fit(X, y)
    with pytest.raises(InvalidParameterError, match=match):
        net.partial_fit(X, y)
    assert not hasattr(net, "strategy_") or net.strategy_ is None


def test_partial_fit_rejects_unseen_labels(digits600):
    X, y = digits600
    first = y < 5
    net = make_net(max_epochs=1).fit(X[first], y[first])
    with pytest.raises(ValueError, match="not seen"):
        net.partial_fit(X, y)


@pytest.mark.parametrize("case", ["nan", "sparse", "y-none", "y-length-and-width",
                                  "bad-param"])
def test_failed_fit_does_not_corrupt_a_fitted_model(digits600, case):
    X, y = digits600
    net = make_net().fit(X, y)
    proba = net.predict_proba(X)
    bad = _bad_inputs(X, y)
    if case == "y-length-and-width":
        # Valid X (other width), invalid y: the error comes after X is checked.
        with pytest.raises(ValueError, match="samples"):
            net.fit(X[:, :10], y[:-1])
    elif case == "bad-param":
        net.set_params(train_frac=0)
        with pytest.raises(InvalidParameterError, match="train_frac"):
            net.fit(X, y)
        net.set_params(train_frac=0.3)
    else:
        X_bad, y_bad, error, match = bad[case]
        with pytest.raises(error, match=match):
            net.fit(X_bad, y_bad)
    assert net.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    np.testing.assert_array_equal(net.predict_proba(X), proba)


def test_failed_fit_keeps_feature_names(digits600):
    X, y = digits600
    frame = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])
    net = make_net().fit(frame, y)
    proba = net.predict_proba(frame)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.fit(X_nan, y)
    np.testing.assert_array_equal(net.feature_names_in_, frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(net.predict_proba(frame), proba)


# ---------------------------------------------------------------- history
def test_history_records_per_epoch_figures(digits600):
    X, y = digits600
    steps = math.ceil(0.3 * len(y) / 32)
    net = make_net(max_epochs=4, selection__check_thresh_factor=1e9, selection__check_loss="sample",
                   selection__region_coresets="cycle").fit(X, y)
    for row in net.history:
        for key in HISTORY_KEYS:
            assert key in row, key
    history = net.history
    assert history[:, "n_steps"] == [steps] * 4
    assert history[:, "n_selections"] == [0, 1, 0, 0]
    # selection__check_interval=1: a check before every step but the selecting one.
    assert history[:, "n_checks"] == [0, steps - 1, steps, steps]
    assert history[:, "pool_size"] == [len(y)] * 4
    selection_s = history[:, "selection_s"]
    assert selection_s[0] == 0 and selection_s[1] > 0
    assert selection_s[2] == selection_s[3] == 0
    check_s = history[:, "check_s"]
    assert check_s[0] == 0 and all(s > 0 for s in check_s[1:])
    selected = history[:, "selected_loss"]
    assert np.isnan(selected[0]) and np.isnan(selected[2]) and np.isnan(selected[3])
    assert 0 < selected[1] < 10
    coreset_size = history[:, "coreset_size"]
    assert coreset_size[0] == 0
    assert 32 <= coreset_size[1] <= 5 * 32
    assert coreset_size[1] == coreset_size[2] == coreset_size[3]
    # Forward passes only where coresets were built and checks ran.
    forward = history[:, "n_forward_examples"]
    assert forward[0] == 0 and forward[1] > forward[2] == forward[3] > 0
    # Resampling from the region's pool instead: a fresh coreset (facility
    # location, no forward pass) at every step of the long region.
    resampled = make_net(max_epochs=4, selection__check_thresh_factor=1e9,
                         selection__check_loss="sample").fit(X, y).history
    assert resampled[:, "n_selections"] == [0, 1, 0, 0]
    assert all(s > 0 for s in resampled[2:, "selection_s"])
    assert all(np.isfinite(v) for v in resampled[1:, "selected_loss"])
    assert resampled[2:, "n_forward_examples"] == forward[2:]


def test_partial_fit_takes_new_hyperparameters_and_keeps_state(digits600):
    X, y = digits600
    net = make_net(max_epochs=2, train_frac=0.1).fit(X, y)
    step = net.strategy_.pool.global_step
    net.set_params(train_frac=0.2, selection__check_thresh_factor=1e9)
    net.partial_fit(X, y)
    steps = net.history[-1, "n_steps"]
    assert steps == math.ceil(0.2 * len(X) / net.batch_size)
    assert net.strategy_.pool.global_step == step + 2 * steps
    assert net.strategy_.check_thresh_factor == 1e9


def test_selection_losses_are_recorded_from_the_second_epoch(digits600):
    X, y = digits600
    net = make_net(max_epochs=3).fit(X, y)
    selected = net.history[:, "selected_loss"]
    subset = net.history[:, "subset_loss"]
    # Epoch 1 is the random warm-up: nothing is selected.
    assert math.isnan(selected[0]) and math.isnan(subset[0])
    assert net.history[1, "n_selections"] >= 1
    assert selected[1] > 0 and subset[1] > 0
    # Weighted coresets are drawn from their subsets: both losses describe
    # the same model, so they are of the same order.
    assert 0.1 < selected[1] / subset[1] < 10


# ---------------------------------------------------------------------------
# State across calls: new data, new hyperparameters, a rebuilt module
# ---------------------------------------------------------------------------


def test_partial_fit_on_other_data_selects_afresh(digits600):
    X, y = digits600
    net = make_net(max_epochs=2, selection__check_thresh_factor=1e9).fit(X, y)
    old_positions = [c[0].copy() for c in net.strategy_.coresets]
    net.partial_fit(X, y)
    # The same data again: the region goes on, nothing is re-selected.
    assert sum(net.history[-2:, "n_selections"]) == 0
    perm = np.random.RandomState(0).permutation(len(y))
    net.partial_fit(X[perm], y[perm])
    # Other data of the same size: positions into the old data mean nothing,
    # so the first CREST step selects again.
    assert net.history[-2, "n_selections"] == 1
    assert not all(np.array_equal(a, c[0]) for a, c in
                   zip(old_positions, net.strategy_.coresets))


def test_batch_size_must_be_positive(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match="batch_size"):
        make_net(batch_size=-1).fit(X, y)


def test_set_params_between_partial_fits_takes_effect(digits600):
    X, y = digits600
    net = make_net(max_epochs=2).fit(X, y)
    assert net.history[-1, "n_checks"] > 0
    net.set_params(selection__check_interval=1000, selection__num_minibatch_coreset=1)
    net.partial_fit(X, y)
    assert net.strategy_.steps_between_checks == 1000
    assert net.history[-1, "n_checks"] == 0
    # Switching dropping on after a fit allocates its loss history.
    net.set_params(selection__drop_learned=True, selection__watch_interval=3, selection__drop_interval=1)
    net.partial_fit(X, y)
    assert net.strategy_.dropping.losses.shape == (3, len(y))


def test_rebuilt_module_resets_the_quadratic_model(digits600):
    X, y = digits600
    net = make_net(max_epochs=2).fit(X, y)
    net.set_params(module__hidden=24)
    net.partial_fit(X, y)  # must not compare parameters of two architectures
    assert net.module_.hidden.out_features == 24
    assert net.strategy_.quadratic_model.anchor.numel() == sum(
        p.numel() for p in net.module_.parameters())


def test_a_diverging_run_does_not_crash_the_schedule(digits600):
    X, y = digits600
    with torch.autograd.set_detect_anomaly(False):
        net = make_net(lr=1e6, max_epochs=3)
        try:
            net.fit(X, y)
        except ValueError as error:  # only a clear error is acceptable
            assert "cannot convert float NaN" not in str(error)


def test_initialize_and_load_params_then_continue_training(digits600, tmp_path):
    X, y = digits600
    trained = make_net(max_epochs=2).fit(X, y)
    trained.save_params(f_params=tmp_path / "params.pt")
    fresh = make_net(max_epochs=1, classes=np.unique(y), module__n_features=64)
    fresh.initialize().load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(fresh.predict(X), trained.predict(X))
    loaded = [p.detach().clone() for p in fresh.module_.parameters()]
    fresh.partial_fit(X, y)  # continues from the loaded parameters
    assert fresh.history[-1, "n_steps"] > 0
    assert any(not torch.equal(a, b.detach())
               for a, b in zip(loaded, fresh.module_.parameters()))
    np.testing.assert_array_equal(fresh.classes_, np.unique(y))
    # Loaded parameters are a trained model: no second random warm-up epoch.
    assert fresh.history[-1, "n_selections"] > 0


def test_sample_weight_is_refused_with_a_pointer_to_what_works(digits600):
    X, y = digits600
    net = make_net()
    for call in (net.fit, net.partial_fit):
        with pytest.raises(TypeError, match="takes no sample_weight.*per_example_loss"):
            call(X, y, sample_weight=np.ones(len(y)))
    assert not net.initialized_  # nothing was touched


def test_a_restore_with_n_classes_only_predicts_class_indices(digits600, tmp_path):
    X, y = digits600
    trained = make_net(selection="per_step", max_epochs=2).fit(X, y)
    trained.save_params(f_params=tmp_path / "params.pt")
    bare = make_net(module__n_features=64)
    with pytest.raises(TypeError, match=r"pass classes=\[\.\.\.\]"):
        bare.initialize()
    restored = make_net(module__n_features=64, module__n_classes=10).initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    # The labels are unknown: predict returns class indices, as skorch does.
    np.testing.assert_array_equal(restored.classes_, np.arange(10))
    np.testing.assert_array_equal(restored.predict(X), trained.predict(X))
    # Not initialized, nothing to fall back on: the error says what sets it.
    with pytest.raises(AttributeError, match="classes="):
        make_net(module__n_classes=10).classes_


def _weights_served(net):
    """The coreset weights of each weighted training step, in order."""
    return [w for _, _, w in net.weights_seen_ if w is not None]


def test_a_region_serves_its_built_coresets_before_building_more(digits600):
    X, y = digits600
    net = WeightRecordingClassifier(
        MLP, selection="crest", train_frac=0.3, selection__random_subset_size=0.2,
        batch_size=32, lr=0.1, max_epochs=2, train_split=None, verbose=0,
        random_state=0, selection__check_thresh_factor=1e9, selection__num_minibatch_coreset=4,
        selection__region_coresets="cycle")
    net.fit(X, y)
    served = _weights_served(net)
    built = [c[1] for c in net.strategy_.coresets]
    # One region (no re-selection): the 4 coresets are served in build order,
    # each once, then reused ("cycle").
    assert len(built) == 4
    assert all(torch.equal(s, b) for s, b in zip(served[:4], built))
    assert len(served) == 6
    assert all(any(torch.equal(s, b) for b in built) for s in served[4:])


def test_resampled_coresets_come_from_the_region_pool_without_forward_passes(
        digits600):
    X, y = digits600
    net = WeightRecordingClassifier(
        MLP, selection="crest", train_frac=0.5, selection__random_subset_size=0.2,
        batch_size=32, lr=0.1, max_epochs=2, train_split=None, verbose=0,
        random_state=0, selection__check_thresh_factor=1e9, selection__num_minibatch_coreset=2,
        selection__check_loss="sample")
    net.fit(X, y)
    served = _weights_served(net)
    schedule = net.strategy_
    # One region of 10 steps: 2 built coresets, then 8 resampled ones.
    assert net.history[-1, "n_selections"] == 1
    assert len(served) == 10 and len(schedule.coresets) == 2
    # Forward passes: the two random subsets, the check sample's model fit,
    # and one pass over the check sample per check (they all pass here).
    subsets = len(schedule.region["positions"])
    checks = net.history[-1, "n_checks"]
    assert net.history[-1, "n_forward_examples"] == (
        subsets + len(schedule.check_sample) * (1 + checks))
    # Resampled coresets are fresh: their weights differ from the built ones.
    assert not any(torch.equal(served[k], served[j]) for k in range(2, 10)
                   for j in range(2))


# ---------------------------------------------------------------------------
# Each CREST hyperparameter has an effect
# ---------------------------------------------------------------------------


def test_check_sample_size_sets_the_check_batch(digits600):
    X, y = digits600
    net = make_net(selection__check_sample_size=7, max_epochs=2, selection__check_loss="sample").fit(X, y)
    assert len(net.strategy_.check_sample) == 7
    assert len(net.strategy_.check_batch[1]) == 7


def test_selection_metric_changes_the_coresets(digits600):
    X, y = digits600
    chosen = {}
    for metric in ("euclidean", "cosine"):
        net = make_net(selection__selection_metric=metric, max_epochs=2,
                       selection__check_thresh_factor=1e9).fit(X, y)
        chosen[metric] = np.sort(np.concatenate(
            [c[0] for c in net.strategy_.coresets]))
    assert not np.array_equal(chosen["euclidean"], chosen["cosine"])


def test_num_minibatch_coreset_is_the_number_of_coresets_of_a_region(digits600):
    X, y = digits600
    for count in (1, 3):
        net = make_net(selection__num_minibatch_coreset=count, max_epochs=3,
                       selection__check_thresh_factor=1e9).fit(X, y)
        assert len(net.strategy_.coresets) == count


def test_interval_mul_makes_checks_rarer(digits600):
    X, y = digits600
    checks = {}
    for interval_mul in (1.0, 1000.0):
        net = make_net(selection__interval_mul=interval_mul, selection__check_thresh_factor=0.0,
                       max_epochs=4).fit(X, y)
        checks[interval_mul] = sum(net.history[:, "n_checks"])
    # Re-selection at every check (tau 0) adapts the interval from the second
    # selection on; a huge multiplier then leaves almost no checks.
    assert checks[1000.0] < checks[1.0]


def test_batch_num_mul_bounds_the_adapted_number_of_coresets(digits600):
    X, y = digits600
    net = make_net(selection__batch_num_mul=0.01, selection__check_thresh_factor=0.0,
                   max_epochs=3).fit(X, y)
    # After adaptation: max(1, min(int(interval * 0.01), steps)) == 1.
    assert net.strategy_.region_size == 1


def test_iterator_train_settings_warn_that_they_are_unused(digits600):
    X, y = digits600
    with pytest.warns(UserWarning, match="iterator_train"):
        make_net(max_epochs=1, iterator_train__shuffle=True).fit(X, y)


# ---------------------------------------------------------------------------
# selection="per_step": a fresh coreset at every step
# ---------------------------------------------------------------------------


def test_per_step_selects_a_fresh_weighted_coreset_at_every_step(digits600):
    X, y = digits600
    net = WeightRecordingClassifier(
        MLP, selection="per_step", train_frac=0.3, selection__random_subset_size=96,
        batch_size=32, lr=0.1, max_epochs=3, train_split=None, verbose=0,
        random_state=0).fit(X, y)
    served = [w for _, _, w in net.weights_seen_]
    steps = math.ceil(0.3 * len(y) / 32)
    history = net.history
    assert history[:, "n_selections"] == [0, steps, steps]
    assert history[:, "n_checks"] == [0, 0, 0]
    # One forward pass per step over one random subset of exactly 96.
    assert history[:, "n_forward_examples"] == [0, 96 * steps, 96 * steps]
    assert served[:steps] == [None] * steps
    weighted = served[steps:]
    assert all(w is not None and len(w) == 32 for w in weighted)
    assert all(float(w.mean()) == pytest.approx(1.0, abs=1e-5) for w in weighted)
    # Fresh: no two steps share their weights.
    assert len({tuple(w.tolist()) for w in weighted}) == len(weighted)
    # No quadratic model is ever fitted.
    assert not hasattr(net.strategy_, "quadratic_model")


def test_proxy_reuse_steps_evaluates_fewer_examples_per_step(digits600):
    X, y = digits600
    forward = {}
    for reuse in (0, 3):
        net = make_net(selection="per_step", selection__proxy_reuse_steps=reuse,
                       selection__random_subset_size=128, max_epochs=3).fit(X, y)
        forward[reuse] = sum(net.history[:, "n_forward_examples"])
        candidates = net.strategy_.candidates
        if reuse:
            # Candidates are never older than the reuse window, and the
            # examples just trained on are not among them.
            assert candidates["age"].max() <= reuse + 1
            trained = net.strategy_.coresets[-1][0]
            assert not np.isin(candidates["positions"], trained).any()
            assert np.all(np.diff(candidates["positions"]) > 0)
    # Once in steady state, a step tops the subset up with about one batch of
    # new examples instead of evaluating all ~130 again.
    assert forward[3] < 0.6 * forward[0]


def test_per_step_and_proxy_reuse_are_reproducible(digits600):
    X, y = digits600
    first = make_net(selection="per_step", selection__proxy_reuse_steps=2).fit(X, y)
    second = make_net(selection="per_step", selection__proxy_reuse_steps=2).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_the_default_selection_is_per_step(digits600):
    # Chosen on a validation split of Fashion-MNIST (benchmarks/RESULTS.md):
    # per-step coresets were more accurate than CREST's regions, for less time.
    X, y = digits600
    net = CrestClassifier(MLP, train_frac=0.3, selection__random_subset_size=0.2, batch_size=32,
                          max_epochs=2, train_split=None, verbose=0, random_state=0)
    assert net.selection == "per_step"
    net.fit(X, y)
    steps = math.ceil(0.3 * len(y) / 32)
    assert net.history[:, "n_selections"] == [0, steps]
    assert net.history[:, "n_checks"] == [0, 0]


def test_weighted_batches_work_with_skorch_train_scoring_and_warn_when_lost(digits600):
    X, y = digits600
    # skorch's own train-set scoring unpacks every batch as (X, y).
    net = make_net(selection="per_step", max_epochs=2, callbacks=[
        EpochScoring("accuracy", on_train=True, name="train_acc")]).fit(X, y)
    assert all(0 <= a <= 1 for a in net.history[:, "train_acc"])

    class CopiesTheBatch(CrestClassifier):
        # A wrapper that hands get_loss a copy of the input loses the weights:
        # the fit says so rather than training on unweighted coresets silently.
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return super().get_loss(y_pred, y_true,
                                    X=None if X is None else X.clone(),
                                    training=training)

    with pytest.warns(UserWarning, match="trained without their weights"):
        CopiesTheBatch(MLP, selection="per_step", train_frac=0.3,
                       selection__random_subset_size=0.2, batch_size=32, max_epochs=2,
                       train_split=None, verbose=0, random_state=0).fit(X, y)


def test_changing_the_selection_settings_between_partial_fits_starts_afresh(digits600):
    X, y = digits600
    net = make_net(selection="per_step", max_epochs=2).fit(X, y)
    assert net.strategy_.candidates is None  # no reuse, no candidates
    # Reuse needs candidates with ages: the old subset must not be taken
    # for them.
    net.set_params(selection__proxy_reuse_steps=2)
    net.partial_fit(X, y)
    assert net.strategy_.candidates["age"].max() <= 3
    # To crest: a region of its own, with its own check sample and model.
    # per_step's settings go with it (crest has no proxy reuse); those given
    # with the new selection apply to it.
    net.set_params(selection="crest", selection__random_subset_size=0.2)
    assert "selection__proxy_reuse_steps" not in net.get_params()
    assert net.get_params(deep=False)["selection__random_subset_size"] == 0.2
    net.partial_fit(X, y)
    assert net.history[-2, "n_checks"] >= 1  # crest's checks, not per-step
    assert net.history[-2, "n_selections"] < net.history[-2, "n_steps"]
    assert net.strategy_.quadratic_model.anchor is not None


def test_dropped_examples_leave_the_region_pool(digits600):
    X, y = digits600
    net = make_net(selection__drop_learned=True, selection__drop_interval=1, selection__watch_interval=1,
                   selection__drop_thresh=10.0, selection__min_train_frac=0.5, max_epochs=4,
                   selection__check_thresh_factor=1e9, selection__num_minibatch_coreset=3).fit(X, y)
    schedule = net.strategy_
    assert schedule.pool.positions.size < len(y)
    assert np.isin(schedule.region["positions"], schedule.pool.positions).all()


def test_one_class_y_is_refused_and_classes_allow_one_class_batches(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match="at least two classes"):
        make_net().fit(X, np.zeros(len(y), dtype=int))
    one = TensorDataset(torch.from_numpy(X), torch.zeros(len(y), dtype=torch.int64))
    with pytest.raises(ValueError, match="at least two classes"):
        make_net().fit(one)
    # A one-class batch is fine once the classes are known.
    net = make_net(max_epochs=1)
    zeros = y == 0
    net.partial_fit(X[zeros], y[zeros], classes=np.unique(y))
    assert len(net.classes_) == 10


@pytest.mark.parametrize("selection", ["per_step", "crest"])
def test_proportional_subsets_keep_the_class_prior(selection):
    from sklearn.datasets import make_classification
    from sklearn.metrics import log_loss

    X, y = make_classification(4000, n_features=20, n_informative=5,
                               weights=[0.95, 0.05], flip_y=0.02,
                               class_sep=0.8, random_state=0)
    X = X.astype(np.float32)
    prior = {}
    for balance in ("proportional", "balanced"):
        net = make_net(selection=selection, selection__class_balance=balance, max_epochs=8,
                       train_frac=0.2, selection__random_subset_size=0.05, batch_size=64,
                       lr=0.05)
        net.fit(X, y)
        proba = net.predict_proba(X)
        prior[balance] = (float(proba[:, 1].mean()), log_loss(y, proba))
        counts = np.bincount(y[np.concatenate(
            [positions for positions, _ in net.strategy_.coresets])], minlength=2)
        assert counts[1] > 0
    true_prior = float(np.mean(y))
    # The default estimates the mean loss over the data: its predicted
    # minority probability stays near the true prior, the balanced one's not.
    assert abs(prior["proportional"][0] - true_prior) < 0.03
    assert prior["balanced"][0] > prior["proportional"][0] + 0.03
    assert prior["proportional"][1] < prior["balanced"][1]


def test_proportional_quotas_follow_class_sizes(digits600):
    X, y = digits600
    keep = (y != 1) | (np.arange(len(y)) % 6 == 0)  # class 1 about a sixth
    net = make_net(selection="per_step", selection__random_subset_size=200, max_epochs=1)
    net.fit(X[keep], y[keep])
    counts, quotas = net.strategy_._class_quotas()
    assert quotas.sum() == 200
    np.testing.assert_allclose(quotas / 200, counts / counts.sum(), atol=0.01)
    balanced = make_net(selection="per_step", selection__random_subset_size=200,
                        selection__class_balance="balanced", max_epochs=1).fit(X[keep], y[keep])
    _, equal = balanced.strategy_._class_quotas()
    # Equal quotas, capped at the small class, grown to reach 200 in all.
    assert equal[1] == counts[1] < equal[0]
    assert len(set(equal[np.arange(10) != 1].tolist())) == 1 and equal.sum() >= 200


class SoftmaxMLP(torch.nn.Module):
    """skorch's convention: the module ends in softmax."""

    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features, 32),
                                          torch.nn.ReLU(),
                                          torch.nn.Linear(32, n_classes),
                                          torch.nn.Softmax(dim=-1))

    def forward(self, X):
        return self.layers(X)


def test_outputs_that_do_not_fit_the_criterion_are_refused(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match="outputs are probabilities"):
        make_net(SoftmaxMLP).fit(X, y)
    with pytest.raises(ValueError, match="NLLLoss expects the module to output"):
        make_net(criterion=torch.nn.NLLLoss).fit(X, y)
    # The matching pairs train.
    softmax = make_net(SoftmaxMLP, criterion=torch.nn.NLLLoss, max_epochs=10,
                       lr=0.5).fit(X, y)
    assert softmax.score(X, y) > 0.7
    assert np.allclose(softmax.predict_proba(X).sum(axis=1), 1, atol=1e-4)


class NoisyDigits(torch.utils.data.Dataset):
    """An augmenting Dataset: every read adds fresh noise to the image."""

    def __init__(self, X, y):
        self.X = torch.from_numpy(X)
        self.targets = torch.from_numpy(y.astype(np.int64))

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.X[i] + 0.3 * torch.randn_like(self.X[i]), self.targets[i]


def test_with_augmentation_the_model_and_its_checks_see_the_same_tensors(digits600):
    X, y = digits600
    net = make_net(LazyMLP, selection__check_thresh_factor=1e9, max_epochs=2,
                   selection__check_loss="sample")
    net.fit(NoisyDigits(X, y))
    schedule = net.strategy_
    from sklearn_crest._coresets.curvature import _flat
    from sklearn_crest._net_view import NetModel

    def _parameters(net):
        return NetModel(net).parameters()

    # Back at the selection's parameters, a check measures exactly the loss
    # the quadratic model was anchored on: no fresh augmentation in between.
    with torch.no_grad():
        anchor = schedule.quadratic_model.anchor
        offset = 0
        for p in _parameters(net):
            p.copy_(anchor[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
    assert torch.equal(_flat([p.detach() for p in _parameters(net)]), anchor)
    checked = float(schedule.check_sample_losses(NetModel(net)).mean())
    assert checked == pytest.approx(schedule.quadratic_model.loss_at_selection,
                                    rel=1e-5)
    assert schedule.quadratic_model.predict(_parameters(net)) == pytest.approx(
        checked, rel=1e-5)


class TupleMLP(torch.nn.Module):
    """Returns (logits, hidden): skorch scores the first output."""

    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, 32)
        self.out = torch.nn.Linear(32, n_classes)

    def forward(self, X):
        h = torch.relu(self.hidden(X))
        return self.out(h), h


@pytest.mark.parametrize("selection", ["per_step", "crest"])
def test_tuple_outputs_train_on_their_first_element(digits600, selection):
    X, y = digits600
    net = make_net(TupleMLP, selection=selection, max_epochs=6, lr=0.5).fit(X, y)
    assert net.predict_proba(X).shape == (len(y), 10)
    assert net.score(X, y) > 0.6


@pytest.mark.parametrize("selection", ["crest", "per_step"])
def test_a_pickled_model_carries_no_training_data(digits600, selection):
    X, y = digits600
    net = make_net(selection=selection, max_epochs=3).fit(X, y)
    rows = [X[i].tobytes() for i in range(len(X))]
    encoded = net.label_encoder_.transform(y).astype(np.int64).tobytes()
    blob = pickle.dumps(net)
    assert not any(row in blob for row in rows)
    assert encoded not in blob
    # The unpickled model predicts the same and can go on training: the
    # positions carry over, the region starts afresh.
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))
    restored.partial_fit(X, y)
    assert restored.history[-1, "n_steps"] > 0
    if selection == "crest":
        assert restored.history[-restored.max_epochs, "n_selections"] >= 1
    # Trimmed for prediction: no schedule at all, and a small pickle.
    net.trim_for_prediction()
    assert net.strategy_ is None
    trimmed = pickle.dumps(net)
    assert not any(row in trimmed for row in rows)
    weights = sum(p.numel() * 4 for p in net.module_.parameters())
    assert len(trimmed) < weights + 60_000
    np.testing.assert_array_equal(pickle.loads(trimmed).predict(X), net.predict(X))


@pytest.mark.parametrize("selection", sorted(STRATEGIES))
def test_a_pickle_unpickles_when_skorch_maps_tensors_to_another_device(
        digits600, selection, monkeypatch):
    # A model trained on CUDA is unpickled with its CUDA-dependent attributes
    # (the schedule among them) mapped to the CUDA device. The schedule's
    # CPU torch.Generator used to travel as a state tensor, which was mapped
    # too and then refused ("RNG state must be a torch.ByteTensor"). Mapping
    # to the "meta" device reproduces that on a machine without CUDA.
    import skorch.net

    X, y = digits600
    net = make_net(selection=selection, max_epochs=2).fit(X, y)
    blob = pickle.dumps(net)
    monkeypatch.setattr(skorch.net, "get_map_location",
                        lambda *args, **kwargs: torch.device("meta"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch: device "meta" instead of "cpu"
        restored = pickle.loads(blob)
    assert restored.strategy_.pool.torch_generator.device.type == "cpu"
    # The generator's stream goes on where the pickled one stood.
    torch.testing.assert_close(
        torch.rand(4, generator=restored.strategy_.pool.torch_generator),
        torch.rand(4, generator=net.strategy_.pool.torch_generator), rtol=0, atol=0)


def test_data_stay_in_host_memory_unless_a_gpu_is_asked_for(digits600):
    from sklearn_crest._data import data_device
    X, y = digits600
    dataset = SkorchDataset(torch.from_numpy(X), y)
    # The CPU is host memory: nothing to move, whatever the setting.
    for setting in ("auto", True, False):
        assert data_device(setting, "cpu", dataset) is None
    assert data_device(False, "cuda", dataset) is None
    assert data_device(True, "cuda", dataset) == "cuda"
    # A user Dataset is read through its loader, never moved.
    assert data_device("auto", "cuda", TensorDataset(torch.from_numpy(X))) is None


def test_loading_parameters_drops_the_region_made_with_others(digits600, tmp_path):
    X, y = digits600
    net = make_net(max_epochs=2, selection__check_thresh_factor=1e9).fit(X, y)
    net.save_params(f_params=tmp_path / "params.pt")
    assert net.strategy_.region is not None and net.strategy_.coresets
    net.load_params(f_params=tmp_path / "params.pt")
    assert net.strategy_.region is None and not net.strategy_.coresets
    net.partial_fit(X, y)  # two epochs: a new region at once, and no other
    assert net.history[-2:, "n_selections"] == [1, 0]


def test_a_diverged_quadratic_model_fails_the_training_loss_check(digits600):
    X, y = digits600
    net = make_net(max_epochs=2, selection__check_thresh_factor=1e9).fit(X, y)
    schedule = net.strategy_
    schedule.observations = [(0.0, 0.0, 1.0)]
    assert schedule._training_check_passes()
    schedule.quadratic_model.loss_at_selection = float("nan")
    assert not schedule._training_check_passes()


class TemperatureMLP(torch.nn.Module):
    """A forward that needs a fit parameter."""

    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(n_features, 32),
                                          torch.nn.ReLU(),
                                          torch.nn.Linear(32, n_classes))
        self.seen = set()

    def forward(self, X, temperature):
        self.seen.add(float(temperature))
        return self.layers(X) / temperature


@pytest.mark.parametrize("selection", ["crest", "per_step"])
def test_fit_params_reach_the_selection_passes(digits600, selection):
    X, y = digits600
    net = make_net(TemperatureMLP, selection=selection, max_epochs=3)
    net.fit(X, y, temperature=torch.tensor(2.0))
    assert net.module_.seen == {2.0}
    assert sum(net.history[:, "n_selections"]) > 0


def test_eval_padding_keeps_outputs_that_are_not_row_aligned(digits600):
    X, y = digits600

    class TwoOutputs(torch.nn.Module):
        def __init__(self, n_features=64, n_classes=10):
            super().__init__()
            self.out = torch.nn.Linear(n_features, n_classes)

        def forward(self, X):
            out = self.out(X)
            return out, out[::2]

    net = make_net(TwoOutputs, max_epochs=1, batch_size=512).fit(X, y)
    net.module_.eval()
    with torch.no_grad():
        first, second = net.infer(torch.from_numpy(X[:500]))
    assert first.shape == (500, 10) and second.shape == (250, 10)


def test_empty_classes_infers_them_from_y(digits600):
    X, y = digits600
    net = make_net(classes=[], max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(net.classes_, np.unique(y))


def test_a_parameter_unused_in_forward_does_not_break_the_quadratic_model(digits600):
    X, y = digits600

    class WithSpare(torch.nn.Module):
        def __init__(self, n_features=64, n_classes=10):
            super().__init__()
            self.out = torch.nn.Linear(n_features, n_classes)
            self.spare = torch.nn.Linear(3, 3)  # registered, never called

        def forward(self, X):
            return self.out(X)

    net = make_net(WithSpare, selection="crest", max_epochs=3).fit(X, y)
    model = net.strategy_.quadratic_model
    spare = sum(p.numel() for p in net.module_.spare.parameters())
    assert torch.all(model.gradient[-spare:] == 0)


class CountingDataset(torch.utils.data.Dataset):
    """A Dataset without ``targets`` that counts its item reads."""

    def __init__(self, X, y):
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.reads = 0

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i], self.y[i]


@pytest.mark.parametrize("train_split", [None, ValidSplit(5, stratified=True)])
def test_a_dataset_without_targets_has_its_labels_read_once_per_fit(
        digits600, train_split):
    X, y = digits600
    dataset = CountingDataset(X, y)
    net = make_net(LazyMLP, selection="random", max_epochs=3, train_split=train_split)
    net.fit(dataset)
    trained = sum(net.history[:, "n_steps"]) * 32
    validated = 0 if train_split is None else 3 * len(y) // 5
    # One read of every item for the labels, then only what training (and
    # skorch's validation) reads.
    assert dataset.reads <= len(y) + trained + validated
    assert dataset.reads >= len(y) + trained - 32 * 3  # short last batches
    blob = pickle.dumps(net)
    assert pickle.loads(blob)._known_labels.labels is None  # no labels in pickles


# ---------------------------------------------------------------------------
# skorch's own entry points and clear errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("selection", ["crest", "per_step", "full"])
def test_forward_in_training_mode_leaves_the_schedule_alone(digits600, selection):
    X, y = digits600
    net = make_net(selection=selection, max_epochs=2).fit(X, y)
    step, epoch = net.strategy_.pool.global_step, net.strategy_.pool.epoch
    for data in (X, TensorDataset(torch.from_numpy(X), torch.from_numpy(y))):
        out = net.forward(data, training=True)
        assert out.shape == (len(y), 10)  # every row, as skorch gives them
        assert sum(len(b) for b in net.forward_iter(data, training=True)) == len(y)
    assert (net.strategy_.pool.global_step, net.strategy_.pool.epoch) == (step, epoch)
    # ...and the next fit still trains on the schedule's batches.
    net.partial_fit(X, y)
    assert net.history[-1, "n_steps"] == net.strategy_.steps_per_epoch()


class RecordingLoader(torch.utils.data.DataLoader):
    """A DataLoader that counts the batches it serves."""

    served = 0

    def __iter__(self):
        for batch in super().__iter__():
            RecordingLoader.served += 1
            yield batch


def _digits_dataset(X, y):
    return TensorDataset(torch.from_numpy(X), torch.from_numpy(y))


@pytest.mark.parametrize("selection, loader_epochs", [
    ("random", 3), ("craig", 3), ("per_step", 1), ("crest", 1)])
def test_dataset_batches_go_through_iterator_train_when_known_up_front(
        digits600, selection, loader_epochs):
    X, y = digits600
    RecordingLoader.served = 0
    collated = []

    def collate(items):
        collated.append(len(items))
        return torch.utils.data.default_collate(items)

    net = make_net(selection=selection, module__n_features=64,
                   iterator_train=RecordingLoader,
                   iterator_train__collate_fn=collate).fit(_digits_dataset(X, y))
    steps = net.strategy_.steps_per_epoch()
    # The planned epochs (the first, and every epoch of random and craig)
    # are served by iterator_train; per_step and crest read their chosen
    # items in this process, with the same collate_fn.
    assert RecordingLoader.served == loader_epochs * steps
    assert sum(n == 32 for n in collated) >= 3 * steps


class ThreadRecordingDataset(torch.utils.data.Dataset):
    """Records which threads read its items."""

    def __init__(self, X, y):
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
        self.threads = set()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        import threading
        self.threads.add(threading.current_thread().name)
        return self.X[i], self.y[i]


def test_num_workers_serve_every_epoch(digits600):
    X, y = digits600
    net = make_net(selection="random", module__n_features=64, max_epochs=2,
                   iterator_train__num_workers=1).fit(_digits_dataset(X, y))
    assert net.history[:, "n_steps"] == [net.strategy_.steps_per_epoch()] * 2
    # Step-chosen batches (and the selection's passes) are read by
    # num_workers threads, and give the same model as reading in-thread.
    data = ThreadRecordingDataset(X, y)
    threaded = make_net(selection="per_step", module__n_features=64, max_epochs=2,
                        iterator_train__num_workers=2).fit(data)
    assert any(name.startswith("crest-reader") for name in data.threads)
    plain = make_net(selection="per_step", module__n_features=64,
                     max_epochs=2).fit(_digits_dataset(X, y))
    np.testing.assert_array_equal(threaded.predict_proba(data),
                                  plain.predict_proba(_digits_dataset(X, y)))


def test_input_the_module_cannot_take_gets_an_error_naming_the_parameter(digits600):
    X, y = digits600
    with pytest.raises(TypeError, match="module__n_features=<int>"):
        make_net(max_epochs=1).fit(X.reshape(-1, 8, 8), y)
    with pytest.raises(TypeError, match="module__n_features=<int>"):
        make_net(max_epochs=1).fit(_digits_dataset(X, y))
    with pytest.raises(ValueError, match=r"shape \(32, 5\).*10 classes"):
        make_net(max_epochs=1, module__n_classes=5).fit(X, y)
    with pytest.raises(ValueError, match="BCEWithLogitsLoss is not supported"):
        make_net(max_epochs=1, module__n_classes=1,
                 criterion=torch.nn.BCEWithLogitsLoss).fit(X, y > 4)


def test_a_failing_validation_split_names_train_split(digits600):
    X, y = digits600
    with pytest.raises(ValueError, match="train_split=None"):
        CrestClassifier(MLP, verbose=0, max_epochs=1).fit(X[:6], np.array([0, 1] * 3))


class TwoInputModule(torch.nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.left = torch.nn.Linear(32, 16)
        self.right = torch.nn.Linear(32, 16)
        self.output = torch.nn.Linear(32, n_classes)

    def forward(self, left, right):
        return self.output(torch.cat([torch.relu(self.left(left)),
                                      torch.relu(self.right(right))], dim=1))


class DictItems(torch.utils.data.Dataset):
    def __init__(self, X, y):
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"left": self.X[i, :32], "right": self.X[i, 32:]}, self.y[i]


@pytest.mark.parametrize("selection", ["crest", "per_step", "gradmatch"])
def test_dict_inputs_train_from_a_dataset_and_a_dict_array_is_refused(
        digits600, selection):
    X, y = digits600
    net = make_net(TwoInputModule, selection=selection, max_epochs=4, lr=0.3)
    net.fit(DictItems(X, y))
    assert np.mean(net.predict(DictItems(X, y)) == y) > 0.4
    with pytest.raises(TypeError, match="Dataset whose items are"):
        make_net(TwoInputModule).fit({"left": X[:, :32], "right": X[:, 32:]}, y)


def test_predict_before_initialize_raises_skorchs_error(digits600):
    from skorch.exceptions import NotInitializedError
    X, _ = digits600
    with pytest.raises(NotInitializedError):
        make_net().predict(X)
    with pytest.raises(NotFittedError):  # which is also scikit-learn's
        make_net().predict_proba(X)


class RowCounter(MLP):
    rows = 0

    def forward(self, X):
        RowCounter.rows += len(X)
        return super().forward(X)


@pytest.mark.parametrize("padding, iterator_valid_batch, expected", [
    (True, None, 256), (True, 16, 16), (False, None, 1)])
def test_padding_of_short_prediction_batches_is_a_choice(
        digits600, padding, iterator_valid_batch, expected):
    X, y = digits600
    extra = ({} if iterator_valid_batch is None
             else {"iterator_valid__batch_size": iterator_valid_batch})
    net = make_net(RowCounter, batch_size=256, max_epochs=1,
                   predict_padding=padding, **extra).fit(X, y)
    RowCounter.rows = 0
    net.predict(X[:1])
    assert RowCounter.rows == expected


def test_progress_bar_counts_the_step_budget(digits600):
    X, y = digits600
    net = make_net(max_epochs=2, callbacks=[ProgressBar()]).fit(X, y)
    assert net.history[-1, "n_steps"] == math.ceil(0.3 * 600 / 32)
    # skorch's own ProgressBar (not a subclass) is told the budget.
    from sklearn_crest._training_iterator import StepBudgetProgressBar
    assert isinstance(dict(net.callbacks_)["ProgressBar"], StepBudgetProgressBar)
    bar = StepBudgetProgressBar()
    assert bar._get_batches_per_epoch_phase(net, SkorchDataset(X, y), True) == \
        math.ceil(0.3 * 600 / 32)
    assert bar._get_batches_per_epoch_phase(net, SkorchDataset(X, y), False) == \
        math.ceil(600 / 32)


class SpyRandomState(np.random.RandomState):
    """Records the sizes of the arrays it permutes or chooses from."""

    def __init__(self, seed):
        super().__init__(seed)
        self.whole_arrays = []

    def permutation(self, x):
        self.whole_arrays.append(x if isinstance(x, int) else len(x))
        return super().permutation(x)

    def choice(self, a, *args, **kwargs):
        self.whole_arrays.append(a if isinstance(a, int) else len(a))
        return super().choice(a, *args, **kwargs)


def test_random_subset_draws_do_not_touch_whole_classes():
    from sklearn_crest.selection._per_step import _draw_from
    rng = SpyRandomState(0)
    small = _draw_from(np.arange(1_000_000), 7, rng)
    whole = _draw_from(np.arange(1_000_000, 1_000_040), 30, rng)
    assert len(np.unique(small)) == 7 and small.max() < 1_000_000
    # A draw of 7 from a million looks at the draw, not the class; a draw of
    # most of a small class permutes that class.
    assert max(rng.whole_arrays) == 40
    assert len(np.unique(whole)) == 30 and whole.min() >= 1_000_000


def test_per_class_members_are_built_when_the_pool_changes_not_per_epoch(digits600):
    X, y = digits600
    net = make_net(selection="per_step", max_epochs=3, selection__drop_learned=True,
                   selection__drop_interval=3, selection__drop_thresh=10.0, selection__min_train_frac=0.8).fit(X, y)
    schedule = net.strategy_
    before = schedule.pool.members()
    net.set_params(selection__drop_learned=False)
    net.partial_fit(X, y)
    assert schedule.pool.members() is before  # same data, same pool: kept
    # Dropping learned examples (epoch index 2 above) changed the pool; the
    # cache then describes the smaller pool.
    assert sum(m.size for m in before) == schedule.pool.positions.size < len(y)
    for c, members in enumerate(before):
        np.testing.assert_array_equal(
            members, schedule.pool.positions[schedule.pool.labels[schedule.pool.positions] == c])


class SmoothedLossClassifier(CrestClassifier):
    """Customises the loss where the docs say to: per_example_loss."""

    calls = {"training": 0, "selection": 0}

    def per_example_loss(self, y_pred, y_true):
        mode = "training" if torch.is_grad_enabled() and self.module_.training \
            else "selection"
        SmoothedLossClassifier.calls[mode] += 1
        logits = y_pred[0] if isinstance(y_pred, tuple) else y_pred
        return torch.nn.functional.cross_entropy(
            logits, torch.as_tensor(y_true, device=logits.device),
            label_smoothing=0.1, reduction="none")


@pytest.mark.parametrize("selection", ["per_step", "crest", "craig"])
def test_per_example_loss_is_the_loss_of_training_and_selection(digits600, selection):
    X, y = digits600
    SmoothedLossClassifier.calls = {"training": 0, "selection": 0}
    net = make_net(selection=selection, lr=0.3)
    net = SmoothedLossClassifier(**net.get_params(deep=False)).fit(X, y)
    assert SmoothedLossClassifier.calls["training"] == sum(net.history[:, "n_steps"])
    assert SmoothedLossClassifier.calls["selection"] > 0
    # Label smoothing shows in the recorded loss: it cannot reach 0.
    assert net.history[-1, "train_loss"] > 0.1


def test_loader_settings_on_in_memory_data_say_they_do_not_apply(digits600):
    X, y = digits600
    with pytest.warns(UserWarning, match="do not apply to in-memory"):
        make_net(max_epochs=1, iterator_train__num_workers=2).fit(X, y)


@pytest.mark.parametrize("call", ["partial_fit", "warm_fit"])
def test_a_trimmed_model_refuses_training_as_skorch_does(digits600, call):
    from skorch.exceptions import SkorchTrainingImpossibleError
    X, y = digits600
    net = make_net(max_epochs=1, warm_start=(call == "warm_fit")).fit(X, y)
    net.trim_for_prediction()
    with pytest.raises(SkorchTrainingImpossibleError):
        getattr(net, "partial_fit" if call == "partial_fit" else "fit")(X, y)
    assert net.predict(X).shape == (len(y),)


class TwoCriteria(CrestClassifier):
    """Registers its criterion under another name, as skorch allows."""

    def initialize_criterion(self):
        self.main_criterion_ = torch.nn.CrossEntropyLoss(reduction="none")
        return self


def test_a_criterion_under_another_name_points_to_per_example_loss(digits600):
    X, y = digits600
    net = TwoCriteria(MLP, train_frac=0.3, batch_size=32, max_epochs=1,
                      train_split=None, verbose=0)
    with pytest.raises(AttributeError, match="override per_example_loss"):
        net.fit(X, y)


# ------------------------------------------- a new user's traps (round two)

def test_a_mistyped_selection_lists_the_modes_sorted_and_suggests_one(digits600):
    X, y = digits600
    with pytest.raises(InvalidParameterError) as caught:
        make_net(selection="crset").fit(X, y)
    message = str(caught.value)
    assert ("must be one of 'craig', 'crest', 'full', 'gradmatch', 'infobatch', "
            "'per_step', 'random', or a SelectionStrategy object; got 'crset'. "
            "Did you mean 'crest'?") in message
    with pytest.raises(InvalidParameterError, match="got 'zzz'.$"):
        make_net(selection="zzz").fit(X, y)


@pytest.mark.parametrize("how", ["module__n_features", "built module"])
def test_an_input_of_another_width_is_named_as_such(digits600, how):
    X, y = digits600
    if how == "built module":
        net = make_net(module=torch.nn.Sequential(torch.nn.Linear(60, 10)))
    else:
        net = make_net(module__n_features=60)
    with pytest.raises(ValueError, match="The input has 64 features per example") \
            as caught:
        net.fit(X, y)
    assert "shapes cannot be multiplied" in str(caught.value)
    assert (("module__n_features=60 was set" in str(caught.value))
            == (how == "module__n_features"))
    # The same estimator fits once the width is right.
    net.set_params(module=MLP, module__n_features=64).fit(X, y)
    assert net.score(X, y) > 0.2


def test_a_batch_larger_than_the_data_warns(digits600):
    X, y = digits600
    with pytest.warns(UserWarning, match="batch_size=5000 is larger than the 600"):
        make_net(batch_size=5000, max_epochs=1).fit(X, y)
    with pytest.warns(UserWarning, match="train_frac=0.001 asks for 0.6 of the 600"):
        make_net(train_frac=0.001, max_epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net(max_epochs=1).fit(X, y)  # 0.3 * 600 = 180 >= 32 / 2


@pytest.mark.parametrize("selection, expected", [
    ("random", 6), ("per_step", 6), ("crest", 6), ("craig", 6), ("gradmatch", 6),
    ("full", 19), ("infobatch", 19)])
def test_steps_per_epoch_is_what_a_fit_takes(digits600, selection, expected):
    X, y = digits600
    params = {} if selection in ("full", "infobatch") else {"train_frac": 0.3}
    net = CrestClassifier(MLP, selection=selection, batch_size=32, max_epochs=3,
                          train_split=None, verbose=0, random_state=0, **params)
    assert net.steps_per_epoch(600) == expected  # before fit, from the settings
    # ceil(0.3 * 600 / 32) = 6; with two processes of 32 examples a step,
    # ceil(0.3 * 600 / 64) = 3 (and ceil(600 / 64) = 10 for whole epochs).
    assert net.steps_per_epoch(600, n_processes=2) == (3 if params else 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    steps = net.history[:, "n_steps"]
    if selection == "infobatch":
        # Its unpruned first epoch takes the most; a pruned one fewer.
        assert steps[0] == expected and steps[1] < expected
    else:
        assert steps == [expected] * 3
    with pytest.raises(ValueError, match="n_samples >= 1"):
        net.steps_per_epoch(0)
    # A query: it checks the settings but repeats none of fit's warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.set_params(train_frac=0.3).steps_per_epoch(600)
    with pytest.raises(ValueError, match="prune_ratio"):
        net.set_params(selection__prune_ratio=2.0).steps_per_epoch(600)


def test_a_per_batch_schedule_sized_for_full_epochs_warns(digits600):
    from skorch.callbacks import LRScheduler

    X, y = digits600

    def one_cycle(total):
        return LRScheduler(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1,
                           total_steps=total, step_every="batch")

    net = make_net(max_epochs=4, callbacks=[("one_cycle", one_cycle(4 * 19))])
    with pytest.warns(UserWarning, match=r"sized for 76 steps, but it was stepped "
                                         r"24 times.*steps_per_epoch\(600\) = 6"):
        net.fit(X, y)
    # Sized with steps_per_epoch: no warning, and one-cycle ends at its floor.
    total = 4 * net.steps_per_epoch(600)
    net.set_params(callbacks=[("one_cycle", one_cycle(total))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y)
    scheduler = dict(net.callbacks_)["one_cycle"].lr_scheduler_
    assert scheduler.last_epoch == total


@pytest.mark.parametrize("selection, printed, hidden", [
    ("random", {"n_steps"}, {"n_selections", "check_s", "selected_loss"}),
    ("per_step", {"n_selections", "selection_s"}, {"n_checks", "check_s"}),
    ("crest", {"n_selections", "n_checks", "check_s"}, {"subset_loss", "pool_size"}),
    ("infobatch", {"n_kept", "n_pruned"}, {"n_selections", "coreset_size"})])
def test_the_epoch_table_shows_what_the_mode_fills(digits600, capsys, selection,
                                                   printed, hidden):
    X, y = digits600
    params = {} if selection == "infobatch" else {"train_frac": 0.3}
    net = CrestClassifier(MLP, selection=selection, batch_size=32, max_epochs=2,
                          train_split=None, random_state=0, **params).fit(X, y)
    header = capsys.readouterr().out.splitlines()[0].split()
    assert printed <= set(header) and not hidden & set(header), header
    assert len(" ".join(header)) < 120
    # Everything stays in history.
    assert {"n_selections", "check_s", "selected_loss"} <= set(net.history[-1])


@pytest.mark.parametrize("selection", sorted(STRATEGIES))
def test_history_keys_are_what_every_strategy_records(digits600, selection):
    # The epoch table hides by HISTORY_KEYS: a figure recorded but not listed
    # there would always print.
    X, y = digits600
    net = make_net(selection=selection, max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    extra = set(net.strategy_.extra_history())
    assert set(net.strategy_.history_record()) == set(HISTORY_KEYS) | extra
