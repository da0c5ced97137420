"""fetch_fashion_mnist: local copies first, verified content, clear errors."""

import gzip
import hashlib
import io

import numpy as np
import pytest

from sklearn_crest import datasets


def _idx_bytes(n, labels=False, seed=0):
    rng = np.random.RandomState(seed)
    if labels:
        return b"\x00" * 8 + rng.randint(0, 10, n).astype(np.uint8).tobytes()
    return b"\x00" * 16 + rng.randint(0, 256, n * 784).astype(np.uint8).tobytes()


@pytest.fixture
def fake_files(monkeypatch):
    """Small IDX files and the checksums the loader should expect for them."""
    contents = {
        "train-images-idx3-ubyte.gz": _idx_bytes(6),
        "train-labels-idx1-ubyte.gz": _idx_bytes(6, labels=True),
        "t10k-images-idx3-ubyte.gz": _idx_bytes(4, seed=1),
        "t10k-labels-idx1-ubyte.gz": _idx_bytes(4, labels=True, seed=1),
    }
    monkeypatch.setattr(datasets, "FASHION_MNIST_FILES", {
        name: hashlib.sha256(raw).hexdigest() for name, raw in contents.items()})
    monkeypatch.setattr(datasets, "SYSTEM_FASHION_MNIST",
                        datasets.Path("/nonexistent-system-copy"))
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    return contents


def _write(folder, contents):
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in contents.items():
        # Recompressed with another level: the content checksum must still match.
        (folder / name).write_bytes(gzip.compress(raw, compresslevel=1))


def test_reads_a_local_copy_in_data_home(tmp_path, fake_files):
    _write(tmp_path, fake_files)
    X, y = datasets.fetch_fashion_mnist(tmp_path, return_X_y=True,
                                        download_if_missing=False)
    assert X.shape == (6, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    raw = np.frombuffer(fake_files["train-images-idx3-ubyte.gz"][16:], np.uint8)
    np.testing.assert_allclose(X.ravel(), raw / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(
        y, np.frombuffer(fake_files["train-labels-idx1-ubyte.gz"][8:], np.uint8))
    bunch = datasets.fetch_fashion_mnist(tmp_path, subset="all", flatten=False,
                                         download_if_missing=False)
    assert bunch.data.shape == (10, 1, 28, 28)
    assert len(bunch.target_names) == 10


def test_environment_variable_names_the_folder(tmp_path, fake_files, monkeypatch):
    _write(tmp_path / "fashion_mnist", fake_files)
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    X, _ = datasets.fetch_fashion_mnist(subset="test", return_X_y=True,
                                        download_if_missing=False)
    assert X.shape == (4, 784)


def test_corrupted_copy_is_not_used_and_absence_says_how_to_get_it(tmp_path,
                                                                    fake_files):
    corrupted = dict(fake_files)
    corrupted["train-images-idx3-ubyte.gz"] = _idx_bytes(6, seed=9)
    _write(tmp_path, corrupted)
    with pytest.raises(OSError) as error:
        datasets.fetch_fashion_mnist(tmp_path, download_if_missing=False)
    message = str(error.value)
    for hint in ("data_home", datasets.DATA_ENV, "apt-get install "
                 "dataset-fashion-mnist", "download_if_missing=True"):
        assert hint in message


def test_download_is_verified(tmp_path, fake_files, monkeypatch):
    served = {name: gzip.compress(raw) for name, raw in fake_files.items()}

    def fake_urlopen(url, timeout):
        return io.BytesIO(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(datasets.urllib.request, "urlopen", fake_urlopen)
    X, _ = datasets.fetch_fashion_mnist(tmp_path, return_X_y=True)
    assert X.shape == (6, 784)
    assert (tmp_path / "fashion_mnist" / "train-images-idx3-ubyte.gz").exists()

    served["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"tampered")
    other = tmp_path / "other"
    with pytest.raises(OSError, match="checksum"):
        datasets.fetch_fashion_mnist(other)
    assert not list((other / "fashion_mnist").glob("t10k-labels*"))


def test_offline_download_failure_explains(tmp_path, fake_files, monkeypatch):
    def offline(url, timeout):
        raise datasets.urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match="download failed"):
        datasets.fetch_fashion_mnist(tmp_path)


def test_bad_subset():
    with pytest.raises(ValueError, match="subset"):
        datasets.fetch_fashion_mnist(subset="validation")


@pytest.mark.skipif(not all(
    (datasets.SYSTEM_FASHION_MNIST / name).exists()
    for name in datasets.FASHION_MNIST_FILES), reason="no system copy")
def test_system_copy_matches_the_official_checksums(tmp_path):
    X, y = datasets.fetch_fashion_mnist(tmp_path, subset="test", return_X_y=True,
                                        download_if_missing=False)
    assert X.shape == (10000, 784)
    assert np.bincount(y).tolist() == [1000] * 10
