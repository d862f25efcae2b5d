"""PSORTb 3.0's SCL-BLAST databases as labelled training data (rule psortb_training_set).

PSORTb ships its curated proteins of known localization as plain FASTA files, one per
organism set (`conf/analysis/sclblast/{gramneg,grampos,archaea}/sclblast`). A header is an
NCBI GI number, bracketed tags, then a description that may end in the organism:

    >16125160 [Cytoplasmic] [Flagellar] flagellar motor switch protein [Caulobacter crescentus CB15]

Only the tags directly after the ID are tags; brackets later on belong to the description
(`isocitrate dehydrogenase [NADP]`, the organism). A tag is a localization when every
comma-separated part of it names one of the six classes (`Cytoplasmic`,
`CytoplasmicMembrane`, `Periplasmic`, `OuterMembrane`, `Extracellular`, `Cellwall`, any
case); other tags (`Flagellar`, `Fimbrial`, `Spore`, `HostAssociated`, `GasVesicle`, ...) are
sub-annotations, kept in the sidecar but not labels. PSORTb writes dual localizations both as
one tag (`[Cytoplasmic,CytoplasmicMembrane]`) and as two (`[Periplasmic] [Cellwall]`): either
is multi-label and excluded with that reason, since the models predict one class.

The three files overlap heavily (and the "archaea" file also holds bacteria), so which file a
record is in does not establish its organism group: the group is written `unknown`. Records of
one ID are merged when their sequence and label agree; when they disagree, every record of that
ID is excluded and the conflict named. Every source record is one row of the sidecar TSV (its
file, record number, original header, outcome and reason), so nothing is dropped silently; the
provenance JSON holds each source file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .classes import CLASSES, normalize_class
from .errors import InputError
from .fasta import iter_fasta
from .io import atomic_path, write_tsv
from .sequence import validate_sequence

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install psortb"
SCLBLAST_SETS = ("gramneg", "grampos", "archaea")
ID_PREFIX = "psortb_"  # GI numbers are bare digits: the prefix keeps them apart from any dataset ID
UNKNOWN_GROUP = "unknown"
SIDECAR_COLUMNS = ["id", "source", "record", "header", "label", "tags", "status", "reason"]
_LEADING_TAGS = re.compile(r"^(\S+)((?:\s*\[[^\]]*\])*)\s*(.*)$")
_TAG = re.compile(r"\[([^\]]*)\]")
# PSORTb's spelling of each class, written into the normalized FASTA (read back by `classes.normalize_class`).
PSORTB_SPELLING: dict[str, str] = dict(zip(CLASSES, ("Cytoplasmic", "CytoplasmicMembrane", "Extracellular",
                                                    "Periplasmic", "OuterMembrane", "Cellwall")))


def default_sources(root: str | os.PathLike[str]) -> list[str]:
    """The three SCL-BLAST FASTAs of an installed PSORTb root, in PSORTb's order."""
    return [str(Path(root) / "conf" / "analysis" / "sclblast" / name / "sclblast") for name in SCLBLAST_SETS]


def check_sources(paths: Sequence[str | os.PathLike[str]]) -> None:
    """One line naming the first missing file and how to install PSORTb."""
    if not paths:
        raise InputError("PSORTb training set: no SCL-BLAST FASTA files given")
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"PSORTb training set: {path} not found; install PSORTb ({INSTALL_HINT}, Debian/Ubuntu, as "
                             "root) or set psortb.sclblast to the SCL-BLAST FASTA files")


def sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Header:
    """A parsed SCL-BLAST header: GI number, localization classes (canonical), other tags, description."""

    gi: str
    classes: tuple[str, ...]
    tags: str  # the leading tags as written
    description: str


def parse_header(header: str) -> Header:
    """Split a header into its leading tags and description; localization tags mapped to classes."""
    match = _LEADING_TAGS.match(header.strip())
    if match is None:
        raise InputError(f"empty header {header!r}")
    gi, tag_text, description = match.groups()
    classes: list[str] = []
    for tag in _TAG.findall(tag_text):
        parts = [normalize_class(part) for part in tag.split(",")]
        if all(parts):  # a localization tag; any other tag is a sub-annotation
            classes.extend(p for p in parts if p not in classes)  # type: ignore[misc]
    return Header(gi, tuple(classes), tag_text.strip(), description)


def extract(sources: Sequence[str | os.PathLike[str]]) -> tuple[list[tuple[str, str, str, str]], pd.DataFrame]:
    """Kept proteins [(id, DeepLocPro label, sequence, description)] and the sidecar (one row per record)."""
    rows: list[dict[str, object]] = []
    candidates: dict[str, list[int]] = {}  # id -> sidecar rows of its valid single-label records
    sequences: dict[int, str] = {}
    for source in sources:
        for index, (raw_header, raw_seq) in enumerate(iter_fasta(source), start=1):
            header = parse_header(raw_header)
            pid = ID_PREFIX + header.gi
            label = ";".join(PSORTB_SPELLING[c] for c in header.classes)
            row: dict[str, object] = {"id": pid, "source": str(source), "record": index, "header": raw_header,
                                      "label": label, "tags": header.tags, "status": "excluded", "reason": ""}
            if not header.classes:
                row["reason"] = "no localization tag"
            elif len(header.classes) > 1:
                row["reason"] = f"multi-label ({', '.join(header.classes)})"
            else:
                try:
                    sequences[len(rows)] = validate_sequence(pid, raw_seq)
                    candidates.setdefault(pid, []).append(len(rows))
                    row["status"] = "kept"
                except InputError as exc:
                    row["reason"] = f"invalid sequence: {str(exc).removeprefix(f'record {pid!r}: ')}"
            rows.append(row)
    kept: list[tuple[str, str, str, str]] = []
    for pid, members in candidates.items():
        variants = {(rows[i]["label"], sequences[i]) for i in members}
        first = members[0]
        if len(variants) > 1:
            labels = sorted({str(rows[i]["label"]) for i in members})
            what = "labels " + " vs ".join(labels) if len(labels) > 1 else "sequences"
            for i in members:
                rows[i]["status"], rows[i]["reason"] = "excluded", f"conflicting duplicates of {pid}: {what} differ"
            continue
        for i in members[1:]:
            rows[i]["status"] = "merged"
            rows[i]["reason"] = f"identical to {rows[first]['source']} record {rows[first]['record']}"
        description = parse_header(str(rows[first]["header"])).description
        kept.append((pid, str(rows[first]["label"]), sequences[first], description))
    sidecar = pd.DataFrame(rows, columns=SIDECAR_COLUMNS)
    return kept, sidecar


def write_fasta(proteins: Sequence[tuple[str, str, str, str]], path: str | os.PathLike[str]) -> None:
    """Headers in the extra-training convention `>ID|Location|Group description` (group `unknown`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for pid, label, seq, description in proteins:
            handle.write(f">{pid}|{label}|{UNKNOWN_GROUP} {description}".rstrip() + "\n")
            for start in range(0, len(seq), 60):
                handle.write(seq[start:start + 60] + "\n")


def summary(sidecar: pd.DataFrame, kept: Sequence[tuple[str, str, str, str]],
            sources: Sequence[str | os.PathLike[str]]) -> dict[str, object]:
    """Counts for the log and the provenance JSON: records, kept by class, excluded by reason kind."""
    excluded = sidecar[sidecar["status"] == "excluded"]
    kinds = excluded["reason"].str.replace(r" \(.*| of .*|:.*", "", regex=True)
    return {
        "sources": [{"path": str(p), "sha256": sha256(p), "records": int((sidecar["source"] == str(p)).sum())}
                    for p in sources],
        "records": len(sidecar),
        "kept": len(kept),
        "unique_sequences": len({seq for _, _, seq, _ in kept}),
        "merged_duplicates": int((sidecar["status"] == "merged").sum()),
        "excluded_records": len(excluded),
        "excluded_by_reason": {k: int(v) for k, v in kinds.value_counts().sort_index().items()},
        "kept_by_class": dict(sorted(pd.Series([label for _, label, _, _ in kept]).value_counts().items())),
        "group": UNKNOWN_GROUP,
    }


def extract_training_set(sources: Sequence[str], fasta_out: str, sidecar_out: str, provenance_out: str) -> dict[str, object]:
    """Stage function of rule psortb_training_set."""
    check_sources(sources)
    kept, sidecar = extract(sources)
    info = summary(sidecar, kept, sources)
    write_fasta(kept, fasta_out)
    write_tsv(sidecar, sidecar_out)
    with atomic_path(provenance_out) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=2, default=int) + "\n")
    log.info("PSORTb SCL-BLAST: %d records -> %d proteins (%d merged duplicates); excluded %s",
             info["records"], info["kept"], info["merged_duplicates"], info["excluded_by_reason"])
    return info
