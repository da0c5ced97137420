"""The README's quickstart is what CI runs, and the package is what it says."""

import re
import subprocess
import sys
from pathlib import Path

import sklearn_crest

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands_that_ci_runs_verbatim():
    commands = quickstart_commands()
    assert len(commands) == 2
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert "\n" not in command.strip()
        assert command.strip() in ci_lines
    # CPU torch is installed before the package in both commands.
    for command in commands:
        assert command.index("pip install -q torch==2.13.0") < command.index(
            "pip install -q -e")


def test_public_surface():
    assert sorted(sklearn_crest.__all__) == sorted(
        ["AcceleratedCrestClassifier", "CrestClassifier", "CoresetSelector",
         "CoresetTrainer", "__version__"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", sklearn_crest.__version__)


def test_importing_the_package_does_not_need_accelerate():
    """accelerate is the ``distributed`` extra: the core install imports
    without it (AcceleratedCrestClassifier takes an accelerator instance)."""
    code = ("import sys, importlib.abc\n"
            "class Refuse(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'accelerate':\n"
            "            raise ImportError('accelerate is not installed')\n"
            "sys.meta_path.insert(0, Refuse())\n"
            "import sklearn_crest\n"
            "print(sklearn_crest.AcceleratedCrestClassifier.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "AcceleratedCrestClassifier"


def _setup_cfg():
    import configparser
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_the_console_script_points_at_the_benchmark_command():
    import importlib
    scripts = dict(
        line.split("=", 1)
        for line in _setup_cfg()["options.entry_points"]["console_scripts"].split("\n")
        if line.strip())
    scripts = {name.strip(): target.strip() for name, target in scripts.items()}
    assert scripts == {"crest-benchmark": "crest_benchmark.cli:main"}
    module, function = scripts["crest-benchmark"].split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_distribution_ships_the_library_and_the_benchmark_package():
    include = _setup_cfg()["options.packages.find"]["include"].split()
    assert include == ["sklearn_crest*", "crest_benchmark*"]
    # The library does not carry the benchmark runner any more.
    assert not (ROOT / "sklearn_crest" / "benchmark.py").exists()
    done = subprocess.run([sys.executable, "-m", "crest_benchmark", "--help"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m crest_benchmark")
