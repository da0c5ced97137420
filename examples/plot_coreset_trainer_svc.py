"""
An SVC on a weighted coreset
============================

A kernel SVM's fit time grows faster than linearly with the number of
training points, so fitting it on a small weighted subset is tempting.
:class:`~sklearn_crest.CoresetTrainer` is the last step of a plain
scikit-learn :class:`~sklearn.pipeline.Pipeline`: at fit time it asks a
:class:`~sklearn_crest.CoresetSelector` for a coreset and fits a clone of the
:class:`~sklearn.svm.SVC` on it with the coreset weights as ``sample_weight``.
This example measures test accuracy and fit time against the coreset size, for
facility-location coresets and for uniformly random subsets.
"""

# %%
# Data
# ----
# A synthetic three-class problem with 20,000 points and 20 features, large
# enough that the SVC takes about a second on all of it.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sklearn_crest import CoresetSelector, CoresetTrainer

X, y = make_classification(
    n_samples=20_000, n_features=20, n_informative=10, n_redundant=4,
    n_classes=3, n_clusters_per_class=2, flip_y=0.02, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)


def fit_and_score(model):
    """Fit time in seconds and test accuracy of one pipeline."""
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return seconds, model.score(X_test, y_test)


# %%
# The reference: an SVC on all training points
# --------------------------------------------
full_seconds, full_accuracy = fit_and_score(make_pipeline(StandardScaler(), SVC()))
print(f"all {len(y_train)} training points: accuracy {full_accuracy:.3f}, "
      f"fit {full_seconds:.2f} s")

# %%
# Coresets of growing size
# ------------------------
# ``coreset_size`` is a fraction of the training set; 1.0 keeps every point,
# with unit weights, so both methods then fit the same SVC as the reference
# (facility location still runs its greedy over all points first). The
# selector's kernel depends on the feature scale, so the scaler comes first.
# Facility location is deterministic here; a random subset is one draw, so it
# is repeated with three seeds.
SIZES = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
RUNS = {"facility_location": [0], "random": [0, 1, 2]}

results = {}  # (method, size) -> list of (seconds, accuracy), one per seed
for method, seeds in RUNS.items():
    for size in SIZES:
        results[method, size] = [
            fit_and_score(make_pipeline(
                StandardScaler(),
                CoresetTrainer(SVC(), CoresetSelector(
                    coreset_size=size, method=method, random_state=seed))))
            for seed in seeds]

print(f"{'method':<18}{'size':>6}{'points':>8}{'accuracy':>10}{'fit s':>8}")
for (method, size), runs in results.items():
    seconds, accuracy = np.mean(runs, axis=0)
    print(f"{method:<18}{size:>6}{round(size * len(y_train)):>8}"
          f"{accuracy:>10.3f}{seconds:>8.2f}")

# %%
# Accuracy and fit time against coreset size
# ------------------------------------------
# Random subsets show the mean over three seeds, with the spread as error bars.
# The dashed line is the SVC on all points. Fit time is the whole pipeline fit:
# scaling, coreset selection and the SVC.
fig, (ax_acc, ax_time) = plt.subplots(1, 2, figsize=(10, 4))
for method in RUNS:
    runs = np.array([results[method, size] for size in SIZES])  # size, seed, 2
    seconds, accuracy = runs[..., 0], runs[..., 1]
    ax_acc.errorbar(SIZES, accuracy.mean(axis=1), yerr=accuracy.std(axis=1),
                    marker="o", capsize=3, label=method)
    ax_time.plot(SIZES, seconds.mean(axis=1), marker="o", label=method)
for ax, reference in ((ax_acc, full_accuracy), (ax_time, full_seconds)):
    ax.axhline(reference, color="grey", linestyle="--", label="SVC on all points")
    ax.set_xscale("log")
    ax.set_xticks(SIZES, labels=[f"{size:g}" for size in SIZES])
    ax.minorticks_off()
    ax.set_xlabel("coreset_size (fraction of the training set)")
ax_acc.set_ylabel("test accuracy")
ax_time.set_ylabel("pipeline fit time (s)")
ax_acc.legend(loc="lower right")
fig.tight_layout()

# %%
# What this shows
# ---------------
# At the same size, a facility-location coreset gives a more accurate SVC than
# a random subset, clearly so at the smallest sizes, and both close in on the
# full-data SVC as the size grows. Time is the other side: the selection (a
# similarity kernel over each class, then the greedy) has a cost of its own,
# which the right-hand plot sets against the full SVC's fit (the dashed line),
# while a random subset costs nothing to draw. Where the selection takes a
# large share of that time, a larger random subset fitted in the same time
# can do as well as a smaller facility-location coreset; a coreset pays off
# when the model costs much more to fit than the selection does. The timings
# are one measurement each on a shared machine, so read them as rough.

plt.show()
