"""Turn normalized proteins into the study's dataset: length filter and deduplication.

Every input record ends up in exactly one of `dataset.tsv` (kept) or
`excluded.tsv` (with its reason); `filter_proteins` checks that kept + excluded
equals the input, so no protein can disappear between stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .config import schema_default
from .errors import InputError
from .fasta import LabelledProtein
from .io import read_id_tsv
from .sequence import FILTER_LONG_POLICIES

PROTEIN_COLUMNS = ["id", "label", "group", "fold", "length", "sequence", "raw_label", "raw_group"]
EXCLUDED_COLUMNS = ["id", "label", "group", "fold", "length", "reason"]
@dataclass(frozen=True)
class FilterSettings:
    """The `filter:` section (defaults: the schema's, the study's 40 <= length <= 1000, duplicates removed)."""

    min_length: int = field(default_factory=schema_default("filter", "min_length"))
    max_length: int = field(default_factory=schema_default("filter", "max_length"))
    long_policy: str = field(default_factory=schema_default("filter", "long_policy"))  # drop: exclude; crop: keep
    deduplicate: bool = field(default_factory=schema_default("filter", "deduplicate"))

    def __post_init__(self) -> None:
        if self.long_policy not in FILTER_LONG_POLICIES:
            raise InputError(
                f"filter.long_policy '{self.long_policy}' must be one of {', '.join(FILTER_LONG_POLICIES)}"
            )
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
    kinds = excluded["reason"].astype(str).str.replace(r" \(.*| of .*", "", regex=True)
    return {k: int(v) for k, v in kinds.value_counts().sort_index().items()}


def read_dataset(path: str) -> pd.DataFrame:
    """Read `dataset.tsv` with stable dtypes (IDs stay strings)."""
    return read_id_tsv(path, text_columns=("id", "label", "group", "sequence"))


FOLD_SCHEMES = ("header", "stratified")


def stratified_folds(labels: Sequence[str], groups: Sequence[str], n_folds: int, seed: int) -> list[int]:
    """A seeded random k-fold split stratified by label, then organism group within a label.

    This is the split a study makes when it ignores sequence homology (random folds of equal
    size, class proportions kept): the leakage demonstration trains on it to compare with
    GraphPart's homology-partitioned folds. Proteins are shuffled within each (label, group)
    stratum and dealt round-robin to the folds, the deal continuing from one stratum to the next
    in label-major order; hence every fold's count of each label, of each (label, group)
    stratum, and its total size are within 1 of their expected values. Grouping by organism
    too keeps archaea and Gram-positive proteins spread evenly, as they are the rare groups
    whose remap and per-group metrics would otherwise swing between folds. Same inputs and seed
    give the same folds; the order of the fold numbers is itself drawn from the seed.
    """
    if len(labels) != len(groups):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    if n_folds < 2:
        raise InputError(f"stratified folds: need at least 2 folds, got {n_folds}")
    if len(labels) < n_folds:
        raise InputError(f"stratified folds: {len(labels)} proteins cannot fill {n_folds} folds")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_folds)
    strata: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(zip(labels, groups)):
        strata.setdefault(key, []).append(index)
    folds = [-1] * len(labels)
    dealt = 0
    for key in sorted(strata):
        members = strata[key]
        for index in rng.permutation(len(members)):
            folds[members[index]] = int(order[dealt % n_folds])
            dealt += 1
    return folds


def assign_folds(kept: pd.DataFrame, scheme: str, n_folds: int, seed: int) -> pd.DataFrame:
    """The fold column the workflow reads, by `data.folds`; the header's fold kept as `header_fold`.

    `header`: GraphPart's folds from the FASTA header (homology-partitioned at 30 % identity).
    `stratified`: `stratified_folds` over the kept proteins (after filtering, so the folds
    are balanced on what is trained and tested).
    """
    if scheme not in FOLD_SCHEMES:
        raise InputError(f"data.folds '{scheme}' must be one of {', '.join(FOLD_SCHEMES)}")
    out = kept.copy()
    out["header_fold"] = out["fold"].astype(int)
    if scheme == "stratified":
        out["fold"] = stratified_folds(out["label"].tolist(), out["group"].tolist(), n_folds, seed)
    return out
