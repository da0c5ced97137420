"""Gradient matching (GradMatch): a weighted subset whose gradient sum matches the whole.

GradMatch (Killamsetty et al., ICML 2021) chooses a subset ``S`` and weights
``w >= 0`` that minimise

    || sum_{i in S} w_i g_i - sum_{i in V} g_i ||^2 + lam ||w||^2,   |S| <= k,

with the per-example gradients ``g_i`` of the last layer, per class, by
orthogonal matching pursuit (OMP): add the example whose gradient best
explains the residual, refit the regularised non-negative weights of all
chosen examples, repeat. This follows the reference implementation in CORDS
(``OrthogonalMP_REG_Parallel_V1`` with ``positive=True``, its "PerClass"
selection; ``lam`` defaults to 0 there and here, while its CIFAR-10
configuration sets 0.5, which measured harmful in this library: see the
``GradMatchSubsets(regularization=...)``), with these differences, each for a
stated reason:

- The weights are refitted through a Cholesky factor of the regularised Gram
  matrix that grows by one row per pick (O(k^2) per pick instead of a fresh
  least-squares solve, O(k^3)); the result is the same regularised solution.
- The pursuit stops when no remaining example has a positive correlation
  with the residual (adding one could only get a negative weight) or the
  residual is below ``tol``; an example dropped for a negative weight is not
  picked again (CORDS may pick it again, and stops when it picks an example
  twice).
- A class whose pursuit stops early is topped up with random examples of the
  *same* class (CORDS draws them from the whole training set), weighted with
  the class's mean pursuit weight (CORDS gives them 1, a scale unrelated to
  the pursuit's weights).

Everything here is a plain function on arrays.
"""

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .facility_location import allocate_budget

__all__ = ["nonnegative_omp", "gradient_matching_subset", "gradient_matching_error"]


def nonnegative_omp(atoms, target, budget, *, regularization=0.0, tol=1e-4):
    """Non-negative, ridge-regularised orthogonal matching pursuit.

    Approximately solves ``min ||atoms[S].T @ w - target||^2 + lam ||w||^2``
    over ``w >= 0`` and ``|S| <= budget``.

    Parameters
    ----------
    atoms : ndarray of shape (n, d)
        One candidate per row (here: an example's gradient).
    target : ndarray of shape (d,)
        The vector to match (here: the sum of the gradients).
    budget : int
        Most rows to pick.
    regularization : float >= 0, default=0.0
        The ridge ``lam`` on the weights (GradMatch's regularisation).
    tol : float, default=1e-4
        Stop once the residual's norm is below ``tol`` times the target's.

    Returns
    -------
    indices : ndarray of int64, shape (m,), m <= budget
        Picked rows, in the order they were picked (removals left out).
    weights : ndarray of float64, shape (m,)
        Their non-negative weights.
    """
    # The pursuit is a long chain of small matrix-vector products, which BLAS
    # threads slow down (60x on a busy 2-core machine, measured): one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        return _nonnegative_omp(atoms, target, budget, regularization, tol)


def _nonnegative_omp(atoms, target, budget, regularization, tol):
    A = np.asarray(atoms, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    n = A.shape[0]
    budget = int(min(budget, n))
    lam = float(regularization)
    target_norm = float(np.linalg.norm(b))
    if budget <= 0 or target_norm == 0.0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    correlations = A @ b  # a_i . b, reused for every refit's right-hand side
    chosen = []
    # The picked rows, and the Cholesky factor of their regularised Gram
    # matrix G = A_S A_S^T + lam I, both grown one row per pick.
    picked_atoms = np.zeros((budget, A.shape[1]))
    factor = np.zeros((budget, budget))
    weights = np.empty(0)
    residual = b.copy()
    # Picked now or dropped before: not a candidate (so the pursuit ends).
    excluded = np.zeros(n, dtype=bool)
    while len(chosen) < budget:
        if np.linalg.norm(residual) < tol * target_norm:
            break
        projections = A @ residual
        projections[excluded] = -np.inf
        index = int(np.argmax(projections))
        if projections[index] <= 0.0:
            break
        excluded[index] = True
        k = len(chosen)
        atom = A[index]
        row = _solve_lower(factor[:k, :k], picked_atoms[:k] @ atom)
        diagonal = atom @ atom + lam - row @ row
        if diagonal <= 1e-12 * (atom @ atom + lam + 1.0):
            continue  # numerically dependent on the picks so far: adds nothing
        factor[k, :k] = row
        factor[k, k] = np.sqrt(diagonal)
        picked_atoms[k] = atom
        chosen.append(index)
        k += 1
        weights = _cholesky_solve(factor[:k, :k], correlations[chosen])
        while k and weights.min() < 0.0:
            # Non-negativity: drop the most negative pick and refactorise
            # (rare, so the O(k^3) refactorisation does not dominate).
            drop = int(np.argmin(weights))
            del chosen[drop]
            picked_atoms[drop:k - 1] = picked_atoms[drop + 1:k].copy()
            k -= 1
            picked_atoms[k] = 0.0
            factor[:] = 0.0
            weights = np.empty(0)
            if k:
                sub = picked_atoms[:k]
                factor[:k, :k] = np.linalg.cholesky(sub @ sub.T + lam * np.eye(k))
                weights = _cholesky_solve(factor[:k, :k], correlations[chosen])
        if not k:
            break
        residual = b - picked_atoms[:k].T @ weights
    return np.asarray(chosen, dtype=np.int64), weights


def _solve_lower(lower, rhs):
    if not rhs.size:
        return rhs
    return solve_triangular(lower, rhs, lower=True, check_finite=False)


def _cholesky_solve(lower, rhs):
    """``x`` with ``lower @ lower.T @ x = rhs``."""
    y = _solve_lower(lower, rhs)
    return solve_triangular(lower, y, lower=True, trans="T", check_finite=False)


def gradient_matching_subset(class_gradients, labels, budget, *,
                             regularization=0.0, class_balance="proportional",
                             random_state=None):
    """GradMatch's weighted subset, per class.

    Parameters
    ----------
    class_gradients : callable
        ``class_gradients(rows, label)`` returns the gradient features (an
        array of shape ``(len(rows), d)``) of the examples at ``rows``, all of
        class ``label``; called once per class, so that only one class's
        features are ever in memory.
    labels : ndarray of int, shape (n,)
        Class of each example.
    budget : int
        Exact size of the subset, split over the classes (each class at least
        one example when the budget allows).
    regularization : float, default=0.0
        See :func:`nonnegative_omp`.
    class_balance : {"proportional", "balanced"}, default="proportional"
        Split the budget in proportion to the class sizes (CORDS's
        ``ceil(budget * n_c / n)``, rounded to an exact total) or equally.
    random_state : int, RandomState or None
        For the top-up of classes whose pursuit stopped early.

    Returns
    -------
    indices : ndarray of int64, shape (budget,)
        Rows into ``labels``.
    weights : ndarray of float64, shape (budget,)
        Non-negative weights on the scale of the class sums they match
        (callers rescale them).
    """
    rng = check_random_state(random_state)
    labels = np.asarray(labels)
    classes, encoded = np.unique(labels, return_inverse=True)
    # One sort, not a scan of all labels per class.
    order = np.argsort(encoded, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(encoded))[:-1])
    quotas = allocate_budget([m.size for m in members], budget, class_balance,
                             every_class=True)
    indices, weights = [], []
    for label, rows, quota in zip(classes, members, quotas):
        if not quota:
            continue
        features = np.asarray(class_gradients(rows, label), dtype=np.float64)
        local, local_weights = nonnegative_omp(
            features, features.sum(axis=0), quota, regularization=regularization)
        missing = int(quota) - local.size
        if missing > 0:
            rest = np.setdiff1d(np.arange(rows.size), local, assume_unique=True)
            fill = rng.choice(rest, size=missing, replace=False)
            # Random examples stand in at the weight of an average pick; with
            # no pick at all, at the weight a uniform sample would have.
            fill_weight = (local_weights.mean() if local.size
                           else rows.size / float(quota))
            local = np.concatenate([local, fill])
            local_weights = np.concatenate([local_weights,
                                            np.full(missing, fill_weight)])
        indices.append(rows[local])
        weights.append(local_weights)
    if not indices:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return (np.concatenate(indices).astype(np.int64), np.concatenate(weights))


def gradient_matching_error(gradients, indices, weights):
    """Relative error of a weighted subset's gradient sum against the full sum.

    ``||sum_S w_i g_i - sum_V g_i|| / ||sum_V g_i||``, the quantity GradMatch
    minimises; 0 is a perfect match. ``weights`` may be on any scale that is
    meant to match the full sum (e.g. ``n / k`` for a uniform sample).
    """
    gradients = np.asarray(gradients, dtype=np.float64)
    full = gradients.sum(axis=0)
    approx = (np.asarray(weights, dtype=np.float64)[:, None]
              * gradients[np.asarray(indices)]).sum(axis=0)
    return float(np.linalg.norm(approx - full) / max(np.linalg.norm(full), 1e-300))
