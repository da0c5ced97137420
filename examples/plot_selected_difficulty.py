"""
How hard are the examples CREST selects?
========================================

Each time :class:`~sklearn_crest.CrestClassifier` selects coresets, it records
the mean loss of the selected examples in ``history`` as ``selected_loss``.
This example trains on digits for 30 epochs and plots that loss next to the
loss of the whole training set and skorch's ``train_loss``, with the number of
selections per epoch below.
"""

# %%
# Training
# --------
# Besides CREST's own figures, a small callback records the loss of every
# training example at the end of each epoch (eval mode, no weights), the
# yardstick for "hard" and "easy".
import matplotlib.pyplot as plt
import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss

from sklearn_crest import CrestClassifier

# One intra-op thread: the network here is tiny, and on a shared machine
# several torch threads spend more time synchronising than computing.
torch.set_num_threads(1)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)


class MLP(torch.nn.Module):
    """One hidden layer. CrestClassifier fills n_features and n_classes in."""

    def __init__(self, n_features, n_classes, hidden=128):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, n_classes))

    def forward(self, X):
        return self.layers(X)


class TrainingSetLoss(Callback):
    """Mean cross-entropy of the whole training set after each epoch."""

    def __init__(self, X, y):
        self.X = X
        self.y = y

    def on_epoch_end(self, net, **kwargs):
        loss = log_loss(self.y, net.predict_proba(self.X), labels=net.classes_)
        net.history.record("training_set_loss", loss)


net = CrestClassifier(
    MLP,
    selection="crest",  # CREST's regions: selections come when checks fail
    train_frac=0.2,
    selection__random_subset_size=0.1,
    max_epochs=30,
    batch_size=32,
    lr=0.05,
    optimizer=torch.optim.SGD,
    optimizer__momentum=0.9,
    callbacks=[("training_set_loss", TrainingSetLoss(X, y))],
    train_split=None,
    verbose=0,
    random_state=0,
)
net.fit(X, y)

# %%
# Three losses
# ------------
# They are measured differently, so read them with care:
#
# * ``selected_loss``: the unweighted mean loss (eval mode) of the examples of
#   each new mini-batch coreset, measured when the coreset is built, averaged
#   over the coresets built in the epoch. A selection builds the first two
#   coresets of a region and the rest are built when a step first needs them,
#   possibly in a later epoch, so an epoch without a selection can still have
#   a ``selected_loss``. It is NaN in epochs that built no coreset, such as the
#   first, which trains on random batches before any selection.
# * ``training_set_loss``: the mean loss of all training examples at the end of
#   the epoch (the callback above).
# * ``train_loss``: skorch's mean of the batch losses the optimizer minimised
#   during the epoch; for CREST these are the coreset-weighted losses.
history = net.history
epochs = np.array(history[:, "epoch"])
selected = np.array(history[:, "selected_loss"], dtype=float)
training_set = np.array(history[:, "training_set_loss"])
train = np.array(history[:, "train_loss"])
selections = np.array(history[:, "n_selections"])

fig, (ax_loss, ax_sel) = plt.subplots(
    2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1])
built = ~np.isnan(selected)  # epochs that built at least one coreset
ax_loss.plot(epochs[built], selected[built], "o-",
             label="selected_loss (selected examples, unweighted)")
ax_loss.plot(epochs, training_set, ".-", label="whole training set, end of epoch")
ax_loss.plot(epochs, train, ".--", label="train_loss (weighted coreset batches)")
ax_loss.set_yscale("log")
ax_loss.set_ylabel("cross-entropy")
ax_loss.legend()
ax_sel.bar(epochs, selections, color="grey")
ax_sel.set_ylabel("selections")
ax_sel.set_xlabel("epoch")
fig.tight_layout()

# %%
# The epochs that built coresets, with the whole training set's loss at the
# start of the epoch (the end of the previous one) and at its end: the
# coresets were built somewhere in between.
training_set_start = np.r_[np.nan, training_set[:-1]]
print(f"{'epoch':>5}{'selections':>12}{'selected_loss':>15}"
      f"{'training set, start':>21}{'end':>8}")
for row in np.flatnonzero(built):
    print(f"{epochs[row]:>5}{selections[row]:>12}{selected[row]:>15.3f}"
          f"{training_set_start[row]:>21.3f}{training_set[row]:>8.3f}")

# %%
# How hard, relative to the average example: ``selected_loss`` over the
# training set's loss at the start of the epoch, and the weighted
# ``train_loss`` over the training set's loss at the end of it.
relative = selected[built] / training_set_start[built]
weighted = train[built] / training_set[built]
print("selected / training set at the start:",
      " ".join(f"{value:.1f}" for value in relative))
print("train_loss / training set at the end: ",
      " ".join(f"{value:.1f}" for value in weighted))

# %%
# What this shows
# ---------------
# How to read the ratios above. A first ratio below 1 says the first coresets
# were about as hard as the average example (the training set's loss falls
# during the epoch, so the end of the epoch is the fairer yardstick then).
# Ratios well above 1 later, measured against the loss at the *start* of the
# epoch, say the selected examples are harder than average, and not because
# of when the losses are measured. Facility location on gradient proxies
# picks examples that cover the gradient space, which includes the unusual,
# badly fitted ones.
#
# The second line compares the loss the optimizer minimised with the training
# set's. Two things keep the weighted loss from following the selected
# examples' difficulty. The weights: a coreset example's weight is the number
# of examples whose gradients it stands for, and the unusual examples stand
# for small groups, so they get small weights. And repetition: a region's
# coresets are chosen from the same pool of examples (the union of its random
# subsets, ``selection__region_coresets="resample"``), so the network fits those
# examples as it steps on them. This is one run on a small data set; the
# project's Fashion-MNIST benchmarks (``benchmarks/RESULTS.md``) record
# ``selected_loss`` and ``subset_loss`` (the mean loss of the random subsets
# the coresets were chosen from) for every run.

plt.show()
