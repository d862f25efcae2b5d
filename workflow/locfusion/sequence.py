"""Protein sequence checks and length handling shared by the filter, the embedders and the store.

One place decides what a valid residue is and how a long protein is shortened,
so the dataset filter, the embedding store and prediction on new proteomes can
never disagree on what was embedded.
"""

from __future__ import annotations

import math

from .embedders.base import EXTRA_AA, STANDARD_AA, VALID_AA
from .errors import InputError

__all__ = [
    "EXTRA_AA",
    "FILTER_LONG_POLICIES",
    "LONG_POLICIES",
    "STANDARD_AA",
    "VALID_AA",
    "crop_sequence",
    "effective_limit",
    "terminal_windows",
    "validate_sequence",
]

# What to do with a protein longer than the limit: "drop" it at the filter step (the
# study), "crop" it to its N- and C-terminal halves (keeps both targeting signals:
# N-terminal signal peptides / anchors and C-terminal sorting motifs), or stop ("error").
FILTER_LONG_POLICIES: tuple[str, ...] = ("drop", "crop")  # the dataset filter's choices (config filter.long_policy)
LONG_POLICIES: tuple[str, ...] = (*FILTER_LONG_POLICIES, "error")  # embedding also may refuse outright

_ALLOWED_TEXT = f"the 20 standard amino acids and {', '.join(EXTRA_AA)}"
_NUCLEOTIDES = frozenset("ACGTUN")
# A real protein of >= 50 residues drawn from A, C, G, T, U, N only: ~1e-29 under
# background amino-acid frequencies; a shorter all-ACGT peptide is plausible.
_NUCLEOTIDE_MIN_LENGTH = 50


def crop_sequence(seq: str, max_length: int) -> str:
    """Keep the first ceil(max_length/2) and the last floor(max_length/2) residues.

    Both ends carry the localization signals of prokaryotic proteins (signal
    peptides and lipoboxes at the N-terminus, sortase motifs, S-layer and
    outer-membrane beta-strand signals at the C-terminus), so the middle goes.
    A sequence of at most `max_length` residues is returned unchanged.
    """
    if len(seq) <= max_length:
        return seq
    n_head, n_tail = terminal_windows(max_length)
    return seq[:n_head] + seq[len(seq) - n_tail :]


def terminal_windows(max_length: int) -> tuple[int, int]:
    """Residues kept from the N- and from the C-terminus when cropping to `max_length`:
    ceil(max_length / 2) and floor(max_length / 2) (the tail may be 0: slice with len - n_tail, not -0)."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    n_head = math.ceil(max_length / 2)
    return n_head, max_length - n_head


def effective_limit(max_length: int | None, max_residues: int | None) -> int | None:
    """The length a protein is embedded at most: the stricter of config and model limit (None: no limit)."""
    limits = [x for x in (max_length, max_residues) if x is not None]
    if any(x < 1 for x in limits):
        raise ValueError(f"length limits must be >= 1, got max_length={max_length}, max_residues={max_residues}")
    return min(limits) if limits else None


def validate_sequence(record_id: str, seq: str) -> str:
    """Return the canonical form of `seq` (upper case, no line breaks, no terminal '*').

    Raises `InputError` naming the record, the first offending character and its
    1-based position, so a user can fix the FASTA; nothing is silently removed
    except formatting (whitespace) and a translated stop codon at the very end.
    A record of at least 50 letters from A, C, G, T, U and N only is refused as
    nucleotides: those letters are valid residues, so it would otherwise pass.
    """
    canonical = "".join(seq.split()).upper().rstrip("*")
    if not canonical:
        raise InputError(f"record '{record_id}': empty sequence")
    if len(canonical) >= _NUCLEOTIDE_MIN_LENGTH and set(canonical) <= _NUCLEOTIDES:
        raise InputError(
            f"record '{record_id}': looks like a nucleotide sequence (only {''.join(sorted(set(canonical)))}); "
            "give protein sequences"
        )
    bad = [(i, c) for i, c in enumerate(canonical) if c not in VALID_AA]
    if bad:
        pos, char = bad[0]
        hint = ""
        if char == "*":
            hint = " (internal stop codon)"
        elif char in "-.":
            hint = " (alignment gap: give unaligned sequences)"
        more = f", and {len(bad) - 1} more invalid character(s)" if len(bad) > 1 else ""
        raise InputError(
            f"record '{record_id}': invalid residue {char!r} at position {pos + 1}{hint}{more}; "
            f"allowed: {_ALLOWED_TEXT}"
        )
    return canonical
