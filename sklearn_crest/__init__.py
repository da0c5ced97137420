"""sklearn-crest: CREST coreset training for scikit-learn and skorch.

Public names:

- :class:`CoresetSelector`: an imbalanced-learn sampler that keeps a weighted
  facility-location (or random, or CREST-style) coreset of the training set.
- :class:`CoresetTrainer`: fits any scikit-learn estimator on the weighted
  coreset of a selector, inside a plain scikit-learn pipeline.
"""

from ._selector import CoresetSelector
from ._trainer import CoresetTrainer

__version__ = "0.1.0"

__all__ = ["CoresetSelector", "CoresetTrainer", "__version__"]
