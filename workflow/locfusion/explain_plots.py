"""Track plots of an explanation: what the models weighed along one protein, beside landmarks.

One protein is a column of tracks sharing the residue axis:

1. attention, per fold model and head: one heatmap row each, every row scaled to
   its own maximum (heads differ in sharpness; the scale shows where each head
   looks, not how much);
2. attention, mean over models and heads, with the uniform 1/L level dashed:
   above it the pooling reads more than its share;
3. fusion gate (gated fusion models only): the models' mean weight on each
   embedder at each residue, stacked to 1;
4. Kyte-Doolittle hydropathy (19-residue window) with its 1.6 threshold,
   hydrophobic stretches shaded and a signal-like N-terminus marked
   (`locfusion.annotations`: heuristics, not predictions); a dotted line where a
   long protein was cropped (N-terminal half | C-terminal half).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .annotations import KD_THRESHOLD, KD_WINDOW, hydropathy_profile, hydrophobic_stretches, signal_like_region
from .explain import ProteinExplanation
from .plots import save_figure

__all__ = ["plot_explanation", "plot_explanations"]

_STRETCH = "#dd8452"
_N_REGION = "#4c72b0"
_H_REGION = "#55a868"


def _tracks(item: ProteinExplanation) -> list[tuple[str, float]]:
    tracks = [("heads", 1.3), ("mean", 1.0)]
    if item.gate is not None:
        tracks.append(("gate", 0.8))
    tracks.append(("hydropathy", 1.0))
    return tracks


def _draw(fig: Figure, spec: Any, item: ProteinExplanation, embedders: Sequence[str], title: str) -> None:
    """Draw `item`'s tracks into the subplot spec `spec` of `fig`."""
    tracks = _tracks(item)
    grid = spec.subgridspec(len(tracks), 1, height_ratios=[h for _, h in tracks], hspace=0.12)
    length = len(item.sequence)
    x = np.arange(1, length + 1)
    axes = []
    for row, (name, _) in enumerate(tracks):
        ax = fig.add_subplot(grid[row], sharex=axes[0] if axes else None)
        axes.append(ax)
        if name == "heads":
            rows = item.attention.reshape(-1, length)
            peak = rows.max(axis=1, keepdims=True)
            ax.imshow(rows / np.where(peak > 0, peak, 1.0), aspect="auto", cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest", extent=(0.5, length + 0.5, len(rows) - 0.5, -0.5))
            n_models, n_heads = item.attention.shape[:2]
            ax.set_yticks([])
            ax.set_ylabel(f"{n_models}x{n_heads}\nheads", fontsize=7)
            ax.set_title(title, fontsize=8, loc="left")
        elif name == "mean":
            ax.plot(x, item.attention_mean, color="black", lw=0.8)
            ax.axhline(1.0 / length, color="grey", ls="--", lw=0.6)
            ax.set_ylabel("attention\n(mean)", fontsize=7)
            ax.set_ylim(bottom=0)
        elif name == "gate":
            gate = item.gate_mean
            ax.stackplot(x, gate.T, labels=list(embedders), alpha=0.85)
            ax.set_ylim(0, 1)
            ax.set_ylabel("gate", fontsize=7)
            ax.legend(fontsize=6, loc="upper right", ncol=len(embedders), framealpha=0.7)
        else:
            ax.plot(x, hydropathy_profile(item.sequence, KD_WINDOW), color="#555555", lw=0.8)
            ax.axhline(KD_THRESHOLD, color=_STRETCH, ls=":", lw=0.8)
            for region in hydrophobic_stretches(item.sequence):
                ax.axvspan(region.start + 0.5, region.end + 0.5, color=_STRETCH, alpha=0.3, lw=0)
            signal = signal_like_region(item.sequence)
            if signal is not None:
                for region, color in zip(signal, (_N_REGION, _H_REGION), strict=True):
                    ax.axvspan(region.start + 0.5, region.end + 0.5, ymin=0.85, ymax=1.0, color=color, lw=0)
            ax.set_ylabel(f"KD ({KD_WINDOW})", fontsize=7)
            ax.set_xlabel("residue", fontsize=7)
        if item.cropped:
            ax.axvline(math.ceil(length / 2) + 0.5, color="black", ls=":", lw=0.8)
        ax.tick_params(labelsize=6)
        ax.set_xlim(0.5, length + 0.5)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)


def _title(item: ProteinExplanation) -> str:
    text = f"{item.id}: {item.predicted} ({item.confidence:.2f})"
    if item.true:
        text += f", true {item.true}"
    if item.cropped:
        text += f", cropped {item.original_length}->{len(item.sequence)}"
    return text


def _legend(fig: Figure) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=_STRETCH, alpha=0.3, label=f"hydrophobic stretch (KD {KD_WINDOW}-window >= {KD_THRESHOLD})"),
               Patch(color=_N_REGION, label="signal-like n-region (+)"), Patch(color=_H_REGION, label="h-region")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False)


def plot_explanation(item: ProteinExplanation, embedders: Sequence[str],
                     stem: str | os.PathLike[str]) -> list[Path]:
    """The track plot of one protein (PNG and PDF)."""
    fig = Figure(figsize=(8.0, 1.1 * sum(h for _, h in _tracks(item)) + 0.9))
    _draw(fig, fig.add_gridspec(1, 1, bottom=0.14)[0], item, embedders, _title(item))
    _legend(fig)
    return save_figure(fig, stem)


def plot_explanations(items: Sequence[ProteinExplanation], embedders: Sequence[str], stem: str | os.PathLike[str],
                      columns: int = 2, title: str = "") -> list[Path]:
    """Several proteins' track plots in one figure, `columns` per row, in the order given."""
    if not items:
        fig = Figure(figsize=(6.0, 1.5))
        fig.text(0.5, 0.5, "no protein to explain (no correct test prediction)", ha="center", va="center")
        return save_figure(fig, stem)
    rows = math.ceil(len(items) / columns)
    height = 1.1 * sum(h for _, h in _tracks(items[0]))  # inches of one protein's tracks
    total = rows * (height + 0.8) + 1.0
    fig = Figure(figsize=(7.0 * columns, total))
    grid = fig.add_gridspec(rows, columns, hspace=0.8 / height, wspace=0.15, bottom=0.8 / total,
                            top=1 - 0.5 / total)
    for k, item in enumerate(items):
        _draw(fig, grid[k // columns, k % columns], item, embedders, _title(item))
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.15 / total)
    _legend(fig)
    return save_figure(fig, stem)
