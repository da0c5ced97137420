"""One process of the data-parallel test (``test_distributed.py``).

Launched by ``torchrun --nproc_per_node 2`` (gloo, on the CPU): every
process fits ``AcceleratedCrestClassifier`` on the whole digits
training set in each case below, and writes what the test compares to
``<out>/rank<r>.json``: the training positions of every step (the input's
last column holds each row's position, and the module ignores it), a digest
of the parameters after every epoch, the history's selection figures, the
CREST checks, the test accuracy and whether the fitted net pickles without
training rows. The single-process reference fits run in the test itself.
"""

import hashlib
import json
import pickle
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin

from sklearn_crest import AcceleratedCrestClassifier, CrestClassifier

sys.path.insert(0, str(Path(__file__).parent))
from distributed_cases import (  # noqa: E402
    CASES, COMMON, DATASET_CASES, RECIPE_CASES, IndexedMLP, RowsDataset,
    ScaledCrossEntropy, digits_split)


class SkorchRecipe(AccelerateMixin, CrestClassifier):
    """skorch's own composition: evaluation sharded by the accelerator and
    gathered by the mixin."""


class Recorder(Callback):
    """The positions each training step served, and the parameters after
    each epoch."""

    def initialize(self):
        self.steps, self.digests = [], []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.steps.append(batch[0][:, -1].long().tolist())

    def on_epoch_end(self, net, **kwargs):
        flat = torch.cat([p.detach().reshape(-1).cpu() for p in net.module_.parameters()])
        self.digests.append(hashlib.sha1(flat.numpy().tobytes()).hexdigest())


def run_case(accelerator, params, X_train, y_train, X_test, y_test, dataset=False,
             continued=False, recipe=False):
    recorder = Recorder()
    if dataset:
        params = {**params, "module__n_features": X_train.shape[1]}
    if recipe:
        params = {**params, "criterion": ScaledCrossEntropy,
                  "criterion__reduction": "none"}
    estimator = SkorchRecipe if recipe else AcceleratedCrestClassifier
    net = estimator(IndexedMLP, accelerator=accelerator,
                    callbacks=[("recorder", recorder)], **COMMON, **params)
    if dataset:
        net.fit(RowsDataset(X_train, y_train), None)
    else:
        net.fit(X_train, y_train)
    if continued:
        # Continued training must average gradients again (the module was
        # unwrapped after the fit).
        net.partial_fit(X_train, y_train)
    accuracy = float(net.score(X_test, y_test))
    blob = pickle.dumps(net.strategy_)
    record = {
        "steps": recorder.steps,
        "digests": recorder.digests,
        "history": {key: net.history[:, key]
                    for key in ("n_selections", "n_checks", "n_steps", "train_loss")},
        "checks": [list(map(float, entry[:2]))
                   for entry in getattr(net.strategy_, "check_log", [])],
        "accuracy": accuracy,
        # A pickle keeps positions, never rows: no test row's bytes in it.
        "pickle_has_rows": bytes(X_train[:4].tobytes()) in blob,
        "pool_size": int(net.strategy_.pool.positions.size),
        # Predictions of a Dataset: every row, in every process.
        "dataset_predictions": len(net.predict(RowsDataset(X_test, y_test))),
    }
    if not recipe:
        # (The recipe's gathering needs the accelerator's live state, which
        # a pickled copy does not share: the docs say so.)
        restored = pickle.loads(pickle.dumps(net))
        record["restored_accuracy"] = float(restored.score(X_test, y_test))
    return record


def main(out):
    accelerator = Accelerator(cpu=True)
    X_train, X_test, y_train, y_test = digits_split()
    results = {name: run_case(accelerator, params, X_train, y_train, X_test, y_test)
               for name, params in CASES.items()}
    # Run to run: the same seed and number of processes give the same fit.
    results["per_step_again"] = run_case(accelerator, CASES["per_step"], X_train,
                                         y_train, X_test, y_test)
    for name, params in DATASET_CASES.items():
        results[name] = run_case(accelerator, params, X_train, y_train, X_test, y_test,
                                 dataset=True)
    for name, params in RECIPE_CASES.items():
        results[name] = run_case(accelerator, params, X_train, y_train, X_test, y_test,
                                 recipe=True)
    results["crest_continued"] = run_case(accelerator, CASES["crest"], X_train, y_train,
                                          X_test, y_test, continued=True)
    path = Path(out) / f"rank{accelerator.process_index}.json"
    path.write_text(json.dumps(results))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1])
