"""Last-layer gradient proxies: the features that coresets are selected on.

For softmax outputs ``p`` and cross-entropy, the gradient of the loss with
respect to the logits is ``p - onehot(y)``. CRAIG and CREST select coresets on
this C-dimensional proxy of the full gradient (Katharopoulos and Fleuret 2018
show it bounds the gradient norm up to a constant). GradMatch matches the
output layer's full gradient, the proxy times the layer's input: the module's
output layer is found and its input recorded here, without the user naming it.
"""

import numpy as np
import torch


def softmax_minus_onehot(probabilities, labels):
    """Gradient of the cross-entropy with respect to the logits.

    Parameters
    ----------
    probabilities : ndarray or torch.Tensor of shape (n, C)
        Class probabilities (rows sum to one).
    labels : ndarray or torch.Tensor of shape (n,)
        Encoded labels in ``[0, C)``.

    Returns
    -------
    ndarray or torch.Tensor of shape (n, C)
        Same type (and device) as ``probabilities``.
    """
    if isinstance(probabilities, torch.Tensor):
        labels = torch.as_tensor(labels, device=probabilities.device,
                                 dtype=torch.long)
        proxy = probabilities.clone()
        proxy[torch.arange(proxy.shape[0], device=proxy.device), labels] -= 1.0
        return proxy
    proxy = np.array(probabilities, dtype=np.float64, copy=True)
    labels = np.asarray(labels, dtype=np.int64)
    proxy[np.arange(proxy.shape[0]), labels] -= 1.0
    return proxy


def estimator_gradient_proxy(estimator, X, y):
    """``predict_proba(X) - onehot(y)`` of a fitted probabilistic classifier.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba`` and ``classes_``
    X : array-like of shape (n, d)
    y : array-like of shape (n,)
        Labels, all of them in ``estimator.classes_``.

    Returns
    -------
    ndarray of shape (n, n_classes)
    """
    probabilities = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    encoded = np.searchsorted(estimator.classes_, y)
    return softmax_minus_onehot(probabilities, encoded)


def find_output_layer(module, n_classes):
    """The module's output layer: its last ``torch.nn.Linear`` (in registration
    order) with ``n_classes`` outputs, or None.

    Registration order is the order of ``module.modules()``; for the usual
    ``Sequential`` stacks and for modules that define their head last it is
    the layer that produces the logits. Whether it really does is verified on
    the data (:class:`OutputLayerInputs`), never assumed.
    """
    found = None
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear) and layer.out_features == n_classes:
            found = layer
    return found


class OutputLayerInputs:
    """Records what goes into (and comes out of) an output layer during
    forward passes: the penultimate activations that turn the logit gradient
    ``p - onehot(y)`` into the gradient of the layer's weights.

    Use as a context manager around eval-mode forward passes, then call
    :meth:`activations` with the probabilities the passes produced; it returns
    None where the layer turns out not to produce the module's output (it
    was called more or less than once per pass, its rows do not match, or
    ``softmax`` of its output is not the module's prediction).
    """

    def __init__(self, layer):
        self.layer = layer
        self.inputs, self.outputs = [], []
        self._handle = None

    def __enter__(self):
        self._handle = self.layer.register_forward_hook(self._record)
        return self

    def __exit__(self, *exc_info):
        self._handle.remove()
        return False

    def _record(self, layer, inputs, output):
        self.inputs.append(inputs[0].detach().float().cpu())
        self.outputs.append(output.detach().float().cpu())

    def activations(self, probabilities):
        """(n, d) penultimate activations, or None if they cannot be trusted."""
        if not self.inputs:
            return None
        inputs = torch.cat([x.reshape(len(x), -1) for x in self.inputs])
        outputs = torch.cat([o.reshape(len(o), -1) for o in self.outputs])
        if len(inputs) != len(probabilities) or outputs.shape != probabilities.shape:
            return None
        if not torch.allclose(torch.softmax(outputs, dim=1), probabilities.float(),
                              atol=1e-4, rtol=1e-3):
            return None
        return inputs
