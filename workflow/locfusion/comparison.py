"""Side-by-side comparison of experiments (and DeepLocPro's own predictions).

Every model is scored on exactly the same proteins and folds, twice: with raw
probabilities and with DeepLocPro's organism-group remap applied to every model
alike, because DeepLocPro's published numbers include the remap and a fair
comparison must not give it to one side only. An experiment trained with several
seeds is summarized per seed and as mean ± sd over seeds (`metrics.summarize_seeds`).

Only the comparisons declared in the config (`comparisons: [{name, a, b}]`) get
a paired bootstrap confidence interval and a verdict: choosing what to compare
after seeing test results (say, "the best single-embedder baseline") would bias
the answer, so nothing here picks a comparison from the results.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .classes import CLASSES, DEEPLOCPRO, PSORTB
from .metrics import (
    GLOBAL_METRICS,
    apply_group_remap,
    evaluate_fold,
    paired_comparison_table,
    summarize_experiment,
    summarize_seeds,
    summary_table,
)

REMAP_VARIANTS = {"none": False, "deeplocpro": True}
BOOTSTRAP_COLUMNS = ["comparison", "a", "b", "group_remap", "mcc_a", "mcc_b", "diff", "ci_low", "ci_high",
                     "p_two_sided", "frac_a_better", "n", "n_seeds_a", "n_seeds_b", "n_boot", "seed"]


def summarize_predictions(pooled: pd.DataFrame) -> dict[str, Any]:
    """Summary (per fold, mean ± std, pooled) of a pooled test-prediction table with a `fold` column."""
    folds = {int(k): evaluate_fold(sub) for k, sub in pooled.groupby("fold")}
    return summarize_experiment(folds, pooled)


def remapped(frames: Mapping[int, pd.DataFrame], remap: bool) -> dict[int, pd.DataFrame]:
    if not remap:
        return dict(frames)
    return {seed: apply_group_remap(df, df["group"]) for seed, df in frames.items()}


def compare(
    predictions: Mapping[str, Mapping[int, pd.DataFrame]],
    comparisons: Sequence[Mapping[str, str]],
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """Summaries per remap variant, the metrics table and the bootstrap table of the declared comparisons.

    `predictions` maps model name -> {training seed: pooled test predictions (all folds)};
    DeepLocPro, when present, is under the name `DEEPLOCPRO` (one "seed").
    """
    summaries: dict[str, dict[str, Any]] = {}
    tables, boots = [], []
    for variant, remap in REMAP_VARIANTS.items():
        preds = {name: remapped(frames, remap) for name, frames in predictions.items()}
        summaries[variant] = {
            name: summarize_seeds({s: summarize_predictions(df) for s, df in frames.items()}) | {"experiment": name}
            for name, frames in preds.items()
        }
        table = summary_table(summaries[variant])
        table.insert(1, "group_remap", variant)
        tables.append(table)
        if comparisons:
            pairs = [(c["a"], c["b"]) for c in comparisons]
            boot = paired_comparison_table({n: list(f.values()) for n, f in preds.items()}, pairs, n_boot=n_boot,
                                           seed=seed)
            boot.insert(0, "comparison", [c["name"] for c in comparisons])
            boot.insert(3, "group_remap", variant)
            boots.append(boot)
    metrics = pd.concat(tables, ignore_index=True)
    bootstrap = pd.concat(boots, ignore_index=True) if boots else pd.DataFrame(columns=BOOTSTRAP_COLUMNS)
    return summaries, metrics, bootstrap[BOOTSTRAP_COLUMNS]


def per_group_table(summaries: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Per remap variant, model and organism group: n, accuracy, macro F1, MCC (mean and sd over seeds)."""
    rows = []
    for variant, by_model in summaries.items():
        for name, s in by_model.items():
            sds = s.get("pooled_by_group_seed_sd", {})
            for group, m in s.get("pooled_by_group", {}).items():
                row: dict[str, Any] = {"model": name, "group_remap": variant, "group": group, "n": m["n"],
                                       "n_seeds": s.get("n_seeds", 1)}
                for metric in GLOBAL_METRICS:
                    row[metric] = m[metric]
                    row[f"{metric}_seed_sd"] = sds.get(group, {}).get(metric)
                rows.append(row)
    return pd.DataFrame(rows)


def per_class_table(summaries: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Per remap variant, model and class: one-vs-rest MCC pooled (mean and sd over seeds) and over folds."""
    rows = []
    for variant, by_model in summaries.items():
        for name, s in by_model.items():
            for cls in s["classes"]:
                rows.append({
                    "model": name, "group_remap": variant, "class": cls, "n_seeds": s.get("n_seeds", 1),
                    "mcc_pooled": s["pooled"]["mcc_per_class"][cls],
                    "mcc_pooled_seed_sd": s.get("pooled_seed_sd", {}).get("mcc_per_class", {}).get(cls),
                    "mcc_fold_mean": s["mean"]["mcc_per_class"][cls],
                    "mcc_fold_std": s["std"]["mcc_per_class"][cls],
                })
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["class"] = pd.Categorical(frame["class"], categories=list(CLASSES), ordered=True)
    return frame


def verdict(row: Mapping[str, Any]) -> str:
    """Plain-language reading of one bootstrap CI."""
    if row["ci_low"] > 0:
        return f"{row['a']} is better than {row['b']} (95% CI of the MCC difference excludes 0)"
    if row["ci_high"] < 0:
        return f"{row['a']} is worse than {row['b']} (95% CI of the MCC difference excludes 0)"
    return f"no significant difference between {row['a']} and {row['b']} (95% CI includes 0)"


def claim_html(metrics: pd.DataFrame, bootstrap: pd.DataFrame, n_proteins: int,
               psortb_unknown: pd.DataFrame | None = None) -> str:
    """A small HTML page for the report: each declared comparison with its CI, then the metrics
    (and PSORTb with its Unknown calls kept, when given: `psortb.unknown_outcome_table`)."""
    parts = [
        "<h2>Declared comparisons</h2>",
        f"<p>All models scored on the same {n_proteins} proteins and folds. Each comparison below was declared "
        "in the configuration before the run; its MCC difference (pooled over test folds, averaged over training "
        "seeds) comes with a paired bootstrap 95% confidence interval (proteins resampled). Nothing else is "
        "claimed.</p>",
    ]
    if len(bootstrap):
        items = []
        for _, r in bootstrap.iterrows():
            items.append(
                f"<li><b>{html.escape(str(r['comparison']))}</b> ({html.escape(str(r['group_remap']))} remap): "
                f"{html.escape(verdict(r))}; diff {r['diff']:+.3f}, CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f} "
                f"(seeds: {int(r['n_seeds_a'])} vs {int(r['n_seeds_b'])})</li>"
            )
        parts.append("<ul>" + "".join(items) + "</ul>")
    else:
        parts.append("<p>No comparison was declared (config key <code>comparisons</code>).</p>")
    display = [c for c in ("experiment", "group_remap", "n_seeds", "n", *GLOBAL_METRICS, "mcc_pooled_over_seeds")
               if c in metrics.columns]
    parts.append("<h3>Metrics (mean ± sample std over folds; pooled MCC: mean ± sd over seeds)</h3>"
                 + metrics[display].to_html(index=False))
    if len(bootstrap):
        cols = ["comparison", "a", "b", "group_remap", "mcc_a", "mcc_b", "diff", "ci_low", "ci_high"]
        parts.append("<h3>Paired bootstrap</h3>" + bootstrap[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}"))
    if psortb_unknown is not None:
        parts.append(
            f"<h3>{PSORTB} with Unknown as its own outcome</h3><p>The metrics above force {PSORTB} to its "
            "top-scoring class; here its Unknown calls count as wrong (MCC over 7 outcomes, macro F1 over "
            "the 6 classes).</p>" + psortb_unknown.to_html(index=False, float_format=lambda x: f"{x:.3f}")
        )
    return "<html><body>" + "\n".join(parts) + "</body></html>\n"
