"""Rule evaluate_calibration: an experiment's test ECE and NLL before and after temperature scaling."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import evaluate_calibration  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    evaluate_calibration(
        name=smk.wildcards.experiment,
        selections=list(smk.input.selections),
        predictions=list(smk.input.predictions),
        calibrations=list(smk.input.calibrations),
        calibrated=list(smk.input.calibrated),
        out=dict(smk.output.items()),
        group_remap=smk.params.group_remap,
    )


run(snakemake, main)  # noqa: F821
