localrules:
    evaluate_fold,
    evaluate_experiment,
    compare_experiments,


rule evaluate_fold:
    """Accuracy, macro F1, MCC and per-class MCC on one test fold."""
    input:
        predictions="results/experiments/{experiment}/fold_{fold}/test_predictions.tsv",
    output:
        metrics="results/experiments/{experiment}/fold_{fold}/metrics.json",
    log:
        "results/logs/evaluate_fold/{experiment}/fold_{fold}.log",
    conda:
        "../../envs/train.yaml"
    params:
        group_remap=config["evaluation"]["group_remap"],
    script:
        "../scripts/evaluate_fold.py"


rule evaluate_experiment:
    """Mean and std over folds, pooled metrics and summed confusion matrix."""
    input:
        predictions=lambda wildcards: fold_outputs(
            "test_predictions.tsv", wildcards.experiment
        ),
        metrics=lambda wildcards: fold_outputs("metrics.json", wildcards.experiment),
    output:
        summary="results/experiments/{experiment}/summary.json",
        table=report(
            "results/experiments/{experiment}/metrics.tsv",
            caption="../report/experiment_metrics.rst",
            category="Metrics",
            subcategory="{experiment}",
        ),
    log:
        "results/logs/evaluate_experiment/{experiment}.log",
    conda:
        "../../envs/train.yaml"
    params:
        group_remap=config["evaluation"]["group_remap"],
    script:
        "../scripts/evaluate_experiment.py"


rule compare_experiments:
    """One table across experiments on identical proteins and folds."""
    input:
        summaries=expand(
            "results/experiments/{experiment}/summary.json", experiment=EXPERIMENTS
        ),
    output:
        table=report(
            "results/comparison/metrics.tsv",
            caption="../report/comparison.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
    log:
        "results/logs/compare_experiments.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/compare_experiments.py"
