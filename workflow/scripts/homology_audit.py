"""Rule homology_audit: best MMseqs2 hit of each test protein among its split's training proteins."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.homology import run_audit  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    run_audit(smk.input.dataset, smk.params.n_folds, smk.params.settings, smk.output.table, smk.output.summary,
              threads=smk.threads)


run(snakemake, main)  # noqa: F821
