"""Rule filter_dataset: the study's length and duplicate filter."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import filter_dataset  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    filter_dataset(smk.input.proteins, smk.output.dataset, smk.output.excluded, smk.output.summary, smk.params.settings,
                   folds=smk.params.folds, n_folds=smk.params.n_folds, fold_seed=smk.params.fold_seed)


run(snakemake, main)  # noqa: F821
