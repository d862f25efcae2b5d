"""Extra training proteins (`data.extra_training`): labelled proteins that only ever train.

Proteins from another source (PSORTb's SCL-BLAST set, a lab's verified localizations) can
enlarge the training set, but they were never partitioned with the dataset's folds: a close
homolog of a validation or test protein among them would leak that protein's label into
training and inflate every reported number. Hence, per cross-validation split (test fold k,
validation fold v), every extra protein with an MMseqs2 hit to any protein of fold k or v at
or above `data.extra_exclusion` (default >= 30 % identity over >= 50 % coverage, GraphPart's
threshold for the dataset's own folds) is excluded from that split's training and listed with
its hit. The same protein may train another split where its homolog is a training protein.

Definitions (the same aligner and search settings as the homology audit, `locfusion.homology`):
- identity: MMseqs2 `fident`, identical aligned pairs / alignment columns;
- coverage: max(`qcov`, `tcov`), the aligned span as a fraction of the SHORTER of the two
  proteins. Either protein being mostly covered counts, so a fragment of an evaluation protein
  and an evaluation protein contained in a longer extra protein are both caught.

Before that, records that cannot train are rejected with a reason (never dropped silently):
malformed header, duplicate ID (within the extra files, or an ID of a dataset protein),
multi-label, unknown label or group, invalid sequence, the dataset's length filter, exact
duplicate sequences (of an earlier extra protein, or of a dataset protein: a copy adds no
information about its class and may contradict its label).

FASTA header convention (that of the dataset without the fold): `>ID|Location|Group description`;
Group may be `unknown` (or empty) where the organism group is not established; several
locations joined by `;` or `,` mark a multi-label record. A fourth `|Fold` field (the
dataset's format) is accepted and ignored: extra proteins have no fold.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .classes import normalize_class, normalize_group
from .dataset import FilterSettings, filter_proteins, read_dataset
from .errors import InputError
from .fasta import iter_fasta
from .io import read_id_tsv, write_json, write_tsv

if TYPE_CHECKING:  # homology imports torch (through training.fold_split): only the exclusion rule's env has it
    from .homology import AuditSettings

log = logging.getLogger(__name__)

UNKNOWN_GROUP = "unknown"
EXTRA_FOLD = -1  # extra proteins belong to no fold: they never validate or test
EXTRA_COLUMNS = ["id", "label", "group", "fold", "length", "sequence", "raw_label", "raw_group", "source", "record",
                 "cropped"]
REJECTED_COLUMNS = ["id", "source", "record", "label", "group", "length", "reason"]
EXCLUDED_COLUMNS = ["extra_id", "label", "hit_id", "hit_fold", "role", "identity", "coverage", "qcov", "tcov",
                    "evalue", "bits"]
SPLIT_COLUMNS = ["split", "test_fold", "val_fold", "records", "rejected", "candidates", "excluded", "excluded_test",
                 "excluded_validation", "admitted"]
_MULTI = re.compile(r"[;,]")


@dataclass(frozen=True)
class ExclusionSettings:
    """`data.extra_exclusion`: an extra protein with a hit at or above both thresholds is excluded."""

    min_identity: float = 0.3
    min_coverage: float = 0.5


def split_name(test_fold: int, val_fold: int) -> str:
    """The `{split}` of results/data/extra_{admitted,excluded}_{split}.tsv."""
    return f"fold{test_fold}_val{val_fold}"


# --------------------------------------------------------------------------- reading and rejecting


def read_records(sources: Sequence[str | os.PathLike[str]]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Parse the extra FASTAs: (records that parsed, rejected rows for those that did not)."""
    from .sequence import validate_sequence

    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    first_seen: dict[str, str] = {}
    for source in sources:
        for index, (header, raw_seq) in enumerate(iter_fasta(source), start=1):
            fields = header.split(maxsplit=1)[0].split("|") if header.strip() else [""]
            pid = fields[0]
            base = {"id": pid, "source": str(source), "record": index, "label": "", "group": "",
                    "length": len("".join(raw_seq.split()))}

            def reject(reason: str) -> None:
                rejected.append({**base, "reason": reason})

            if not pid:
                reject("malformed header: empty ID")
                continue
            if len(fields) not in (3, 4):
                reject(f"malformed header: {len(fields)} '|'-separated field(s), expected ID|Location|Group")
                continue
            raw_label, raw_group = fields[1].strip(), fields[2].strip()
            base.update(label=raw_label, group=raw_group)
            if pid in first_seen:
                reject(f"duplicate ID (first: {first_seen[pid]})")
                continue
            first_seen[pid] = f"{source} record {index}"
            labels = {normalize_class(part) for part in _MULTI.split(raw_label) if part.strip()}
            if len(labels) > 1 and None not in labels:
                reject(f"multi-label ({raw_label})")
                continue
            label = labels.pop() if len(labels) == 1 else None
            if label is None:
                reject(f"unknown label '{raw_label}'")
                continue
            group = UNKNOWN_GROUP if raw_group.lower() in ("", UNKNOWN_GROUP) else normalize_group(raw_group)
            if group is None:
                reject(f"unknown organism group '{raw_group}' (negative, positive, archaea or unknown)")
                continue
            try:
                sequence = validate_sequence(pid, raw_seq)
            except InputError as exc:
                reject(f"invalid sequence: {str(exc).removeprefix(f'record {pid!r}: ')}")
                continue
            rows.append({"id": pid, "label": label, "group": group, "fold": EXTRA_FOLD, "length": len(sequence),
                         "sequence": sequence, "raw_label": raw_label, "raw_group": raw_group,
                         "source": str(source), "record": index})
    return pd.DataFrame(rows, columns=EXTRA_COLUMNS[:-1]), rejected


def normalize_extras(sources: Sequence[str | os.PathLike[str]], proteins: pd.DataFrame, dataset: pd.DataFrame,
                     filter_settings: FilterSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(extra proteins that may train, rejected records with their reason); every record in exactly one.

    `proteins`: every normalized dataset record (an ID clash with any of them is rejected, even
    one the dataset filter excluded); `dataset`: the kept dataset (exact sequence duplicates).
    """
    records, rejected = read_records(sources)
    n_records = len(records) + len(rejected)
    dataset_ids = set(proteins["id"])
    clash = records["id"].isin(dataset_ids)
    for row in records[clash].itertuples(index=False):
        rejected.append({"id": row.id, "source": row.source, "record": row.record, "label": row.label,
                         "group": row.group, "length": row.length, "reason": "ID clash with a dataset protein"})
    records = records[~clash]
    kept, filtered = filter_proteins(records.reset_index(drop=True), filter_settings)
    where = records.set_index("id")
    for row in filtered.itertuples(index=False):
        rejected.append({"id": row.id, "source": where.at[row.id, "source"], "record": where.at[row.id, "record"],
                         "label": row.label, "group": row.group, "length": row.length, "reason": row.reason})
    owner = dict(zip(dataset["sequence"], zip(dataset["id"], dataset["fold"])))
    copies = kept["sequence"].map(lambda s: owner.get(s))
    for row, hit in zip(kept[copies.notna()].itertuples(index=False), copies[copies.notna()]):
        rejected.append({"id": row.id, "source": row.source, "record": row.record, "label": row.label,
                         "group": row.group, "length": row.length,
                         "reason": f"same sequence as a dataset protein: {hit[0]} (fold {hit[1]})"})
    kept = kept[copies.isna()].reset_index(drop=True)
    rejected_frame = pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
    if len(kept) + len(rejected_frame) != n_records:
        raise AssertionError("extra proteins: kept + rejected != records read")
    return kept[EXTRA_COLUMNS], rejected_frame


def rejection_counts(rejected: pd.DataFrame) -> dict[str, int]:
    """Rejected records by reason kind (the reason up to its details)."""
    kinds = rejected["reason"].astype(str).str.replace(r" \(.*| of .*| '.*|:.*", "", regex=True)
    return {k: int(v) for k, v in kinds.value_counts().sort_index().items()}


# --------------------------------------------------------------------------- homology exclusion per split


def coverage(hits: pd.DataFrame) -> pd.Series:
    """The aligned span as a fraction of the shorter protein: max(qcov, tcov) (module docstring)."""
    return hits[["qcov", "tcov"]].max(axis=1)


def exclude_homologs(extras: pd.DataFrame, data: pd.DataFrame, splits: Sequence[tuple[int, int]],
                     exclusion: ExclusionSettings, search: AuditSettings,
                     workdir: str | os.PathLike[str] | None = None) -> dict[tuple[int, int], tuple[pd.DataFrame, pd.DataFrame]]:
    """Per split (test fold, validation fold): (admitted extras, excluded extras with their best hit).

    One MMseqs2 search between every extra protein and every dataset protein; per split only
    hits to that split's test and validation folds count. In the returned tables `qcov` is the
    extra protein's coverage and `tcov` the dataset protein's. The hit listed for an excluded
    protein is its highest-identity qualifying hit (then bit score, then ID).
    """
    from dataclasses import replace

    from .homology import easy_search

    if extras.empty:
        hits = pd.DataFrame(columns=["query", "target", "fident", "alnlen", "qcov", "tcov", "evalue", "bits"])
    else:
        # The dataset proteins query the extra proteins, not the other way round: MMseqs2's prefilter
        # costs per query (at -s 7.5 each query's similar k-mers are many), and extra sets are the
        # larger side (PSORTb: 12,034 against 1,051; the other way round did not finish in 30 min on
        # 2 shared cores). E-values grow with the searched database, so the cut-off is scaled by its
        # size in residues relative to the dataset's: a pair passes as if the extras had been searched
        # against the dataset. Query and target columns are then swapped back.
        scale = max(1.0, float(extras["sequence"].str.len().sum()) / float(data["sequence"].str.len().sum()))
        with tempfile.TemporaryDirectory(prefix="locfusion_extra_", dir=workdir) as tmp:
            found = easy_search(list(zip(data["id"], data["sequence"])), list(zip(extras["id"], extras["sequence"])),
                                replace(search, evalue=search.evalue * scale), tmp)
        hits = found.rename(columns={"query": "target", "target": "query", "qcov": "tcov", "tcov": "qcov"})
    fold_of = dict(zip(data["id"], data["fold"].astype(int)))
    hits = hits.assign(coverage=coverage(hits), hit_fold=hits["target"].map(fold_of))
    qualifying = hits[(hits["fident"] >= exclusion.min_identity) & (hits["coverage"] >= exclusion.min_coverage)]
    label_of = dict(zip(extras["id"], extras["label"]))
    out = {}
    for test_fold, val_fold in splits:
        mine = qualifying[qualifying["hit_fold"].isin([test_fold, val_fold])]
        best = (mine.sort_values(["query", "fident", "bits", "target"], ascending=[True, False, False, True],
                                 kind="mergesort").drop_duplicates("query"))
        excluded = pd.DataFrame({
            "extra_id": best["query"].to_numpy(),
            "label": best["query"].map(label_of).to_numpy(),
            "hit_id": best["target"].to_numpy(),
            "hit_fold": best["hit_fold"].astype(int).to_numpy(),
            "role": np.where(best["hit_fold"].to_numpy() == test_fold, "test", "validation"),
            "identity": best["fident"].to_numpy(), "coverage": best["coverage"].to_numpy(),
            "qcov": best["qcov"].to_numpy(), "tcov": best["tcov"].to_numpy(),
            "evalue": best["evalue"].to_numpy(), "bits": best["bits"].to_numpy(),
        }, columns=EXCLUDED_COLUMNS)
        admitted = extras[~extras["id"].isin(set(excluded["extra_id"]))].assign(test_fold=test_fold, val_fold=val_fold)
        out[(test_fold, val_fold)] = (admitted.reset_index(drop=True), excluded.reset_index(drop=True))
        log.info("split %s: %d of %d extra proteins excluded (%d by a test-fold hit, %d by a validation-fold hit), "
                 "%d admitted", split_name(test_fold, val_fold), len(excluded), len(extras),
                 int((excluded["role"] == "test").sum()), int((excluded["role"] == "validation").sum()), len(admitted))
    return out


def split_summary(results: Mapping[tuple[int, int], tuple[pd.DataFrame, pd.DataFrame]], n_extras: int,
                  n_rejected: int = 0) -> pd.DataFrame:
    """One row per split: FASTA records, rejected (any split), candidates, excluded (by role), admitted."""
    rows = []
    for (test_fold, val_fold), (admitted, excluded) in results.items():
        rows.append({"split": split_name(test_fold, val_fold), "test_fold": test_fold, "val_fold": val_fold,
                     "records": n_extras + n_rejected, "rejected": n_rejected, "candidates": n_extras,
                     "excluded": len(excluded),
                     "excluded_test": int((excluded["role"] == "test").sum()),
                     "excluded_validation": int((excluded["role"] == "validation").sum()), "admitted": len(admitted)})
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)


# --------------------------------------------------------------------------- training


def training_size(experiment: Mapping[str, Any]) -> int | str:
    """An experiment's `extra_training_size`: 0 (none, the default), a number, or "all"."""
    size = experiment.get("extra_training_size", 0)
    if size != "all" and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InputError(f"extra_training_size {size!r} must be a count >= 0 or 'all'")
    return size


def subsample(admitted: pd.DataFrame, size: int | str, seed: int) -> pd.DataFrame:
    """`size` of a split's admitted extras, drawn with `seed` and the split (all when "all" or more than there are).

    Drawn as a prefix of one seeded permutation of the IDs in sorted order, so for a given split
    the smaller subsets of a learning curve are nested in the larger ones.
    """
    if size == "all" or len(admitted) == 0:
        return admitted
    test_fold, val_fold = int(admitted["test_fold"].iloc[0]), int(admitted["val_fold"].iloc[0])
    ordered = admitted.sort_values("id", kind="mergesort").reset_index(drop=True)
    order = np.random.default_rng([seed, test_fold, val_fold]).permutation(len(ordered))
    if int(size) > len(ordered):
        log.warning("extra_training_size %d exceeds the %d admitted extra proteins of split %s: all of them train",
                    size, len(ordered), split_name(test_fold, val_fold))
    return ordered.iloc[np.sort(order[: int(size)])].reset_index(drop=True)


def read_admitted(path: str | os.PathLike[str], test_fold: int, val_fold: int) -> pd.DataFrame:
    """A split's admitted extras, checked to belong to that split (a wrong file would leak)."""
    table = read_id_tsv(path, text_columns=("id", "label", "group", "sequence"))
    if len(table) and (set(table["test_fold"]) != {test_fold} or set(table["val_fold"]) != {val_fold}):
        raise InputError(f"{path}: extra proteins admitted for another split than test fold {test_fold}, "
                         f"validation fold {val_fold}")
    return table


def training_extras(path: str, experiment: Mapping[str, Any], seed: int, test_fold: int, val_fold: int,
                    use_group: bool) -> pd.DataFrame:
    """The extra proteins one training job adds to its training folds: the split's admitted list, subsampled."""
    admitted = read_admitted(path, test_fold, val_fold)
    chosen = subsample(admitted, training_size(experiment), seed)
    unknown = chosen[chosen["group"] == UNKNOWN_GROUP]
    if use_group and len(unknown):
        raise InputError(f"{len(unknown)} extra proteins (e.g. '{unknown['id'].iloc[0]}') have no organism group but "
                         "the experiment feeds the group to the model (use_group); give their groups or train "
                         "without use_group")
    return chosen


# --------------------------------------------------------------------------- stage functions


def run_normalize(sources: Sequence[str], proteins: str, dataset: str, filter_settings: Mapping[str, Any],
                  extras_out: str, rejected_out: str) -> pd.DataFrame:
    """Rule normalize_extra."""
    kept, rejected = normalize_extras(sources, read_dataset(proteins), read_dataset(dataset),
                                      FilterSettings(**filter_settings))
    write_tsv(kept, extras_out)
    write_tsv(rejected, rejected_out)
    log.info("extra proteins: %d kept, %d rejected %s, from %s", len(kept), len(rejected),
             rejection_counts(rejected), ", ".join(sources))
    return kept


def run_exclusion(extras: str, dataset: str, splits: Sequence[tuple[int, int]], exclusion: Mapping[str, Any],
                  search: Mapping[str, Any], admitted_out: Sequence[str], excluded_out: Sequence[str],
                  summary_out: str, rejected: str, threads: int = 1) -> pd.DataFrame:
    """Rule extra_homology: per split the admitted and excluded lists, and the summary table."""
    from .homology import AuditSettings, mmseqs_executable, mmseqs_version

    table = read_dataset(extras)
    data = read_dataset(dataset)
    settings = AuditSettings(sensitivity=float(search["sensitivity"]), evalue=float(search["evalue"]), threads=threads)
    log.info("MMseqs2 %s; search %s; exclusion %s", mmseqs_version(mmseqs_executable()), settings, dict(exclusion))
    results = exclude_homologs(table, data, splits, ExclusionSettings(**exclusion), settings,
                               workdir=Path(summary_out).parent)
    for (split, (admitted, excluded)), admitted_path, excluded_path in zip(results.items(), admitted_out, excluded_out,
                                                                          strict=True):
        if not Path(admitted_path).name.endswith(f"_{split_name(*split)}.tsv"):
            raise AssertionError(f"{admitted_path} is not the file of split {split_name(*split)}")
        write_tsv(admitted, admitted_path)
        write_tsv(excluded, excluded_path)
    rejected_table = pd.read_csv(rejected, sep="\t", dtype=str, keep_default_na=False)
    summary = split_summary(results, len(table), len(rejected_table))
    write_tsv(summary, summary_out)
    write_json({"rejected": rejection_counts(rejected_table), "n_rejected": len(rejected_table),
                "n_candidates": len(table), "exclusion": dict(exclusion),
                "coverage": "max(qcov, tcov): aligned span / length of the shorter protein",
                "splits": summary.to_dict("records")}, str(Path(summary_out).with_suffix(".json")))
    return summary


# --------------------------------------------------------------------------- learning curve


def curve_key(experiment: Mapping[str, Any]) -> str:
    """Experiments on one learning curve: everything but `extra_training_size` the same (model,
    embedders, params, group input, training overrides, grid); scheduling keys do not count."""
    from .cv import experiment_identity

    same = {k: v for k, v in experiment_identity(experiment).items() if k != "extra_training_size"}
    return json.dumps(same, sort_keys=True, default=str)


def curves(experiments: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each learning curve with at least one point with extra proteins, named after its first experiment
    (in config order): curve name -> its experiments."""
    groups: dict[str, list[str]] = {}
    for name, spec in experiments.items():
        groups.setdefault(curve_key(spec), []).append(name)
    return {names[0]: names for names in groups.values() if any(training_size(experiments[n]) != 0 for n in names)}


def curve_experiments(experiments: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The experiments of every learning curve that has at least one point with extra proteins."""
    return [name for names in curves(experiments).values() for name in names]


def learning_curve_table(experiments: Mapping[str, Mapping[str, Any]], summaries: Mapping[str, str],
                         manifests: Mapping[str, Sequence[str]], dataset: str) -> pd.DataFrame:
    """Per experiment: its curve, extra_training_size, mean training proteins per model (dataset + extra),
    pooled test MCC (mean over seeds) and its spread over seeds and test folds."""
    data = read_dataset(dataset)
    sizes = data["fold"].astype(int).value_counts()
    curve_of = {name: curve for curve, names in curves(experiments).items() for name in names}
    rows = []
    for name in summaries:
        summary = json.loads(Path(summaries[name]).read_text())
        n_train, n_extra = [], []
        for path in manifests[name]:
            manifest = json.loads(Path(path).read_text())
            extra = int(manifest.get("extra_training", {}).get("used", 0))
            n_extra.append(extra)
            n_train.append(int(sizes.reindex(manifest["train_folds"], fill_value=0).sum()) + extra)
        rows.append({"experiment": name, "curve": curve_of[name],
                     "extra_training_size": str(training_size(experiments[name])),
                     "n_train": float(np.mean(n_train)), "n_extra": float(np.mean(n_extra)),
                     "pooled_mcc": summary["pooled"]["mcc"],
                     "pooled_mcc_seed_sd": (summary.get("pooled_seed_sd") or {}).get("mcc"),
                     "fold_mcc_sd": (summary.get("std") or {}).get("mcc"),
                     "n_seeds": len(summary.get("per_seed") or {}) or 1})
    return pd.DataFrame(rows).sort_values(["curve", "n_train"], kind="mergesort").reset_index(drop=True)
