"""Rule embed: per-residue embeddings of one shard."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import embed_shard  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    embed_shard(
        dataset=smk.input.dataset,
        shards=smk.input.shards,
        shard=int(smk.wildcards.shard),
        embedder_name=smk.wildcards.embedder,
        spec=smk.params.spec,
        embed_settings=smk.params.embed,
        filter_settings=smk.params.filter,
        out=smk.output.h5,
        threads=smk.threads,
    )


run(snakemake, main)  # noqa: F821
