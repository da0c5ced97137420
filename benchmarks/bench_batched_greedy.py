"""The engine's batched greedy (torch, any device) against the numpy version
it replaced, on the CPU, for the ground sets of per-step and CREST coresets.

Run from the repository root::

    python benchmarks/bench_batched_greedy.py

One greedy serves the host path and per-step's device path since the
selection layer's redesign; on the CPU its per-call torch overhead costs
more than numpy's on these tiny kernels. This measures how much, side by
side, and checks that both choose the same rows and weights.
"""

import statistics
import time

import numpy as np
import torch

from crest_benchmark.provenance import processor_name
from sklearn_crest._coresets import facility_location as fl


def numpy_batched_naive_greedy(similarity, valid, quotas):
    """Naive greedy on many small ground sets at once.

    Parameters
    ----------
    similarity : ndarray of shape (G, m, m)
        Kernels padded with zeros; padded rows and columns are zero.
    valid : ndarray of bool, shape (G, m)
        Which rows are real points.
    quotas : ndarray of int, shape (G,)
        Budget of each ground set.

    Returns
    -------
    list of (selected, weights, gains) per ground set.
    """
    n_groups, m, _ = similarity.shape
    group_index = np.arange(n_groups)
    covered = np.zeros((n_groups, m), dtype=similarity.dtype)
    assignment = np.zeros((n_groups, m), dtype=np.int64)
    available = valid.copy()
    n_steps = int(quotas.max(initial=0))
    selected = np.zeros((n_groups, n_steps), dtype=np.int64)
    gains = np.zeros((n_groups, n_steps), dtype=np.float64)
    block = np.empty_like(similarity)
    for step in range(n_steps):
        np.subtract(similarity, covered[:, None, :], out=block)
        np.maximum(block, 0.0, out=block)
        step_gains = block.sum(axis=2, dtype=np.float64)
        step_gains[~available] = -np.inf
        best = step_gains.argmax(axis=1)
        active = step < quotas
        rows = similarity[group_index, best]
        improved = (rows > covered) & active[:, None]
        assignment[improved] = step
        np.copyto(covered, rows, where=improved)
        selected[:, step] = best
        gains[:, step] = step_gains[group_index, best]
        available[group_index[active], best[active]] = False
    results = []
    for g in range(n_groups):
        quota = int(quotas[g])
        weights = np.bincount(assignment[g, valid[g]], minlength=quota)
        results.append((selected[g, :quota].copy(), weights.astype(np.float64),
                        gains[g, :quota].copy()))
    return results


def median_ms(function, repeats=200):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    print(f"processor: {processor_name()}; torch {torch.__version__}, 1 thread")
    # (examples per class, picks per class) for 10 classes: per-step's
    # default subset of two batches of 32, of 128, and a 1% CREST subset.
    for per_class, quota in ((6, 3), (26, 13), (60, 30)):
        features = torch.from_numpy(rng.dirichlet(np.full(10, 0.3), size=10 * per_class)
                                    .astype(np.float32))
        groups = [np.arange(c * per_class, (c + 1) * per_class) for c in range(10)]
        sim, valid = fl._batched_small_ground_sets(features, groups, "euclidean")
        quotas = np.full(10, quota)
        as_torch = (torch.from_numpy(sim), torch.from_numpy(valid), torch.from_numpy(quotas))
        picked, counts, _ = fl.batched_naive_greedy(*as_torch)
        reference = numpy_batched_naive_greedy(sim, valid, quotas)
        assert all(np.array_equal(picked[g].numpy(), reference[g][0])
                   and np.array_equal(counts[g].numpy(), reference[g][1])
                   for g in range(10))
        numpy_ms = median_ms(lambda: numpy_batched_naive_greedy(sim, valid, quotas))
        torch_ms = median_ms(lambda: fl.batched_naive_greedy(*as_torch))
        print(f"10 classes x {per_class} examples, {quota} picks each: numpy "
              f"{numpy_ms:.2f} ms, torch {torch_ms:.2f} ms ({torch_ms / numpy_ms:.2f}x); "
              "same picks and weights")


if __name__ == "__main__":
    main()
