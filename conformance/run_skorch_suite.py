"""Run skorch's own classifier and net tests against CrestClassifier.

CrestClassifier is a skorch ``NeuralNetClassifier``; this script keeps its
departures from skorch's behaviour visible. It fetches the sdist of the
*installed* skorch version with pip (cached under ``conformance/.cache/``),
unpacks it to a temporary directory and runs skorch's
``skorch/tests/test_classifier.py`` and ``skorch/tests/test_net.py`` once per
selection mode, with ``skorch.NeuralNetClassifier`` replaced by a
CrestClassifier subclass (the pytest plugin ``crest_substitution.py``).

Each mode's failures (failed and errored tests) are compared with
``expected_failures.toml``, the documented departures. The script exits 1 when
a test fails that the list does not expect, when an expected failure passes
(a stale entry), or when the run did not exercise CrestClassifier at all.

Usage::

    python conformance/run_skorch_suite.py                 # all modes
    python conformance/run_skorch_suite.py --modes full -k classes
    python conformance/run_skorch_suite.py --sdist skorch-1.4.0.tar.gz

See ``conformance/README.md``.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

from sklearn_crest.selection import STRATEGIES

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
EXPECTED_FILE = HERE / "expected_failures.toml"
DEFAULT_CACHE = HERE / ".cache"
PLUGIN = "crest_substitution"
TEST_FILES = ("skorch/tests/test_classifier.py", "skorch/tests/test_net.py")
# Every registered strategy: a new one is run (and must list its departures)
# without an edit here.
MODES = tuple(sorted(STRATEGIES))
FAILED = ("failed", "error")

# Starts pytest in the unpacked sdist without the current directory on
# sys.path: ``python -m``/``-c`` put it first, and the sdist's root holds its
# own copy of the skorch library, which must not shadow the installed skorch
# that CrestClassifier subclasses. The plugin's directory goes first instead.
RUNNER = """\
import os, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
sys.path.insert(0, sys.argv[1])
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""


# ------------------------------------------------------------------ the sdist
def installed_skorch_version():
    return metadata.version("skorch")


def fetch_sdist(version, cache_dir):
    """The sdist of skorch ``version``, downloaded with pip once, then cached."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _find_sdist(cache_dir, version)
    if cached:
        return cached
    print(f"Downloading the sdist of skorch {version} with pip ...", flush=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--no-binary", ":all:", "--dest", tmp, f"skorch=={version}"]
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        found = _find_sdist(Path(tmp), version)
        if result.returncode != 0 or found is None:
            sys.exit(f"pip could not download the skorch {version} sdist:\n"
                     f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        target = cache_dir / found.name
        shutil.move(str(found), target)
    return target


def _find_sdist(directory, version):
    for name in (f"skorch-{version}.tar.gz", f"skorch-{version}.zip"):
        if (directory / name).is_file():
            return directory / name
    return None


def unpack_sdist(sdist, destination):
    """Unpack ``sdist`` into ``destination``; return the directory that holds
    ``skorch/tests``."""
    sdist = Path(sdist)
    if sdist.name.endswith(".zip"):
        shutil.unpack_archive(str(sdist), str(destination))
    else:
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(destination, filter="data")
            else:  # Python < 3.10.12: refuse what the data filter would
                for member in archive.getmembers():
                    path = Path(member.name)
                    if (path.is_absolute() or ".." in path.parts
                            or not (member.isfile() or member.isdir())):
                        sys.exit(f"{sdist}: refusing archive member {member.name}")
                archive.extractall(destination)
    roots = [p.parents[2] for p in Path(destination).glob("*/skorch/tests/test_net.py")]
    if len(roots) != 1:
        sys.exit(f"{sdist} does not look like a skorch sdist "
                 "(no single skorch/tests/test_net.py)")
    return roots[0]


def sdist_version(root):
    pkg_info = root / "PKG-INFO"
    if pkg_info.is_file():
        match = re.search(r"^Version:\s*(\S+)", pkg_info.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return None


# ------------------------------------------------------- the expected list
def load_expected(path=EXPECTED_FILE):
    """Entries of the expected-failures list, checked for form."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    entries = data.get("departure", [])
    problems = []
    seen = {}
    for number, entry in enumerate(entries, 1):
        where = f"{path.name}, entry {number}"
        tests = entry.get("test")
        if isinstance(tests, str):
            tests = [tests]
        if not tests or not all(isinstance(t, str) and "::" in t for t in tests):
            problems.append(f"{where}: 'test' must be a test id or a list of them")
            continue
        modes = entry.get("modes")
        if not modes or not set(modes) <= set(MODES):
            problems.append(f"{where}: 'modes' must be a list drawn from {MODES}")
        if not str(entry.get("reason", "")).strip():
            problems.append(f"{where}: every entry needs a 'reason'")
        for test in tests:
            for mode in modes or ():
                if (test, mode) in seen:
                    problems.append(f"{where}: {test} [{mode}] is already listed "
                                    f"in entry {seen[test, mode]}")
                seen[test, mode] = number
        entry["tests"] = tests
    if problems:
        sys.exit(f"{path.name} is malformed:\n  " + "\n  ".join(problems))
    return entries


def _matches(pattern, nodeid):
    """An entry's id covers the test itself, or every parameter of a
    parametrised test when it gives the base name only."""
    return nodeid == pattern or ("[" not in pattern
                                 and nodeid.split("[", 1)[0] == pattern)


# ------------------------------------------------------------------ a mode
def run_mode(mode, root, out_dir, keyword):
    outcomes_file = out_dir / f"{mode}.json"
    log_file = out_dir / f"{mode}.log"
    outcomes_file.unlink(missing_ok=True)
    args = [
        "-q", "-p", "no:cacheprovider",
        # skorch's own pytest settings ask for pytest-cov; coverage is not
        # what this run is for.
        "-o", "addopts=",
        # Python's own tracebacks: pytest's default style parses the source of
        # each frame (test_net.py has 4,500 lines), which took 40% of a run
        # with some 70 failures. The log stays readable for debugging.
        "--tb=native",
        "--rootdir", str(root),
        "-p", PLUGIN,
        "--crest-selection", mode,
        "--crest-skorch-tests", str(root / "skorch" / "tests"),
        "--crest-outcomes", str(outcomes_file),
        *TEST_FILES,
    ]
    if keyword:
        args += ["-k", keyword]
    env = dict(os.environ)
    # skorch's toy modules are tiny: on a 2-core machine a second intra-op
    # thread only adds contention (one thread took a third less time).
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    with open(log_file, "w") as log:
        returncode = subprocess.run(
            [sys.executable, "-c", RUNNER, str(HERE), *args], check=False,
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if not outcomes_file.is_file():
        tail = log_file.read_text()[-3000:]
        error = f"pytest exited with {returncode} and wrote no outcomes:\n{tail}"
        return None, seconds, error
    return json.loads(outcomes_file.read_text()), seconds, None


def compare(mode, result, entries, keyword):
    """Classify a mode's failures against the expected list."""
    outcomes = result["outcomes"]
    failures = {nodeid: o for nodeid, o in outcomes.items() if o["outcome"] in FAILED}
    applicable = [e for e in entries if mode in e["modes"]]
    expected, unexpected = [], []
    for nodeid in sorted(failures):
        if any(_matches(t, nodeid) for e in applicable for t in e["tests"]):
            expected.append(nodeid)
        else:
            unexpected.append(nodeid)
    stale = []
    collected = set(result["collected"])
    for entry in applicable:
        for pattern in entry["tests"]:
            matched = [n for n in collected if _matches(pattern, n)]
            if not matched:
                # A renamed or removed test; with -k the list is not complete.
                if not keyword:
                    stale.append((pattern, "matches no test of this skorch version"))
                continue
            for nodeid in sorted(matched):
                outcome = outcomes.get(nodeid, {}).get("outcome")
                if outcome in ("passed", "xpassed"):
                    stale.append((nodeid, f"expected to fail, but {outcome}"))
    return failures, expected, unexpected, stale


def substitution_problem(result):
    """Why the run proves nothing about CrestClassifier, or None."""
    if not result.get("substitute_is_crest"):
        return ("skorch.NeuralNetClassifier was not replaced by a CrestClassifier "
                "subclass")
    if not result["tests_using_crest"]:
        return ("no test built or fitted a CrestClassifier (the substitution did "
                "not reach the tests, or -k selected none that use it)")
    substitute = result["substitute"]
    if result["net_cls_fixtures"] and substitute not in result["net_cls_fixtures"]:
        return f"the net_cls fixtures never returned {substitute}"
    return None


def print_failure(nodeid, outcome, indent="      "):
    print(f"    {nodeid}  [{outcome['outcome']}]")
    excerpt = (outcome.get("excerpt") or "").strip()
    for line in excerpt.splitlines()[:6]:
        print(indent + line[:200])


# -------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sdist", type=Path,
                        help="use this skorch sdist (.tar.gz) instead of "
                             "downloading the installed version's")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated selection modes (default: "
                             f"{','.join(MODES)})")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every mode even after one has failed")
    parser.add_argument("-k", dest="keyword", metavar="EXPR",
                        help="passed to pytest -k (debugging; stale entries are "
                             "then judged on the selected tests only)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="where the sdist is cached and each mode's pytest "
                             "log and outcomes are kept (default: %(default)s)")
    args = parser.parse_args(argv)
    # pytest runs inside the unpacked sdist: paths handed to it must be absolute.
    args.cache_dir = args.cache_dir.resolve()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown or not args.modes:
        parser.error(f"--modes takes a comma-separated subset of {','.join(MODES)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    entries = load_expected()
    version = installed_skorch_version()
    sdist = args.sdist.resolve() if args.sdist else fetch_sdist(version, args.cache_dir)
    out_dir = args.cache_dir / "last-run"
    out_dir.mkdir(parents=True, exist_ok=True)

    failed_modes = []
    with tempfile.TemporaryDirectory(prefix="skorch-sdist-") as tmp:
        root = unpack_sdist(sdist, tmp)
        tests_version = sdist_version(root)
        print(f"skorch {version} (installed) with the tests of {sdist.name}")
        if tests_version and tests_version != version:
            print(f"  warning: the sdist is skorch {tests_version}, the installed "
                  f"skorch is {version}; departures may differ from the list")
        print(f"pytest logs and outcomes: {out_dir}")
        for mode in args.modes:
            print(f"\n== selection={mode!r}", flush=True)
            result, seconds, error = run_mode(mode, root, out_dir, args.keyword)
            if error:
                print(f"  FAILED: {error}")
                failed_modes.append(mode)
            else:
                ok = report_mode(mode, result, seconds, entries, args.keyword)
                if not ok:
                    failed_modes.append(mode)
            if failed_modes and not args.keep_going:
                break

    print()
    if failed_modes:
        print(f"Conformance run FAILED in mode(s): {', '.join(failed_modes)}. "
              "Fix the failures, or, for an intended departure, add it to "
              "conformance/expected_failures.toml with its reason; remove stale "
              "entries.")
        return 1
    print("Conformance run passed: every failure is a documented departure.")
    return 0


def report_mode(mode, result, seconds, entries, keyword):
    outcomes = result["outcomes"]
    counts = {}
    for o in outcomes.values():
        counts[o["outcome"]] = counts.get(o["outcome"], 0) + 1
    failures, expected, unexpected, stale = compare(mode, result, entries, keyword)
    run = sum(counts.get(k, 0) for k in ("passed", "failed", "error", "xfailed",
                                         "xpassed"))
    print(f"  {seconds:.0f} s; {run} tests run, {counts.get('passed', 0)} passed, "
          f"{len(failures)} failed ({len(expected)} expected, {len(unexpected)} "
          f"unexpected), {len(stale)} stale; {counts.get('skipped', 0)} skipped, "
          f"{counts.get('xfailed', 0)} xfailed; "
          f"{len(result['tests_using_crest'])} tests built or fitted a CrestClassifier")
    ok = True
    problem = substitution_problem(result)
    if problem:
        print(f"  SUBSTITUTION FAILED: {problem}")
        ok = False
    if result["exitstatus"] not in (0, 1):
        print(f"  pytest exited with status {result['exitstatus']} "
              "(interrupted, internal or usage error): see the log")
        ok = False
    if unexpected:
        print(f"  Unexpected failures ({len(unexpected)}):")
        for nodeid in unexpected:
            print_failure(nodeid, failures[nodeid])
        ok = False
    if stale:
        print(f"  Stale entries of expected_failures.toml ({len(stale)}):")
        for nodeid, why in stale:
            print(f"    {nodeid}: {why}")
        ok = False
    return ok


if __name__ == "__main__":
    sys.exit(main())
