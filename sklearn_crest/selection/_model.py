"""What a selection strategy may ask of the model being trained.

Strategies score candidate examples with the model (class probabilities,
per-example losses, the output layer's input) and CREST fits a quadratic
model of the loss around its parameters. They see the model only through
:class:`SelectionModel`, never the estimator: a strategy cannot change the
training state (optimizer, history, callbacks), and a new estimator (or a
test) can drive any strategy by providing these few members.
"""

import contextlib

from .._processes import local_module


class SelectionModel:
    """The narrow view of a skorch net that selection strategies use.

    Parameters
    ----------
    net : CrestClassifier
        An initialized net. Its forward is skorch's ``infer`` (dict inputs,
        the fit's ``fit_params``) without prediction padding, and its loss
        is the net's ``per_example_loss``, so that a user's override of
        either reaches the selection too.
    """

    def __init__(self, net):
        self._net = net

    @property
    def module(self):
        """The torch module (for its parameters and output layer): the
        user's, also when a data-parallel wrapper holds it."""
        return local_module(self._net.module_)

    @property
    def device(self):
        """The device that training runs on."""
        return self._net._training_device()

    @property
    def output_convention_checked(self):
        """Whether the estimator has checked the module's output convention
        (logits or probabilities); until then a pass scores in float32."""
        return getattr(self._net, "_output_convention_checked", True)

    def forward(self, X):
        """The module's output on a batch (no padding, no autograd change)."""
        return self._net.forward_unpadded(X)

    def per_example_loss(self, output, y):
        """One loss per example, as the training steps compute it (with the
        criterion outside any data-parallel wrapper)."""
        with self._net._local_components():
            return self._net.per_example_loss(output, y)

    def probabilities(self, output):
        """Class probabilities from the module's output (skorch's predict
        nonlinearity: softmax of logits, or the probabilities themselves)."""
        return self._net._get_predict_nonlinearity()(output)

    def parameters(self):
        """The trainable parameters, in the module's order."""
        return [p for p in self._net.module_.parameters() if p.requires_grad]

    @contextlib.contextmanager
    def eval_mode(self):
        """Eval mode for the duration (dropout off, batch-norm statistics
        frozen), then the mode the net was in."""
        was_training = self._net.module_.training
        self._net._set_training(False)
        try:
            yield
        finally:
            self._net._set_training(was_training)
