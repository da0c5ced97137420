"""The coreset engine: the math of selection, knowing nothing of skorch.

Plain functions and small classes, tensors and arrays in, tensors and arrays
out; the selection strategies (``selection/``) and
:class:`~sklearn_crest.CoresetSelector` call them.

- ``facility_location.py``: facility location (lazy, naive and stochastic
  greedy, blocked kernels for large ground sets, one batched greedy for many
  small ground sets) and budgets split over classes;
- ``minibatch.py``: CREST's mini-batch coresets, one weighted coreset per
  random subset;
- ``proxies.py``: last-layer gradient proxies (softmax minus one-hot) and the
  output layer's inputs;
- ``gradient_matching.py``: GradMatch's orthogonal matching pursuit;
- ``curvature.py``: CREST's quadratic model of the loss.
"""
