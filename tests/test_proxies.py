"""Gradient proxies: softmax minus one-hot."""

import numpy as np
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from sklearn_crest._coresets.proxies import estimator_gradient_proxy, softmax_minus_onehot


def test_softmax_minus_onehot_is_the_cross_entropy_gradient():
    logits = torch.randn(5, 3, requires_grad=True, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1, 1, 0])
    torch.nn.functional.cross_entropy(logits, labels, reduction="sum").backward()
    proxy = softmax_minus_onehot(torch.softmax(logits.detach(), 1), labels)
    torch.testing.assert_close(proxy, logits.grad)
    as_numpy = softmax_minus_onehot(torch.softmax(logits.detach(), 1).numpy(),
                                    labels.numpy())
    np.testing.assert_allclose(as_numpy, logits.grad.numpy(), rtol=1e-6)


def test_input_probabilities_are_not_modified():
    probabilities = np.full((2, 2), 0.5)
    softmax_minus_onehot(probabilities, [0, 1])
    np.testing.assert_array_equal(probabilities, 0.5)


def test_estimator_proxy_maps_labels_through_classes():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=500).fit(X, labels)
    proxy = estimator_gradient_proxy(model, X, labels)
    expected = model.predict_proba(X)
    expected[np.arange(len(y)), y] -= 1
    np.testing.assert_allclose(proxy, expected)
    np.testing.assert_allclose(proxy.sum(axis=1), 0.0, atol=1e-12)
