"""The quadratic loss model: exact on a separable quadratic."""

import warnings

import numpy as np
import pytest
import torch

from sklearn_crest._coresets.curvature import QuadraticLossModel


def separable_quadratic(curvatures, centre):
    """loss(w) = 1/2 sum_i a_i (w_i - c_i)^2: gradient a (w - c), Hessian diag(a)."""
    def loss(w):
        return 0.5 * (curvatures * (w - centre) ** 2).sum()
    return loss


def test_exact_on_a_separable_quadratic():
    torch.manual_seed(0)
    curvatures = torch.tensor([0.5, 2.0, 3.0, 0.1])
    centre = torch.tensor([1.0, -1.0, 0.5, 2.0])
    loss = separable_quadratic(curvatures, centre)
    w = torch.zeros(4, requires_grad=True)
    model = QuadraticLossModel().fit(
        [w], [(lambda: loss(w), 1.0)], torch.Generator().manual_seed(0))
    # L0 is the modelled loss itself at the anchor.
    assert model.loss_at_selection == pytest.approx(float(loss(w.detach())))
    # A diagonal Hessian makes every Hutchinson probe exact: h = |a| + 1e-4.
    np.testing.assert_allclose(model.curvature.numpy(), curvatures.numpy() + 1e-4,
                               rtol=1e-6)
    np.testing.assert_allclose(model.gradient.numpy(),
                               (curvatures * (0 - centre)).numpy(), rtol=1e-6)
    with torch.no_grad():
        w.copy_(torch.tensor([0.3, -0.2, 0.1, 0.4]))
    assert model.predict([w]) == pytest.approx(float(loss(w.detach())), abs=1e-3)
    # The model tracks the parameters it is given, not a copy.
    with torch.no_grad():
        w.zero_()
    assert model.predict([w]) == pytest.approx(model.loss_at_selection)


def test_chunk_shares_average_loss_and_gradient_one_probe_per_fit():
    w = torch.zeros(2, requires_grad=True)
    first = separable_quadratic(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]))
    second = separable_quadratic(torch.tensor([3.0, 3.0]), torch.tensor([0.0, 1.0]))
    model = QuadraticLossModel().fit(
        [w], [(lambda: first(w), 0.25), (lambda: second(w), 0.75)],
        torch.Generator().manual_seed(0))
    # Gradients at 0: (-1, 0) and (0, -3), weighted 1/4 and 3/4; losses 0.5, 1.5.
    np.testing.assert_allclose(model.gradient.numpy(), [-0.25, -2.25], rtol=1e-6)
    assert model.loss_at_selection == pytest.approx(0.25 * 0.5 + 0.75 * 1.5)
    # Curvature: one probe, on the first chunk (Hessian diag 1).
    assert model.n_probes == 1
    np.testing.assert_allclose(model.curvature.numpy(), [1.0 + 1e-4] * 2, rtol=1e-5)
    # A second fit folds its probe into AdaHessian's running RMS.
    model.fit([w], [(lambda: second(w), 1.0)], torch.Generator().manual_seed(0))
    second_moment = 0.999 * 0.001 * 1.0 + 0.001 * 9.0
    rms_after_two = np.sqrt(second_moment / (1 - 0.999**2))
    np.testing.assert_allclose(model.curvature.numpy(), [rms_after_two + 1e-4] * 2,
                               rtol=1e-5)
    assert model.curvature_norm == pytest.approx(np.sqrt(2) * (rms_after_two + 1e-4),
                                                 rel=1e-5)


def test_parameters_unused_by_the_loss_get_zero_gradient_and_curvature():
    used = torch.zeros(2, requires_grad=True)
    unused = torch.ones(3, requires_grad=True)
    loss = separable_quadratic(torch.tensor([2.0, 2.0]), torch.tensor([1.0, 1.0]))
    model = QuadraticLossModel().fit(
        [used, unused], [(lambda: loss(used), 1.0)], torch.Generator().manual_seed(0))
    np.testing.assert_allclose(model.gradient.numpy(), [-2, -2, 0, 0, 0])
    np.testing.assert_allclose(model.curvature.numpy(),
                               [2 + 1e-4, 2 + 1e-4, 1e-4, 1e-4, 1e-4], rtol=1e-5)


class _NoDoubleBackward(torch.autograd.Function):
    """The backward of x ** 2, whose own backward fails, as cuDNN RNNs' does."""

    @staticmethod
    def forward(ctx, grad, x):
        ctx.save_for_backward(x)
        return 2 * x * grad

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("double backward is not supported for this function")


class _SquareWithoutDoubleBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _NoDoubleBackward.apply(grad, x)


def test_no_double_backward_falls_back_to_a_first_order_model():
    w = torch.tensor([1.0, -2.0], requires_grad=True)

    def loss():
        return _SquareWithoutDoubleBackward.apply(w).sum()

    model = QuadraticLossModel()
    with pytest.warns(UserWarning, match="falls back to first order"):
        model.fit([w], [(loss, 1.0)], torch.Generator().manual_seed(0))
    np.testing.assert_allclose(model.gradient.numpy(), [2.0, -4.0])
    np.testing.assert_allclose(model.curvature.numpy(), [1e-4, 1e-4])
    assert model.loss_at_selection == pytest.approx(5.0)
    # Later fits stay first order without trying (and warning) again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit([w], [(loss, 1.0)], torch.Generator().manual_seed(0))
    assert model.first_order and model.n_probes == 0
