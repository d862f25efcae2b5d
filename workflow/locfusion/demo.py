"""Seeded generator of the bundled SYNTHETIC demo proteome.

The demo data lets the whole workflow (filter, embed, train, evaluate) run in
seconds without the real DeepLocPro set, so it must look like DeepLocPro to the
code (same `>ID|Label|group|fold` headers, raw label spellings, folds 0-4) and
carry signals a model can actually learn. Random sequences alone would give a
chance-level model and a demo that proves nothing; so on a background drawn from
UniProt amino-acid frequencies we plant the sorting signals that decide
localization in real prokaryotes:

* Sec signal peptide (positive n-region, 8-12 residue hydrophobic h-region,
  c-region ending in the AxA cleavage motif) for secreted / envelope proteins;
  a Tat variant (S/T-RR-x-F-L-K) for a share of them;
* lipoprotein signal peptide ending in the lipobox [LVI][ASTVI][GAS]C, with the
  Lol sorting residue after the Cys (Asp: stays in the inner membrane, Ser: goes
  to the outer membrane) in Gram-negative lipoproteins;
* 1-6 transmembrane helices (18-22 hydrophobic residues) with positive-inside
  loops for Cytoplasmic membrane proteins;
* LPXTG sortase motif + hydrophobic stretch + positive tail at the C-terminus for
  Gram-positive cell-wall proteins;
* an even number of amphipathic beta strands ending in an aromatic residue (F/W,
  the beta-signal recognised by BAM) for Gram-negative outer-membrane barrels.

Some proteins carry weak or misleading signals (cytoplasmic proteins with a short
hydrophobic N-terminus or an amphipathic helix, signal-less secreted proteins,
cell-wall proteins without LPXTG, large N-terminal domains before the first
helix) so the task is learnable but not trivial. A few deliberately bad records
(too short, too long, an exact duplicate sequence) give the input filter work.

Everything is drawn from one `numpy.random.Generator` in a fixed order, so the
same `n` and `seed` give a byte-identical FASTA; `tests/test_demo.py` checks the
committed `resources/demo/demo_proteome.fasta` against a fresh generation.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classes import CANONICAL_TO_DEEPLOCPRO, CLASSES, GROUPS
from .io import atomic_path

DEFAULT_N = 300
DEFAULT_SEED = 20261124
N_FOLDS = 5
FASTA_NAME = "demo_proteome.fasta"
README_NAME = "README.md"
# Each record's organism group, for `locfusion predict --groups` on this mixed proteome: a model
# trained with the group as input (DeepLocPro's design) is told each protein's group.
GROUPS_NAME = "demo_groups.tsv"
ID_PREFIX = "SYN"

# Valid demo proteins stay inside these bounds; the excluded records sit outside.
MIN_LENGTH = 40
MAX_LENGTH = 1000
_VALID_LENGTH_CAP = 950  # headroom below MAX_LENGTH for the fixed signal parts

# Class x group counts at n=300. Shares follow biology: Periplasmic and Outer
# membrane exist only in Gram-negative cells; cell-wall proteins are mostly
# Gram-positive (a few Gram-negative surface autotransporters, as in DeepLocPro);
# archaea get Cytoplasmic, Cytoplasmic membrane and Extracellular only.
_CELL_COUNTS_300: dict[str, dict[str, int]] = {
    "Cytoplasmic": {"negative": 34, "positive": 26, "archaea": 15},
    "Cytoplasmic membrane": {"negative": 24, "positive": 21, "archaea": 15},
    "Extracellular": {"negative": 12, "positive": 20, "archaea": 13},
    "Periplasmic": {"negative": 40},
    "Outer membrane": {"negative": 40},
    "Cell wall & surface": {"positive": 32, "negative": 8},
}

# UniProtKB/Swiss-Prot amino-acid composition (%), release statistics.
_UNIPROT_FREQ: dict[str, float] = {
    "A": 8.25, "R": 5.52, "N": 4.06, "D": 5.46, "C": 1.38, "Q": 3.93, "E": 6.72,
    "G": 7.07, "H": 2.27, "I": 5.91, "L": 9.65, "K": 5.80, "M": 2.41, "F": 3.86,
    "P": 4.74, "S": 6.64, "T": 5.36, "W": 1.10, "Y": 2.92, "V": 6.86,
}  # fmt: skip


def _scaled(base: dict[str, float], **factors: float) -> dict[str, float]:
    return {aa: w * factors.get(aa, 1.0) for aa, w in base.items()}


# Residue pools (weights) for each kind of segment.
_POOL_WEIGHTS: dict[str, dict[str, float]] = {
    "bg": _UNIPROT_FREQ,
    # n-region: short, positively charged, otherwise polar.
    "sp_n": {"K": 3, "R": 2, "S": 2, "T": 2, "N": 1, "Q": 1, "A": 1, "P": 1, "L": 1},
    # h-region: the hydrophobic core that the Sec translocon / SRP reads.
    "sp_h": {"L": 7, "A": 3, "V": 3, "I": 2, "F": 2, "M": 1},
    # Tat h-region is less hydrophobic (Gly/Thr/Ala richer).
    "tat_h": {"L": 3, "A": 4, "V": 2, "G": 2, "T": 2, "I": 1, "F": 1, "S": 1},
    # c-region: small/polar residues before the AxA cleavage site.
    "sp_c": {"S": 3, "T": 2, "G": 2, "A": 1, "N": 1, "Q": 1, "P": 1},
    "axa_x": {"S": 2, "Q": 2, "E": 2, "N": 1, "T": 1, "K": 1, "H": 1, "A": 2, "G": 1, "D": 1},
    # Transmembrane helix core.
    "tm": {"L": 30, "I": 15, "V": 15, "A": 12, "F": 10, "G": 6, "M": 4, "W": 3, "C": 2, "T": 3},
    # Positive-inside rule: K/R enriched in cytoplasmic loops, depleted outside.
    "loop_in": _scaled(_UNIPROT_FREQ, K=3.0, R=3.0),
    "loop_out": _scaled(_UNIPROT_FREQ, K=0.25, R=0.25, D=1.5, E=1.5),
    # Beta strands alternate lipid-facing (hydrophobic, with the Tyr/Phe/Trp "aromatic
    # girdle" typical of outer-membrane barrels) and lumen-facing (polar) residues.
    "strand_out": {"L": 2, "V": 3, "I": 2, "F": 3, "Y": 4, "A": 1, "W": 2},
    "strand_in": {"S": 2, "T": 2, "N": 2, "Q": 2, "G": 1, "D": 1, "E": 1, "K": 1, "R": 1, "Y": 1},
    "turn": {"G": 3, "D": 2, "N": 2, "P": 1, "S": 2, "K": 1},
    # Pro/Thr-rich wall-spanning linker in front of the sortase motif.
    "wall": {"P": 3, "T": 3, "S": 2, "E": 2, "K": 2, "A": 2, "G": 1, "D": 1, "Q": 1},
    "lpxtg_x": {"E": 3, "K": 2, "A": 2, "Q": 2, "N": 1, "S": 1, "T": 1, "D": 1},
    "pos_tail": {"K": 4, "R": 4, "H": 1, "N": 1, "S": 1, "Q": 1},
    "hydrophobic": {"L": 4, "I": 2, "V": 2, "F": 2, "A": 2, "M": 1, "W": 1},
    "KR": {"K": 1, "R": 1},
}
_POOLS: dict[str, tuple[str, np.ndarray]] = {
    name: ("".join(w), np.array(list(w.values()), dtype=float) / sum(w.values())) for name, w in _POOL_WEIGHTS.items()
}


@dataclass(frozen=True)
class DemoRecord:
    """One synthetic record; `features` says which signals were planted, `excluded` why the filter must drop it."""

    id: str
    label: str  # DeepLocPro raw spelling
    group: str
    fold: int
    sequence: str
    features: tuple[str, ...] = ()
    excluded: str | None = None

    @property
    def header(self) -> str:
        return f"{self.id}|{self.label}|{self.group}|{self.fold}"


Segments = list[tuple[str, str]]  # (kind, residues); kind "bg" marks free background


def _draw(rng: np.random.Generator, pool: str, k: int) -> str:
    if k <= 0:
        return ""
    alphabet, p = _POOLS[pool]
    return "".join(alphabet[i] for i in rng.choice(len(alphabet), size=int(k), p=p))


def _ri(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Integer in [lo, hi] inclusive (biological ranges read better inclusive)."""
    return int(rng.integers(lo, hi + 1))


def _seq_len(segs: Segments) -> int:
    return sum(len(s) for _, s in segs)


# --- signal builders -------------------------------------------------------


# Gram-positive (and archaeal) signal peptides are longer than Gram-negative ones,
# with longer, more charged n-regions and longer h-regions (von Heijne & Abrahmsen
# 1989); drawing them per group keeps that real difference in the data.
_SP_SHAPE: dict[str, tuple[tuple[int, int], int, tuple[int, int]]] = {
    # group: ((n-region length), min K/R in it, (h-region length))
    "negative": ((2, 6), 1, (8, 11)),
    "positive": ((4, 9), 2, (10, 12)),
    "archaea": ((3, 8), 2, (9, 12)),
}


def _n_region(rng: np.random.Generator, group: str) -> str:
    (lo, hi), min_kr, _ = _SP_SHAPE[group]
    n = list(_draw(rng, "sp_n", _ri(rng, lo, hi)))
    while sum(c in "KR" for c in n) < min_kr:  # the n-region must carry a positive charge
        n[int(rng.integers(len(n)))] = _draw(rng, "KR", 1)
    return "".join(n)


def _h_region(rng: np.random.Generator, group: str, pool: str = "sp_h") -> str:
    lo, hi = _SP_SHAPE[group][2]
    return _draw(rng, pool, _ri(rng, lo, hi))


def _axa_c_region(rng: np.random.Generator) -> str:
    return _draw(rng, "sp_c", _ri(rng, 1, 3)) + "A" + _draw(rng, "axa_x", 1) + "A"


def _sec_signal(rng: np.random.Generator, group: str, ysirk: bool = False) -> Segments:
    """Sec/SPI signal; `ysirk` adds the YSIRK-G/S extension of staphylococcal surface-protein signals."""
    segs: Segments = [("met", "M"), ("sp_n", _n_region(rng, group))]
    if ysirk:
        segs.append(("ysirk", "YSIRK" + _draw(rng, "hydrophobic", 3) + "G" + _draw(rng, "hydrophobic", 2) + "S"))
    segs += [("sp_h", _h_region(rng, group)), ("sp_c", _axa_c_region(rng))]
    return segs


def _tat_signal(rng: np.random.Generator, group: str) -> Segments:
    motif = _draw(rng, "sp_n", _ri(rng, 1, 4)) + "ST"[int(rng.integers(2))] + "RR" + _draw(rng, "bg", 1) + "FLK"
    return [
        ("met", "M"),
        ("tat_n", motif),
        ("sp_h", _h_region(rng, group, "tat_h")),
        ("sp_c", _axa_c_region(rng)),
    ]


def _lipo_signal(rng: np.random.Generator, group: str, plus2: str | None) -> Segments:
    """Sec/SPII signal: the lipobox Cys becomes the lipidated +1 residue of the mature protein."""
    box = "LVI"[int(rng.integers(3))] + "ASTVI"[int(rng.integers(5))] + "GAS"[int(rng.integers(3))] + "C"
    segs: Segments = [
        ("met", "M"),
        ("sp_n", _n_region(rng, group)),
        ("sp_h", _h_region(rng, group)),
        ("lipobox", box),
    ]
    if plus2 is not None:
        segs.append(("lol", plus2))
    return segs


def _secretion_signal(rng: np.random.Generator, group: str, tat_share: float) -> tuple[Segments, str]:
    if rng.random() < tat_share:
        return _tat_signal(rng, group), "tat_sp"
    return _sec_signal(rng, group), "sec_sp"


def _with_fill(head: Segments, tail: Segments, length: int, min_bg: int = 10) -> Segments:
    """Put background between head and tail so the protein is `length` long (or minimally longer)."""
    fill = max(min_bg, length - _seq_len(head) - _seq_len(tail))
    return [*head, ("bg", fill * "?"), *tail]  # '?' placeholders are drawn by _realize


def _realize(rng: np.random.Generator, segs: Segments) -> Segments:
    """Draw the background placeholders (kept lazy so fill sizes are known first)."""
    return [(kind, _draw(rng, "bg", len(s)) if kind == "bg" else s) for kind, s in segs]


def _pos_inside_loop(rng: np.random.Generator, k: int) -> str:
    """Cytoplasmic loop: K/R-enriched, with a K/R at both ends next to the helices it joins."""
    loop = list(_draw(rng, "loop_in", k))
    loop[0] = _draw(rng, "KR", 1)
    loop[-1] = _draw(rng, "KR", 1)
    return "".join(loop)


def _tm_protein(rng: np.random.Generator, length: int, n_tm: int) -> tuple[Segments, list[str]]:
    """N-in topology, odd loops face out. Spare length goes to a C-terminal domain, or (20%) to a
    large N-terminal cytoplasmic domain that hides the first helix from the N-terminus."""
    feats = [f"tm:{n_tm}"]
    large_n = rng.random() < 0.2
    core: Segments = [("loop_in", _pos_inside_loop(rng, _ri(rng, 3, 18)))]
    for i in range(n_tm):
        core.append(("tm", _draw(rng, "tm", _ri(rng, 18, 22))))
        if i < n_tm - 1:
            if i % 2 == 0:
                core.append(("loop_out", _draw(rng, "loop_out", _ri(rng, 5, 30))))
            else:
                core.append(("loop_in", _pos_inside_loop(rng, _ri(rng, 5, 25))))
    if n_tm % 2 == 0:  # C-terminus back inside
        core.append(("loop_in", _pos_inside_loop(rng, _ri(rng, 3, 8))))
    else:
        core.append(("loop_out", _draw(rng, "loop_out", _ri(rng, 3, 8))))
    spare = length - 1 - _seq_len(core)
    if large_n:
        feats.append("large_n_domain")
        segs: Segments = [("met", "M"), ("bg", "?" * max(40, spare)), *core]
    else:
        segs = [("met", "M"), *core] + ([("bg", "?" * spare)] if spare > 0 else [])
    return _realize(rng, segs), feats


def _barrel(rng: np.random.Generator, n_strands: int) -> Segments:
    """Even number of amphipathic strands; the last residue is the aromatic beta-signal (F, sometimes W)."""
    segs: Segments = []
    for s in range(n_strands):
        k = _ri(rng, 9, 13)
        last = s == n_strands - 1
        phase = (k - 1) % 2 if last else int(rng.integers(2))  # last strand: final residue lipid-facing
        strand = "".join(_draw(rng, "strand_out" if j % 2 == phase else "strand_in", 1) for j in range(k))
        if last:  # beta-signal: aromatic at -1, usually Tyr at -3 (..Y-x-F)
            tip = ("Y" if rng.random() < 0.6 else strand[-3]) + strand[-2] + ("F" if rng.random() < 0.85 else "W")
            strand = strand[:-3] + tip
        segs.append(("strand", strand))
        if not last:
            # even gaps: long extracellular loops; odd gaps: tight periplasmic turns
            segs.append(
                ("loop", _draw(rng, "bg", _ri(rng, 5, 14)))
                if s % 2 == 0
                else ("turn", _draw(rng, "turn", _ri(rng, 2, 4)))
            )
    return segs


def _barrel_strands_for(rng: np.random.Generator, room: int) -> int:
    """An even strand count (8-16) that fits `room` residues (~18 residues per strand incl. loop)."""
    fits = [k for k in range(8, 17, 2) if k * 18 <= room]
    return int(rng.choice(fits)) if fits else 8


def _lpxtg_anchor(rng: np.random.Generator) -> Segments:
    return [
        ("wall", _draw(rng, "wall", _ri(rng, 10, 30))),
        ("lpxtg", "LP" + _draw(rng, "lpxtg_x", 1) + "TG"),
        ("anchor_h", _draw(rng, "tm", _ri(rng, 15, 20))),
        ("pos_tail", _pos_tail(rng)),
    ]


def _pos_tail(rng: np.random.Generator) -> str:
    tail = list(_draw(rng, "pos_tail", _ri(rng, 5, 9)))
    while sum(c in "KR" for c in tail) < 3:
        tail[int(rng.integers(len(tail)))] = _draw(rng, "KR", 1)
    return "".join(tail)


def _rtx_tail(rng: np.random.Generator) -> Segments:
    """Type I secretion: glycine-rich GGXGXDXUX nonapeptide repeats before a C-terminal signal."""
    repeats = "".join(
        "GG"
        + _draw(rng, "bg", 1)
        + "G"
        + _draw(rng, "bg", 1)
        + "D"
        + _draw(rng, "bg", 1)
        + _draw(rng, "hydrophobic", 1)
        + _draw(rng, "bg", 1)
        for _ in range(_ri(rng, 3, 6))
    )
    return [("rtx", repeats), ("bg", "?" * _ri(rng, 30, 50))]


# --- per-class builders ----------------------------------------------------


def _build(rng: np.random.Generator, cls: str, group: str, length: int) -> tuple[Segments, list[str]]:
    """Segments and planted-feature tags for one protein of class `cls` in organism `group`."""
    u = rng.random()  # one draw picks the variant (signal kind or deliberate noise)
    if cls == "Cytoplasmic":
        if u < 0.07:  # weak, uncleavable hydrophobic N-terminus: no charge, no AxA
            head = [("met", "M"), ("noise", _draw(rng, "hydrophobic", _ri(rng, 4, 7)))]
            return _realize(rng, _with_fill(head, [], length)), ["weak_n"]
        if u < 0.14:  # internal amphipathic helix that looks half like a TM segment
            pos = _ri(rng, 30, max(30, length // 2))
            head = [("met", "M"), ("bg", "?" * pos), ("noise", _draw(rng, "hydrophobic", _ri(rng, 12, 16)))]
            return _realize(rng, _with_fill(head, [], length)), ["amphipathic"]
        return _realize(rng, _with_fill([("met", "M")], [], length)), []

    if cls == "Cytoplasmic membrane":
        if group != "archaea" and u < 0.2:  # inner-membrane lipoprotein (Lol avoidance Asp at +2)
            head = _lipo_signal(rng, group, "D" if group == "negative" else None)
            return _realize(rng, _with_fill(head, [], length)), ["lipo_sp", "lipobox"]
        n_tm = int(rng.choice(np.arange(1, 7), p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1]))
        return _tm_protein(rng, length, n_tm)

    if cls == "Extracellular":
        if u < 0.12:  # non-classical / type I secretion: no N-terminal signal at all
            if group == "negative":
                return _realize(rng, _with_fill([("met", "M")], _rtx_tail(rng), length)), ["rtx"]
            return _realize(rng, _with_fill([("met", "M")], [], length)), ["no_signal"]
        head, kind = _secretion_signal(rng, group, 0.4 if group == "archaea" else 0.15)
        return _realize(rng, _with_fill(head, [], length)), [kind]

    if cls == "Periplasmic":
        head, kind = _secretion_signal(rng, group, 0.15)
        return _realize(rng, _with_fill(head, [], length)), [kind]

    if cls == "Outer membrane":
        if u < 0.25:  # outer-membrane lipoprotein (Ser at +2 lets Lol move it out)
            return _realize(rng, _with_fill(_lipo_signal(rng, group, "S"), [], length)), ["lipo_sp", "lipobox"]
        head = _sec_signal(rng, group)
        n_strands = _barrel_strands_for(rng, length - _seq_len(head) - 10)
        return _realize(rng, _with_fill(head, _barrel(rng, n_strands), length)), ["sec_sp", f"barrel:{n_strands}"]

    if cls == "Cell wall & surface":
        ysirk = group == "positive" and rng.random() < 0.4
        head = _sec_signal(rng, group, ysirk=ysirk)
        if group == "negative":  # surface-displayed autotransporter: passenger + 12-strand beta domain
            return _realize(rng, _with_fill(head, _barrel(rng, 12), length)), ["sec_sp", "barrel:12", "autotransporter"]
        if u < 0.1:  # non-covalently bound surface protein: signal peptide only
            return _realize(rng, _with_fill(head, [], length)), ["sec_sp"]
        return _realize(rng, _with_fill(head, _lpxtg_anchor(rng), length)), ["sec_sp", "lpxtg"] + (
            ["ysirk"] if ysirk else []
        )

    raise ValueError(f"unknown class {cls!r}")


def _sample_length(rng: np.random.Generator) -> int:
    """Log-normal around 280 aa: mostly 60-600, like bacterial proteomes."""
    return int(np.clip(round(float(np.exp(rng.normal(np.log(280.0), 0.45)))), 50, _VALID_LENGTH_CAP))


# --- counts and folds ------------------------------------------------------


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def cell_counts(n: int = DEFAULT_N) -> dict[tuple[str, str], int]:
    """Number of valid proteins per non-empty (class, group) cell for `n` proteins, in CLASSES x GROUPS order.

    Raises ValueError when `n` is so small that a class could not appear in every fold.
    """
    class_totals = _largest_remainder(n, [sum(_CELL_COUNTS_300[c].values()) for c in CLASSES])
    out: dict[tuple[str, str], int] = {}
    for cls, total in zip(CLASSES, class_totals, strict=True):
        if total < N_FOLDS:
            raise ValueError(f"n={n} is too small: class {cls!r} would get {total} < {N_FOLDS} proteins (one per fold)")
        groups = [g for g in GROUPS if g in _CELL_COUNTS_300[cls]]
        for g, k in zip(groups, _largest_remainder(total, [_CELL_COUNTS_300[cls][g] for g in groups]), strict=True):
            out[(cls, g)] = k
    return out


# --- generation ------------------------------------------------------------

_XU_RECORDS = (("X", 3), ("U", 2))  # (residue, how many proteins get it)


def _substitute_background(rng: np.random.Generator, segs: Segments, residue: str, k: int) -> Segments:
    """Put `residue` at `k` background positions, so planted signals stay intact."""
    bg = [i for i, (kind, s) in enumerate(segs) if kind == "bg" and len(s) >= 3]
    out = list(segs)
    for _ in range(k):
        i = bg[int(rng.integers(len(bg)))]
        kind, s = out[i]
        p = int(rng.integers(1, len(s) - 1))
        out[i] = (kind, s[:p] + residue + s[p + 1 :])
    return out


def generate_demo_records(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[DemoRecord]:
    """`n` valid synthetic proteins plus 8 excluded ones, in file order, IDs SYN00001... ."""
    rng = np.random.default_rng(seed)
    counts = cell_counts(n)

    # 1. valid proteins, class by class (groups in order); folds round-robin over that
    #    order from a random start, so every class, and every group within it, is
    #    spread evenly over the folds, as a stratified split would do.
    valid: list[dict] = []
    for cls in CLASSES:
        members: list[dict] = []
        for group in GROUPS:
            for _ in range(counts.get((cls, group), 0)):
                segs, feats = _build(rng, cls, group, _sample_length(rng))
                members.append({"cls": cls, "group": group, "segs": segs, "features": feats})
        offset = int(rng.integers(N_FOLDS))
        for rank, member in enumerate(members):
            member["fold"] = (offset + rank) % N_FOLDS
        valid.extend(members)

    # 2. ambiguity codes: X anywhere, U (selenocysteine) only in cytoplasmic enzymes.
    for residue, k in _XU_RECORDS:
        pool = [i for i, r in enumerate(valid) if residue == "X" or r["cls"] == "Cytoplasmic"]
        pool = [
            i
            for i in pool
            if not any(f.startswith("has_") for f in valid[i]["features"])
            and any(kind == "bg" and len(seq) >= 3 for kind, seq in valid[i]["segs"])
        ]
        for i in rng.choice(pool, size=k, replace=False):
            rec = valid[int(i)]
            rec["segs"] = _substitute_background(rng, rec["segs"], residue, 1 if residue == "U" else _ri(rng, 1, 2))
            rec["features"] = [*rec["features"], f"has_{residue}"]

    records: list[dict] = [
        {**valid[int(i)], "sequence": "".join(s for _, s in valid[int(i)]["segs"]), "excluded": None}
        for i in rng.permutation(len(valid))
    ]

    # 3. records the input filter must drop.
    cells = list(counts)
    cell_p = np.array([counts[c] for c in cells], dtype=float) / n

    def bad(length: int, reason: str, full: bool) -> dict:
        cls, group = cells[int(rng.choice(len(cells), p=cell_p))]
        if full:
            segs, feats = _build(rng, cls, group, length)
        else:
            segs, feats = [("met", "M"), ("bg", _draw(rng, "bg", length - 1))], []
        return {"cls": cls, "group": group, "fold": int(rng.integers(N_FOLDS)),
                "sequence": "".join(s for _, s in segs), "features": feats, "excluded": reason}  # fmt: skip

    excluded = [bad(MIN_LENGTH - 1, "too_short", False)]
    excluded += [bad(_ri(rng, 10, MIN_LENGTH - 2), "too_short", False) for _ in range(2)]
    excluded.append(bad(MAX_LENGTH + 1, "too_long", True))
    excluded += [bad(_ri(rng, MAX_LENGTH + 100, 2 * MAX_LENGTH), "too_long", True) for _ in range(3)]
    for rec in excluded:
        records.insert(int(rng.integers(len(records) + 1)), rec)
    src = int(rng.integers(len(records) // 2))
    while records[src]["excluded"] is not None:
        src += 1
    dup = {**records[src], "excluded": "duplicate"}
    records.insert(_ri(rng, src + 1, len(records)), dup)

    out = []
    for i, r in enumerate(records, start=1):
        out.append(
            DemoRecord(
                id=f"{ID_PREFIX}{i:05d}",
                label=CANONICAL_TO_DEEPLOCPRO[r["cls"]],
                group=r["group"],
                fold=int(r["fold"]),
                sequence=r["sequence"],
                features=tuple(r["features"]),
                excluded=r["excluded"],
            )
        )
    return out


def generate_demo_proteome(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[tuple[str, str]]:
    """(header without '>', sequence) pairs of the synthetic demo proteome, in file order."""
    return [(r.header, r.sequence) for r in generate_demo_records(n, seed)]


# --- writing ---------------------------------------------------------------


def _readme(records: Sequence[DemoRecord], n: int, seed: int, fasta_name: str) -> str:
    valid = [r for r in records if r.excluded is None]
    table = Counter((r.label, r.group) for r in valid)
    rows = ["| label | " + " | ".join(GROUPS) + " | total |", "|---|" + "---:|" * (len(GROUPS) + 1)]
    for cls in CLASSES:
        label = CANONICAL_TO_DEEPLOCPRO[cls]
        cells = [table.get((label, g), 0) for g in GROUPS]
        rows.append(f"| {label} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    first_id: dict[str, str] = {}
    for r in records:
        first_id.setdefault(r.sequence, r.id)
    bad = "\n".join(
        f"- `{r.id}` ({r.excluded}"
        + (f" of `{first_id[r.sequence]}`" if r.excluded == "duplicate" else "")
        + f", {len(r.sequence)} aa)"
        for r in records
        if r.excluded
    )
    return f"""# Demo data — SYNTHETIC, not real proteins

`{fasta_name}` is a **synthetic** proteome made by `locfusion.demo` so that the
workflow can be run and tested end to end in seconds. None of its sequences is a
real protein and no result obtained on it says anything about biology or about
performance on real data. Use the DeepLocPro data for that.

## How it was generated

- `{n}` valid proteins plus {len(records) - len(valid)} deliberately invalid records, numpy `default_rng({seed})`.
- Header format as DeepLocPro's `graphpart_set.fasta`: `>ID|Label|group|fold`,
  raw label spellings, folds 0-4 balanced within every class and group, IDs `{ID_PREFIX}00001`... .
- Background residues drawn from UniProtKB/Swiss-Prot amino-acid frequencies;
  lengths log-normal around 280 aa (mostly 60-600).
- Planted sorting signals: Sec signal peptide (K/R n-region, 8-12 residue
  hydrophobic h-region, AxA cleavage site) and some Tat signals (S/T-RR-x-F-L-K)
  for secreted and envelope proteins (longer and more charged in Gram-positive
  and archaeal proteins; YSIRK-G/S extension in some Gram-positive cell-wall
  proteins); lipobox [LVI][ASTVI][GAS]C lipoproteins (Asp/Ser at +2 in
  Gram-negative inner/outer-membrane lipoproteins); 1-6
  transmembrane helices with positive-inside loops (Cytoplasmic membrane); LPXTG +
  hydrophobic stretch + positive tail at the C-terminus (Gram-positive Cell wall);
  C-terminal amphipathic beta-barrel ending in F/W (Outer membrane, and Gram-negative
  surface autotransporters).
- Deliberate noise: cytoplasmic proteins with a weak hydrophobic N-terminus or an
  amphipathic helix, extracellular proteins without a signal peptide (RTX repeats in
  Gram-negative), cell-wall proteins without LPXTG, membrane proteins with a large
  N-terminal domain; a few sequences contain X or U.

## Class x group counts (valid proteins)

{chr(10).join(rows)}

## Records the input filter should drop

{bad}

## Regenerate

```
cd <repository root> && .venv/bin/python -m locfusion.demo resources/demo --n {n} --seed {seed}
```

The output is byte-identical for the same `--n` and `--seed`;
`tests/test_demo.py` fails if the committed file drifts from a fresh generation.
"""


def write_demo_fasta(path: str | os.PathLike[str], n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Path:
    """Write the demo FASTA at `path`, and beside it a README.md (synthetic-data notice) and each
    record's organism group (GROUPS_NAME: `id` as predict reads it, the header's first word); return
    the FASTA path."""
    dest = Path(path)
    records = generate_demo_records(n, seed)
    with atomic_path(dest) as tmp:
        tmp.write_text("".join(f">{r.header}\n{r.sequence}\n" for r in records), encoding="ascii", newline="\n")
    with atomic_path(dest.parent / GROUPS_NAME) as tmp:
        tmp.write_text("id\tgroup\n" + "".join(f"{r.header.split()[0]}\t{r.group}\n" for r in records),
                       encoding="ascii", newline="\n")
    with atomic_path(dest.parent / README_NAME) as tmp:
        tmp.write_text(_readme(records, n, seed, dest.name), encoding="utf-8", newline="\n")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m locfusion.demo",
        description=f"Write the synthetic demo proteome ({FASTA_NAME}) and its README.md into OUTPUT_DIR.",
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"number of valid proteins (default {DEFAULT_N})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    try:
        cell_counts(args.n)
    except ValueError as exc:
        parser.error(str(exc))
    path = write_demo_fasta(Path(args.output_dir) / FASTA_NAME, n=args.n, seed=args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
