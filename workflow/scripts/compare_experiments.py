"""Rule compare_experiments: all experiments (and DeepLocPro) side by side, with bootstrap CIs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)
from locfusion.pipeline import compare_experiments  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    experiments = smk.params.experiments
    compare_experiments(
        predictions={name: list(smk.input[f"pred_{name}"]) for name in experiments},
        comparisons=smk.params.comparisons,
        dataset=smk.input.dataset,
        deeplocpro_dir=smk.params.deeplocpro,
        n_folds=smk.params.n_folds,
        n_boot=smk.params.n_boot,
        psortb=smk.input.get("psortb"),
        psortb_unknown=smk.input.get("psortb_unknown"),
        out=dict(smk.output.items()),
    )


run(snakemake, main)  # noqa: F821
