import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# The library lives beside the rules; make it importable even when not installed.
LIBRARY_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(LIBRARY_DIR))

from locfusion.config import SCHEMA_PATH, validate_config  # noqa: E402
from locfusion.cv import (
    experiment_identity,
    grid_points,
    run_experiment,
    run_training,
    validation_folds,
)  # noqa: E402
from locfusion.embed_job import conda_env  # noqa: E402
from locfusion.errors import InputError  # noqa: E402
from locfusion.extra import curve_experiments  # noqa: E402
from locfusion.figures import FIGURES, figure_files, figure_targets  # noqa: E402
from locfusion.headline import headline_rst  # noqa: E402
from locfusion.sclblast import default_sources  # noqa: E402

try:
    validate_config(config, SCHEMA_PATH)
except InputError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None

# The report's landing page (workflow/report/workflow.rst) leads with the headline table; its
# template sees only the config, so the table is read here (empty before the comparison exists).
config["report_headline"] = headline_rst("results/comparison/metrics.tsv")


EMBEDDERS = list(config["embedders"])
EXPERIMENTS = list(config["experiments"])
N_FOLDS = config["data"]["n_folds"]
FOLDS = list(range(N_FOLDS))
N_SHARDS = config["embed"]["shards"]
SHARDS = list(range(N_SHARDS))
N_EXTRA_SHARDS = config["embed"]["extra_shards"] or N_SHARDS
EXTRA_SHARDS = list(range(N_EXTRA_SHARDS))
LIBRARY = LIBRARY_DIR / "locfusion"
SEEDS = config["training"]["seeds"]
CV_SCHEME = config["cv"]
# A file of one trained model: experiment x seed x test fold x validation fold x grid point.
RUN_FILE = (
    "results/experiments/{experiment}/seed_{seed}/fold_{fold}/val_{val}_g{grid}/{name}"
)
PSORTB = config["psortb"]["enabled"]  # PSORTb side by side (workflow/rules/psortb.smk)
# Which comparison variant the summary figures show: DeepLocPro's group remap or raw.
REMAP_VARIANT = "deeplocpro" if config["evaluation"]["group_remap"] else "none"


wildcard_constraints:
    embedder="|".join(EMBEDDERS),
    experiment="|".join(EXPERIMENTS),
    fold=r"\d+",
    shard=r"\d+",
    seed=r"-?\d+",
    val=r"\d+",
    grid=r"\d+",


def raw_fasta():
    """The labelled FASTA: a configured local file, or the downloaded DeepLocPro set."""
    return config["data"]["fasta"] or "results/data/raw/graphpart_set.fasta"


def embed_env(wildcards):
    """Rule embed's conda env: the embedder's kind may need its own (esmc: envs/embed-esmc.yaml)."""
    return f"../../envs/{conda_env(config['embedders'][wildcards.embedder]['kind'])}"


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


def packed_paths(embedder):
    """The memory-mapped array and its index of one embedder (rule pack_embeddings)."""
    return [
        f"results/embeddings/{embedder}/packed.npy",
        f"results/embeddings/{embedder}/packed.tsv",
    ]


def experiment_packed(wildcards):
    """The packed embeddings an experiment's training reads, by embedder (key packed_<name>)."""
    embedders = config["experiments"][wildcards.experiment]["embedders"]
    return {f"packed_{name}": packed_paths(name) for name in embedders}


def embed_settings():
    """`embed:` as the embedding jobs' params, without `extra_shards`: how the extra proteins are
    split into jobs reaches those jobs through their shard plan (an input), and no other embedding
    depends on it, so setting it reruns nothing that exists."""
    return {
        key: value for key, value in config["embed"].items() if key != "extra_shards"
    }


def experiment_checks(wildcards):
    embedders = config["experiments"][wildcards.experiment]["embedders"]
    return expand("results/embeddings/{embedder}/check.json", embedder=embedders)


def run_settings(wildcards):
    """One job's training settings: `training:`, the experiment's and grid point's overrides, its seed."""
    return run_training(
        config, wildcards.experiment, int(wildcards.seed), int(wildcards.grid)
    )


def train_priority(wildcards):
    """Rule train's job priority: 1 + the experiment's `priority` (default 0).

    Training jobs go before the quick jobs that follow them (selection, calibration, figures),
    and a declared higher priority starts an experiment's long jobs first, so that on a few
    cores its last fold does not begin after the short experiments have taken the cores.
    """
    return 1 + config["experiments"][wildcards.experiment].get("priority", 0)


def run_model(wildcards):
    """One job's experiment spec, its params overridden by the grid point."""
    return run_experiment(config, wildcards.experiment, int(wildcards.grid))


def grid_indices(experiment):
    return list(range(len(grid_points(config["experiments"][experiment]["grid"]))))


def runs(experiment, fold):
    """(validation fold, grid point) of every model trained for one test fold and seed."""
    return [
        (val, grid)
        for val in validation_folds(fold, N_FOLDS, CV_SCHEME)
        for grid in grid_indices(experiment)
    ]


def run_outputs(name, experiment, seeds=None):
    """File `name` of every model trained for `experiment` (all seeds by default)."""
    return [
        RUN_FILE.format(
            experiment=experiment, seed=seed, fold=fold, val=val, grid=grid, name=name
        )
        for seed in (SEEDS if seeds is None else seeds)
        for fold in FOLDS
        for val, grid in runs(experiment, fold)
    ]


def seed_run_outputs(name):
    """Input function: file `name` of every model of one (experiment, seed), as the calibrate job reads them."""

    def inputs(wildcards):
        return run_outputs(name, wildcards.experiment, seeds=[wildcards.seed])

    return inputs


def seed_outputs(name, experiment):
    """File `name` of each seed of `experiment` (the calibrate job's outputs)."""
    return expand(
        "results/experiments/{experiment}/seed_{seed}/{name}",
        experiment=experiment,
        seed=SEEDS,
        name=name,
    )


def seed_grid_settings(wildcards):
    """Per grid point, the device and batch size one seed's models ran with: all rule calibrate
    uses of their training settings, so a change to any other setting does not rerun it by itself.
    """
    settings = {
        grid: run_training(config, wildcards.experiment, int(wildcards.seed), grid)
        for grid in grid_indices(wildcards.experiment)
    }
    return {
        grid: {key: value[key] for key in ("device", "batch_size")}
        for grid, value in settings.items()
    }


def candidate_outputs(name):
    """Input function: file `name` of every model a (experiment, seed, test fold) chooses from."""

    def inputs(wildcards):
        fold = int(wildcards.fold)
        return [
            RUN_FILE.format(
                experiment=wildcards.experiment,
                seed=wildcards.seed,
                fold=fold,
                val=val,
                grid=grid,
                name=name,
            )
            for val, grid in runs(wildcards.experiment, fold)
        ]

    return inputs


def bundle_models(experiment):
    """The model files of an experiment's bundle: one per seed, test fold and validation fold."""
    return [
        f"results/bundles/{experiment}/seed_{seed}_fold_{fold}_val_{val}.safetensors"
        for seed in SEEDS
        for fold in FOLDS
        for val in validation_folds(fold, N_FOLDS, CV_SCHEME)
    ]


def fold_outputs(name, experiment=None):
    """File `name` of every (experiment, seed, test fold)."""
    experiments = [experiment] if experiment else EXPERIMENTS
    return expand(
        "results/experiments/{experiment}/seed_{seed}/fold_{fold}/{name}",
        experiment=experiments,
        seed=SEEDS,
        fold=FOLDS,
        name=name,
    )


def predict_explain_outputs():
    """Rule predict's explanation outputs: none unless predict.explain; the plots' folder only
    when predict.explain_ids names proteins (one png and pdf each, named by the encoded ID).
    """
    outputs = {}
    if config["predict"]["explain"]:
        outputs["explanations"] = "results/predictions/{name}/explanations.h5"
    if config["predict"]["explain_ids"]:
        outputs["explain_plots"] = directory("results/predictions/{name}/explanations")
    return outputs


def predict_group_input(wildcards):
    """Rule predict's groups table (predict.groups), as an input so that editing it reruns
    the prediction; none when every protein shares predict.group."""
    groups = config["predict"]["groups"]
    return {"groups": groups} if groups else {}


def figure_outputs(name):
    """Rule figure_<name>'s outputs, from the figure table (locfusion.figures.FIGURES): the png,
    in the report with the table's caption and category, and the pdf."""
    figure = FIGURES[name]
    png, pdf = figure_files(name)
    return {
        "png": report(
            png,
            caption=f"../report/{figure.caption}",
            category=figure.category,
            subcategory=figure.subcategory,
        ),
        "pdf": pdf,
    }


def figure_log(name):
    return f"results/logs/figures/{FIGURES[name].path}.log"


def comparison_predictions(wildcards):
    """Test predictions of every experiment, keyed pred_<experiment> for the script,
    and PSORTb's (forced, and with Unknown kept) when psortb.enabled."""
    inputs = {
        f"pred_{name}": fold_outputs("test_predictions.tsv", name)
        for name in EXPERIMENTS
    }
    if PSORTB:
        inputs["psortb"] = "results/psortb/predictions.tsv"
        inputs["psortb_unknown"] = "results/comparison/psortb_unknown.tsv"
    return inputs


def experiment_selections(wildcards):
    """Every experiment's selection.json of each (seed, test fold), keyed sel_<experiment>."""
    return {f"sel_{name}": fold_outputs("selection.json", name) for name in EXPERIMENTS}


def all_targets():
    targets = [
        "results/comparison/metrics.tsv",
        "results/comparison/validation_choice.tsv",
        "results/comparison/calibration.tsv",
        *figure_targets(EXPERIMENTS, config),
    ]
    for experiment in EXPERIMENTS:
        targets.append(f"results/experiments/{experiment}/summary.json")
        targets.append(f"results/bundles/{experiment}/manifest.json")
    targets.extend(PREDICT_TARGETS)  # predict.smk: none unless predict.fasta is set
    if PSORTB:
        targets.append("results/comparison/psortb_unknown.tsv")
    targets.extend(AUDIT_TARGETS)  # audit.smk: none unless audit.enabled
    targets.extend(THREE_DI_TARGETS)  # embed.smk: 3Di FASTA of prostt5_3di embedders
    targets.extend(EXTRA_TARGETS)  # extra.smk: none unless data.extra_training
    return targets


def attempt_scaled(base):
    """A resource that grows with each retry (memory, runtime) after a kill."""
    return lambda wildcards, attempt: base * attempt


# Extra training proteins (workflow/rules/extra.smk, locfusion.extra): `data.extra_training` lists
# FASTAs of labelled proteins that only ever train; an experiment uses them through its
# `extra_training_size` (0, the default: none). Without both, rule train's inputs are as before.
EXTRA_FASTAS = [entry["fasta"] for entry in config["data"]["extra_training"]]
EXTRA_SPLITS = [
    (fold, val) for fold in FOLDS for val in validation_folds(fold, N_FOLDS, CV_SCHEME)
]
EXTRA_EXPERIMENTS = [
    name
    for name, spec in config["experiments"].items()
    if spec.get("extra_training_size", 0) != 0
]
if EXTRA_EXPERIMENTS and not EXTRA_FASTAS:
    raise WorkflowError(
        f"invalid configuration: experiment '{EXTRA_EXPERIMENTS[0]}' sets extra_training_size "
        "but data.extra_training lists no FASTA"
    )


def extra_split_file(kind, fold, val):
    """results/data/extra_{admitted,excluded}_{split}.tsv of one split (test fold, validation fold)."""
    return f"results/data/extra_{kind}_fold{fold}_val{val}.tsv"


def extra_packed_paths(embedder):
    return [
        f"results/embeddings/{embedder}/extra/packed.npy",
        f"results/embeddings/{embedder}/extra/packed.tsv",
    ]


def uses_extra(wildcards):
    return wildcards.experiment in EXTRA_EXPERIMENTS


def train_dataset(wildcards):
    """dataset.tsv; with extra proteins, followed by the split's admitted extras (pipeline.train_experiment_fold)."""
    if not uses_extra(wildcards):
        return "results/data/dataset.tsv"
    return [
        "results/data/dataset.tsv",
        extra_split_file("admitted", wildcards.fold, wildcards.val),
    ]


def train_shards(wildcards):
    """experiment_shards, plus the extra proteins' shards for an experiment that trains on them."""
    shards = experiment_shards(wildcards)
    if uses_extra(wildcards):
        for name in shards:
            shards[name] = shards[name] + expand(
                "results/embeddings/{embedder}/extra/shard_{shard}.h5",
                embedder=name,
                shard=EXTRA_SHARDS,
            )
    return shards


def train_packed(wildcards):
    """experiment_packed, plus the extra proteins' (array, index) per embedder when it trains on them."""
    packed = experiment_packed(wildcards)
    if uses_extra(wildcards):
        for key in packed:
            packed[key] = packed[key] + extra_packed_paths(key.removeprefix("packed_"))
    return packed


def train_checks(wildcards):
    checks = experiment_checks(wildcards)
    if uses_extra(wildcards):
        checks = checks + [
            f"results/embeddings/{name}/extra/check.json"
            for name in config["experiments"][wildcards.experiment]["embedders"]
        ]
    return checks


# Experiments on a learning curve with extra proteins (same model and inputs, different extra_training_size).
CURVE_EXPERIMENTS = curve_experiments(config["experiments"]) if EXTRA_FASTAS else []
# PSORTb's SCL-BLAST FASTAs for rule psortb_training_set, as configured or the installed root's three.
PSORTB_SCLBLAST = config["psortb"]["sclblast"] or default_sources(
    config["psortb"]["root"]
)
