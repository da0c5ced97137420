"""CoresetTrainer: weights reach the estimator, delegation, pipelines, search."""

import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.under_sampling import RandomUnderSampler
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sklearn_crest import CoresetSelector, CoresetTrainer


class WeightRecorder(ClassifierMixin, BaseEstimator):
    """Predicts the weighted majority class and records what fit received."""

    def fit(self, X, y, sample_weight=None):
        self.X_seen_ = np.array(X, copy=True)
        self.y_seen_ = np.array(y, copy=True)
        self.sample_weight_seen_ = (None if sample_weight is None
                                    else np.array(sample_weight, copy=True))
        self.classes_, encoded = np.unique(y, return_inverse=True)
        weights = np.ones(len(y)) if sample_weight is None else sample_weight
        self.majority_ = self.classes_[np.argmax(np.bincount(encoded, weights))]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


@pytest.fixture(scope="module")
def data():
    return make_classification(400, n_features=10, n_informative=6, n_classes=3,
                               random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def test_estimator_receives_the_coreset_and_its_weights(data):
    X, y = data
    trainer = CoresetTrainer(WeightRecorder(),
                             CoresetSelector(coreset_size=0.1, random_state=0))
    trainer.fit(X, y)
    selector, estimator = trainer.selector_, trainer.estimator_
    assert len(selector.sample_indices_) == 40
    np.testing.assert_array_equal(estimator.X_seen_, X[selector.sample_indices_])
    np.testing.assert_array_equal(estimator.y_seen_, y[selector.sample_indices_])
    np.testing.assert_array_equal(estimator.sample_weight_seen_,
                                  selector.sample_weight_)
    assert estimator.sample_weight_seen_.sum() == 400
    # The parameters are cloned, not fitted in place.
    assert trainer.estimator_ is not trainer.estimator
    assert trainer.selector_ is not trainer.selector
    assert not hasattr(trainer.estimator, "X_seen_")
    assert not hasattr(trainer.selector, "sample_indices_")


def test_weights_change_the_majority(data):
    X, y = data
    # Class 0 has 3 coreset points standing for 300; class 1 has 10 standing
    # for 10. Weighted, class 0 wins; unweighted, class 1 does.
    y = np.repeat([0, 1], [300, 100])
    selector = CoresetSelector(sampling_strategy={0: 3, 1: 10}, random_state=0)
    weighted = CoresetTrainer(WeightRecorder(), selector).fit(X, y)
    unweighted = CoresetTrainer(WeightRecorder(), selector, weighted=False).fit(X, y)
    assert weighted.estimator_.majority_ == 0
    assert unweighted.estimator_.majority_ == 1
    assert unweighted.estimator_.sample_weight_seen_ is None
    np.testing.assert_array_equal(weighted.predict(X[:5]), [0] * 5)


def test_same_model_as_fitting_by_hand(data):
    X, y = data
    selector = CoresetSelector(coreset_size=0.2, random_state=0)
    trainer = CoresetTrainer(LogisticRegression(max_iter=500), selector).fit(X, y)
    reference = clone(selector)
    X_core, y_core = reference.fit_resample(X, y)
    by_hand = LogisticRegression(max_iter=500).fit(
        X_core, y_core, sample_weight=reference.sample_weight_)
    np.testing.assert_allclose(trainer.estimator_.coef_, by_hand.coef_)
    unweighted = CoresetTrainer(LogisticRegression(max_iter=500), selector,
                                weighted=False).fit(X, y)
    plain = LogisticRegression(max_iter=500).fit(X_core, y_core)
    np.testing.assert_allclose(unweighted.estimator_.coef_, plain.coef_)
    assert not np.allclose(unweighted.estimator_.coef_, trainer.estimator_.coef_)


def test_estimator_without_sample_weight_needs_weighted_false(data):
    X, y = data
    trainer = CoresetTrainer(KNeighborsClassifier(), CoresetSelector(random_state=0))
    with pytest.raises(TypeError, match="KNeighborsClassifier.*weighted=False"):
        trainer.fit(X, y)
    trainer.set_params(weighted=False).fit(X, y)
    assert trainer.estimator_.n_samples_fit_ == 40


def test_selector_without_sample_weight(data):
    X, y = data
    trainer = CoresetTrainer(LogisticRegression(), RandomUnderSampler(random_state=0))
    with pytest.raises(TypeError, match="sets no sample_weight_.*weighted=False"):
        trainer.fit(X, y)
    trainer.set_params(weighted=False).fit(X, y)
    assert trainer.score(X, y) > 0.5


def test_invalid_parameters(data):
    X, y = data
    with pytest.raises(ValueError, match="'weighted' parameter"):
        CoresetTrainer(LogisticRegression(), weighted="yes").fit(X, y)
    with pytest.raises(ValueError, match="'selector' parameter"):
        CoresetTrainer(LogisticRegression(), selector=StandardScaler()).fit(X, y)
    with pytest.raises(ValueError, match="'estimator' parameter"):
        CoresetTrainer("logreg").fit(X, y)
    # The selector validates its own parameters.
    with pytest.raises(ValueError, match="'coreset_size' parameter"):
        CoresetTrainer(LogisticRegression(),
                       CoresetSelector(coreset_size=2.0)).fit(X, y)


def test_delegation(data):
    X, y = data
    trainer = CoresetTrainer(LogisticRegression(max_iter=500),
                             CoresetSelector(coreset_size=0.3, random_state=0))
    trainer.fit(X, y)
    estimator = trainer.estimator_
    np.testing.assert_array_equal(trainer.classes_, [0, 1, 2])
    np.testing.assert_array_equal(trainer.predict(X), estimator.predict(X))
    np.testing.assert_allclose(trainer.predict_proba(X), estimator.predict_proba(X))
    np.testing.assert_allclose(trainer.predict_log_proba(X),
                               estimator.predict_log_proba(X))
    np.testing.assert_allclose(trainer.decision_function(X),
                               estimator.decision_function(X))
    accuracy = np.mean(estimator.predict(X) == y)
    assert trainer.score(X, y) == pytest.approx(accuracy)
    assert accuracy > 0.6
    weights = np.where(y == 0, 1.0, 0.0)
    assert trainer.score(X, y, sample_weight=weights) == pytest.approx(
        np.mean(estimator.predict(X)[y == 0] == 0))


def test_methods_the_estimator_lacks_are_absent(data):
    X, y = data
    knn = CoresetTrainer(KNeighborsClassifier(), weighted=False)
    assert hasattr(knn, "predict") and hasattr(knn, "predict_proba")
    assert not hasattr(knn, "decision_function")
    knn.fit(X, y)
    assert not hasattr(knn, "decision_function")
    svc = CoresetTrainer(LinearSVC())
    assert hasattr(svc, "decision_function")
    assert not hasattr(svc, "predict_proba")
    assert not hasattr(svc, "predict_log_proba")
    svc.fit(X, y)
    assert not hasattr(svc, "predict_proba")
    assert svc.decision_function(X).shape == (400, 3)


def test_predict_before_fit_raises(data):
    X, _ = data
    trainer = CoresetTrainer(LogisticRegression())
    with pytest.raises(NotFittedError):
        trainer.predict(X)
    with pytest.raises(NotFittedError):
        trainer.predict_proba(X)
    with pytest.raises(NotFittedError):
        trainer.classes_


def test_default_selector(digits):
    X, y = digits
    trainer = CoresetTrainer(LogisticRegression(max_iter=2000)).fit(X, y)
    assert trainer.selector is None
    assert isinstance(trainer.selector_, CoresetSelector)
    assert len(trainer.selector_.sample_indices_) == 180  # coreset_size=0.1
    np.testing.assert_array_equal(trainer.estimator_.classes_, np.arange(10))
    assert trainer.score(X, y) > 0.85


def test_string_labels_round_trip(data):
    X, y = data
    names = np.array(["cat", "ant", "dog"])
    labels = names[y]
    trainer = CoresetTrainer(LogisticRegression(max_iter=500),
                             CoresetSelector(coreset_size=0.2, random_state=0))
    trainer.fit(X, labels)
    np.testing.assert_array_equal(trainer.classes_, ["ant", "cat", "dog"])
    predictions = trainer.predict(X)
    assert set(predictions) == {"ant", "cat", "dog"}
    numeric = CoresetTrainer(LogisticRegression(max_iter=500),
                             CoresetSelector(coreset_size=0.2, random_state=0))
    numeric.fit(X, y)
    # "ant" is class 1, "cat" class 0: same coreset, same model up to relabelling.
    np.testing.assert_array_equal(predictions, names[numeric.predict(X)])


def test_column_vector_y(data):
    X, y = data
    trainer = CoresetTrainer(LogisticRegression(max_iter=500),
                             CoresetSelector(random_state=0))
    with pytest.warns(DataConversionWarning):
        trainer.fit(X, y.reshape(-1, 1))
    assert trainer.predict(X).shape == (400,)


def test_feature_names_and_counts(data):
    X, y = data
    trainer = CoresetTrainer(LogisticRegression(max_iter=500),
                             CoresetSelector(random_state=0))
    trainer.fit(X, y)
    assert trainer.n_features_in_ == 10
    assert not hasattr(trainer, "feature_names_in_")
    numpy_predictions = trainer.predict(X)
    columns = [f"f{i}" for i in range(10)]
    X_df = pd.DataFrame(X, columns=columns)
    trainer.fit(X_df, pd.Series(y))
    assert trainer.n_features_in_ == 10
    np.testing.assert_array_equal(trainer.feature_names_in_, columns)
    np.testing.assert_array_equal(trainer.estimator_.feature_names_in_, columns)
    np.testing.assert_array_equal(trainer.predict(X_df), numpy_predictions)


def test_sparse_input(data):
    X, y = data
    dense = CoresetTrainer(LogisticRegression(max_iter=500),
                           CoresetSelector(random_state=0)).fit(X, y)
    sparse_trainer = CoresetTrainer(LogisticRegression(max_iter=500),
                                    CoresetSelector(random_state=0))
    sparse_trainer.fit(sparse.csr_matrix(X), y)
    np.testing.assert_array_equal(sparse_trainer.selector_.sample_indices_,
                                  dense.selector_.sample_indices_)
    np.testing.assert_allclose(sparse_trainer.estimator_.coef_,
                               dense.estimator_.coef_, rtol=1e-4, atol=1e-6)


def test_last_step_of_sklearn_pipeline(digits):
    X, y = digits
    pipeline = make_pipeline(
        StandardScaler(),
        CoresetTrainer(LogisticRegression(max_iter=2000),
                       CoresetSelector(coreset_size=0.1, random_state=0)))
    pipeline.fit(X, y)
    trainer = pipeline[-1]
    # The coreset is chosen on the scaled features.
    scaled = StandardScaler().fit_transform(X)
    reference = CoresetSelector(coreset_size=0.1, random_state=0)
    reference.fit_resample(scaled, y)
    np.testing.assert_array_equal(trainer.selector_.sample_indices_,
                                  reference.sample_indices_)
    assert pipeline.predict_proba(X).shape == (1797, 10)
    assert pipeline.score(X, y) > 0.85


def test_grid_search_over_coreset_size(data):
    X, y = data
    pipeline = Pipeline([
        ("standardscaler", StandardScaler()),
        ("coresettrainer", CoresetTrainer(LogisticRegression(max_iter=500),
                                          CoresetSelector(random_state=0))),
    ])
    grid = [0.05, 0.2, 0.6]
    # The default error_score turns a failed fit into NaN scores.
    search = GridSearchCV(pipeline, {"coresettrainer__selector__coreset_size": grid},
                          cv=3)
    search.fit(X, y)
    best = search.best_params_["coresettrainer__selector__coreset_size"]
    assert best in grid
    results = search.cv_results_
    for key in ["mean_test_score", "split0_test_score", "split1_test_score",
                "split2_test_score"]:
        assert not np.isnan(results[key]).any()
    np.testing.assert_array_equal(
        results["param_coresettrainer__selector__coreset_size"], grid)
    refitted = search.best_estimator_[-1]
    assert refitted.selector_.coreset_size == best
    assert len(refitted.selector_.sample_indices_) == round(best * 400)


# ------------------------------------------------------------------ regression
def test_a_regressor_gets_one_ground_set_not_one_class_per_target_value():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    X, y = load_diabetes(return_X_y=True)  # 214 distinct integer targets
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CoresetTrainer(LinearRegression()).fit(X, y)
    kept = model.selector_.sample_indices_
    assert len(kept) == round(0.1 * len(y))  # 10%, not one row per target value
    assert model.selector_.sample_weight_.sum() == pytest.approx(len(y))
    np.testing.assert_allclose(model.predict(X[:5]),
                               model.estimator_.predict(X[:5]))


@pytest.mark.parametrize("method", ["facility_location", "random", "crest"])
def test_continuous_targets_train_a_regressor_on_a_weighted_coreset(method):
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    X, y = make_regression(400, 5, noise=1.0, random_state=0)
    selector = CoresetSelector(method=method, coreset_size=0.2, batch_size=16,
                               random_subset_size=40, random_state=0)
    model = CoresetTrainer(Ridge(), selector).fit(X, y)
    assert len(model.selector_.sample_indices_) == 80
    assert model.score(X, y) > 0.99
    # The kept rows carry their own targets.
    np.testing.assert_array_equal(
        model.selector_.fit_resample_continuous(X, y)[1],
        y[model.selector_.sample_indices_])


def test_regression_refuses_what_only_classes_mean():
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    X, y = make_regression(100, 3, random_state=0)
    with pytest.raises(ValueError, match="features='gradient'"):
        CoresetTrainer(Ridge(), CoresetSelector(features="gradient")).fit(X, y)
    with pytest.raises(ValueError, match="sampling_strategy"):
        CoresetTrainer(Ridge(), CoresetSelector(sampling_strategy={0: 3})).fit(X, y)
    # A sampler that splits by class cannot serve a regressor.
    with pytest.raises(TypeError, match="regression target"):
        CoresetTrainer(Ridge(), RandomUnderSampler(), weighted=False).fit(X, y)


def test_a_regression_coreset_keeps_dataframe_columns():
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    X, y = make_regression(200, 3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = CoresetTrainer(Ridge()).fit(frame, y)
    np.testing.assert_array_equal(model.estimator_.feature_names_in_, ["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names"
        model.predict(frame)
    # Column selection by name downstream still sees a DataFrame.
    by_name = CoresetTrainer(make_pipeline(
        ColumnTransformer([("keep", "passthrough", ["a", "b"])]), Ridge()),
        weighted=False)
    assert by_name.fit(frame, y).predict(frame).shape == (200,)
