"""Rule psortb_unknown: PSORTb scored with Unknown as its own outcome."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.psortb import write_unknown_table  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    write_unknown_table(smk.input.predictions, smk.output.table)


run(snakemake, main)  # noqa: F821
