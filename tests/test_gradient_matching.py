"""GradMatch's non-negative, regularised orthogonal matching pursuit."""

import numpy as np
import pytest

from sklearn_crest._coresets.gradient_matching import (
    gradient_matching_error,
    gradient_matching_subset,
    nonnegative_omp,
)


def test_a_sparse_non_negative_combination_is_recovered():
    rng = np.random.RandomState(0)
    atoms = rng.randn(200, 60)
    target = 2.0 * atoms[13] + 0.5 * atoms[71] + 1.0 * atoms[150]
    indices, weights = nonnegative_omp(atoms, target, 10, regularization=0.0)
    assert set(indices.tolist()) == {13, 71, 150}
    found = dict(zip(indices.tolist(), weights))
    np.testing.assert_allclose([found[13], found[71], found[150]], [2.0, 0.5, 1.0],
                               rtol=1e-8)


@pytest.mark.parametrize("regularization", [0.0, 0.5, 5.0])
def test_weights_are_the_regularised_non_negative_refit_of_the_picks(regularization):
    rng = np.random.RandomState(1)
    atoms = rng.randn(300, 20) + 0.3
    target = atoms.sum(axis=0)
    indices, weights = nonnegative_omp(atoms, target, 25,
                                       regularization=regularization)
    assert 0 < indices.size <= 25
    assert len(set(indices.tolist())) == indices.size
    assert (weights >= 0).all()
    # The incrementally factorised solve gives the ridge solution on the picks.
    picked = atoms[indices]
    expected = np.linalg.solve(picked @ picked.T
                               + regularization * np.eye(indices.size),
                               picked @ target)
    np.testing.assert_allclose(weights, expected, rtol=1e-6, atol=1e-9)


def test_regularisation_shrinks_the_weights():
    rng = np.random.RandomState(2)
    atoms = rng.randn(100, 15) + 0.5
    target = atoms.sum(axis=0)
    _, free = nonnegative_omp(atoms, target, 10, regularization=0.0)
    _, shrunk = nonnegative_omp(atoms, target, 10, regularization=50.0)
    assert shrunk.sum() < free.sum()


def test_a_target_no_atom_correlates_with_gives_nothing():
    atoms = np.abs(np.random.RandomState(3).randn(50, 5))
    indices, weights = nonnegative_omp(atoms, -np.ones(5), 10)
    assert indices.size == 0 and weights.size == 0
    indices, _ = nonnegative_omp(atoms, np.zeros(5), 10)
    assert indices.size == 0


def _clustered_gradients(n=1200, n_classes=3, seed=0):
    """Per-example 'gradients' with structure: a few directions per class,
    different magnitudes, as last-layer gradients have."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(n_classes, size=n)
    centres = rng.randn(n_classes, 4, 30)
    which = rng.randint(4, size=n)
    scale = rng.gamma(2.0, 1.0, size=n)[:, None]
    gradients = scale * centres[labels, which] + 0.1 * rng.randn(n, 30)
    return gradients, labels


def test_the_subset_matches_each_class_gradient_better_than_random_subsets():
    gradients, labels = _clustered_gradients()
    budget = 60
    indices, weights = gradient_matching_subset(
        lambda rows, label: gradients[rows], labels, budget, random_state=0)
    assert indices.size == budget and len(np.unique(indices)) == budget
    np.testing.assert_array_equal(
        np.bincount(labels[indices], minlength=3),
        np.round(budget * np.bincount(labels, minlength=3) / len(labels)))
    rng = np.random.RandomState(0)
    for label in range(3):
        members = np.flatnonzero(labels == label)
        mine = np.isin(indices, members)
        ours = gradient_matching_error(gradients[members],
                                       np.searchsorted(members, indices[mine]),
                                       weights[mine])
        # A uniform sample of the same size, weighted to be unbiased.
        k = int(mine.sum())
        random_errors = [gradient_matching_error(
            gradients[members], rng.choice(members.size, k, replace=False),
            np.full(k, members.size / k)) for _ in range(20)]
        assert ours < 0.1 * min(random_errors)


def test_classes_whose_pursuit_stops_early_are_topped_up_from_the_class():
    # Identical gradients: one pick explains the whole class sum.
    gradients = np.ones((100, 4))
    labels = np.repeat([0, 1], 50)
    indices, weights = gradient_matching_subset(
        lambda rows, label: gradients[rows] * (1 + label), labels, 20,
        random_state=0)
    assert indices.size == 20 and len(np.unique(indices)) == 20
    np.testing.assert_array_equal(np.bincount(labels[indices]), [10, 10])
    assert (weights > 0).all()


def test_balanced_budgets_split_equally():
    gradients, _ = _clustered_gradients(n=300)
    labels = np.repeat([0, 1, 2], [200, 80, 20])
    indices, _ = gradient_matching_subset(
        lambda rows, label: gradients[rows], labels, 30,
        class_balance="balanced", random_state=0)
    np.testing.assert_array_equal(np.bincount(labels[indices]), [10, 10, 10])
