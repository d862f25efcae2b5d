"""Turn normalized proteins into the study's dataset: length filter and deduplication.

Every input record ends up in exactly one of `dataset.tsv` (kept) or
`excluded.tsv` (with its reason); `filter_proteins` checks that kept + excluded
equals the input, so no protein can disappear between stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from .errors import InputError
from .fasta import LabelledProtein

PROTEIN_COLUMNS = ["id", "label", "group", "fold", "length", "sequence", "raw_label", "raw_group"]
EXCLUDED_COLUMNS = ["id", "label", "group", "fold", "length", "reason"]
LONG_POLICIES = ("drop", "crop")


@dataclass(frozen=True)
class FilterSettings:
    """The study's filter: 40 <= length <= 1000, duplicate sequences removed."""

    min_length: int = 40
    max_length: int = 1000
    long_policy: str = "drop"  # drop: exclude; crop: keep (embedding keeps N- and C-terminal halves)
    deduplicate: bool = True

    def __post_init__(self) -> None:
        if self.long_policy not in LONG_POLICIES:
            raise InputError(f"filter.long_policy '{self.long_policy}' must be one of {', '.join(LONG_POLICIES)}")
        if not 0 < self.min_length <= self.max_length:
            raise InputError(f"filter: need 0 < min_length ({self.min_length}) <= max_length ({self.max_length})")


def proteins_frame(proteins: Sequence[LabelledProtein]) -> pd.DataFrame:
    """Proteins as a table in input order (the `proteins.tsv` format)."""
    rows = [{**asdict(p), "length": p.length} for p in proteins]
    return pd.DataFrame(rows, columns=PROTEIN_COLUMNS)


def filter_proteins(proteins: pd.DataFrame, settings: FilterSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split proteins into (kept, excluded); the first reason that applies wins.

    Length is checked before duplication so that a duplicate of a too-long
    sequence is reported for its length, as the study filtered in that order.
    """
    reasons: list[str | None] = []
    first_with_sequence: dict[str, str] = {}
    for row in proteins.itertuples(index=False):
        if row.length < settings.min_length:
            reasons.append(f"too short ({row.length} < {settings.min_length} aa)")
        elif row.length > settings.max_length and settings.long_policy == "drop":
            reasons.append(f"too long ({row.length} > {settings.max_length} aa)")
        elif settings.deduplicate and row.sequence in first_with_sequence:
            reasons.append(f"duplicate sequence of {first_with_sequence[row.sequence]}")
        else:
            first_with_sequence.setdefault(row.sequence, row.id)
            reasons.append(None)
    reason = pd.Series(reasons, index=proteins.index, dtype=object)
    kept = proteins[reason.isna()].copy()
    kept["cropped"] = kept["length"] > settings.max_length
    excluded = proteins[reason.notna()].assign(reason=reason[reason.notna()])[EXCLUDED_COLUMNS]
    if len(kept) + len(excluded) != len(proteins) or set(kept["id"]) & set(excluded["id"]):
        raise AssertionError("filter lost or duplicated records: kept + excluded != input")
    return kept.reset_index(drop=True), excluded.reset_index(drop=True)


def reason_counts(excluded: pd.DataFrame) -> dict[str, int]:
    """Counts by reason kind ('too short', 'too long', 'duplicate sequence')."""
    kinds = excluded["reason"].str.replace(r" \(.*| of .*", "", regex=True)
    return {k: int(v) for k, v in kinds.value_counts().sort_index().items()}


def read_dataset(path: str) -> pd.DataFrame:
    """Read `dataset.tsv` with stable dtypes (IDs stay strings)."""
    return pd.read_csv(path, sep="\t", dtype={"id": str, "label": str, "group": str, "sequence": str}, keep_default_na=False)
