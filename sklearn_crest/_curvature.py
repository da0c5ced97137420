"""The quadratic model of the loss that decides when CREST re-selects coresets.

Around the parameters ``w0`` of a selection, CREST models the loss as

    L_hat(delta) = L0 + g . delta + 1/2 delta' diag(h) delta,   delta = w - w0,

with ``g`` the gradient of the coreset loss and ``h`` a Hutchinson estimate of
the Hessian diagonal (Yao et al., AdaHessian, 2021). While ``L_hat`` predicts
the loss well, the current coresets are kept; when it does not, new ones are
selected.

Choices, and where they depart from the authors' code:

- ``g`` is the exact gradient of the weighted coreset loss at ``w0``. The
  authors use AdaHessian's first-moment average, which mixes in gradients of
  earlier regions.
- ``h`` keeps AdaHessian's running RMS of the Hutchinson diagonal over the whole
  run (beta2 = 0.999, bias-corrected, plus 1e-4): one Rademacher probe per
  selection is too noisy on its own. ``h`` is therefore a positive curvature
  magnitude, as in the authors' default.
- Everything runs in eval mode (no dropout noise, BatchNorm running statistics
  left untouched), like the loss it is compared against.
- ``delta`` is read from the parameters when the model is evaluated, so it is
  exact whatever the optimizer (momentum, weight decay, LR schedule) did. The
  authors re-derive it from a second backward per step and a stale learning
  rate, which doubles the step and misstates delta after the first decay.
"""

import torch

_BETA2 = 0.999
_EPS = 1e-4


def _flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


class QuadraticLossModel:
    """Quadratic model of the loss around the parameters of the last selection.

    Attributes
    ----------
    loss_at_selection : float
        ``L0``: the loss the model is anchored to.
    curvature_norm : float
        Euclidean norm of the curvature estimate ``h`` at the last fit; CREST
        adapts its check interval to it.
    """

    def __init__(self):
        self.second_moment = None
        self.n_probes = 0
        self.anchor = None
        self.gradient = None
        self.curvature = None
        self.loss_at_selection = float("nan")
        self.curvature_norm = float("nan")

    def fit(self, parameters, loss_closures, loss_at_selection, generator):
        """Anchor the model at the current parameters.

        Parameters
        ----------
        parameters : list of torch.Tensor
            The trainable parameters (``requires_grad=True``).
        loss_closures : list of (callable, float)
            Each callable returns a differentiable scalar loss on one chunk of
            the coresets; the float is the chunk's share of the whole (they sum
            to one). One Hutchinson probe is drawn per chunk.
        loss_at_selection : float
            ``L0``, measured by the caller exactly as later checks measure the
            loss, so that the model and the check agree at ``delta = 0``.
        generator : torch.Generator
            Source of the Rademacher probes (seeded from ``random_state``).
        """
        self.anchor = _flat([p.detach() for p in parameters]).clone()
        gradient = torch.zeros_like(self.anchor)
        curvature = torch.zeros_like(self.anchor)
        for closure, share in loss_closures:
            loss = closure()
            grads = torch.autograd.grad(loss, parameters, create_graph=True)
            probes = [
                (torch.randint(0, 2, p.shape, generator=generator,
                               dtype=torch.int8).to(p.device, p.dtype) * 2 - 1)
                for p in parameters
            ]
            # Autograd's second backward gives H z; z * Hz estimates diag(H).
            hessian_probe = torch.autograd.grad(grads, parameters,
                                                grad_outputs=probes)
            diagonal = _flat([z * hz for z, hz in zip(probes, hessian_probe)])
            if self.second_moment is None:
                self.second_moment = torch.zeros_like(diagonal)
            self.second_moment.mul_(_BETA2).addcmul_(diagonal, diagonal,
                                                     value=1 - _BETA2)
            self.n_probes += 1
            correction = 1.0 - _BETA2 ** self.n_probes
            chunk_curvature = (self.second_moment / correction).sqrt_().add_(_EPS)
            gradient.add_(_flat([g.detach() for g in grads]), alpha=share)
            curvature.add_(chunk_curvature, alpha=share)
        self.gradient = gradient
        self.curvature = curvature
        self.loss_at_selection = float(loss_at_selection)
        self.curvature_norm = float(curvature.norm())
        return self

    def predict(self, parameters):
        """``L_hat(delta)`` at the current parameters."""
        with torch.no_grad():
            delta = _flat([p.detach() for p in parameters]) - self.anchor
            first_order = torch.dot(self.gradient, delta)
            second_order = 0.5 * torch.dot(self.curvature * delta, delta)
        return self.loss_at_selection + float(first_order + second_order)
