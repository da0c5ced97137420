"""Sphinx configuration for sklearn-crest."""

import sklearn_crest

project = "sklearn-crest"
author = "the sklearn-crest developers"
release = sklearn_crest.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "pydata_sphinx_theme"
intersphinx_mapping = {}
