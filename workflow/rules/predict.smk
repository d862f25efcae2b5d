# Model bundles and prediction of new proteomes.
#
# export_bundle: each experiment's selected models (seeds x test folds x validation
#   folds) as a self-describing bundle (manifest.json + seed_{s}_fold_{k}_val_{v}.safetensors),
#   loadable without unpickling.
# predict: the proteome in `predict.fasta` through the ensemble of one bundle
#   (DeepLocPro-style table); a default target only when `predict.fasta` is set.
#   With predict.explain also explanations.h5 (attention and gate weights per residue)
#   and, for predict.explain_ids, their track plots in explanations/. With predict.groups
#   (a TSV: id, group) each protein has its own organism group (mixed proteomes).

import re

PREDICT = config["predict"]
PREDICT_EXPERIMENT = PREDICT["experiment"] or EXPERIMENTS[0]
if PREDICT_EXPERIMENT not in EXPERIMENTS:
    raise WorkflowError(
        f"invalid configuration: config key 'predict.experiment': unknown experiment "
        f"'{PREDICT_EXPERIMENT}' (defined: {', '.join(EXPERIMENTS)})"
    )
PREDICT_NAME = PREDICT["name"] or (
    Path(PREDICT["fasta"]).stem if PREDICT["fasta"] else ""
)
if PREDICT["fasta"] and not re.fullmatch(r"[A-Za-z0-9_.-]+", PREDICT_NAME):
    raise WorkflowError(
        f"invalid configuration: config key 'predict.name': '{PREDICT_NAME}' becomes a path; "
        "use letters, digits, '_', '-' or '.' only"
    )
if PREDICT["groups"] and PREDICT["group"] != "any":
    raise WorkflowError(
        f"invalid configuration: config key 'predict.groups': a groups table gives each protein its group; "
        f"predict.group must then be 'any', not '{PREDICT['group']}'"
    )
if PREDICT["explain_ids"] and not PREDICT["explain"]:
    raise WorkflowError(
        "invalid configuration: config key 'predict.explain_ids': track plots need predict.explain: true"
    )


# The default target of rule predict (common.smk's all_targets).
PREDICT_TARGETS = (
    [f"results/predictions/{PREDICT_NAME}/predictions.tsv"] if PREDICT["fasta"] else []
)


localrules:
    export_bundle,


rule export_bundle:
    """Selected models + JSON manifest (embedder provenance, classes, length policy, data checksum, temperatures)."""
    input:
        unpack(experiment_shards),
        weights=lambda wildcards: run_outputs("model.safetensors", wildcards.experiment),
        manifests=lambda wildcards: run_outputs("model.json", wildcards.experiment),
        calibrations=lambda wildcards: seed_outputs(
            "calibration.json", wildcards.experiment
        ),
        selections=lambda wildcards: fold_outputs(
            "selection.json", wildcards.experiment
        ),
        dataset="results/data/dataset.tsv",
    output:
        manifest="results/bundles/{experiment}/manifest.json",
        weights=bundle_models("{experiment}"),
    log:
        "results/logs/export_bundle/{experiment}.log",
    conda:
        "../../envs/train.yaml"
    params:
        experiment=lambda wildcards: experiment_identity(
            config["experiments"][wildcards.experiment]
        ),
        embedders=lambda wildcards: {
            name: config["embedders"][name]
            for name in config["experiments"][wildcards.experiment]["embedders"]
        },
        filter=config["filter"],
    script:
        "../scripts/export_bundle.py"


rule predict:
    """Localization of every protein of predict.fasta by a bundle's fold-model ensemble, streamed in chunks."""
    input:
        unpack(predict_group_input),
        fasta=lambda wildcards: PREDICT["fasta"],
        manifest=f"results/bundles/{PREDICT_EXPERIMENT}/manifest.json",
        weights=bundle_models(PREDICT_EXPERIMENT),
    output:
        **predict_explain_outputs(),
        tsv="results/predictions/{name}/predictions.tsv",
        csv="results/predictions/{name}/predictions.csv",
        summary="results/predictions/{name}/summary.json",
        png="results/predictions/{name}/class_distribution.png",
        pdf="results/predictions/{name}/class_distribution.pdf",
    log:
        "results/logs/predict/{name}.log",
    benchmark:
        "results/benchmarks/predict/{name}.tsv"
    wildcard_constraints:
        # Only the configured proteome (no name matches when predict.fasta is null).
        name=re.escape(PREDICT_NAME) if PREDICT["fasta"] else "(?!)",
    conda:
        "../../envs/predict.yaml"
    threads: PREDICT["threads"]
    resources:
        mem_mb=attempt_scaled(PREDICT["mem_mb"]),
        runtime=attempt_scaled(PREDICT["runtime"]),
        gpu=config["embed"]["gpu"],
    params:
        predict=PREDICT,
        embed=embed_settings(),
        embedders={
            name: config["embedders"][name]
            for name in config["experiments"][PREDICT_EXPERIMENT]["embedders"]
        },
    script:
        "../scripts/predict.py"
