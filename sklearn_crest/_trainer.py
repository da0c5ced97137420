"""CoresetTrainer: fit any scikit-learn estimator on a weighted coreset."""

import copy
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    _fit_context,
    clone,
    is_classifier,
    is_regressor,
)
from sklearn.utils import get_tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    has_fit_parameter,
)

from ._selector import CoresetSelector


def _estimator_has(attribute):
    """Delegate ``attribute`` when the (fitted or unfitted) estimator has it."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attribute)
        return hasattr(self.estimator, attribute)

    return check


class CoresetTrainer(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator on the weighted coreset that a selector keeps.

    A plain :class:`sklearn.pipeline.Pipeline` cannot drop rows between steps
    (a transformer must keep the number of samples), so a coreset cannot be a
    pipeline step there. ``CoresetTrainer`` is the pipeline's last step
    instead: at ``fit`` it runs ``selector.fit_resample`` and fits a clone of
    ``estimator`` on the kept rows with ``sample_weight=selector.sample_weight_``;
    at predict time it only delegates to that fitted estimator.

    For a regressor (or, for an estimator that is neither a classifier nor a
    regressor, a continuous target) there are no classes to split the budget
    over: the selector's :meth:`~CoresetSelector.fit_resample_continuous`
    keeps ``coreset_size`` rows of the whole set, chosen on the features
    alone (``features="input"`` or a callable), each weighted by the rows it
    stands for. A regressor's integer targets are values, not classes.

    Parameters
    ----------
    estimator : estimator object
        The model fitted on the coreset. Its ``fit`` must take
        ``sample_weight`` unless ``weighted=False``.
    selector : sampler with fit_resample, default=None
        Chooses the coreset and must set ``sample_weight_`` when ``weighted``
        is True. None means ``CoresetSelector()``. Tune it with
        ``selector__coreset_size`` style parameters.
    weighted : bool, default=True
        Pass the coreset weights to ``estimator.fit``. False fits on the kept
        rows with unit weights, for estimators without ``sample_weight``.

    Attributes
    ----------
    selector_ : sampler
        The fitted clone of ``selector``.
    estimator_ : estimator
        The clone of ``estimator`` fitted on the coreset.
    classes_ : ndarray
        Class labels of ``estimator_`` (classifiers only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    CoresetSelector : The default selector, also usable in imbalanced-learn
        pipelines.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_crest import CoresetSelector, CoresetTrainer
    >>> X, y = load_digits(return_X_y=True)
    >>> model = CoresetTrainer(LogisticRegression(max_iter=2000),
    ...                        CoresetSelector(coreset_size=0.2, random_state=0))
    >>> model.fit(X, y).estimator_.n_features_in_
    64
    >>> len(model.selector_.sample_indices_)
    359
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "selector": [HasMethods(["fit_resample"]), None],
        "weighted": ["boolean"],
    }

    def __init__(self, estimator, selector=None, *, weighted=True):
        self.estimator = estimator
        self.selector = selector
        self.weighted = weighted

    # The selector and the estimator validate their own parameters.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Select the coreset of (X, y) and fit the estimator on it.

        Parameters
        ----------
        X : {array-like, sparse matrix, dataframe} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : CoresetTrainer
        """
        shape = getattr(y, "shape", ())
        if len(shape) == 2 and shape[1] == 1:
            # What any scikit-learn classifier does with a column vector.
            y = column_or_1d(y, warn=True)
        estimator = clone(self.estimator)
        if self.weighted and not has_fit_parameter(estimator, "sample_weight"):
            raise TypeError(
                f"{type(estimator).__name__}.fit does not accept sample_weight, so "
                "the coreset weights cannot reach it; pass weighted=False to fit "
                "it on the coreset with unit weights.")
        selector = CoresetSelector() if self.selector is None else self.selector
        selector = clone(selector)
        if _is_regression(estimator, y):
            if not hasattr(selector, "fit_resample_continuous"):
                raise TypeError(
                    f"{type(estimator).__name__} fits a regression target, which "
                    f"{type(selector).__name__} cannot select for (samplers "
                    "split by class); use a CoresetSelector.")
            X_core, y_core = selector.fit_resample_continuous(X, y)
        else:
            X_core, y_core = selector.fit_resample(X, y)
        if self.weighted:
            weights = getattr(selector, "sample_weight_", None)
            if weights is None:
                raise TypeError(
                    f"{type(selector).__name__} sets no sample_weight_ after "
                    "fit_resample; use a CoresetSelector or pass weighted=False.")
            estimator.fit(X_core, y_core, sample_weight=weights)
        else:
            estimator.fit(X_core, y_core)
        self.selector_ = selector
        self.estimator_ = estimator
        self.n_features_in_ = selector.n_features_in_
        if hasattr(selector, "feature_names_in_"):
            self.feature_names_in_ = selector.feature_names_in_
        return self

    @property
    def classes_(self):
        """Class labels of the fitted estimator."""
        check_is_fitted(self)
        return self.estimator_.classes_

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with the estimator fitted on the coreset."""
        check_is_fitted(self)
        _refuse_non_finite(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the estimator fitted on the coreset."""
        check_is_fitted(self)
        _refuse_non_finite(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities from the estimator fitted on the coreset."""
        check_is_fitted(self)
        _refuse_non_finite(X)
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the estimator fitted on the coreset."""
        check_is_fitted(self)
        _refuse_non_finite(X)
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """Score of the estimator fitted on the coreset (e.g. accuracy)."""
        check_is_fitted(self)
        _refuse_non_finite(X)
        if sample_weight is None:
            return self.estimator_.score(X, y)
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator_tags = get_tags(self.estimator)
        tags.estimator_type = estimator_tags.estimator_type
        tags.classifier_tags = estimator_tags.classifier_tags
        if tags.classifier_tags is not None:
            # The selector takes one label per sample (imbalanced-learn's
            # samplers refuse multilabel targets), whatever the estimator can.
            tags.classifier_tags = copy.copy(tags.classifier_tags)
            tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        tags.target_tags.required = True
        tags.input_tags.sparse = estimator_tags.input_tags.sparse
        tags.input_tags.allow_nan = False
        return tags


def _refuse_non_finite(X):
    """Raise on NaN or infinity, as fit does (the selector measures distances
    between samples, which NaN makes meaningless); X itself goes to the
    estimator unchanged, feature names included."""
    check_array(X, accept_sparse=True, dtype=None, ensure_2d=False, allow_nd=True,
                ensure_all_finite=True, input_name="X")


def _is_regression(estimator, y):
    """A regressor, or (for an estimator that is neither) a continuous
    target: the coreset then has one ground set instead of one per class. A
    regressor's integer targets (scikit-learn's diabetes: 214 distinct
    values) are values, not classes."""
    if is_regressor(estimator):
        return True
    if is_classifier(estimator):
        return False
    return type_of_target(y) in ("continuous", "continuous-multioutput")
