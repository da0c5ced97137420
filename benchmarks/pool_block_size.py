"""Block size of CRAIG's whole-pool facility location: time against objective.

One class the size of a Fashion-MNIST class (5,000 points, 500 picks), with
features shaped like the gradient proxies CRAIG selects on (softmax outputs
from a Dirichlet, minus a one-hot row), solved by the engine with kernel
blocks of several sizes. The objective of each selection is evaluated on the
whole class, so the blocks' loss shows. The schedule's
``_POOL_SELECTION_KERNEL_BYTES`` comes from this measurement.

    OMP_NUM_THREADS=1 python benchmarks/pool_block_size.py
"""

import time

import numpy as np
import torch

from sklearn_crest._coresets.facility_location import pairwise_similarity, select_in_ground_sets


def main(n=5000, picks=500, n_classes=10, repeats=3):
    rng = np.random.RandomState(0)
    proxies = rng.dirichlet(np.full(n_classes, 0.3), size=n).astype(np.float32)
    proxies[:, 0] -= 1.0
    kernel = pairwise_similarity(torch.from_numpy(proxies),
                                 torch.from_numpy(proxies)).numpy()
    results = {}
    for mib in (128, 64, 32, 16, 8):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            (indices, _, _), = select_in_ground_sets(
                proxies, [np.arange(n)], [picks], random_state=0,
                max_kernel_bytes=mib * 2**20)
            times.append(time.perf_counter() - start)
        results[mib] = (float(np.median(times)),
                        float(kernel[:, indices].max(axis=1).sum()))
    one_block = results[128][1]
    print(f"{n} points, {picks} picks; objective relative to one block (128 MiB)")
    for mib, (seconds, objective) in results.items():
        block = int((mib * 2**20 // 4) ** 0.5)
        print(f"{mib:>4} MiB blocks ({block:>5} points): {seconds:.2f} s, "
              f"objective {objective / one_block:.4%}")


if __name__ == "__main__":
    main()
