"""Figure stages: read saved results and call `plots`; one function per figure rule.

Figures never need models or embeddings, so `snakemake --forcerun` on a figure
rule (or an edit of plots.py) redraws it in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from . import plots
from .dataset import read_dataset


def _stem(smk: Any) -> str:
    return str(Path(smk.output.png).with_suffix(""))


def _summaries(smk: Any) -> dict[str, dict[str, Any]]:
    """Model -> summary for the comparison variant (raw or DeepLocPro-remapped) the config asks for."""
    return json.loads(Path(smk.input.summaries).read_text())[smk.params.variant]


def draw_dataset_overview(smk: Any) -> None:
    excluded = pd.read_csv(smk.input.excluded, sep="\t", dtype={"id": str}, keep_default_na=False)
    plots.plot_dataset_overview(
        read_dataset(smk.input.dataset), excluded, _stem(smk),
        min_length=smk.params.filter["min_length"], max_length=smk.params.filter["max_length"],
    )


def draw_confusion(smk: Any) -> None:
    plots.plot_confusion(json.loads(Path(smk.input.summary).read_text()), _stem(smk))


def draw_training_curves(smk: Any) -> None:
    """One curve per model of the first seed: `.../seed_{s}/fold_{k}/val_{v}_g{g}/history.tsv`."""
    histories: dict[int | str, pd.DataFrame] = {}
    for path in smk.input.histories:
        run, fold = Path(path).parent.name, Path(path).parent.parent.name.removeprefix("fold_")
        key: int | str = int(fold) if smk.params.one_model_per_fold else f"fold {fold} {run}"
        histories[key] = pd.read_csv(path, sep="\t")
    seed = Path(smk.input.histories[0]).parent.parent.parent.name.replace("_", " ")
    plots.plot_training_curves(histories, _stem(smk), title=f"{smk.wildcards.experiment}: training curves ({seed})")


def draw_per_class_mcc(smk: Any) -> None:
    plots.plot_per_class_mcc(_summaries(smk), _stem(smk))


def draw_global_metrics(smk: Any) -> None:
    plots.plot_global_metrics(_summaries(smk), _stem(smk))


def draw_comparison_ci(smk: Any) -> None:
    """Both remap variants in one forest plot; the variant is named after the first model."""
    table = pd.read_csv(smk.input.bootstrap, sep="\t")
    if len(table):
        table = table.assign(a=table["a"] + " (" + table["group_remap"] + " remap)")
    plots.plot_comparison_ci(table, _stem(smk))


def draw_homology_audit(smk: Any) -> None:
    table = pd.read_csv(smk.input.table, sep="\t", dtype={"id": str, "best_train_id": str}, keep_default_na=False)
    summary = pd.read_csv(smk.input.summary, sep="\t", dtype={"fold": str})
    plots.plot_homology_audit(table, summary, _stem(smk), scheme=smk.params.folds)


_BY_RULE = {
    "figure_dataset_overview": draw_dataset_overview,
    "figure_confusion": draw_confusion,
    "figure_training_curves": draw_training_curves,
    "figure_per_class_mcc": draw_per_class_mcc,
    "figure_global_metrics": draw_global_metrics,
    "figure_comparison_ci": draw_comparison_ci,
    "figure_homology_audit": draw_homology_audit,
}


def draw(smk: Any) -> None:
    """Entry point of workflow/scripts/figure.py: dispatch on the rule's name."""
    _BY_RULE[smk.rule](smk)
