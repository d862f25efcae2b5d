"""Rule extra_homology: per split, extra proteins with a homolog among its validation or test proteins are excluded."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.extra import run_exclusion  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    run_exclusion(smk.input.extras, smk.input.dataset, [tuple(s) for s in smk.params.splits], smk.params.exclusion,
                  smk.params.search, list(smk.output.admitted), list(smk.output.excluded), smk.output.summary,
                  smk.input.rejected, threads=smk.threads)


run(snakemake, main)  # noqa: F821
