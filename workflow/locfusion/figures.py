"""Figure stages: read saved results and call `plots`; one draw function per figure.

`FIGURES` is the one table of figures: the workflow reads each entry's output path,
report caption and category (workflow/rules/common.smk, `figure_outputs`), the `all`
targets (`figure_targets`) and the rule-to-function dispatch from it. A new figure is a
draw function, an entry here, its caption under workflow/report/ and a rule that names
its inputs. This module is read when the workflow is parsed, so matplotlib (through
`plots`) is imported only when a figure is drawn.

Figures never need models or embeddings, so `snakemake --forcerun` on a figure
rule (or an edit of plots.py) redraws it in seconds. (The explanation figure reads
weights that rule explain_examples saved; it does not run a model either.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import read_dataset


def _plots() -> Any:
    from . import plots  # matplotlib: only in the jobs that draw

    return plots


def _stem(smk: Any) -> str:
    return str(Path(smk.output.png).with_suffix(""))


def _summaries(smk: Any) -> dict[str, dict[str, Any]]:
    """Model -> summary for the comparison variant (raw or DeepLocPro-remapped) the config asks for."""
    return json.loads(Path(smk.input.summaries).read_text())[smk.params.variant]


def draw_dataset_overview(smk: Any) -> None:
    excluded = pd.read_csv(smk.input.excluded, sep="\t", dtype={"id": str}, keep_default_na=False)
    _plots().plot_dataset_overview(
        read_dataset(smk.input.dataset), excluded, _stem(smk),
        min_length=smk.params.filter["min_length"], max_length=smk.params.filter["max_length"],
    )


def draw_confusion(smk: Any) -> None:
    _plots().plot_confusion(json.loads(Path(smk.input.summary).read_text()), _stem(smk))


def draw_training_curves(smk: Any) -> None:
    """One curve per model of the first seed: `.../seed_{s}/fold_{k}/val_{v}_g{g}/history.tsv`."""
    histories: dict[int | str, pd.DataFrame] = {}
    for path in smk.input.histories:
        run, fold = Path(path).parent.name, Path(path).parent.parent.name.removeprefix("fold_")
        key: int | str = int(fold) if smk.params.one_model_per_fold else f"fold {fold} {run}"
        histories[key] = pd.read_csv(path, sep="\t")
    seed = Path(smk.input.histories[0]).parent.parent.parent.name.replace("_", " ")
    _plots().plot_training_curves(histories, _stem(smk), title=f"{smk.wildcards.experiment}: training curves ({seed})")


def draw_per_class_mcc(smk: Any) -> None:
    _plots().plot_per_class_mcc(_summaries(smk), _stem(smk))


def draw_global_metrics(smk: Any) -> None:
    _plots().plot_global_metrics(_summaries(smk), _stem(smk))


def draw_comparison_ci(smk: Any) -> None:
    """Both remap variants in one forest plot; the variant is named after the first model."""
    table = pd.read_csv(smk.input.bootstrap, sep="\t")
    if len(table):
        table = table.assign(a=table["a"] + " (" + table["group_remap"] + " remap)")
    _plots().plot_comparison_ci(table, _stem(smk))


def draw_extra_learning_curve(smk: Any) -> None:
    table = pd.read_csv(smk.input.table, sep="\t", dtype={"extra_training_size": str})
    _plots().plot_extra_learning_curve(table, _stem(smk))


def has_learning_curve(config: Mapping[str, Any]) -> bool:
    """A learning curve exists when extra proteins are given and some experiment trains on them."""
    from .extra import curve_experiments

    return bool(config["data"].get("extra_training")) and bool(curve_experiments(config["experiments"]))


def draw_reliability(smk: Any) -> None:
    bins = pd.read_csv(smk.input.reliability, sep="\t")
    table = pd.read_csv(smk.input.table, sep="\t", dtype={"seed": str})
    pooled = table[table["seed"] == "all"].iloc[0]
    _plots().plot_reliability(bins, _stem(smk), title=f"{smk.wildcards.experiment}: reliability on the test folds",
                              ece={"uncalibrated": float(pooled["test_ece_before"]),
                                   "calibrated": float(pooled["test_ece_after"])})


def draw_homology_audit(smk: Any) -> None:
    table = pd.read_csv(smk.input.table, sep="\t", dtype={"id": str, "best_train_id": str}, keep_default_na=False)
    summary = pd.read_csv(smk.input.summary, sep="\t", dtype={"fold": str})
    _plots().plot_homology_audit(table, summary, _stem(smk), scheme=smk.params.folds)


def draw_explanations(smk: Any) -> None:
    """Track plots of the test proteins rule explain_examples explained, in its order (class by class)."""
    from .explain import read_explanations
    from .explain_plots import plot_explanations

    meta, items = read_explanations(smk.input.examples)
    title = (f"{smk.wildcards.experiment}: the most confident correct test predictions per class, "
             f"weights of their own test fold's models")
    plot_explanations(items, meta["embedders"], _stem(smk), title=title)


@dataclass(frozen=True)
class Figure:
    """One figure of the workflow; its rule is `figure_<name>`, its log results/logs/figures/<path>.log.

    `path`: under results/figures/, without extension (png and pdf are both written); per
    experiment when it holds `{experiment}`. `when`: the config section whose `enabled` a
    conditional figure needs ("audit": audit.enabled), None for always. `needs`: for a
    condition that is not one switch, a function of the config that says whether to draw it.
    """

    draw: Callable[[Any], None]
    path: str
    caption: str
    category: str
    subcategory: str | None = None
    when: str | None = None
    needs: Callable[[Mapping[str, Any]], bool] | None = None

    @property
    def per_experiment(self) -> bool:
        return "{experiment}" in self.path


FIGURES: dict[str, Figure] = {
    "dataset_overview": Figure(draw_dataset_overview, "dataset_overview", "dataset_overview.rst", "Data"),
    "confusion": Figure(draw_confusion, "{experiment}/confusion", "confusion.rst", "Confusion matrices",
                        "{experiment}"),
    "training_curves": Figure(draw_training_curves, "{experiment}/training_curves", "training_curves.rst",
                              "Training curves", "{experiment}"),
    "per_class_mcc": Figure(draw_per_class_mcc, "per_class_mcc", "per_class_mcc.rst", "Metrics", "Comparison"),
    "global_metrics": Figure(draw_global_metrics, "global_metrics", "global_metrics.rst", "Metrics", "Comparison"),
    "comparison_ci": Figure(draw_comparison_ci, "comparison_ci", "comparison_ci.rst", "Metrics", "Comparison"),
    "reliability": Figure(draw_reliability, "{experiment}/reliability", "reliability.rst", "Calibration",
                          "{experiment}"),
    "explanations": Figure(draw_explanations, "{experiment}/explanations", "explanations.rst",
                           "Why this localization", "{experiment}"),
    "homology_audit": Figure(draw_homology_audit, "homology_audit", "homology_audit.rst", "Data", "Homology audit",
                             when="audit"),
    "extra_learning_curve": Figure(draw_extra_learning_curve, "extra_learning_curve", "extra_learning_curve.rst",
                                   "Metrics", "Extra training proteins", needs=has_learning_curve),
}


def figure_files(name: str, experiment: str | None = None) -> list[str]:
    """The png and pdf of figure `name` (of `experiment`, or with the `{experiment}` wildcard left in)."""
    path = FIGURES[name].path
    if experiment is not None:
        path = path.format(experiment=experiment)
    return [f"results/figures/{path}.{ext}" for ext in ("png", "pdf")]


def figure_targets(experiments: list[str], config: Mapping[str, Any]) -> list[str]:
    """Every figure the workflow's `all` asks for: per experiment where the path says so, the
    conditional ones only when their config section is enabled."""
    targets: list[str] = []
    for name, figure in FIGURES.items():
        if figure.when is not None and not config[figure.when]["enabled"]:
            continue
        if figure.needs is not None and not figure.needs(config):
            continue
        for experiment in experiments if figure.per_experiment else [None]:
            targets.extend(figure_files(name, experiment))
    return targets


def draw(smk: Any) -> None:
    """Entry point of workflow/scripts/figure.py: the rule `figure_<name>` draws FIGURES[name]."""
    FIGURES[smk.rule.removeprefix("figure_")].draw(smk)
