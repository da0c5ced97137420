"""
InfoBatch against full-data training
====================================

InfoBatch (Qin et al., ICLR 2024) prunes data while it trains: at the start of
every epoch, the examples whose last training loss is below the mean are
"well learned", a random ``prune_ratio`` of them sit the epoch out, and the
losses of the other well-learned ones are weighted by ``1 / (1 -
prune_ratio)``, so that the epoch's expected gradient stays the full data's.
The last ``1 - prune_until`` of the epochs train on every example. It needs no
selection pass: the scores are the losses of the training steps themselves.

This example trains the same small network on scikit-learn's digits with
:class:`~sklearn_crest.CrestClassifier` on the full training set every epoch
(``selection="full"``) and with InfoBatch (``selection="infobatch"``), plots
test accuracy against training wall-clock and the examples each epoch kept,
and prints the wall-clock InfoBatch saved and what it cost in accuracy.
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

# One intra-op thread: the network here is tiny, and on a shared machine
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


class TestAccuracy(Callback):
    """Test accuracy after every epoch. skorch's epoch timer writes ``dur``
    before user callbacks run, so this evaluation is not training time."""

    def __init__(self, X_test, y_test):
        self.X_test = X_test
        self.y_test = y_test

    def on_epoch_end(self, net, **kwargs):
        net.history.record("test_acc", net.score(self.X_test, self.y_test))


# %%
# Two ways to train
# -----------------
# Both use the same network, optimizer and number of epochs. InfoBatch's
# defaults are the paper's: ``selection__prune_ratio=0.5`` and ``selection__prune_until=0.875``.
# ``train_frac`` does not apply to it: an epoch has as many steps as its kept
# examples fill. Each method is trained with three seeds, because one run of
# a network this small says little.
METHODS = ("full", "infobatch")
SEEDS = (0, 1, 2)


def train(selection, seed):
    net = CrestClassifier(
        MLP,
        selection=selection,
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
# Accuracy against wall-clock, and the examples kept
# --------------------------------------------------
# Each curve is the mean over seeds. Wall-clock is the sum of skorch's
# per-epoch ``dur``. On the right, InfoBatch's ``n_kept`` (the examples an
# epoch trained on) and ``n_pruned`` per epoch: the first epoch has no losses
# yet and keeps everything, and the last epochs train on all the data again.
fig, (ax_time, ax_kept) = plt.subplots(1, 2, figsize=(10, 4))
for method in METHODS:
    ax_time.plot(per_epoch(method, "dur", cumulative=True).mean(axis=0),
                 per_epoch(method, "test_acc").mean(axis=0), marker=".",
                 label=method)
ax_time.set_xlabel("training wall-clock (s)")
ax_time.set_ylabel("test accuracy")
ax_time.set_ylim(0.8, 1.0)
ax_time.legend(loc="lower right")
epochs = np.arange(1, per_epoch("infobatch", "n_kept").shape[1] + 1)
ax_kept.plot(epochs, per_epoch("infobatch", "n_kept").mean(axis=0), marker=".",
             color="tab:green", label="kept")
ax_kept.plot(epochs, per_epoch("infobatch", "n_pruned").mean(axis=0), marker=".",
             color="tab:red", label="pruned")
ax_kept.set_xlabel("epoch")
ax_kept.set_ylabel("examples (infobatch)")
ax_kept.legend()
fig.suptitle("digits, 30 epochs, mean of 3 seeds")
fig.tight_layout()

# %%
# The numbers
# -----------
# Final test accuracy (mean and standard deviation over seeds), optimizer
# steps and training seconds.
print(f"{'method':<10}{'test acc':>16}{'steps':>8}{'train s':>9}")
for method in METHODS:
    accuracy = per_epoch(method, "test_acc")[:, -1]
    steps = int(per_epoch(method, "n_steps").sum(axis=1).mean())
    seconds = per_epoch(method, "dur").sum(axis=1).mean()
    print(f"{method:<10}{accuracy.mean():>9.3f} +- {accuracy.std():.3f}"
          f"{steps:>8}{seconds:>9.2f}")

# %%
# Seed by seed, the wall-clock InfoBatch saved (one minus its training time
# over full training's) and its accuracy minus full training's, against the
# spread of full training's accuracy between seeds.
saved = 1 - (per_epoch("infobatch", "dur").sum(axis=1)
             / per_epoch("full", "dur").sum(axis=1))
difference = (per_epoch("infobatch", "test_acc")[:, -1]
              - per_epoch("full", "test_acc")[:, -1])
pruned = per_epoch("infobatch", "n_pruned").sum() / (
    per_epoch("infobatch", "n_pruned").sum() + per_epoch("infobatch", "n_kept").sum())
print(f"examples pruned: {pruned:.0%} of the epochs' examples")
print(f"wall-clock saved, per seed: {', '.join(f'{s:.0%}' for s in saved)} "
      f"(mean {saved.mean():.0%})")
print(f"infobatch minus full, per seed (points): "
      f"{', '.join(f'{100 * d:+.1f}' for d in difference)} "
      f"(mean {100 * difference.mean():+.1f}); full's spread between seeds: "
      f"{100 * per_epoch('full', 'test_acc')[:, -1].std():.1f}")

# %%
# What this shows
# ---------------
# InfoBatch skips part of the well-learned examples, so its epochs have fewer
# steps, and with no selection pass to pay for, the steps it skips are
# wall-clock saved. Whether that costs accuracy is the question the paper
# answers with "lossless": read the paired differences above against the
# spread between seeds, which on a data set this small is of the same order.
# The wall-clock here is seconds of a tiny network, so it is noisy; the
# benchmark command (``python -m crest_benchmark --methods
# full,random,infobatch,random_pruning,random_at_infobatch_time``) compares
# InfoBatch also with random batches at its steps and at its wall-clock, on
# more seeds and on Fashion-MNIST.

plt.show()
