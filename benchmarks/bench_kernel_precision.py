"""What the float64 similarity kernel costs, and what it fixes.

Run from the repository root::

    python benchmarks/bench_kernel_precision.py

The library computes facility location's kernel ``exp(-||a - b|| / d)`` in
float64 and rounds it once to float32 when it has at most 2**22 entries
(``_facility_location._kernel_dtype``), so that the same proxies give the
same coresets on every processor; larger kernels stay float32. This script
sets the library's kernel beside the float32 Gram-trick kernel, in one run,
interleaved, on one thread:

- the per-step shape (CREST, per_step): ten classes of 60 points, d = 10;
- CRAIG's shape: a whole ``select_coreset`` call on 60,000 points of d = 10
  with ten classes, budget 6,000 (the library's call, and the same call with
  the float32 kernel patched in): its kernels are above the limit, so the
  two should match; in float64 they cost 1.3x (measured before the limit);
- the error of each kernel against a float64 reference computed by direct
  differences (no Gram trick).

It prints the processor it ran on; the ratios are what to read.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from crest_benchmark.provenance import processor_name
from sklearn_crest._coresets import facility_location as fl


def float32_gram_kernel(A, B, metric="euclidean", n_features=None):
    """The kernel as it was: float32 throughout, through the Gram trick."""
    scale = float(n_features or A.shape[1] or 1)
    out = torch.addmm((B * B).sum(1)[None, :], A, B.T, beta=1.0, alpha=-2.0)
    out.add_((A * A).sum(1)[:, None]).clamp_(min=0.0).sqrt_()
    return out.mul_(-1.0 / scale).exp_()


def float32_padded(points, n_features, metric):
    squared = (points * points).sum(2)
    sim = torch.baddbmm(squared[:, None, :], points, points.transpose(1, 2),
                        beta=1.0, alpha=-2.0)
    sim.add_(squared[:, :, None]).clamp_(min=0.0).sqrt_()
    sim.mul_(-1.0 / max(n_features, 1)).exp_()
    sim.diagonal(dim1=1, dim2=2).fill_(1.0)
    return sim


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def proxies(n, n_classes, rng):
    labels = rng.integers(0, n_classes, n)
    probabilities = rng.dirichlet(np.full(n_classes, 0.3), n)
    return (probabilities - np.eye(n_classes)[labels]).astype(np.float32), labels


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"processor: {processor_name()}; torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}; one thread")

    # Per-step shape: ten padded ground sets of 60 proxies.
    features, _ = proxies(600, 10, rng)
    points = torch.from_numpy(features).reshape(10, 60, 10)
    pairs = [(median_time(lambda: float32_padded(points, 10, "euclidean"), 50),
              median_time(lambda: fl.padded_similarity(points, 10, "euclidean"), 50))
             for _ in range(5)]
    old, new = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    print(f"per-step kernel (10 x 60 x 60): float32 {old * 1e3:.3f} ms, "
          f"library {new * 1e3:.3f} ms ({new / old:.2f}x; "
          f"+{(new - old) * 1e3:.3f} ms per selection)")

    # Error against a reference without the Gram trick's cancellation.
    exact = torch.exp(-torch.cdist(points.double(), points.double(),
                                   compute_mode="donot_use_mm_for_euclid_dist") / 10)
    exact.diagonal(dim1=1, dim2=2).fill_(1.0)
    for name, kernel in (("float32", float32_padded(points, 10, "euclidean")),
                         ("library", fl.padded_similarity(points, 10, "euclidean"))):
        print(f"  {name} kernel: max abs error {(kernel.double() - exact).abs().max():.2e}")

    # CRAIG's shape: a whole select_coreset call.
    features, labels = proxies(60_000, 10, rng)
    library_kernel = fl.pairwise_similarity
    times = {"float32": [], "library": []}
    for _ in range(3):
        for name, kernel in (("float32", float32_gram_kernel),
                             ("library", library_kernel)):
            fl.pairwise_similarity = kernel
            try:
                times[name].append(median_time(
                    lambda: fl.select_coreset(features, 6_000, labels=labels), 1))
            finally:
                fl.pairwise_similarity = library_kernel
    old, new = (statistics.median(times[k]) for k in ("float32", "library"))
    print(f"select_coreset, 60,000 x 10 -> 6,000 (CRAIG's per-epoch call): "
          f"float32 kernel {old:.2f} s, library {new:.2f} s ({new / old:.2f}x)")


if __name__ == "__main__":
    main()
