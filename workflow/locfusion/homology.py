"""Homology audit: how similar is each test protein to the proteins its model trained on?

A cross-validation split only measures generalization to new proteins if test proteins
have no close homologs among the training proteins. DeepLocPro's GraphPart folds were
built for that (no pair across folds above 30 % identity); a random split is not, and its
test scores then partly measure recall of near-duplicates. This module measures it with a
real aligner, MMseqs2 `easy-search`, all proteins against all, hits then split by fold:

- for test fold k, the hits of its proteins to the training folds (and, separately, to
  training + validation folds) per `training.fold_split`; same-fold hits are ignored;
- sensitivity `-s` from `audit.sensitivity` (default 7.5, MMseqs2's most sensitive
  preset, meant for remote homologs such as 30 % identity pairs), `--alignment-mode 3` (full alignment: identity and both coverages exact),
  `--max-seqs` = number of targets (the prefilter passes on every candidate), no coverage
  filter in MMseqs2 (coverage is applied here, so the histogram shows every hit);
- identity = MMseqs2 `fident`: identical aligned pairs / alignment columns of the local
  alignment (not GraphPart's global Needleman-Wunsch identity; a local identity over a
  covered region is at least as high, so the audit errs towards finding leakage);
- coverage = `qcov`, the fraction of the test protein (query) in the alignment: the share
  of the protein a model would have "seen" in training; `tcov` (fraction of the training
  protein) is recorded too.

Best hit per test protein and per reference set ("train": training folds only, as the
model's gradient saw them; "seen": training + validation, as model selection saw them too):
the highest identity among hits covering at least `min_coverage` of the query, or, when no
hit covers that much, the highest-identity hit at all (its coverage shows why it does not
count). Proteins without any hit get identity 0 and no partner. A test protein "has a
training hit" when its best hit reaches `min_identity` over `min_coverage`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .config import schema_default
from .errors import InputError
from .training import fold_split

log = logging.getLogger(__name__)

MMSEQS_INSTALL_HINT = "install MMseqs2: apt-get install mmseqs2, or conda install -c bioconda mmseqs2"
# The columns asked of `easy-search --format-output`, in this order (parsed by name, never by position guess).
HIT_COLUMNS = ["query", "target", "fident", "alnlen", "qcov", "tcov", "evalue", "bits"]
AUDIT_COLUMNS = [
    "id", "fold", "label", "group", "length",
    "best_train_id", "train_fold", "identity", "qcov", "tcov", "evalue", "bits", "train_hit",
    "best_seen_id", "seen_fold", "seen_identity", "seen_qcov", "seen_tcov", "seen_hit",
]


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds and search settings of the audit (config `audit:`; defaults: the schema's)."""

    min_identity: float = field(default_factory=schema_default("audit", "min_identity"))
    min_coverage: float = field(default_factory=schema_default("audit", "min_coverage"))
    sensitivity: float = field(default_factory=schema_default("audit", "sensitivity"))
    evalue: float = field(default_factory=schema_default("audit", "evalue"))
    threads: int = field(default_factory=schema_default("audit", "threads"))

    @classmethod
    def from_config(cls, section: Mapping[str, object]) -> AuditSettings:
        return cls(**{k: section[k] for k in ("min_identity", "min_coverage", "sensitivity", "evalue", "threads")})  # type: ignore[arg-type]


def mmseqs_executable() -> str:
    """Path of `mmseqs`, or one line saying how to install it."""
    path = shutil.which("mmseqs")
    if path is None:
        raise InputError(f"homology audit: 'mmseqs' not found on PATH; {MMSEQS_INSTALL_HINT}")
    return path


def mmseqs_version(executable: str | None = None) -> str:
    """MMseqs2's version string (for the log: results depend on it)."""
    done = subprocess.run([executable or mmseqs_executable(), "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def write_fasta(records: Sequence[tuple[str, str]], path: str | os.PathLike[str], width: int = 80) -> None:
    """Plain FASTA; IDs must be single tokens because MMseqs2 reports the header up to the first space."""
    with open(path, "w") as handle:
        for pid, seq in records:
            if not pid or any(c.isspace() for c in pid):
                raise InputError(f"homology audit: protein ID {pid!r} is empty or contains whitespace")
            handle.write(f">{pid}\n")
            for start in range(0, len(seq), width):
                handle.write(seq[start:start + width] + "\n")


def easy_search(queries: Sequence[tuple[str, str]], targets: Sequence[tuple[str, str]], settings: AuditSettings,
                workdir: str | os.PathLike[str]) -> pd.DataFrame:
    """All hits of `queries` against `targets` (MMseqs2 easy-search), columns `HIT_COLUMNS`."""
    executable = mmseqs_executable()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    query_fasta, target_fasta, result = work / "query.fasta", work / "target.fasta", work / "hits.m8"
    write_fasta(queries, query_fasta)
    if targets is queries:  # all against all: one file
        target_fasta = query_fasta
    else:
        write_fasta(targets, target_fasta)
    command = [
        executable, "easy-search", str(query_fasta), str(target_fasta), str(result), str(work / "tmp"),
        "-s", str(settings.sensitivity), "--alignment-mode", "3", "-e", str(settings.evalue),
        "--max-seqs", str(max(len(targets), 1)), "--threads", str(settings.threads),
        "--format-mode", "0", "--format-output", ",".join(HIT_COLUMNS), "-v", "1",
    ]
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise InputError(f"homology audit: mmseqs easy-search failed (exit {done.returncode}): "
                         f"{lines[-1] if lines else 'no message'}")
    return read_hits(result)


def read_hits(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Parse an easy-search table written with `--format-output` = `HIT_COLUMNS`."""
    if Path(path).stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("query", "target") else float) for c in HIT_COLUMNS})
    hits = pd.read_csv(path, sep="\t", header=None, dtype={0: str, 1: str}, keep_default_na=False)
    if hits.shape[1] != len(HIT_COLUMNS):
        raise InputError(f"{path}: {hits.shape[1]} columns, expected {len(HIT_COLUMNS)} ({','.join(HIT_COLUMNS)})")
    hits.columns = HIT_COLUMNS
    return hits


def best_hits(hits: pd.DataFrame, query_ids: Sequence[str], min_coverage: float) -> pd.DataFrame:
    """One row per query (in `query_ids` order): its best hit as the module docstring defines it.

    Columns: id, target, fident, qcov, tcov, evalue, bits; queries without any hit have
    fident 0, coverages 0 and target "" (and NaN e-value and bits).
    """
    ranked = hits.assign(covered=hits["qcov"] >= min_coverage)
    # Covering hits first, then identity, then bit score; the target ID breaks exact ties stably.
    ranked = ranked.sort_values(["query", "covered", "fident", "bits", "target"],
                                ascending=[True, False, False, False, True], kind="mergesort")
    best = ranked.drop_duplicates("query").set_index("query")
    out = pd.DataFrame({"id": list(query_ids)})
    joined = best.reindex(out["id"])
    out["target"] = joined["target"].fillna("").to_numpy()
    for column in ("fident", "qcov", "tcov"):
        out[column] = joined[column].fillna(0.0).to_numpy(dtype=float)
    for column in ("evalue", "bits"):
        out[column] = joined[column].to_numpy(dtype=float)
    return out


def audit_folds(data: pd.DataFrame, n_folds: int, settings: AuditSettings,
                workdir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The per-test-protein table (`AUDIT_COLUMNS`) over all test folds of `data` (dataset.tsv).

    One all-against-all search, then per test fold only the hits to its training (and
    validation) folds are kept: the same hits as one search per fold, at a fifth of the cost
    (MMseqs2's prefilter index costs seconds per search whatever the input size). E-values are
    then computed against the whole dataset rather than the 4/5 of it outside the test fold,
    so the e-value cut is marginally stricter (by that factor of 5/4).
    """
    for column in ("id", "fold", "label", "group", "sequence"):
        if column not in data.columns:
            raise InputError(f"homology audit: dataset has no '{column}' column")
    folds = data["fold"].astype(int)
    outside = sorted(set(folds) - set(range(n_folds)))
    if outside:
        raise InputError(f"homology audit: fold {outside[0]} in the dataset is outside 0-{n_folds - 1} (data.n_folds {n_folds})")
    fold_of = dict(zip(data["id"], folds))
    records = list(zip(data["id"], data["sequence"]))
    with tempfile.TemporaryDirectory(prefix="locfusion_audit_", dir=workdir) as tmp:
        hits = easy_search(records, records, settings, tmp)
    hits["query_fold"] = hits["query"].map(fold_of)
    hits["target_fold"] = hits["target"].map(fold_of)
    parts = []
    for k in range(n_folds):
        train_folds, val_fold = fold_split(k, n_folds)
        test = data[folds == k]
        if test.empty:
            raise InputError(f"homology audit: test fold {k} has no proteins")
        mine = hits[hits["query_fold"] == k]
        train = best_hits(mine[mine["target_fold"].isin(train_folds)], test["id"].tolist(), settings.min_coverage)
        seen = best_hits(mine[mine["target_fold"].isin([*train_folds, val_fold])], test["id"].tolist(),
                         settings.min_coverage)
        part = pd.DataFrame({
            "id": test["id"].to_numpy(), "fold": k, "label": test["label"].to_numpy(),
            "group": test["group"].to_numpy(), "length": test["sequence"].str.len().to_numpy(),
            "best_train_id": train["target"].to_numpy(), "train_fold": train["target"].map(fold_of).to_numpy(),
            "identity": train["fident"].to_numpy(), "qcov": train["qcov"].to_numpy(),
            "tcov": train["tcov"].to_numpy(), "evalue": train["evalue"].to_numpy(), "bits": train["bits"].to_numpy(),
            "best_seen_id": seen["target"].to_numpy(), "seen_fold": seen["target"].map(fold_of).to_numpy(),
            "seen_identity": seen["fident"].to_numpy(), "seen_qcov": seen["qcov"].to_numpy(),
            "seen_tcov": seen["tcov"].to_numpy(),
        })
        part["train_hit"] = is_hit(part["identity"], part["qcov"], settings)
        part["seen_hit"] = is_hit(part["seen_identity"], part["seen_qcov"], settings)
        log.info("test fold %d: %d proteins vs %d training (+%d validation); %d with a training hit "
                 ">= %.0f %% identity over >= %.0f %% coverage", k, len(test), int(folds.isin(train_folds).sum()),
                 int((folds == val_fold).sum()), int(part["train_hit"].sum()),
                 100 * settings.min_identity, 100 * settings.min_coverage)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    for column in ("train_fold", "seen_fold"):
        table[column] = table[column].astype("Int64")
    return table[AUDIT_COLUMNS]


def is_hit(identity: pd.Series, qcov: pd.Series, settings: AuditSettings) -> pd.Series:
    """Whether a best hit counts as a homolog: identity and query coverage both at their thresholds."""
    return (identity >= settings.min_identity) & (qcov >= settings.min_coverage)


def audit_summary(table: pd.DataFrame, settings: AuditSettings, n_folds: int) -> pd.DataFrame:
    """Per test fold and overall ("all"): sizes of the split, proteins with any training hit and
    with a homolog (vs training folds, vs training + validation folds), the median best identity."""
    sizes = table["fold"].astype(int).value_counts()
    rows = []
    groups = [(str(k), sub) for k, sub in table.groupby("fold", sort=True)] + [("all", table)]
    for name, sub in groups:
        if name == "all":
            n_train = n_val = pd.NA
        else:
            train_folds, val_fold = fold_split(int(name), n_folds)
            n_train, n_val = int(sizes.reindex(train_folds, fill_value=0).sum()), int(sizes.get(val_fold, 0))
        rows.append({
            "fold": name,
            "n_test": len(sub),
            "n_train": n_train,
            "n_val": n_val,
            "n_any_train_hit": int((sub["best_train_id"] != "").sum()),
            "n_train_hit": int(sub["train_hit"].sum()),
            "fraction_train_hit": float(sub["train_hit"].mean()),
            "n_seen_hit": int(sub["seen_hit"].sum()),
            "fraction_seen_hit": float(sub["seen_hit"].mean()),
            "median_identity": float(sub["identity"].median()),
            "min_identity": settings.min_identity,
            "min_coverage": settings.min_coverage,
        })
    summary = pd.DataFrame(rows)
    for column in ("n_train", "n_val"):
        summary[column] = summary[column].astype("Int64")
    return summary


def summary_line(summary: pd.DataFrame) -> str:
    """The headline: fraction of test proteins with a training homolog, overall."""
    overall = summary.set_index("fold").loc["all"]
    return (f"{int(overall['n_train_hit'])} of {int(overall['n_test'])} test proteins "
            f"({100 * overall['fraction_train_hit']:.1f} %) have a training-fold hit >= "
            f"{100 * overall['min_identity']:.0f} % identity over >= {100 * overall['min_coverage']:.0f} % coverage "
            f"({100 * overall['fraction_seen_hit']:.1f} % counting the validation fold too)")


def run_audit(dataset: str, n_folds: int, settings: Mapping[str, object], table_out: str, summary_out: str,
              threads: int = 1) -> pd.DataFrame:
    """Stage function of rule homology_audit: dataset.tsv -> per-protein table and per-fold summary."""
    from .dataset import read_dataset
    from .io import write_tsv

    audit = AuditSettings.from_config({**settings, "threads": threads})
    Path(table_out).parent.mkdir(parents=True, exist_ok=True)
    executable = mmseqs_executable()
    log.info("MMseqs2 %s (%s); settings %s", mmseqs_version(executable), executable, audit)
    data = read_dataset(dataset)
    table = audit_folds(data, n_folds, audit, workdir=Path(table_out).parent)
    summary = audit_summary(table, audit, n_folds)
    write_tsv(table, table_out)
    write_tsv(summary, summary_out)
    log.info("%s", summary_line(summary))
    return summary
