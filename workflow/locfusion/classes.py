"""The label space: 6 canonical localization classes and 3 organism groups.

One place defines the class order used everywhere (probability columns, model
outputs, confusion matrices), and the raw spellings each canonical name accepts,
so that DeepLocPro's files and hand-written FASTA headers map to the same labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CLASSES: tuple[str, ...] = (
    "Cytoplasmic",
    "Cytoplasmic membrane",
    "Extracellular",
    "Periplasmic",
    "Outer membrane",
    "Cell wall & surface",
)
N_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

GROUPS: tuple[str, ...] = ("negative", "positive", "archaea")
GROUP_INDEX: dict[str, int] = {name: i for i, name in enumerate(GROUPS)}

# DeepLocPro's own column / label spellings, in our canonical names.
DEEPLOCPRO_LABELS: dict[str, str] = {
    "Cytoplasmic": "Cytoplasmic",
    "CYtoplasmicMembrane": "Cytoplasmic membrane",
    "Extracellular": "Extracellular",
    "Periplasmic": "Periplasmic",
    "OuterMembrane": "Outer membrane",
    "Cellwall": "Cell wall & surface",
}
CANONICAL_TO_DEEPLOCPRO: dict[str, str] = {v: k for k, v in DEEPLOCPRO_LABELS.items()}
# The spelling DeepLocPro 1.0's predictor writes in its output (columns and labels), in
# DeepLocPro's column order: `locfusion predict` writes the same, so tables line up.
DEEPLOCPRO_OUTPUT_NAMES: dict[str, str] = {
    "Cell wall & surface": "Cell wall & surface",
    "Extracellular": "Extracellular",
    "Cytoplasmic": "Cytoplasmic",
    "Cytoplasmic membrane": "Cytoplasmic Membrane",
    "Outer membrane": "Outer Membrane",
    "Periplasmic": "Periplasmic",
}

# DeepLocPro's post-processing: Gram-positive bacteria and archaea have no outer membrane
# and no periplasm, so those probabilities move to Extracellular.
REMAP_GROUPS: tuple[str, ...] = ("positive", "archaea")
REMAP_FROM: tuple[str, ...] = ("Outer membrane", "Periplasmic")
REMAP_TO = "Extracellular"


def remap_probabilities(probs: np.ndarray, groups: Sequence[str], classes: Sequence[str] = CLASSES) -> np.ndarray:
    """DeepLocPro's remap on an (n, classes) probability array; `groups` canonical, aligned with rows.

    Returns a new array: for rows of a `REMAP_GROUPS` group the `REMAP_FROM` columns
    are added to `REMAP_TO` and set to 0; other rows are unchanged. Linear, so the
    remapped mean of an ensemble is the mean of the remapped members.
    """
    classes = list(classes)
    out = np.array(probs, dtype=np.float64, copy=True)
    rows = np.isin(np.asarray(groups, dtype=object), REMAP_GROUPS)
    to = classes.index(REMAP_TO)
    for name in REMAP_FROM:
        j = classes.index(name)
        out[rows, to] += out[rows, j]
        out[rows, j] = 0.0
    return out


def _key(text: str) -> str:
    """Fold case, spaces, underscores, hyphens and '&' so spellings compare equal."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


_CLASS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "Cytoplasmic": ("cytoplasmic", "cytoplasm", "cytosol", "cytosolic"),
    "Cytoplasmic membrane": (
        "cytoplasmic membrane",
        "cytoplasmicmembrane",
        "inner membrane",
        "plasma membrane",
        "cell membrane",
    ),
    "Extracellular": ("extracellular", "secreted"),
    "Periplasmic": ("periplasmic", "periplasm"),
    "Outer membrane": ("outer membrane", "outermembrane"),
    "Cell wall & surface": ("cell wall & surface", "cellwall", "cell wall", "cell surface", "cell wall and surface"),
}
_CLASS_LOOKUP: dict[str, str] = {
    _key(syn): canonical for canonical, syns in _CLASS_SYNONYMS.items() for syn in (canonical, *syns)
}

_GROUP_SYNONYMS: dict[str, tuple[str, ...]] = {
    "negative": ("negative", "gram-negative", "gram negative", "gramnegative"),
    "positive": ("positive", "gram-positive", "gram positive", "grampositive"),
    "archaea": ("archaea", "archaeal", "archaeon"),
}
_GROUP_LOOKUP: dict[str, str] = {_key(s): g for g, syns in _GROUP_SYNONYMS.items() for s in syns}


def normalize_class(raw: str) -> str | None:
    """Canonical class name for a raw label spelling, or None when it is unknown."""
    return _CLASS_LOOKUP.get(_key(raw))


def normalize_group(raw: str) -> str | None:
    """Canonical organism group for a raw spelling, or None when it is unknown."""
    return _GROUP_LOOKUP.get(_key(raw))


# Published predictors scored beside the experiments, by the names the comparison tables use.
# Here, not in comparison.py, so that config validation (every snakemake start) can name them
# without importing pandas and scikit-learn.
DEEPLOCPRO = "DeepLocPro"
PSORTB = "PSORTb"  # PSORTb 3.0 forced to its top-scoring class (locfusion.psortb)
