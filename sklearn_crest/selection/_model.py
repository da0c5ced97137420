"""What a selection strategy may ask of the model being trained.

Strategies score candidate examples with the model (class probabilities,
per-example losses, the output layer's input) and CREST fits a quadratic
model of the loss around its parameters. They see the model only through a
:class:`SelectionModel`, never the estimator: a strategy cannot change the
training state (optimizer, history, callbacks), and any training loop can
drive any strategy by providing these few members.

:class:`ModuleModel` is the view of a plain torch module and loss, for a
training loop of one's own; the estimator has its own view of the net
(``sklearn_crest/_net_view.py``).
"""

import contextlib

import torch


class SelectionModel:
    """The narrow view of the model that selection strategies use.

    Subclasses provide ``module``, ``device`` and the methods that raise
    ``NotImplementedError`` here.
    """

    #: Whether the module's output convention (logits or probabilities) was
    #: checked; until then a selection pass scores in float32.
    output_convention_checked = True

    @property
    def module(self):
        """The torch module (for its parameters and output layer)."""
        raise NotImplementedError

    @property
    def device(self):
        """The device that training runs on."""
        raise NotImplementedError

    def forward(self, X):
        """The module's output on a batch (no autograd change)."""
        raise NotImplementedError

    def per_example_loss(self, output, y):
        """One loss per example, as the training steps compute it."""
        raise NotImplementedError

    def probabilities(self, output):
        """Class probabilities from the module's output (softmax of logits)."""
        return torch.softmax(output, dim=1)

    def parameters(self):
        """The trainable parameters, in the module's order."""
        return [p for p in self.module.parameters() if p.requires_grad]

    @contextlib.contextmanager
    def eval_mode(self):
        """Eval mode for the duration (dropout off, batch-norm statistics
        frozen), then the mode the module was in."""
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)


class ModuleModel(SelectionModel):
    """The view of a plain torch module that outputs logits.

    Parameters
    ----------
    module : torch.nn.Module
        The model being trained; its output is logits (one column per class).
    loss : callable, default=None
        ``loss(output, y)`` giving one loss per example; None for
        ``torch.nn.functional.cross_entropy(..., reduction="none")``.
    device : str or torch.device, default="cpu"
        Where the module runs; batches are moved there.

    Examples
    --------
    >>> import torch
    >>> from sklearn_crest.selection import ModuleModel
    >>> view = ModuleModel(torch.nn.Linear(4, 3))
    >>> view.per_example_loss(view.forward(torch.zeros(2, 4)), torch.tensor([0, 1])).shape
    torch.Size([2])
    """

    def __init__(self, module, loss=None, device="cpu"):
        self._module = module
        self._loss = loss
        self._device = torch.device(device)

    @property
    def module(self):
        return self._module

    @property
    def device(self):
        return self._device

    def forward(self, X):
        return self._module(X.to(self._device))

    def per_example_loss(self, output, y):
        y = y.to(output.device)
        if self._loss is None:
            return torch.nn.functional.cross_entropy(output, y, reduction="none")
        return self._loss(output, y)
