"""Rule train: one model of an experiment (seed, test fold, validation fold, grid point; threads from the rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import train_experiment_fold  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    experiment = smk.params.experiment
    train_experiment_fold(
        name=smk.wildcards.experiment,
        experiment=experiment,
        training=smk.params.training,
        dataset=smk.input.dataset,
        shards={name: list(smk.input[name]) for name in experiment["embedders"]},
        packed={name: tuple(smk.input[f"packed_{name}"]) for name in experiment["embedders"]},
        test_fold=int(smk.wildcards.fold),
        val_fold=int(smk.wildcards.val),
        grid=int(smk.wildcards.grid),
        n_folds=smk.params.n_folds,
        checkpoint=smk.params.checkpoint,
        out=dict(smk.output.items()),
        threads=smk.threads,
    )


run(snakemake, main)  # noqa: F821
