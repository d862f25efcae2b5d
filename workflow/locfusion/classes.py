"""The label space: 6 canonical localization classes and 3 organism groups.

One place defines the class order used everywhere (probability columns, model
outputs, confusion matrices), and the raw spellings each canonical name accepts,
so that DeepLocPro's files and hand-written FASTA headers map to the same labels.
"""

from __future__ import annotations

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
