"""What does a step of InfoBatch cost against a plain skorch step?

InfoBatch selects nothing: its only costs are reading each step's losses as
scores, weighting the kept learned examples, and planning each epoch. This
fits the same model on the same data, interleaved, ``--repeats`` times each:

- skorch's ``NeuralNetClassifier`` (plain steps, skorch's DataLoader);
- ``CrestClassifier(selection="full")`` (the library's iterator, no scores);
- ``CrestClassifier(selection="infobatch")`` (pruning from the second epoch);

and reports each one's median seconds per optimizer step (with quartiles),
and the ratios to plain skorch. Timing is wall-clock of ``fit`` (epochs, no
validation); each repeat runs the three in a rotated order.

    OMP_NUM_THREADS=1 python benchmarks/bench_infobatch_overhead.py [--model cnn]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from skorch import NeuralNetClassifier

from sklearn_crest import CrestClassifier
from sklearn_crest._models import MLP, SmallCNN
from sklearn_crest.datasets import fetch_fashion_mnist

MODELS = {"mlp": (MLP, {"module__n_features": 784}), "cnn": (SmallCNN, {})}


def fit_seconds_per_step(kind, model, X, y, epochs):
    module, module_kwargs = MODELS[model]
    # The same criterion for all: skorch's NeuralNetClassifier defaults to
    # NLLLoss, which on these logit modules is another (and wrong) training.
    common = dict(criterion=torch.nn.CrossEntropyLoss, module__n_classes=10,
                  **module_kwargs, max_epochs=epochs,
                  batch_size=128, lr=0.05, optimizer=torch.optim.SGD,
                  optimizer__momentum=0.9, train_split=None, verbose=0)
    torch.manual_seed(0)
    if kind == "skorch":
        net = NeuralNetClassifier(module, **common)
    else:
        net = CrestClassifier(module, selection=kind, random_state=0, **common)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    seconds = time.perf_counter() - start
    steps = (sum(net.history[:, "n_steps"]) if kind != "skorch"
             else epochs * int(np.ceil(len(y) / 128)))
    return seconds / steps, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--n", type=int, default=20000, help="training examples")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    X, y = X[:args.n], y[:args.n]
    kinds = ("skorch", "full", "infobatch")
    per_step = {kind: [] for kind in kinds}
    steps = {}
    fit_seconds_per_step("skorch", args.model, X[:512], y[:512], 1)  # warm-up
    for repeat in range(args.repeats):
        # A rotated order per repeat, so that no kind always runs first.
        for kind in kinds[repeat % 3:] + kinds[:repeat % 3]:
            seconds, steps[kind] = fit_seconds_per_step(kind, args.model, X, y,
                                                        args.epochs)
            per_step[kind].append(seconds)
    plain = np.median(per_step["skorch"])
    for kind in kinds:
        median = np.median(per_step[kind])
        low, high = np.percentile(per_step[kind], [25, 75])
        print(f"{kind:>9}: {1e3 * median:.2f} ms per step (quartiles {1e3 * low:.2f}-"
              f"{1e3 * high:.2f}) over {steps[kind]} steps, median of {args.repeats}: "
              f"{median / plain:.3f}x plain skorch")


if __name__ == "__main__":
    main()
