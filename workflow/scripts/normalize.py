"""Rule normalize: parse and validate the labelled FASTA into proteins.tsv."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import normalize  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    normalize(smk.input.fasta, smk.output.proteins, n_folds=smk.params.n_folds)


run(snakemake, main)  # noqa: F821
