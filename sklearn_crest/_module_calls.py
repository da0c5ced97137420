"""How the estimator calls the user's module: the first forward pass (whose
shape errors are named as such) and the output convention (logits or
probabilities) checked against the criterion.
"""

import inspect
import re

import torch
from skorch.utils import to_tensor


def first_forward(net, x, **fit_params):
    """The module's first forward pass, with torch's shape errors
    translated: an input of another width than the module's first layer
    takes fails deep in torch (``mat1 and mat2 shapes cannot be
    multiplied``), where the cause is the data or ``module__n_features``."""
    net._input_accepted = True
    try:
        return net.infer(x, **fit_params)
    except RuntimeError as error:
        net._input_accepted = False
        if not _SHAPE_ERROR.search(str(error)):
            raise
        width = getattr(net, "n_features_in_", None)
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None
        filled = net.get_params().get("module__n_features")
        raise ValueError(
            "The module cannot take the input: "
            f"{str(error).splitlines()[0]}. "
            + (f"The input has {width} features per example (a batch of "
               f"shape {shape}). " if width is not None else
               f"A batch of the input has shape {shape}. ")
            + ("module__n_features=" + repr(filled) + " was set: make it "
               "match the input, or leave it unset for CrestClassifier to "
               "fill it from X. " if filled is not None else
               "CrestClassifier passes n_features (the number of columns "
               "of 2-D input) to a module class that takes it; a module "
               "built beforehand, or one with a fixed input size, must be "
               "built for this input. ")
            + "Check the in_features of the module's first layer.") from error


# Torch's messages for an input of the wrong width or channel count.
_SHAPE_ERROR = re.compile(
    r"shapes cannot be multiplied|size mismatch|to have \d+ channels|"
    r"is invalid for input of size|must match the size of tensor")


def _looks_like_probabilities(y_pred):
    """Every row non-negative and summing to one (a softmax output)."""
    with torch.no_grad():
        rows = y_pred.detach().float()
        return bool((rows >= 0).all()) and bool(
            torch.allclose(rows.sum(dim=1), torch.ones(len(rows), device=rows.device),
                           atol=1e-3))


def check_output_convention(y_pred, criterion, n_classes):
    """Refuse a module whose outputs do not fit the criterion or the classes:
    training would go on without an error and give a wrong model (a softmax
    module under CrossEntropyLoss learned digits to 0.29 accuracy instead of
    0.90; logits under NLLLoss gave NaN losses), or fail deep inside torch.
    Returns whether a batch could be checked."""
    if isinstance(criterion, (torch.nn.BCEWithLogitsLoss, torch.nn.BCELoss)):
        raise ValueError(
            f"criterion={type(criterion).__name__} is not supported: "
            "CrestClassifier trains on class indices, with one output per "
            "class. For a binary problem keep the default CrossEntropyLoss and "
            "give the module two outputs (n_classes=2), or use skorch's "
            "NeuralNetBinaryClassifier without CREST.")
    if not isinstance(y_pred, torch.Tensor):
        return False
    if (isinstance(criterion, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss))
            and (y_pred.ndim != 2 or y_pred.shape[1] != n_classes)):
        raise ValueError(
            f"The module returns outputs of shape {tuple(y_pred.shape)}, but "
            f"the data has {n_classes} classes: a classifier module must return "
            f"(batch, {n_classes}), one score per class. Let CrestClassifier "
            "fill the module's n_classes argument (leave module__n_classes "
            f"unset), or set it to {n_classes}.")
    if y_pred.ndim != 2 or len(y_pred) < 2:
        return False
    if isinstance(criterion, torch.nn.CrossEntropyLoss):
        if y_pred.shape[1] > 1 and _looks_like_probabilities(y_pred):
            raise ValueError(
                "The module's outputs are probabilities (non-negative, rows "
                "summing to 1), but criterion=CrossEntropyLoss expects logits "
                "and would apply a second softmax. Remove the final softmax from "
                "the module, or pass criterion=torch.nn.NLLLoss (which takes "
                "probabilities here, as in skorch's NeuralNetClassifier).")
    elif isinstance(criterion, torch.nn.NLLLoss):
        if not _looks_like_probabilities(y_pred):
            raise ValueError(
                "criterion=NLLLoss expects the module to output probabilities "
                "(end it with softmax; CrestClassifier takes their log, as "
                "skorch's NeuralNetClassifier does), but the outputs are not "
                "(negative values, or rows that do not sum to 1). For a module "
                "that returns logits use criterion=torch.nn.CrossEntropyLoss; "
                "for log-probabilities, exponentiate them in the module.")
    return True


def init_parameters(factory):
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def build_module(net):
    """Build the module, filling ``n_classes``/``n_features`` if it takes them."""
    kwargs = net.get_params_for("module")
    if not isinstance(net.module, torch.nn.Module):
        accepted = init_parameters(net.module)
        if "n_classes" in accepted and "n_classes" not in kwargs:
            try:
                kwargs["n_classes"] = len(net.classes_)
            except AttributeError:
                pass  # unknown before fit unless classes= is given
        if ("n_features" in accepted and "n_features" not in kwargs
                and getattr(net, "input_ndim_", None) == 2):
            kwargs["n_features"] = net.n_features_in_
    try:
        net.module_ = net.initialized_instance(net.module, kwargs)
    except TypeError as exc:
        missing = [name for name in ("n_features", "n_classes")
                   if f"'{name}'" in str(exc) and "missing" in str(exc)]
        if not missing:
            raise
        raise TypeError(
            f"Building the module failed: {exc}. CrestClassifier fills "
            "n_classes from y (or from classes=[...], the labels, which a "
            "restored model needs to predict them), and n_features only for "
            "2-D array input (the number of columns); for a torch Dataset, "
            "input with more dimensions, or a model built before fit, pass "
            + " and ".join(("classes=[...]" if name == "n_classes"
                            else f"module__{name}=<int>") for name in missing)
            + ".") from exc
    net._output_convention_checked = False
    net._input_accepted = False
    if getattr(net, "strategy_", None) is not None:
        # A rebuilt module (set_params(module__...)) invalidates the
        # quadratic model and the coresets chosen with the old one.
        net.strategy_.reset_region()
    return net


def per_example_losses(net, y_pred, y_true):
    """The criterion's loss of each example (a 1-D tensor)."""
    if isinstance(y_pred, (tuple, list)):
        y_pred = y_pred[0]
    y_true = to_tensor(y_true, device=net._training_device())
    if not getattr(net, "_output_convention_checked", False):
        # Once per module and criterion: a structural mismatch shows on the
        # first batch, and the training step should not pay for it again.
        if not hasattr(net, "criterion_"):
            raise AttributeError(
                f"{type(net).__name__} has no criterion_: the selection and the "
                "training steps score examples with per_example_loss, which uses "
                "criterion_. A net that registers its criteria under other names "
                "(initialize_criterion) must override per_example_loss(y_pred, "
                "y_true) to return one loss per example from them.")
        net._output_convention_checked = check_output_convention(
            y_pred, net.criterion_, len(net.classes_))
    if isinstance(net.criterion_, torch.nn.NLLLoss):
        y_pred = torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
    losses = net.criterion_(y_pred, y_true)
    if losses.ndim != 1:
        raise ValueError(
            "The criterion must return one loss per example; construct it "
            "with reduction='none' (CrestClassifier does this unless "
            "criterion__reduction or an initialized criterion says otherwise).")
    return losses


def padded_infer(infer, x, size, **fit_params):
    """``infer(x)`` in eval mode, a short batch padded with zeros to ``size``
    rows. Matrix-multiply kernels round differently for different batch
    shapes, so without padding the float32 prediction of a row would depend
    on how many rows share its batch. Only outputs with one row per input
    row are cut back; any other output (a tuple element of another length)
    comes from an unpadded pass."""
    n_rows = len(x) if isinstance(x, torch.Tensor) and x.ndim > 0 else 0
    if not 0 < n_rows < size:
        return infer(x, **fit_params)
    padding = x.new_zeros((size - n_rows,) + tuple(x.shape[1:]))
    output = infer(torch.cat([x, padding]), **fit_params)
    if isinstance(output, tuple):
        if all(isinstance(o, torch.Tensor) and o.ndim > 0
               and len(o) == size for o in output):
            return tuple(o[:n_rows] for o in output)
        # Some output is not row-aligned: padding would change it.
        return infer(x, **fit_params)
    return output[:n_rows]
