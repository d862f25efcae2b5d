"""The report's headline table: every experiment (and peer) by accuracy, macro F1 and MCC.

The report's landing page leads with it, before the workflow graph: a reader
opening the report wants the answer first. Snakemake renders the landing page
(workflow/report/workflow.rst) from a template that sees only the config, so the
Snakefile reads the comparison table here and hands the template the ready text.
It runs whenever the Snakefile is parsed: it reads the table with the standard
library and takes the metrics' names and labels from `metrics.GLOBAL_METRICS`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .metrics import GLOBAL_METRICS

__all__ = ["COLUMNS", "headline_rst"]

# (column in results/comparison/metrics.tsv, heading)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiment", "Experiment"),
    ("group_remap", "Group remap"),
    ("n_seeds", "Seeds"),
    *((name, f"{metric.label} (mean ± sd)") for name, metric in GLOBAL_METRICS.items()),
    ("mcc_pooled_over_seeds", "MCC pooled"),
)


def headline_rst(metrics_tsv: str | os.PathLike[str]) -> str:
    """An RST list-table of the comparison table, or '' before the comparison exists."""
    path = Path(metrics_tsv)
    if not path.is_file():
        return ""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return ""
    columns = [(key, title) for key, title in COLUMNS if key in rows[0]]
    lines = [".. list-table:: Headline: test-fold metrics of every experiment (see Results for details)",
             "   :header-rows: 1", ""]
    for cells in [[title for _, title in columns], *([row[key] or "–" for key, _ in columns] for row in rows)]:
        lines.append("   * - " + _cell(cells[0]))
        lines.extend("     - " + _cell(cell) for cell in cells[1:])
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """One table cell: RST markup characters in names escaped, never empty."""
    text = text.strip() or "–"
    return "".join("\\" + c if c in "*`|_\\" else c for c in text)
