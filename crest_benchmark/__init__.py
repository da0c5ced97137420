"""What CREST buys: full-data training, a random subset and CREST, side by side.

Run ``python -m crest_benchmark`` (or ``crest-benchmark``). It trains the
same model several ways for several seeds and writes a table, a JSON and a CSV
file and PNG plots:

- ``full``: ordinary full-data epochs;
- ``random``: uniform random batches at ``train_frac`` of full's steps;
- ``crest``: CREST at the same steps;
- ``per_step``: a fresh mini-batch coreset at every step (the paper's
  "greedy mini-batch selection" of its Figure 3), the same steps;
- ``craig`` and ``gradmatch``: the paper's coreset baselines, a weighted
  subset of ``train_frac`` of the training set chosen from all of it at the
  start of every epoch (facility location on gradient proxies; orthogonal
  matching pursuit on last-layer gradients), the same steps;
- ``rs2``: random batches without replacement across epochs (RS2, Okanovic
  et al. 2024: every example is seen once before any is seen twice, with the
  class proportions kept), the same steps; ``random`` draws a fresh
  permutation every epoch (with replacement across epochs);
- ``infobatch``: InfoBatch's dynamic pruning (Qin et al. 2024) at full-data
  epochs: each epoch leaves out a random part of the well-learned examples
  (last training loss below the mean), so its steps are what it prunes to,
  not ``train_frac``'s;
- ``random_at_crest_time``, ``random_at_per_step_time`` and
  ``random_at_infobatch_time``: random batches given as many steps as fit
  into CREST's (per_step's, InfoBatch's) wall-clock for the same seed: equal
  time rather than equal steps;
- ``random_pruning``: InfoBatch's own baseline, random batches with as many
  steps in all as InfoBatch took for the same seed;
- ``infobatch_random_plan`` and ``infobatch_random_plan_unscaled``: the
  InfoBatch paper's ablation, InfoBatch's per-epoch plan (scores, annealing,
  as many examples pruned per epoch) with the pruned examples drawn uniformly
  from the whole pool instead of from the well-learned ones, with and without
  the ``1 / (1 - prune_ratio)`` weight on the kept candidates.

The methods are one table, ``crest_benchmark.methods.METHODS``.

Besides the main table, the command prints the paper's layout (its Table 1 and
Figure 2): each method's relative error against full-data training and its
wall-clock speedup over it, with the share of the selection time spent beyond
the selection's forward passes.

``--schedule paper`` (the default) trains every method under the paper's
protocol: SGD with momentum 0.9 and weight decay 5e-4, the learning rate warmed
up linearly over the first 10% of the epochs, then multiplied by 0.1 at 60% and
at 85% of them. ``--schedule constant`` keeps one learning rate throughout.
``--eval-set validation`` holds out part of the training set and reports on it
instead of the test set, for choosing settings without looking at test data.

Defaults use scikit-learn's embedded ``load_digits`` with a small MLP, so the
command runs in well under a minute with nothing to download. The real
benchmark is ``--dataset fashion-mnist --model cnn`` (or ``mlp``).

Timing: the wall-clock of a run is the sum of its training epochs (skorch's
``dur``, which includes CREST's selection and checks); the test-set evaluation
after each epoch, which only draws the learning curves, is excluded.

Provenance: every results.json records the code (sklearn-crest's version,
and the commit where it runs from a git checkout), the versions of Python,
torch, skorch, scikit-learn and numpy, the device and the processor, torch's
threads and the date; a merge keeps each merged folder's.

Modules: ``cli`` (the options), ``methods`` (the table of methods and the
estimator's selection settings), ``data``, ``runner`` (fitting, timing,
budgets), ``stats`` (paired figures, the verdict), ``report`` (the printed
report and the files), ``plots``, ``provenance``, ``ablation`` (InfoBatch's
plan with uniform pruning).
"""
