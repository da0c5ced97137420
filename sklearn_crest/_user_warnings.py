"""Warnings that point at the user's line, not at the library's.

A warning raised deep inside a fit (in the batch schedule, under skorch's fit
loop, or inside imbalanced-learn's ``fit_resample``) would name a line of
those packages with a fixed ``stacklevel``. :func:`warn` walks up the stack
past every frame of this package and of the libraries that call into it, to
the first frame of the user's code (the line that called ``fit``, or the
``GridSearchCV.fit`` that did).
"""

import inspect
import os
import warnings

import imblearn
import joblib
import sklearn
import skorch
import torch

_LIBRARY_FOLDERS = (os.path.dirname(__file__) + os.sep,) + tuple(
    os.path.dirname(module.__file__) + os.sep
    for module in (skorch, sklearn, imblearn, joblib, torch))


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the first frame outside the library
    folders (the user's line)."""
    frame = inspect.currentframe()
    level = 1  # stacklevel 1 is this function's own frame
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_FOLDERS):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
