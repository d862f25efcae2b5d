import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# The library lives beside the rules; make it importable even when not installed.
LIBRARY_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(LIBRARY_DIR))

from locfusion.config import (
    SCHEMA_PATH,
    experiment_training,
    validate_config,
)  # noqa: E402
from locfusion.errors import InputError  # noqa: E402

try:
    validate_config(config, SCHEMA_PATH)
except InputError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None


EMBEDDERS = list(config["embedders"])
EXPERIMENTS = list(config["experiments"])
N_FOLDS = config["data"]["n_folds"]
FOLDS = list(range(N_FOLDS))
N_SHARDS = config["embed"]["shards"]
SHARDS = list(range(N_SHARDS))
LIBRARY = LIBRARY_DIR / "locfusion"
# Which comparison variant the summary figures show: DeepLocPro's group remap or raw.
REMAP_VARIANT = "deeplocpro" if config["evaluation"]["group_remap"] else "none"


wildcard_constraints:
    embedder="|".join(EMBEDDERS),
    experiment="|".join(EXPERIMENTS),
    fold=r"\d+",
    shard=r"\d+",


def raw_fasta():
    """The labelled FASTA: a configured local file, or the downloaded DeepLocPro set."""
    return config["data"]["fasta"] or "results/data/raw/graphpart_set.fasta"


def shard_paths(embedder):
    return expand(
        "results/embeddings/{embedder}/shard_{shard}.h5",
        embedder=embedder,
        shard=SHARDS,
    )


def experiment_shards(wildcards):
    """All embedding shards an experiment reads, by embedder."""
    embedders = config["experiments"][wildcards.experiment]["embedders"]
    return {name: shard_paths(name) for name in embedders}


def experiment_checks(wildcards):
    embedders = config["experiments"][wildcards.experiment]["embedders"]
    return expand("results/embeddings/{embedder}/check.json", embedder=embedders)


def training_settings(wildcards):
    """`training:` with the experiment's own overrides (experiments.<name>.training)."""
    return experiment_training(config, wildcards.experiment)


def fold_outputs(name, experiment=None):
    experiments = [experiment] if experiment else EXPERIMENTS
    return expand(
        "results/experiments/{experiment}/fold_{fold}/{name}",
        experiment=experiments,
        fold=FOLDS,
        name=name,
    )


def png(name):
    return f"results/figures/{name}.png"


def pdf(name):
    return f"results/figures/{name}.pdf"


def comparison_predictions(wildcards):
    """Test predictions of every experiment, keyed pred_<experiment> for the script."""
    return {
        f"pred_{name}": fold_outputs("test_predictions.tsv", name)
        for name in EXPERIMENTS
    }


def figure(name):
    """Both formats of one figure."""
    return [png(name), pdf(name)]


def all_targets():
    targets = [
        "results/comparison/metrics.tsv",
        figure("dataset_overview"),
        figure("comparison_ci"),
        figure("per_class_mcc"),
        figure("global_metrics"),
    ]
    for experiment in EXPERIMENTS:
        targets.append(f"results/experiments/{experiment}/summary.json")
        targets.append(figure(f"{experiment}/confusion"))
        targets.append(figure(f"{experiment}/training_curves"))
        targets.append(f"results/bundles/{experiment}/manifest.json")
    targets.extend(PREDICT_TARGETS)  # predict.smk: none unless predict.fasta is set
    targets.extend(AUDIT_TARGETS)  # audit.smk: none unless audit.enabled
    return targets


def attempt_scaled(base):
    """A resource that grows with each retry (memory, runtime) after a kill."""
    return lambda wildcards, attempt: base * attempt
