"""Small reference networks used by the benchmarks and examples.

Both take ``n_classes`` (and the MLP ``n_features``), which CrestClassifier
fills in from the data.
"""

import torch
from torch import nn


class MLP(nn.Module):
    """A one-hidden-layer perceptron for flat input (784-256-10 on Fashion-MNIST)."""

    def __init__(self, n_features, n_classes, hidden=256):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(), nn.Linear(n_features, hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes))

    def forward(self, X):
        return self.layers(X)


class SmallCNN(nn.Module):
    """Two 3x3 convolutions (16, 32 channels) with pooling, then FC 128.

    Takes 28 x 28 grey images, flat (n, 784) or shaped (n, 1, 28, 28).

    The convolution weights are stored channels-last (NHWC), so that the
    convolutions and poolings run on the CPU's NHWC kernels: the default NCHW
    max pooling alone took more time than both convolutions, and a training
    step of 128 examples took 1.45x as long (24.4 against 16.8 ms, AMD EPYC
    with AVX2, 2 threads, ``benchmarks/bench_cpu_layout.py``). The
    arithmetic is the same; rounding may differ in the last bits.
    """

    def __init__(self, n_classes, hidden=128):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes))
        # A convolution's output follows its weight's layout; with one input
        # channel the input's layout is ambiguous, so the weights decide.
        self.to(memory_format=torch.channels_last)

    def forward(self, X):
        if X.ndim == 2:
            X = X.reshape(-1, 1, 28, 28)
        return self.classifier(self.features(X))


class SmallCNN1d(nn.Module):
    """Three strided 1-D convolutions (25 channels each), then a linear layer:
    the ConvBase of MNIST-1D's authors (Greydanus, 2020), about 94% test
    accuracy on their 4,000 training examples.

    Takes flat (n, length) signals or (n, 1, length).
    """

    def __init__(self, n_classes, length=40, channels=25):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten())
        width = self.features(torch.zeros(1, 1, length)).shape[1]
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, X):
        if X.ndim == 2:
            X = X.unsqueeze(1)
        return self.classifier(self.features(X))
