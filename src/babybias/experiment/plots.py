"""The sandbox's ``comparison.png``: the grid engine's forest plot (:func:`babybias.analysis.grid.plot_effects`)."""

from __future__ import annotations

from ..analysis.grid import ABILITY_PREFIXES, COLORS, plot_effects, save_figure

__all__ = ["plot_effects", "save_figure", "ABILITY_PREFIXES", "COLORS"]
