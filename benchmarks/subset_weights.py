"""How skewed are CRAIG's and GradMatch's subset weights?

Trains the small CNN on the first 20,000 Fashion-MNIST training images for
4 epochs (3 selections) with ``selection="craig"`` and ``"gradmatch"`` and
prints the quantiles of the last subset's weights (rescaled to mean 1, as
training uses them) and the share of the total weight held by the top 1%.
A weight of 80 makes that example's loss count 80 times in its batch: the
step it is in behaves as if the learning rate were far larger.

    python benchmarks/subset_weights.py
"""

import numpy as np
import torch

from sklearn_crest import CrestClassifier
from sklearn_crest._models import SmallCNN
from sklearn_crest.datasets import fetch_fashion_mnist


def main():
    torch.set_num_threads(1)
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[:20000], y[:20000]
    for selection in ("craig", "gradmatch"):
        net = CrestClassifier(SmallCNN, selection=selection, max_epochs=4,
                              batch_size=128, lr=0.1, optimizer=torch.optim.SGD,
                              optimizer__momentum=0.9, train_split=None, verbose=0,
                              random_state=0).fit(X, y)
        _, weights = net.strategy_.epoch_subset
        weights = np.sort(weights.numpy())
        quantiles = np.quantile(weights, [0, 0.1, 0.5, 0.9, 0.99, 1])
        top = weights[-len(weights) // 100:].sum() / weights.sum()
        print(f"{selection:>9}: weight quantiles (0, 10, 50, 90, 99, 100%) "
              f"{np.round(quantiles, 2).tolist()}; top 1% hold {top:.1%} of the weight")


if __name__ == "__main__":
    main()
