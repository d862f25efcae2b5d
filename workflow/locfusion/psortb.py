"""PSORTb 3.0 run on our proteins, as a classic competitor beside the experiments.

PSORTb (Yu et al. 2010, GPL-2+) is the most used localization predictor for bacteria and
archaea; DeepLocPro's paper compares against it. Debian packages it (`psortb`, plus
`ncbi-blast+-legacy` for the `blastall` it calls but does not declare), but ships its
SCL-BLAST databases as plain FASTA without BLAST indexes, so `psort` crashes as installed.
We therefore copy the install to a writable folder, index each group's database there with
`makeblastdb`, and point `psort -r` at the copy.

PSORTb needs the organism group (`-n` Gram-negative, `-p` Gram-positive, `-a` archaea); every
protein is run with its own group from the dataset, and a protein without one of the three
groups is an error naming it (PSORTb has no group-agnostic mode, and guessing one would score
a different predictor). Its `-o long` output gives one score per localization site (the sites
its group allows; the others are 0 here) and a `Final_Localization` that is `Unknown` when no
site wins clearly. We report it both ways: forced to its top-scoring class (the `predicted`
column, so that it is scored by exactly the code that scores our models, on the same proteins
and folds) and with `Unknown` kept as its own outcome (`unknown_outcome_table`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .classes import CLASSES, GROUPS, normalize_class
from .errors import InputError
from .io import read_id_tsv
from .metrics import classification_metrics, macro_f1_from_confusion

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install psortb ncbi-blast+-legacy"
# psort's organism-group flag and the SCL-BLAST database folder of each of our groups.
GROUP_FLAGS: dict[str, str] = {"negative": "-n", "positive": "-p", "archaea": "-a"}
SCLBLAST_DIRS: dict[str, str] = {"negative": "gramneg", "positive": "grampos", "archaea": "archaea"}
SCLBLAST_SUBPATH = Path("conf/analysis/sclblast")
UNKNOWN = "Unknown"
FINAL_COLUMN = "psortb_final"
# Columns of `psort -o long` that we read; the per-site score columns are `<Site>_Score`.
SEQID, FINAL_LOCALIZATION, FINAL_SCORE = "SeqID", "Final_Localization", "Final_Score"
PREDICTION_COLUMNS: tuple[str, ...] = ("id", "fold", "group", "true", "predicted", *CLASSES, FINAL_COLUMN)
EXECUTABLES: tuple[str, ...] = ("psort", "blastall", "makeblastdb")


@dataclass(frozen=True)
class Install:
    """Paths of a usable PSORTb install: its executables and its root (psort -r)."""

    psort: str
    makeblastdb: str
    root: Path


def sclblast_fasta(root: str | os.PathLike[str], group: str) -> Path:
    """The SCL-BLAST database (FASTA) of one organism group under a PSORTb root."""
    return Path(root) / SCLBLAST_SUBPATH / SCLBLAST_DIRS[group] / "sclblast"


def locate_install(root: str | os.PathLike[str]) -> Install:
    """Check that PSORTb, legacy BLAST and BLAST+ are installed; one line saying how to install otherwise."""
    missing = [name for name in EXECUTABLES if shutil.which(name) is None]
    if missing:
        raise InputError(
            f"PSORTb is not installed ({', '.join(missing)} not found on PATH): install it with "
            f"`{INSTALL_HINT}` (Debian/Ubuntu, as root) or set psortb.enabled: false"
        )
    for group in GROUPS:
        db = sclblast_fasta(root, group)
        if not db.is_file():
            raise InputError(
                f"PSORTb root {root} lacks its SCL-BLAST database {db}: set psortb.root to the "
                f"installed PSORTb (Debian: /usr/lib/psort after `{INSTALL_HINT}`)"
            )
    return Install(psort=str(shutil.which("psort")), makeblastdb=str(shutil.which("makeblastdb")), root=Path(root))


def prepare_root(source: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """A writable copy of the PSORTb root at `dest` with every SCL-BLAST database indexed.

    Built in a temporary folder beside `dest` and renamed onto it when complete, so a killed
    job never leaves a half-indexed copy that psort would then crash on.
    """
    install = locate_install(source)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        copy = tmp / "root"
        # Only the SCL-BLAST folders are written to (17 MB); the rest (~100 MB) is linked.
        source_root = install.root.resolve()

        def copy_or_link(src: str, dst: str) -> None:
            if Path(src).relative_to(source_root).is_relative_to(SCLBLAST_SUBPATH):
                shutil.copy2(src, dst)
            else:
                os.symlink(src, dst)

        shutil.copytree(source_root, copy, copy_function=copy_or_link)
        for group in GROUPS:
            db = sclblast_fasta(copy, group)
            cmd = [install.makeblastdb, "-in", str(db), "-dbtype", "prot"]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            log.info("%s\n%s", " ".join(cmd), proc.stdout.strip())
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                raise InputError(f"makeblastdb failed on {db} (exit {proc.returncode}): {last}")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(copy, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def check_prepared_root(root: str | os.PathLike[str]) -> None:
    """A prepared root has a BLAST index (.pin or .pal) beside every SCL-BLAST database."""
    for group in GROUPS:
        db = sclblast_fasta(root, group)
        if not any(db.with_name(db.name + ext).exists() for ext in (".pin", ".pal")):
            raise InputError(f"{db} has no BLAST index: prepare the PSORTb root with prepare_root (rule psortb_root)")


# ----------------------------------------------------------------------------- parsing


def parse_long_output(text: str, source: str) -> pd.DataFrame:
    """`psort -o long` output -> id, final (PSORTb's call, possibly Unknown), one raw score per class.

    The `<Site>_Score` columns are mapped to our canonical classes (sites the group does not
    allow are absent and become 0); `Final_Score` is PSORTb's score of its final call, not a site.
    Anything unexpected (no header, a site we cannot name, a row of the wrong width, a score that
    is not a number, a final call that is neither a site nor Unknown) stops with one line naming
    `source` and the row.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{source}: empty PSORTb output")
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter="\t"))
    header = [h.strip() for h in rows[0]]
    for required in (SEQID, FINAL_LOCALIZATION):
        if required not in header:
            raise InputError(f"{source}: PSORTb output lacks column {required!r} (was psort run with -o long?)")
    score_columns: dict[int, str] = {}
    for j, name in enumerate(header):
        if name.endswith("_Score") and name != FINAL_SCORE:
            site = name[: -len("_Score")]
            canonical = normalize_class(site)
            if canonical is None:
                raise InputError(f"{source}: PSORTb score column {name!r} is not one of our classes")
            score_columns[j] = canonical
    if not score_columns:
        raise InputError(f"{source}: PSORTb output has no <Site>_Score columns")
    i_id, i_final = header.index(SEQID), header.index(FINAL_LOCALIZATION)
    records = []
    for n, row in enumerate(rows[1:], start=2):
        # psort ends each data row, not the header, with a tab: extra fields must be empty.
        if len(row) < len(header) or any(field.strip() for field in row[len(header):]):
            raise InputError(f"{source}: line {n} has {len(row)} fields, the header {len(header)}")
        pid = row[i_id].strip().split()[0] if row[i_id].strip() else ""
        if not pid:
            raise InputError(f"{source}: line {n} has no SeqID")
        raw_final = row[i_final].strip()
        final = UNKNOWN if raw_final == UNKNOWN else normalize_class(raw_final)
        if final is None:
            raise InputError(f"{source}: protein {pid!r} has final localization {raw_final!r}, neither a class nor Unknown")
        record: dict[str, object] = {"id": pid, "final": final, **dict.fromkeys(CLASSES, 0.0)}
        for j, cls in score_columns.items():
            value = row[j].strip()
            try:
                record[cls] = float(value)
            except ValueError:
                raise InputError(f"{source}: protein {pid!r} has {header[j]} {value!r}, not a number") from None
        records.append(record)
    out = pd.DataFrame(records, columns=["id", "final", *CLASSES])
    dup = out["id"][out["id"].duplicated()]
    if len(dup):
        raise InputError(f"{source}: protein {dup.iloc[0]!r} appears twice")
    return out


# ----------------------------------------------------------------------------- running


def _write_fasta(records: Sequence[tuple[str, str]], path: Path) -> None:
    with path.open("w") as fh:
        for pid, seq in records:
            fh.write(f">{pid}\n{seq}\n")


def run_psort(records: Sequence[tuple[str, str]], group: str, install: Install, workdir: str | os.PathLike[str]) -> str:
    """`psort <group flag> -o long -r <install.root>` on (id, sequence) records; returns its long output.

    IDs must not contain whitespace: psort names proteins by the first word of the header.
    """
    if group not in GROUP_FLAGS:
        raise InputError(f"PSORTb needs the organism group negative, positive or archaea, not {group!r}")
    for pid, _ in records:
        if not pid or any(ch.isspace() for ch in pid):
            raise InputError(f"protein id {pid!r} is empty or contains whitespace; PSORTb would rename it")
    with tempfile.TemporaryDirectory(prefix="psortb.", dir=workdir) as tmp:
        fasta = Path(tmp).resolve() / "input.fasta"
        _write_fasta(records, fasta)
        cmd = [install.psort, GROUP_FLAGS[group], "-o", "long", "-r", str(install.root.resolve()), str(fasta)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    if proc.stderr.strip():
        log.info("psort %s stderr:\n%s", group, proc.stderr.strip())
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"psort {GROUP_FLAGS[group]} failed on {len(records)} proteins (exit {proc.returncode}): {last}")
    return proc.stdout


def predict_group(records: Sequence[tuple[str, str]], group: str, install: Install,
                  workdir: str | os.PathLike[str], processes: int = 1) -> pd.DataFrame:
    """PSORTb's parsed calls for proteins of one group, `processes` psort runs side by side."""
    if not records:
        return pd.DataFrame(columns=["id", "final", *CLASSES])
    chunks = [list(records[i::processes]) for i in range(min(processes, len(records)))]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        texts = list(pool.map(lambda chunk: run_psort(chunk, group, install, workdir), chunks))
    parsed = pd.concat([parse_long_output(t, f"psort {GROUP_FLAGS[group]} output") for t in texts], ignore_index=True)
    expected = [pid for pid, _ in records]
    got = set(parsed["id"])
    absent = [pid for pid in expected if pid not in got]
    if absent or len(parsed) != len(expected):
        extra = sorted(got - set(expected))
        what = f"protein {absent[0]!r} is missing" if absent else f"unexpected protein {extra[0]!r}"
        raise InputError(f"psort {GROUP_FLAGS[group]} output: {what} ({len(parsed)} rows for {len(expected)} proteins)")
    return parsed.set_index("id").loc[expected].reset_index()


def predict_proteins(proteins: pd.DataFrame, root: str | os.PathLike[str], workdir: str | os.PathLike[str],
                     processes: int = 1) -> pd.DataFrame:
    """PSORTb on a table with columns id, group, sequence: id, group, final and raw class scores, in input order.

    `root` is a prepared copy (`prepare_root`); PSORTb must be installed (`locate_install`).
    """
    for col in ("id", "group", "sequence"):
        if col not in proteins.columns:
            raise InputError(f"protein table lacks column {col!r}")
    bad = ~proteins["group"].isin(list(GROUP_FLAGS))
    if bad.any():
        row = proteins[bad].iloc[0]
        raise InputError(f"protein {row['id']!r} has organism group {row['group']!r}; PSORTb needs negative, positive or archaea")
    install = locate_install(root)
    check_prepared_root(root)
    parts = []
    for group in GROUPS:
        sub = proteins[proteins["group"] == group]
        if len(sub):
            log.info("psort %s on %d %s proteins", GROUP_FLAGS[group], len(sub), group)
            part = predict_group(list(zip(sub["id"], sub["sequence"])), group, install, workdir, processes)
            part.insert(1, "group", group)
            parts.append(part)
    calls = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["id", "group", "final", *CLASSES])
    return calls.set_index("id").loc[proteins["id"].tolist()].reset_index()


# ----------------------------------------------------------------------------- tables


def predictions_table(calls: pd.DataFrame, dataset: pd.DataFrame) -> pd.DataFrame:
    """PSORTb's calls in the `test_predictions.tsv` format, plus `psortb_final`.

    The class columns are PSORTb's site scores normalised to sum 1 (a site its group does not
    allow scores 0); `predicted` is the top-scoring class, ties to the first in `CLASSES` order
    (the same argmax the group remap uses, so both comparison variants agree); `psortb_final` is
    PSORTb's own call, possibly Unknown. Most Unknown calls spread the score evenly, so forcing
    them gives Cytoplasmic; a definite call differs from `predicted` only on an exact tie (1 of
    the 795 definite calls on the offline study's 1,051 proteins). Rows follow `dataset`; every
    dataset protein must have exactly one call.
    """
    for col in ("id", "label", "group", "fold"):
        if col not in dataset.columns:
            raise InputError(f"dataset table lacks column {col!r}")
    dup = calls["id"][calls["id"].duplicated()]
    if len(dup):
        raise InputError(f"PSORTb calls list protein {dup.iloc[0]!r} twice")
    indexed = calls.set_index("id")
    ids = dataset["id"].astype(str)
    missing = ~ids.isin(indexed.index)
    if missing.any():
        raise InputError(f"protein {ids[missing].iloc[0]!r} has no PSORTb call ({int(missing.sum())} of {len(ids)} missing)")
    sub = indexed.loc[ids.to_numpy()]
    wrong = np.flatnonzero(sub["group"].to_numpy() != dataset["group"].to_numpy())
    if wrong.size:
        i = wrong[0]
        raise InputError(f"protein {ids.iloc[i]!r} was run by PSORTb as {sub['group'].iloc[i]!r} but is {dataset['group'].iloc[i]!r}")
    scores = sub[list(CLASSES)].to_numpy(dtype=float)
    totals = scores.sum(axis=1)
    if (scores < 0).any() or (totals <= 0).any():
        i = int(np.flatnonzero((scores < 0).any(axis=1) | (totals <= 0))[0])
        raise InputError(f"protein {ids.iloc[i]!r}: PSORTb scores {scores[i].tolist()} cannot be normalised")
    proba = scores / totals[:, None]
    out = pd.DataFrame({
        "id": ids.to_numpy(),
        "fold": dataset["fold"].astype(int).to_numpy(),
        "group": dataset["group"].to_numpy(),
        "true": dataset["label"].to_numpy(),
        "predicted": np.asarray(CLASSES, dtype=object)[proba.argmax(axis=1)],
    })
    for j, cls in enumerate(CLASSES):
        out[cls] = proba[:, j]
    out[FINAL_COLUMN] = sub["final"].to_numpy()
    return out[list(PREDICTION_COLUMNS)]


def unknown_outcome_metrics(true: Sequence[str], final: Sequence[str]) -> dict[str, float | int]:
    """PSORTb scored with Unknown as a 7th outcome: n, n_unknown, accuracy, macro F1, MCC.

    Unknown is always wrong (no protein is labelled Unknown). Accuracy and MCC are over the 7
    outcomes (MCC from the 7x7 confusion matrix, whose Unknown row is empty); macro F1 averages
    the 6 real classes only, since F1 of an outcome no protein has is 0 by construction.
    """
    outcomes = [*CLASSES, UNKNOWN]
    m = classification_metrics(list(true), list(final), outcomes)
    f1 = macro_f1_from_confusion(np.asarray(m["confusion"]), range(len(CLASSES)))  # the 6 real classes
    return {
        "n": m["n"],
        "n_unknown": int(sum(f == UNKNOWN for f in final)),
        "accuracy": m["accuracy"],
        "macro_f1": f1,
        "mcc": m["mcc"],
    }


def unknown_outcome_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per test fold, mean and sample sd over folds, and pooled: PSORTb with Unknown kept."""
    for col in ("fold", "true", FINAL_COLUMN):
        if col not in predictions.columns:
            raise InputError(f"PSORTb prediction table lacks column {col!r}")
    rows = []
    for fold, sub in predictions.groupby("fold", sort=True):
        rows.append({"fold": str(int(fold)), **unknown_outcome_metrics(sub["true"], sub[FINAL_COLUMN])})
    per_fold = pd.DataFrame(rows)
    metrics = ["n", "n_unknown", "accuracy", "macro_f1", "mcc"]
    mean = {"fold": "mean", **per_fold[metrics].mean().to_dict()}
    sd = {"fold": "sd", **per_fold[metrics].std(ddof=1).to_dict()}
    pooled = {"fold": "pooled", **unknown_outcome_metrics(predictions["true"], predictions[FINAL_COLUMN])}
    return pd.concat([per_fold, pd.DataFrame([mean, sd, pooled])], ignore_index=True)[["fold", *metrics]]


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read results/psortb/predictions.tsv (ids stay strings)."""
    frame = read_id_tsv(path, text_columns=("id", FINAL_COLUMN))
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a PSORTb prediction table (lacks {', '.join(missing)})")
    return frame


def comparison_frame(predictions: pd.DataFrame, tested: Sequence[str] | np.ndarray, source: str) -> pd.DataFrame:
    """PSORTb (forced) on the proteins the experiments were tested on, in the comparison's format."""
    indexed = predictions.set_index("id")
    tested = [str(t) for t in tested]
    missing = [pid for pid in tested if pid not in indexed.index]
    if missing:
        raise InputError(f"{source}: protein {missing[0]!r} was tested but has no PSORTb prediction ({len(missing)} missing)")
    return indexed.loc[tested].reset_index()[[c for c in PREDICTION_COLUMNS if c != FINAL_COLUMN]]


def merge_shards(shards: Mapping[int, pd.DataFrame] | Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-shard calls; a protein in two shards is an error."""
    frames = list(shards.values()) if isinstance(shards, Mapping) else list(shards)
    calls = pd.concat(frames, ignore_index=True)
    dup = calls["id"][calls["id"].duplicated()]
    if len(dup):
        raise InputError(f"protein {dup.iloc[0]!r} is in two PSORTb shards")
    return calls


# ----------------------------------------------------------------------------- workflow stages


def predict_shard(dataset: str, shards: str, shard: int, root: str, out: str, processes: int = 1) -> pd.DataFrame:
    """Rule psortb: PSORTb's calls for the proteins of one shard (id, group, final, raw scores)."""
    from .dataset import read_dataset
    from .io import write_tsv

    data = read_dataset(dataset)
    plan = read_id_tsv(shards)
    ids = set(plan.loc[plan["shard"] == shard, "id"])
    proteins = data[data["id"].isin(ids)]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    calls = predict_proteins(proteins, root, workdir=Path(out).parent, processes=processes)
    write_tsv(calls, out)
    log.info("shard %d: %d proteins, %d Unknown", shard, len(calls), int((calls["final"] == UNKNOWN).sum()))
    return calls


def merge_predictions(dataset: str, shard_paths: Sequence[str], out: str) -> pd.DataFrame:
    """Rule psortb_merge: every shard's calls -> results/psortb/predictions.tsv (all dataset proteins)."""
    from .dataset import read_dataset
    from .io import write_tsv

    calls = merge_shards([read_id_tsv(p, text_columns=("id", "final")) for p in shard_paths])
    table = predictions_table(calls, read_dataset(dataset))
    write_tsv(table, out)
    log.info("%d proteins, %d Unknown", len(table), int((table[FINAL_COLUMN] == UNKNOWN).sum()))
    return table


def write_unknown_table(predictions: str, out: str) -> pd.DataFrame:
    """Rule psortb_unknown: PSORTb with Unknown kept as its own outcome, per fold and pooled."""
    from .io import write_tsv

    table = unknown_outcome_table(read_predictions(predictions))
    write_tsv(table, out)
    return table
