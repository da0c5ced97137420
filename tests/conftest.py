"""Tiny torch modules and data shared by the CrestClassifier tests."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits


class MLP(torch.nn.Module):
    """One hidden layer; CrestClassifier fills ``n_features`` and ``n_classes``."""

    def __init__(self, n_features, n_classes, hidden=32):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, hidden)
        self.output = torch.nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.output(torch.relu(self.hidden(X)))


class LazyMLP(torch.nn.Module):
    """Like :class:`MLP`, but infers the input width at the first forward pass."""

    def __init__(self, n_classes, hidden=16):
        super().__init__()
        self.hidden = torch.nn.LazyLinear(hidden)
        self.output = torch.nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.output(torch.relu(self.hidden(X)))


@pytest.fixture(scope="session")
def digits600():
    """The first 600 digits, scaled to [0, 1], as float32 (10 classes)."""
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16.0).astype(np.float32), y[:600]


@pytest.fixture
def torch_single_thread():
    """Run torch on one thread: on a small shared machine two intra-op threads
    contend with everything else and make tiny fits several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
