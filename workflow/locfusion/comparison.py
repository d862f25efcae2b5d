"""Side-by-side comparison of experiments (and DeepLocPro's own predictions).

Every model is scored on exactly the same proteins and folds, twice: with raw
probabilities and with DeepLocPro's organism-group remap applied to every model
alike, because DeepLocPro's published numbers include the remap and a fair
comparison must not give it to one side only. Differences in MCC come with
paired bootstrap confidence intervals (proteins resampled), and the study's
claim — fusion beats the best single-embedding model — is judged from them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .metrics import apply_group_remap, evaluate_fold, paired_comparison_table, summarize_experiment, summary_table

REMAP_VARIANTS = {"none": False, "deeplocpro": True}
DEEPLOCPRO = "DeepLocPro"
PSORTB = "PSORTb"  # PSORTb 3.0 forced to its top-scoring class (locfusion.psortb)


def summarize_predictions(pooled: pd.DataFrame) -> dict[str, Any]:
    """Summary (per fold, mean ± std, pooled) of a pooled test-prediction table with a `fold` column."""
    folds = {int(k): evaluate_fold(sub) for k, sub in pooled.groupby("fold")}
    return summarize_experiment(folds, pooled)


def remapped(predictions: Mapping[str, pd.DataFrame], remap: bool) -> dict[str, pd.DataFrame]:
    if not remap:
        return dict(predictions)
    return {name: apply_group_remap(df, df["group"]) for name, df in predictions.items()}


def comparison_pairs(experiments: Mapping[str, Mapping[str, Any]], pooled_mcc: Mapping[str, float], has_deeplocpro: bool) -> list[tuple[str, str, str]]:
    """(a, b, why) pairs: every experiment vs DeepLocPro; each fusion vs the best single-embedder model;
    each variant vs the experiment it names in `compare_with` (e.g. fp32 vs bf16 training)."""
    pairs = [(name, DEEPLOCPRO, "experiment vs DeepLocPro") for name in experiments] if has_deeplocpro else []
    singles = [n for n, e in experiments.items() if len(e["embedders"]) == 1]
    if singles:
        best = max(singles, key=lambda n: pooled_mcc[n])
        for name, spec in experiments.items():
            if spec["model"] == "fusion" and len(spec["embedders"]) > 1:
                pairs.append((name, best, "fusion vs best single-embedder baseline"))
    for name, spec in experiments.items():
        if spec.get("compare_with"):
            pairs.append((name, spec["compare_with"], "variant vs its reference"))
    return pairs


def compare(
    predictions: Mapping[str, pd.DataFrame],
    experiments: Mapping[str, Mapping[str, Any]],
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """Summaries per remap variant, the metrics table and the bootstrap table.

    `predictions` maps model name -> pooled test predictions (all folds); DeepLocPro,
    when present, is under the name `DEEPLOCPRO`.
    """
    summaries: dict[str, dict[str, Any]] = {}
    tables, boots = [], []
    for variant, remap in REMAP_VARIANTS.items():
        preds = remapped(predictions, remap)
        summaries[variant] = {name: summarize_predictions(df) | {"experiment": name} for name, df in preds.items()}
        table = summary_table(summaries[variant])
        table.insert(1, "group_remap", variant)
        tables.append(table)
        pooled_mcc = {n: s["pooled"]["mcc"] for n, s in summaries[variant].items()}
        pairs = comparison_pairs(experiments, pooled_mcc, DEEPLOCPRO in preds)
        if PSORTB in preds:
            pairs += [(name, PSORTB, "experiment vs PSORTb") for name in experiments]
        if pairs:
            boot = paired_comparison_table(preds, [(a, b) for a, b, _ in pairs], n_boot=n_boot, seed=seed)
            boot.insert(2, "comparison", [why for _, _, why in pairs])
            boot.insert(3, "group_remap", variant)
            boots.append(boot)
    metrics = pd.concat(tables, ignore_index=True)
    bootstrap = pd.concat(boots, ignore_index=True) if boots else pd.DataFrame(
        columns=["a", "b", "comparison", "group_remap", "mcc_a", "mcc_b", "diff", "ci_low", "ci_high"]
    )
    return summaries, metrics, bootstrap


def verdict(row: Mapping[str, Any]) -> str:
    """Plain-language reading of one bootstrap CI."""
    if row["ci_low"] > 0:
        return f"{row['a']} is better than {row['b']} (95% CI of the MCC difference excludes 0)"
    if row["ci_high"] < 0:
        return f"{row['a']} is worse than {row['b']} (95% CI of the MCC difference excludes 0)"
    return f"no significant difference between {row['a']} and {row['b']} (95% CI includes 0)"


def claim_html(metrics: pd.DataFrame, bootstrap: pd.DataFrame, n_proteins: int,
               psortb_unknown: pd.DataFrame | None = None) -> str:
    """A small HTML page for the report: tables and whether the study's claim holds here
    (and PSORTb with its Unknown calls kept, when given: `psortb.unknown_outcome_table`)."""
    parts = [
        "<h2>Does fusion beat a single embedding?</h2>",
        f"<p>All models scored on the same {n_proteins} proteins and folds. MCC differences with paired "
        "bootstrap 95% confidence intervals (proteins resampled). The study claims that fusing two embeddings "
        "with cross-attention beats a single-embedding DeepLocPro-style model.</p>",
    ]
    fusion_rows = bootstrap[bootstrap["comparison"] == "fusion vs best single-embedder baseline"]
    if len(fusion_rows):
        holds = all(r["ci_low"] > 0 for _, r in fusion_rows.iterrows())
        parts.append(
            "<p><b>The claim "
            + ("holds" if holds else "is not supported")
            + " on this data</b>: "
            + "; ".join(f"{verdict(r)} [{r['group_remap']} remap: diff {r['diff']:+.3f}, CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}]" for _, r in fusion_rows.iterrows())
            + ".</p>"
        )
    else:
        parts.append("<p>No fusion experiment with a single-embedder baseline to compare.</p>")
    other = bootstrap[bootstrap["comparison"] != "fusion vs best single-embedder baseline"]
    if len(other):
        parts.append("<ul>" + "".join(f"<li>{html.escape(verdict(r))} ({r['group_remap']} remap)</li>" for _, r in other.iterrows()) + "</ul>")
    display = [c for c in ("experiment", "group_remap", "n", "accuracy", "macro_f1", "mcc") if c in metrics.columns]
    parts.append("<h3>Metrics (mean ± sample std over folds)</h3>" + metrics[display].to_html(index=False))
    if len(bootstrap):
        cols = ["a", "b", "comparison", "group_remap", "mcc_a", "mcc_b", "diff", "ci_low", "ci_high"]
        parts.append("<h3>Paired bootstrap</h3>" + bootstrap[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}"))
    if psortb_unknown is not None:
        parts.append(
            f"<h3>{PSORTB} with Unknown as its own outcome</h3><p>The metrics above force {PSORTB} to its "
            "top-scoring class; here its Unknown calls count as wrong (MCC over 7 outcomes, macro F1 over "
            "the 6 classes).</p>" + psortb_unknown.to_html(index=False, float_format=lambda x: f"{x:.3f}")
        )
    return "<html><body>" + "\n".join(parts) + "</body></html>\n"
