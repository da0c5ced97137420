"""The selection layer stands on its own: a plain PyTorch loop drives it."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from sklearn_crest.selection import CrestRegions, ModuleModel, Step, TrainingData

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "plot_plain_pytorch_loop.py"


def test_the_gallery_example_trains_with_crest_and_random(tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    accuracies = dict(re.findall(r"(\w+): test accuracy (\d\.\d+)", done.stdout))
    assert set(accuracies) == {"random", "crest"}
    assert all(float(a) > 0.85 for a in accuracies.values()), done.stdout
    selections, steps = map(int, re.search(r"re-selected (\d+) times in (\d+) steps",
                                           done.stdout).groups())
    assert 0 < selections < steps


def test_a_loop_that_reports_feeds_crest_its_anchor_and_checks(digits600):
    X, y = digits600
    labels = np.unique(y, return_inverse=True)[1]
    module = torch.nn.Sequential(torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    model, data = ModuleModel(module), TrainingData(X, labels)
    strategy = CrestRegions().start(batch_size=32, train_frac=0.2, random_state=0)
    wanted = reported = 0
    for _ in range(3):
        for step in strategy.epoch_steps(model, data):
            assert isinstance(step, Step)
            inputs, targets = data.batch(step.positions)
            losses = model.per_example_loss(module(inputs), targets)
            optimizer.zero_grad()
            step.weighted_loss(losses).backward()
            wanted += step.wants_losses
            reported += step.wants_losses and step.reported
            step.report_gradient(model)
            optimizer.step()
    assert wanted > 0 and reported == wanted
    # The quadratic model was anchored on training steps, never on a check
    # sample (the fallback when a loop reports nothing).
    assert strategy.quadratic_model.anchor is not None
    assert strategy.check_sample is None
    assert strategy.history_record()["n_checks"] > 0


def test_training_data_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="as many labels as rows"):
        TrainingData(np.zeros((3, 2), dtype=np.float32), [0, 1])
