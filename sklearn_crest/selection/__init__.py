"""Selection strategies: which examples each training step sees.

One module per strategy, each a subclass of
:class:`~sklearn_crest.selection._base.SelectionStrategy`, which owns what
they share (the pool, the step budget, random subsets per class, the eval
pass, dropping learned examples, the history's figures). The estimator's
training iterator asks the strategy named by ``selection`` for each epoch's
batches and weights, and knows nothing about any one of them.

==============  ===========================  ====================================
``selection``   class                        module
==============  ===========================  ====================================
``"random"``    :class:`RandomBatches`       ``_random.py``
``"full"``      :class:`FullData`            ``_full.py``
``"per_step"``  :class:`PerStepCoresets`     ``_per_step.py`` (+ ``_per_step_device.py``)
``"crest"``     :class:`CrestRegions`        ``_crest.py``
``"craig"``     :class:`CraigSubsets`        ``_craig.py`` (over ``_epoch_subset.py``)
``"gradmatch"`` :class:`GradMatchSubsets`    ``_gradmatch.py`` (over ``_epoch_subset.py``)
``"infobatch"`` :class:`InfoBatchPruning`    ``_infobatch.py``
==============  ===========================  ====================================

Shared building blocks: ``_model.py`` (the narrow view of the model that
strategies use), ``_selection_pass.py`` (the eval forward pass),
``_coresets/minibatch.py`` (CREST's mini-batch coresets, also used by
:class:`~sklearn_crest.CoresetSelector`), ``_class_streams.py`` (per-class
random draws).

A new strategy is one new module, its registration (in :data:`STRATEGIES`
below, or :func:`register_strategy` for one defined elsewhere), its
parameters in the estimator, and its tests.
"""

from ._base import HISTORY_KEYS, SelectionStrategy
from ._craig import CraigSubsets
from ._crest import CrestRegions
from ._full import FullData
from ._gradmatch import GradMatchSubsets
from ._infobatch import InfoBatchPruning
from ._model import SelectionModel
from ._per_step import PerStepCoresets
from ._random import RandomBatches

#: The strategy class of each value of the estimator's ``selection``.
STRATEGIES = {cls.name: cls for cls in (
    CrestRegions, PerStepCoresets, CraigSubsets, GradMatchSubsets, InfoBatchPruning,
    RandomBatches, FullData)}

# The accepted values of ``selection``: the estimator's parameter constraint
# holds this very set, so a registration is valid at once.
SELECTION_NAMES = set(STRATEGIES)


def register_strategy(strategy_class):
    """Make ``strategy_class`` available as ``selection=strategy_class.name``.

    For a strategy defined outside this package (an experiment, a test).
    It may read only the estimator's existing parameters, and must list them
    in ``parameters``. Registering a name again replaces its class.

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
    from .._classifier import CREST_PARAMS  # the estimator's parameters

    unknown = sorted(set(strategy_class.parameters) - set(CREST_PARAMS))
    if unknown:
        raise ValueError(
            f"{strategy_class.__name__}.parameters names {unknown}, which "
            "CrestClassifier does not have; a registered strategy reads only "
            f"the estimator's parameters ({', '.join(sorted(CREST_PARAMS))}).")
    STRATEGIES[strategy_class.name] = strategy_class
    SELECTION_NAMES.add(strategy_class.name)
    return strategy_class


def parameters_in_use():
    """For each selection parameter, the selections that read it."""
    used = {}
    for name, cls in STRATEGIES.items():
        for parameter in cls.parameters:
            used.setdefault(parameter, []).append(name)
    return {parameter: tuple(names) for parameter, names in used.items()}


__all__ = ["HISTORY_KEYS", "STRATEGIES", "SelectionModel", "SelectionStrategy", "CrestRegions",
           "PerStepCoresets", "CraigSubsets", "GradMatchSubsets", "InfoBatchPruning",
           "RandomBatches", "FullData", "parameters_in_use", "register_strategy"]
