"""The organism group of each protein of a mixed proteome, from a user's TSV (`locfusion predict --groups`).

A proteome from metagenome bins, a panel of strains or the synthetic demo mixes
Gram-negative, Gram-positive and archaeal proteins: one group for the whole
input would feed a group-aware model the wrong group for some proteins and
remap (or not) the wrong ones. The table gives each protein its own:

    id      group
    P12345  negative
    Q9ABC1  archaea

A header line, columns `id` and `group` (others are ignored), tab-separated;
`group` is exactly one of negative, positive, archaea. Every protein of the FASTA
needs exactly one row and every row one protein of the FASTA: a table written
for another proteome fails here, in one line naming the file, the line and the
problem, before any model is loaded, instead of predicting with guessed groups.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .classes import GROUPS
from .errors import InputError, listed

__all__ = ["GROUP_TABLE_COLUMNS", "ProteinGroups", "read_group_table"]

GROUP_TABLE_COLUMNS: tuple[str, ...] = ("id", "group")


@dataclass(frozen=True)
class ProteinGroups:
    """Each protein's group, aligned with the FASTA's records, and where it came from."""

    path: str
    groups: tuple[str, ...]  # one per FASTA record, in FASTA order

    def counts(self) -> dict[str, int]:
        """Proteins per group, every group listed (0 when absent), in `GROUPS` order."""
        counted = Counter(self.groups)
        return {g: int(counted.get(g, 0)) for g in GROUPS}


def read_group_table(path: str | os.PathLike[str], ids: Sequence[str], fasta: str | os.PathLike[str]) -> ProteinGroups:
    """Read and check the groups table against the FASTA's `ids` (in FASTA order).

    Line numbers are the file's (the header is line 1); fully blank lines carry no
    protein and are skipped without shifting them. The first problem found stops
    the run: an empty ID, an unknown group, a duplicate ID, an ID not in the FASTA,
    then FASTA proteins without a row (named, with their count).
    """
    import pandas as pd

    from .io import read_id_tsv

    where = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{where}: groups table not found")
    try:
        table = read_id_tsv(path, text_columns=GROUP_TABLE_COLUMNS, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{where}: empty groups table (expected a header line with columns id and group)") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: not a tab-separated table ({str(exc).strip().splitlines()[-1]})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte 0x{exc.object[exc.start]:02X} at offset {exc.start})") from None
    missing = [c for c in GROUP_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{where}: no column {' or '.join(repr(c) for c in missing)} in the header line "
                         f"(expected tab-separated columns id and group; found {listed(list(map(str, table.columns)))})")
    in_fasta = set(ids)
    seen: dict[str, int] = {}
    by_id: dict[str, str] = {}
    for row, (pid, group) in enumerate(zip(table["id"], table["group"], strict=True)):
        line = row + 2  # the header is line 1
        if pid == "" and group == "":
            continue  # a blank line: no protein, nothing to drop
        if pid == "":
            raise InputError(f"{where}: line {line}: empty ID")
        if group not in GROUPS:
            raise InputError(f"{where}: line {line} '{pid}': unknown group '{group}' (expected {', '.join(GROUPS)})")
        if pid in seen:
            raise InputError(f"{where}: line {line}: duplicate ID '{pid}' (first on line {seen[pid]})")
        if pid not in in_fasta:
            raise InputError(f"{where}: line {line}: ID '{pid}' is not a protein of {fasta}")
        seen[pid] = line
        by_id[pid] = group
    without = [pid for pid in ids if pid not in by_id]
    if without:
        raise InputError(f"{where}: no row for {len(without)} protein(s) of {fasta}: {listed(without)}")
    return ProteinGroups(path=where, groups=tuple(by_id[pid] for pid in ids))
