"""Rule compare_experiments: one table across experiments."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import compare_experiments  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    compare_experiments(list(smk.input.summaries), smk.output.table)


run(snakemake, main)  # noqa: F821
