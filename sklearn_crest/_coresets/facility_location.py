"""Facility-location coreset selection: similarity kernels, budgets, greedy and weights.

This module is the one selection engine of the package. ``CoresetSelector``,
``CoresetTrainer`` and ``CrestClassifier`` all call :func:`select_coreset`.

The facility-location function of a selection ``S`` over a ground set ``V`` is

    F(S) = sum_{i in V} max_{j in S} s_ij

with a non-negative similarity ``s``. Greedy maximisation gives the usual
(1 - 1/e) guarantee. The weight of a selected element is the size of its cluster:
the number of ground-set points whose most similar selected element it is (CRAIG,
Mirzasoleiman et al. 2020; CREST, Yang et al. 2023).

Everything here is a plain function on arrays: no estimator state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "CoresetResult",
    "allocate_budget",
    "pairwise_similarity",
    "batched_naive_greedy",
    "host_batched_naive_greedy",
    "greedy_facility_location",
    "assign_to_selection",
    "select_coreset",
    "select_in_ground_sets",
]

METRICS = ("euclidean", "cosine")
OPTIMIZERS = ("lazy", "naive", "stochastic")
CLASS_BALANCES = ("proportional", "balanced")

# A dense float32 kernel of one block may take this many bytes: 128 MiB is a
# 5,792-point block. CREST's per-class blocks (a few hundred points) are far
# below it. Larger ground sets are split into spatial blocks; on Fashion-MNIST
# (60,000 points, PCA-64, budget 6,000) 128 MiB blocks took half the time of
# 512 MiB blocks for 99.99% of their objective (benchmarks/RESULTS.md).
DEFAULT_MAX_KERNEL_BYTES = 128 * 2**20

# Rows of a similarity block computed at once when points are assigned to the
# nearest selected element; bounds that temporary to about 64 MiB.
_ASSIGN_CHUNK_ELEMENTS = 16 * 2**20


@dataclass(frozen=True)
class CoresetResult:
    """What a facility-location selection returns.

    Attributes
    ----------
    indices : ndarray of shape (k,), dtype int64
        Selected rows of the input, in greedy order within each class and block;
        classes appear in sorted label order.
    weights : ndarray of shape (k,), dtype float64
        Cluster sizes: how many points of the ground set (the class, when labels
        are given) have the element as their most similar selected element.
        Within each class they sum to the class size.
    gains : ndarray of shape (k,), dtype float64
        The marginal gain of each element when the greedy picked it.
    """

    indices: np.ndarray
    weights: np.ndarray
    gains: np.ndarray


def allocate_budget(class_sizes, budget, class_balance="proportional", *,
                    every_class=False):
    """Split an exact total budget over classes by largest remainder.

    Parameters
    ----------
    class_sizes : array-like of int
        Number of points in each class.
    budget : int
        Total number of points to select, at most ``sum(class_sizes)``.
    class_balance : {"proportional", "balanced"}
        Shares proportional to class sizes, or equal shares.
    every_class : bool, default=False
        Give every non-empty class at least one point whenever the budget is
        at least the number of non-empty classes: a proportional share can
        round a rare class down to nothing, and a coreset without a class
        trains a model that cannot predict it. The points come from the
        largest quotas, one at a time.

    Returns
    -------
    quotas : ndarray of int64
        Per-class quotas that sum to ``budget`` exactly, each at most its class
        size. What a small class cannot take goes to the others, in proportion to
        their shares. Ties in the remainders go to the lower class index.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    budget = int(budget)
    if class_balance not in CLASS_BALANCES:
        raise ValueError(
            f"class_balance must be one of {CLASS_BALANCES}, got {class_balance!r}."
        )
    if budget < 0:
        raise ValueError(f"The budget must be non-negative, got {budget}.")
    if budget > sizes.sum():
        raise ValueError(
            f"A budget of {budget} points exceeds the {int(sizes.sum())} points "
            "available; lower the coreset size."
        )
    quotas = np.zeros_like(sizes)
    remaining = budget
    # Integer arithmetic throughout: equal remainders must compare equal for the
    # tie rule to hold (share = remaining * w / W, remainder = its numerator mod W).
    while remaining > 0:
        open_classes = np.flatnonzero(quotas < sizes)
        capacity = sizes[open_classes] - quotas[open_classes]
        if class_balance == "proportional":
            share_weights = sizes[open_classes]
        else:
            share_weights = np.ones(open_classes.size, dtype=np.int64)
        total_weight = int(share_weights.sum())
        numerators = remaining * share_weights
        saturated = numerators >= capacity * total_weight
        if saturated.any():
            # Fill the classes that cannot take their share, then split what is
            # left over the others in the next round.
            quotas[open_classes[saturated]] += capacity[saturated]
            remaining -= int(capacity[saturated].sum())
            continue
        floors = numerators // total_weight
        quotas[open_classes] += floors
        left = remaining - int(floors.sum())
        order = np.argsort(-(numerators % total_weight), kind="stable")
        quotas[open_classes[order[:left]]] += 1
        remaining = 0
    if every_class:
        nonempty = sizes > 0
        if budget >= int(nonempty.sum()):
            for missing in np.flatnonzero(nonempty & (quotas == 0)):
                quotas[int(np.argmax(quotas))] -= 1
                quotas[missing] = 1
    return quotas


def _as_float_tensor(features):
    """Float32 torch view of numpy or torch features, on their device."""
    if isinstance(features, torch.Tensor):
        tensor = features.detach()
        if tensor.dtype != torch.float32:
            tensor = tensor.float()
        return tensor
    array = np.ascontiguousarray(features, dtype=np.float32)
    return torch.from_numpy(array)


def _kernel_dtype(tensor, n_entries):
    """The dtype a kernel of ``n_entries`` is computed in before it is
    rounded to float32.

    A float32 kernel differs in its last bits from one processor to another
    (AVX512, AVX2 and scalar kernels sum in other orders and round ``exp``
    differently; the Gram trick's cancellation makes it 1e-7 to 1e-4 off for
    close points), and facility location's late greedy choices are between
    gains that differ by less than that: the same proxies gave other coresets
    on another CPU. Computed in float64 and rounded once to float32, the kernel
    is the same float32 array on every processor but for a chance of about
    1e-9 per entry. That costs 2x on the kernel: about 0.14 ms per per-step
    selection (10 classes of 60), nothing beside its forward pass, but 1.3x on
    CRAIG's per-epoch call over whole classes (60,000 points), so kernels of
    more than ``_EXACT_MAX_ENTRIES`` stay float32
    (``benchmarks/bench_kernel_precision.py``). MPS has no float64.
    """
    if tensor.device.type == "mps" or n_entries > _EXACT_MAX_ENTRIES:
        return torch.float32
    return torch.float64


# Kernels up to this many entries (a 2,048-point ground set) are computed in
# float64; CREST's, per-step and CRAIG's on small data are far below it.
_EXACT_MAX_ENTRIES = 2**22


def pairwise_similarity(A, B, metric="euclidean", n_features=None):
    """Similarity between the rows of two float32 tensors.

    Parameters
    ----------
    A, B : torch.Tensor of shape (n_a, d) and (n_b, d)
    metric : {"euclidean", "cosine"}
        ``euclidean`` is ``exp(-||a - b|| / d)``, the kernel of the authors'
        code (submodlib's "euclidean"); ``cosine`` is ``(1 + cos(a, b)) / 2``,
        shifted into [0, 1] because facility location needs non-negative
        similarities.
    n_features : int, optional
        The ``d`` of the euclidean kernel; defaults to the number of columns.

    Returns
    -------
    torch.Tensor of shape (n_a, n_b), float32
        Small kernels are computed in float64 and rounded once (see
        :func:`_kernel_dtype`).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    dtype = _kernel_dtype(A, A.shape[0] * B.shape[0])
    A, B = A.to(dtype), B.to(dtype)
    if metric == "euclidean":
        scale = float(n_features or A.shape[1] or 1)
        # The Gram trick runs as one matrix product; the in-place chain keeps
        # a single (n_a, n_b) buffer, which is what bounds the memory.
        out = torch.addmm((B * B).sum(1)[None, :], A, B.T, beta=1.0, alpha=-2.0)
        out.add_((A * A).sum(1)[:, None]).clamp_(min=0.0).sqrt_()
        out.mul_(-1.0 / scale).exp_()
    else:
        A_unit = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
        B_unit = B / B.norm(dim=1, keepdim=True).clamp_min(1e-12)
        out = (A_unit @ B_unit.T).add_(1.0).mul_(0.5).clamp_(0.0, 1.0)
    return out.float()


def _self_similarity(features, metric, n_features=None):
    """Dense (n, n) similarity of a point set with itself, as a numpy array."""
    sim = pairwise_similarity(features, features, metric, n_features)
    # Rounding in the Gram trick leaves s_ii slightly below 1; a point is
    # exactly as similar to itself as possible.
    sim.fill_diagonal_(1.0)
    return sim.cpu().numpy()


def _gains(similarity, rows, covered):
    """Exact marginal gains of the candidates ``rows`` given the coverage.

    ``similarity`` is symmetric, so a candidate's column is its row, and rows are
    contiguous. Every optimizer computes gains through this function, so equal
    candidates get bit-identical gains whichever optimizer asks.
    """
    block = similarity[rows] - covered
    np.maximum(block, 0.0, out=block)
    return block.sum(axis=1, dtype=np.float64)


def greedy_facility_location(similarity, budget, *, optimizer="lazy", epsilon=0.1,
                             random_state=None):
    """Greedy facility location on a dense symmetric similarity matrix.

    Parameters
    ----------
    similarity : ndarray of shape (n, n)
        Non-negative, symmetric similarities (the ground set is the candidate set).
    budget : int
        Number of elements to select, ``0 <= budget <= n``. Exactly ``budget``
        elements are returned, also when gains reach zero.
    optimizer : {"lazy", "naive", "stochastic"}
        ``lazy`` is the exact lazy greedy (Minoux): it returns the same selection
        as ``naive`` but re-evaluates only the candidates whose stale upper bound
        could still win. ``stochastic`` (Mirzasoleiman et al. 2015) evaluates a
        random sample of ``(n / budget) * log(1 / epsilon)`` candidates per step.
    epsilon : float
        Accuracy of the stochastic greedy, in (0, 1).
    random_state : int, RandomState or None
        Only used by the stochastic greedy.

    Returns
    -------
    selected : ndarray of int64, shape (budget,)
        Local indices in greedy order.
    gains : ndarray of float64, shape (budget,)
        Marginal gain of each selected element.
    assignment : ndarray of int64, shape (n,)
        Position in ``selected`` of each point's most similar selected element
        (ties go to the earlier selected element).
    """
    similarity = np.asarray(similarity)
    n = similarity.shape[0]
    budget = int(budget)
    if not 0 <= budget <= n:
        raise ValueError(f"budget must be in [0, {n}], got {budget}.")
    selected = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.float64)
    assignment = np.zeros(n, dtype=np.int64)
    if budget == 0:
        return selected, gains, assignment
    covered = np.zeros(n, dtype=similarity.dtype)

    def commit(step, index, gain):
        selected[step] = index
        gains[step] = gain
        row = similarity[index]
        improved = row > covered
        assignment[improved] = step
        covered[improved] = row[improved]

    if optimizer == "naive":
        available = np.ones(n, dtype=bool)
        for step in range(budget):
            step_gains = _gains(similarity, slice(None), covered)
            step_gains[~available] = -np.inf
            best = int(np.argmax(step_gains))
            available[best] = False
            commit(step, best, step_gains[best])
    elif optimizer == "lazy":
        _lazy_greedy(similarity, budget, covered, commit)
    elif optimizer == "stochastic":
        if not 0.0 < epsilon < 1.0:
            raise ValueError(f"epsilon must be in (0, 1), got {epsilon}.")
        rng = check_random_state(random_state)
        sample_size = max(1, math.ceil(n / budget * math.log(1.0 / epsilon)))
        available = np.ones(n, dtype=bool)
        for step in range(budget):
            pool = np.flatnonzero(available)
            if pool.size > sample_size:
                pool = rng.choice(pool, size=sample_size, replace=False)
            pool_gains = _gains(similarity, pool, covered)
            position = int(np.argmax(pool_gains))
            best = int(pool[position])
            available[best] = False
            commit(step, best, pool_gains[position])
    else:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}.")
    return selected, gains, assignment


def _lazy_greedy(similarity, budget, covered, commit):
    """Exact lazy greedy that re-evaluates stale candidates in small batches.

    Marginal gains only shrink as the selection grows (submodularity), so a gain
    computed at an earlier step is an upper bound. Each step re-evaluates the
    ``batch`` candidates with the largest bounds in one vectorised call and
    accepts the best of them once its exact gain is at least every bound outside
    the batch; otherwise the next batch is drawn. A batch, not a heap, keeps the
    Python overhead per step constant, which is what matters for CREST's
    thousands of tiny selections. ``commit`` records a choice and raises
    ``covered`` in place.
    """
    n = similarity.shape[0]
    # With nothing covered yet the gains are the row sums (similarities are
    # non-negative): the same numbers _gains gives, without its n x n temporary.
    bounds = similarity.sum(axis=1, dtype=np.float64)
    # Bounds of this step's fresh candidates are exact gains.
    fresh = np.ones(n, dtype=bool)
    # Chosen points keep a final -inf bound and are never re-evaluated.
    chosen = np.zeros(n, dtype=bool)
    # About 16k similarities per batch: large enough to amortise the call
    # overhead, small enough that few evaluations are wasted per step.
    batch = int(min(n, max(8, 2**14 // max(n, 1))))
    for step in range(budget):
        while True:
            if batch >= n:
                top = np.arange(n)
                threshold = -np.inf
            else:
                top = np.argpartition(-bounds, batch - 1)[:batch]
                threshold = bounds[top].min()
            stale = top[~fresh[top]]
            if stale.size:
                bounds[stale] = _gains(similarity, stale, covered)
                fresh[stale] = True
            best_value = bounds[top].max()
            if best_value >= threshold:
                break
        # Stale candidates outside the batch whose bound equals the best gain
        # may tie with it; the naive greedy would take the lowest index.
        tied = np.flatnonzero((bounds >= best_value) & ~fresh)
        if tied.size:
            bounds[tied] = _gains(similarity, tied, covered)
            fresh[tied] = True
        best = int(np.flatnonzero(bounds == best_value).min())
        commit(step, best, best_value)
        bounds[best] = -np.inf
        chosen[best] = True
        np.copyto(fresh, chosen)


def assign_to_selection(features, selected, metric="euclidean", n_features=None):
    """Nearest selected element of every point, computed in memory-bounded chunks.

    Parameters
    ----------
    features : torch.Tensor of shape (n, d), float32
    selected : ndarray of int64
        Rows of ``features`` that form the selection.
    metric : {"euclidean", "cosine"}
    n_features : int, optional
        The ``d`` of the euclidean kernel.

    Returns
    -------
    assignment : ndarray of int64, shape (n,)
        Position in ``selected`` of each point's most similar selected element.
    coverage : ndarray of float64, shape (n,)
        That largest similarity; its sum is the facility-location objective.
    """
    n = features.shape[0]
    centers = features[torch.as_tensor(selected, device=features.device)]
    chunk = max(1, _ASSIGN_CHUNK_ELEMENTS // max(len(selected), 1))
    assignment = np.empty(n, dtype=np.int64)
    coverage = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        block = pairwise_similarity(features[start:start + chunk], centers, metric,
                                    n_features)
        best, position = block.max(dim=1)
        assignment[start:start + chunk] = position.cpu().numpy()
        coverage[start:start + chunk] = best.cpu().numpy()
    return assignment, coverage


# Ground sets up to this size are solved together by one vectorised naive greedy
# over a padded (groups, m, m) kernel: at CREST's scale (tens of classes and
# random subsets of a few dozen points each) per-call Python overhead, not
# arithmetic, is what a per-group lazy greedy would spend its time on.
_BATCHED_MAX_SIZE = 256


def batched_naive_greedy(similarity, valid, quotas, n_steps=None):
    """Naive greedy on many small ground sets at once, on any torch device.

    No value is read back to the host, so on a GPU the whole greedy is queued
    work. Gains are summed in float64, and ties go to the first maximum.

    Parameters
    ----------
    similarity : torch.Tensor of shape (G, m, m)
        Kernels padded with zeros; padded rows and columns are zero.
    valid : torch.Tensor of bool, shape (G, m)
        Which rows are real points.
    quotas : torch.Tensor of int64, shape (G,)
        Budget of each ground set.
    n_steps : int or None, default=None
        ``quotas.max()``; a caller that knows it saves a read of a device
        tensor (a host synchronisation) per call.

    Returns
    -------
    selected : torch.Tensor of int64, shape (G, n_steps)
        Picked rows; entries at or past a ground set's quota are padding.
    counts : torch.Tensor of float64, shape (G, n_steps)
        Each pick's cluster size (the rows it covers best).
    gains : torch.Tensor of float64, shape (G, n_steps)
        Each pick's marginal gain.
    """
    n_groups, width, _ = similarity.shape
    if n_steps is None:
        n_steps = int(quotas.max()) if quotas.numel() else 0
    device = similarity.device
    groups = torch.arange(n_groups, device=device)
    covered = similarity.new_zeros((n_groups, width))
    assignment = torch.zeros((n_groups, width), dtype=torch.int64, device=device)
    available = valid.clone()
    selected = torch.zeros((n_groups, n_steps), dtype=torch.int64, device=device)
    gains = torch.zeros((n_groups, n_steps), dtype=torch.float64, device=device)
    for step in range(n_steps):
        step_gains = (similarity - covered[:, None, :]).clamp_(min=0.0).sum(
            2, dtype=torch.float64)
        step_gains.masked_fill_(~available, -float("inf"))
        best = step_gains.argmax(1)
        active = step < quotas
        rows = similarity[groups, best]
        improved = (rows > covered) & active[:, None]
        assignment.masked_fill_(improved, step)
        covered = torch.where(improved, rows, covered)
        selected[:, step] = best
        gains[:, step] = step_gains[groups, best]
        # Take the pick out of the candidates, for ground sets still choosing.
        still = available.gather(1, best[:, None]) & ~active[:, None]
        available.scatter_(1, best[:, None], still)
    counts = torch.zeros((n_groups, n_steps), dtype=torch.float64, device=device)
    counts.scatter_add_(1, assignment, valid.to(torch.float64))
    return selected, counts, gains


def host_batched_naive_greedy(similarity, valid, quotas):
    """:func:`batched_naive_greedy` in numpy, for kernels on the host.

    The same arithmetic in the same order (float32 kernels, float64 gain
    sums, ties to the first maximum), so the same picks, cluster sizes and
    gains; ``tests/test_facility_location.py`` checks that both agree. Kept
    beside the torch version because per-call overhead, not arithmetic, sets
    the cost of these tiny kernels on the CPU: a CREST or per-step coreset's
    greedy (ten classes of about 26 rows) took 0.8 ms here against 1.9 ms in
    torch (``benchmarks/bench_batched_greedy.py``), about 1 s of a 20-epoch
    CREST fit on the Fashion-MNIST CNN.

    Parameters
    ----------
    similarity : ndarray of shape (G, m, m)
        Kernels padded with zeros; padded rows and columns are zero.
    valid : ndarray of bool, shape (G, m)
    quotas : ndarray of int64, shape (G,)

    Returns
    -------
    selected, counts, gains : ndarrays of shape (G, quotas.max())
        As :func:`batched_naive_greedy` returns them.
    """
    n_groups, width, _ = similarity.shape
    n_steps = int(quotas.max(initial=0))
    groups = np.arange(n_groups)
    covered = np.zeros((n_groups, width), dtype=similarity.dtype)
    assignment = np.zeros((n_groups, width), dtype=np.int64)
    available = valid.copy()
    selected = np.zeros((n_groups, n_steps), dtype=np.int64)
    gains = np.zeros((n_groups, n_steps), dtype=np.float64)
    buffer = np.empty_like(similarity)
    for step in range(n_steps):
        np.subtract(similarity, covered[:, None, :], out=buffer)
        np.maximum(buffer, 0.0, out=buffer)
        step_gains = buffer.sum(axis=2, dtype=np.float64)
        step_gains[~available] = -np.inf
        best = step_gains.argmax(axis=1)
        active = step < quotas
        rows = similarity[groups, best]
        improved = (rows > covered) & active[:, None]
        assignment[improved] = step
        np.copyto(covered, rows, where=improved)
        selected[:, step] = best
        gains[:, step] = step_gains[groups, best]
        available[groups[active], best[active]] = False
    counts = np.zeros((n_groups, n_steps), dtype=np.float64)
    np.add.at(counts, (np.repeat(groups, width), assignment.reshape(-1)),
              valid.reshape(-1).astype(np.float64))
    return selected, counts, gains


def padded_similarity(points, n_features, metric):
    """Similarity kernels of padded ground sets, a (G, m, m) tensor on the
    points' device: ``points`` is (G, m, d), the rows of each ground set
    padded to ``m``; the diagonal is 1 (padded entries are not masked)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    # Float64 when small, rounded once: see _kernel_dtype.
    n_groups, m = points.shape[0], points.shape[1]
    points = points.to(_kernel_dtype(points, n_groups * m * m))
    if metric == "euclidean":
        squared = (points * points).sum(2)
        sim = torch.baddbmm(squared[:, None, :], points, points.transpose(1, 2),
                            beta=1.0, alpha=-2.0)
        sim.add_(squared[:, :, None]).clamp_(min=0.0).sqrt_()
        sim.mul_(-1.0 / max(n_features, 1)).exp_()
    else:
        unit = points / points.norm(dim=2, keepdim=True).clamp_min(1e-12)
        sim = torch.bmm(unit, unit.transpose(1, 2)).add_(1.0).mul_(0.5)
        sim.clamp_(0.0, 1.0)
    sim = sim.float()
    sim.diagonal(dim1=1, dim2=2).fill_(1.0)
    return sim


def _batched_small_ground_sets(tensor, groups, metric):
    """Kernels of small ground sets, padded into one (G, m, m) array."""
    n_features = tensor.shape[1]
    m = max(len(g) for g in groups)
    padded = np.zeros((len(groups), m), dtype=np.int64)
    valid = np.zeros((len(groups), m), dtype=bool)
    for row, group in enumerate(groups):
        padded[row, :len(group)] = group
        valid[row, :len(group)] = True
    points = tensor[torch.as_tensor(padded, device=tensor.device)]
    sim = padded_similarity(points, n_features, metric).cpu().numpy()
    mask = valid[:, :, None] & valid[:, None, :]
    sim[~mask] = 0.0
    return sim, valid


def _select_in_ground_set(features, budget, metric, optimizer, epsilon, rng,
                          max_block):
    """Select ``budget`` rows of one ground set (one class, or all points)."""
    n = features.shape[0]
    d = features.shape[1]
    if budget == 0:
        return (np.empty(0, np.int64), np.empty(0, np.float64),
                np.empty(0, np.float64))
    if n <= max_block:
        similarity = _self_similarity(features, metric, d)
        local, gains, assignment = greedy_facility_location(
            similarity, budget, optimizer=optimizer, epsilon=epsilon, random_state=rng)
        weights = np.bincount(assignment, minlength=budget).astype(np.float64)
        return local, weights, gains
    # Too large for one dense kernel: split the ground set into blocks that fit
    # and run the greedy in each, with a share of the budget proportional to the
    # block's size; weights then come from the nearest selected element over
    # the whole ground set. Blocks are spatial (recursive bisection along the
    # principal direction), not random: with random blocks every block picks
    # the same dense regions, which cost up to a third of the objective when the
    # budget is near the number of clusters; spatial blocks stay within a few
    # per mille of the single-block greedy (tests/test_facility_location.py).
    blocks = _spatial_blocks(features, math.ceil(n / max_block), rng)
    quotas = allocate_budget([len(b) for b in blocks], budget, "proportional")
    local_parts, gain_parts = [], []
    for block, quota in zip(blocks, quotas):
        block_index = torch.as_tensor(block, device=features.device)
        similarity = _self_similarity(features[block_index], metric, d)
        chosen, gains, _ = greedy_facility_location(
            similarity, int(quota), optimizer=optimizer, epsilon=epsilon,
            random_state=rng)
        del similarity
        local_parts.append(block[chosen])
        gain_parts.append(gains)
    local = np.concatenate(local_parts)
    assignment, _ = assign_to_selection(features, local, metric, d)
    weights = np.bincount(assignment, minlength=local.size).astype(np.float64)
    return local, weights, np.concatenate(gain_parts)


def _spatial_blocks(features, n_blocks, rng, n_power_iterations=8):
    """Split rows into ``n_blocks`` near-equal blocks of nearby points.

    Recursive bisection at the quantile of the projection on each part's
    principal direction (power iteration from a seeded random start).
    """

    def split(rows, parts):
        if parts == 1:
            return [rows]
        left_parts = parts // 2
        points = features[torch.as_tensor(rows, device=features.device)]
        centred = points - points.mean(dim=0)
        direction = torch.as_tensor(rng.standard_normal(points.shape[1]),
                                    dtype=points.dtype, device=points.device)
        for _ in range(n_power_iterations):
            direction = centred.T @ (centred @ direction)
            direction /= direction.norm().clamp_min(1e-12)
        order = np.argsort((centred @ direction).cpu().numpy(), kind="stable")
        cut = round(len(rows) * left_parts / parts)
        return (split(rows[order[:cut]], left_parts)
                + split(rows[order[cut:]], parts - left_parts))

    return split(np.arange(features.shape[0]), n_blocks)


def select_in_ground_sets(features, groups, quotas, *, metric="euclidean",
                          optimizer="lazy", epsilon=0.1, random_state=None,
                          max_kernel_bytes=DEFAULT_MAX_KERNEL_BYTES):
    """Facility location on each ground set ``groups[i]`` with budget ``quotas[i]``.

    Parameters
    ----------
    features : ndarray or torch.Tensor of shape (n, d)
    groups : list of ndarray of int64
        Row indices of each ground set (they may overlap).
    quotas : sequence of int
        Budget of each ground set, at most its size.
    metric, optimizer, epsilon, random_state, max_kernel_bytes
        As in :func:`select_coreset`.

    Returns
    -------
    list of (indices, weights, gains)
        One triple per ground set, with indices into ``features``, in greedy
        order; weights are cluster sizes within the ground set.

    Notes
    -----
    Small ground sets (CREST's per-class parts of random subsets) share one
    batched greedy, which makes the same choices as the lazy greedy; the others
    are solved one by one.
    """
    tensor = _as_float_tensor(features)
    rng = check_random_state(random_state)
    max_block = max(1, int(math.isqrt(int(max_kernel_bytes) // 4)))
    results = [None] * len(groups)
    small = [i for i, (g, q) in enumerate(zip(groups, quotas))
             if q > 0 and len(g) <= _BATCHED_MAX_SIZE and optimizer != "stochastic"]
    # Batches of small ground sets whose padded kernels (and the greedy's
    # equally large work buffer) stay within max_kernel_bytes.
    padded_bytes = max(1, 2 * 4 * _BATCHED_MAX_SIZE**2)
    per_batch = max(1, int(max_kernel_bytes) // padded_bytes)
    for start in range(0, len(small), per_batch):
        chunk = small[start:start + per_batch]
        sim, valid = _batched_small_ground_sets(tensor, [groups[i] for i in chunk],
                                                metric)
        chunk_quotas = np.array([quotas[i] for i in chunk], dtype=np.int64)
        selected, counts, gains = host_batched_naive_greedy(sim, valid, chunk_quotas)
        for row, i in enumerate(chunk):
            quota = int(chunk_quotas[row])
            results[i] = (groups[i][selected[row, :quota]], counts[row, :quota],
                          gains[row, :quota])
    for i, (group, quota) in enumerate(zip(groups, quotas)):
        if results[i] is not None:
            continue
        group_features = tensor[torch.as_tensor(group, device=tensor.device)]
        local, weights, gains = _select_in_ground_set(
            group_features, int(quota), metric, optimizer, epsilon, rng, max_block)
        results[i] = (group[local], weights, gains)
    return results


def select_coreset(features, budget, *, labels=None, metric="euclidean",
                   class_balance="proportional", optimizer="lazy", epsilon=0.1,
                   random_state=None, max_kernel_bytes=DEFAULT_MAX_KERNEL_BYTES,
                   class_budgets=None):
    """Facility-location coreset of ``features``, per class when labels are given.

    Parameters
    ----------
    features : ndarray or torch.Tensor of shape (n, d)
        Finite features; a torch tensor stays on its device for the kernels.
    budget : int
        Exact total number of points to select. Ignored when ``class_budgets``
        is given.
    labels : array-like of shape (n,), optional
        Class of each point. Each class is its own ground set, and the budget is
        split over classes by :func:`allocate_budget`.
    metric : {"euclidean", "cosine"}
        Similarity, see :func:`pairwise_similarity`.
    class_balance : {"proportional", "balanced"}
        How the budget is split over classes.
    optimizer : {"lazy", "naive", "stochastic"}
        See :func:`greedy_facility_location`.
    epsilon : float
        Accuracy of the stochastic greedy.
    random_state : int, RandomState or None
        Seeds the stochastic greedy and the power iterations that split large
        classes into blocks.
    max_kernel_bytes : int
        Largest dense float32 kernel built at once; larger classes are split
        into spatial blocks that fit.
    class_budgets : array-like of int, optional
        Per-class quotas in the order of ``np.unique(labels)``, used instead of
        ``budget`` and ``class_balance``.

    Returns
    -------
    CoresetResult

    Notes
    -----
    Memory stays below ``max_kernel_bytes`` plus the features and a 64 MiB
    assignment buffer, whatever ``n``. Within a block the selection is exactly
    the greedy one; a ground set larger than one block is split into spatial
    blocks, whose partitioned greedy reached 99.6-99.99% of the single-block
    objective in our measurements (clustered synthetic data and
    Fashion-MNIST).
    """
    tensor = _as_float_tensor(features)
    if tensor.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {tuple(tensor.shape)}.")
    n = tensor.shape[0]
    rng = check_random_state(random_state)
    if labels is None:
        groups = [np.arange(n)]
        quotas = np.array([budget if class_budgets is None else
                           int(np.sum(class_budgets))])
        if quotas[0] > n:
            raise ValueError(
                f"A budget of {int(quotas[0])} points exceeds the {n} points "
                "available; lower the coreset size.")
    else:
        labels = np.asarray(labels)
        if labels.shape[0] != n:
            raise ValueError(
                f"labels has {labels.shape[0]} entries but features has {n} rows.")
        _, encoded = np.unique(labels, return_inverse=True)
        order = np.argsort(encoded, kind="stable")
        boundaries = np.flatnonzero(np.diff(encoded[order])) + 1
        groups = np.split(order, boundaries)
        sizes = [len(g) for g in groups]
        if class_budgets is None:
            quotas = allocate_budget(sizes, budget, class_balance)
        else:
            quotas = np.asarray(class_budgets, dtype=np.int64)
            if quotas.shape != (len(groups),) or (quotas < 0).any() or (
                    quotas > sizes).any():
                raise ValueError(
                    "class_budgets must hold one count per class, each between 0 "
                    f"and the class size {sizes}; got {quotas.tolist()}.")
    solved = select_in_ground_sets(
        tensor, groups, quotas, metric=metric, optimizer=optimizer, epsilon=epsilon,
        random_state=rng, max_kernel_bytes=max_kernel_bytes)
    index_parts = [indices for indices, _, _ in solved]
    weight_parts = [weights for _, weights, _ in solved]
    gain_parts = [gains for _, _, gains in solved]
    return CoresetResult(
        indices=np.concatenate(index_parts).astype(np.int64),
        weights=np.concatenate(weight_parts),
        gains=np.concatenate(gain_parts),
    )
