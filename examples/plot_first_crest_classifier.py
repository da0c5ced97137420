"""
A first CrestClassifier
=======================

Trains the same small network on scikit-learn's digits three ways with
:class:`~sklearn_crest.CrestClassifier`: on the full training set every epoch
(``selection="full"``), on uniformly random batches (``selection="random"``)
and on CREST coresets (``selection="crest"``), the last two with a fifth of the
optimizer steps of full training. It plots test accuracy per epoch against
training wall-clock and against optimizer steps, and prints a summary table.
"""

# %%
# Data and model
# --------------
# The 8 x 8 digit images are scaled to [0, 1]. A held-out test set, never seen
# during training, measures accuracy after every epoch.
import matplotlib.pyplot as plt
import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

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


# %%
# Test accuracy after every epoch
# -------------------------------
# A small skorch callback records the test accuracy in the net's ``history``.
# skorch's epoch timer writes ``dur`` before user callbacks run, so the time
# spent on this evaluation is not counted as training time.


class TestAccuracy(Callback):
    def __init__(self, X_test, y_test):
        self.X_test = X_test
        self.y_test = y_test

    def on_epoch_end(self, net, **kwargs):
        net.history.record("test_acc", net.score(self.X_test, self.y_test))


# %%
# Three ways to train
# -------------------
# All three use the same network, optimizer and number of epochs. With
# ``train_frac=0.2``, an epoch of ``"random"`` or ``"crest"`` has a fifth of the
# steps of a full epoch. CREST's first epoch is random batches (a warm-up, as in
# the authors' code: an untrained model's gradients say nothing); from the
# second on, every step uses a weighted mini-batch coreset.
# ``train_split=None`` switches off skorch's internal validation split, which
# is not the point here. Each method is trained with three seeds, because one
# run of a network this small says little.
METHODS = ("full", "random", "crest")
SEEDS = (0, 1, 2)


def train(selection, seed):
    # CREST's random subsets: 10% of the training set (a strategy setting,
    # routed as selection__*; random and full have none).
    crest_settings = {"selection__random_subset_size": 0.1} if selection == "crest" else {}
    net = CrestClassifier(
        MLP,
        selection=selection,
        train_frac=0.2,
        **crest_settings,
        max_epochs=30,
        batch_size=32,
        lr=0.05,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        callbacks=[("test_acc", TestAccuracy(X_test, y_test))],
        train_split=None,
        verbose=0,
        random_state=seed,
    )
    return net.fit(X_train, y_train).history


histories = {method: [train(method, seed) for seed in SEEDS] for method in METHODS}


def per_epoch(method, key, cumulative=False):
    """(seeds, epochs) array of a history key, summed over epochs if asked."""
    values = np.array([h[:, key] for h in histories[method]], dtype=float)
    return np.cumsum(values, axis=1) if cumulative else values


# %%
# Accuracy against time and against steps
# ---------------------------------------
# Each curve is the mean over seeds. Wall-clock is the sum of skorch's per-epoch
# ``dur``, which includes CREST's selections and checks; steps are the
# cumulative ``n_steps``.
fig, (ax_time, ax_steps) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for method in METHODS:
    accuracy = per_epoch(method, "test_acc").mean(axis=0)
    ax_time.plot(per_epoch(method, "dur", cumulative=True).mean(axis=0), accuracy,
                 marker=".", label=method)
    ax_steps.plot(per_epoch(method, "n_steps", cumulative=True).mean(axis=0),
                  accuracy, marker=".", label=method)
ax_time.set_xlabel("training wall-clock (s)")
ax_time.set_ylabel("test accuracy")
ax_steps.set_xlabel("optimizer steps")
ax_steps.set_xscale("log")
ax_time.set_ylim(0.8, 1.0)
ax_steps.legend(loc="lower right")
fig.suptitle("digits, 30 epochs, mean of 3 seeds")
fig.tight_layout()

# %%
# The numbers
# -----------
# Final test accuracy (mean and standard deviation over seeds), optimizer
# steps, training seconds, CREST selections, and the share of CREST's time
# spent selecting coresets and checking its loss model.
print(f"{'method':<8}{'test acc':>16}{'steps':>8}{'train s':>9}"
      f"{'selections':>12}{'sel+check':>11}")
for method in METHODS:
    accuracy = per_epoch(method, "test_acc")[:, -1]
    seconds = per_epoch(method, "dur").sum(axis=1).mean()
    overhead = (per_epoch(method, "selection_s").sum(axis=1)
                + per_epoch(method, "check_s").sum(axis=1)).mean()
    steps = int(per_epoch(method, "n_steps").sum(axis=1).mean())
    selections = per_epoch(method, "n_selections").sum(axis=1).mean()
    print(f"{method:<8}{accuracy.mean():>9.3f} +- {accuracy.std():.3f}{steps:>8}"
          f"{seconds:>9.2f}{selections:>12.0f}{overhead / seconds:>11.0%}")

# %%
# What this shows
# ---------------
# The paired difference between CREST and random batches at the same steps,
# seed by seed, against the spread between seeds:
difference = (per_epoch("crest", "test_acc")[:, -1]
              - per_epoch("random", "test_acc")[:, -1])
print(f"crest minus random, per seed (points): "
      f"{', '.join(f'{100 * d:+.1f}' for d in difference)}; "
      f"random's spread between seeds: {100 * per_epoch('random', 'test_acc')[:, -1].std():.1f}")

# %%
# With a fifth of the steps, both subset methods end below full training. A
# difference that is small against the spread between seeds, or changes sign
# from seed to seed, is not evidence either way on a data set this small; the
# project's Fashion-MNIST benchmarks (``benchmarks/RESULTS.md``) measure it
# with more data, seeds and a wall-clock comparison. The ``sel+check`` column
# is the share of CREST's training time spent choosing coresets and checking
# its loss model: per second of training, that share is what CREST pays for
# its choice of examples. Read this small example as a tour of the API and of
# ``history``, not as evidence of a speed-up.

plt.show()
