"""The facility-location engine: budgets, greedy optimizers, weights and paths."""

from itertools import combinations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

import sklearn_crest._coresets.facility_location as fl
from sklearn_crest._coresets.facility_location import (
    allocate_budget,
    assign_to_selection,
    greedy_facility_location,
    pairwise_similarity,
    select_coreset,
    select_in_ground_sets,
)


def euclidean_kernel(X, Y=None):
    """exp(-||x - y|| / d) in float64, computed directly (not by the Gram trick)."""
    X = np.asarray(X, dtype=np.float64)
    Y = X if Y is None else np.asarray(Y, dtype=np.float64)
    distances = np.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1))
    return np.exp(-distances / X.shape[1])


def objective(similarity, selected):
    """F(S) = sum_i max_{j in S} s_ij."""
    return similarity[:, selected].max(axis=1).sum()


def random_similarity(seed, n, d=4):
    rng = np.random.RandomState(seed)
    return fl._self_similarity(fl._as_float_tensor(rng.randn(n, d)), "euclidean")


# --------------------------------------------------------------------------
# allocate_budget
# --------------------------------------------------------------------------


@pytest.mark.parametrize("class_balance", ["proportional", "balanced"])
@pytest.mark.parametrize("seed", range(5))
def test_allocate_budget_exact_total_and_caps(class_balance, seed):
    rng = np.random.RandomState(seed)
    sizes = rng.randint(1, 60, size=rng.randint(2, 8))
    for budget in range(0, sizes.sum() + 1, 7):
        quotas = allocate_budget(sizes, budget, class_balance)
        assert quotas.dtype == np.int64
        assert quotas.sum() == budget
        assert (quotas >= 0).all() and (quotas <= sizes).all()


def test_allocate_budget_proportional_largest_remainder():
    # shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the one left goes to the
    # largest remainder (class 0).
    np.testing.assert_array_equal(allocate_budget([50, 30, 20], 7), [4, 2, 1])
    # shares 1, 1.5, 2.5: one left, classes 1 and 2 tie, the lower index wins.
    np.testing.assert_array_equal(allocate_budget([10, 15, 25], 5), [1, 2, 2])
    # shares 2.4, 0.6, 5.4, 1.6 -> floors 2, 0, 5, 1 and two left: 0.6 (class 1)
    # and 0.6 (class 3) beat 0.4 and 0.4.
    np.testing.assert_array_equal(allocate_budget([12, 3, 27, 8], 10),
                                  [2, 1, 5, 2])
    np.testing.assert_array_equal(allocate_budget([100, 10], 11), [10, 1])


def test_allocate_budget_balanced_equal_shares():
    np.testing.assert_array_equal(allocate_budget([100, 10, 40], 9, "balanced"),
                                  [3, 3, 3])
    np.testing.assert_array_equal(
        allocate_budget([100, 10, 40], 9, "proportional"), [6, 1, 2])


def test_allocate_budget_balanced_caps_small_class_and_redistributes():
    # Equal shares of 12 over 3 classes are 4 each, but class 1 holds only 2:
    # it keeps all of them and the other 2 points are split over the rest.
    np.testing.assert_array_equal(allocate_budget([50, 2, 50], 12, "balanced"),
                                  [5, 2, 5])
    # Excess of 3 over two open classes: 1.5 each, the tie goes to class 0.
    np.testing.assert_array_equal(allocate_budget([50, 1, 50], 10, "balanced"),
                                  [5, 1, 4])
    # Two classes capped at once: 30 / 4 = 7.5 exceeds 3 and 5; 22 / 2 = 11.
    np.testing.assert_array_equal(
        allocate_budget([3, 5, 40, 40], 30, "balanced"), [3, 5, 11, 11])
    # Two rounds: 7.5 > 3 caps class 0, then 27 / 3 = 9 > 8 caps class 1, then
    # 19 / 2 = 9.5 each, the odd point to the lower index.
    np.testing.assert_array_equal(
        allocate_budget([3, 8, 40, 40], 30, "balanced"), [3, 8, 10, 9])


def test_allocate_budget_ties_go_to_lower_index():
    np.testing.assert_array_equal(allocate_budget([5, 5, 5], 2), [1, 1, 0])
    np.testing.assert_array_equal(allocate_budget([5, 5, 5], 1), [1, 0, 0])
    np.testing.assert_array_equal(allocate_budget([4, 4, 4, 4], 3, "balanced"),
                                  [1, 1, 1, 0])
    # Shares 0.5 and 2.5: equal remainders, the lower index wins.
    np.testing.assert_array_equal(allocate_budget([1, 5], 3), [1, 2])


@pytest.mark.parametrize(
    "sizes, budget, expected",
    [
        # Shares 9*34/63, 9*4/63, 9*25/63 = 4 + 6/7, 0 + 4/7, 3 + 4/7: classes 1
        # and 2 tie on the remainder 4/7, so the last point goes to class 1.
        ([34, 4, 25], 9, [5, 1, 3]),
        # Shares 5/14, 2 + 5/14, 1/7, 1 + 1/7: classes 0 and 1 tie on 5/14.
        ([5, 33, 2, 16], 4, [1, 2, 0, 1]),
        # Shares 1 + 3/5, 1 + 3/5, 4 + 4/5 and two left: class 2 (4/5), then
        # the tie at 3/5 goes to class 0 (a control that floats get right).
        ([8, 8, 24], 8, [2, 1, 5]),
    ],
)
def test_allocate_budget_exact_ties_in_rational_remainders(sizes, budget, expected):
    # The remainders are equal as rationals; computing them in floating point
    # must not break the documented tie rule (lower class index wins).
    np.testing.assert_array_equal(allocate_budget(sizes, budget), expected)


def test_allocate_budget_budget_zero_and_full():
    np.testing.assert_array_equal(allocate_budget([3, 4, 5], 0), [0, 0, 0])
    np.testing.assert_array_equal(allocate_budget([3, 4, 5], 0, "balanced"),
                                  [0, 0, 0])
    np.testing.assert_array_equal(allocate_budget([3, 4, 5], 12), [3, 4, 5])
    np.testing.assert_array_equal(allocate_budget([3, 4, 5], 12, "balanced"),
                                  [3, 4, 5])


def test_allocate_budget_errors():
    with pytest.raises(ValueError, match="exceeds the 12 points"):
        allocate_budget([3, 4, 5], 13)
    with pytest.raises(ValueError, match="non-negative"):
        allocate_budget([3, 4, 5], -1)
    with pytest.raises(ValueError, match="class_balance"):
        allocate_budget([3, 4, 5], 2, "uniform")


# --------------------------------------------------------------------------
# greedy_facility_location
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed, n, budget", [
    (0, 40, 1), (1, 40, 40), (2, 100, 17), (3, 300, 1), (4, 300, 60),
    (5, 300, 300), (6, 700, 35),
])
def test_lazy_equals_naive_greedy(seed, n, budget):
    similarity = random_similarity(seed, n)
    lazy = greedy_facility_location(similarity, budget, optimizer="lazy")
    naive = greedy_facility_location(similarity, budget, optimizer="naive")
    for lazy_part, naive_part in zip(lazy, naive):
        np.testing.assert_array_equal(lazy_part, naive_part)
    selected, gains, assignment = lazy
    assert selected.shape == (budget,) and len(np.unique(selected)) == budget
    # Submodularity: greedy gains never increase; their sum is F(S).
    assert (np.diff(gains) <= 1e-9).all()
    np.testing.assert_allclose(gains.sum(), objective(similarity, selected),
                               rtol=1e-5)


def test_greedy_hand_example():
    similarity = np.array([
        [1.0, 0.9, 0.1, 0.0],
        [0.9, 1.0, 0.5, 0.2],
        [0.1, 0.5, 1.0, 0.3],
        [0.0, 0.2, 0.3, 1.0],
    ])
    # Column sums 2.0, 2.6, 1.9, 1.5: point 1 goes first. Then the gains are
    # 0.1, -, 0.6, 0.8: point 3. Then 0.1, -, 0.5, -: point 2.
    for optimizer in ["lazy", "naive"]:
        selected, gains, assignment = greedy_facility_location(
            similarity, 3, optimizer=optimizer)
        np.testing.assert_array_equal(selected, [1, 3, 2])
        np.testing.assert_allclose(gains, [2.6, 0.8, 0.5])
        np.testing.assert_array_equal(assignment, [0, 0, 2, 1])


@pytest.mark.parametrize("seed", range(3))
def test_first_pick_has_largest_column_sum(seed):
    similarity = random_similarity(seed, 150)
    selected, gains, _ = greedy_facility_location(similarity, 5)
    column_sums = similarity.sum(axis=0, dtype=np.float64)
    assert selected[0] == np.argmax(column_sums)
    np.testing.assert_allclose(gains[0], column_sums.max(), rtol=1e-6)


def test_two_far_clusters_budget_two_takes_one_from_each():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(9, 2) * 0.05, rng.randn(5, 2) * 0.05 + 100.0])
    similarity = euclidean_kernel(X)
    selected, _, assignment = greedy_facility_location(similarity, 2)
    assert {int(s) < 9 for s in selected} == {True, False}
    weights = np.bincount(assignment, minlength=2)
    assert sorted(weights.tolist()) == [5, 9]
    # The greedy pair is optimal: no pair covers better.
    best = max(objective(similarity, list(pair))
               for pair in combinations(range(len(X)), 2))
    np.testing.assert_allclose(objective(similarity, selected), best)


@pytest.mark.parametrize("seed, n, budget", [(0, 80, 10), (1, 250, 25), (2, 400, 1)])
def test_weights_are_brute_force_cluster_sizes(seed, n, budget):
    similarity = random_similarity(seed, n)
    selected, _, assignment = greedy_facility_location(similarity, budget)
    expected = np.argmax(similarity[:, selected], axis=1)  # first on ties
    np.testing.assert_array_equal(assignment, expected)
    weights = np.bincount(assignment, minlength=budget)
    assert weights.sum() == n
    np.testing.assert_array_equal(weights, np.bincount(expected, minlength=budget))
    # Every selected point is its own nearest selected element.
    np.testing.assert_array_equal(assignment[selected], np.arange(budget))


def test_assignment_ties_go_to_earlier_selected_element():
    # Point 0 is equally (0.4) similar to points 2 and 1. Column sums are
    # 1.8, 2.3, 2.4, 1.9, 1.9: point 2 goes first; then point 1 (gain 1.9).
    similarity = np.array([
        [1.0, 0.4, 0.4, 0.0, 0.0],
        [0.4, 1.0, 0.0, 0.9, 0.0],
        [0.4, 0.0, 1.0, 0.0, 1.0],
        [0.0, 0.9, 0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 0.0, 1.0],
    ])
    for optimizer in ["lazy", "naive"]:
        selected, gains, assignment = greedy_facility_location(
            similarity, 2, optimizer=optimizer)
        np.testing.assert_array_equal(selected, [2, 1])
        np.testing.assert_allclose(gains, [2.4, 1.9])
        # Point 0 goes to the earlier selected element (2), not the lower index.
        np.testing.assert_array_equal(assignment, [0, 1, 0, 1, 0])


@pytest.mark.parametrize("optimizer", ["lazy", "naive", "stochastic"])
@pytest.mark.parametrize("n_distinct, copies", [(6, 5), (10, 14), (3, 60)])
def test_exact_budget_when_gains_reach_zero(optimizer, n_distinct, copies):
    # Duplicated points: once every distinct point is chosen the gains are 0,
    # yet the budget is still met with distinct indices.
    rng = np.random.RandomState(0)
    X = np.tile(rng.randn(n_distinct, 3), (copies, 1))
    similarity = euclidean_kernel(X)  # exactly 1 between copies
    n = len(X)
    for budget in [n_distinct + 1, n - 1, n]:
        selected, gains, assignment = greedy_facility_location(
            similarity, budget, optimizer=optimizer, random_state=0)
        assert selected.shape == (budget,)
        assert len(np.unique(selected)) == budget
        assert ((selected >= 0) & (selected < n)).all()
        if optimizer != "stochastic":
            # The distinct points come first; the others add zero gains.
            assert len(np.unique(X[selected[:n_distinct]], axis=0)) == n_distinct
            np.testing.assert_array_equal(gains[n_distinct:], 0.0)
        assert np.bincount(assignment, minlength=budget).sum() == n


def test_lazy_equals_naive_with_tied_gains():
    # Ties among duplicated points must be broken as the naive argmax does
    # (lowest index), also when the lazy batch is smaller than the ground set.
    rng = np.random.RandomState(1)
    base = rng.randn(100, 3)
    X = base[rng.randint(0, len(base), 400)]
    similarity = euclidean_kernel(X)
    lazy = greedy_facility_location(similarity, 60, optimizer="lazy")
    naive = greedy_facility_location(similarity, 60, optimizer="naive")
    for lazy_part, naive_part in zip(lazy, naive):
        np.testing.assert_array_equal(lazy_part, naive_part)


def test_budget_zero_and_invalid_budgets():
    similarity = random_similarity(0, 10)
    selected, gains, assignment = greedy_facility_location(similarity, 0)
    assert selected.shape == (0,) and gains.shape == (0,)
    assert assignment.shape == (10,)
    with pytest.raises(ValueError, match="budget must be in"):
        greedy_facility_location(similarity, 11)
    with pytest.raises(ValueError, match="budget must be in"):
        greedy_facility_location(similarity, -1)
    with pytest.raises(ValueError, match="optimizer"):
        greedy_facility_location(similarity, 2, optimizer="greedy")
    with pytest.raises(ValueError, match="epsilon"):
        greedy_facility_location(similarity, 2, optimizer="stochastic", epsilon=1.5)


@pytest.mark.parametrize("seed, budget", [(0, 10), (1, 30), (2, 60)])
def test_stochastic_greedy_deterministic_and_close_to_greedy(seed, budget):
    X, _ = make_blobs(600, n_features=4, centers=8, random_state=seed)
    similarity = fl._self_similarity(fl._as_float_tensor(X), "euclidean")
    first = greedy_facility_location(similarity, budget, optimizer="stochastic",
                                     random_state=7)
    again = greedy_facility_location(similarity, budget, optimizer="stochastic",
                                     random_state=7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other = greedy_facility_location(similarity, budget, optimizer="stochastic",
                                     random_state=8)
    assert not np.array_equal(first[0], other[0])
    assert len(np.unique(first[0])) == budget
    greedy, _, _ = greedy_facility_location(similarity, budget)
    assert (objective(similarity, first[0])
            >= 0.95 * objective(similarity, greedy))


# --------------------------------------------------------------------------
# pairwise_similarity
# --------------------------------------------------------------------------


def test_pairwise_similarity_matches_direct_formulas():
    rng = np.random.RandomState(0)
    A, B = rng.randn(7, 5), rng.randn(4, 5)
    tA, tB = fl._as_float_tensor(A), fl._as_float_tensor(B)
    euclid = pairwise_similarity(tA, tB).numpy()
    np.testing.assert_allclose(euclid, euclidean_kernel(A, B), rtol=1e-5, atol=1e-6)
    cosine = pairwise_similarity(tA, tB, "cosine").numpy()
    unit_A = A / np.linalg.norm(A, axis=1, keepdims=True)
    unit_B = B / np.linalg.norm(B, axis=1, keepdims=True)
    np.testing.assert_allclose(cosine, (1 + unit_A @ unit_B.T) / 2, atol=1e-6)
    assert (cosine >= 0).all() and (cosine <= 1).all()
    with pytest.raises(ValueError, match="metric"):
        pairwise_similarity(tA, tB, "manhattan")


# --------------------------------------------------------------------------
# select_coreset
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled_data():
    X, y = make_blobs(500, n_features=6, centers=12, random_state=3)
    labels = np.array([7, 2, 9])[y % 3]  # three unsorted, non-contiguous labels
    labels[:40] = 2  # unequal class sizes
    return X, labels


@pytest.mark.parametrize("class_balance", ["proportional", "balanced"])
@pytest.mark.parametrize("budget", [3, 50, 211])
def test_select_coreset_per_class(labelled_data, class_balance, budget):
    X, labels = labelled_data
    result = select_coreset(X, budget, labels=labels, class_balance=class_balance)
    classes, sizes = np.unique(labels, return_counts=True)
    quotas = allocate_budget(sizes, budget, class_balance)
    assert result.indices.dtype == np.int64
    assert result.indices.shape == result.weights.shape == result.gains.shape
    assert len(result.indices) == budget
    assert len(np.unique(result.indices)) == budget
    assert ((result.indices >= 0) & (result.indices < len(X))).all()
    selected_labels = labels[result.indices]
    # Classes appear in sorted label order, each with its exact quota.
    expected_order = np.repeat(classes, quotas)
    np.testing.assert_array_equal(selected_labels, expected_order)
    for label, size in zip(classes, sizes):
        mask = selected_labels == label
        assert result.weights[mask].sum() == size
    assert result.weights.sum() == len(X)


def test_select_coreset_weights_are_cluster_sizes_within_each_class(labelled_data):
    X, labels = labelled_data
    result = select_coreset(X, 40, labels=labels)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        mask = labels[result.indices] == label
        chosen = result.indices[mask]
        similarity = euclidean_kernel(X[members], X[chosen])
        nearest = np.argmax(similarity, axis=1)
        np.testing.assert_array_equal(
            result.weights[mask], np.bincount(nearest, minlength=len(chosen)))


def test_select_coreset_without_labels_and_class_budgets(labelled_data):
    X, labels = labelled_data
    result = select_coreset(X, 25)
    assert len(np.unique(result.indices)) == 25
    assert result.weights.sum() == len(X)
    greedy, gains, _ = greedy_facility_location(
        fl._self_similarity(fl._as_float_tensor(X), "euclidean", X.shape[1]), 25)
    np.testing.assert_array_equal(result.indices, greedy)
    np.testing.assert_allclose(result.gains, gains)

    budgets = select_coreset(X, 0, labels=labels, class_budgets=[0, 5, 2])
    classes = np.unique(labels)
    np.testing.assert_array_equal(labels[budgets.indices],
                                  np.repeat(classes, [0, 5, 2]))
    with pytest.raises(ValueError, match="class_budgets"):
        select_coreset(X, 0, labels=labels, class_budgets=[1, 2])
    with pytest.raises(ValueError, match="class_budgets"):
        select_coreset(X, 0, labels=labels, class_budgets=[1, 2, 10_000])
    with pytest.raises(ValueError, match="exceeds"):
        select_coreset(X, len(X) + 1)
    with pytest.raises(ValueError, match="labels has"):
        select_coreset(X, 3, labels=labels[:-1])
    with pytest.raises(ValueError, match="2-D"):
        select_coreset(X[:, 0], 3)


def test_select_coreset_cosine_metric():
    rng = np.random.RandomState(0)
    # Directions matter, norms do not: two direction clusters, wildly scaled.
    directions = np.vstack([np.tile([1.0, 0.0], (30, 1)), np.tile([0.0, 1.0], (10, 1))])
    X = (directions + 0.01 * rng.randn(40, 2)) * rng.uniform(0.1, 100, (40, 1))
    result = select_coreset(X, 2, metric="cosine")
    assert {int(i) < 30 for i in result.indices} == {True, False}
    assert sorted(result.weights.tolist()) == [10, 30]
    euclid = select_coreset(X, 2, metric="euclidean")
    assert not np.array_equal(np.sort(result.indices), np.sort(euclid.indices))
    with pytest.raises(ValueError, match="metric"):
        select_coreset(X, 2, metric="manhattan")


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_select_coreset_input_types_agree(labelled_data, metric):
    X, labels = labelled_data
    reference = select_coreset(X, 60, labels=labels, metric=metric)
    for features in [X.astype(np.float32), torch.from_numpy(X),
                     torch.from_numpy(X.astype(np.float32))]:
        result = select_coreset(features, 60, labels=labels, metric=metric)
        np.testing.assert_array_equal(result.indices, reference.indices)
        np.testing.assert_array_equal(result.weights, reference.weights)
        np.testing.assert_allclose(result.gains, reference.gains)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("seed", range(3))
def test_batched_small_ground_sets_equal_per_group_lazy(monkeypatch, metric, seed):
    X, y = make_blobs(360, n_features=5, centers=9, random_state=seed)
    labels = y % 4
    assert np.bincount(labels).max() <= fl._BATCHED_MAX_SIZE
    budget = 37 + 20 * seed
    batched = select_coreset(X, budget, labels=labels, metric=metric)
    monkeypatch.setattr(fl, "_BATCHED_MAX_SIZE", 0)
    lazy = select_coreset(X, budget, labels=labels, metric=metric)
    np.testing.assert_array_equal(batched.indices, lazy.indices)
    np.testing.assert_array_equal(batched.weights, lazy.weights)
    np.testing.assert_allclose(batched.gains, lazy.gains, rtol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("seed", range(3))
def test_host_and_device_greedy_make_the_same_choices(metric, seed):
    # The host path's numpy greedy and the device path's torch greedy: the
    # same picks, cluster sizes and gains, on uneven ground sets whose quotas
    # end at different steps, with duplicated rows (tied gains) among them.
    rng = np.random.RandomState(seed)
    sizes = rng.randint(1, 40, size=12)
    features = rng.dirichlet(np.full(10, 0.3), size=int(sizes.sum())).astype(np.float32)
    features[1::7] = features[::7][:len(features[1::7])]
    offsets = np.cumsum(sizes) - sizes
    groups = [offsets[g] + np.arange(n) for g, n in enumerate(sizes)]
    quotas = np.array([rng.randint(1, n + 1) for n in sizes], dtype=np.int64)
    sim, valid = fl._batched_small_ground_sets(torch.from_numpy(features), groups, metric)
    on_host = fl.host_batched_naive_greedy(sim, valid, quotas)
    on_device = fl.batched_naive_greedy(torch.from_numpy(sim), torch.from_numpy(valid),
                                        torch.from_numpy(quotas))
    for host, device in zip(on_host, on_device):
        np.testing.assert_array_equal(host, device.numpy())
    # Each ground set's cluster sizes count its rows once each.
    counts = on_host[1]
    np.testing.assert_array_equal(counts.sum(axis=1), sizes)
    assert all((counts[g, quotas[g]:] == 0).all() for g in range(len(sizes)))


# --------------------------------------------------------------------------
# The block path for ground sets above the memory cap
# --------------------------------------------------------------------------

# 500 x 500 float32 = 1,000,000 bytes: a 2,000-point ground set is 4 blocks.
BLOCK_BYTES = 500 * 500 * 4


@pytest.fixture(scope="module")
def clustered():
    X, _ = make_blobs(2000, n_features=5, centers=10, cluster_std=1.0,
                      random_state=0)
    return X


def test_block_path_is_used_and_exact(clustered, monkeypatch):
    calls = []
    original = fl._self_similarity

    def recording(features, metric, n_features=None):
        calls.append(features.shape[0])
        return original(features, metric, n_features)

    monkeypatch.setattr(fl, "_self_similarity", recording)
    result = select_coreset(clustered, 101, random_state=0,
                            max_kernel_bytes=BLOCK_BYTES)
    # Four 500-point block kernels, and no kernel above the memory cap.
    assert calls.count(500) >= 4
    assert max(calls) <= 500
    assert len(result.indices) == 101
    assert len(np.unique(result.indices)) == 101
    assert ((result.indices >= 0) & (result.indices < 2000)).all()
    assert result.weights.sum() == 2000
    # The weights are cluster sizes over the whole ground set.
    assignment, _ = assign_to_selection(fl._as_float_tensor(clustered),
                                        result.indices)
    np.testing.assert_array_equal(result.weights,
                                  np.bincount(assignment, minlength=101))


def test_block_path_deterministic_under_random_state(clustered):
    first = select_coreset(clustered, 60, random_state=5,
                           max_kernel_bytes=BLOCK_BYTES)
    again = select_coreset(clustered, 60, random_state=5,
                           max_kernel_bytes=BLOCK_BYTES)
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.weights, again.weights)
    other = select_coreset(clustered, 60, random_state=6,
                           max_kernel_bytes=BLOCK_BYTES)
    assert not np.array_equal(np.sort(first.indices), np.sort(other.indices))


def test_block_path_with_labels_keeps_class_weights(clustered):
    labels = np.arange(len(clustered)) % 2
    result = select_coreset(clustered, 80, labels=labels, random_state=0,
                            max_kernel_bytes=300 * 300 * 4)
    assert len(np.unique(result.indices)) == 80
    for label in (0, 1):
        mask = labels[result.indices] == label
        assert mask.sum() == 40
        assert result.weights[mask].sum() == 1000


@pytest.mark.parametrize("budget", [40, 100])
def test_block_path_objective_close_to_single_block(clustered, budget):
    tensor = fl._as_float_tensor(clustered)
    single = select_coreset(clustered, budget, random_state=0)
    single_objective = assign_to_selection(tensor, single.indices)[1].sum()
    for seed in range(3):
        blocks = select_coreset(clustered, budget, random_state=seed,
                                max_kernel_bytes=BLOCK_BYTES)
        block_objective = assign_to_selection(tensor, blocks.indices)[1].sum()
        assert block_objective >= 0.98 * single_objective


# --------------------------------------------------------------------------
# select_in_ground_sets
# --------------------------------------------------------------------------


def test_select_in_ground_sets_overlapping():
    X, _ = make_blobs(300, n_features=4, centers=6, random_state=1)
    groups = [np.arange(0, 150), np.arange(100, 300), np.arange(0, 300, 3),
              np.arange(50, 60)]
    quotas = [10, 15, 0, 10]
    results = select_in_ground_sets(X, groups, quotas)
    assert len(results) == 4
    for group, quota, (indices, weights, gains) in zip(groups, quotas, results):
        assert len(indices) == quota == len(weights) == len(gains)
        assert len(np.unique(indices)) == quota
        assert np.isin(indices, group).all()
        assert weights.sum() == (len(group) if quota else 0)
        # Each ground set is solved on its own: the same as select_coreset on it.
        if quota:
            alone = select_coreset(X[group], quota)
            np.testing.assert_array_equal(indices, group[alone.indices])
            np.testing.assert_array_equal(weights, alone.weights)
    # The overlap 100..149 can be chosen by both of the first two ground sets
    # independently; the full ground set 3 (quota 10 of 10) is everything.
    np.testing.assert_array_equal(np.sort(results[3][0]), groups[3])
    np.testing.assert_array_equal(results[3][1], np.ones(10))
