"""Rule evaluate_fold: metrics on one test fold."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import evaluate_fold  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    evaluate_fold(smk.input.predictions, smk.output.metrics, group_remap=smk.params.group_remap)


run(snakemake, main)  # noqa: F821
