"""The leakage demonstration: one experiment trained under two fold schemes, side by side.

`make offline-leakage` trains the same experiment on the same proteins twice, once on
GraphPart's homology-partitioned folds and once on a stratified random split, and runs the
homology audit on both. This module reads the two workflow results directories and writes
one table: per scheme, the fold sizes, the fraction of test proteins with a training
homolog, and the test metrics; then the difference (random minus GraphPart), which is the
MCC a random split adds by testing on near-duplicates of training proteins.

The two schemes test different proteins in each fold, so no paired bootstrap applies to the
difference: the table gives the per-fold MCCs and their sample standard deviation so the
reader can judge it against fold-to-fold spread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError


def _read(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: not found (run the workflow with the audit enabled for this scheme first)")
    return path


def scheme_row(name: str, workdir: str | os.PathLike[str], experiment: str) -> dict[str, Any]:
    """One scheme's fold sizes, audit fractions and metrics, from its workflow results directory."""
    results = Path(workdir) / "results"
    filtered = json.loads(_read(results / "data" / "filter_summary.json").read_text())
    audit = pd.read_csv(_read(results / "audit" / "summary.tsv"), sep="\t", dtype={"fold": str}).set_index("fold")
    summary = json.loads(_read(results / "experiments" / experiment / "summary.json").read_text())
    sizes = [filtered["kept_by_fold"][k] for k in sorted(filtered["kept_by_fold"], key=int)]
    row: dict[str, Any] = {
        "scheme": name,
        "folds": filtered.get("folds", {}).get("scheme", "header"),
        "fold_sizes": "/".join(str(n) for n in sizes),
        "n_test": int(audit.loc["all", "n_test"]),
        "fraction_train_hit": float(audit.loc["all", "fraction_train_hit"]),
        "fraction_seen_hit": float(audit.loc["all", "fraction_seen_hit"]),
        "min_identity": float(audit.loc["all", "min_identity"]),
        "min_coverage": float(audit.loc["all", "min_coverage"]),
        "mcc_pooled": float(summary["pooled"]["mcc"]),
        "mcc_mean": float(summary["mean"]["mcc"]),
        "mcc_std": float(summary["std"]["mcc"]),
        "accuracy_pooled": float(summary["pooled"]["accuracy"]),
        "macro_f1_pooled": float(summary["pooled"]["macro_f1"]),
    }
    for fold in summary["folds"]:
        row[f"mcc_fold_{fold}"] = float(summary["per_fold"][str(fold)]["mcc"])
        row[f"train_hit_fold_{fold}"] = float(audit.loc[str(fold), "fraction_train_hit"])
    return row


DIFFERENCE_COLUMNS = ("fraction_train_hit", "fraction_seen_hit", "mcc_pooled", "mcc_mean", "accuracy_pooled",
                      "macro_f1_pooled")


def leakage_table(runs: Mapping[str, str | os.PathLike[str]], experiment: str, baseline: str) -> pd.DataFrame:
    """Rows per scheme, then one row per other scheme: its difference from `baseline` (GraphPart)."""
    if baseline not in runs:
        raise InputError(f"leakage: baseline scheme '{baseline}' is not among the runs ({', '.join(runs)})")
    rows = {name: scheme_row(name, path, experiment) for name, path in runs.items()}
    table = pd.DataFrame(list(rows.values()))
    diffs = []
    for name, row in rows.items():
        if name == baseline:
            continue
        diff: dict[str, Any] = {"scheme": f"{name} - {baseline}"}
        for column in DIFFERENCE_COLUMNS:
            diff[column] = row[column] - rows[baseline][column]
        diffs.append(diff)
    return pd.concat([table, pd.DataFrame(diffs)], ignore_index=True)


def leakage_lines(table: pd.DataFrame, experiment: str) -> list[str]:
    """Human-readable summary, one line per scheme and per difference."""
    lines = []
    for row in table.itertuples(index=False):
        if isinstance(row.fold_sizes, str):
            lines.append(f"{experiment} on {row.scheme} folds ({row.fold_sizes}): MCC pooled {row.mcc_pooled:.3f}, "
                         f"mean {row.mcc_mean:.3f} ± {row.mcc_std:.3f} (sample std over test folds); "
                         f"{100 * row.fraction_train_hit:.1f} % of test proteins with a training hit >= "
                         f"{100 * row.min_identity:.0f} % identity over >= {100 * row.min_coverage:.0f} % coverage")
        else:
            lines.append(f"{row.scheme}: MCC pooled {row.mcc_pooled:+.3f}, mean {row.mcc_mean:+.3f}; "
                         f"test proteins with a training homolog {100 * row.fraction_train_hit:+.1f} points")
    return lines
