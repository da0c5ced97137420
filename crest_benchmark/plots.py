"""The benchmark's figures: accuracy against wall-clock and against steps,
and the loss of CREST's selected examples against their random subsets'."""

import warnings

from .methods import METHODS


def plot(runs, out, accuracy_label="test accuracy"):
    """Write the three PNG figures to ``out``; returns their paths (none
    without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed: no plots (pip install "
                      "'sklearn-crest[plots]').", UserWarning, stacklevel=2)
        return []
    written = []
    for x_key, x_label, name in (("wall_s", "training wall-clock (s)",
                                  "accuracy_vs_time.png"),
                                 ("steps", "optimizer steps", "accuracy_vs_steps.png")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for entry in METHODS:
            method_runs = [r for r in runs if r["method"] == entry.name]
            for i, run in enumerate(method_runs):
                ax.plot(run[x_key], run["test_acc"], color=entry.color,
                        alpha=0.8, marker=".",
                        label=(entry.plot_label or entry.name) if i == 0 else None)
        ax.set_xlabel(x_label)
        ax.set_ylabel(accuracy_label)
        # Log scale: the budgets differ tenfold, and early learning matters.
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(out / name)
    crest_color = next(m.color for m in METHODS if m.name == "crest")
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, run in enumerate(r for r in runs if r["method"] == "crest"):
        for key, style, name in (("selected_loss", "-", "selected examples"),
                                 ("subset_loss", "--", "their random subsets")):
            values = run.get(key, [])
            epochs = [e for e, v in enumerate(values, 1) if v is not None]
            ax.plot(epochs, [v for v in values if v is not None], style,
                    color=crest_color, marker=".",
                    label=name if i == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss at selection time")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "selected_loss.png", dpi=120)
    plt.close(fig)
    written.append(out / "selected_loss.png")
    return written
