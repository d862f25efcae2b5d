"""Rule select_models: choose a grid point on validation MCC, ensemble its models on the test fold, score it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)
from locfusion.pipeline import evaluate_fold, select_models  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    select_models(
        manifests=list(smk.input.manifests),
        predictions=list(smk.input.predictions),
        grid=smk.params.grid,
        out={"predictions": smk.output.predictions, "selection": smk.output.selection},
    )
    evaluate_fold(smk.output.predictions, smk.output.metrics, group_remap=smk.params.group_remap)


run(snakemake, main)  # noqa: F821
