"""Rule normalize_extra: the extra training FASTAs -> extra_proteins.tsv and extra_rejected.tsv (with reasons)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.extra import run_normalize  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    run_normalize(list(smk.input.fastas), smk.input.proteins, smk.input.dataset, smk.params.filter,
                  smk.output.extras, smk.output.rejected)


run(snakemake, main)  # noqa: F821
