"""The estimator's side of the selection's parameters.

Each strategy owns its parameters (``selection/``); the estimator routes
``selection__<name>`` to the strategy chosen by ``selection``, as skorch
routes ``module__*``: stored on the estimator (so that ``clone`` and
``set_params`` work as for any scikit-learn parameter), applied to a clone
of the strategy at fit, listed with their defaults by ``get_params()``.
"""

import numbers

from sklearn.utils._param_validation import (
    InvalidParameterError,
    validate_parameter_constraints,
)

from . import _user_warnings as user_warnings
from .selection import resolve_strategy
from .selection._drop_learned import unused_drop_settings

# DataLoader settings that the selection strategy decides for training batches.
STRATEGY_OWNED_LOADER_PARAMS = {"batch_size", "shuffle", "sampler", "batch_sampler",
                                 "drop_last"}


def selection_strategy(net):
    """A fresh, unstarted strategy: ``selection`` with its ``selection__*``."""
    return resolve_strategy(net.selection, net.get_params_for("selection"),
                            owner=type(net).__name__)


def with_strategy_params(net, params):
    """``params`` (deep) with the chosen strategy's, defaults included."""
    try:
        strategy = selection_strategy(net)
    except (ValueError, TypeError):
        return params  # an invalid selection: fit says why
    params.update({f"selection__{name}": value for name, value
                   in strategy.get_params(deep=True).items()})
    return params


def store_selection_params(net, params):
    """Store ``selection`` and ``selection__*`` of ``params`` on ``net``;
    return the others. A new ``selection`` drops the ``selection__*`` set for
    the previous one; the same selection again (a grid that lists it) keeps
    them. (skorch would treat ``selection`` itself as a prefixed
    parameter too, since it starts with the prefix, and try to re-initialise
    a component.)"""
    routed = {key: params.pop(key) for key in list(params)
              if key == "selection" or key.startswith("selection__")}
    if "selection" in routed and not _same_selection(routed["selection"],
                                                     getattr(net, "selection", None)):
        for key in [key for key in vars(net) if key.startswith("selection__")]:
            delattr(net, key)
    vars(net).update(routed)
    return params


def _same_selection(new, old):
    """The same name, or the very same strategy object."""
    return new is old or (isinstance(new, str) and new == old)


def check_selection_params(net):
    """The estimator's and the strategy's constraints, as errors naming the
    parameter; returns the (unstarted) strategy."""
    name = type(net).__name__
    validate_parameter_constraints(
        net._parameter_constraints,
        {key: getattr(net, key) for key in net._parameter_constraints},
        caller_name=name)
    if not isinstance(net.batch_size, numbers.Integral) or net.batch_size < 1:
        raise ValueError(
            f"{name} needs a positive int batch_size (the size of one training "
            f"step and of one mini-batch coreset); got {net.batch_size!r}. "
            "skorch's batch_size=-1 (the whole dataset in one batch) has no "
            "CREST meaning.")
    strategy = selection_strategy(net)
    try:
        strategy._validate_params()
    except InvalidParameterError as error:
        raise InvalidParameterError(
            f"{error} (set through {name}'s selection__*)") from error
    return strategy


def warn_about_unused_settings(net, strategy):
    """Say, once per fit, which settings change nothing in it."""
    unused = unused_drop_settings(strategy)
    if unused:
        user_warnings.warn(
            f"selection={net.selection!r} does not use selection__"
            + ", selection__".join(unused) + ": they act with "
            "selection__drop_learned=True. These settings change nothing "
            "in this fit; leave them at their defaults, or turn dropping on.")
    if not strategy.uses_train_frac and net.train_frac != 0.1:
        user_warnings.warn(
            f"selection={net.selection!r} does not use train_frac="
            f"{net.train_frac!r}: its epochs take as many steps as "
            f"{type(strategy).__name__} decides. The setting changes nothing "
            "in this fit; leave it at its default.")
    ignored = sorted(set(net.get_params_for("iterator_train"))
                     & STRATEGY_OWNED_LOADER_PARAMS)
    if ignored:
        user_warnings.warn(
            f"iterator_train__{', iterator_train__'.join(ignored)} are not "
            "used: the selection strategy decides which examples each "
            "training batch holds, and in what order.")
