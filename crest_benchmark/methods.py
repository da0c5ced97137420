"""The methods the benchmark compares: one entry per method, and the one
function that turns a method and the command's options into the estimator's
selection settings.

Adding a method is one ``Method`` entry in ``METHODS``: what it trains (the
estimator's ``selection``, its random sampling, a strategy class of its
own), which run of the same seed it takes its budget from (wall-clock,
steps, InfoBatch's epoch plan), and how the report and the plots show it.
"""

import argparse
from dataclasses import dataclass


from sklearn_crest.selection import STRATEGIES

from .ablation import UniformPruningOfThePlan, UnscaledUniformPruningOfThePlan


@dataclass(frozen=True)
class Method:
    """One row of the benchmark.

    ``equal_time_of``, ``equal_steps_of`` and ``same_plan_of`` name the
    method of the same seed this one is measured against: random batches
    given that run's wall-clock (with random's own rate of steps per second)
    or its total steps, or InfoBatch's epoch plan with other examples
    pruned. ``paper_rank`` places the method in the paper's layout (its
    Table 1 order, then this library's additions); ``verdict_rank`` among the
    coreset methods the verdict compares with random batches at equal steps.
    """

    name: str
    selection: str  # CrestClassifier's `selection`
    color: str  # in the plots
    # For selection "random": a fresh permutation every epoch
    # ("with_replacement" across epochs), or RS2's one pass over the data
    # before any example repeats ("without_replacement").
    random_sampling: str | None = None
    equal_time_of: str | None = None
    equal_steps_of: str | None = None
    same_plan_of: str | None = None
    # The method this one approximates at a lower cost (crest: per_step, the
    # paper's greedy mini-batch selection): the report says how much of its
    # accuracy it keeps, in what share of its time.
    approximates: str | None = None
    # A strategy class of its own (None: the registered class of `selection`),
    # passed as a strategy object; benchmark only,
    # for measurements that are not selection modes of the library.
    strategy: type | None = None
    plot_label: str | None = None  # where the name alone says too little
    legend: str | None = None  # a legend line, for less usual methods
    paper_rank: int | None = None
    verdict_rank: int | None = None

    @property
    def selects(self):
        """Whether it chooses its examples (not full data nor random
        batches): only those have updates per step and a selection cost."""
        return self.selection not in ("full", "random")

    @property
    def takes_train_frac(self):
        """InfoBatch's steps follow its kept examples, not ``train_frac``."""
        return self.selection != "infobatch"

    @property
    def budget_from(self):
        """The methods of the same seed that must run before this one."""
        if self.equal_time_of:
            return (self.equal_time_of, "random")
        if self.equal_steps_of:
            return (self.equal_steps_of,)
        return ()


# In run order within a seed: a method comes after the methods it takes its
# budget from (equal_time_of, equal_steps_of).
METHODS = (
    Method("full", "full", "tab:gray"),
    Method("random", "random", "tab:blue", random_sampling="with_replacement",
           paper_rank=0),
    Method("rs2", "random", "tab:pink", random_sampling="without_replacement",
           plot_label="rs2 (random, without replacement)",
           legend="rs2: random batches without replacement across epochs (RS2: "
                  "every example once before any twice, class proportions kept); "
                  "random draws a fresh permutation every epoch.",
           paper_rank=7),
    Method("crest", "crest", "tab:red", approximates="per_step", paper_rank=3,
           verdict_rank=1),
    Method("per_step", "per_step", "tab:orange", paper_rank=4, verdict_rank=0),
    Method("craig", "craig", "tab:green", paper_rank=1, verdict_rank=2),
    Method("gradmatch", "gradmatch", "tab:purple", paper_rank=2, verdict_rank=3),
    Method("infobatch", "infobatch", "tab:brown",
           legend="infobatch: InfoBatch, full-data epochs less a random part of "
                  "the well-learned examples (loss below the mean); its steps are "
                  "what it prunes to, not train_frac's.",
           paper_rank=8),
    Method("infobatch_random_plan", "infobatch", "sienna",
           same_plan_of="infobatch", strategy=UniformPruningOfThePlan,
           plot_label="infobatch's plan, uniform pruning",
           legend="infobatch_random_plan: InfoBatch's epoch plan with its pruned "
                  "examples drawn uniformly from the pool, the kept candidates "
                  "weighted 1 / (1 - prune_ratio) (the InfoBatch paper's "
                  "ablation)."),
    Method("infobatch_random_plan_unscaled", "infobatch", "rosybrown",
           same_plan_of="infobatch", strategy=UnscaledUniformPruningOfThePlan,
           plot_label="the same, unweighted",
           legend="infobatch_random_plan_unscaled: the same, unweighted."),
    Method("random_at_crest_time", "random", "tab:cyan",
           random_sampling="with_replacement", equal_time_of="crest", paper_rank=5),
    Method("random_at_per_step_time", "random", "tab:olive",
           random_sampling="with_replacement", equal_time_of="per_step",
           paper_rank=6),
    Method("random_at_infobatch_time", "random", "darkgoldenrod",
           random_sampling="with_replacement", equal_time_of="infobatch",
           paper_rank=10),
    # InfoBatch's own baseline.
    Method("random_pruning", "random", "slateblue",
           random_sampling="with_replacement", equal_steps_of="infobatch",
           plot_label="random_pruning (infobatch's steps)",
           legend="random_pruning: random batches with infobatch's total steps "
                  "of the same seed (InfoBatch's own baseline).",
           paper_rank=9),
)
BY_NAME = {method.name: method for method in METHODS}
NAMES = tuple(BY_NAME)
# What the command runs without --methods (in the help's order): the coreset
# modes against random batches at equal steps, and random batches given each
# mode's wall-clock, so that the first screen says whether selection saves
# time on this machine.
DEFAULT_METHODS = ("full", "random", "per_step", "crest", "random_at_per_step_time",
                   "random_at_crest_time")


def method(name):
    """The table's entry for a method name."""
    return BY_NAME[name]


def _subset_size(text):
    """``random_subset_size``: "auto", an int (a count) or a float (a fraction)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'auto', a count or a fraction") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return int(value) if value.is_integer() and value >= 1 and "." not in text else value


# Coreset hyperparameters that the command passes through to CrestClassifier
# (one option each, --name-with-dashes), with their argparse types.
PASSTHROUGH = {
    "random_subset_size": _subset_size, "num_minibatch_coreset": int,
    "check_interval": int, "check_thresh_factor": float, "interval_mul": float,
    "batch_num_mul": float, "watch_interval": int, "drop_interval": int,
    "drop_thresh": float, "min_train_frac": float, "check_sample_size": int,
    "region_coresets": str, "proxy_reuse_steps": int, "class_balance": str,
    "selection_interval": int, "gradmatch_regularization": float,
    "selection_precision": str, "check_loss": str, "selection_metric": str,
    "batch_weighting": str, "prune_ratio": float, "prune_until": float,
}
# The string parameters' accepted values, for argparse's own error messages.
PASSTHROUGH_CHOICES = {
    "region_coresets": ("resample", "cycle"),
    "class_balance": ("proportional", "balanced"),
    "selection_precision": ("auto", "float32", "bfloat16"),
    "check_loss": ("training", "sample"),
    "selection_metric": ("euclidean", "cosine"),
    "batch_weighting": ("subset", "batch"),
}


def passed_options(args):
    """The pass-through options the command was given, by option name."""
    return {name: getattr(args, name) for name in PASSTHROUGH
            if getattr(args, name, None) is not None}


# Command-line options whose strategy parameter has a shorter name there.
OPTION_TO_PARAMETER = {"gradmatch_regularization": "regularization"}


def check_selection_options(args):
    """Validate the pass-through options with the strategies' own
    constraints; raises sklearn's InvalidParameterError."""
    from sklearn.utils._param_validation import validate_parameter_constraints
    constraints = {}
    for strategy_class in STRATEGIES.values():
        constraints.update(strategy_class._parameter_constraints)
    passed = {OPTION_TO_PARAMETER.get(name, name): value
              for name, value in passed_options(args).items()}
    validate_parameter_constraints({name: constraints[name] for name in passed},
                                   passed, caller_name="the benchmark's options")


def selection_settings(name, args):
    """CrestClassifier's keyword arguments about selection for one method:
    the selection (a name, or a strategy object of the benchmark's own) and
    ``selection__*`` for its random sampling, dropping learned examples and
    the coreset hyperparameters given on the command line, each only where
    the method's strategy has that parameter. Every selection keyword the
    benchmark passes is spelled here and nowhere else."""
    entry = method(name)
    strategy_class = entry.strategy or STRATEGIES[entry.selection]
    accepted = strategy_class().get_params()
    options = {**passed_options(args), "drop_learned": args.drop_learned}
    if entry.random_sampling is not None:
        options["random_sampling"] = entry.random_sampling
    params = {OPTION_TO_PARAMETER.get(key, key): value for key, value in options.items()}
    params = {key: value for key, value in params.items() if key in accepted}
    if entry.strategy is not None:
        return {"selection": entry.strategy(**params)}
    return {"selection": entry.selection,
            **{f"selection__{key}": value for key, value in params.items()}}
