"""Rule evaluate_experiment: mean and std over folds, pooled metrics."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import evaluate_experiment  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    evaluate_experiment(
        smk.wildcards.experiment,
        list(smk.input.predictions),
        list(smk.input.metrics),
        smk.output.summary,
        smk.output.table,
        group_remap=smk.params.group_remap,
    )


run(snakemake, main)  # noqa: F821
