"""Every Python snippet of README.md and docs/*.rst runs, as a reader would run it.

The snippets of one document run in order, in one fresh Python process (a
reader pastes them into one session), in a temporary folder. A document
whose snippets build on another's names it in a comment,
``.. snippet-test: after getting_started.rst``; that document's snippets run
first. A snippet that cannot run here says why in a comment right before it:
``.. snippet-test: skip (needs a Dask cluster)`` in reStructuredText,
``<!-- snippet-test: skip (...) -->`` in Markdown.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]

_RST_BLOCK = re.compile(
    r"(?P<marker>\.\. snippet-test: skip[^\n]*\n\n)?"
    r"\.\. code-block:: python\n\n(?P<code>(?:(?:[ \t]+[^\n]*)?\n)+)")
_MD_BLOCK = re.compile(
    r"(?P<marker><!-- snippet-test: skip[^\n]*-->\n)?```python\n(?P<code>.*?)```", re.S)
_AFTER = re.compile(r"snippet-test: after (\S+)")
# One torch thread: the machines that run the tests are small and shared.
_PRELUDE = "import torch\ntorch.set_num_threads(1)\n"


def snippets(document):
    """The runnable snippets of a document, in order, and how many it skips."""
    text = document.read_text()
    pattern = _MD_BLOCK if document.suffix == ".md" else _RST_BLOCK
    runnable, skipped = [], 0
    for match in pattern.finditer(text):
        if match.group("marker"):
            skipped += 1
        else:
            runnable.append(textwrap.dedent(match.group("code")))
    return runnable, skipped


def program(document):
    """The snippets of the documents it builds on, then its own."""
    code = []
    for earlier in _AFTER.findall(document.read_text()):
        code += snippets(document.parent / earlier)[0]
    return code + snippets(document)[0]


def _with_snippets():
    return [d for d in DOCUMENTS if snippets(d)[0]]


def test_the_documents_have_snippets_and_skip_few():
    names = {d.name for d in _with_snippets()}
    assert {"README.md", "getting_started.rst", "user_guide.rst"} <= names
    skipped = sum(snippets(d)[1] for d in DOCUMENTS)
    runnable = sum(len(snippets(d)[0]) for d in DOCUMENTS)
    assert skipped <= 2 and runnable >= 8, (skipped, runnable)


@pytest.mark.parametrize("document", _with_snippets(), ids=lambda d: d.name)
def test_every_snippet_runs(document, tmp_path):
    source = _PRELUDE + "\n".join(program(document))
    done = subprocess.run([sys.executable, "-c", source], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (
        f"a snippet of {document.name} failed:\n{done.stderr[-3000:]}")


def test_the_distributed_pages_launch_command_runs_two_processes(tmp_path):
    """docs/distributed.rst's first launch command, as written, on its
    train.py: two CPU processes (not one that trains alone)."""
    page = (ROOT / "docs" / "distributed.rst").read_text()
    (train_py,) = [code for code in snippets(ROOT / "docs" / "distributed.rst")[0]
                   if code.startswith("# train.py")]
    (tmp_path / "train.py").write_text(_PRELUDE + train_py)
    command = re.search(r"^    (torchrun --nproc_per_node 2 train\.py)", page, re.M)
    assert command, "the page's first launch command changed: update this test"
    argv = command.group(1).split()
    # torchrun is the console script of the environment that runs the tests.
    argv[0] = str(Path(sys.executable).with_name("torchrun"))
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 process(es), test accuracy" in done.stdout, done.stdout[-2000:]
    assert (tmp_path / "model.pkl").exists()
