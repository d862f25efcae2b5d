"""FASTA reading for labelled training data and for unlabelled proteomes.

Training FASTA headers follow DeepLocPro's `graphpart_set.fasta`:
`>UniProtID|Location|OrganismGroup|Fold`, with raw spellings such as
`CYtoplasmicMembrane` or `Cellwall`. They are normalized here to the canonical
classes and groups of `locfusion.classes`. Any problem stops the run with one
line that names the record, because a silently dropped protein changes every
downstream number.

One reader (`iter_fasta`) serves training data (rule normalize) and new
proteomes (`locfusion predict`) with one set of rules: gzip-compressed files
are read transparently, a UTF-8 byte-order mark is accepted, a directory or a
binary file is named as such, a byte that is not UTF-8 text is reported with
its record and residue position, and nucleotide records are refused
(`sequence.validate_sequence`).
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .classes import normalize_class, normalize_group
from .errors import InputError
from .sequence import validate_sequence

_GZIP_MAGIC = b"\x1f\x8b"
_FOLD = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take '1_0', ' 1' or other scripts' digits


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


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes, streamed: gzip read transparently, a UTF-8 byte-order mark dropped."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a FASTA file")
    if not path.is_file():
        raise InputError(f"{path}: FASTA file not found")
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
            first = True
            for line in handle:
                yield line.removeprefix(codecs.BOM_UTF8) if first else line
                first = False
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: damaged gzip file ({exc})") from None


def iter_fasta(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield (header without '>', raw sequence) pairs in file order; clear errors for files that are not FASTA.

    Streamed line by line (a proteome is never held twice). A byte that is not UTF-8
    is reported with its record and residue position (or, before the first header,
    as a file that is not text).
    """
    path = Path(path)
    header: str | None = None
    chunks: list[str] = []
    index = 0  # records seen
    offset = 0  # bytes read (for a file that is not text at all)
    for raw in _lines(path):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            byte = f"byte 0x{raw[exc.start]:02X}"
            if header is None and not raw.startswith(b">"):
                raise InputError(f"{path}: not a FASTA file (not text: byte {offset + exc.start} is not UTF-8)") from None
            if raw.startswith(b">"):
                raise InputError(f"{path}: record {index + 1}: {byte} in the header is not UTF-8 text") from None
            pid = header.split()[0] if header and header.split() else ""
            residues = sum(len("".join(chunk.split())) for chunk in chunks)  # counted only here, off the hot path
            position = residues + len(b"".join(raw[: exc.start].split())) + 1
            raise InputError(f"{path}: record {index} '{pid}': {byte} at residue position {position} is not UTF-8 "
                             "text (sequences are letters)") from None
        offset += len(raw)
        if line.startswith(">"):
            if header is not None:
                yield header, "".join(chunks)
            header, chunks = line[1:].strip(), []
            index += 1
        elif header is not None:
            chunks.append(line)
        elif line.strip():
            raise InputError(f"{path}: not a FASTA file (the first non-empty line does not start with '>')")
    if header is None:
        raise InputError(f"{path}: no FASTA records (empty file?)")
    yield header, "".join(chunks)


def _sequence(path: str | os.PathLike[str], index: int, pid: str, raw: str) -> str:
    """`validate_sequence` with the file and record number in its message."""
    try:
        return validate_sequence(pid, raw)
    except InputError as exc:
        raise InputError(f"{path}: record {index} {str(exc).removeprefix('record ')}") from None


def read_labelled_fasta(path: str | os.PathLike[str], n_folds: int = 5) -> list[LabelledProtein]:
    """Parse and normalize a DeepLocPro-style labelled FASTA; raise on the first bad record.

    The header is `ID|Location|OrganismGroup|Fold`, optionally followed by a space
    and a description; Location and OrganismGroup may contain spaces
    (`inner membrane`, `gram positive`).
    """
    proteins: list[LabelledProtein] = []
    seen: dict[str, int] = {}
    for index, (header, raw_seq) in enumerate(iter_fasta(path), start=1):
        where = f"{path}: record {index} '{header}'"
        fields = header.split("|", 3)
        fold_and_description = fields[3].split(maxsplit=1) if len(fields) == 4 else []
        n_fields = len(fields) + (fold_and_description[0].count("|") if fold_and_description else 0)
        if len(fields) != 4 or n_fields != 4:
            raise InputError(
                f"{where}: header has {n_fields} '|'-separated field(s), expected 4 (ID|Location|OrganismGroup|Fold)"
            )
        pid, raw_label, raw_group = (f.strip() for f in fields[:3])
        raw_fold = fold_and_description[0] if fold_and_description else ""
        if not pid:
            raise InputError(f"{where}: empty protein ID")
        if len(pid.split()) > 1:
            raise InputError(f"{where}: protein ID '{pid}' contains a space")
        if pid in seen:
            raise InputError(f"{where}: duplicate ID '{pid}' (first seen in record {seen[pid]})")
        seen[pid] = index
        label = normalize_class(raw_label)
        if label is None:
            raise InputError(f"{where}: unknown location label '{raw_label}'")
        group = normalize_group(raw_group)
        if group is None:
            raise InputError(f"{where}: unknown organism group '{raw_group}' (expected negative, positive or archaea)")
        if not _FOLD.fullmatch(raw_fold):
            raise InputError(f"{where}: fold '{raw_fold}' is not an integer")
        fold = int(raw_fold)
        if not 0 <= fold < n_folds:
            raise InputError(f"{where}: fold {fold} outside 0-{n_folds - 1}")
        sequence = _sequence(path, index, pid, raw_seq)
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
        records.append((pid, _sequence(path, index, pid, raw_seq)))
    return records
