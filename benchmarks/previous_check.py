"""CREST as of commit b163ce8 (the quadratic model's gradient taken from the
weighted coreset loss, its anchor from the check sample; regions cycle their
coresets) under the paper's protocol on the benchmark's validation split, to
measure what the consistent check changed (RESULTS.md, section 0).

    git worktree add ../crest-b163ce8 b163ce8
    python benchmarks/previous_check.py ../crest-b163ce8 previous-check.json

Prints one JSON line per seed and writes them all to the output file.
"""
import json
import math
import sys

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from sklearn.model_selection import train_test_split
sys.path.insert(0, sys.argv[1])  # the old checkout shadows the installed package
from sklearn_crest import CrestClassifier  # noqa: E402
from sklearn_crest._models import SmallCNN  # noqa: E402
from sklearn_crest.datasets import fetch_fashion_mnist  # noqa: E402

X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=1 / 6, stratify=y, random_state=0)


def factor(e, E=20):
    # The paper's schedule as the benchmark command applies it for 20 epochs.
    warm = 2
    if e < warm: return (e + 1) / warm
    if e >= math.ceil(0.85 * E): return 0.01
    if e >= math.ceil(0.6 * E): return 0.1
    return 1.0


out = []
for seed in (0, 1):
    net = CrestClassifier(SmallCNN, selection="crest", train_frac=0.1, max_epochs=20, batch_size=128,
                          lr=0.1, optimizer=torch.optim.SGD, optimizer__momentum=0.9,
                          optimizer__weight_decay=5e-4, train_split=None, verbose=0, random_state=seed,
                          callbacks=[("lr", LRScheduler(policy=torch.optim.lr_scheduler.LambdaLR,
                                                        lr_lambda=factor, step_every="epoch"))])
    net.fit(X_tr, y_tr)
    h = net.history
    row = {"seed": seed, "acc": float(np.mean(net.predict(X_va) == y_va)),
           "selections_per_epoch": [int(v) for v in h[:, "n_selections"]],
           "checks": int(sum(h[:, "n_checks"])), "wall_s": float(sum(h[:, "dur"])),
           "selection_s": float(sum(h[:, "selection_s"])), "check_s": float(sum(h[:, "check_s"]))}
    print(json.dumps(row), flush=True)
    out.append(row)
with open(sys.argv[2], "w") as handle:
    json.dump(out, handle, indent=1)
