"""Rule calibrate: per experiment and seed, each trained model's temperature, fitted on its own validation fold (never retrains)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import calibrate_models  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    models = [
        {"weights": w, "manifest": m, "predictions": p}
        for w, m, p in zip(smk.input.weights, smk.input.manifests, smk.input.predictions, strict=True)
    ]
    calibrate_models(
        models,
        dataset=smk.input.dataset,
        out=dict(smk.output.items()),
        settings=smk.params.settings,
        threads=smk.threads,
        packed={name: tuple(smk.input[f"packed_{name}"]) for name in smk.params.embedders},
    )


run(snakemake, main)  # noqa: F821
