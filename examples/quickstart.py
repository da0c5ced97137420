"""Quickstart: fit a model on a weighted facility-location coreset.

Selects coresets of load_digits (10% and 20% of the training set) with
CoresetSelector, fits a logistic regression on each through CoresetTrainer (the
coreset weights become sample weights), and compares test accuracy with a
random subset of the same size and with the full training set.

Run with ``python examples/quickstart.py``; it takes a few seconds on a laptop.
"""

import time

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_crest import CoresetSelector, CoresetTrainer


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0)
    classifier = LogisticRegression(max_iter=2000)

    rows = []
    start = time.perf_counter()
    full = make_pipeline(StandardScaler(), classifier).fit(X_train, y_train)
    rows.append(("full data", len(y_train), full.score(X_test, y_test),
                 time.perf_counter() - start))
    for size in (0.1, 0.2):
        for method in ("facility_location", "random"):
            selector = CoresetSelector(coreset_size=size, method=method,
                                       random_state=0)
            model = make_pipeline(StandardScaler(),
                                  CoresetTrainer(classifier, selector))
            start = time.perf_counter()
            model.fit(X_train, y_train)
            elapsed = time.perf_counter() - start
            kept = len(model[-1].selector_.sample_indices_)
            rows.append((f"{method} {size:.0%}", kept,
                         model.score(X_test, y_test), elapsed))

    print(f"{'training set':<24}{'samples':>8}{'test accuracy':>15}{'fit s':>8}")
    for name, kept, accuracy, seconds in rows:
        print(f"{name:<24}{kept:>8}{accuracy:>15.3f}{seconds:>8.2f}")


if __name__ == "__main__":
    main()
