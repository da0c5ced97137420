"""Random access to training examples by index, and a slicing batch iterator.

CREST needs examples by index (random subsets, coresets, the check sample), not
in a fixed loader order. For in-memory data the rows are gathered straight from
the tensors: skorch's default DataLoader indexes and collates one sample at a
time, which doubles the epoch time of small models. User ``Dataset`` objects keep
the DataLoader's collation.
"""

import hashlib
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from skorch.dataset import Dataset as SkorchDataset
from torch.utils.data import Subset, default_collate


def data_device(setting, device, dataset):
    """Where :class:`IndexedData` should keep in-memory training tensors:
    ``device`` when ``setting`` is True, or when it is ``"auto"``, the
    device is a GPU and the tensors take at most half of its free memory;
    None (where they are) otherwise."""
    if setting is False or device is None or torch.device(device).type == "cpu":
        return None
    if setting is True:
        return device
    tensors = _in_memory_tensors(dataset)
    if tensors is None or torch.device(device).type != "cuda":
        return None
    X, y, _ = tensors
    size = X.element_size() * X.nelement() + (
        y.element_size() * y.nelement() if isinstance(y, torch.Tensor) else 0)
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return device if size <= free // 2 else None


def _unwrap(dataset):
    """The innermost dataset of nested ``Subset``s and the row indices into it."""
    rows = None
    while isinstance(dataset, Subset):
        indices = np.asarray(dataset.indices, dtype=np.int64)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    return dataset, rows


def _in_memory_tensors(dataset):
    """(X, y, rows) when ``dataset`` is a skorch Dataset over a tensor, else None.

    ``y`` is whatever the dataset holds (None for prediction).
    """
    base, rows = _unwrap(dataset)
    if not isinstance(base, SkorchDataset) or not isinstance(base.X, torch.Tensor):
        return None
    y = base.y
    if rows is None:
        rows = np.arange(len(base.X), dtype=np.int64)
    return base.X, y, rows


class IndexedData:
    """Rows of a training set by position, for numpy/tensor data or any Dataset.

    Parameters
    ----------
    dataset : torch Dataset
        A skorch ``Dataset`` over tensors (possibly inside skorch's validation
        ``Subset``) or any map-style dataset whose items are ``(x, y)``.
    encode : callable
        Maps the labels a skorch ``Dataset`` holds to int64 class indices.
    known_labels : KnownLabels, optional
        The labels of a user Dataset, read when the fit validated it.
    collate_fn : callable, optional
        Collates a user Dataset's items into a batch (torch's
        ``default_collate`` unless ``iterator_train__collate_fn`` says
        otherwise).
    num_workers : int, default=0
        Threads that read a user Dataset's items for :meth:`batch`
        (``iterator_train__num_workers``); 0 reads them in the calling thread.
    device : str, torch.device or None, default=None
        Where in-memory tensors are kept: moved there once, so that a batch
        is gathered on that device instead of copied to it at every step.
        None keeps them where they are. User Datasets are not moved.

    Attributes
    ----------
    labels : ndarray of int64, shape (n,)
        The label of each position.
    """

    def __init__(self, dataset, encode, known_labels=None, collate_fn=None,
                 num_workers=0, device=None):
        tensors = _in_memory_tensors(dataset)
        self.dataset = dataset
        self.collate_fn = collate_fn or default_collate
        self._fingerprint = None
        self._reader = None
        self._device_rows = None
        if tensors is None and num_workers > 0:
            # Items chosen step by step cannot be prefetched by a DataLoader;
            # threads read (and transform) a batch's items concurrently, as
            # far as decoding and transforms release the GIL.
            self._reader = ThreadPoolExecutor(max_workers=int(num_workers),
                                              thread_name_prefix="crest-reader")
            weakref.finalize(self, self._reader.shutdown, wait=False)
        if tensors is not None:
            self.X, y, self.rows = tensors
            if y is None:
                raise ValueError("CrestClassifier needs labels: pass y to fit.")
            # Encoded once, for all rows of the base dataset.
            self.y = encode(y)
            self.labels = self.y[torch.as_tensor(self.rows)].numpy().astype(np.int64)
            if device is not None:
                self.X = self.X.to(device)
                self.y = self.y.to(device)
        else:
            self.X = None
            self.labels = _dataset_labels(dataset, known_labels)

    def __len__(self):
        return len(self.labels)

    def row_bytes(self):
        """Bytes of one input row of in-memory data; None for a Dataset."""
        if self.X is None or len(self.X) == 0:
            return None
        return self.X.element_size() * (self.X.nelement() // len(self.X))

    def fingerprint(self):
        """Identifies the data cheaply: the same rows again (a new
        ``partial_fit`` call on the same arrays) give the same fingerprint,
        other data almost surely not."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self):
        digest = self._content_digest()
        if self.X is None:
            # Items of a user Dataset may be augmented at random; its identity
            # and labels stand for it.
            digest.update(str(id(_unwrap(self.dataset)[0])).encode())
        return len(self), digest.hexdigest()

    def _content_digest(self):
        digest = hashlib.sha1(self.labels.tobytes())
        if self.X is not None:
            # A few rows spread over the set, not all of it: O(1) per fit.
            probe = np.unique(np.linspace(0, len(self) - 1, min(len(self), 64))
                              .astype(np.int64)) if len(self) else []
            digest.update(self.batch(probe)[0].cpu().numpy().tobytes())
        return digest

    def content_identity(self):
        """``(n, digest)`` of what the data hold (labels, and sampled rows of
        in-memory data), the same in every process that holds the same data
        (a Dataset's object identity, which the fingerprint adds, is not)."""
        return len(self), self._content_digest().hexdigest()

    def batch(self, positions):
        """``(X, y)`` of the examples at ``positions`` (int array, or an int64
        tensor on the device of in-memory data, gathered there)."""
        if isinstance(positions, torch.Tensor):
            if self._device_rows is None or self._device_rows.device != positions.device:
                self._device_rows = torch.as_tensor(self.rows).to(positions.device)
            rows = self._device_rows[positions]
            return self.X[rows], self.y[rows]
        positions = np.asarray(positions, dtype=np.int64)
        if self.X is not None:
            rows = torch.as_tensor(self.rows[positions]).to(self.X.device)
            return self.X[rows], self.y[rows]
        if self._reader is not None and len(positions) > 1:
            items = list(self._reader.map(self.dataset.__getitem__,
                                          [int(i) for i in positions]))
        else:
            items = [self.dataset[int(i)] for i in positions]
        return tuple(self.collate_fn(items))


class KnownLabels:
    """The labels of one user Dataset, read once per fit.

    A Dataset without ``targets`` yields its labels only item by item, which
    reads (and transforms) every example; validation reads them once, and
    each epoch's iterator takes them from here instead of reading the whole
    dataset again. The dataset is held by a weak reference, so that a pickled
    estimator does not carry it.
    """

    def __init__(self, dataset, labels):
        try:
            self._dataset = weakref.ref(dataset)
        except TypeError:  # an object without weak references: no caching
            self._dataset = lambda: None
        self.labels = labels

    def __getstate__(self):
        return {"_dataset": None, "labels": None}

    def __setstate__(self, state):
        self._dataset = lambda: None
        self.labels = None

    def of(self, dataset):
        """The labels when ``dataset`` is the one they were read from."""
        if self.labels is not None and self._dataset() is dataset:
            return self.labels
        return None


def _dataset_labels(dataset, known_labels=None):
    """Labels of a map-style dataset (inside skorch's ``Subset`` splits), read
    once: from ``targets``, from ``known_labels``, or item by item."""
    base, rows = _unwrap(dataset)
    targets = getattr(base, "targets", None)
    if targets is None and known_labels is not None:
        targets = known_labels.of(base)
    if targets is not None:
        labels = np.asarray(targets)
        if rows is not None:
            labels = labels[rows]
    else:
        labels = np.asarray([_label_of(dataset[i]) for i in range(len(dataset))])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "A Dataset passed to CrestClassifier must yield (x, y) with integer "
            "class labels 0..n_classes-1; got labels of dtype "
            f"{labels.dtype} and shape {labels.shape}. Encode the labels, or pass "
            "arrays X and y instead.")
    return labels.astype(np.int64)


def _label_of(item):
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(
            "A Dataset passed to CrestClassifier must yield (x, y) pairs; got an "
            f"item of type {type(item).__name__}.")
    label = item[1]
    return label.item() if isinstance(label, torch.Tensor) else label


class SlicingIterator:
    """Re-iterable sequential batches of in-memory tensors, without collation.

    Yields ``(X_batch, y_batch)``; ``y_batch`` is None when there are no labels
    (prediction), which skorch's evaluation step ignores.
    """

    def __init__(self, X, y, rows, batch_size):
        self.X = X
        self.y = y
        self.rows = rows
        self.batch_size = batch_size
        # Contiguous rows are served as views: no copy at all.
        self.contiguous = (len(rows) == 0 or (
            rows[0] + len(rows) - 1 == rows[-1] and np.all(np.diff(rows) == 1)))

    def __len__(self):
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self):
        for start in range(0, len(self.rows), self.batch_size):
            if self.contiguous:
                first = int(self.rows[0]) + start
                stop = first + min(self.batch_size, len(self.rows) - start)
                Xb = self.X[first:stop]
                yb = None if self.y is None else self.y[first:stop]
            else:
                index = torch.as_tensor(self.rows[start:start + self.batch_size])
                Xb = self.X[index]
                yb = None if self.y is None else self.y[index]
            yield Xb, yb
