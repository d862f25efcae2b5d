"""Rule calibrate: one trained model's temperature, fitted on its validation fold (never retrains)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import calibrate_model  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    embedders = smk.params.experiment["embedders"]
    calibrate_model(
        weights=smk.input.weights,
        manifest=smk.input.manifest,
        dataset=smk.input.dataset,
        packed={name: tuple(smk.input[f"packed_{name}"]) for name in embedders},
        train_predictions=smk.input.predictions,
        out=dict(smk.output.items()),
        device=smk.params.training["device"],
        batch_size=smk.params.training["batch_size"],
        threads=smk.threads,
    )


run(snakemake, main)  # noqa: F821
