"""The quadratic model of the loss that decides when CREST re-selects coresets.

Around the parameters ``w0`` of a selection, CREST models the loss as

    L_hat(delta) = L0 + g . delta + 1/2 delta' diag(h) delta,   delta = w - w0,

with ``g`` the gradient of the modelled loss and ``h`` a Hutchinson estimate of
the Hessian diagonal (Yao et al., AdaHessian, 2021). While ``L_hat`` predicts
the loss well, the current coresets are kept; when it does not, new ones are
selected.

Choices, and where they depart from the authors' code:

- ``L0`` and ``g`` describe one loss, at ``w0`` exactly: :meth:`fit` takes
  them from closures over a sample (CREST's ``check_loss="sample"``), and
  :meth:`anchor_at` from what the caller computed (CREST's default: the
  region's first training step's weighted coreset loss and its gradient).
  The authors take ``g`` from AdaHessian's first-moment average of the
  weighted coreset loss, which mixes in gradients of earlier regions.
- ``h`` keeps AdaHessian's running RMS of the Hutchinson diagonal over the whole
  run (beta2 = 0.999, bias-corrected, plus 1e-4): one Rademacher probe is too
  noisy on its own, and :meth:`probe` lets a caller probe on only some
  selections. ``h`` is therefore a positive curvature magnitude, as in the
  authors' default.
- The probes and :meth:`fit` run in eval mode (no dropout noise, BatchNorm
  running statistics left untouched).
- ``delta`` is read from the parameters when the model is evaluated, so it is
  exact whatever the optimizer (momentum, weight decay, LR schedule) did. The
  authors re-derive it from a second backward per step and a stale learning
  rate, which doubles the step and misstates delta after the first decay.
"""

import warnings

import torch

_BETA2 = 0.999
_EPS = 1e-4


def _flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def _gradients(loss, parameters):
    grads = torch.autograd.grad(loss, parameters, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, grads)]


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
        self.first_order = False
        self.anchor = None
        self.gradient = None
        self.curvature = None
        self.loss_at_selection = float("nan")
        self.curvature_norm = float("nan")

    def fit(self, parameters, loss_closures, generator):
        """Anchor the model at the current parameters.

        Parameters
        ----------
        parameters : list of torch.Tensor
            The trainable parameters (``requires_grad=True``).
        loss_closures : list of (callable, float)
            Each callable returns a differentiable scalar loss on one chunk of
            the loss being modelled; the float is the chunk's share of the
            whole (they sum to one). ``L0`` and ``g`` are the share-weighted
            sums of the chunks' losses and gradients.
        generator : torch.Generator
            Source of the Rademacher probe (seeded from ``random_state``).

        Notes
        -----
        One Hutchinson probe per fit, on the first chunk: ``h`` is a running
        average over the whole run (``beta2 = 0.999``, about a thousand
        probes), so probing every chunk would cost a double backward each
        while moving that average very little.
        """
        gradient = torch.zeros_like(_flat([p.detach() for p in parameters]))
        loss_at_selection = 0.0
        for index, (closure, share) in enumerate(loss_closures):
            if index == 0 and not self.first_order:
                loss, grads = self._probe_on(parameters, closure, generator)
            else:
                loss = closure()
                grads = _gradients(loss, parameters)
            gradient.add_(_flat([g.detach() for g in grads]), alpha=share)
            loss_at_selection += share * float(loss.detach())
        return self.anchor_at(parameters, loss_at_selection, gradient)

    def probe(self, parameters, closure, generator):
        """One Hutchinson probe of the loss ``closure()`` returns, folded into
        the running curvature average; the anchor is left as it is.

        A model anchored on what training computed (:meth:`anchor_at`) gets
        its curvature this way, on some of its selections only.
        """
        if not self.first_order:
            self._probe_on(parameters, closure, generator)
        return self

    def anchor_at(self, parameters, loss, gradient):
        """Anchor the model at the current parameters with a known loss and
        gradient (for CREST: the region's first training step's, which
        skorch computed anyway), and the curvature of the probes so far.

        Parameters
        ----------
        parameters : list of torch.Tensor
            The trainable parameters, at the anchor.
        loss : float
            ``L0``.
        gradient : torch.Tensor
            ``g``, flat, in the order of ``parameters``.
        """
        self.anchor = _flat([p.detach() for p in parameters]).clone()
        self.gradient = gradient.detach().to(self.anchor.dtype).clone()
        self.loss_at_selection = float(loss)
        self.refresh_curvature(self.anchor)
        return self

    def clear_anchor(self):
        """Forget the anchor (the curvature average stays): until the next
        :meth:`anchor_at` or :meth:`fit`, the model predicts nothing."""
        self.anchor = None
        self.gradient = None
        self.loss_at_selection = float("nan")
        return self

    def refresh_curvature(self, like):
        """``h`` from the running average of the probes so far (the floor
        alone before the first probe); ``like`` gives its shape and device."""
        if self.second_moment is None or self.n_probes == 0:
            # First-order model: only the constant curvature floor.
            self.curvature = torch.full_like(like, _EPS)
        else:
            correction = 1.0 - _BETA2 ** self.n_probes
            self.curvature = (self.second_moment / correction).sqrt_().add_(_EPS)
        self.curvature_norm = float(self.curvature.norm())
        return self

    def _probe_on(self, parameters, closure, generator):
        """The loss of ``closure`` and its gradients, with one Hutchinson
        probe folded in on the way (first order when the module has no
        double backward)."""
        loss = closure()
        try:
            grads = torch.autograd.grad(loss, parameters, create_graph=True,
                                        retain_graph=True, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g
                     for p, g in zip(parameters, grads)]
            self._probe_curvature(parameters, grads, generator)
        except RuntimeError as error:
            # Some modules have no double backward (cuDNN RNNs, fused
            # attention kernels, once_differentiable functions): keep a
            # first-order model rather than fail the fit.
            self._fall_back_to_first_order(error)
            loss = closure()
            grads = _gradients(loss, parameters)
        return loss, grads

    def _fall_back_to_first_order(self, error):
        self.first_order = True
        warnings.warn(
            "The module does not support a second backward pass, which the "
            "Hutchinson curvature probe of selection='crest' needs "
            f"({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
            "The quadratic model falls back to first order (loss and gradient, "
            "a 1e-4 curvature floor); checks then fire sooner. "
            "selection='per_step' needs no second backward.",
            UserWarning, stacklevel=5)

    def _probe_curvature(self, parameters, grads, generator):
        """One Hutchinson probe of diag(H), folded into the running RMS."""
        probes = [
            (torch.randint(0, 2, p.shape, generator=generator,
                           dtype=torch.int8).to(p.device, p.dtype) * 2 - 1)
            for p in parameters
        ]
        # Autograd's second backward gives H z; z * Hz estimates diag(H).
        # Parameters whose gradient does not depend on them get zero.
        differentiable = [i for i, g in enumerate(grads) if g.requires_grad]
        hessian_probe = [torch.zeros_like(p) for p in parameters]
        if differentiable:
            products = torch.autograd.grad(
                [grads[i] for i in differentiable],
                [parameters[i] for i in differentiable],
                grad_outputs=[probes[i] for i in differentiable], allow_unused=True)
            for i, product in zip(differentiable, products):
                if product is not None:
                    hessian_probe[i] = product
        diagonal = _flat([z * hz for z, hz in zip(probes, hessian_probe)])
        if self.second_moment is None:
            self.second_moment = torch.zeros_like(diagonal)
        self.second_moment.mul_(_BETA2).addcmul_(diagonal, diagonal, value=1 - _BETA2)
        self.n_probes += 1

    def predict(self, parameters):
        """``L_hat(delta)`` at the current parameters."""
        with torch.no_grad():
            delta = _flat([p.detach() for p in parameters]) - self.anchor
            first_order = torch.dot(self.gradient, delta)
            second_order = 0.5 * torch.dot(self.curvature * delta, delta)
        return self.loss_at_selection + float(first_order + second_order)
