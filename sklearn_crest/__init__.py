"""sklearn-crest: CREST coreset training for scikit-learn and skorch.

Public names:

- :class:`CrestClassifier`: a skorch ``NeuralNetClassifier`` trained on
  weighted mini-batch coresets: a fresh one at every step by default, or
  CREST's regions (``selection="crest"``), re-selected when a quadratic model
  of the loss stops holding.
- :class:`CoresetSelector`: an imbalanced-learn sampler that keeps a weighted
  facility-location (or random, or CREST-style) coreset of the training set.
- :class:`CoresetTrainer`: fits any scikit-learn estimator on the weighted
  coreset of a selector, inside a plain scikit-learn pipeline.
- :class:`AcceleratedCrestClassifier`: :class:`CrestClassifier` through
  Hugging Face Accelerate, for data-parallel fits over several processes
  (``pip install sklearn-crest[distributed]``).
"""

from ._accelerated import AcceleratedCrestClassifier
from ._classifier import CrestClassifier
from ._selector import CoresetSelector
from ._trainer import CoresetTrainer

__version__ = "0.1.0"

__all__ = ["AcceleratedCrestClassifier", "CrestClassifier", "CoresetSelector", "CoresetTrainer", "__version__"]
