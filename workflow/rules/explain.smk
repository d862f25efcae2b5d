# Why this localization: the report's explanation examples.
#
# explain_examples: the most confident correct test predictions of each class
#   (evaluation.explain_per_class), each explained by the bundle's models of its own test
#   fold (the models that made that test prediction, never trained on the protein), on its
#   stored embeddings -> results/explanations/{experiment}/examples.h5, drawn by
#   figure_explanations. Test proteins are used to illustrate, not to choose anything.


localrules:
    explain_examples,


rule explain_examples:
    """Attention and gate weights of a few test proteins per class, by their test fold's models."""
    input:
        unpack(experiment_shards),
        manifest="results/bundles/{experiment}/manifest.json",
        weights=lambda wildcards: bundle_models(wildcards.experiment),
        predictions=lambda wildcards: fold_outputs(
            "test_predictions.tsv", wildcards.experiment
        ),
        dataset="results/data/dataset.tsv",
    output:
        examples="results/explanations/{experiment}/examples.h5",
    log:
        "results/logs/explain_examples/{experiment}.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    params:
        embedders=lambda wildcards: config["experiments"][wildcards.experiment][
            "embedders"
        ],
        per_class=config["evaluation"]["explain_per_class"],
    script:
        "../scripts/explain_examples.py"
