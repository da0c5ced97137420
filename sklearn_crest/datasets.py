"""Dataset loaders in the style of scikit-learn's ``fetch_*`` functions."""

import gzip
import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["fetch_fashion_mnist", "get_data_home", "make_mnist1d"]

# Zalando's official files. The checksums are of the *decompressed* IDX bytes,
# so that recompressed copies (Debian's package, mirrors) verify too.
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# Where Debian's dataset-fashion-mnist package puts the files.
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATA_ENV = "SKLEARN_CREST_DATA"
FASHION_MNIST_CLASSES = np.array([
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
])


def get_data_home(data_home=None):
    """Folder for downloaded data: ``data_home``, else ``$SKLEARN_CREST_DATA``,
    else ``~/sklearn_crest_data``."""
    if data_home is None:
        data_home = os.environ.get(DATA_ENV, Path.home() / "sklearn_crest_data")
    return Path(data_home).expanduser()


def _content_sha256(path):
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path, expected):
    try:
        return _content_sha256(path) == expected
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def _read_idx(path, header_bytes):
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=header_bytes)


def _find_or_download(folder_candidates, download_folder, download_if_missing):
    """A folder holding all four verified files, downloading them if allowed."""
    for folder in folder_candidates:
        if all(_verified(folder / name, sha) for name, sha in
               FASHION_MNIST_FILES.items()):
            return folder
    if not download_if_missing:
        raise OSError(_missing_message(folder_candidates))
    download_folder.mkdir(parents=True, exist_ok=True)
    for name, sha in FASHION_MNIST_FILES.items():
        target = download_folder / name
        if _verified(target, sha):
            continue
        partial = target.with_suffix(".part")
        try:
            with urllib.request.urlopen(FASHION_MNIST_URL + name, timeout=30) as r, \
                    open(partial, "wb") as out:
                shutil.copyfileobj(r, out)
        except (urllib.error.URLError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise OSError(_missing_message(folder_candidates) +
                          f"\nThe download failed: {exc}") from exc
        if not _verified(partial, sha):
            partial.unlink(missing_ok=True)
            raise OSError(f"The downloaded {name} failed its checksum; try again.")
        partial.replace(target)
    return download_folder


def _missing_message(folders):
    looked = ", ".join(str(f) for f in folders)
    return (
        "Fashion-MNIST was not found (looked in: " + looked + "). Provide it in "
        "one of these ways: pass data_home=DIR holding the four files "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz; set the "
        f"{DATA_ENV} environment variable to such a folder; on Debian or Ubuntu, "
        "`apt-get install dataset-fashion-mnist` (files land in "
        f"{SYSTEM_FASHION_MNIST}); or call with download_if_missing=True on a "
        "machine that is online.")


def fetch_fashion_mnist(data_home=None, *, subset="train", return_X_y=False,
                        download_if_missing=True, flatten=True):
    """Load Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28 x 28 grey images.

    Local copies come first: ``data_home`` (or ``$SKLEARN_CREST_DATA``, or
    ``~/sklearn_crest_data``), then Debian's system copy in
    ``/usr/share/datasets/fashion-mnist``. Only where none holds the four files
    is the dataset downloaded from Zalando's official source into
    ``data_home``. Every file is verified by the SHA-256 of its decompressed
    content.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder to look in and download to.
    subset : {"train", "test", "all"}, default="train"
        60,000 training images, 10,000 test images, or both (train first).
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.
    download_if_missing : bool, default=True
        Download when no local copy is found; False raises ``OSError`` instead.
    flatten : bool, default=True
        ``X`` of shape (n, 784); False gives (n, 1, 28, 28) for convolutions.

    Returns
    -------
    data : Bunch or tuple of ndarray
        A Bunch with ``data`` (float32 in [0, 1]), ``target`` (int64 in 0..9),
        ``target_names`` and ``DESCR``; with ``return_X_y=True``, the tuple
        ``(data, target)``.

    Raises
    ------
    OSError
        When the data is absent and cannot be downloaded; the message names the
        ways to provide it.
    ValueError
        For an unknown ``subset``.
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    home = get_data_home(data_home) / "fashion_mnist"
    folder = _find_or_download([home, get_data_home(data_home),
                                SYSTEM_FASHION_MNIST], home, download_if_missing)
    parts = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[subset]
    images, labels = [], []
    for prefix in parts:
        raw = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16)
        images.append(raw.reshape(-1, 1, 28, 28))
        labels.append(_read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8))
    X = np.concatenate(images).astype(np.float32) / 255.0
    y = np.concatenate(labels).astype(np.int64)
    if flatten:
        X = X.reshape(len(X), -1)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, target_names=FASHION_MNIST_CLASSES,
                 DESCR="Fashion-MNIST (Zalando Research, MIT licence): 70,000 "
                       "28x28 grey images of 10 clothing classes.")


def make_mnist1d(n_samples=70_000, *, test_size=10_000, random_state=0,
                 data_home=None, cache=True, return_X_y=False):
    """Generate MNIST-1D (Greydanus, 2020): 40-sample 1-D signals of 10 digits.

    Each signal is one of ten 12-point digit templates, padded, translated,
    scaled, sheared and blurred with correlated and independent noise, then
    resampled to 40 points, by the ``mnist1d`` package's own generator
    (``pip install -e '.[mnist1d]'``). Nothing is downloaded: the package's
    ``get_dataset`` would fetch its 5,000-example pickle from the web, so this
    calls its generator (``make_dataset``) only. Harder than Fashion-MNIST for
    its size: its authors put an MLP at about 68% and a CNN at about 94%
    test accuracy on 4,000 training examples.

    Parameters
    ----------
    n_samples : int, default=70,000
        Examples in all, training and test, split evenly over the classes.
    test_size : int, default=10,000
        The last ``test_size`` examples (of a shuffled set) are the test set.
    random_state : int, default=0
        Seed of the generator (the package's ``seed``). The global numpy and
        ``random`` states, which the package reseeds, are restored after.
    data_home : str or path-like, default=None
        Where the generated arrays are cached (``mnist1d/`` under
        :func:`get_data_home`).
    cache : bool, default=True
        Read a cached copy of the same ``n_samples`` and ``random_state`` if
        there is one, and write one after generating (70,000 examples take
        about 40 s to generate on one core, and 22 MB to cache).
    return_X_y : bool, default=False
        Return ``(X_train, y_train, X_test, y_test)`` instead of a Bunch.

    Returns
    -------
    data : Bunch or tuple of ndarray
        A Bunch with ``data``, ``target`` (the training set), ``data_test``,
        ``target_test``, and ``DESCR``. ``X`` is float32 of shape (n, 40),
        standardised over the whole set as the package does; ``y`` is int64 in
        0..9.

    Raises
    ------
    ImportError
        Without the ``mnist1d`` package; the message says how to install it.
    ValueError
        For sizes that leave no training or no test example.
    """
    n_samples, test_size = int(n_samples), int(test_size)
    if n_samples < 20 or not 0 < test_size < n_samples:
        raise ValueError(
            f"make_mnist1d needs n_samples >= 20 and 0 < test_size < n_samples; "
            f"got n_samples={n_samples}, test_size={test_size}.")
    path = (get_data_home(data_home) / "mnist1d"
            / f"mnist1d_n{n_samples}_seed{int(random_state)}.npz")
    if cache and path.exists():
        with np.load(path) as stored:
            X, y = stored["X"], stored["y"]
    else:
        X, y = _generate_mnist1d(n_samples, int(random_state))
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".partial.npz")
            np.savez_compressed(temporary, X=X, y=y)
            os.replace(temporary, path)
    split = len(y) - test_size
    parts = X[:split], y[:split], X[split:], y[split:]
    if return_X_y:
        return parts
    return Bunch(data=parts[0], target=parts[1], data_test=parts[2],
                 target_test=parts[3], target_names=np.arange(10),
                 DESCR="MNIST-1D (Greydanus 2020, generated by the mnist1d "
                       f"package, seed {random_state}): {len(y):,} 1-D signals "
                       "of 40 points, 10 classes.")


def _generate_mnist1d(n_samples, seed):
    try:
        # The package imports its plotting and download helpers too; only its
        # generator is called here, never get_dataset (which downloads).
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        raise ImportError(
            "make_mnist1d needs the mnist1d package: pip install -e "
            "'.[mnist1d]' (or pip install mnist1d).") from error
    import random

    args = get_dataset_args()
    args.num_samples = n_samples
    args.train_split = 1.0  # split here, after the shuffle
    args.seed = seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return data["x"].astype(np.float32), data["y"].astype(np.int64)
