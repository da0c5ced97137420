"""selection="infobatch" (InfoBatch's dynamic pruning) and RS2's sampling
without replacement for selection="random"."""

import pickle

import numpy as np
import pytest
import torch
from conftest import MLP
from skorch.dataset import Dataset as SkorchDataset

from sklearn_crest import CrestClassifier
from sklearn_crest._data import IndexedData
from sklearn_crest.selection import InfoBatchPruning, RandomBatches

pytestmark = pytest.mark.usefixtures("torch_single_thread")


class LossRecorder(CrestClassifier):
    """Records every training step's per-example losses and weights."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training:
            weights = self.coreset_weights(X)
            self.steps_.append((len(self.history), X.clone(),
                                self.per_example_loss(y_pred, y_true).detach().clone(),
                                None if weights is None else weights.clone()))
        return super().get_loss(y_pred, y_true, X=X, training=training)


def make_net(**params):
    settings = dict(selection="infobatch", batch_size=32, lr=0.1,
                    optimizer__momentum=0.9, max_epochs=8, train_split=None,
                    verbose=0, random_state=0)
    settings.update(params)
    net = LossRecorder(MLP, **settings)
    net.steps_ = []
    return net


def test_each_epoch_keeps_the_hard_examples_and_part_of_the_learned(digits600):
    X, y = digits600
    net = make_net().fit(X, y)
    history = net.history
    kept, pruned = history[:, "n_kept"], history[:, "n_pruned"]
    assert all(k + p == 600 for k, p in zip(kept, pruned))
    # Epoch 0 has no scores: every example; 8 * 0.875 = 7 pruning epochs;
    # the last trains on everything again.
    assert pruned[0] == 0 and pruned[-1] == 0
    assert all(p > 0 for p in pruned[1:7])
    assert history[:, "n_steps"] == [int(np.ceil(k / 32)) for k in kept]
    # No forward pass of its own: the scores come from the training steps.
    assert history[:, "n_forward_examples"] == [0] * 8
    assert all(np.isfinite(history[1:, "mean_score"]))


def test_the_kept_learned_examples_are_weighted_and_the_rest_are_not(digits600):
    X, y = digits600
    net = make_net(selection__prune_ratio=0.25).fit(X, y)
    # History rows count from 1: row 1 is the first epoch, with no scores
    # yet; rows 2-7 prune; row 8 anneals.
    for epoch in range(1, 9):
        weights = [w for e, _, _, w in net.steps_ if e == epoch]
        if 1 < epoch < 8:
            values = torch.cat(weights)
            # 1 for the examples scored at or above the mean, 1 / (1 - 0.25)
            # for the learned ones that stayed; the epoch's weight total is
            # its kept count plus what the pruned would have counted.
            assert set(np.round(values.unique().tolist(), 5)) == {1.0, 1.33333}
            learned_kept = int((values > 1).sum())
            pruned = net.history[epoch - 1, "n_pruned"]
            assert learned_kept == int(0.75 * (learned_kept + pruned))
        else:
            assert all(w is None for w in weights)  # nothing pruned: unweighted


def test_scores_are_the_latest_training_losses(digits600):
    X, y = digits600
    net = make_net(max_epochs=3).fit(X, y)
    strategy = net.strategy_
    strategy._write_observed_scores()
    rows = {X_row.tobytes(): i for i, X_row in enumerate(X)}
    latest = {}
    for _, X_batch, losses, _ in net.steps_:
        for row, loss in zip(X_batch.numpy(), losses.tolist()):
            latest[rows[row.tobytes()]] = loss
    assert len(latest) == 600
    positions = np.array(sorted(latest))
    np.testing.assert_allclose(strategy.scores[positions],
                               [latest[p] for p in positions], rtol=1e-6)


def test_a_dataset_goes_through_the_loader_with_the_same_scores(digits600):
    X, y = digits600
    in_memory = make_net(max_epochs=4).fit(X, y)
    dataset = make_net(max_epochs=4, module__n_features=64).fit(
        SkorchDataset(torch.from_numpy(X), torch.from_numpy(y)))
    # Same plan, batches read through the DataLoader in a planned epoch:
    # each step's losses still reach the examples it trained on.
    assert dataset.history[:, "n_kept"] == in_memory.history[:, "n_kept"]
    np.testing.assert_allclose(dataset.strategy_.scores, in_memory.strategy_.scores,
                               rtol=1e-5)


def test_train_frac_does_not_apply_and_says_so(digits600):
    X, y = digits600
    with pytest.warns(UserWarning, match="does not use train_frac=0.3"):
        make_net(train_frac=0.3, max_epochs=1).fit(X, y)


@pytest.mark.parametrize("params, message", [
    ({"selection__prune_ratio": 1.0}, "prune_ratio"),
    ({"selection__prune_ratio": 0.95}, "prune_ratio"),  # over the authors' cap of 0.9
    ({"selection__prune_ratio": -0.1}, "prune_ratio"),
    ({"selection__prune_until": 1.5}, "prune_until"),
])
def test_bad_pruning_settings_are_refused(digits600, params, message):
    X, y = digits600
    with pytest.raises(ValueError, match=message):
        make_net(**params).fit(X, y)


def _authors_pruned_epochs(epochs, delta):
    """The authors' sampler: built with reset() once, so epoch e is planned
    as iteration e + 1, which prunes while it is at most num_epochs * delta."""
    stop_prune = epochs * delta
    return sum(1 for e in range(epochs) if e + 1 <= stop_prune)


@pytest.mark.parametrize("epochs, expected", [(8, 7), (20, 17), (200, 175), (4, 3),
                                              (1, 0)])
def test_pruned_epochs_are_the_authors_count(epochs, expected):
    assert _authors_pruned_epochs(epochs, 0.875) == expected
    strategy = InfoBatchPruning(prune_ratio=0.5, prune_until=0.875).start(
        batch_size=32, random_state=np.random.RandomState(0))
    strategy.begin_training_call(epochs)
    assert strategy.pruning_epochs() == expected
    pruned = []
    for epoch in range(epochs):
        strategy.pool.epoch = epoch
        pruned.append(strategy._prunes_now())
    assert pruned == [True] * expected + [False] * (epochs - expected)


def test_a_fit_pruned_for_twenty_epochs_prunes_seventeen(digits600):
    X, y = digits600
    net = make_net(max_epochs=20).fit(X, y)
    pruned = net.history[:, "n_pruned"]
    # Epoch 0 has no scores; epochs 1-16 prune; 17-19 train on everything.
    assert all(p > 0 for p in pruned[1:17]) and pruned[17:] == [0, 0, 0]


def test_a_fit_stopped_before_its_full_epochs_warns(digits600):
    from skorch.callbacks import EarlyStopping

    X, y = digits600
    from skorch.dataset import ValidSplit

    net = make_net(max_epochs=40, train_split=ValidSplit(5),
                   callbacks=[EarlyStopping(patience=1, threshold=10.0)])
    with pytest.warns(UserWarning, match="stopped after .* all of them pruned"):
        net.fit(X, y)
    assert len(net.history) < 35
    # A fit that reaches its full-data epochs does not warn.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_net(max_epochs=8).fit(X, y)


def test_no_pruning_trains_every_example_every_epoch(digits600):
    X, y = digits600
    net = make_net(selection__prune_ratio=0.0, max_epochs=3).fit(X, y)
    assert net.history[:, "n_kept"] == [600] * 3
    assert all(w is None for _, _, _, w in net.steps_)


def test_reproducible_pickled_without_rows_and_continued(digits600):
    X, y = digits600
    first = make_net(max_epochs=4).fit(X, y)
    second = make_net(max_epochs=4).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    first.steps_ = []  # the recorder's own copies of the batches
    blob = pickle.dumps(first)
    assert X[0].tobytes() not in blob  # positions and scores, never rows
    restored = pickle.loads(blob)
    assert isinstance(restored.strategy_, InfoBatchPruning)
    np.testing.assert_array_equal(restored.strategy_.scores, first.strategy_.scores)
    restored.steps_ = []
    # A call of its own: 4 epochs, pruning in the first half of them.
    restored.set_params(selection__prune_until=0.5)
    restored.partial_fit(X, y)
    assert restored.history[-4:, "n_pruned"][0] > 0  # scores carried over
    assert restored.history[-1, "n_pruned"] == 0


def _data(X, y):
    return IndexedData(SkorchDataset(torch.from_numpy(X), torch.from_numpy(y)),
                       lambda labels: labels)


def _epochs_of_random(X, y, sampling, n_epochs, train_frac):
    strategy = RandomBatches(random_sampling=sampling).start(
        batch_size=30, train_frac=train_frac, random_state=np.random.RandomState(0))
    data = _data(X, y)
    return [np.concatenate([step.positions for step in strategy.epoch_steps(None, data)])
            for _ in range(n_epochs)]


def test_rs2_sees_every_example_once_before_any_twice(digits600):
    X, y = digits600
    epochs = _epochs_of_random(X, y, "without_replacement", 8, 0.25)
    # 600 examples, 150 per epoch (5 batches of 30): epochs 0-3 are one pass.
    first_pass = np.concatenate(epochs[:4])
    assert np.array_equal(np.sort(first_pass), np.arange(600))
    second_pass = np.concatenate(epochs[4:])
    assert np.array_equal(np.sort(second_pass), np.arange(600))
    # Each epoch keeps the class proportions, to within two examples.
    expected = 150 * np.bincount(y) / 600
    for positions in epochs:
        assert np.abs(np.bincount(y[positions], minlength=10) - expected).max() < 2
    # With replacement, epochs overlap long before the data are seen once.
    with_replacement = _epochs_of_random(X, y, "with_replacement", 4, 0.25)
    assert len(np.unique(np.concatenate(with_replacement))) < 600


def test_rs2_is_an_estimator_setting(digits600):
    X, y = digits600
    net = CrestClassifier(MLP, selection="random", selection__random_sampling="without_replacement",
                          train_frac=0.25, batch_size=30, max_epochs=4, lr=0.1,
                          train_split=None, verbose=0, random_state=0).fit(X, y)
    assert net.history[:, "n_steps"] == [5] * 4
    with pytest.raises(ValueError, match="random_sampling.*selection='random'"):
        CrestClassifier(MLP, selection="per_step", selection__random_sampling="without_replacement",
                        max_epochs=1, train_split=None, verbose=0).fit(X, y)


def test_scores_survive_a_batch_size_change_between_calls(digits600):
    # The pending losses of the last epoch are the example's scores, not
    # state of the model: a new batch size (or a reloaded module) keeps them.
    X, y = digits600
    net = make_net(max_epochs=1, batch_size=64).fit(X, y)
    # Two epochs: floor(0.875 * 2) = 1 of them prunes.
    net.set_params(batch_size=32, max_epochs=2)
    net.partial_fit(X, y)
    assert net.history[-2, "n_pruned"] > 0 and net.history[-1, "n_pruned"] == 0
    assert np.isfinite(net.history[-2, "mean_score"])


def test_rs2_pass_survives_pickling_and_region_resets(digits600):
    # Four epochs of 150 read one pass over the 600 examples, across calls,
    # pickles and a region reset (a rebuilt module): the pass is sampling
    # state, not the model's.
    X, y = digits600
    net = CrestClassifier(MLP, selection="random", selection__random_sampling="without_replacement",
                          train_frac=0.25, batch_size=30, max_epochs=1, lr=0.1,
                          train_split=None, verbose=0, random_state=0).fit(X, y)
    first_pass = net.strategy_.pass_order.copy()
    for call in range(3):
        net = pickle.loads(pickle.dumps(net))
        if call == 1:
            net.strategy_.reset_region()
        net.partial_fit(X, y)
    np.testing.assert_array_equal(net.strategy_.pass_order, first_pass)
    assert net.strategy_.pass_cursor == 600
    assert np.array_equal(np.sort(first_pass), np.arange(600))


def test_a_whole_pass_per_epoch_is_reshuffled(digits600):
    X, y = digits600
    # train_frac=1 with 600 / 32 not whole: each epoch takes more than a pass.
    epochs = _epochs_of_random(X, y, "without_replacement", 3, 1.0)
    assert not np.array_equal(epochs[1][:100], epochs[2][:100])
    for positions in epochs:
        assert len(np.unique(positions[:600])) >= 590
