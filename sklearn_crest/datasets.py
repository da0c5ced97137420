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

__all__ = ["fetch_fashion_mnist", "get_data_home"]

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
