"""FASTA reading for labelled training data and for unlabelled proteomes.

Training FASTA headers follow DeepLocPro's `graphpart_set.fasta`:
`>UniProtID|Location|OrganismGroup|Fold`, with raw spellings such as
`CYtoplasmicMembrane` or `Cellwall`. They are normalized here to the canonical
classes and groups of `locfusion.classes`. Any problem stops the run with one
line that names the record, because a silently dropped protein changes every
downstream number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from Bio import SeqIO

from .classes import normalize_class, normalize_group
from .errors import InputError
from .sequence import validate_sequence


@dataclass(frozen=True)
class LabelledProtein:
    """One training record after normalization."""

    id: str
    label: str
    group: str
    fold: int
    sequence: str
    raw_label: str
    raw_group: str

    @property
    def length(self) -> int:
        return len(self.sequence)


def iter_fasta(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield (header, raw sequence) pairs, with clear errors for files that are not FASTA."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: FASTA file not found")
    n = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for record in SeqIO.parse(handle, "fasta"):
                n += 1
                yield record.description, str(record.seq)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a FASTA file (not text: byte {exc.start} is not UTF-8)") from None
    except ValueError as exc:
        if "comments at the beginning" in str(exc):
            raise InputError(f"{path}: not a FASTA file (the first line does not start with '>')") from None
        raise InputError(f"{path}: not a FASTA file ({str(exc).splitlines()[0]})") from None
    if n == 0:
        raise InputError(f"{path}: no FASTA records (empty file?)")


def read_labelled_fasta(path: str | os.PathLike[str], n_folds: int = 5) -> list[LabelledProtein]:
    """Parse and normalize a DeepLocPro-style labelled FASTA; raise on the first bad record."""
    proteins: list[LabelledProtein] = []
    seen: dict[str, int] = {}
    for index, (header, raw_seq) in enumerate(iter_fasta(path), start=1):
        where = f"{path}: record {index} '{header}'"
        fields = header.split()[0].split("|") if header.strip() else []
        if len(fields) != 4:
            raise InputError(
                f"{where}: header has {len(fields)} '|'-separated field(s), expected 4 (ID|Location|OrganismGroup|Fold)"
            )
        pid, raw_label, raw_group, raw_fold = (f.strip() for f in fields)
        if not pid:
            raise InputError(f"{where}: empty protein ID")
        if pid in seen:
            raise InputError(f"{where}: duplicate ID '{pid}' (first seen in record {seen[pid]})")
        seen[pid] = index
        label = normalize_class(raw_label)
        if label is None:
            raise InputError(f"{where}: unknown location label '{raw_label}'")
        group = normalize_group(raw_group)
        if group is None:
            raise InputError(f"{where}: unknown organism group '{raw_group}' (expected negative, positive or archaea)")
        try:
            fold = int(raw_fold)
        except ValueError:
            raise InputError(f"{where}: fold '{raw_fold}' is not an integer") from None
        if not 0 <= fold < n_folds:
            raise InputError(f"{where}: fold {fold} outside 0-{n_folds - 1}")
        sequence = validate_sequence(pid, raw_seq)
        proteins.append(LabelledProtein(pid, label, group, fold, sequence, raw_label, raw_group))
    return proteins


def read_plain_fasta(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read an unlabelled proteome: IDs are the header up to the first space; input order kept."""
    records: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for index, (header, raw_seq) in enumerate(iter_fasta(path), start=1):
        pid = header.split()[0] if header.strip() else ""
        if not pid:
            raise InputError(f"{path}: record {index}: empty header (no protein ID)")
        if pid in seen:
            raise InputError(f"{path}: record {index}: duplicate ID '{pid}' (first seen in record {seen[pid]})")
        seen[pid] = index
        records.append((pid, validate_sequence(pid, raw_seq)))
    return records
