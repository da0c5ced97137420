"""The estimator's view of its net for the selection strategies.

Strategies see the model through the narrow
:class:`~sklearn_crest.selection.SelectionModel` interface; this adapter
gives it for a fitted :class:`~sklearn_crest.CrestClassifier`, so that a
user's overrides of the forward pass (skorch's ``infer``) and of
``per_example_loss`` reach the selection too.
"""

import contextlib

from ._processes import local_module
from .selection import SelectionModel


class NetModel(SelectionModel):
    """:class:`~sklearn_crest.selection.SelectionModel` of a skorch net.

    Parameters
    ----------
    net : CrestClassifier
        An initialized net. Its forward is skorch's ``infer`` (dict inputs,
        the fit's ``fit_params``) without prediction padding, and its loss
        is the net's ``per_example_loss``.
    """

    def __init__(self, net):
        self._net = net

    @property
    def module(self):
        """The user's torch module, also when a data-parallel wrapper holds it."""
        return local_module(self._net.module_)

    @property
    def device(self):
        return self._net._training_device()

    @property
    def output_convention_checked(self):
        return getattr(self._net, "_output_convention_checked", True)

    def forward(self, X):
        return self._net.forward_unpadded(X)

    def per_example_loss(self, output, y):
        # The criterion outside any data-parallel wrapper.
        with self._net._local_components():
            return self._net.per_example_loss(output, y)

    def probabilities(self, output):
        # skorch's predict nonlinearity: softmax of logits, or the
        # probabilities themselves.
        return self._net._get_predict_nonlinearity()(output)

    def parameters(self):
        return [p for p in self._net.module_.parameters() if p.requires_grad]

    @contextlib.contextmanager
    def eval_mode(self):
        was_training = self._net.module_.training
        self._net._set_training(False)
        try:
            yield
        finally:
            self._net._set_training(was_training)
