"""
Selection in a plain PyTorch loop
=================================

The selection strategies do not need skorch or the estimator. A strategy
hands a training loop one :class:`~sklearn_crest.selection.Step` per
optimizer step: the positions of the examples to train on and their coreset
weights. Where the strategy learns from training (CREST's checks and its
quadratic loss model, InfoBatch's scores), the step also takes back what the
loop computes anyway: its per-example losses (through
:meth:`~sklearn_crest.selection.Step.weighted_loss`) and its gradient
(:meth:`~sklearn_crest.selection.Step.report_gradient`). The estimator is
one user of this interface; this loop is another.

Here CREST and random batches train the same network on digits under the
same step budget, a fifth of full training's steps.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_crest.selection import CrestRegions, ModuleModel, RandomBatches, TrainingData

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0)


def train(strategy, seed, epochs=12):
    """Train a small network on the steps ``strategy`` hands out."""
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                 torch.nn.Linear(64, 10))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    model = ModuleModel(module)  # what the strategy may ask of the model
    data = TrainingData(X_train, y_train)  # rows by position
    strategy.start(batch_size=32, train_frac=0.2, random_state=seed)
    selections = []
    for _ in range(epochs):
        module.train()
        for step in strategy.epoch_steps(model, data):
            inputs, targets = data.batch(step.positions)
            losses = model.per_example_loss(module(inputs), targets)
            optimizer.zero_grad()
            step.weighted_loss(losses).backward()  # reports the losses
            step.report_gradient(model)  # before the optimizer moves
            optimizer.step()
        selections.append(strategy.history_record()["n_selections"])
    module.eval()
    with torch.no_grad():
        predicted = module(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    return float(np.mean(predicted == y_test)), selections


results = {}
for name, make in [("random", RandomBatches), ("crest", CrestRegions)]:
    results[name] = [train(make(), seed) for seed in range(3)]
    accuracies = [accuracy for accuracy, _ in results[name]]
    print(f"{name:>7}: test accuracy {np.mean(accuracies):.3f} "
          f"(seeds: {', '.join(f'{a:.3f}' for a in accuracies)})")
steps_per_epoch = int(np.ceil(0.2 * len(y_train) / 32))
print(f"crest re-selected {sum(results['crest'][0][1])} times in "
      f"{12 * steps_per_epoch} steps (seed 0)")

# %%
# The selections per epoch of CREST's first seed: the first epoch trains on
# random batches (an untrained network's gradients say nothing), then regions
# are re-selected when the quadratic model stops predicting the loss.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(range(1, 13), results["crest"][0][1], color="tab:red")
ax.set_xlabel("epoch")
ax.set_ylabel("new regions")
ax.set_title(f"CREST in a plain PyTorch loop ({steps_per_epoch} steps per epoch)")
fig.tight_layout()
