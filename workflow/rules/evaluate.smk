localrules:
    evaluate_fold,
    evaluate_experiment,
    compare_experiments,


rule evaluate_fold:
    """Accuracy, macro F1, MCC and per-class MCC on one test fold (one seed)."""
    input:
        predictions="results/experiments/{experiment}/seed_{seed}/fold_{fold}/test_predictions.tsv",
    output:
        metrics="results/experiments/{experiment}/seed_{seed}/fold_{fold}/metrics.json",
    log:
        "results/logs/evaluate_fold/{experiment}/seed_{seed}/fold_{fold}.log",
    conda:
        "../../envs/train.yaml"
    params:
        group_remap=config["evaluation"]["group_remap"],
    script:
        "../scripts/evaluate_fold.py"


rule evaluate_experiment:
    """Per seed: mean and std over folds, pooled metrics; then mean and sd over seeds."""
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
    """All experiments (and DeepLocPro's own predictions) on identical proteins; CIs of the declared comparisons."""
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
        per_group=report(
            "results/comparison/per_group.tsv",
            caption="../report/per_group.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
        per_class=report(
            "results/comparison/per_class.tsv",
            caption="../report/per_class.rst",
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
        comparisons=config["comparisons"],
        deeplocpro=config["evaluation"]["deeplocpro_predictions"],
        n_folds=N_FOLDS,
        n_boot=config["evaluation"]["bootstrap"],
    script:
        "../scripts/compare_experiments.py"
