"""scikit-learn's and imbalanced-learn's common estimator checks."""

from imblearn.utils.estimator_checks import (
    parametrize_with_checks as imblearn_parametrize_with_checks,
)
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_crest import CoresetSelector, CoresetTrainer

ESTIMATORS = [
    CoresetSelector(random_state=0),
    CoresetSelector(method="crest", batch_size=8, random_subset_size=0.2,
                    random_state=0),
    CoresetSelector(method="random", random_state=0),
    CoresetSelector(features="gradient", random_state=0),
    CoresetTrainer(LogisticRegression(), CoresetSelector(coreset_size=0.5,
                                                         random_state=0)),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@imblearn_parametrize_with_checks(ESTIMATORS[:4])
def test_imblearn_sampler_checks(estimator, check):
    check(estimator)
