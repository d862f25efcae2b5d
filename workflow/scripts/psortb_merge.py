"""Rule psortb_merge: PSORTb's calls of every shard in the test_predictions.tsv format."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.psortb import merge_predictions  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    merge_predictions(smk.input.dataset, list(smk.input.calls), smk.output.predictions)


run(snakemake, main)  # noqa: F821
