"""Rule psortb_training_set: PSORTb's SCL-BLAST FASTAs -> a labelled FASTA, per-record sidecar and provenance."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.runner import run  # noqa: E402
from locfusion.sclblast import extract_training_set  # noqa: E402


def main(smk):
    extract_training_set(list(smk.params.sources), smk.output.fasta, smk.output.records, smk.output.provenance)


run(snakemake, main)  # noqa: F821
