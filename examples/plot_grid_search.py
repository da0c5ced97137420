"""
Tuning CREST with GridSearchCV
==============================

Every CREST hyperparameter of :class:`~sklearn_crest.CrestClassifier` is an
ordinary estimator parameter, so scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV` can tune it. This example
searches ``check_thresh_factor`` (how far the loss may drift from CREST's
quadratic model before coresets are re-selected) and ``train_frac`` (the step
budget) on digits, shows the cross-validated accuracy as a heatmap, and uses
two more scorers to record how many selections each setting made and what
they cost.
"""

# %%
# Data and model
# --------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split

from sklearn_crest import CrestClassifier

# One intra-op thread: the networks here are tiny, and on a shared machine
# several torch threads spend more time synchronising than computing.
torch.set_num_threads(1)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)


class MLP(torch.nn.Module):
    """One hidden layer. CrestClassifier fills n_features and n_classes in."""

    def __init__(self, n_features, n_classes, hidden=128):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, n_classes))

    def forward(self, X):
        return self.layers(X)


net = CrestClassifier(
    MLP,
    selection="crest",  # the quadratic model and its threshold: CREST's regions
    selection__random_subset_size=0.1,
    max_epochs=20,
    batch_size=32,
    lr=0.05,
    optimizer=torch.optim.SGD,
    optimizer__momentum=0.9,
    train_split=None,  # the search does the validation
    verbose=0,
    random_state=0,
)

# %%
# A scorer that reads the history
# -------------------------------
# A scorer is any callable ``scorer(estimator, X, y)``. The two below ignore
# the validation fold and read the fitted net's ``history``: the number of
# coreset selections, and the seconds spent selecting coresets and checking the
# quadratic model. ``cv_results_`` then reports their means per setting at no
# extra cost. (``mean_fit_time`` is there too, but the first fit in a fresh
# process pays one-off start-up costs that would blur a grid this small.)
# With several scorers, ``refit`` names the one that picks the best setting.


def n_selections(estimator, X, y):
    return float(np.sum(estimator.history[:, "n_selections"]))


def selection_seconds(estimator, X, y):
    history = estimator.history
    return float(np.sum(history[:, "selection_s"]) + np.sum(history[:, "check_s"]))


param_grid = {
    "selection__check_thresh_factor": [0.05, 0.2, 0.5],
    "train_frac": [0.1, 0.3],
}
search = GridSearchCV(
    net,
    param_grid,
    scoring={"accuracy": "accuracy", "n_selections": n_selections,
             "selection_s": selection_seconds},
    refit="accuracy",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    n_jobs=1,  # two shared cores; the fits are small and fast one at a time
)
search.fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"best mean CV accuracy: {search.best_score_:.3f}")
print(f"test accuracy of the refitted best model: {search.score(X_test, y_test):.3f}")

# %%
# Accuracy and selections per setting
# -----------------------------------
# Rows are ``check_thresh_factor``, columns ``train_frac``. ``cv_results_``
# lists the settings in ``ParameterGrid`` order (keys sorted, the last varying
# fastest), so its columns reshape straight into the grid.
results = search.cv_results_
shape = (len(param_grid["selection__check_thresh_factor"]), len(param_grid["train_frac"]))
panels = [
    ("mean CV accuracy", results["mean_test_accuracy"], "{:.3f}"),
    ("selections per fit", results["mean_test_n_selections"], "{:.0f}"),
    ("selection + check seconds", results["mean_test_selection_s"], "{:.2f}"),
]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (title, values, fmt) in zip(axes, panels):
    grid = np.asarray(values, dtype=float).reshape(shape)
    ax.imshow(grid, cmap="viridis", aspect="auto")
    for (row, col), value in np.ndenumerate(grid):
        ax.text(col, row, fmt.format(value), ha="center", va="center",
                color="white" if value < grid.mean() else "black")
    ax.set_xticks(range(shape[1]), labels=param_grid["train_frac"])
    ax.set_yticks(range(shape[0]), labels=param_grid["selection__check_thresh_factor"])
    ax.set_xlabel("train_frac")
    ax.set_title(title)
axes[0].set_ylabel("check_thresh_factor")
fig.tight_layout()

# %%
# Reading the grid
# ----------------
# ``train_frac`` sets the step budget and drives accuracy: with three times the
# steps, the net learns more in the same 20 epochs. ``check_thresh_factor``
# mostly changes the cost: a small threshold re-selects coresets far more
# often, and each selection costs a forward pass over the random subsets and a
# curvature estimate, while the accuracy barely moves. The differences in
# accuracy between thresholds are of the order of the fold-to-fold spread
# (``std_test_accuracy`` in ``cv_results_``), so a search like this one is
# better at finding a cheap threshold than an accurate one.
print(f"{'selection__check_thresh_factor':>30}{'train_frac':>11}{'accuracy':>16}"
      f"{'selections':>12}{'sel+check s':>13}")
for params, mean, std, selections, seconds in zip(
        results["params"], results["mean_test_accuracy"],
        results["std_test_accuracy"], results["mean_test_n_selections"],
        results["mean_test_selection_s"]):
    print(f"{params['selection__check_thresh_factor']:>30}{params['train_frac']:>11}"
          f"{mean:>9.3f} +- {std:.3f}{selections:>12.0f}{seconds:>13.2f}")

plt.show()
