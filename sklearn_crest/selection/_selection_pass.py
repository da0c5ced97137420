"""The selection's forward passes: eval mode, no autograd, the fastest kernels.

Selection needs each candidate's class probabilities and loss, nothing else:
no gradients, and no more precision than the greedy's similarity ranking can
use. On the benchmark's Fashion-MNIST CNN this pass was almost the whole cost
of a fresh coreset (52 of 57 ms per 600-example subset on the 2-core CPU,
about three random training steps). Two levers, measured side by side against
a training step of the same model (``benchmarks/bench_selection_cost.py``):

- **Channels-last convolution weights.** oneDNN's CPU convolution and pooling
  kernels run much faster on NHWC tensors than on the default NCHW layout;
  a convolution picks NHWC when its weight is stored that way. The pass runs
  the module with its 4-D parameters copied to channels-last (a few hundred KB
  for a small CNN; the module itself is not touched), through
  ``torch.func.functional_call``. Same arithmetic, other rounding: 2.2x
  faster on the CNN in float32.
- **bfloat16 autocast** (``selection_precision``). Where the hardware has
  native bf16 matrix units (CPUs with AVX512-BF16 or AMX, CUDA devices that
  support bf16), the pass runs under ``torch.autocast``; probabilities and
  losses are returned in float32. Together with channels-last: 3.5x on the
  CNN. Training steps, checks and the quadratic model always run in the
  user's precision.
"""

import collections.abc
import contextlib

import torch
from sklearn.utils._param_validation import StrOptions


def device_type(device):
    """``"cpu"``, ``"cuda"``, ... of a skorch ``device`` setting; None for
    ``device=None`` (skorch's "leave everything where it is")."""
    return None if device is None else torch.device(device).type


def native_bfloat16(device):
    """Whether ``device`` runs bfloat16 matrix work natively (faster than
    float32), rather than emulating it: CPUs with AVX512-BF16 or AMX (not
    merely AVX-512, where oneDNN emulates bf16), CUDA devices of compute
    capability 8.0 or later (Ampere on)."""
    kind = device_type(device)
    if kind == "cuda":
        return (torch.cuda.is_available()
                and torch.cuda.get_device_capability(torch.device(device))[0] >= 8)
    if kind == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in
                  ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


def autocast_dtype(precision, device):
    """The autocast dtype of the selection pass, or None for float32.

    ``"auto"`` is bfloat16 where :func:`native_bfloat16` says so; an explicit
    ``"bfloat16"`` is honoured on any CPU or CUDA device (emulated where not
    native, which is slower but still correct).
    """
    if precision == "float32" or device_type(device) not in ("cpu", "cuda"):
        return None
    if precision == "bfloat16" or native_bfloat16(device):
        return torch.bfloat16
    return None


def _channels_last_parameters(module):
    """The module's parameters, with the weights of its 2-D convolutions
    copied to channels-last; None when it has no 2-D convolution or they are
    channels-last already (nothing to gain). Only ``torch.nn.Conv2d``
    weights: a custom layer may reshape its 4-D parameter with ``view``,
    which a channels-last copy does not allow."""
    convolutions = {name + ("." if name else "") + "weight"
                    for name, layer in module.named_modules()
                    if isinstance(layer, torch.nn.Conv2d)}
    parameters = dict(module.named_parameters())
    if not convolutions & set(parameters):
        return None
    if all(parameters[name].is_contiguous(memory_format=torch.channels_last)
           for name in convolutions & set(parameters) if parameters[name].ndim == 4):
        # Already channels-last (a module that trains that way, as the
        # benchmark's SmallCNN): its own forward, without the substitution's
        # per-call overhead.
        return None
    # ``Tensor.to(memory_format=...)`` sets NHWC strides even where the layout
    # is ambiguous (one input channel), where ``contiguous`` would return the
    # tensor unchanged and the convolution would stay NCHW.
    return {("module." + name): (p.detach().to(memory_format=torch.channels_last)
                                 if name in convolutions and p.ndim == 4
                                 else p.detach())
            for name, p in parameters.items()}


class _ModelForward(torch.nn.Module):
    """The model's own forward (skorch's ``infer``: dict inputs, fit params)
    as a module whose parameters ``functional_call`` can substitute."""

    def __init__(self, model):
        super().__init__()
        self.module = model.module
        self._forward = model.forward

    def forward(self, x):
        return self._forward(x)


@contextlib.contextmanager
def selection_mode(model, precision):
    """Eval mode, no autograd, autocast as ``precision`` says; yields the
    forward function ``(x, exact=False) -> output`` of the pass (``exact``:
    without autocast). ``model`` is a :class:`SelectionModel`."""
    dtype = autocast_dtype(precision, model.device)
    kind = device_type(model.device)
    autocast = (torch.autocast(kind, dtype=dtype) if dtype is not None
                else contextlib.nullcontext())
    with model.eval_mode(), torch.inference_mode(), autocast:
        parameters = (_channels_last_parameters(model.module)
                      if kind in ("cpu", "cuda") else None)
        wrapper = _ModelForward(model) if parameters is not None else None

        def run(x):
            nonlocal parameters
            if parameters is None:
                return model.forward(x)
            try:
                return torch.func.functional_call(
                    wrapper, parameters, (x,), strict=False, tie_weights=True)
            except RuntimeError:
                # A forward that cannot take channels-last weights (a
                # layer that reshapes them): the module's own layout,
                # for the rest of the pass. A real error fails again.
                parameters = None
                return model.forward(x)

        def forward(x, exact=False):
            if not exact or dtype is None:
                return run(x)
            with torch.autocast(kind, enabled=False):
                return run(x)
        yield forward


#: The constraint of a strategy's ``selection_precision``.
PRECISION_CONSTRAINT = {"selection_precision": [StrOptions({"auto", "float32", "bfloat16"})]}

# Rows per chunk of a selection pass on the CPU, in training batches: the
# activations of larger chunks spill the cache. On the Fashion-MNIST CNN (AMD
# EPYC with AVX2, 2 threads) two batches of rows took 8.5 ms in chunks of one
# batch and 16.4 ms in one chunk (``benchmarks/bench_cpu_layout.py``; 600 rows
# took 73 ms in chunks of 256 and 123 ms in one on section 00's Xeon). A
# training batch is also the largest forward the user's training is known to
# fit.
CPU_BATCHES_PER_CHUNK = 1
# On a GPU the pass is one launch sequence per chunk, and launches and host
# synchronisation, not arithmetic, set its cost for small models: a chunk
# holds as many rows as fit in this much input (activations are a small
# multiple of it), at least two batches.
DEVICE_CHUNK_INPUT_BYTES = 64 * 2**20
DEVICE_MIN_BATCHES_PER_CHUNK = 2
DEVICE_MAX_BATCHES_PER_CHUNK = 16


def chunk_rows(device, batch_size, row_bytes=None):
    """Rows per forward pass of a selection pass on ``device``, for input
    rows of ``row_bytes`` bytes (None when unknown: a user Dataset)."""
    if device_type(device) != "cuda":
        return CPU_BATCHES_PER_CHUNK * batch_size
    floor = DEVICE_MIN_BATCHES_PER_CHUNK * batch_size
    if not row_bytes:
        return floor
    # Activations can be tens of times the input: never more than
    # DEVICE_MAX_BATCHES_PER_CHUNK training batches at once.
    return min(max(floor, DEVICE_CHUNK_INPUT_BYTES // int(row_bytes)),
               DEVICE_MAX_BATCHES_PER_CHUNK * batch_size)


def prediction(output):
    """The module's prediction: the first element of a tuple output, as
    skorch's ``predict_proba`` takes it."""
    return output[0] if isinstance(output, (tuple, list)) else output


def selection_outputs(model, batches, precision):
    """Class probabilities and per-example losses (float32, on the training
    device) of the ``(X, y)`` batches, in one selection pass of ``model`` (a
    :class:`SelectionModel`)."""
    probabilities, losses = [], []
    with selection_mode(model, precision) as forward:
        for X, y in batches:
            # The estimator checks its module's output convention (logits or
            # probabilities) on the first batch it scores, with a float32
            # tolerance: that batch runs in float32.
            exact = not model.output_convention_checked
            output = prediction(forward(X, exact=exact))
            if (isinstance(output, torch.Tensor) and output.is_floating_point()
                    and output.dtype != torch.float64):
                output = output.float()
            # A float64 module's softmax runs in float64 and is rounded once,
            # so its proxies are the same float32 values on every processor
            # (a float32 exp differs by an ulp between kernels).
            losses.append(model.per_example_loss(output, y.to(output.device)).float())
            probabilities.append(model.probabilities(output).float())
    return torch.cat(probabilities), torch.cat(losses)


def take_rows(X, rows):
    """Rows of a batch input: a tensor, or a dict of tensors (a Dataset whose
    items are dicts, for a module with several inputs)."""
    if isinstance(X, collections.abc.Mapping):
        return {key: value[rows] for key, value in X.items()}
    return X[rows]
