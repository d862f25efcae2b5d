"""Rule psortb: PSORTb's calls for the proteins of one shard."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.psortb import predict_shard  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    predict_shard(smk.input.dataset, smk.input.shards, int(smk.wildcards.shard), smk.input.root,
                  smk.output.calls, processes=smk.threads)


run(snakemake, main)  # noqa: F821
