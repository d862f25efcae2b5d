"""Weight-free residue features: one-hot, BLOSUM62 rows, physico-chemical scales, profiles.

They need no model download, so they serve as baselines (how much does a
protein language model add over the residue identity?), as a cheap second
input for fusion, and as fast, exact embedders for tests of the workflow.
Every value comes from Biopython's published tables, never typed by hand.

Each kind maps a residue letter to a fixed vector through a lookup table, so a
protein embeds in O(L) with one numpy fancy-index and the result does not depend
on batching. The rare and ambiguous codes every embedder must accept are
handled the same way in all of them:

- U (selenocysteine) is treated as C and O (pyrrolysine) as K: each is a
  modified form of that residue, encoded in the genome by a recoded stop codon;
- B (D or N) and Z (E or Q) are the mean of their two candidates;
- X (unknown) carries no residue information: the mean over the 20 standard
  residues, except in one-hot, which has a dedicated 'X' column instead.

The `profile` kind is the one exception to "a residue's vector depends on its
letter only": it gives each residue the context that sorting signals are made
of (windowed hydropathy, distance to each terminus), which models that pool
context-free residue features cannot reconstruct (see `ProfileEmbedder`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from Bio.Align import substitution_matrices
from Bio.SeqUtils import ProtParamData

from ..errors import InputError
from .base import STANDARD_AA, VALID_AA, Embedder, RuntimeOptions, register

__all__ = [
    "BLOSUM_SCALE",
    "DEFAULT_PHYSCHEM_SCALES",
    "Blosum62Embedder",
    "OneHotEmbedder",
    "DEFAULT_PROFILE_SCALES",
    "DEFAULT_PROFILE_TERMINI",
    "DEFAULT_PROFILE_WINDOWS",
    "PhyschemEmbedder",
    "ProfileEmbedder",
    "physchem_scales",
    "residue_scale",
    "hydrophobic_moment",
    "terminal_proximity",
    "window_means",
]

# Rare residues that are modified forms of a standard one (see module docstring).
_ALIAS = {"U": "C", "O": "K"}
# Ambiguity codes: the two residues each may stand for.
_CANDIDATES = {"B": ("D", "N"), "Z": ("E", "Q")}

# Side-chain charge near pH 7 (`charge`, a scale of ours beside ProtParam's): Lys and Arg +1,
# Asp and Glu -1, His (pKa ~6) and the rest 0. Windowed, it shows the positive n-region of
# a signal peptide and the positive-inside loops of membrane proteins.
_CHARGE: dict[str, float] = {aa: 0.0 for aa in STANDARD_AA} | {"K": 1.0, "R": 1.0, "D": -1.0, "E": -1.0}

# BLOSUM62 scores are integers in [-4, 11]; /10 brings them near unit scale while
# keeping the matrix exactly recoverable (and its zero meaning "neutral").
BLOSUM_SCALE = 10.0

# ProtParam's classic per-residue profiles: hydropathy (Kyte & Doolittle),
# flexibility (Vihinen), hydrophilicity (Hopp & Woods), surface probability
# (Emini) and interior-to-surface transfer energy (Janin). Hydropathy profiles
# reveal signal peptides and transmembrane helices; the others, exposed loops.
DEFAULT_PHYSCHEM_SCALES: tuple[str, ...] = ("kd", "Flex", "hw", "em", "ja")

# `profile` defaults. Hydropathy (Kyte & Doolittle) averaged over 19 residues is
# their classic transmembrane-helix detector (a helix spans the membrane in ~19-20
# residues); over 9 residues it resolves the 7-15 residue hydrophobic h-region of
# a signal peptide. Terminal proximity decays over 10 residues (the charged n-region
# and first residues) and over 40 (the span of a bacterial signal peptide, up to
# ~40 residues in Gram-positives, and of C-terminal sorting signals such as the
# LPXTG anchor or the outer-membrane beta-signal).
DEFAULT_PROFILE_SCALES: tuple[str, ...] = ("kd",)
DEFAULT_PROFILE_WINDOWS: tuple[int, ...] = (9, 19)
DEFAULT_PROFILE_TERMINI: tuple[int, ...] = (10, 40)


class _LookupEmbedder(Embedder):
    """An embedder whose vector for a residue depends only on the residue letter.

    Subclasses implement `_rows()`, returning the column names and one row per
    letter of VALID_AA; this class turns them into a byte-indexed table.
    """

    max_residues = None

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        columns, rows = self._rows()
        if set(rows) != VALID_AA:
            raise AssertionError(f"{type(self).__name__} must define a row for each of {sorted(VALID_AA)}")
        self.columns: tuple[str, ...] = tuple(columns)
        self.dim = len(self.columns)
        letters = sorted(rows)
        self._table = np.array([rows[c] for c in letters], dtype=np.float32).reshape(len(letters), self.dim)
        # Byte value -> table row (-1: not a valid residue); 256 entries so any byte indexes safely.
        self._index = np.full(256, -1, dtype=np.intp)
        for i, c in enumerate(letters):
            self._index[ord(c)] = i

    def _rows(self) -> tuple[Sequence[str], Mapping[str, Sequence[float]]]:
        raise NotImplementedError

    identity_keys = ("columns",)

    def provenance(self) -> dict[str, Any]:
        # The columns pin down defaults (e.g. the physchem scales) that the spec may leave implicit.
        return {**super().provenance(), "columns": ",".join(self.columns)}

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        return [self._embed_one(seq) for seq in sequences]

    def _embed_one(self, seq: str) -> np.ndarray:
        codes = np.frombuffer(seq.encode("utf-8"), dtype=np.uint8)
        rows = self._index[codes]
        if len(codes) != len(seq) or (rows < 0).any():
            pos, char = next((i, c) for i, c in enumerate(seq) if c not in VALID_AA)
            raise InputError(
                f"embedder '{self.name}': invalid residue {char!r} at position {pos + 1} "
                "(sequences must be validated and upper-case before embedding)"
            )
        return self._table[rows]


def _with_rare_codes(rows: dict[str, np.ndarray], unknown: np.ndarray) -> dict[str, np.ndarray]:
    """Add U, O, B, Z and X rows to the 20 standard ones (the convention of the module docstring)."""
    out = dict(rows)
    for code, same_as in _ALIAS.items():
        out[code] = rows[same_as]
    for code, (a, b) in _CANDIDATES.items():
        out[code] = (rows[a] + rows[b]) / 2.0
    out["X"] = unknown
    return out


@register("onehot")
class OneHotEmbedder(_LookupEmbedder):
    """21 columns: the 20 standard residues, then 'X' for an unknown residue.

    B and Z put 0.5 on each candidate, U counts as C and O as K (every row sums to 1).
    """

    def _rows(self) -> tuple[Sequence[str], Mapping[str, Sequence[float]]]:
        eye = np.eye(len(STANDARD_AA) + 1)
        rows = {aa: eye[i] for i, aa in enumerate(STANDARD_AA)}
        return (*STANDARD_AA, "X"), _with_rare_codes(rows, unknown=eye[-1])


@register("blosum62")
class Blosum62Embedder(_LookupEmbedder):
    """20 columns: a residue's BLOSUM62 scores against the 20 standard residues, / BLOSUM_SCALE.

    B, Z and X use the matrix's own rows for those codes; U uses C's row, O uses K's.
    """

    def _rows(self) -> tuple[Sequence[str], Mapping[str, Sequence[float]]]:
        matrix = substitution_matrices.load("BLOSUM62")
        rows = {
            aa: np.array([matrix[aa, b] for b in STANDARD_AA]) / BLOSUM_SCALE for aa in (*STANDARD_AA, "B", "Z", "X")
        }
        for code, same_as in _ALIAS.items():
            rows[code] = rows[same_as]
        return tuple(f"blosum_{b}" for b in STANDARD_AA), rows


def physchem_scales() -> dict[str, dict[str, float]]:
    """Per-residue scales of Biopython's ProtParamData, by short name (kd, Flex, hw, ...) and
    by the long names of its hydrophobicity table (KyteDoolitle, Eisenberg, ...)."""
    scales: dict[str, dict[str, float]] = {}
    for key in dir(ProtParamData):
        value = getattr(ProtParamData, key)
        if (
            isinstance(value, dict)
            and set(value) == set(STANDARD_AA)
            and all(isinstance(v, (int, float)) for v in value.values())
        ):
            scales[key] = value
    scales.update(ProtParamData.gravy_scales)
    scales["charge"] = dict(_CHARGE)
    return scales


def residue_scale(name: str) -> dict[str, float]:
    """Raw (unstandardized) values of scale `name` for every valid residue letter.

    The 20 standard residues take the published table's values; U, O, B, Z and X
    follow this module's convention (U as C, O as K, B and Z the mean of their
    candidates, X the mean over the 20). For readings in the scale's own units,
    such as Kyte & Doolittle's 1.6 threshold for a 19-residue window (`annotations`).
    """
    known = physchem_scales()
    if name not in known:
        raise InputError(f"unknown physchem scale {name!r} (known: {', '.join(sorted(known))})")
    rows = {aa: np.array([float(known[name][aa])]) for aa in STANDARD_AA}
    unknown = np.array([float(np.mean([known[name][aa] for aa in STANDARD_AA]))])
    return {aa: float(v[0]) for aa, v in _with_rare_codes(rows, unknown).items()}


@register("physchem")
class PhyschemEmbedder(_LookupEmbedder):
    """One column per physico-chemical scale (spec key `scales`, default DEFAULT_PHYSCHEM_SCALES).

    Each scale is standardized over the 20 standard residues (mean 0, population
    std 1) so that scales with different units weigh alike. B and Z take the mean
    of their candidates, U and O the value of C and K, X the scale mean (0).
    """

    def _rows(self) -> tuple[Sequence[str], Mapping[str, Sequence[float]]]:
        names = self.spec.get("scales") or DEFAULT_PHYSCHEM_SCALES
        if isinstance(names, str):
            names = [names]
        known = physchem_scales()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(
                f"embedder '{self.name}': unknown physchem scale(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        if len(set(names)) != len(names):
            raise InputError(f"embedder '{self.name}': physchem scales listed twice: {list(names)}")
        raw = np.array([[known[n][aa] for n in names] for aa in STANDARD_AA], dtype=np.float64)
        std = raw.std(axis=0)
        if (std == 0).any():
            raise InputError(f"embedder '{self.name}': a physchem scale is constant over the 20 residues")
        z = (raw - raw.mean(axis=0)) / std
        rows = {aa: z[i] for i, aa in enumerate(STANDARD_AA)}
        return tuple(names), _with_rare_codes(rows, unknown=np.zeros(len(names)))


def window_means(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of (L, D) `values` over `window` residues (odd).

    Near the termini the window holds only the protein's own residues (it
    shrinks rather than padding with zeros), so the first residues of a protein
    are not pulled towards the scale mean by residues that do not exist.
    """
    length = values.shape[0]
    half = window // 2
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0, dtype=np.float64)])
    positions = np.arange(length)
    lo = np.clip(positions - half, 0, length)
    hi = np.clip(positions + half + 1, 0, length)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


def terminal_proximity(length: int, decays: Sequence[float]) -> np.ndarray:
    """(length, 2 * len(decays)): exp(-d / decay) for d the distance to the N-, then the C-terminus.

    1 at the terminal residue, falling to 1/e `decay` residues in: where a residue
    sits relative to the ends, independent of the protein's length.
    """
    positions = np.arange(length, dtype=np.float64)[:, None]
    decays_row = np.asarray(decays, dtype=np.float64)[None, :]
    return np.concatenate([np.exp(-positions / decays_row), np.exp(-positions[::-1] / decays_row)], axis=1)


def hydrophobic_moment(values: np.ndarray, angle: float, window: int) -> np.ndarray:
    """Per-column moment |sum_j v_j exp(i * angle * j)| / window over the centred window (odd).

    Eisenberg's hydrophobic moment per residue: a scale that alternates with the
    period `360 / angle` residues adds up, a uniform or random one (nearly) cancels.
    At the termini the sum runs over the protein's own residues only but is still
    divided by the full `window`: dividing by the shorter count would inflate the
    moment of any sequence there (a sum of n random terms grows like sqrt(n)), a
    position signal that `termini` already gives explicitly.
    """
    length = values.shape[0]
    phase = np.exp(1j * np.deg2rad(angle) * np.arange(length))[:, None]
    cumulative = np.concatenate([np.zeros((1, values.shape[1]), dtype=np.complex128), np.cumsum(values * phase, axis=0)])
    positions = np.arange(length)
    lo = np.clip(positions - window // 2, 0, length)
    hi = np.clip(positions + window // 2 + 1, 0, length)
    return np.abs(cumulative[hi] - cumulative[lo]) / window


def _moment_list(name: str, value: Any) -> tuple[tuple[int, int], ...]:
    """`moments`: a list of [angle in degrees (1-180), odd window]; none by default."""
    if value is None:
        return ()
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        and 1 <= pair[0] <= 180
        and pair[1] >= 1
        and pair[1] % 2 == 1
        for pair in value
    )
    if not ok:
        raise InputError(
            f"embedder '{name}': 'moments' must be a list of [angle in degrees 1-180, odd window], got {value!r}"
        )
    pairs = tuple((int(a), int(w)) for a, w in value)
    if len(set(pairs)) != len(pairs):
        raise InputError(f"embedder '{name}': 'moments' lists a pair twice: {[list(p) for p in pairs]}")
    return pairs


def _positive_list(name: str, key: str, value: Any, default: Sequence[int], odd: bool = False) -> tuple[int, ...]:
    """A spec entry that must be a list of positive integers (odd ones for centred windows)."""
    if value is None:
        return tuple(default)
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    ok = isinstance(items, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items)
    if not ok or (odd and any(v % 2 == 0 for v in items)):
        kind = "odd positive integers" if odd else "positive integers"
        raise InputError(f"embedder '{name}': '{key}' must be a list of {kind}, got {value!r}")
    if len(set(items)) != len(items):
        raise InputError(f"embedder '{name}': '{key}' lists a value twice: {list(items)}")
    return tuple(items)


@register("profile")
class ProfileEmbedder(Embedder):
    """Sequence context without weights: windowed physico-chemical profiles and distance to the termini.

    Sorting signals are positional patterns, not compositions: a signal peptide
    is a hydrophobic stretch within the first ~30 residues, a transmembrane
    helix a ~20-residue hydrophobic window, an LPXTG anchor or a beta-signal sits
    at the C-terminus. Per-residue lookup features (blosum62, physchem) carry
    none of that, and a model that pools them with one attention score per
    residue (attention_pooling) sees little more than a weighted composition.
    This kind gives every residue its neighbourhood and its place:

    - for each scale in `scales` (standardized as in `physchem`, default
      DEFAULT_PROFILE_SCALES) and each odd width in `windows` (default
      DEFAULT_PROFILE_WINDOWS), the scale's mean over the centred window;
    - for each decay length in `termini` (residues, default
      DEFAULT_PROFILE_TERMINI), exp(-distance / decay) to the N-terminus, then
      the same to the C-terminus (`terminal_proximity`);
    - for each `[angle, window]` in `moments` (default none) and each scale, the
      scale's moment over the centred window (`hydrophobic_moment`): Eisenberg's
      hydrophobic moment when the scale is a hydropathy. At 100 degrees (3.6
      residues per turn) it is high on an amphipathic helix, at 180 degrees on a
      strand whose side chains alternate in and out, as in the membrane-spanning
      strands of an outer-membrane beta-barrel; a window mean cannot see either.

    Invalid residues and rare codes are handled exactly as by `physchem`.
    """

    max_residues = None

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.windows = _positive_list(name, "windows", spec.get("windows"), DEFAULT_PROFILE_WINDOWS, odd=True)
        self.termini = _positive_list(name, "termini", spec.get("termini"), DEFAULT_PROFILE_TERMINI)
        self.moments = _moment_list(name, spec.get("moments"))
        if not self.windows and not self.termini and not self.moments:
            raise InputError(f"embedder '{name}': 'windows', 'termini' and 'moments' are all empty: no feature left")
        self.residues = PhyschemEmbedder(name, {"scales": spec.get("scales") or DEFAULT_PROFILE_SCALES}, runtime)
        self.columns: tuple[str, ...] = (
            *(f"{scale}_w{w}" for w in self.windows for scale in self.residues.columns),
            *(f"nterm_{d}" for d in self.termini),
            *(f"cterm_{d}" for d in self.termini),
            *(f"{scale}_m{a}_w{w}" for a, w in self.moments for scale in self.residues.columns),
        )
        self.dim = len(self.columns)

    identity_keys = ("columns",)

    def provenance(self) -> dict[str, Any]:
        # The columns pin down the defaults (scales, windows, decays) the spec may leave implicit.
        return {**super().provenance(), "columns": ",".join(self.columns)}

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        return [self._embed_one(seq, values) for seq, values in zip(sequences, self.residues.embed_batch(sequences))]

    def _embed_one(self, seq: str, values: np.ndarray) -> np.ndarray:
        parts = [window_means(values, w) for w in self.windows]
        if self.termini:
            parts.append(terminal_proximity(len(seq), self.termini))
        parts += [hydrophobic_moment(values, angle, w) for angle, w in self.moments]
        return np.concatenate(parts, axis=1).astype(np.float32)
