"""CREST's mini-batch coresets: one small weighted coreset per random subset.

The one code path that builds them, for the estimator's ``per_step`` and
``crest`` strategies (one coreset of ``batch_size`` per subset, per training
step) and for :class:`~sklearn_crest.CoresetSelector` with
``method="crest"`` (the union of several, as a dataset coreset).

A random subset is given split by class; each class part is a ground set of
facility location with its own budget, so a coreset keeps the subset's class
mix. All parts of all subsets are solved in one call to
:func:`~sklearn_crest._coresets.facility_location.select_in_ground_sets`, whose batched
greedy handles the many small ground sets at once.
"""

import numpy as np

from .facility_location import allocate_budget, select_in_ground_sets


def quotas_per_subset(subsets, batch_size):
    """Budgets that give each subset one coreset of ``batch_size`` examples
    (at most the subset), split over its class parts in proportion to their
    sizes, every part with examples getting at least one pick."""
    quotas = []
    for parts in subsets:
        sizes = [len(part) for part in parts]
        budget = min(int(batch_size), sum(sizes))
        quotas.append([int(q) for q in allocate_budget(sizes, budget, "proportional",
                                                       every_class=True)])
    return quotas


def minibatch_coresets(features, subsets, quotas, *, metric="euclidean",
                       optimizer="lazy", epsilon=0.1, random_state=None):
    """One weighted coreset from each random subset, by facility location per
    class part.

    Parameters
    ----------
    features : ndarray or torch.Tensor of shape (n, d)
        The features the similarity is measured on (gradient proxies).
    subsets : list of list of ndarray of int64
        Each subset as its class parts: rows of ``features``.
    quotas : list of list of int
        Each part's budget (:func:`quotas_per_subset`, or the caller's own).
    metric, optimizer, epsilon, random_state
        As in :func:`~sklearn_crest._coresets.facility_location.select_in_ground_sets`.

    Returns
    -------
    list of (rows, cluster_sizes, gains)
        One triple per subset, its parts in the given order: the selected
        rows of ``features``, the size of each one's cluster within its part
        (they sum to the subset's size), and the greedy's marginal gains.
    """
    ground_sets, budgets, owners = [], [], []
    for index, (parts, part_quotas) in enumerate(zip(subsets, quotas)):
        for part, quota in zip(parts, part_quotas):
            if quota:
                ground_sets.append(part)
                budgets.append(int(quota))
                owners.append(index)
    solved = select_in_ground_sets(features, ground_sets, budgets, metric=metric,
                                   optimizer=optimizer, epsilon=epsilon,
                                   random_state=random_state)
    owners = np.asarray(owners, dtype=np.int64)
    coresets = []
    for index in range(len(subsets)):
        mine = [solved[i] for i in np.flatnonzero(owners == index)]
        if not mine:
            empty = np.empty(0, dtype=np.int64)
            coresets.append((empty, np.empty(0), np.empty(0)))
            continue
        coresets.append(tuple(np.concatenate([s[k] for s in mine]) for k in range(3)))
    return coresets
