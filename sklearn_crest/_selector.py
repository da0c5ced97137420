"""CoresetSelector: a weighted coreset as an imbalanced-learn sampler."""

import math
import numbers
import warnings

import numpy as np
from imblearn.base import BaseSampler
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data

from . import _user_warnings as user_warnings
from ._coresets.facility_location import allocate_budget, select_coreset
from ._coresets.minibatch import minibatch_coresets
from ._coresets.proxies import estimator_gradient_proxy


# The share of the input in one random subset of method="crest" under "auto".
_AUTO_SUBSET_FRACTION = 0.05


class CoresetSelector(BaseSampler):
    """Keep a weighted coreset of the training set.

    A facility-location coreset keeps the points that best represent the
    whole set: each kept point stands for the points most similar to it, and
    its weight (``sample_weight_``) is how many they are. The selector is an
    imbalanced-learn sampler, so it is a step of
    :class:`imblearn.pipeline.Pipeline` (it runs at ``fit`` only) and its
    parameters can be tuned by :class:`~sklearn.model_selection.GridSearchCV`.
    To hand the weights to a model, use :class:`CoresetTrainer`.

    Parameters
    ----------
    sampling_strategy : "auto" or dict, default="auto"
        ``"auto"`` selects ``coreset_size`` points split over the classes by
        ``class_balance``. A dict ``{label: count}`` gives the exact number of
        points to keep per class instead; classes missing from it are kept
        whole (imbalanced-learn's convention for under-samplers).
    coreset_size : float or int, default=0.1
        A float in (0, 1] is a fraction of the input (rounded to the nearest
        count, at least 1); an int is a count of points, at most the number of
        input samples.
    method : {"facility_location", "random", "crest"}, default="facility_location"
        ``"facility_location"``: greedy facility location on each class.
        ``"random"``: uniform random points with the same per-class counts (the
        baseline), weighted by the inverse sampling rate.
        ``"crest"``: the union of mini-batch coresets of ``batch_size`` points,
        each selected from its own disjoint random subset, as CREST does; the
        cost grows linearly in the number of samples.
    features : {"input", "gradient"} or callable, default="input"
        What similarities are computed on. ``"input"``: the rows of X.
        ``"gradient"``: the last-layer gradient proxy
        ``predict_proba(X) - onehot(y)`` of ``estimator`` fitted on (X, y), as
        CRAIG and CREST do. A callable maps X to an (n_samples, n_features)
        array.
    estimator : classifier with predict_proba, default=None
        The proxy model for ``features="gradient"``; None means
        ``LogisticRegression(max_iter=1000)``. Fitted on a clone.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"euclidean"`` is ``exp(-||a - b|| / d)`` (the authors' kernel, ``d``
        the feature dimension); ``"cosine"`` is ``(1 + cos(a, b)) / 2``.
        Scale your features first (e.g. a ``StandardScaler`` in the pipeline):
        both kernels depend on them.
    class_balance : {"proportional", "balanced"}, default="proportional"
        Split the budget over classes in proportion to their sizes, or equally.
        A class smaller than its share keeps all its points and the rest goes to
        the other classes.
    optimizer : {"lazy", "stochastic"}, default="lazy"
        ``"lazy"``: exact lazy greedy. ``"stochastic"``: stochastic greedy,
        faster on large classes, within ``epsilon`` of the greedy in
        expectation.
    epsilon : float, default=0.1
        Accuracy of the stochastic greedy, in (0, 1).
    batch_size : int, default=64
        Size of each mini-batch coreset (``method="crest"`` only).
    random_subset_size : "auto", float or int, default="auto"
        Size of each random subset a mini-batch coreset is selected from
        (``method="crest"`` only): a fraction of the input, a count, or
        ``"auto"``: 5% of the input, at least ``2 * batch_size``. A value you
        set is raised to ``2 * batch_size`` (with a warning) where it is
        smaller, because a coreset needs a real choice.
    random_state : int, RandomState instance or None, default=None
        Seeds the random baseline, the random subsets, the stochastic greedy
        and the block partition of classes too large for one dense kernel.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_selected,)
        Rows of the input that were kept, in greedy order within each class
        (classes in sorted order).
    sample_weight_ : ndarray of shape (n_selected,)
        Weight of each kept row, aligned with ``sample_indices_``: the number of
        input points it represents. Within each class that keeps at least one
        point the weights sum to the class size, so they sum to ``n_samples``
        unless a class keeps no point at all (a quota of zero).
    gains_ : ndarray of shape (n_selected,)
        Marginal facility-location gain of each kept row when it was chosen;
        NaN for ``method="random"``.
    sampling_strategy_ : "auto" or dict
        The validated ``sampling_strategy``.
    estimator_ : classifier
        The fitted proxy model (``features="gradient"`` only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    CoresetTrainer : Fit any estimator on the weighted coreset.

    Notes
    -----
    Facility location maximises ``sum_i max_{j in S} s_ij`` over each class;
    the greedy is within ``1 - 1/e`` of the optimum. Classes too large for one
    dense kernel (128 MiB, about 5,800 points) are split into spatial blocks
    (recursive bisection along the principal direction) that are solved
    separately, with weights still taken over the whole class; memory stays
    bounded whatever the number of samples.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_crest import CoresetSelector
    >>> X, y = load_digits(return_X_y=True)
    >>> selector = CoresetSelector(coreset_size=0.1, random_state=0)
    >>> X_core, y_core = selector.fit_resample(X, y)
    >>> X_core.shape
    (180, 64)
    >>> int(selector.sample_weight_.sum())
    1797
    """

    _sampling_type = "bypass"

    _parameter_constraints: dict = {
        "sampling_strategy": [StrOptions({"auto"}), dict],
        "coreset_size": [
            Interval(numbers.Real, 0, 1, closed="right"),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "method": [StrOptions({"facility_location", "random", "crest"})],
        "features": [StrOptions({"input", "gradient"}), callable],
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "class_balance": [StrOptions({"proportional", "balanced"})],
        "optimizer": [StrOptions({"lazy", "stochastic"})],
        "epsilon": [Interval(numbers.Real, 0, 1, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_subset_size": [
            StrOptions({"auto"}),
            Interval(numbers.Real, 0, 1, closed="right"),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        coreset_size=0.1,
        method="facility_location",
        features="input",
        estimator=None,
        metric="euclidean",
        class_balance="proportional",
        optimizer="lazy",
        epsilon=0.1,
        batch_size=64,
        random_subset_size="auto",
        random_state=None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.coreset_size = coreset_size
        self.method = method
        self.features = features
        self.estimator = estimator
        self.metric = metric
        self.class_balance = class_balance
        self.optimizer = optimizer
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.random_subset_size = random_subset_size
        self.random_state = random_state

    def _class_quotas(self, y, classes, class_sizes):
        """Exact number of points to keep per class."""
        n_samples = int(class_sizes.sum())
        if isinstance(self.sampling_strategy, dict):
            unknown = set(self.sampling_strategy) - set(classes.tolist())
            if unknown:
                raise ValueError(
                    f"sampling_strategy names classes {sorted(unknown, key=str)} that "
                    f"are not in y; the classes are {classes.tolist()}.")
            quotas = class_sizes.copy()
            for position, label in enumerate(classes.tolist()):
                if label in self.sampling_strategy:
                    count = self.sampling_strategy[label]
                    if (not isinstance(count, numbers.Integral) or count < 0
                            or count > class_sizes[position]):
                        raise ValueError(
                            f"sampling_strategy[{label!r}] must be an int between 0 "
                            f"and the class size {int(class_sizes[position])}; "
                            f"got {count!r}.")
                    quotas[position] = count
            if quotas.sum() == 0:
                raise ValueError("sampling_strategy keeps no sample; ask for at "
                                 "least one.")
            return quotas
        budget = _as_count(self.coreset_size, n_samples, "coreset_size")
        present = int(np.count_nonzero(class_sizes))
        if budget < present:
            # Fewer samples than classes would drop whole classes, and a model
            # fitted on the coreset could never predict them.
            warnings.warn(
                f"coreset_size={self.coreset_size!r} keeps {budget} samples, fewer "
                f"than the {present} classes in y; keeping one sample of each "
                f"class instead ({present} samples). Ask for at least {present} "
                "samples, or give exact per-class counts with sampling_strategy.",
                UserWarning, stacklevel=3)
            budget = present
        # Every class keeps at least one sample: a proportional share rounds a
        # rare class down to nothing otherwise.
        return allocate_budget(class_sizes, budget, self.class_balance,
                               every_class=True)

    def _selection_features(self, X, y):
        """The features facility location measures similarity on."""
        if self.features == "input":
            features = X.toarray() if sparse.issparse(X) else X
            return np.asarray(features, dtype=np.float32)
        if self.features == "gradient":
            estimator = (LogisticRegression(max_iter=1000) if self.estimator is None
                         else self.estimator)
            self.estimator_ = clone(estimator).fit(X, y)
            return estimator_gradient_proxy(self.estimator_, X, y).astype(np.float32)
        features = self.features(X)
        if sparse.issparse(features):
            features = features.toarray()
        try:
            features = np.asarray(features, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "The callable passed as features must return a numeric array; "
                f"converting its output failed: {exc}") from exc
        if features.ndim != 2 or features.shape[0] != X.shape[0]:
            raise ValueError(
                "The callable passed as features must return an array of shape "
                f"(n_samples, n_features) = ({X.shape[0]}, ...); got shape "
                f"{features.shape}.")
        if not np.isfinite(features).all():
            raise ValueError("The callable passed as features returned NaN or "
                             "infinite values; fix the callable or impute X first.")
        return features

    def _fit_resample(self, X, y):
        rng = check_random_state(self.random_state)
        classes, encoded, class_sizes = np.unique(y, return_inverse=True,
                                                  return_counts=True)
        quotas = self._class_quotas(y, classes, class_sizes)
        indices = self._select(X, y, encoded, quotas, class_sizes, rng)
        return _safe_indexing(X, indices), _safe_indexing(y, indices)

    def _select(self, X, y, encoded, quotas, class_sizes, rng):
        """Run ``method`` on the ground sets that ``encoded`` names, with
        ``quotas`` per ground set; set the fitted attributes and return the
        kept indices."""
        if self.method == "random":
            indices, weights = _random_coreset(encoded, quotas, class_sizes, rng)
            gains = np.full(indices.size, np.nan)
        else:
            features = self._selection_features(X, y)
            if self.method == "facility_location":
                result = select_coreset(
                    features, 0, labels=encoded, class_budgets=quotas,
                    metric=self.metric, optimizer=self.optimizer,
                    epsilon=self.epsilon, random_state=rng)
                indices, weights, gains = result.indices, result.weights, result.gains
            else:
                indices, weights, gains = self._crest_coreset(
                    features, encoded, quotas, class_sizes, rng)
        self.sample_indices_ = indices
        self.sample_weight_ = weights
        self.gains_ = gains
        return indices

    def fit_resample_continuous(self, X, y):
        """Keep a weighted coreset for a regression target.

        There are no classes to split the budget over: facility location (or
        the random or CREST-style selection of ``method``) runs on all rows
        as one ground set, on the features that ``features`` names, and ``y``
        is only carried along. :class:`CoresetTrainer` calls this for a
        regressor, or for any continuous target.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Numeric targets.

        Returns
        -------
        X_resampled, y_resampled
            The kept rows; ``sample_weight_`` holds their weights.
        """
        self._validate_params()
        if self.sampling_strategy != "auto":
            raise ValueError(
                "sampling_strategy gives counts per class, and a regression "
                "target has no classes; leave it at 'auto' and size the coreset "
                "with coreset_size.")
        if isinstance(self.features, str) and self.features == "gradient":
            raise ValueError(
                "features='gradient' is the gradient proxy of a classifier "
                "(predict_proba - onehot(y)) and has no meaning for a regression "
                "target; use features='input' or a callable.")
        # Validated copies for the selection; the kept rows are indexed from
        # the input itself, so a DataFrame stays a DataFrame (column names
        # reach the estimator, and column selection by name still works).
        original_X, original_y = X, y
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             y_numeric=True, dtype=None)
        n_samples = X.shape[0]
        # All rows are one ground set: the class path with a single class.
        budget = np.array([_as_count(self.coreset_size, n_samples, "coreset_size")])
        indices = self._select(X, y, np.zeros(n_samples, dtype=np.int64), budget,
                               np.array([n_samples]), check_random_state(self.random_state))
        return _safe_indexing(original_X, indices), _safe_indexing(original_y, indices)

    def _crest_coreset(self, features, encoded, quotas, class_sizes, rng):
        """Union of mini-batch coresets, each from its own random subset."""
        n_samples = encoded.shape[0]
        total = int(quotas.sum())
        n_coresets = math.ceil(total / self.batch_size)
        if self.random_subset_size == "auto":
            subset_size = max(2 * self.batch_size,
                              _as_count(_AUTO_SUBSET_FRACTION, n_samples,
                                        "random_subset_size"))
        else:
            subset_size = _as_count(self.random_subset_size, n_samples,
                                    "random_subset_size")
        if subset_size < 2 * self.batch_size:
            user_warnings.warn(
                f"random_subset_size={self.random_subset_size!r} gives random subsets "
                f"of {subset_size} samples, too few to choose a coreset of "
                f"batch_size={self.batch_size} from; using "
                f"{2 * self.batch_size} (raise random_subset_size to at least "
                f"{2 * self.batch_size}, or lower batch_size, to silence this).")
            subset_size = 2 * self.batch_size
        # Each class contributes to the drawn subsets in proportion to its size,
        # never less than its quota; the draws of a class are then split into
        # n_coresets disjoint parts, so the coresets cannot repeat a sample.
        drawn = min(n_samples, n_coresets * subset_size)
        per_class = np.minimum(
            class_sizes,
            np.maximum(quotas, np.round(drawn * class_sizes / n_samples).astype(int)))
        # Subset j is the j-th part of every class's draw; each class's quota
        # is split over its parts in proportion to their sizes.
        subsets = [[] for _ in range(n_coresets)]
        quotas_of_subsets = [[] for _ in range(n_coresets)]
        for label, (count, quota) in enumerate(zip(per_class, quotas)):
            members = rng.permutation(np.flatnonzero(encoded == label))[:count]
            parts = np.array_split(members, n_coresets)
            part_quotas = allocate_budget([len(p) for p in parts], int(quota),
                                          "proportional")
            for j, (part, part_quota) in enumerate(zip(parts, part_quotas)):
                subsets[j].append(part)
                quotas_of_subsets[j].append(int(part_quota))
        solved = minibatch_coresets(
            features, subsets, quotas_of_subsets, metric=self.metric,
            optimizer=self.optimizer, epsilon=self.epsilon, random_state=rng)
        indices = np.concatenate([s[0] for s in solved]).astype(np.int64)
        weights = np.concatenate([s[1] for s in solved])
        gains = np.concatenate([s[2] for s in solved])
        labels_of_selected = encoded[indices]
        # A coreset represents its random subset; scale each class's cluster
        # sizes so that they represent the whole class.
        for label in np.unique(labels_of_selected):
            mask = labels_of_selected == label
            weights[mask] *= class_sizes[label] / weights[mask].sum()
        order = np.argsort(labels_of_selected, kind="stable")
        return indices[order], weights[order], gains[order]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.sampler_tags.sample_indices = True
        tags.input_tags.allow_nan = False
        return tags


def _as_count(size, n_samples, name):
    """A fraction in (0, 1] or a count, as a count checked against the data."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        count = int(size)
        if count > n_samples:
            raise ValueError(
                f"{name}={count} asks for more samples than the {n_samples} "
                f"available; pass a count of at most {n_samples} or a fraction "
                "in (0, 1].")
        return count
    return max(1, int(math.floor(size * n_samples + 0.5)))


def _random_coreset(encoded, quotas, class_sizes, rng):
    """Uniform random points per class, weighted by the inverse sampling rate."""
    index_parts, weight_parts = [], []
    for label, quota in enumerate(quotas):
        if quota == 0:
            continue
        members = np.flatnonzero(encoded == label)
        chosen = np.sort(rng.choice(members, size=int(quota), replace=False))
        index_parts.append(chosen)
        weight_parts.append(np.full(int(quota), class_sizes[label] / quota))
    return (np.concatenate(index_parts).astype(np.int64),
            np.concatenate(weight_parts))
