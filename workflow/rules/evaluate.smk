localrules:
    evaluate_experiment,
    compare_experiments,
    choose_on_validation,
    evaluate_calibration,
    compare_calibration,


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
        experiments={
            name: experiment_identity(spec)
            for name, spec in config["experiments"].items()
        },
        comparisons=config["comparisons"],
        deeplocpro=config["evaluation"]["deeplocpro_predictions"],
        n_folds=N_FOLDS,
        n_boot=config["evaluation"]["bootstrap"],
    script:
        "../scripts/compare_experiments.py"


rule choose_on_validation:
    """The experiment validation folds prefer (mean validation MCC of each test fold's chosen grid point): the model to report, chosen without the test folds."""
    input:
        unpack(experiment_selections),
    output:
        table=report(
            "results/comparison/validation_choice.tsv",
            caption="../report/validation_choice.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
    log:
        "results/logs/choose_on_validation.log",
    conda:
        "../../envs/train.yaml"
    params:
        experiments=list(EXPERIMENTS),
    script:
        "../scripts/choose_on_validation.py"


rule evaluate_calibration:
    """Test ECE and NLL of the selected models' ensemble, with and without their validation-fitted temperatures."""
    input:
        selections=lambda wildcards: fold_outputs(
            "selection.json", wildcards.experiment
        ),
        predictions=lambda wildcards: fold_outputs(
            "test_predictions.tsv", wildcards.experiment
        ),
        calibrations=lambda wildcards: seed_outputs(
            "calibration.json", wildcards.experiment
        ),
        calibrated=lambda wildcards: seed_outputs(
            "test_predictions_calibrated.tsv", wildcards.experiment
        ),
    output:
        table=report(
            "results/experiments/{experiment}/calibration.tsv",
            caption="../report/calibration.rst",
            category="Calibration",
            subcategory="{experiment}",
        ),
        reliability="results/experiments/{experiment}/reliability.tsv",
        predictions="results/experiments/{experiment}/test_predictions_calibrated.tsv",
    log:
        "results/logs/evaluate_calibration/{experiment}.log",
    conda:
        "../../envs/train.yaml"
    params:
        group_remap=config["evaluation"]["group_remap"],
    script:
        "../scripts/evaluate_calibration.py"


rule compare_calibration:
    """One line per experiment: pooled test ECE and NLL before and after temperature scaling."""
    input:
        tables=expand(
            "results/experiments/{experiment}/calibration.tsv", experiment=EXPERIMENTS
        ),
    output:
        table=report(
            "results/comparison/calibration.tsv",
            caption="../report/calibration_comparison.rst",
            category="Calibration",
            subcategory="Comparison",
        ),
    log:
        "results/logs/compare_calibration.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/compare_calibration.py"
