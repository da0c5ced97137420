"""Sphinx configuration for sklearn-crest.

Build (from the repository root, offline, warnings as errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Nothing here reaches the network: there is no intersphinx, and the example
gallery links only to this project's own API pages.
"""

import inspect
import os
import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
# Make ``import sklearn_crest`` resolve to this checkout even where the
# package is not installed (it normally is, editable).
sys.path.insert(0, os.fspath(DOCS_DIR.parent))

import sklearn_crest  # noqa: E402

# -- Project ------------------------------------------------------------------

project = "sklearn-crest"
author = "the sklearn-crest developers"
copyright = "the sklearn-crest developers, BSD-3-Clause"
release = sklearn_crest.__version__
version = ".".join(release.split(".")[:2])

# -- General ------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    # The user guide's one formula: MathJax is loaded by the reader's
    # browser, the build itself stays offline.
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "README.md",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery writes these next to the generated pages; they are
    # downloads, not sources.
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
    "auto_examples/*.codeobj.json",
]
root_doc = "index"
# `single backquotes` are code, as in scikit-learn's docs.
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
# Show defaults as written in the source (ValidSplit(5, stratified=True)),
# not as object reprs.
autodoc_preserve_defaults = True

# The class pages list only what the class itself defines (see
# _templates/autosummary/class.rst). CrestClassifier inherits dozens of skorch
# methods whose docstrings are not numpydoc; CoresetSelector and
# CoresetTrainer inherit imbalanced-learn's and scikit-learn's. Those are
# documented by their own projects.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()


def _own_documented_methods(cls):
    """Public methods that ``cls`` defines itself, with a docstring of its own.

    Properties are left out: the class docstring's Attributes section already
    documents them (``classes_``), and documenting them twice would make
    duplicate object descriptions. A method that overrides a parent's without
    a docstring of its own (``CrestClassifier.check_data``) is left out too:
    autodoc would show the parent's (skorch's) docstring for it.
    """
    names = []
    for name, raw in vars(cls).items():
        if name.startswith("_") or isinstance(raw, property):
            continue
        # scikit-learn generates set_{method}_request for metadata routing in
        # every estimator class; they are scikit-learn's, not ours.
        if name.startswith("set_") and name.endswith("_request"):
            continue
        if not (callable(raw) or hasattr(raw, "__get__")):
            continue
        # Functions, scikit-learn's available_if descriptors (they copy the
        # wrapped method's __doc__), static and class methods.
        doc = getattr(raw, "__doc__", None)
        if doc and doc.strip():
            names.append(name)
    return names


def _public_classes():
    classes = {}
    for name in sklearn_crest.__all__:
        obj = getattr(sklearn_crest, name)
        if inspect.isclass(obj):
            classes[f"sklearn_crest.{name}"] = _own_documented_methods(obj)
    return classes


# Read by _templates/autosummary/class.rst.
autosummary_context = {"own_methods": _public_classes()}

# -- sphinx-gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Only plot_*.py scripts are executed ...
    "filename_pattern": r"/plot_",
    # ... and only they are in the gallery: examples/quickstart.py (a plain
    # script run by CI) and any other helper file are left out entirely.
    "ignore_pattern": r"^(?!plot_)",
    # Links from the examples' code to the API pages, and the "Examples using
    # ..." mini-galleries on those pages. Local only: no reference_url entry
    # for other projects, so nothing is fetched.
    "doc_module": ("sklearn_crest",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"sklearn_crest": None},
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    # No sg_execution_times.rst pages: they would be written into docs/
    # itself (a source file that changes with every build).
    "write_computation_times": False,
}

# -- HTML ---------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-crest {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {
    "index": [],
    "getting_started": [],
}
html_show_sourcelink = False


# -- Workarounds for docstrings in sklearn_crest/ -----------------------------
