# Figure rules read saved predictions and metrics only; each depends on the
# plotting module, so editing plots.py re-draws figures without retraining.
# Rule figure_<name> draws locfusion.figures.FIGURES[name]: its outputs, log, report
# caption and category come from that table, which also lists the `all` targets.


localrules:
    figure_dataset_overview,
    figure_confusion,
    figure_training_curves,
    figure_per_class_mcc,
    figure_global_metrics,
    figure_comparison_ci,
    figure_reliability,
    figure_explanations,


rule figure_dataset_overview:
    input:
        dataset="results/data/dataset.tsv",
        excluded="results/data/excluded.tsv",
        code=LIBRARY / "plots.py",
    output:
        **figure_outputs("dataset_overview"),
    log:
        figure_log("dataset_overview"),
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
        **figure_outputs("confusion"),
    log:
        figure_log("confusion"),
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
        **figure_outputs("training_curves"),
    log:
        figure_log("training_curves"),
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
        **figure_outputs("per_class_mcc"),
    log:
        figure_log("per_class_mcc"),
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
        **figure_outputs("global_metrics"),
    log:
        figure_log("global_metrics"),
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
        **figure_outputs("comparison_ci"),
    log:
        figure_log("comparison_ci"),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"


rule figure_reliability:
    input:
        reliability="results/experiments/{experiment}/reliability.tsv",
        table="results/experiments/{experiment}/calibration.tsv",
        code=LIBRARY / "plots.py",
    output:
        **figure_outputs("reliability"),
    log:
        figure_log("reliability"),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"


rule figure_explanations:
    input:
        examples="results/explanations/{experiment}/examples.h5",
        code=LIBRARY / "explain_plots.py",
        plots=LIBRARY / "plots.py",
    output:
        **figure_outputs("explanations"),
    log:
        figure_log("explanations"),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"
