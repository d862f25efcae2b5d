"""Rule download_deeplocpro: fetch the labelled FASTA and check its git blob id."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.download import download_checked  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    download_checked(smk.params.url, smk.output.fasta, smk.params.git_blob_sha1)


run(snakemake, main)  # noqa: F821
