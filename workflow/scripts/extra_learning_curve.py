"""Rule extra_learning_curve: pooled test MCC against training-set size, per experiment on a curve."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.extra import learning_curve_table  # noqa: E402
from locfusion.io import write_tsv  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    experiments = smk.params.experiments
    summaries = {Path(p).parent.name: p for p in smk.input.summaries}
    manifests = {name: [p for p in smk.input.manifests if Path(p).parts[-5] == name] for name in experiments}
    write_tsv(learning_curve_table(experiments, summaries, manifests, smk.input.dataset), smk.output.table)


run(snakemake, main)  # noqa: F821
