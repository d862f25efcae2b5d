"""Rule export_3di: the 3Di strings a prostt5_3di embedder translated, as one FASTA."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import export_side_fasta  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    export_side_fasta(smk.input.dataset, list(smk.input.h5), "3di", smk.output.fasta)


run(snakemake, main)  # noqa: F821
