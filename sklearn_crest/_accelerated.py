"""``AcceleratedCrestClassifier``: CrestClassifier through Hugging Face
Accelerate, for mixed precision and data-parallel fits on several GPUs,
machines or CPU processes.

It is skorch's own recipe, ``class Net(AccelerateMixin, CrestClassifier)``,
plus one fix: skorch's mixin hands every criterion to
``accelerator.prepare``. Accelerate (1.16) then wraps a criterion without
trainable parameters (``CrossEntropyLoss``, CrestClassifier's default) in
``DistributedDataParallel`` when the processes run on CPUs, which refuses
it ("DistributedDataParallel is not needed when a module doesn't have any
parameter that requires a gradient"); on GPUs Accelerate leaves such a
module alone. Here only criteria that train are prepared; the others are
moved to the accelerator's device (their buffers, class weights say, must
be where the losses are computed).

And one choice: every process evaluates whole inputs itself (validation and
prediction), where skorch's mixin shards them and gathers the outputs. The
validation scores are then the same in every process, so callbacks that
stop or checkpoint on them (``EarlyStopping``) decide alike everywhere, and
prediction needs no other process: a net unpickled in a single process
predicts as it did (the gathering relies on the accelerator's state, which
a pickle or a copy does not keep in step).

How the processes share a fit is the selection's business
(``_processes.py`` and ``selection/_base.py``), the same for this class and
for the plain composition.
"""

import torch
from skorch.hf import AccelerateMixin

from ._classifier import CrestClassifier


class AcceleratedCrestClassifier(AccelerateMixin, CrestClassifier):
    """A :class:`CrestClassifier` trained through Hugging Face Accelerate.

    skorch's ``AccelerateMixin`` over :class:`CrestClassifier`, so that one
    script trains on one GPU (mixed precision) or, launched with
    ``accelerate launch`` or ``torchrun``, on several processes at once:
    each process trains on its own share of every step's examples and
    selects its coresets there, and the processes agree on every decision
    that changes the number of steps. See the user guide's "Training on
    several GPUs or machines" for what a step means then, and what is
    agreed how. Requires ``pip install sklearn-crest[distributed]``.

    Parameters
    ----------
    module, *args
        As for :class:`CrestClassifier`.
    accelerator : accelerate.Accelerator
        The accelerator of this process (``Accelerator(cpu=True)`` for
        processes on CPUs).
    device : None, default=None
        Leave device placement to the accelerator, as skorch asks.
    unwrap_after_train : bool, default=True
        Restore the module and criterion from the accelerator's wrappers
        after training, so that the net pickles and predicts like any
        other.
    **kwargs
        Any :class:`CrestClassifier` parameter.

    See Also
    --------
    CrestClassifier : the estimator, on one device.

    Examples
    --------
    In ``train.py``, launched with ``torchrun --nproc_per_node 2 train.py``
    (or, on GPUs, ``accelerate launch --multi_gpu --num_processes 2 train.py``)::

        from accelerate import Accelerator
        from sklearn_crest import AcceleratedCrestClassifier

        net = AcceleratedCrestClassifier(MyModule, accelerator=Accelerator(),
                                         selection="per_step", random_state=0)
        net.fit(X, y)  # every process passes the whole training set
    """

    _shards_evaluation = False

    def get_iterator(self, dataset, training=False):
        if training:
            return super().get_iterator(dataset, training=True)
        # Evaluation reads the whole input here, not a share of it:
        # CrestClassifier's iterator, which the accelerator does not shard.
        return CrestClassifier.get_iterator(self, dataset, training=False)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # unwrap_after_train took the module out of its data-parallel
        # wrapper after the previous call; a call that continues training
        # (partial_fit, warm start) wraps it again, or the processes would
        # train without averaging their gradients.
        self._initialize_accelerator()
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def _initialize_callbacks(self):
        # skorch's mixin prints the epoch table through accelerator.print,
        # which PrintLog does not hold to verbose (it honours verbose only
        # for the builtin print): verbose=0 printed every epoch. The main
        # process prints through print, so verbose holds; the others print
        # nothing. Without a PrintLog (callbacks__print_log=None) there is no
        # sink to set.
        # (The mixin reads the sink attribute, so it is deleted there, and a
        # later initialize finds no sink to set either.)
        sink = getattr(self, "callbacks__print_log__sink", None)
        if getattr(self, "callbacks__print_log", True) is None:
            if sink is not None:
                del self.callbacks__print_log__sink
            return CrestClassifier._initialize_callbacks(self)
        if sink == "auto":
            main = getattr(self.accelerator, "is_main_process", True)
            self.callbacks__print_log__sink = print if main else _print_nothing
        return super()._initialize_callbacks()

    def evaluation_step(self, batch, training=False):
        # The whole input was evaluated here: nothing to gather.
        return CrestClassifier.evaluation_step(self, batch, training=training)

    def _initialize_accelerator(self):
        if self._wrapped_with_accelerator:
            return self
        criteria = self._criteria
        untrained = [name for name in criteria if not _trains(getattr(self, name + "_"))]
        # skorch's mixin prepares what _criteria lists; hide the others.
        self._criteria = [name for name in criteria if name not in untrained]
        try:
            super()._initialize_accelerator()
        finally:
            self._criteria = criteria
        for name in untrained:
            criterion = getattr(self, name + "_")
            if isinstance(criterion, torch.nn.Module) and self.accelerator.device_placement:
                setattr(self, name + "_", criterion.to(self.accelerator.device))
        return self


def _print_nothing(*args, **kwargs):
    """The epoch table's sink in the processes other than the main one."""


def _trains(component):
    return isinstance(component, torch.nn.Module) and any(
        p.requires_grad for p in component.parameters())
