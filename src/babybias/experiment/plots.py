"""The sandbox's ``comparison.png``: a forest plot of each condition's effect against the baseline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .sandbox import SandboxResult

ABILITY_PREFIXES = ("blimp", "ewok", "composite_performance")
COLORS = ("#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _is_ability(metric: str) -> bool:
    return metric.startswith(ABILITY_PREFIXES)


def plot_effects(result: "SandboxResult", path: str | Path) -> Path:
    """Effects (condition − baseline, and intervention − control) of the shown metrics with their 95 % intervals.

    One row per metric, each on its own scale (log-odds, percentage points and composites differ),
    bias metrics first, then ability metrics; one marker per condition, filled when distinguishable
    from noise and hollow when not (or one seed only); thick bar = interval over seeds, thin bar =
    interval over items. The primary metric's label is bold.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(e.label, e.metric): e for e in result.effects}
    conditions = list(dict.fromkeys(e.label for e in result.effects))  # cda, duplication, cda − duplication
    metrics = [m for m in result.shown_metrics if any((c, m) in by for c in conditions)]
    metrics = [m for m in metrics if not _is_ability(m)] + [m for m in metrics if _is_ability(m)]
    if not metrics:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no effects: the grid has no baseline cells or no other condition", ha="center", va="center")
        _save(fig, Path(path))
        plt.close(fig)
        return Path(path)
    row_h = 0.28 * max(2, len(conditions)) + 0.3
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, row_h * len(metrics) + 1.0), squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        for k, c in enumerate(conditions):
            e = by.get((c, m))
            if e is None:
                continue
            color = COLORS[k % len(COLORS)]
            if e.items is not None:
                ax.plot([e.items.low, e.items.high], [k, k], color=color, lw=1, alpha=0.8)
            if np.isfinite(e.seeds.low):
                ax.plot([e.seeds.low, e.seeds.high], [k, k], color=color, lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot([e.estimate], [k], "o", ms=6, color=color, mfc=color if e.distinguishable else "white")
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_ylim(len(conditions) - 0.5, -0.5)
        ax.set_yticks(range(len(conditions)))
        ax.set_yticklabels(conditions, fontsize=7)
        kind = "ability" if _is_ability(m) else "bias"
        ax.set_title(f"{m}  ({kind}{', PRIMARY' if m == result.primary_metric else ''})", fontsize=8, loc="left",
                     fontweight="bold" if m == result.primary_metric else "normal")
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("effect (condition − baseline, or intervention − control), 95 % CI (thick: over seeds, thin: "
                 "over items); filled: distinguishable from noise", fontsize=8)
    fig.tight_layout()
    _save(fig, Path(path))
    plt.close(fig)
    return Path(path)


def _save(fig, path: Path) -> None:
    """Write the figure through a temporary file and a rename, so a reader never sees half a PNG."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
