"""Rule psortb_root: a writable copy of the PSORTb root with indexed SCL-BLAST databases."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.psortb import prepare_root  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    prepare_root(smk.params.source, smk.output.root)


run(snakemake, main)  # noqa: F821
