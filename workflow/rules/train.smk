localrules:
    select_models,


rule train:
    """Train one model: experiment x seed x test fold x validation fold x grid point, resumable."""
    input:
        unpack(train_shards),
        unpack(train_packed),
        dataset=train_dataset,
        checks=train_checks,
    output:
        weights="results/experiments/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/model.safetensors",
        manifest="results/experiments/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/model.json",
        history="results/experiments/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/history.tsv",
        predictions="results/experiments/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/test_predictions.tsv",
    log:
        "results/logs/train/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}.tsv"
    priority: train_priority
    conda:
        "../../envs/train.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=attempt_scaled(config["training"]["mem_mb"]),
        runtime=attempt_scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpu"],
    params:
        experiment=run_model,
        training=run_settings,
        n_folds=N_FOLDS,
        checkpoint="results/checkpoints/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/checkpoint.pt",
    script:
        "../scripts/train.py"


rule select_models:
    """Per seed and test fold: the grid point with the best mean validation MCC; its models' mean
    predicts the test fold, and that fold's metrics (accuracy, macro F1, MCC, per-class MCC).

    One job for both: the metrics read nothing but the ensemble just written, and a second
    interpreter start per fold cost more than the metrics themselves."""
    input:
        manifests=candidate_outputs("model.json"),
        predictions=candidate_outputs("test_predictions.tsv"),
    output:
        predictions="results/experiments/{experiment}/seed_{seed}/fold_{fold}/test_predictions.tsv",
        selection="results/experiments/{experiment}/seed_{seed}/fold_{fold}/selection.json",
        metrics="results/experiments/{experiment}/seed_{seed}/fold_{fold}/metrics.json",
    log:
        "results/logs/select_models/{experiment}/seed_{seed}/fold_{fold}.log",
    conda:
        "../../envs/train.yaml"
    params:
        grid=lambda wildcards: config["experiments"][wildcards.experiment]["grid"],
        group_remap=config["evaluation"]["group_remap"],
    script:
        "../scripts/select_models.py"


rule calibrate:
    """Per experiment and seed: each trained model's temperature, fitted on its own validation fold; their calibrated test predictions."""
    input:
        unpack(experiment_packed),
        dataset="results/data/dataset.tsv",
        weights=seed_run_outputs("model.safetensors"),
        manifests=seed_run_outputs("model.json"),
        predictions=seed_run_outputs("test_predictions.tsv"),
    output:
        calibration="results/experiments/{experiment}/seed_{seed}/calibration.json",
        predictions="results/experiments/{experiment}/seed_{seed}/test_predictions_calibrated.tsv",
    log:
        "results/logs/calibrate/{experiment}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/calibrate/{experiment}/seed_{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=attempt_scaled(config["training"]["mem_mb"]),
        runtime=attempt_scaled(config["training"]["runtime"]),
        gpu=config["training"]["gpu"],
    params:
        embedders=lambda wildcards: config["experiments"][wildcards.experiment][
            "embedders"
        ],
        settings=seed_grid_settings,
    script:
        "../scripts/calibrate.py"
