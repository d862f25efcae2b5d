rule train:
    """Train one experiment on one test fold (validation fold k+1 mod n), resumable."""
    input:
        unpack(experiment_shards),
        dataset="results/data/dataset.tsv",
        checks=experiment_checks,
    output:
        weights="results/experiments/{experiment}/fold_{fold}/model.safetensors",
        manifest="results/experiments/{experiment}/fold_{fold}/model.json",
        history="results/experiments/{experiment}/fold_{fold}/history.tsv",
        predictions="results/experiments/{experiment}/fold_{fold}/test_predictions.tsv",
    log:
        "results/logs/train/{experiment}/fold_{fold}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/fold_{fold}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=attempt_scaled(config["training"]["mem_mb"]),
        runtime=attempt_scaled(config["training"]["runtime"]),
    params:
        experiment=lambda wildcards: config["experiments"][wildcards.experiment],
        training=training_settings,
        n_folds=N_FOLDS,
        checkpoint="results/checkpoints/{experiment}/fold_{fold}/checkpoint.pt",
    script:
        "../scripts/train.py"
