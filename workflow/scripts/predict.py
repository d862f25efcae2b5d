"""Rule predict: a proteome through a bundle's fold-model ensemble (threads from the rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.predict import PredictOptions, predict_proteome  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    settings, embed = smk.params.predict, smk.params.embed
    options = PredictOptions(
        group=settings["group"],
        groups=getattr(smk.input, "groups", None),  # an input of the rule when predict.groups is set
        chunk_size=settings["chunk_size"],
        tokens_per_batch=embed["tokens_per_batch"],
        device=embed["device"],
        precision=embed["precision"],
        threads=smk.threads,
        plot=True,
        explain=settings["explain"],
        explain_ids=tuple(settings["explain_ids"]),
    )
    outputs = {"tsv": smk.output.tsv, "csv": smk.output.csv, "summary": smk.output.summary}
    if settings["explain"]:
        outputs["explanations"] = smk.output.explanations
    predict_proteome(
        fasta=smk.input.fasta,
        out_dir=Path(smk.output.tsv).parent,
        bundle_dir=Path(smk.input.manifest).parent,
        options=options,
        embedder_specs=smk.params.embedders,
        outputs=outputs,
    )


run(snakemake, main)  # noqa: F821
