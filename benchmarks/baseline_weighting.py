"""Where do CRAIG's and GradMatch's training instabilities come from?

The held-out digits check of the baselines: scikit-learn's digits split 70/30
(1,257 training rows, stratified, ``random_state=0``), a 64-unit MLP, 25
epochs at ``train_frac=0.2``, SGD with lr 0.1 and momentum 0.9, batches of 32,
seeds 0 and 4 (the classifier's ``random_state`` and torch's seed). Every
variant runs on the same seeds, so differences are paired. It separates:

- the weighted-batch convention (``batch_weighting``: ``"batch"``, CORDS's
  ``sum(w_i l_i) / sum(w_i)`` within each batch, against ``"subset"``,
  weights of mean 1 over the epoch's subset and ``mean(w_i l_i)`` per batch);
- the weights themselves (``unit``: the same subsets trained unweighted);
- GradMatch's class totals (``pursuit totals``: each class's weights as the
  pursuit leaves them, instead of rescaled to the class's size);
- GradMatch's regularisation (``gradmatch_regularization`` 0.5, 0.05);
- the learning rate (0.05 against 0.1).

For each variant and seed it reports the test accuracy, the training loss of
the last epoch and the largest of the last five (the instability), and the
largest batch mean weight of the last epoch (how much larger than an ordinary
step a heavy batch's step is, under ``"subset"``).

    OMP_NUM_THREADS=1 python benchmarks/baseline_weighting.py [--out DIR]
"""

import argparse
import contextlib
import json
import pathlib
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_crest import CrestClassifier
from sklearn_crest._models import MLP
from sklearn_crest.selection import _gradmatch

SEEDS = (0, 4)
VARIANTS = {
    "random": {"selection": "random"},
    "craig": {"selection": "craig"},
    "craig subset": {"selection": "craig", "selection__batch_weighting": "subset"},
    "craig unit": {"selection": "craig", "unit_weights": True},
    "gradmatch": {"selection": "gradmatch"},
    "gradmatch subset": {"selection": "gradmatch", "selection__batch_weighting": "subset"},
    "gradmatch unit": {"selection": "gradmatch", "unit_weights": True},
    "gradmatch pursuit totals": {"selection": "gradmatch", "pursuit_totals": True},
    "gradmatch reg 0.5": {"selection": "gradmatch", "selection__regularization": 0.5},
    "gradmatch reg 0.05": {"selection": "gradmatch",
                           "selection__regularization": 0.05},
    # The configuration before this comparison: CORDS's CIFAR-10 ridge, the
    # pursuit's class totals, weights normalised over the subset.
    "gradmatch before": {"selection": "gradmatch", "selection__regularization": 0.5,
                         "pursuit_totals": True, "selection__batch_weighting": "subset"},
    "gradmatch lr 0.05": {"selection": "gradmatch", "lr": 0.05},
    "random lr 0.05": {"selection": "random", "lr": 0.05},
}


class _Recording(CrestClassifier):
    """Records each training batch's mean weight; ``unit_weights`` trains
    the strategy's batches unweighted."""

    unit_weights = False

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if training and X is not None:
            weights = self.coreset_weights(X)
            self.batch_means_.append(
                (len(self.history), 1.0 if weights is None else float(weights.mean())))
            if self.unit_weights:
                return self.per_example_loss(y_pred, y_true).mean()
        return super().get_loss(y_pred, y_true, X=X, training=training)


@contextlib.contextmanager
def _class_totals(enabled):
    """Without ``enabled``, GradMatch keeps the pursuit's class totals
    instead of rescaling each class's weights to its size (an ablation)."""
    if enabled:
        yield
        return
    original = _gradmatch.class_totals_as_counts
    _gradmatch.class_totals_as_counts = lambda weights, *args: weights
    try:
        yield
    finally:
        _gradmatch.class_totals_as_counts = original


def digits_split():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def run(variant, seed, data):
    X_train, X_test, y_train, y_test = data
    params = dict(VARIANTS[variant])
    unit = params.pop("unit_weights", False)
    pursuit_totals = params.pop("pursuit_totals", False)
    params.setdefault("lr", 0.1)
    torch.manual_seed(seed)
    net = _Recording(MLP, module__hidden=64, train_frac=0.2, max_epochs=25,
                     batch_size=32, optimizer=torch.optim.SGD,
                     optimizer__momentum=0.9, train_split=None, verbose=0,
                     random_state=seed, **params)
    net.unit_weights = unit
    net.batch_means_ = []
    start = time.perf_counter()
    with warnings.catch_warnings(), _class_totals(not pursuit_totals):
        warnings.simplefilter("ignore")
        net.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    losses = np.array(net.history[:, "train_loss"], dtype=float)
    last_epoch = len(net.history)
    means = [m for epoch, m in net.batch_means_ if epoch == last_epoch]
    return {"variant": variant, "seed": seed,
            "test_accuracy": float(net.score(X_test, y_test)),
            "final_train_loss": float(losses[-1]),
            "max_train_loss_last5": float(losses[-5:].max()),
            "max_batch_mean_weight": float(max(means)) if means else 1.0,
            "train_loss_curve": losses.round(4).tolist(), "fit_s": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/output/baseline-weighting")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = digits_split()
    print(f"digits: {len(data[2])} training rows, {len(data[3])} test rows")
    rows = []
    for seed in SEEDS:  # interleaved: every variant on a seed, then the next
        for variant in args.variants.split(","):
            rows.append(run(variant, seed, data))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(rows, indent=1))
    print("| variant | test acc (seed 0, 4) | vs random (pt, mean) | final train loss | "
          "max train loss, last 5 epochs | max batch mean weight |")
    print("| --- | --- | --- | --- | --- | --- |")
    by = {(r["variant"], r["seed"]): r for r in rows}
    for variant in args.variants.split(","):
        runs = [by[variant, seed] for seed in SEEDS]
        reference = "random lr 0.05" if "lr 0.05" in variant else "random"
        gap = (np.mean([r["test_accuracy"] - by[reference, r["seed"]]["test_accuracy"]
                        for r in runs]) * 100 if (reference, SEEDS[0]) in by else float("nan"))
        def joined(key, spec):
            return " / ".join(format(r[key], spec) for r in runs)
        print(f"| {variant} | {joined('test_accuracy', '.3f')} | {gap:+.1f} | "
              f"{joined('final_train_loss', '.2f')} | "
              f"{joined('max_train_loss_last5', '.2f')} | "
              f"{joined('max_batch_mean_weight', '.1f')} |")
    print(f"wrote {out / 'runs.json'}")


if __name__ == "__main__":
    main()
