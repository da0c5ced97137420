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


# --------------------------------------------------------------- make_mnist1d

def test_mnist1d_is_generated_seeded_split_and_cached(tmp_path):
    pytest.importorskip("mnist1d")
    import random

    np.random.seed(123)
    random.seed(123)
    numpy_before, python_before = np.random.get_state()[1].copy(), random.getstate()
    X, y, X_test, y_test = datasets.make_mnist1d(
        200, test_size=50, random_state=3, data_home=tmp_path, return_X_y=True)
    # The package reseeds the global generators; the caller's states come back.
    assert np.array_equal(np.random.get_state()[1], numpy_before)
    assert random.getstate() == python_before
    assert X.shape == (150, 40) and X_test.shape == (50, 40)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert set(np.unique(np.concatenate([y, y_test]))) == set(range(10))
    assert np.bincount(np.concatenate([y, y_test])).tolist() == [20] * 10
    cached = tmp_path / "mnist1d" / "mnist1d_n200_seed3.npz"
    assert cached.exists()
    # The cache is what a second call reads: change it and see the change.
    with np.load(cached) as stored:
        X_all, y_all = stored["X"], stored["y"]
    np.savez_compressed(cached, X=X_all + 1, y=y_all)
    again = datasets.make_mnist1d(200, test_size=50, random_state=3,
                                  data_home=tmp_path)
    np.testing.assert_array_equal(again.data, X + 1)
    # Without the cache, the same seed generates the same set; another differs.
    fresh = datasets.make_mnist1d(200, test_size=50, random_state=3,
                                  data_home=tmp_path, cache=False, return_X_y=True)
    np.testing.assert_array_equal(fresh[0], X)
    other = datasets.make_mnist1d(200, test_size=50, random_state=4,
                                  data_home=tmp_path, cache=False, return_X_y=True)
    assert not np.array_equal(other[0], X)


@pytest.mark.parametrize("n_samples, test_size", [(10, 5), (100, 0), (100, 100)])
def test_mnist1d_refuses_sizes_without_train_or_test(n_samples, test_size, tmp_path):
    with pytest.raises(ValueError, match="n_samples"):
        datasets.make_mnist1d(n_samples, test_size=test_size, data_home=tmp_path)


def test_mnist1d_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"\.\[mnist1d\]"):
        datasets.make_mnist1d(100, test_size=20, data_home=tmp_path)


def test_a_crest_fit_learns_mnist1d_with_the_1d_cnn(tmp_path):
    pytest.importorskip("mnist1d")
    import torch

    from sklearn_crest import CrestClassifier
    from sklearn_crest._models import SmallCNN1d

    X, y, X_test, y_test = datasets.make_mnist1d(
        1200, test_size=200, random_state=0, data_home=tmp_path, return_X_y=True)
    torch.set_num_threads(1)
    net = CrestClassifier(SmallCNN1d, selection="crest", train_frac=0.5,
                          max_epochs=8, batch_size=32, lr=0.05,
                          optimizer__momentum=0.9, train_split=None, verbose=0,
                          random_state=0).fit(X, y)
    # Ten classes: chance is 0.1.
    assert net.score(X_test, y_test) > 0.3
