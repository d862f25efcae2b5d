"""Rule export_bundle: an experiment's fold models as a self-describing bundle."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.bundle import export_bundle  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    export_bundle(
        experiment=smk.wildcards.experiment,
        weights=list(smk.input.weights),
        manifests=list(smk.input.manifests),
        shards={name: list(smk.input[name]) for name in smk.params.experiment["embedders"]},
        embedder_specs=smk.params.embedders,
        dataset=smk.input.dataset,
        filter_settings=smk.params.filter,
        out_dir=Path(smk.output.manifest).parent,
        selections=list(smk.input.selections),
        calibrations=list(smk.input.calibrations),
    )


run(snakemake, main)  # noqa: F821
