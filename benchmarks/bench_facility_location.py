"""Facility-location speed, memory and objective: sklearn-crest against apricot.

Run from the repository root::

    python benchmarks/bench_facility_location.py           # full run, minutes
    python benchmarks/bench_facility_location.py --quick   # smoke test, ~1 min

Three cases, all measured in one run so that the ratios are side by side on the
same (shared, noisy) machine:

(a) 1,000 x 10 random Gaussian points -> 128. Target: our ``select_coreset`` under
    20 ms per call (median of repeats).
(b) 10,000 x 64 Fashion-MNIST (PCA) -> 1,000 with a dense kernel. Target: at least
    20x faster than apricot given the same precomputed kernel, with an objective
    no lower. Two rows for us: the greedy alone on that kernel, and the whole call
    from features (kernel included).
(c) 60,000 x 64 Fashion-MNIST (PCA) -> 6,000, no labels. Target: under 10 s with a
    peak resident memory under 3 GB. apricot's dense path would need a 28.8 GB
    (26.8 GiB) float64 kernel, so apricot runs on a precomputed k-NN graph, as a
    reference only.

Every row runs in a fresh ``spawn`` subprocess, so that its peak memory is its
own. The subprocess imports what the method needs, loads its inputs, records a
baseline, calls the method once to warm up (reported as "1st call"; apricot
compiles numba code there) and then times more calls with ``time.perf_counter``;
the table shows their median.

The objective of every selection is computed afterwards by one evaluator,
``F(S) = sum_i max_{j in S} exp(-||x_i - x_j|| / d)`` in float64, so all methods
are scored on the same exact kernel, whatever they optimised internally.

Fashion-MNIST is read by ``sklearn_crest.datasets.fetch_fashion_mnist`` with
downloads disabled: from ``--data-dir`` (else ``$SKLEARN_CREST_DATA`` or
``~/sklearn_crest_data``), then from Debian's ``/usr/share/datasets/fashion-mnist``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import math
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HOW_TO_GET_DATA = (
    "Get Fashion-MNIST from Debian's package:\n"
    "    apt-get update && apt-get install -y dataset-fashion-mnist\n"
    "(the files land in /usr/share/datasets/fashion-mnist/), or without root:\n"
    "    apt-get download dataset-fashion-mnist\n"
    "    dpkg -x dataset-fashion-mnist_*.deb DIR\n"
    "and pass --data-dir DIR/usr/share/datasets/fashion-mnist (or set "
    "SKLEARN_CREST_DATA to that folder)."
)

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = REPO_ROOT / "benchmarks" / "output"
ENGINE_FILE = "sklearn_crest/_coresets/facility_location.py"

# The float64 (n, n) matrix apricot's dense path allocates for case (c): a
# bound computed here, not a measurement.
APRICOT_DENSE_BYTES_60K = 60_000**2 * 8

# The objective comparison allows this relative slack: both greedies optimise
# the same float32 kernel, whose entries are only that precise, so a smaller
# difference is rounding, not a worse selection. The raw difference is printed.
OBJECTIVE_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes and repeat counts of one benchmark run."""

    a_n: int = 1_000
    a_d: int = 10
    a_k: int = 128
    b_n: int = 10_000
    b_k: int = 1_000
    c_n: int = 60_000
    c_k: int = 6_000
    pca_dim: int = 64
    knn: int = 100
    repeats_a_ours: int = 21
    repeats_a_apricot: int = 5
    repeats_b: int = 3
    repeats_c: int = 2
    targets_apply: bool = True


FULL = Sizes()
# The same code paths at a tenth of the size. The targets are for the full
# sizes only, so a quick run does not judge them.
QUICK = Sizes(b_n=2_000, b_k=200, c_n=6_000, c_k=600, knn=20, repeats_a_ours=5,
              repeats_a_apricot=1, repeats_b=1, repeats_c=1, targets_apply=False)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def fashion_pca_features(data_dir, n_components, seed):
    """PCA of the 60,000 training images scaled to [0, 1], float32 (60000, d).

    Uses the library's loader with downloads disabled: a benchmark must not
    reach the network, and an absent copy should say how to get one.
    """
    from sklearn.decomposition import PCA

    from sklearn_crest.datasets import fetch_fashion_mnist

    try:
        images, _ = fetch_fashion_mnist(data_dir, subset="train", return_X_y=True,
                                        download_if_missing=False)
    except OSError as exc:
        sys.exit(f"error: {exc}\n\n{HOW_TO_GET_DATA}")
    pca = PCA(n_components=n_components, random_state=seed)
    return np.ascontiguousarray(pca.fit_transform(images), dtype=np.float32)


# --------------------------------------------------------------------------
# Measurement (inside the subprocesses)
# --------------------------------------------------------------------------

def peak_rss_bytes():
    """Peak resident set size of this process so far, in bytes.

    Reads ``VmHWM`` from /proc/self/status. ``ru_maxrss`` is not usable in a
    spawned child on Linux: execve folds the parent's high-water mark into the
    child's ``ru_maxrss``, so a child of a 2 GB parent starts at 2 GB. ``VmHWM``
    belongs to the child's own address space, which starts fresh at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Not Linux: ru_maxrss is in bytes on macOS, in KiB elsewhere.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def time_calls(call, repeats):
    """Call once to warm up, then ``repeats`` times.

    Returns
    -------
    result, cold_seconds, warm_seconds (list)
    """
    start = time.perf_counter()
    result = call()
    cold = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return result, cold, times


def load_csr_matrix(path):
    """A scipy ``csr_matrix`` with int32 indices, as apricot's numba kernels need."""
    import scipy.sparse

    parts = np.load(path)
    graph = scipy.sparse.csr_matrix(
        (parts["data"], parts["indices"], parts["indptr"]),
        shape=tuple(parts["shape"]))
    # apricot compiles its sparse gain kernel for int32 CSR arrays only; scipy
    # and scikit-learn may hand out int64, which numba then refuses.
    graph.indices = graph.indices.astype(np.int32)
    graph.indptr = graph.indptr.astype(np.int32)
    return graph


def run_method(spec):
    """Measure one method on one case; runs in a fresh subprocess.

    Parameters
    ----------
    spec : dict
        ``method`` is one of ``ours_select``, ``ours_greedy``, ``ours_kernel``,
        ``apricot_dense``, ``apricot_knn``; ``input`` the path of its input
        (features, float32 kernel, float64 kernel or k-NN graph); ``budget``,
        ``repeats``, ``torch_threads`` (None keeps torch's default) and, for
        ``ours_select``, ``seed`` and ``max_kernel_bytes``.

    Returns
    -------
    dict
        Selected indices (greedy order; None for the kernel-only row), warm
        timings and their median, the first-call time, the baseline and peak
        resident memory in bytes, and the thread count.
    """
    method = spec["method"]
    budget = spec["budget"]
    info = {}
    # Imports come before the baseline: it is "after imports and inputs", so
    # the increment is what the calls themselves allocate.
    if method.startswith("ours"):
        import torch

        from sklearn_crest._coresets.facility_location import (
            _self_similarity,
            greedy_facility_location,
            select_coreset,
        )

        if spec.get("torch_threads"):
            torch.set_num_threads(spec["torch_threads"])
        info["threads"] = torch.get_num_threads()
    else:
        import numba
        from apricot import FacilityLocationSelection

        info["threads"] = numba.get_num_threads()

    if method == "ours_select":
        features = np.load(spec["input"])

        def call():
            return select_coreset(features, budget, random_state=spec["seed"],
                                  max_kernel_bytes=spec["max_kernel_bytes"]).indices
    elif method == "ours_kernel":
        features = torch.from_numpy(np.load(spec["input"]))

        def call():
            _self_similarity(features, "euclidean", features.shape[1])
    elif method == "ours_greedy":
        kernel = np.load(spec["input"])

        def call():
            return greedy_facility_location(kernel, budget, optimizer="lazy")[0]
    elif method in ("apricot_dense", "apricot_knn"):
        kernel = (np.load(spec["input"]) if method == "apricot_dense"
                  else load_csr_matrix(spec["input"]))

        def call():
            selector = FacilityLocationSelection(budget, metric="precomputed",
                                                 optimizer="lazy")
            return np.asarray(selector.fit(kernel).ranking, dtype=np.int64)
    else:
        raise ValueError(f"unknown method {method!r}")

    baseline = peak_rss_bytes()
    selected, cold, times = time_calls(call, spec["repeats"])
    peak = peak_rss_bytes()

    if spec.get("measure_fixed_cost"):
        # apricot builds and numba-compiles its gain function inside every
        # fit(); on a 16-point kernel that is nearly all of the time.
        tiny = np.ascontiguousarray(kernel[:16, :16])
        _, _, tiny_times = time_calls(
            lambda: FacilityLocationSelection(4, metric="precomputed",
                                              optimizer="lazy").fit(tiny), 3)
        info["fixed_cost_s"] = statistics.median(tiny_times)

    return dict(info, selected=None if selected is None else selected.tolist(),
                cold_s=cold, times_s=times, time_s=statistics.median(times),
                baseline_rss=baseline, peak_rss=peak)


def run_profile(spec):
    """Where our time goes; runs in a fresh subprocess.

    Parameters
    ----------
    spec : dict
        ``kernel32``, ``kernel64`` and ``features`` paths of case (b), its
        ``budget``, ``repeats`` and ``torch_threads``; ``features_c`` and
        ``selected_c`` (our selection) of case (c).

    Returns
    -------
    dict
        For case (b): the kernel construction time and its matrix-product
        part, the greedy time and its initial full-matrix gain pass, how many
        gain evaluations one greedy of ours and of apricot makes, and
        cProfile's top entries for one greedy of ours. For case (c): the time
        of the final nearest-selected-element pass over all points.
    """
    import cProfile
    import io
    import pstats

    import torch
    from apricot import FacilityLocationSelection

    import sklearn_crest._coresets.facility_location as fl

    if spec.get("torch_threads"):
        torch.set_num_threads(spec["torch_threads"])
    features = torch.from_numpy(np.load(spec["features"]))
    n, d = features.shape
    budget, repeats = spec["budget"], spec["repeats"]
    kernel = np.load(spec["kernel32"])
    out = {"n": n, "budget": budget}

    _, _, times = time_calls(lambda: fl._self_similarity(features, "euclidean", d),
                             repeats)
    out["kernel_s"] = statistics.median(times)
    # The kernel's one matrix product, as pairwise_similarity calls it.
    squared = (features * features).sum(1)
    _, _, times = time_calls(
        lambda: torch.addmm(squared[None, :], features, features.T, beta=1.0,
                            alpha=-2.0), repeats)
    out["kernel_matmul_s"] = statistics.median(times)
    _, _, times = time_calls(
        lambda: fl.greedy_facility_location(kernel, budget, optimizer="lazy"),
        repeats)
    out["greedy_s"] = statistics.median(times)
    # The lazy greedy starts with every candidate's gain on the empty selection:
    # one pass over all n^2 kernel entries.
    zeros = np.zeros(n, dtype=kernel.dtype)
    _, _, times = time_calls(lambda: fl._gains(kernel, slice(None), zeros), repeats)
    out["initial_gains_s"] = statistics.median(times)

    # Count gain evaluations by wrapping the function each greedy looks up at
    # call time (in this process only; neither library is modified).
    counts = {"calls": 0, "rows": 0}
    original = fl._gains

    def counting_gains(similarity, rows, covered):
        counts["calls"] += 1
        counts["rows"] += similarity.shape[0] if isinstance(rows, slice) else len(rows)
        return original(similarity, rows, covered)

    fl._gains = counting_gains
    try:
        fl.greedy_facility_location(kernel, budget, optimizer="lazy")
    finally:
        fl._gains = original
    out["gain_calls"], out["gain_rows"] = counts["calls"], counts["rows"]

    kernel64 = np.load(spec["kernel64"])
    apricot_counts = {"calls": 0, "rows": 0}
    apricot_gains = FacilityLocationSelection._calculate_gains

    def counting_apricot_gains(self, X_pairwise, idxs=None):
        apricot_counts["calls"] += 1
        apricot_counts["rows"] += len(self.idxs if idxs is None else idxs)
        return apricot_gains(self, X_pairwise, idxs)

    FacilityLocationSelection._calculate_gains = counting_apricot_gains
    try:
        FacilityLocationSelection(budget, metric="precomputed",
                                  optimizer="lazy").fit(kernel64)
    finally:
        FacilityLocationSelection._calculate_gains = apricot_gains
    out["apricot_gain_calls"] = apricot_counts["calls"]
    out["apricot_gain_rows"] = apricot_counts["rows"]
    del kernel64

    profiler = cProfile.Profile()
    profiler.enable()
    fl.greedy_facility_location(kernel, budget, optimizer="lazy")
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(8)
    out["cprofile"] = text.getvalue().strip()
    kernel = None  # free it before case (c)'s inputs

    # Case (c): after the per-block greedies, select_coreset assigns every
    # point to its most similar selected element, an (n, k) similarity pass.
    features_c = torch.from_numpy(np.load(spec["features_c"]))
    selected_c = np.asarray(spec["selected_c"], dtype=np.int64)
    _, _, times = time_calls(
        lambda: fl.assign_to_selection(features_c, selected_c, "euclidean",
                                       features_c.shape[1]), 1)
    out["c_assign_s"] = statistics.median(times)
    out["c_n"], out["c_k"] = features_c.shape[0], len(selected_c)
    return out


def in_fresh_process(func, *args):
    """Call ``func(*args)`` in a new ``spawn`` interpreter and return its result."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1,
                                                mp_context=context) as pool:
        return pool.submit(func, *args).result()


# --------------------------------------------------------------------------
# Inputs and objective (parent process)
# --------------------------------------------------------------------------

def facility_location_objective(features, selected, chunk_rows=2048):
    """``sum_i max_{j in S} exp(-||x_i - x_j|| / d)``, exactly, in float64.

    The kernel decreases with the distance, so only each row's nearest selected
    point matters; rows are processed in chunks to bound memory.
    """
    points = np.asarray(features, dtype=np.float64)
    selected = np.asarray(selected)
    centers = points[selected]
    center_sq = (centers * centers).sum(1)
    nearest_sq = np.empty(points.shape[0])
    for start in range(0, points.shape[0], chunk_rows):
        block = points[start:start + chunk_rows]
        squared = ((block * block).sum(1)[:, None] + center_sq[None, :]
                   - 2.0 * block @ centers.T)
        nearest_sq[start:start + chunk_rows] = squared.min(axis=1)
    coverage = np.exp(-np.sqrt(np.maximum(nearest_sq, 0.0)) / points.shape[1])
    # A selected point covers itself exactly; the Gram trick leaves ~1e-8.
    coverage[selected] = 1.0
    return float(coverage.sum())


def knn_similarity_graph(features, k):
    """k-NN graph (self included) holding our kernel ``exp(-dist / d)``."""
    from sklearn.neighbors import NearestNeighbors

    graph = NearestNeighbors(n_neighbors=k).fit(features).kneighbors_graph(
        features, mode="distance")
    data = np.exp(-graph.data.astype(np.float64) / features.shape[1])
    return {"data": data, "indices": graph.indices.astype(np.int32),
            "indptr": graph.indptr.astype(np.int32), "shape": np.array(graph.shape)}


def write_dense_kernels(features, directory, name):
    """Save our float32 kernel, and its float64 copy for apricot, as .npy files."""
    import torch

    from sklearn_crest._coresets.facility_location import _self_similarity

    kernel = _self_similarity(torch.from_numpy(features), "euclidean",
                              features.shape[1])
    path32 = directory / f"{name}_kernel32.npy"
    path64 = directory / f"{name}_kernel64.npy"
    np.save(path32, kernel)
    # apricot casts anything that is not float64; converting here keeps that
    # copy out of its measured time and memory.
    np.save(path64, kernel.astype(np.float64))
    return path32, path64


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt_time(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1.0 else f"{seconds:.2f} s"


def fmt_bytes(count):
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def load_average():
    """The 1, 5 and 15 minute load averages, rounded, or None where unknown."""
    if not hasattr(os, "getloadavg"):
        return None
    return tuple(round(value, 2) for value in os.getloadavg())


def engine_version():
    """Commit, local changes and hash of the engine file, since it evolves."""
    info = {"file": ENGINE_FILE}
    try:
        info["sha256"] = hashlib.sha256(
            (REPO_ROOT / ENGINE_FILE).read_bytes()).hexdigest()[:12]
    except OSError:
        return info
    for key, command in (("commit", ["git", "rev-parse", "--short", "HEAD"]),
                         ("status", ["git", "status", "--porcelain", ENGINE_FILE])):
        try:
            info[key] = subprocess.run(command, cwd=REPO_ROOT, capture_output=True,
                                       text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info[key] = "?"
    info["modified"] = bool(info.get("status"))
    return info


def machine_description():
    """CPU, cores and library versions, for the report header."""
    import apricot
    import numba
    import sklearn
    import torch

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count())
    return {
        "cpu": model, "cores": cores, "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(), "platform": platform.platform(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__,
                     "apricot-select": getattr(apricot, "__version__", "?"),
                     "numba": numba.__version__},
    }


def judge(entry, reference, sizes):
    """Ratio to apricot, target and verdict of one row."""
    ratio = None
    if (entry["method"].startswith("ours") and reference is not None
            and entry.get("selected") is not None):
        ratio = reference["time_s"] / entry["time_s"]
    target, verdict = "-", "-"
    if entry is reference:
        target = "reference"
    elif entry["case"] == "a" and entry["method"] == "ours_select":
        target = "< 20 ms"
        verdict = ("yes" if entry["time_s"] < 0.020
                   else f"no ({fmt_time(entry['time_s'])})")
    elif entry["case"] == "b" and entry["method"] in ("ours_greedy", "ours_select"):
        target = ">= 20x apricot, F >= apricot"
        misses = []
        if ratio < 20:
            misses.append(f"{ratio:.1f}x < 20x")
        if entry["objective_vs_apricot"] < -OBJECTIVE_RTOL:
            misses.append(f"F lower by {-entry['objective_vs_apricot']:.1e}")
        verdict = "yes" if not misses else "no: " + "; ".join(misses)
    elif entry["case"] == "c" and entry["method"] == "ours_select":
        target = "< 10 s, peak < 3 GB"
        misses = []
        if entry["time_s"] >= 10.0:
            misses.append(fmt_time(entry["time_s"]))
        if entry["peak_rss"] >= 3e9:
            misses.append(f"peak {fmt_bytes(entry['peak_rss'])}")
        verdict = "yes" if not misses else "no: " + "; ".join(misses)
    if verdict != "-" and not sizes.targets_apply:
        verdict = "n/a (--quick)"
    return ratio, target, verdict


def markdown_report(rows, meta, profile):
    """The results table, its notes and the case (b) profile, as markdown."""
    machine, engine = meta["machine"], meta["engine"]
    lines = [
        "# Facility location: sklearn-crest vs apricot",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['date']}; total wall time {meta['wall_s']:.0f} s",
        (f"- machine: {machine['cpu']}, {machine['cores']} cores; torch threads "
         f"{machine['torch_threads']} (our rows), numba threads "
         f"{machine['numba_threads']}; load average (1/5/15 min) "
         f"{meta['load_avg_at_start']} at start, {meta['load_avg_at_end']} at end"),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()),
        (f"- engine: {engine['file']} at commit {engine.get('commit', '?')}"
         f"{' with local changes' if engine.get('modified') else ''} "
         f"(sha256 {engine.get('sha256', '?')})"),
        "",
        ("| case | method | time (median) | 1st call | peak RSS (+ over baseline) "
         "| objective F(S) | ratio vs apricot | target | met |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = (f"{fmt_bytes(row['peak_rss'])} "
                f"(+{fmt_bytes(row['peak_rss'] - row['baseline_rss'])})")
        objective = "-" if row.get("objective") is None else f"{row['objective']:.2f}"
        if row.get("objective_vs_apricot") is not None:
            objective += f" ({row['objective_vs_apricot']:+.1e} rel.)"
        if row["ratio"] is not None:
            ratio = f"{row['ratio']:.2f}x"
        else:
            ratio = "1 (ref.)" if row["target"] == "reference" else "-"
        time_cell = f"{fmt_time(row['time_s'])} (n={len(row['times_s'])})"
        lines.append(
            f"| {row['case_label']} | {row['label']} | {time_cell} "
            f"| {fmt_time(row['cold_s'])} | {peak} | {objective} | {ratio} "
            f"| {row['target']} | {row['met']} |")
    lines += ["", "Notes:", ""]
    lines += [f"- {note}" for note in meta["notes"]]
    if profile:
        p = profile
        lines += [
            "",
            "## Where our time goes",
            "",
            (f"Measured in one more subprocess (medians). Case (b), {p['n']:,} "
             f"points, budget {p['budget']:,}:"),
            "",
            (f"- kernel construction `_self_similarity`: {fmt_time(p['kernel_s'])}, "
             f"of which the float32 matrix product {fmt_time(p['kernel_matmul_s'])}; "
             "the rest is the elementwise passes (sqrt, exp, ...) over n^2 entries"),
            (f"- lazy greedy `greedy_facility_location`: {fmt_time(p['greedy_s'])}, "
             f"of which the initial gain pass over all n^2 entries "
             f"{fmt_time(p['initial_gains_s'])}"),
            (f"- gain evaluations in one greedy: {p['gain_calls']:,} calls of "
             f"`_gains` over {p['gain_rows']:,} kernel rows "
             f"({p['gain_rows'] / p['n']:.1f} full-matrix equivalents; "
             f"{p['gain_calls'] / p['budget']:.1f} calls per selected element); "
             f"apricot's lazy greedy: {p['apricot_gain_calls']:,} calls over "
             f"{p['apricot_gain_rows']:,} rows"),
            (f"- case (c): the final assignment of all {p['c_n']:,} points to the "
             f"nearest of the {p['c_k']:,} selected (`assign_to_selection`) takes "
             f"{fmt_time(p['c_assign_s'])}; the rest of (c) is one kernel and one "
             "greedy per block"),
            "",
            "cProfile of one greedy (top entries by own time):",
            "",
            "```",
            p["cprofile"],
            "```",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def log(message):
    """Progress on stderr, so that stdout carries only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=HOW_TO_GET_DATA,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the sizes and single repeats: a smoke test "
                             "(targets are not judged)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the four Fashion-MNIST .gz files "
                             "(default: $SKLEARN_CREST_DATA or ~/sklearn_crest_data;"
                             " /usr/share/datasets/fashion-mnist is looked at "
                             "after it)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown output; a .json with every measurement is "
                             "written next to it (default: benchmarks/output/"
                             "fl_results[_quick].md)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the synthetic data, the PCA, the permutation "
                             "and select_coreset")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads in our rows (default: torch's "
                             "own, the number of cores)")
    parser.add_argument("--no-knn", action="store_true",
                        help="skip the apricot k-NN reference in case (c)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the profile of where our time goes")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out_md = args.out or OUTPUT_DIR / ("fl_results_quick.md" if args.quick
                                       else "fl_results.md")
    try:
        import apricot  # noqa: F401
    except ImportError:
        sys.exit("error: apricot is not installed: pip install apricot-select "
                 "(or pip install -e '.[benchmark]').")
    started = time.perf_counter()
    load_at_start = load_average()
    command = " ".join(shlex.quote(a) for a in [
        "python", "benchmarks/bench_facility_location.py",
        *(sys.argv[1:] if argv is None else argv)])
    notes = []
    features = {}

    with tempfile.TemporaryDirectory(prefix="bench_fl_") as tmp:
        tmp = Path(tmp)

        # ---- inputs --------------------------------------------------------
        log(f"loading Fashion-MNIST and fitting PCA-{sizes.pca_dim}")
        t0 = time.perf_counter()
        fashion = fashion_pca_features(args.data_dir, sizes.pca_dim, args.seed)
        notes.append(f"Fashion-MNIST: the 60,000 training images scaled to [0, 1], "
                     f"PCA to {sizes.pca_dim} dims, fitted on all 60,000 "
                     f"({time.perf_counter() - t0:.1f} s, in no row). (b) takes the "
                     f"first {sizes.b_n:,} rows of a seeded permutation, (c) the "
                     f"first {sizes.c_n:,} rows.")
        rng = np.random.RandomState(args.seed)
        features["a"] = rng.standard_normal((sizes.a_n, sizes.a_d)).astype(np.float32)
        permutation = np.random.RandomState(args.seed).permutation(len(fashion))
        features["b"] = np.ascontiguousarray(fashion[permutation[:sizes.b_n]])
        features["c"] = np.ascontiguousarray(fashion[:sizes.c_n])
        del fashion
        paths = {}
        for case in "abc":
            paths[case] = tmp / f"{case}_features.npy"
            np.save(paths[case], features[case])
        log("building the dense kernels of (a) and (b)")
        kernel_a32, kernel_a64 = write_dense_kernels(features["a"], tmp, "a")
        kernel_b32, kernel_b64 = write_dense_kernels(features["b"], tmp, "b")
        knn_path = None
        if not args.no_knn:
            log(f"building the {sizes.knn}-NN graph of (c)")
            t0 = time.perf_counter()
            graph = knn_similarity_graph(features["c"], sizes.knn)
            knn_build_s = time.perf_counter() - t0
            knn_path = tmp / "c_knn.npz"
            np.savez(knn_path, **graph)
            del graph

        # ---- measurements --------------------------------------------------
        from sklearn_crest._coresets.facility_location import DEFAULT_MAX_KERNEL_BYTES
        default_block = DEFAULT_MAX_KERNEL_BYTES
        # (b) is the dense case: one block of 10,000 points (400 MB float32).
        dense_block = 512 * 2**20
        # In --quick, shrink the block limit with n^2 so that case (c) still
        # takes the partitioned path, with the same number of blocks.
        block_c = int(default_block * (sizes.c_n / FULL.c_n) ** 2)
        one_thread = "ours: select_coreset, 1 torch thread"
        plan = [
            # (row id, case, method, label, spec)
            ("a_select", "a", "ours_select", "ours: select_coreset (from features)",
             {"input": paths["a"], "budget": sizes.a_k,
              "repeats": sizes.repeats_a_ours, "max_kernel_bytes": default_block}),
            # Small kernels are where torch's thread pool costs more than it
            # saves, most of all on a busy machine: the same call, 1 thread.
            ("a_select_1t", "a", "ours_select", one_thread,
             {"input": paths["a"], "budget": sizes.a_k,
              "repeats": sizes.repeats_a_ours, "max_kernel_bytes": default_block,
              "torch_threads": 1}),
            ("a_greedy", "a", "ours_greedy", "ours: greedy on precomputed kernel",
             {"input": kernel_a32, "budget": sizes.a_k,
              "repeats": sizes.repeats_a_ours}),
            ("a_apricot", "a", "apricot_dense", "apricot: precomputed dense kernel",
             {"input": kernel_a64, "budget": sizes.a_k,
              "repeats": sizes.repeats_a_apricot, "measure_fixed_cost": True}),
            ("b_greedy", "b", "ours_greedy", "ours: greedy on precomputed kernel",
             {"input": kernel_b32, "budget": sizes.b_k, "repeats": sizes.repeats_b}),
            ("b_select", "b", "ours_select",
             "ours: select_coreset (from features, kernel incl.)",
             {"input": paths["b"], "budget": sizes.b_k, "repeats": sizes.repeats_b,
              "max_kernel_bytes": dense_block}),
            ("b_kernel", "b", "ours_kernel", "ours: kernel construction only",
             {"input": paths["b"], "budget": sizes.b_k, "repeats": sizes.repeats_b}),
            ("b_apricot", "b", "apricot_dense", "apricot: precomputed dense kernel",
             {"input": kernel_b64, "budget": sizes.b_k, "repeats": sizes.repeats_b}),
            ("c_select", "c", "ours_select", "ours: select_coreset (from features)",
             {"input": paths["c"], "budget": sizes.c_k, "repeats": sizes.repeats_c,
              "max_kernel_bytes": block_c}),
        ]
        if knn_path is not None:
            plan.append(
                ("c_apricot", "c", "apricot_knn",
                 f"apricot: precomputed {sizes.knn}-NN graph (reference)",
                 {"input": knn_path, "budget": sizes.c_k,
                  "repeats": sizes.repeats_c}))
        case_labels = {
            "a": f"(a) {sizes.a_n:,} x {sizes.a_d} -> {sizes.a_k}",
            "b": f"(b) {sizes.b_n:,} x {sizes.pca_dim} -> {sizes.b_k:,}",
            "c": f"(c) {sizes.c_n:,} x {sizes.pca_dim} -> {sizes.c_k:,}",
        }
        rows = {}
        for row_id, case, method, label, spec in plan:
            log(f"case ({case}) {label}")
            spec = {"method": method, "seed": args.seed,
                    "torch_threads": args.torch_threads, **spec,
                    "input": str(spec["input"])}
            # Other work on the machine shows up in the load average before
            # the row, which explains outliers.
            load_before = load_average()
            entry = in_fresh_process(run_method, spec)
            entry.update(row_id=row_id, case=case, case_label=case_labels[case],
                         method=method, label=label, load_avg=load_before)
            rows[row_id] = entry

        profile = None
        if not args.no_profile:
            log("profiling where our time goes")
            profile = in_fresh_process(run_profile, {
                "kernel32": str(kernel_b32), "kernel64": str(kernel_b64),
                "features": str(paths["b"]), "budget": sizes.b_k,
                "repeats": sizes.repeats_b, "torch_threads": args.torch_threads,
                "features_c": str(paths["c"]),
                "selected_c": rows["c_select"]["selected"]})

    # ---- objectives --------------------------------------------------------
    log("evaluating objectives")
    references = {"a": rows["a_apricot"], "b": rows["b_apricot"],
                  "c": rows.get("c_apricot")}
    for entry in rows.values():
        if entry["selected"] is not None:
            entry["objective"] = facility_location_objective(features[entry["case"]],
                                                             entry["selected"])
    for entry in rows.values():
        reference = references[entry["case"]]
        if (reference is not None and entry is not reference
                and entry.get("objective") is not None):
            entry["objective_vs_apricot"] = (
                (entry["objective"] - reference["objective"]) / reference["objective"])
            entry["overlap_with_apricot"] = len(set(entry["selected"])
                                                & set(reference["selected"]))
    # Context for the objective values: a uniformly random subset of each size.
    random_objective = {}
    for case, budget in (("b", sizes.b_k), ("c", sizes.c_k)):
        chosen = np.random.RandomState(args.seed).choice(len(features[case]), budget,
                                                         replace=False)
        random_objective[case] = facility_location_objective(features[case], chosen)
    for entry in rows.values():
        entry["ratio"], entry["target"], entry["met"] = judge(
            entry, references[entry["case"]], sizes)

    # ---- notes -------------------------------------------------------------
    notes += [
        ("time: median of the warm calls (n = their number) after one warm-up "
         "call, which is the '1st call' column. Each row runs in its own fresh "
         "spawn subprocess; rows run one after another."),
        ("peak RSS: VmHWM of that subprocess (interpreter, imports, inputs and "
         "calls). '+' is the increase over the baseline taken after imports and "
         "input loading: what the calls themselves allocated. Inputs: the features "
         "for select_coreset and the kernel row, our float32 kernel for our greedy, "
         "its float64 copy for apricot's dense rows (apricot casts to float64 "
         "itself otherwise), the CSR graph for apricot k-NN. Our rows import torch, "
         "apricot's import numba."),
        ("objective: F(S) = sum_i max_{j in S} exp(-||x_i - x_j|| / d), evaluated "
         "in float64 on the exact kernel for every row; '(rel.)' is the relative "
         "difference to apricot's selection. 'F >= apricot' allows a relative "
         f"{OBJECTIVE_RTOL:g} (float32 kernel resolution)."),
        "ratio vs apricot: apricot's median time / ours (above 1: ours is faster).",
        (f"apricot's fixed cost per fit(), measured on a 16-point kernel: "
         f"{fmt_time(rows['a_apricot']['fixed_cost_s'])}. apricot builds and "
         "numba-compiles its gain function (eager signature, no cache) inside "
         "every fit(), so warm calls pay it too."),
    ]
    same = rows["b_select"]["selected"] == rows["b_greedy"]["selected"]
    notes.append(
        f"(b) select_coreset and the greedy on the precomputed kernel return "
        f"{'the same' if same else 'different'} selections ({sizes.b_n:,} points "
        "fit one 512 MiB kernel block, which this case passes explicitly).")
    for case in "ab":
        entry = rows[f"{case}_greedy"]
        notes.append(
            f"({case}) our greedy and apricot share {entry['overlap_with_apricot']:,} "
            f"of {len(entry['selected']):,} selected points.")
    notes.append(f"(b) objective of a uniformly random subset of {sizes.b_k:,}: "
                 f"{random_objective['b']:.2f}.")
    # The library's own rule for the number of blocks of a large ground set.
    n_blocks = math.ceil(sizes.c_n / max(1, math.isqrt(block_c // 4)))
    notes.append(
        f"(c) with max_kernel_bytes={block_c:,}, select_coreset partitions the "
        f"{sizes.c_n:,} points into {n_blocks} blocks and runs the greedy in each; "
        f"objective of a uniformly random subset of {sizes.c_k:,}: "
        f"{random_objective['c']:.2f}.")
    notes.append(
        f"(c) apricot's dense path is not run: its float64 (60000, 60000) matrix "
        f"needs {fmt_bytes(APRICOT_DENSE_BYTES_60K)} "
        f"({APRICOT_DENSE_BYTES_60K / 2**30:.1f} GiB).")
    if knn_path is not None:
        knn, ours_c = rows["c_apricot"], rows["c_select"]
        notes.append(
            f"(c) apricot k-NN reference: the {sizes.knn}-NN graph (scikit-learn "
            "NearestNeighbors, self included, values exp(-dist/d), int32 CSR) took "
            f"{knn_build_s:.1f} s to build in the parent and is not in its time; "
            f"with it, apricot takes {fmt_time(knn['time_s'] + knn_build_s)} and "
            f"the ratio is {(knn['time_s'] + knn_build_s) / ours_c['time_s']:.2f}x. "
            "It optimises a sparsified kernel, so it is a reference, not a "
            "like-for-like match.")

    machine = machine_description()
    # The thread count our default rows actually ran with.
    machine["torch_threads"] = rows["a_select"]["threads"]
    meta = {
        "command": command,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - started, "machine": machine,
        "engine": engine_version(), "sizes": dataclasses.asdict(sizes),
        "seed": args.seed, "notes": notes,
        "random_subset_objective": random_objective,
        "load_avg_at_start": load_at_start, "load_avg_at_end": load_average(),
    }
    table_rows = [rows[row_id] for row_id, *_ in plan]
    report = markdown_report(table_rows, meta, profile)
    print(report)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(report)
    out_json = out_md.with_suffix(".json")
    for row in table_rows:
        # The indices are large and reproducible from the seed.
        row.pop("selected", None)
    out_json.write_text(json.dumps({"meta": meta, "rows": table_rows,
                                    "profile": profile}, indent=2, default=str))
    log(f"wrote {out_md} and {out_json}")


if __name__ == "__main__":
    main()
