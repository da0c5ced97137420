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
    random_subset_size=0.1,
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
# What this shows
# ---------------
# All three losses fall as the network learns; in absolute terms the selected
# examples get easier over training, not harder. Relative to the whole training
# set it is the other way round. In the first two epochs with coresets, the
# selected examples' loss lies between the training set's loss at the start and
# at the end of the epoch: they are about as hard as the average example.
# Later it is several times the training set's loss, even at the start of the
# epoch, so the gap is not an artefact of when the losses are measured.
#
# The weighted ``train_loss`` stays close to the training set's loss, at times
# below it, although the coresets hold harder examples than average. Two things
# pull it down. The weights: a coreset example's weight is the number of
# examples whose gradients it stands for, and the unusual, badly fitted
# examples that facility location picks to cover the gradient space stand for
# small groups, so they get small weights. And repetition: a region's
# coresets are chosen from the same pool of examples (the union of its random
# subsets, ``region_coresets="resample"``), so the network fits those
# examples as it steps on them. The selected examples are harder than average, but the steps
# do not concentrate on them. This is one run (other seeds look the same) on a
# small data set; the project's Fashion-MNIST benchmarks
# (``benchmarks/RESULTS.md``) record ``selected_loss`` but not yet the
# training set's loss beside it.

plt.show()
