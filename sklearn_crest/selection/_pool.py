"""The training pool: the positions a strategy selects from, and the fit's
randomness and counters.

A strategy never holds data, only positions into the training set, so it
pickles small and survives ``partial_fit``. The pool is the part of a
strategy's state that does not depend on how it selects: the positions still
in play (all of them, less what dropping learned examples removed), their
labels, this process's share of a data-parallel fit, the random streams, and
the epoch and step counters. When ``selection`` changes between
``partial_fit`` calls, the new strategy takes the pool over as it is.

With several processes, each owns a disjoint, class-stratified part of the
training positions as its pool, selects there with its own random stream,
and trains ``batch_size`` of its examples per step (``_processes.py``).
"""

import numpy as np
import torch

from ._class_streams import ClassStreams


class TrainingPool:
    """The positions in play, their labels, the process share, the random
    streams and the epoch counters of one fit.

    Parameters
    ----------
    random_state : numpy.random.RandomState
        Source of all of the strategy's randomness; a torch generator for
        torch-side draws (Hutchinson probes) is seeded from it.

    Attributes
    ----------
    positions : ndarray of int64 or None
        The training positions in play, sorted; None before :meth:`bind`.
    labels : ndarray of int64 or None
        The class index of every training position (not pickled).
    n_train, n_owned, n_classes : int
        Training examples, those this process owns, and classes.
    epoch, global_step : int
        Epochs and training steps served so far.
    version : int
        Incremented whenever ``positions`` changes: caches derived from the
        pool (class quotas, per-class streams) key on it.
    """

    def __init__(self, random_state):
        self.rng = random_state
        self.torch_generator = torch.Generator().manual_seed(
            int(random_state.randint(2**31 - 1)))
        self.n_train = None
        self.fingerprint = None
        self.positions = None
        self.owner = (0, 1)
        self.n_owned = None
        self.labels = None
        self.n_classes = 0
        self.epoch = 0
        self.global_step = 0
        self.version = 0
        self._members = None
        self._streams = None

    def __getstate__(self):
        """Positions and counters travel; labels and per-class caches are
        rebuilt from the data at the next bind. The torch generator travels
        as its state in a numpy array: skorch unpickles the strategy (a
        CUDA-dependent attribute) with its tensors mapped to the training
        device, and a CPU generator refuses a state tensor on CUDA."""
        state = self.__dict__.copy()
        state.update(labels=None, _members=None, _streams=None,
                     torch_generator=self.torch_generator.get_state().numpy())
        return state

    def __setstate__(self, state):
        generator_state = state.pop("torch_generator")
        self.__dict__.update(state)
        self.torch_generator = torch.Generator()
        self.torch_generator.set_state(
            torch.from_numpy(np.array(generator_state, dtype=np.uint8)))

    def bind(self, data, processes):
        """Attach to a training set; return whether the pool restarted.

        Other data (not merely the same rows again) restart the pool:
        positions into the old data mean nothing in the new; so does another
        place in another number of processes, whose share differs."""
        fingerprint = data.fingerprint()
        owner = (processes.rank, processes.world_size)
        restarted = fingerprint != self.fingerprint or owner != self.owner
        if restarted:
            self.fingerprint = fingerprint
            self.n_train = len(data)
            self.positions = self._owned_positions(data, processes)
            self.owner = owner
            self.n_owned = int(self.positions.size)
            self._changed()
        if self.labels is None or self.labels is not data.labels:
            # The same data again have the same labels (the fingerprint says
            # so): the per-class caches stay; they follow pool changes only.
            self.labels = data.labels
            self.n_classes = int(self.labels.max()) + 1 if self.n_train else 0
        return restarted

    def _owned_positions(self, data, processes):
        """All positions in a single process; with several, a disjoint
        share, class-stratified (each class dealt out in turn, in an order
        all processes draw alike), after which each process draws from its
        own random stream (seeded by the shared draw and its rank, so a fixed
        number of processes repeats its runs)."""
        labels = data.labels
        n = len(labels)
        if not processes.distributed:
            return np.arange(n, dtype=np.int64)
        size, digest = data.content_identity()
        identity = np.array([size, int(digest[:12], 16)], dtype=np.float64)  # exact
        # One all-reduce for the largest and (negated) the smallest values.
        highest, lowest = np.split(processes.max(np.concatenate([identity, -identity])), 2)
        if np.any(highest != -lowest):
            raise ValueError(
                "The processes of this data-parallel fit passed different "
                "training data. Every process must call fit with the whole "
                "training set (the same rows and labels): the processes split it "
                "between themselves.")
        if n < processes.world_size:
            # The same data everywhere now: every process refuses alike.
            raise ValueError(
                f"{n} training examples cannot be shared by "
                f"{processes.world_size} processes: each needs at least one. "
                "Train in fewer processes.")
        seed = int(processes.from_first([self.rng.randint(2**31 - 1)])[0])
        order = np.random.RandomState(seed).permutation(n)
        order = order[np.argsort(labels[order], kind="stable")]
        owned = np.sort(order[processes.rank::processes.world_size])
        own_seeds = np.random.SeedSequence([seed, processes.rank]).generate_state(2)
        self.rng = np.random.RandomState(int(own_seeds[0]))
        self.torch_generator = torch.Generator().manual_seed(int(own_seeds[1]))
        return owned.astype(np.int64)

    def remove(self, rows):
        """Take the pool's entries at ``rows`` (indices into
        :attr:`positions`) out of play."""
        self.positions = np.delete(self.positions, rows)
        self._changed()

    def _changed(self):
        self.version += 1
        self._members = None
        self._streams = None

    def members(self):
        """The pool's positions of each class; built in one pass when the
        pool changes, not per epoch or per draw (with 3M examples and 2000
        classes, one scan per class took 6.5 s per epoch)."""
        if self._members is None:
            self._members = group_by_class(self.positions,
                                           self.labels[self.positions], self.n_classes)
        return self._members

    def streams(self):
        """Shuffled per-class streams of the pool (``_class_streams.py``);
        rebuilt when the pool changes."""
        if self._streams is None:
            self._streams = ClassStreams(self.members(), self.rng)
        return self._streams

    def class_counts(self):
        """Examples of each class in the pool."""
        return np.bincount(self.labels[self.positions], minlength=self.n_classes)


def group_by_class(positions, labels, n_classes):
    """``positions`` split by their ``labels``: one array per class, in the
    order of ``positions`` within a class (one stable sort, not a scan per
    class)."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_classes)
    return np.split(positions[order], np.cumsum(counts)[:-1])
