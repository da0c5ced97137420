"""The fits that the data-parallel test runs, shared by the 2-process worker
(``distributed_worker.py``) and the single-process reference in
``test_distributed.py``."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

# Per process; the single-process reference trains 2 * BATCH_SIZE per step.
BATCH_SIZE = 32

COMMON = dict(max_epochs=8, batch_size=BATCH_SIZE, train_frac=0.5,
              optimizer=torch.optim.Adam, lr=0.01, train_split=None, verbose=0,
              random_state=0)

CASES = {
    "random": dict(selection="random"),
    "rs2": dict(selection="random", selection__random_sampling="without_replacement"),
    "full": dict(selection="full"),
    "per_step": dict(selection="per_step"),
    "per_step_drop": dict(selection="per_step", selection__drop_learned=True, selection__drop_interval=2,
                          selection__watch_interval=2, selection__drop_thresh=0.5),
    "crest": dict(selection="crest"),
    "crest_sample_check": dict(selection="crest", selection__check_loss="sample"),
    "craig": dict(selection="craig"),
    "gradmatch": dict(selection="gradmatch"),
    "infobatch": dict(selection="infobatch"),
}

# Fits on a torch Dataset (read through the user's DataLoader in planned
# epochs, item by item otherwise), not arrays.
DATASET_CASES = {"random_dataset": CASES["random"], "crest_dataset": CASES["crest"]}


# Fits through skorch's own recipe, class Net(AccelerateMixin, CrestClassifier).
RECIPE_CASES = {"recipe_per_step": CASES["per_step"], "recipe_crest": CASES["crest"]}


class ScaledCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy of logits times a learned scale: a criterion with a
    trainable parameter, which Accelerate can wrap in DistributedDataParallel
    on CPU processes (it refuses a parameterless one there)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, input, target):
        return super().forward(input * self.scale, target)


class RowsDataset(torch.utils.data.Dataset):
    """A plain map-style Dataset over arrays: ``(x, y)`` items."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return torch.from_numpy(self.X[i]), int(self.y[i])


class IndexedMLP(nn.Module):
    """An MLP whose input's last column is the row's position in the
    training set (for the test to see which examples each step trained
    on); the network itself ignores it."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features - 1, 64), nn.ReLU(),
                                    nn.Linear(64, n_classes))

    def forward(self, X):
        return self.layers(X[:, :-1])


def digits_split():
    """Digits, scaled, with each row's position appended as a last column;
    a stratified 1297 / 500 split."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=500, stratify=y, random_state=0)
    X_train = np.hstack([X_train, np.arange(len(X_train), dtype=np.float32)[:, None]])
    X_test = np.hstack([X_test, np.full((len(X_test), 1), -1, dtype=np.float32)])
    return X_train, X_test, y_train, y_test
