"""The per-epoch figures a strategy records in the net's ``history``."""

import numpy as np
import torch

#: Every per-epoch figure a strategy records in the history (a strategy's
#: ``extra_history`` keys aside).
HISTORY_KEYS = ("n_selections", "n_checks", "n_steps", "n_forward_examples",
                "selection_s", "selection_forward_s", "check_s", "pool_size",
                "coreset_size", "selected_loss", "subset_loss")


def new_epoch_stats():
    """The counters of one epoch, all at zero."""
    return {"n_selections": 0, "n_checks": 0, "n_steps": 0,
            "n_forward_examples": 0, "selection_forward_s": 0.0,
            "selection_s": 0.0, "check_s": 0.0, "selected_loss": [],
            "subset_loss": []}


def history_record(stats, pool_size, coresets):
    """The history's figures of an epoch, from its counters, the pool's size
    and the current coresets (``(positions, weights)`` pairs)."""
    coreset_examples = (len(np.unique(np.concatenate(
        [_to_host(positions) for positions, _ in coresets]))) if coresets else 0)
    return {
        "n_selections": stats["n_selections"],
        "n_checks": stats["n_checks"],
        "n_steps": stats["n_steps"],
        "n_forward_examples": stats["n_forward_examples"],
        "selection_s": stats["selection_s"],
        "selection_forward_s": stats["selection_forward_s"],
        "check_s": stats["check_s"],
        "pool_size": int(pool_size),
        "coreset_size": int(coreset_examples),
        "selected_loss": _mean_or_nan(stats["selected_loss"]),
        "subset_loss": _mean_or_nan(stats["subset_loss"]),
    }


def _mean_or_nan(values):
    """Mean of floats, or of device scalars (read here, once per epoch)."""
    if not values:
        return float("nan")
    if all(isinstance(v, torch.Tensor) for v in values):
        return float(torch.stack(values).double().mean())  # one read
    return float(np.mean([float(v) for v in values]))


def _to_host(positions):
    return positions.cpu().numpy() if isinstance(positions, torch.Tensor) else positions
