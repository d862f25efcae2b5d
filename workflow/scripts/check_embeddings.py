"""Rule check_embeddings: every protein embedded once, with the right length."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import check_embeddings  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    check_embeddings(smk.input.dataset, list(smk.input.h5), smk.params.filter, smk.output.check)


run(snakemake, main)  # noqa: F821
