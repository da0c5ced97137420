"""The benchmark's datasets: training and evaluation arrays, held-out
validation, label noise, and each dataset's default budget."""

import numpy as np

DATASET_DEFAULTS = {
    # epochs, batch size, learning rate (constant schedule, paper schedule)
    "digits": (30, 32, (0.05, 0.1)),
    "fashion-mnist": (20, 128, (0.05, 0.1)),
    "mnist1d": (20, 128, (0.05, 0.1)),
}


def load_data(name, model, data_home=None, label_noise=0.0, seed=0,
              eval_set="test", validation_fraction=1 / 6):
    """Train/evaluation arrays (float32 in [0, 1]) for a dataset name.

    With ``eval_set="validation"`` the evaluation set is a stratified
    ``validation_fraction`` of the training set (10,000 of Fashion-MNIST's
    60,000), held out from training; the test set is not touched.
    """
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=0)
    elif name == "fashion-mnist":
        from sklearn_crest.datasets import fetch_fashion_mnist
        X_train, y_train = fetch_fashion_mnist(data_home, subset="train",
                                               return_X_y=True)
        X_test, y_test = fetch_fashion_mnist(data_home, subset="test",
                                             return_X_y=True)
    elif name == "mnist1d":
        from sklearn_crest.datasets import make_mnist1d
        X_train, y_train, X_test, y_test = make_mnist1d(
            data_home=data_home, return_X_y=True)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    if model == "cnn" and name == "digits":
        raise ValueError("--model cnn needs Fashion-MNIST's 28x28 images or "
                         "MNIST-1D's signals: use --dataset fashion-mnist or mnist1d")
    if eval_set == "validation":
        from sklearn.model_selection import train_test_split
        X_train, X_test, y_train, y_test = train_test_split(
            X_train, y_train, test_size=validation_fraction, stratify=y_train,
            random_state=0)
    y_train = flip_labels(y_train, label_noise, seed) if label_noise else y_train
    return X_train, y_train, X_test, y_test


def flip_labels(y, fraction, seed):
    """Give ``fraction`` of the labels (chosen with ``seed``) another class."""
    rng = np.random.RandomState(seed)
    y = np.array(y, copy=True)
    classes = np.unique(y)
    flipped = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    shift = rng.randint(1, len(classes), size=flipped.size)
    positions = np.searchsorted(classes, y[flipped])
    y[flipped] = classes[(positions + shift) % len(classes)]
    return y
