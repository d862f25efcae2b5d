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
    """All experiments (and DeepLocPro's own predictions) on identical proteins, with bootstrap CIs."""
    input:
        unpack(comparison_predictions),
        dataset="results/data/dataset.tsv",
    output:
        summaries="results/comparison/summaries.json",
        table=report(
            "results/comparison/metrics.tsv",
            caption="../report/comparison.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        bootstrap=report(
            "results/comparison/bootstrap.tsv",
            caption="../report/bootstrap.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        claim=report(
            "results/comparison/claim.html",
            caption="../report/claim.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
    log:
        "results/logs/compare_experiments.log",
    conda:
        "../../envs/train.yaml"
    params:
        experiments=config["experiments"],
        deeplocpro=config["evaluation"]["deeplocpro_predictions"],
        n_folds=N_FOLDS,
        n_boot=config["evaluation"]["bootstrap"],
    script:
        "../scripts/compare_experiments.py"
