"""Rule plan_shards: proteins to shards, balanced by residues."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import plan_embedding_shards  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    plan_embedding_shards(smk.input.dataset, smk.output.shards, smk.params.n_shards)


run(snakemake, main)  # noqa: F821
