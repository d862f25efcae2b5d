"""Simple sequence annotations drawn beside a model's attention: heuristics, not predictors.

They give a reader of an explanation plot landmarks computed from the sequence
alone, so that "the model looked at residues 5-25" can be set against "residues
4-22 are a hydrophobic N-terminal stretch". Neither is a signal-peptide or
transmembrane predictor (SignalP, Phobius, DeepTMHMM are); both are classic,
transparent rules:

- Hydrophobic stretches (`hydrophobic_stretches`): Kyte & Doolittle's
  transmembrane-helix heuristic (J. Mol. Biol. 157:105-132, 1982): the mean
  hydropathy over a 19-residue window (about the residues a helix needs to cross
  the membrane) of at least 1.6. A stretch is the union of the qualifying
  windows, so it extends a few residues past the hydrophobic core; only full
  windows count (no call in the first and last 9 residues' shrunken windows).
  Signal peptides' h-regions often reach the threshold too: a call at the
  N-terminus may be either.
- Signal-like N-terminus (`signal_like_region`): the most hydrophobic 9-residue
  window (the short window resolves a 7-15 residue h-region) lying within the
  first 30 residues, with mean hydropathy >= 2.0, preceded by an n-region of net
  positive charge (K + R - D - E >= 1). It names where a Sec signal peptide
  would be if there were one; it does not look for a cleavage site, a Tat motif
  or a lipobox.

Hydropathy values come from Biopython's table through `embedders.features`
(the `profile` embedder's Kyte-Doolittle scale), never typed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedders.features import residue_scale

__all__ = [
    "KD_THRESHOLD",
    "KD_WINDOW",
    "SIGNAL_H_THRESHOLD",
    "SIGNAL_H_WINDOW",
    "SIGNAL_SEARCH",
    "Region",
    "hydropathy",
    "hydropathy_profile",
    "hydrophobic_stretches",
    "signal_like_region",
]

KD_WINDOW = 19  # Kyte & Doolittle 1982: a membrane-spanning helix
KD_THRESHOLD = 1.6  # their mean hydropathy cut-off for that window
SIGNAL_SEARCH = 30  # the h-region window must end within the first 30 residues
SIGNAL_H_WINDOW = 9
SIGNAL_H_THRESHOLD = 2.0


@dataclass(frozen=True)
class Region:
    """Residues [start, end) (0-based, end exclusive) of a sequence, with a label for the plot."""

    start: int
    end: int
    label: str


def hydropathy(seq: str) -> np.ndarray:
    """Kyte-Doolittle hydropathy of each residue (rare codes as in `embedders.features`)."""
    scale = residue_scale("kd")
    return np.array([scale[c] for c in seq], dtype=np.float64)


def hydropathy_profile(seq: str, window: int = KD_WINDOW) -> np.ndarray:
    """Mean hydropathy of the full `window` (odd) centred on each residue; NaN where it does not fit.

    The values `hydrophobic_stretches` thresholds, so a plot of it agrees with the calls.
    """
    out = np.full(len(seq), np.nan)
    means = _full_window_means(hydropathy(seq), window)
    out[window // 2 : window // 2 + len(means)] = means
    return out


def _full_window_means(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each full window: entry i covers values[i : i + window]."""
    if len(values) < window:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return (cumulative[window:] - cumulative[:-window]) / window


def hydrophobic_stretches(seq: str, window: int = KD_WINDOW, threshold: float = KD_THRESHOLD) -> list[Region]:
    """Kyte-Doolittle hydrophobic stretches: unions of full windows with mean hydropathy >= threshold."""
    means = _full_window_means(hydropathy(seq), window)
    regions: list[Region] = []
    for start in np.flatnonzero(means >= threshold):
        start, end = int(start), int(start) + window
        if regions and start <= regions[-1].end:
            regions[-1] = Region(regions[-1].start, end, regions[-1].label)
        else:
            regions.append(Region(start, end, "hydrophobic stretch"))
    return regions


def signal_like_region(seq: str, search: int = SIGNAL_SEARCH, window: int = SIGNAL_H_WINDOW,
                       threshold: float = SIGNAL_H_THRESHOLD) -> tuple[Region, Region] | None:
    """(n-region, h-region) of a signal-like N-terminus, or None (see the module docstring)."""
    means = _full_window_means(hydropathy(seq[:search]), window)
    if not len(means):
        return None
    start = int(np.argmax(means))  # the first of equally hydrophobic windows
    if means[start] < threshold or start == 0:
        return None
    n_region = seq[:start]
    charge = sum(n_region.count(c) for c in "KR") - sum(n_region.count(c) for c in "DE")
    if charge < 1:
        return None
    return Region(0, start, "n-region (+)"), Region(start, start + window, "h-region")
