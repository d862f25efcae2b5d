# Figure rules read saved predictions and metrics only; each depends on the
# plotting module, so editing plots.py re-draws figures without retraining.


localrules:
    figure_dataset_overview,
    figure_confusion,
    figure_training_curves,
    figure_per_class_mcc,
    figure_global_metrics,
    figure_comparison_ci,


rule figure_dataset_overview:
    input:
        dataset="results/data/dataset.tsv",
        excluded="results/data/excluded.tsv",
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("dataset_overview"),
            caption="../report/dataset_overview.rst",
            category="Data",
        ),
        pdf=pdf("dataset_overview"),
    log:
        "results/logs/figures/dataset_overview.log",
    conda:
        "../../envs/report.yaml"
    params:
        filter=config["filter"],
    script:
        "../scripts/figure.py"


rule figure_confusion:
    input:
        summary="results/experiments/{experiment}/summary.json",
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("{experiment}/confusion"),
            caption="../report/confusion.rst",
            category="Confusion matrices",
            subcategory="{experiment}",
        ),
        pdf=pdf("{experiment}/confusion"),
    log:
        "results/logs/figures/{experiment}/confusion.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"


rule figure_training_curves:
    input:
        histories=lambda wildcards: run_outputs(
            "history.tsv", wildcards.experiment, seeds=SEEDS[:1]
        ),
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("{experiment}/training_curves"),
            caption="../report/training_curves.rst",
            category="Training curves",
            subcategory="{experiment}",
        ),
        pdf=pdf("{experiment}/training_curves"),
    log:
        "results/logs/figures/{experiment}/training_curves.log",
    conda:
        "../../envs/report.yaml"
    params:
        one_model_per_fold=lambda wildcards: len(runs(wildcards.experiment, 0)) == 1,
    script:
        "../scripts/figure.py"


rule figure_per_class_mcc:
    input:
        summaries="results/comparison/summaries.json",
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("per_class_mcc"),
            caption="../report/per_class_mcc.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        pdf=pdf("per_class_mcc"),
    log:
        "results/logs/figures/per_class_mcc.log",
    conda:
        "../../envs/report.yaml"
    params:
        variant=REMAP_VARIANT,
    script:
        "../scripts/figure.py"


rule figure_global_metrics:
    input:
        summaries="results/comparison/summaries.json",
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("global_metrics"),
            caption="../report/global_metrics.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        pdf=pdf("global_metrics"),
    log:
        "results/logs/figures/global_metrics.log",
    conda:
        "../../envs/report.yaml"
    params:
        variant=REMAP_VARIANT,
    script:
        "../scripts/figure.py"


rule figure_comparison_ci:
    input:
        bootstrap="results/comparison/bootstrap.tsv",
        code=LIBRARY / "plots.py",
    output:
        png=report(
            png("comparison_ci"),
            caption="../report/comparison_ci.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        pdf=pdf("comparison_ci"),
    log:
        "results/logs/figures/comparison_ci.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"
