"""The processes of a data-parallel fit, as the selection strategies see them.

With skorch's ``AccelerateMixin`` and several processes (``accelerate
launch``, ``torchrun``), every process runs the same fit on the whole
training set, with its own replica of the module; Accelerate's
``DistributedDataParallel`` averages the gradients of each step. The
strategies then split the work (``selection/_base.py``): each process owns a
disjoint, class-stratified share of the training positions, draws its random
subsets and chooses its coresets there, and trains on ``batch_size`` of its
own examples per step. What decides the number or the order of the steps is
agreed through the few collectives here, called by every process at the same
point of the fit, so none of them waits for a call that never comes.

A fit without an accelerator, or with one process, gets
:data:`SINGLE_PROCESS`, whose operations return their input: a single-process
fit runs exactly as it always did.
"""

import contextlib
import os

import numpy as np
import torch


class TrainingProcesses:
    """This process's place in a data-parallel fit, and the collectives that
    let the processes agree.

    Parameters
    ----------
    rank : int
        This process's index, ``0 <= rank < world_size``.
    world_size : int
        The number of processes training the model together.
    device : torch.device or None
        Where the collectives' tensors must live (the GPU for NCCL, the CPU
        for gloo); None for a single process.
    """

    def __init__(self, rank=0, world_size=1, device=None):
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.device = device

    @property
    def distributed(self):
        """Whether other processes share this fit."""
        return self.world_size > 1

    def _reduce(self, values, op):
        values = np.asarray(values, dtype=np.float64)
        if not self.distributed:
            return values.copy()
        import torch.distributed as dist

        tensor = torch.as_tensor(values, dtype=torch.float64).to(self.device)
        dist.all_reduce(tensor, op=getattr(dist.ReduceOp, op))
        return tensor.cpu().numpy()

    def sum(self, values):
        """The element-wise sum of ``values`` over all processes (float64)."""
        return self._reduce(values, "SUM")

    def max(self, values):
        """The element-wise maximum of ``values`` over all processes."""
        return self._reduce(values, "MAX")

    def from_first(self, values):
        """Rank 0's ``values``, on every process."""
        values = np.asarray(values, dtype=np.float64)
        return self.sum(values if self.rank == 0 else np.zeros_like(values))

    def __repr__(self):
        return f"TrainingProcesses(rank={self.rank}, world_size={self.world_size})"


SINGLE_PROCESS = TrainingProcesses()


def training_processes(net):
    """The processes that train ``net`` together: from its ``accelerator``
    (skorch's ``AccelerateMixin``), else :data:`SINGLE_PROCESS`."""
    accelerator = getattr(net, "accelerator", None)
    world_size = int(getattr(accelerator, "num_processes", 1) or 1)
    if world_size <= 1:
        if accelerator is not None and launched_as_several_but_one():
            from . import _user_warnings as user_warnings

            user_warnings.warn(
                "This script was started by `accelerate launch` for several "
                "processes, but it runs as one (the accelerator reports one "
                "process): accelerate's launcher starts a single process where "
                "it has no multi-process backend, as on CPUs without "
                "--multi_gpu. The fit trains on the whole training set alone. "
                "On CPUs launch with `torchrun --nproc_per_node N train.py`; on "
                "GPUs with `accelerate launch --multi_gpu --num_processes N "
                "train.py`.")
        return SINGLE_PROCESS
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            f"The accelerator reports {world_size} processes but "
            "torch.distributed is not initialized, so the processes cannot agree "
            "on the selection. Launch the script with `accelerate launch` or "
            "`torchrun` and create the Accelerator before the fit (on a CPU: "
            "Accelerator(cpu=True)).")
    backend = str(dist.get_backend()).lower()
    device = (torch.device(accelerator.device) if "nccl" in backend
              else torch.device("cpu"))
    return TrainingProcesses(accelerator.process_index, world_size, device)


def launched_as_several_but_one(environ=None):
    """Whether ``accelerate launch --num_processes N`` (N > 1) started this
    process alone: its simple launcher sets a rendezvous address for N > 1
    (``MASTER_ADDR``) and its own variables, but no ``WORLD_SIZE``, which
    every multi-process launcher (torchrun, accelerate's own) sets."""
    environ = os.environ if environ is None else environ
    return ("ACCELERATE_MIXED_PRECISION" in environ and "MASTER_ADDR" in environ
            and "WORLD_SIZE" not in environ)


def local_module(module):
    """The user's module inside a ``DistributedDataParallel`` (or other
    ``.module``-holding) wrapper: the selection's forward passes run on it,
    locally, so that they trigger none of the wrapper's collectives (which
    every process would have to join at the same step)."""
    wrapper = torch.nn.parallel.DistributedDataParallel
    while isinstance(module, wrapper):
        module = module.module
    return module


def agree_on_training_losses(net, processes):
    """In a data-parallel fit, the epoch's batch ``train_loss`` and
    ``train_batch_size`` entries become those of the steps' global
    batches (the size-weighted mean of the processes' batch losses, and
    their total size), the same in every process, before the callbacks
    read them: otherwise each process would record the loss of its own
    examples, and a callback that acts on ``train_loss`` (EarlyStopping,
    ReduceLROnPlateau, Checkpoint) could decide differently in each. One
    all-reduce per epoch; every process has the same number of steps."""
    batches = [entry for entry in net.history[-1].get("batches", [])
               if "train_loss" in entry]
    sizes = np.array([entry.get("train_batch_size", 1) for entry in batches],
                     dtype=np.float64)
    losses = np.array([entry["train_loss"] for entry in batches], dtype=np.float64)
    totals = processes.sum(np.concatenate([losses * sizes, sizes]))
    weighted, sizes = totals[:len(batches)], totals[len(batches):]
    for entry, loss, size in zip(batches, weighted / sizes, sizes):
        entry["train_loss"] = float(loss)
        if "train_batch_size" in entry:
            entry["train_batch_size"] = int(size)


@contextlib.contextmanager
def local_components(net):
    """For the duration, the net's module and criteria without their
    data-parallel wrappers (``DistributedDataParallel``). The selection's
    passes run in this, on the process's own replica: each process selects
    on its own schedule, and a wrapper's forward may synchronise the
    processes or expect the backward of a training step."""
    wrapped = {}
    for name in list(net._modules) + list(net._criteria):
        component = getattr(net, name + "_", None)
        local = (local_module(component) if isinstance(component, torch.nn.Module)
                 else component)
        if local is not component:
            wrapped[name] = component
            setattr(net, name + "_", local)
    try:
        yield
    finally:
        for name, component in wrapped.items():
            setattr(net, name + "_", component)
