"""Rule select_models: choose a grid point on validation MCC and ensemble its models on the test fold."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)
from locfusion.pipeline import select_models  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    select_models(
        manifests=list(smk.input.manifests),
        predictions=list(smk.input.predictions),
        grid=smk.params.grid,
        out=dict(smk.output.items()),
    )


run(snakemake, main)  # noqa: F821
