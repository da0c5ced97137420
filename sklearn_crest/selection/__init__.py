"""Selection strategies: which examples each training step sees.

One module per strategy, each a subclass of :class:`SelectionStrategy` that
owns its parameters (``__init__`` keywords, ``_parameter_constraints``), as
a scikit-learn estimator does:

==============  ===========================  ====================================
``selection``   class                        module
==============  ===========================  ====================================
``"random"``    :class:`RandomBatches`       ``_random.py``
``"full"``      :class:`FullData`            ``_full.py``
``"per_step"``  :class:`PerStepCoresets`     ``_per_step.py`` (+ ``_per_step_device.py``)
``"crest"``     :class:`CrestRegions`        ``_crest.py`` (+ ``_crest_sample_check.py``)
``"craig"``     :class:`CraigSubsets`        ``_craig.py`` (over ``_epoch_subset.py``)
``"gradmatch"`` :class:`GradMatchSubsets`    ``_gradmatch.py`` (over ``_epoch_subset.py``)
``"infobatch"`` :class:`InfoBatchPruning`    ``_infobatch.py``
==============  ===========================  ====================================


The estimator takes a name from :data:`STRATEGIES` or a strategy object as
``selection``, and routes ``selection__<parameter>`` to it
(:func:`resolve_strategy`).
"""

import difflib

from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from ._base import SelectionStrategy
from ._craig import CraigSubsets
from ._crest import CrestRegions
from ._full import FullData
from ._gradmatch import GradMatchSubsets
from ._infobatch import InfoBatchPruning
from ._model import ModuleModel, SelectionModel
from ._per_step import PerStepCoresets
from ._random import RandomBatches
from ._stats import HISTORY_KEYS
from ._step import Step
from ._training_data import TrainingData

#: The strategy class of each name the estimator's ``selection`` accepts.
STRATEGIES = {cls.name: cls for cls in (
    CrestRegions, PerStepCoresets, CraigSubsets, GradMatchSubsets, InfoBatchPruning,
    RandomBatches, FullData)}


def register_strategy(strategy_class):
    """Make ``strategy_class`` available as ``selection=strategy_class.name``.

    A name lives in this process only: joblib's worker processes
    (``GridSearchCV(n_jobs=2)``) never ran the registration. Pass a strategy
    object as ``selection`` instead, and it travels with the estimator.
    Registering a name again replaces its class.

    Parameters
    ----------
    strategy_class : type
        A subclass of :class:`SelectionStrategy` with a ``name``.

    Returns
    -------
    strategy_class : type
        Unchanged, so that this works as a class decorator.
    """
    if not (isinstance(strategy_class, type)
            and issubclass(strategy_class, SelectionStrategy)):
        raise TypeError(f"register_strategy takes a SelectionStrategy subclass; "
                        f"got {strategy_class!r}.")
    if not isinstance(strategy_class.name, str) or not strategy_class.name:
        raise ValueError(f"{strategy_class.__name__}.name must be a non-empty "
                         "string: the value of selection that chooses it.")
    STRATEGIES[strategy_class.name] = strategy_class
    return strategy_class


def resolve_strategy(selection, params=None, *, owner="CrestClassifier"):
    """A fresh strategy for ``selection`` with ``params`` applied.

    Parameters
    ----------
    selection : str or SelectionStrategy
        A name in :data:`STRATEGIES`, or a strategy object (cloned: the
        caller's object is never changed).
    params : dict or None, default=None
        Parameter values (the estimator's ``selection__*``), applied on top.
    owner : str, default="CrestClassifier"
        The estimator named in error messages.

    Returns
    -------
    SelectionStrategy
        Not started.
    """
    if isinstance(selection, SelectionStrategy):
        strategy = clone(selection)
    elif isinstance(selection, str) and selection in STRATEGIES:
        strategy = STRATEGIES[selection]()
    else:
        names = sorted(STRATEGIES)
        close = (difflib.get_close_matches(selection, names, n=1)
                 if isinstance(selection, str) else [])
        raise InvalidParameterError(
            f"The 'selection' parameter of {owner} must be one of "
            f"{', '.join(repr(n) for n in names)}, or a SelectionStrategy "
            f"object; got {selection!r}."
            + (f" Did you mean {close[0]!r}?" if close else ""))
    params = dict(params or {})
    unknown = sorted(set(params) - set(strategy.get_params(deep=False)))
    if unknown:
        raise ValueError("; ".join(
            _unknown_parameter_message(name, strategy, owner) for name in unknown))
    return strategy.set_params(**params)


def _unknown_parameter_message(name, strategy, owner):
    having = sorted(key for key, cls in STRATEGIES.items()
                    if name in cls().get_params(deep=False))
    where = (f"it belongs to selection={' or '.join(repr(h) for h in having)}"
             if having else "no registered strategy has it")
    return (f"{owner} got selection__{name}, but {type(strategy).__name__} "
            f"(the chosen selection) has no parameter {name!r}: {where}. Its "
            f"parameters are {', '.join(sorted(strategy.get_params(deep=False))) or 'none'}.")


__all__ = ["HISTORY_KEYS", "STRATEGIES", "ModuleModel", "SelectionModel",
           "SelectionStrategy", "Step", "TrainingData",
           "CrestRegions", "PerStepCoresets", "CraigSubsets", "GradMatchSubsets",
           "InfoBatchPruning", "RandomBatches", "FullData", "register_strategy",
           "resolve_strategy"]
