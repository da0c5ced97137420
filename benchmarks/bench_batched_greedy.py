"""The engine's batched greedy in torch (per-step's device path) against its
numpy twin (the host path), on the CPU, for the ground sets of per-step and
CREST coresets.

Run from the repository root::

    python benchmarks/bench_batched_greedy.py

The redesign ran the torch greedy on the host path too (RESULTS 1c); on the
CPU its per-call overhead costs more than numpy's on these tiny kernels, and
a CREST fit builds about 800 of them, so the host path went back to numpy.
This measures both side by side and checks that they choose the same rows,
weights and gains.
"""

import statistics
import time

import numpy as np
import torch

from crest_benchmark.provenance import processor_name
from sklearn_crest._coresets import facility_location as fl


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
        on_device = fl.batched_naive_greedy(*as_torch)
        on_host = fl.host_batched_naive_greedy(sim, valid, quotas)
        assert all(np.array_equal(a.numpy(), b) for a, b in zip(on_device, on_host))
        numpy_ms = median_ms(lambda: fl.host_batched_naive_greedy(sim, valid, quotas))
        torch_ms = median_ms(lambda: fl.batched_naive_greedy(*as_torch))
        print(f"10 classes x {per_class} examples, {quota} picks each: numpy "
              f"{numpy_ms:.2f} ms, torch {torch_ms:.2f} ms ({torch_ms / numpy_ms:.2f}x); "
              "same picks, weights and gains")


if __name__ == "__main__":
    main()
