"""CoresetSelector: budgets, weights, input types, errors and the three methods."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from imblearn.pipeline import Pipeline
from scipy import sparse
from sklearn.datasets import load_digits, make_blobs, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.naive_bayes import GaussianNB

from sklearn_crest import CoresetSelector, CoresetTrainer
from sklearn_crest._coresets.facility_location import allocate_budget

METHODS = ["facility_location", "random", "crest"]


def crest_selector(**params):
    """A CREST selector whose random subsets are large enough not to warn."""
    params.setdefault("batch_size", 16)
    params.setdefault("random_subset_size", 0.2)
    return CoresetSelector(method="crest", **params)


def make_selector(method, **params):
    if method == "crest":
        return crest_selector(**params)
    return CoresetSelector(method=method, **params)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def imbalanced():
    """Three blob classes of 200, 80 and 20 points (no duplicated rows)."""
    rng = np.random.RandomState(0)
    X, _ = make_blobs(300, n_features=4, centers=6, random_state=0)
    y = np.repeat([0, 1, 2], [200, 80, 20])
    permutation = rng.permutation(300)
    return X[permutation], y[permutation]


def per_class_counts(selector, y):
    classes = np.unique(y)
    selected = y[selector.sample_indices_]
    return np.array([(selected == c).sum() for c in classes])


def check_weights(selector, y):
    """Weights sum to each class size and to n; indices are unique."""
    indices, weights = selector.sample_indices_, selector.sample_weight_
    assert indices.shape == weights.shape
    assert len(np.unique(indices)) == len(indices)
    assert ((indices >= 0) & (indices < len(y))).all()
    assert (weights >= 0).all()
    for label in np.unique(y):
        mask = y[indices] == label
        assert weights[mask].sum() == pytest.approx((y == label).sum())
    assert weights.sum() == pytest.approx(len(y))


# --------------------------------------------------------------------------
# Budgets and weights
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("coreset_size, expected", [(0.1, 180), (50, 50), (10, 10)])
def test_exact_budget(digits, method, coreset_size, expected):
    X, y = digits
    selector = make_selector(method, coreset_size=coreset_size, random_state=0)
    X_res, y_res = selector.fit_resample(X, y)
    assert X_res.shape == (expected, 64)
    assert y_res.shape == (expected,)
    assert selector.sample_indices_.shape == (expected,)
    np.testing.assert_array_equal(X_res, X[selector.sample_indices_])
    np.testing.assert_array_equal(y_res, y[selector.sample_indices_])
    check_weights(selector, y)
    # Every class keeps a sample, even at one sample per class.
    assert set(y_res) == set(y)


@pytest.mark.parametrize("method", METHODS)
def test_a_budget_below_the_class_count_keeps_one_sample_per_class(digits, method):
    X, y = digits
    selector = make_selector(method, coreset_size=1e-6, random_state=0)
    with pytest.warns(UserWarning, match="fewer than the 10 classes"):
        _, y_res = selector.fit_resample(X, y)
    assert sorted(y_res) == list(range(10))


@pytest.mark.parametrize("method", METHODS)
def test_class_balance(imbalanced, method):
    X, y = imbalanced
    cases = [
        ("proportional", 60, [40, 16, 4]),
        ("balanced", 60, [20, 20, 20]),
        # 30 each does not fit the 20-point class: it is capped, and the other
        # 10 points are split over the other two classes.
        ("balanced", 90, [35, 35, 20]),
        ("proportional", 300, [200, 80, 20]),
    ]
    for class_balance, coreset_size, expected in cases:
        selector = make_selector(method, coreset_size=coreset_size,
                                 class_balance=class_balance, random_state=0)
        X_res, y_res = selector.fit_resample(X, y)
        np.testing.assert_array_equal(per_class_counts(selector, y), expected)
        np.testing.assert_array_equal(X_res, X[selector.sample_indices_])
        check_weights(selector, y)


def test_quota_matches_allocate_budget(digits):
    X, y = digits
    sizes = np.bincount(y)
    for class_balance in ["proportional", "balanced"]:
        selector = CoresetSelector(coreset_size=0.07, class_balance=class_balance)
        selector.fit_resample(X, y)
        np.testing.assert_array_equal(
            per_class_counts(selector, y),
            allocate_budget(sizes, round(0.07 * len(y)), class_balance))
        # Classes come out in sorted label order.
        assert (np.diff(y[selector.sample_indices_]) >= 0).all()


def test_random_weights_are_inverse_sampling_rate(imbalanced):
    X, y = imbalanced
    selector = CoresetSelector(method="random", coreset_size=60, random_state=0)
    selector.fit_resample(X, y)
    expected = {0: 200 / 40, 1: 80 / 16, 2: 20 / 4}
    for label, weight in expected.items():
        mask = y[selector.sample_indices_] == label
        np.testing.assert_allclose(selector.sample_weight_[mask], weight)
    assert np.isnan(selector.gains_).all()


def test_facility_location_gains_and_weights_are_integers(digits):
    X, y = digits
    selector = CoresetSelector(coreset_size=0.1)
    selector.fit_resample(X, y)
    weights = selector.sample_weight_
    np.testing.assert_array_equal(weights, np.round(weights))
    assert (weights >= 1).all()  # no duplicated rows of a class were chosen
    assert np.isfinite(selector.gains_).all() and (selector.gains_ > 0).all()
    for label in range(10):
        gains = selector.gains_[y[selector.sample_indices_] == label]
        assert (np.diff(gains) <= 1e-9).all()  # greedy gains never increase


def test_facility_location_picks_one_point_per_blob():
    # Each class is a big and a small tight blob, far from everything else.
    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [50.0, 50.0]])
    sizes = [90, 10, 70, 30]
    blob = np.repeat(np.arange(4), sizes)
    X = centers[blob] + 0.5 * rng.randn(200, 2)
    y = np.where(blob < 2, "a", "b")
    selector = CoresetSelector(coreset_size=4, random_state=0)
    X_res, y_res = selector.fit_resample(X, y)
    np.testing.assert_array_equal(y_res, ["a", "a", "b", "b"])
    # One point of every blob, the bigger blob of each class first, and each
    # weighs its blob's size.
    np.testing.assert_array_equal(blob[selector.sample_indices_], [0, 1, 2, 3])
    np.testing.assert_array_equal(selector.sample_weight_, sizes)


def test_large_class_with_duplicated_rows_keeps_unique_indices():
    # A class above the batched size (256) goes through the lazy greedy; with
    # duplicated rows its gains reach zero before the budget is spent.
    rng = np.random.RandomState(0)
    X = rng.randn(20, 2)[np.arange(600) % 20]
    y = np.repeat([0, 1], 300)
    selector = CoresetSelector(coreset_size=0.9, random_state=0)
    X_res, _ = selector.fit_resample(X, y)
    assert X_res.shape == (540, 2)
    check_weights(selector, y)


# --------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_under_random_state(digits, method):
    X, y = digits
    first = make_selector(method, coreset_size=0.1, random_state=3)
    second = make_selector(method, coreset_size=0.1, random_state=3)
    first.fit_resample(X, y)
    second.fit_resample(X, y)
    np.testing.assert_array_equal(first.sample_indices_, second.sample_indices_)
    np.testing.assert_array_equal(first.sample_weight_, second.sample_weight_)
    # Refitting with the same int seed gives the same coreset again.
    first.fit_resample(X, y)
    np.testing.assert_array_equal(first.sample_indices_, second.sample_indices_)


@pytest.mark.parametrize("method", ["random", "crest"])
def test_different_random_state_gives_different_coreset(digits, method):
    X, y = digits
    one = make_selector(method, coreset_size=0.1, random_state=0)
    two = make_selector(method, coreset_size=0.1, random_state=1)
    one.fit_resample(X, y)
    two.fit_resample(X, y)
    assert set(one.sample_indices_) != set(two.sample_indices_)


def test_stochastic_optimizer_exact_and_deterministic(digits):
    X, y = digits
    first = CoresetSelector(coreset_size=0.1, optimizer="stochastic", random_state=0)
    again = CoresetSelector(coreset_size=0.1, optimizer="stochastic", random_state=0)
    first.fit_resample(X, y)
    again.fit_resample(X, y)
    np.testing.assert_array_equal(first.sample_indices_, again.sample_indices_)
    assert len(first.sample_indices_) == 180
    check_weights(first, y)


# --------------------------------------------------------------------------
# Input types
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_torch_tensor_input_gives_same_selection(digits, method):
    X, y = digits
    reference = make_selector(method, coreset_size=0.1, random_state=0)
    reference.fit_resample(X, y)
    for X_in in [torch.from_numpy(X), torch.from_numpy(X.astype(np.float32))]:
        selector = make_selector(method, coreset_size=0.1, random_state=0)
        X_res, y_res = selector.fit_resample(X_in, y)
        np.testing.assert_array_equal(selector.sample_indices_,
                                      reference.sample_indices_)
        np.testing.assert_array_equal(selector.sample_weight_,
                                      reference.sample_weight_)
        np.testing.assert_allclose(np.asarray(X_res), X[reference.sample_indices_])


def test_pandas_in_pandas_out(digits):
    X, y = digits
    columns = [f"pixel_{i}" for i in range(X.shape[1])]
    X_df = pd.DataFrame(X, columns=columns)
    y_series = pd.Series(y, name="digit")
    selector = CoresetSelector(coreset_size=0.1, random_state=0)
    X_res, y_res = selector.fit_resample(X_df, y_series)
    assert isinstance(X_res, pd.DataFrame)
    assert isinstance(y_res, pd.Series)
    assert list(X_res.columns) == columns
    assert y_res.name == "digit"
    np.testing.assert_array_equal(selector.feature_names_in_, columns)
    assert selector.n_features_in_ == 64
    np.testing.assert_array_equal(X_res.to_numpy(),
                                  X_df.iloc[selector.sample_indices_].to_numpy())
    np.testing.assert_array_equal(y_res.to_numpy(), y[selector.sample_indices_])
    reference = CoresetSelector(coreset_size=0.1, random_state=0)
    reference.fit_resample(X, y)
    np.testing.assert_array_equal(selector.sample_indices_, reference.sample_indices_)
    assert not hasattr(reference, "feature_names_in_")


@pytest.mark.parametrize("method", METHODS)
def test_sparse_input_gives_same_selection_as_dense(digits, method):
    X, y = digits
    dense = make_selector(method, coreset_size=0.1, random_state=0)
    dense.fit_resample(X, y)
    selector = make_selector(method, coreset_size=0.1, random_state=0)
    X_res, y_res = selector.fit_resample(sparse.csr_matrix(X), y)
    assert sparse.issparse(X_res)
    np.testing.assert_array_equal(selector.sample_indices_, dense.sample_indices_)
    np.testing.assert_array_equal(selector.sample_weight_, dense.sample_weight_)
    np.testing.assert_array_equal(X_res.toarray(), X[dense.sample_indices_])


def test_string_labels(imbalanced):
    X, y = imbalanced
    labels = np.array(["zebra", "ant", "moth"])[y]
    selector = CoresetSelector(coreset_size=60, random_state=0)
    _, y_res = selector.fit_resample(X, labels)
    numeric = CoresetSelector(coreset_size=60, random_state=0)
    numeric.fit_resample(X, y)
    # Sorted classes: ant (80), moth (20), zebra (200).
    np.testing.assert_array_equal(np.unique(y_res, return_counts=True)[1],
                                  [16, 4, 40])
    np.testing.assert_array_equal(y_res, labels[selector.sample_indices_])
    np.testing.assert_array_equal(np.sort(selector.sample_indices_),
                                  np.sort(numeric.sample_indices_))


# --------------------------------------------------------------------------
# Pipelines and search
# --------------------------------------------------------------------------


def test_grid_search_in_imblearn_pipeline():
    X, y = make_classification(300, n_features=8, n_informative=5, n_classes=3,
                               random_state=0)
    pipeline = Pipeline([
        ("coreset", CoresetSelector(random_state=0)),
        ("model", LogisticRegression(max_iter=500)),
    ])
    grid = [0.1, 0.3, 60]
    search = GridSearchCV(pipeline, {"coreset__coreset_size": grid}, cv=3)
    search.fit(X, y)
    assert search.best_params_["coreset__coreset_size"] in grid
    assert not np.isnan(search.cv_results_["mean_test_score"]).any()
    # The refitted model was trained on the coreset of the whole set.
    assert len(search.best_estimator_["coreset"].sample_indices_) == round(
        search.best_params_["coreset__coreset_size"] * 300
        if isinstance(search.best_params_["coreset__coreset_size"], float)
        else search.best_params_["coreset__coreset_size"])


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad, match", [
    (np.nan, "Input X contains NaN"),
    (np.inf, "Input X contains infinity"),
])
def test_non_finite_X_raises(digits, bad, match):
    X, y = digits
    X = X.copy()
    X[5, 3] = bad
    with pytest.raises(ValueError, match=match):
        CoresetSelector().fit_resample(X, y)


def test_empty_X_raises():
    with pytest.raises(ValueError, match="0 sample"):
        CoresetSelector().fit_resample(np.empty((0, 3)), np.empty(0))


def test_single_class_raises(digits):
    X, y = digits
    with pytest.raises(ValueError, match="more than 1 class"):
        CoresetSelector().fit_resample(X, np.zeros_like(y))


def test_int_coreset_size_larger_than_n_raises(digits):
    X, y = digits
    with pytest.raises(ValueError, match="coreset_size=1798 asks for more"):
        CoresetSelector(coreset_size=1798).fit_resample(X, y)
    # Exactly n is allowed and keeps everything.
    selector = CoresetSelector(coreset_size=1797, method="random", random_state=0)
    selector.fit_resample(X, y)
    np.testing.assert_array_equal(np.sort(selector.sample_indices_), np.arange(1797))
    np.testing.assert_array_equal(selector.sample_weight_, 1.0)


@pytest.mark.parametrize("coreset_size", [-0.5, 0.0, 1.5, 0, -3, "half"])
def test_invalid_coreset_size_raises(digits, coreset_size):
    X, y = digits
    with pytest.raises(ValueError, match="'coreset_size' parameter"):
        CoresetSelector(coreset_size=coreset_size).fit_resample(X, y)


@pytest.mark.parametrize("features", [3, "pixels", None])
def test_invalid_features_raises(digits, features):
    X, y = digits
    with pytest.raises(ValueError, match="'features' parameter"):
        CoresetSelector(features=features).fit_resample(X, y)


@pytest.mark.parametrize("features, match", [
    (lambda X: X[:10], r"must return an array of shape \(n_samples"),
    (lambda X: X[:, 0], r"must return an array of shape \(n_samples"),
    (lambda X: np.full_like(X, np.nan), "returned NaN or infinite"),
    (lambda X: np.where(X > 15, np.inf, X), "returned NaN or infinite"),
    (lambda X: np.full(X.shape, "a"), "must return a numeric array"),
])
def test_bad_features_callable_raises(digits, features, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        CoresetSelector(features=features).fit_resample(X, y)


@pytest.mark.parametrize("strategy, match", [
    ({11: 3}, r"sampling_strategy names classes \[11\]"),
    ({1: 1000}, r"sampling_strategy\[1\] must be an int between 0 and the class"),
    ({1: -1}, r"sampling_strategy\[1\] must be an int"),
    ({1: 2.5}, r"sampling_strategy\[1\] must be an int"),
    ({label: 0 for label in range(10)}, "sampling_strategy keeps no sample"),
    ("majority", "'sampling_strategy' parameter"),
])
def test_invalid_sampling_strategy_raises(digits, strategy, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        CoresetSelector(sampling_strategy=strategy).fit_resample(X, y)


@pytest.mark.parametrize("param, value", [
    ("method", "kmeans"), ("metric", "manhattan"), ("class_balance", "equal"),
    ("optimizer", "naive"), ("epsilon", 0.0), ("batch_size", 0),
    ("random_subset_size", 1.5), ("estimator", "logreg"),
])
def test_invalid_parameters_name_the_parameter(digits, param, value):
    X, y = digits
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        CoresetSelector(**{param: value}).fit_resample(X, y)


# --------------------------------------------------------------------------
# sampling_strategy dict
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_sampling_strategy_dict_counts_and_whole_classes(imbalanced, method):
    X, y = imbalanced
    selector = make_selector(method, sampling_strategy={0: 7, 2: 3},
                             random_state=0)
    selector.fit_resample(X, y)
    np.testing.assert_array_equal(per_class_counts(selector, y), [7, 80, 3])
    kept_1 = selector.sample_indices_[y[selector.sample_indices_] == 1]
    np.testing.assert_array_equal(np.sort(kept_1), np.flatnonzero(y == 1))
    # A class kept whole: every point represents itself.
    np.testing.assert_allclose(
        selector.sample_weight_[y[selector.sample_indices_] == 1], 1.0)
    check_weights(selector, y)


def test_sampling_strategy_zero_drops_a_class(imbalanced):
    X, y = imbalanced
    selector = CoresetSelector(sampling_strategy={0: 5, 1: 0, 2: 0})
    _, y_res = selector.fit_resample(X, y)
    np.testing.assert_array_equal(y_res, [0] * 5)
    assert selector.sample_weight_.sum() == 200


# --------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------


def test_features_gradient_uses_the_estimator(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    gradient = CoresetSelector(features="gradient", estimator=GaussianNB(),
                               coreset_size=0.1, random_state=0)
    gradient.fit_resample(X, y)
    assert isinstance(gradient.estimator_, GaussianNB)
    assert gradient.estimator_ is not gradient.estimator
    assert not hasattr(gradient.estimator, "classes_")  # the clone was fitted
    np.testing.assert_array_equal(gradient.estimator_.classes_, np.arange(10))
    check_weights(gradient, y)

    # The same selection as the proxy predict_proba - onehot(y), passed by hand.
    def proxy(X_in):
        probabilities = GaussianNB().fit(X, y).predict_proba(X_in)
        return probabilities - np.eye(10)[y]

    by_hand = CoresetSelector(features=proxy, coreset_size=0.1, random_state=0)
    by_hand.fit_resample(X, y)
    np.testing.assert_array_equal(gradient.sample_indices_, by_hand.sample_indices_)

    on_input = CoresetSelector(coreset_size=0.1, random_state=0)
    on_input.fit_resample(X, y)
    assert set(on_input.sample_indices_) != set(gradient.sample_indices_)


def test_features_gradient_default_estimator(imbalanced):
    X, y = imbalanced
    selector = CoresetSelector(features="gradient", coreset_size=30, random_state=0)
    selector.fit_resample(X, y)
    assert isinstance(selector.estimator_, LogisticRegression)
    assert selector.estimator_.coef_.shape == (3, 4)
    assert len(selector.sample_indices_) == 30
    check_weights(selector, y)
    on_input = CoresetSelector(coreset_size=30)
    on_input.fit_resample(X, y)
    assert not hasattr(on_input, "estimator_")


def test_features_callable_is_used(digits):
    X, y = digits
    seen = []

    def first_two_columns(X_in):
        seen.append(X_in.shape)
        return X_in[:, 10:12]

    selector = CoresetSelector(features=first_two_columns, coreset_size=0.1,
                               random_state=0)
    X_res, _ = selector.fit_resample(X, y)
    assert seen == [X.shape]
    # Selecting on the two columns is selecting on X[:, 10:12] itself ...
    reference = CoresetSelector(coreset_size=0.1, random_state=0)
    reference.fit_resample(X[:, 10:12], y)
    np.testing.assert_array_equal(selector.sample_indices_, reference.sample_indices_)
    # ... while the output keeps every column of X.
    np.testing.assert_array_equal(X_res, X[selector.sample_indices_])
    on_input = CoresetSelector(coreset_size=0.1, random_state=0)
    on_input.fit_resample(X, y)
    assert set(on_input.sample_indices_) != set(selector.sample_indices_)


def test_features_callable_may_return_sparse(digits):
    X, y = digits
    selector = CoresetSelector(features=sparse.csr_matrix, coreset_size=0.1)
    selector.fit_resample(X, y)
    reference = CoresetSelector(coreset_size=0.1)
    reference.fit_resample(X, y)
    np.testing.assert_array_equal(selector.sample_indices_, reference.sample_indices_)


def test_cosine_metric_changes_selection(digits):
    X, y = digits
    cosine = CoresetSelector(coreset_size=0.1, metric="cosine")
    cosine.fit_resample(X, y)
    euclidean = CoresetSelector(coreset_size=0.1)
    euclidean.fit_resample(X, y)
    check_weights(cosine, y)
    assert set(cosine.sample_indices_) != set(euclidean.sample_indices_)


# --------------------------------------------------------------------------
# CREST
# --------------------------------------------------------------------------


def test_crest_warns_when_random_subsets_are_too_small(digits):
    X, y = digits
    # 5% of 1797 is 90 samples, fewer than 2 * batch_size = 128.
    selector = CoresetSelector(method="crest", coreset_size=0.1,
                               random_subset_size=0.05, random_state=0)
    with pytest.warns(UserWarning, match=r"random_subset_size=0\.05 .* 90 samples") \
            as record:
        X_res, _ = selector.fit_resample(X, y)
    # The user's line, not imbalanced-learn's fit_resample, and both fixes.
    assert record[0].filename == __file__
    assert "lower batch_size" in str(record[0].message)
    assert X_res.shape == (180, 64)
    check_weights(selector, y)


def test_crest_no_warning_with_large_subsets(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The default grows to two batches silently.
        X_res, _ = CoresetSelector(method="crest", coreset_size=0.1,
                                   random_state=0).fit_resample(X, y)
        assert X_res.shape == (180, 64)
        crest_selector(coreset_size=0.1, random_state=0).fit_resample(X, y)
        CoresetSelector(method="crest", coreset_size=0.1, batch_size=32,
                        random_subset_size=64, random_state=0).fit_resample(X, y)


@pytest.mark.parametrize("coreset_size, batch_size", [(0.1, 16), (0.3, 64), (37, 5)])
def test_crest_exact_budget_and_unique(digits, coreset_size, batch_size):
    X, y = digits
    selector = CoresetSelector(method="crest", coreset_size=coreset_size,
                               batch_size=batch_size, random_subset_size=0.3,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        selector.fit_resample(X, y)
    expected = coreset_size if isinstance(coreset_size, int) else round(
        coreset_size * len(y))
    assert len(selector.sample_indices_) == expected
    np.testing.assert_array_equal(
        per_class_counts(selector, y), allocate_budget(np.bincount(y), expected))
    check_weights(selector, y)


# --------------------------------------------------------------------------
# Quality
# --------------------------------------------------------------------------


def test_facility_location_beats_random_coreset(digits):
    X, y = digits
    scores = {"facility_location": [], "random": []}
    for split in range(4):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=split)
        for method, seeds in [("facility_location", [split]),
                              ("random", [split, split + 10])]:
            for seed in seeds:
                model = CoresetTrainer(
                    LogisticRegression(max_iter=500),
                    CoresetSelector(coreset_size=0.05, method=method,
                                    random_state=seed))
                model.fit(X_train, y_train)
                scores[method].append(model.score(X_test, y_test))
    # Observed: about 0.92 against 0.87.
    assert np.mean(scores["facility_location"]) >= np.mean(scores["random"]) + 0.03


def test_rare_classes_keep_a_sample_and_tiny_budgets_are_refused():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from sklearn_crest import CoresetTrainer

    Xr, yr = make_classification(3000, n_informative=6, n_classes=3,
                                 weights=[0.9, 0.095, 0.005],
                                 n_clusters_per_class=1, random_state=1)
    model = CoresetTrainer(LogisticRegression(max_iter=1000),
                           CoresetSelector(coreset_size=0.01, random_state=0))
    model.fit(Xr, yr)
    # 30 samples over 2700/285/15: proportional shares round class 2 to 0.
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    scores = cross_val_score(model, Xr, yr, cv=3, scoring="neg_log_loss")
    assert np.isfinite(scores).all()
    selector = CoresetSelector(coreset_size=30, random_state=0)
    _, kept = selector.fit_resample(Xr, yr)
    assert np.bincount(kept).tolist()[2] == 1 and len(kept) == 30
    # Fewer samples than classes: a warning and one sample per class, never a
    # silent loss of classes.
    X10, y10 = make_classification(500, n_informative=8, n_classes=10,
                                   n_clusters_per_class=1, random_state=0)
    with pytest.warns(UserWarning, match="fewer than the 10 classes"):
        _, kept = CoresetSelector(coreset_size=5).fit_resample(X10, y10)
    assert sorted(kept) == list(range(10))


def test_allocate_budget_every_class():
    from sklearn_crest._coresets.facility_location import allocate_budget

    sizes = [2700, 285, 15]
    assert allocate_budget(sizes, 30).tolist() == [27, 3, 0]
    assert allocate_budget(sizes, 30, every_class=True).tolist() == [26, 3, 1]
    # Empty classes stay empty; budgets below the class count are unchanged.
    assert allocate_budget([5, 0, 1], 3, every_class=True).tolist() == [2, 0, 1]
    assert allocate_budget([100, 1, 1], 1, every_class=True).tolist() == [1, 0, 0]
