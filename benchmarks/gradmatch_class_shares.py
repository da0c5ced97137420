"""Where GradMatch's weight goes: class shares and the subset's weighted loss.

Fits GradMatch for a few epochs and reports, for the last epoch's subset:
each class's share of the subset's total weight divided by its share of the
data (1 everywhere means the subset trains under the data's class prior),
and the subset's weighted and unweighted mean loss against the pool's (under
the fitted model). Each configuration runs with the pursuit's own class
totals (as before this library rescaled them) and with the rescaling.

    OMP_NUM_THREADS=1 python benchmarks/gradmatch_class_shares.py [--fashion]

digits: the held-out split of ``baseline_weighting.py``, 6 epochs, seed 4;
``--fashion``: the first 20,000 Fashion-MNIST training images, the small CNN,
5 epochs of batch 128, seed 0.
"""

import argparse
import warnings

import numpy as np
import torch

from baseline_weighting import _class_totals, digits_split
from sklearn_crest import CrestClassifier
from sklearn_crest._models import MLP, SmallCNN


def report(label, net, X, y):
    positions, weights = net.strategy_.epoch_subset
    weights = weights.numpy().astype(np.float64)
    picked = y[positions]
    with torch.no_grad():
        net.module_.eval()
        probabilities = torch.cat([
            torch.softmax(net.module_(torch.from_numpy(X[i:i + 2000])), 1)
            for i in range(0, len(X), 2000)]).numpy()
    losses = -np.log(probabilities[np.arange(len(y)), y] + 1e-12)
    shares = (np.bincount(picked, weights=weights, minlength=10) / weights.sum()
              / (np.bincount(y, minlength=10) / len(y)))
    print(f"{label}: class weight share / data share from {shares.min():.2f} to "
          f"{shares.max():.2f}; subset loss weighted {np.average(losses[positions], weights=weights):.3f}, "
          f"unweighted {losses[positions].mean():.3f}, pool {losses.mean():.3f}; "
          f"largest weight {weights.max() / weights.mean():.1f} x the mean")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fashion", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.fashion:
        from sklearn_crest.datasets import fetch_fashion_mnist
        X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
        X, y = X[:20000], y[:20000]
        settings = dict(module=SmallCNN, max_epochs=5, batch_size=128)
        seed = 0
    else:
        X, _, y, _ = digits_split()
        settings = dict(module=MLP, module__hidden=64, max_epochs=6, batch_size=32,
                        train_frac=0.2)
        seed = 4
    for ridge in (0.0, 0.5):
        for rescaled in (False, True):
            torch.manual_seed(seed)
            net = CrestClassifier(selection="gradmatch", selection__regularization=ridge,
                                  lr=0.1, optimizer=torch.optim.SGD,
                                  optimizer__momentum=0.9, train_split=None,
                                  verbose=0, random_state=seed, **settings)
            with warnings.catch_warnings(), _class_totals(rescaled):
                warnings.simplefilter("ignore")
                net.fit(X, y)
            report(f"ridge {ridge}, {'class totals' if rescaled else 'pursuit totals'}",
                   net, X, y)


if __name__ == "__main__":
    main()
