"""One training step as a strategy hands it out.

A :class:`Step` carries what the step trains on (positions into the training
set, and the coreset weights of their losses) and, where the strategy learns
from training (CREST's checks and its quadratic model, InfoBatch's scores),
the receivers of what the step computes anyway: its per-example losses, and
the gradient its backward pass leaves on the parameters.

Whoever trains (the estimator, or a plain PyTorch loop) calls
:meth:`Step.weighted_loss` with the step's per-example losses, which reports
them and returns the loss to back-propagate, and, after the backward pass,
:meth:`Step.report_gradient`. A step whose receivers were never called is
counted (:attr:`Step.reported`), so that a loop that drops them is detected
rather than silently starving the strategy.
"""


class Step:
    """The examples of one training step, their weights, and the receivers
    of what training computes on them.

    Parameters
    ----------
    positions : ndarray of int64 or torch.Tensor
        Positions into the training set (the rows of the step's batch).
    weights : torch.Tensor of shape (len(positions),) or None, default=None
        Per-example loss weights of mean 1 (a coreset's); None for unit
        weights.
    on_losses : callable or None, default=None
        Called with the step's per-example losses (a tensor, in the order of
        ``positions``, still attached to the graph) when the strategy wants
        them.
    on_gradient : callable or None, default=None
        Called with the model view (``SelectionModel``) after the step's
        backward pass and before the optimizer step, when the strategy wants
        the gradient.

    Attributes
    ----------
    reported : bool
        Whether the losses reached the strategy (always True for a step that
        wants none).
    """

    __slots__ = ("positions", "weights", "on_losses", "on_gradient", "reported")

    def __init__(self, positions, weights=None, on_losses=None, on_gradient=None):
        self.positions = positions
        self.weights = weights
        self.on_losses = on_losses
        self.on_gradient = on_gradient
        self.reported = on_losses is None

    def __iter__(self):
        # ``positions, weights = step``: the pair that strategies yielded
        # before steps carried receivers.
        return iter((self.positions, self.weights))

    @property
    def wants_losses(self):
        """Whether the strategy reads this step's per-example losses."""
        return self.on_losses is not None

    @property
    def wants_gradient(self):
        """Whether the strategy reads this step's gradient."""
        return self.on_gradient is not None

    def report_losses(self, losses):
        """Hand the step's per-example losses to the strategy (once)."""
        if self.on_losses is not None and not self.reported:
            self.reported = True
            self.on_losses(losses)

    def weighted_loss(self, losses):
        """The step's loss, ``mean(w_i * l_i)`` over its examples (the plain
        mean for unit weights), after reporting ``losses`` to the strategy.

        Parameters
        ----------
        losses : torch.Tensor of shape (len(positions),)
            Per-example losses of the step's batch, in its order.

        Returns
        -------
        torch.Tensor
            A scalar to back-propagate.
        """
        self.report_losses(losses)
        if self.weights is None:
            return losses.mean()
        return (self.weights.to(losses.device) * losses).mean()

    def report_gradient(self, model):
        """Hand the gradient on ``model``'s parameters (after the backward
        pass, before the optimizer step) to the strategy, if it wants it."""
        if self.on_gradient is not None:
            on_gradient, self.on_gradient = self.on_gradient, None
            on_gradient(model)
