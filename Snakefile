# locfusion: subcellular localization of prokaryotic proteins from fused
# protein language model embeddings. Entry point of the workflow.
#
#   snakemake --cores 45                        the study (config.yaml)
#   snakemake --profile profiles/demo           the bundled synthetic demo
#   snakemake --profile profiles/slurm          the study on a SLURM cluster


# The study's config.yaml, unless another config is given (--configfile or a profile):
# merging the two would keep the study's experiments and embedders in every custom run.
if not config:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/psortb.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/extra.smk"


rule all:
    default_target: True
    input:
        all_targets(),
