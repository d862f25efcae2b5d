"""Rule compare_calibration: one line per experiment, test ECE and NLL before and after calibration."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import compare_calibration  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    compare_calibration(list(smk.input.tables), smk.output.table)


run(snakemake, main)  # noqa: F821
