"""The workflow itself: planning, linting, formatting, envs, and a real end-to-end demo run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from locfusion.classes import CLASSES
from locfusion.io import read_id_tsv

from workflow_utils import (
    MISSING_LOOKING_IDS,
    REPO,
    SMALL_DAG_AP_EPOCHS,
    SMALL_DAG_SEEDS,
    SNAKEMAKE,
    copy_workflow,
    demo_config,
    job_counts,
    CONDA_NAMES,
    rule_blocks,
    rule_conda_envs,
    rule_env_gaps,
    snakemake,
    write_config,
)

SEEDS = SMALL_DAG_SEEDS


def test_study_dry_run_plans_the_complete_study(tmp_path: Path) -> None:
    """With no data and no weights: download, every shard, 2 experiments x 5 folds, evaluation, figures."""
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml"), "-n", "--cores", "45")
    counts = job_counts(out.stdout + out.stderr)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    shards = config["embed"]["shards"]
    assert counts["download_deeplocpro"] == 1
    assert counts["normalize"] == counts["filter_dataset"] == counts["plan_shards"] == 1
    assert counts["embed"] == shards * len(config["embedders"])
    assert counts["train"] == 2 * 5 and counts["select_models"] == 10 and "evaluate_fold" not in counts
    assert counts["calibrate"] == 2 * len(config["training"]["seeds"]) and counts["evaluate_calibration"] == 2
    assert counts["evaluate_experiment"] == 2 and counts["compare_experiments"] == counts["choose_on_validation"] == 1
    for figure in ("figure_dataset_overview", "figure_confusion", "figure_training_curves", "figure_per_class_mcc", "figure_global_metrics"):
        assert counts[figure] >= 1


def test_the_recommended_setup_plans_esmc_and_3di_beside_the_study(tmp_path: Path) -> None:
    """resources/study_recommended on top of config.yaml: 4 embedders (ESM C and ProstT5-3Di added), the
    study's 2 experiments plus 3 fusion variants, 3 seeds, the 3Di FASTA exported, 4 declared comparisons."""
    overlay = REPO / "resources/study_recommended/config.yaml"
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml"), str(overlay),
                    "-n", "--cores", "45")
    assert out.returncode == 0, out.stderr[-3000:]
    counts = job_counts(out.stdout + out.stderr)
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    added = yaml.safe_load(overlay.read_text())
    kinds = {spec["kind"] for spec in added["embedders"].values()}
    assert kinds == {"esmc", "prostt5_3di"}
    embedders = {**base["embedders"], **added["embedders"]}
    experiments = {**base["experiments"], **added["experiments"]}
    assert len(embedders) == 4 and len(experiments) == 5
    assert counts["embed"] == base["embed"]["shards"] * len(embedders)
    assert counts["export_3di"] == 1
    assert counts["train"] == len(experiments) * len(added["training"]["seeds"]) * 5
    assert counts["evaluate_experiment"] == len(experiments)
    for comparison in added["comparisons"]:
        assert comparison["a"] in experiments and comparison["b"] in experiments


def test_a_45_core_server_keeps_at_least_40_cores_busy_in_each_phase(tmp_path: Path) -> None:
    """profiles/local on config.yaml: embedding and training each fill >= 40 of 45 cores by construction
    (jobs that can run at once, by cores and by the profile's memory, times each job's threads)."""
    profile = yaml.safe_load((REPO / "profiles/local/config.yaml").read_text())
    cores = profile["cores"]
    memory = int(next(r for r in profile["resources"] if r.startswith("mem_mb=")).split("=")[1])
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml"),
                    "--profile", str(REPO / "profiles/local"), "-n")
    jobs: dict[str, list[tuple[int, int]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out.stdout + out.stderr):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule:
            threads = re.search(r"^\s+threads: (\d+)", block, re.M)
            mem = re.search(r"mem_mb=(\d+)", block)
            jobs.setdefault(rule.group(1), []).append((int(threads.group(1)) if threads else 1,
                                                       int(mem.group(1)) if mem else 0))
    assert cores == 45
    for phase in ("embed", "train"):
        threads, mem_mb = jobs[phase][0]
        assert set(jobs[phase]) == {(threads, mem_mb)}
        at_once = min(len(jobs[phase]), cores // threads, memory // max(mem_mb, 1))
        assert at_once * threads >= 40, (phase, len(jobs[phase]), threads, mem_mb, at_once)


def test_seeds_nested_cv_and_a_grid_multiply_the_training_jobs(tmp_path: Path) -> None:
    """3 seeds x 5 test folds x 4 validation folds x 2 grid points for fusion; no grid for attention pooling."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["training"]["seeds"] = [1, 2, 3]
    config["cv"] = "nested"
    config["experiments"]["fusion"]["grid"] = {"training.lr": [1e-4, 3e-4]}
    config["experiments"]["fusion"]["priority"] = 2
    write_config(tmp_path / "nested.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "nested.yaml", "-n", "--cores", "45")
    counts = job_counts(out.stdout + out.stderr)
    assert counts["train"] == 3 * 5 * 4 * 2 + 3 * 5 * 4
    # Scheduling: every train job above the quick jobs (priority 0), fusion's declared 2 above that.
    priorities: dict[str, set[str]] = {}
    for block in re.split(r"^\[.*\]$", out.stdout, flags=re.M):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            experiment = re.search(r"experiment=(\w+)", block)
            key = rule.group(1) + (f"/{experiment.group(1)}" if rule.group(1) == "train" else "")
            priorities.setdefault(key, set()).add((re.search(r"^\s+priority: (\d+)", block, re.M) or [None, "0"])[1])
    assert priorities["train/fusion"] == {"3"} and priorities["train/attention_pooling"] == {"1"}, priorities
    assert priorities["select_models"] == {"0"}
    assert counts["select_models"] == 2 * 3 * 5
    assert counts["export_bundle"] == 2 and counts["compare_experiments"] == 1
    assert counts["calibrate"] == 2 * 3  # one job per experiment and seed, over its 40 (fusion) or 20 models
    assert "results/experiments/fusion/seed_3/fold_4/val_0_g1/model.safetensors" in out.stdout
    assert "results/bundles/fusion/seed_2_fold_0_val_3.safetensors" in out.stdout


def test_figure_rules_all_targets_and_captions_come_from_one_table(tmp_path: Path) -> None:
    """locfusion.figures.FIGURES: one rule per entry, each reading its outputs and log from the entry,
    a caption file for each, and `all` asking for each figure (per experiment, conditional ones when on)."""
    from locfusion.figures import FIGURES

    blocks = rule_blocks()
    assert {name.removeprefix("figure_") for name in blocks if name.startswith("figure_")} == set(FIGURES)
    for name, figure in FIGURES.items():
        body = blocks[f"figure_{name}"]
        assert f'**figure_outputs("{name}")' in body and f'figure_log("{name}")' in body, name
        assert (REPO / "workflow/report" / figure.caption).is_file(), figure.caption
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["audit"] = {"enabled": True}
    write_config(tmp_path / "audit.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "audit.yaml", "-n", "--cores", "45")
    counts = job_counts(out.stdout + out.stderr)
    n_experiments = len(config["experiments"])
    for name, figure in FIGURES.items():
        wanted = figure.needs is None or figure.needs(config)  # e.g. the learning curve: only with extra proteins
        expected = (n_experiments if figure.per_experiment else 1) if wanted else 0
        assert counts.get(f"figure_{name}", 0) == expected, name
    assert "results/figures/homology_audit.pdf" in out.stdout
    assert not FIGURES["extra_learning_curve"].needs(config)  # config.yaml names no extra proteins


def test_a_prostt5_3di_embedder_plans_its_embedding_and_its_3di_fasta(tmp_path: Path) -> None:
    """A prostt5_3di embedder an experiment reads: its shards, and rule export_3di's FASTA among `all`'s targets."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["embedders"]["prostt5_3di"] = {"kind": "prostt5_3di", "model": "Rostlab/ProstT5", "num_beams": 2}
    config["experiments"]["fusion"]["embedders"].append("prostt5_3di")
    write_config(tmp_path / "3di.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "3di.yaml", "-n", "--cores", "45")
    counts = job_counts(out.stdout + out.stderr)
    assert counts["embed"] == config["embed"]["shards"] * 3
    assert counts["export_3di"] == 1 and "results/embeddings/prostt5_3di/3di.fasta" in out.stdout
    config["embedders"]["prostt5_3di"]["num_beams"] = 0
    write_config(tmp_path / "bad.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "bad.yaml", "-n", check=False)
    assert proc.returncode != 0 and "config key 'embedders.prostt5_3di.num_beams'" in proc.stdout + proc.stderr


def test_invalid_config_names_the_key(tmp_path: Path) -> None:
    config = demo_config({"training": {"epochs": "many"}})
    config["data"]["fasta"] = str(REPO / "resources/demo/demo_proteome.fasta")
    write_config(tmp_path / "bad.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "bad.yaml", "-n", check=False)
    assert proc.returncode != 0
    assert "config key 'training.epochs'" in proc.stdout + proc.stderr


def test_lint_is_clean() -> None:
    proc = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_formatted() -> None:
    snakefmt = str(Path(SNAKEMAKE).parent / "snakefmt")
    proc = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_has_log_conda_env_and_heavy_rules_a_benchmark() -> None:
    from packaging.requirements import Requirement

    blocks = rule_blocks()
    assert {"normalize", "filter_dataset", "embed", "train", "evaluate_experiment"} <= set(blocks)
    for name, body in blocks.items():
        assert "\n    log:" in body, f"rule {name} has no log"
        env_paths = rule_conda_envs(body)
        assert env_paths, f"rule {name} has no conda env"
        for env_path in env_paths:
            assert env_path.is_file(), f"rule {name}: {env_path} missing"
            env = yaml.safe_load(env_path.read_text())
            assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
            for dep in env["dependencies"]:
                if isinstance(dep, dict):
                    for pip_dep in dep["pip"]:
                        assert Requirement(pip_dep.split("#")[0].strip()).specifier, pip_dep
                else:
                    assert re.fullmatch(r"[\w.-]+=[\w.]+", dep), f"{env_path.name}: '{dep}' is not pinned"
    for heavy in ("embed", "train"):
        assert "\n    benchmark:" in blocks[heavy]


def test_demo_runs_end_to_end(small_dag: Path) -> None:
    results = small_dag / "results"
    summary = json.loads((results / "data/filter_summary.json").read_text())
    assert summary["kept"] + summary["excluded"] == summary["input"]
    assert summary["excluded"] > 0
    comparison = pd.read_csv(results / "comparison/metrics.tsv", sep="\t")
    assert set(comparison["experiment"]) == {"fusion", "attention_pooling"}
    dataset = read_id_tsv(results / "data/dataset.tsv")
    assert set(MISSING_LOOKING_IDS) <= set(dataset["id"])
    for experiment in ("fusion", "attention_pooling"):
        for seed in SEEDS:
            seed_dir = results / f"experiments/{experiment}/seed_{seed}"
            preds = pd.concat(read_id_tsv(seed_dir / f"fold_{k}/test_predictions.tsv") for k in range(5))
            assert sorted(preds["id"]) == sorted(dataset["id"])  # every kept protein tested exactly once per seed
            assert set(MISSING_LOOKING_IDS) <= set(preds["id"])  # names, never NaN
            for k in range(5):
                manifest = json.loads((seed_dir / f"fold_{k}/val_{(k + 1) % 5}_g0/model.json").read_text())
                assert manifest["test_fold"] == k and manifest["val_fold"] == (k + 1) % 5 and manifest["seed"] == seed
                selection = json.loads((seed_dir / f"fold_{k}/selection.json").read_text())
                assert selection["chosen_grid"] == 0 and len(selection["ensembled"]) == 1
        summary = json.loads((results / f"experiments/{experiment}/summary.json").read_text())
        assert summary["seeds"] == SEEDS and set(summary["per_seed"]) == {str(s) for s in SEEDS}
        bundle = json.loads((results / f"bundles/{experiment}/manifest.json").read_text())
        assert sorted((m["seed"], m["test_fold"]) for m in bundle["folds"]) == [(s, k) for s in SEEDS for k in range(5)]
    # seeds of one experiment are different models, not copies
    first, second = (pd.read_csv(results / f"experiments/fusion/seed_{s}/fold_0/test_predictions.tsv", sep="\t")
                     for s in SEEDS)
    assert not np.allclose(first[list(CLASSES)].to_numpy(), second[list(CLASSES)].to_numpy())
    comparison = pd.read_csv(results / "comparison/metrics.tsv", sep="\t")
    assert set(comparison["n_seeds"]) == {len(SEEDS)}
    bootstrap = pd.read_csv(results / "comparison/bootstrap.tsv", sep="\t")
    assert bootstrap["comparison"].unique().tolist() == ["fusion vs attention pooling"]  # declared in the demo config
    per_group = pd.read_csv(results / "comparison/per_group.tsv", sep="\t")
    assert {"negative", "positive", "archaea"} <= set(per_group["group"])
    for stem in ("dataset_overview", "per_class_mcc", "global_metrics", "fusion/confusion", "fusion/training_curves"):
        for ext in ("png", "pdf"):
            assert (results / f"figures/{stem}.{ext}").stat().st_size > 1000
    log = (results / f"logs/train/fusion/seed_{SEEDS[0]}/fold_0/val_1_g0.log").read_text()
    assert "epoch 1/2" in log


def test_every_model_is_calibrated_on_its_validation_fold(small_dag: Path) -> None:
    """Rule calibrate (one job per experiment and seed): one finite positive temperature per trained
    model, fitted on its validation fold, lowering that fold's NLL (guaranteed: T = 1 is a candidate);
    the tables, figure and bundle carry it."""
    from locfusion.calibration_files import read_calibrated_predictions, read_calibrations

    results = small_dag / "results"
    dataset = read_id_tsv(results / "data/dataset.tsv")
    for experiment in ("fusion", "attention_pooling"):
        temperatures = {}
        for seed in SEEDS:
            seed_dir = results / f"experiments/{experiment}/seed_{seed}"
            fits = read_calibrations([seed_dir / "calibration.json"])
            tables = read_calibrated_predictions([seed_dir / "test_predictions_calibrated.tsv"])
            keys = [(experiment, seed, k, (k + 1) % 5, 0) for k in range(5)]
            assert sorted(fits) == sorted(tables) == keys  # every model of the seed, no other
            for key in keys:
                k = key[2]
                fit = fits[key]
                assert fit["fitted_on"] == f"validation fold {(k + 1) % 5}" and fit["test_fold"] == k
                assert fit["n"] == int((dataset["fold"] == (k + 1) % 5).sum())
                assert np.isfinite(fit["temperature"]) and fit["temperature"] > 0
                assert fit["nll_after"] <= fit["nll_before"]
                assert fit["test_max_abs_difference_to_training"] < 1e-5  # the training job's own test predictions
                plain = read_id_tsv(seed_dir / f"fold_{k}/val_{(k + 1) % 5}_g0/test_predictions.tsv")
                calibrated = tables[key]
                assert calibrated["id"].tolist() == plain["id"].tolist()
                assert (calibrated["predicted"] == plain["predicted"]).all()  # one model's top class never moves
                temperatures[(seed, k)] = fit["temperature"]
            assert (results / f"logs/calibrate/{experiment}/seed_{seed}.log").is_file()
        table = pd.read_csv(results / f"experiments/{experiment}/calibration.tsv", sep="\t", dtype={"seed": str})
        assert table["seed"].tolist() == [str(s) for s in SEEDS] + ["all"]
        pooled = table.set_index("seed").loc["all"]
        assert pooled["n_predictions"] == len(SEEDS) * len(dataset) and pooled["n_models"] == len(SEEDS) * 5
        for column in ("test_ece_before", "test_ece_after", "val_ece_before", "val_ece_after"):
            assert 0 <= pooled[column] <= 1
        assert pooled["val_nll_after"] <= pooled["val_nll_before"]
        bins = pd.read_csv(results / f"experiments/{experiment}/reliability.tsv", sep="\t")
        assert set(bins["probabilities"]) == {"uncalibrated", "calibrated"}
        assert (bins.groupby("probabilities")["n"].sum() == len(SEEDS) * len(dataset)).all()
        for ext in ("png", "pdf"):
            assert (results / f"figures/{experiment}/reliability.{ext}").stat().st_size > 1000
        bundle = json.loads((results / f"bundles/{experiment}/manifest.json").read_text())
        assert {(f["seed"], f["test_fold"]): f["temperature"] for f in bundle["folds"]} == temperatures
    comparison = pd.read_csv(results / "comparison/calibration.tsv", sep="\t")
    assert comparison["experiment"].tolist() == ["fusion", "attention_pooling"]
    summary = json.loads((results / "predictions/query/summary.json").read_text())
    assert summary["probabilities"]["calibrated"] is True
    assert "temperature-calibrated" in (results / "logs/predict/query.log").read_text()


def test_every_figure_of_the_demo_is_readable(small_dag: Path) -> None:
    """Each figure rule checks its layout (locfusion.plots.layout_problems) and logs any problem."""
    logs = sorted((small_dag / "results/logs/figures").rglob("*.log"))
    assert len(logs) >= 7  # dataset overview, per-class MCC, global metrics, CI, and per experiment two
    problems = [f"{log.name}: {line}" for log in logs for line in log.read_text().splitlines() if "layout:" in line]
    assert not problems, problems


def test_every_rule_env_provides_what_its_code_imports(small_dag: Path) -> None:
    """Under --use-conda each rule runs in its own env: a package its code imports must be in that env."""
    assert rule_env_gaps(small_dag) == {}


def read_lock(path: Path) -> dict[str, str]:
    """A pip lock as {conda-style name: version}."""
    lock = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            lock[CONDA_NAMES.get(name.lower(), name.lower()).replace("_", "-")] = version.split(";")[0].strip()
    return lock


def test_conda_envs_pin_the_versions_of_the_lock() -> None:
    """One source of truth: where an env and its lock name the same package, the versions agree.

    The lock is requirements.lock, except for the ESM C env: requirements-esmc.lock (.venv-esmc).
    """
    locks = {name: read_lock(REPO / name) for name in ("requirements.lock", "requirements-esmc.lock")}
    compared = 0
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        lock = locks["requirements-esmc.lock" if env_file.name == "embed-esmc.yaml" else "requirements.lock"]
        for dep in yaml.safe_load(env_file.read_text())["dependencies"]:
            for item in dep["pip"] if isinstance(dep, dict) else [dep]:
                name, version = re.split(r"==|=", item.split("#")[0].strip(), maxsplit=1)
                if name.lower() in lock:
                    compared += 1
                    assert version == lock[name.lower()], f"{env_file.name}: {name} {version}, the lock has {lock[name.lower()]}"
    assert compared >= 30  # torch, numpy, pandas, ... in every env


# Chance is MCC 0. The demo's attention pooling (blosum62 + profile, its own learning rate and
# schedule, shortened to SMALL_DAG_AP_EPOCHS) reached 0.41 pooled in the shared DAG (2026-11-30).
LEARNING_FLOOR_MCC = 0.3


def test_demo_learns_well_above_chance(small_dag: Path) -> None:
    """A change that stops the demo from learning (features, training, batching, labels) fails here."""
    comparison = pd.read_csv(small_dag / "results/comparison/metrics.tsv", sep="\t")
    plain = comparison[comparison["group_remap"] == "none"].set_index("experiment")["mcc_pooled"]  # without the remap
    assert plain["attention_pooling"] >= LEARNING_FLOOR_MCC, plain
    history = pd.read_csv(small_dag / "results/experiments/attention_pooling/seed_42/fold_0/val_1_g0/history.tsv", sep="\t")
    assert len(history) == SMALL_DAG_AP_EPOCHS  # the experiment's own schedule, not the global 2 epochs
    for k in range(5):
        run = f"results/experiments/attention_pooling/seed_{SEEDS[0]}/fold_{k}/val_{(k + 1) % 5}_g0"
        history = pd.read_csv(small_dag / run / "history.tsv", sep="\t")
        assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]  # the training curve falls
        assert history["val_mcc"].max() > history["val_mcc"].iloc[0]  # and validation improves on epoch 1


def test_the_dag_names_the_model_validation_prefers(small_dag: Path) -> None:
    choice = pd.read_csv(small_dag / "results/comparison/validation_choice.tsv", sep="\t")
    comparison = pd.read_csv(small_dag / "results/comparison/metrics.tsv", sep="\t")
    trained = set(comparison["experiment"]) - {"DeepLocPro", "PSORTb"}
    assert set(choice["experiment"]) == trained  # every trained experiment, and no peer
    assert choice["chosen"].sum() == 1
    assert choice.loc[choice["chosen"], "mean_val_mcc"].iloc[0] == choice["mean_val_mcc"].max()
    assert (choice["runs"] == 5 * len(SEEDS)).all()


@pytest.mark.mutates_small_dag(order=2)  # leaves every figure out of date
def test_editing_plot_code_reruns_only_figures(small_dag: Path) -> None:
    plots = small_dag / "workflow/locfusion/plots.py"
    plots.write_text(plots.read_text() + "\n# a change to plotting code only\n")
    future = time.time() + 2
    os.utime(plots, (future, future))
    proc = snakemake(small_dag, "--configfile", "c.yaml", "-n", "--cores", "2")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts, proc.stdout
    from locfusion.figures import FIGURES

    assert {rule for rule in counts if rule != "all"} <= {f"figure_{name}" for name in FIGURES}
    assert "train" not in counts and "embed" not in counts


def test_report_builds(small_dag: Path) -> None:
    snakemake(small_dag, "--configfile", "c.yaml", "--report", "results/report.html", "--cores", "1")
    html = (small_dag / "results/report.html").read_text(errors="replace")
    assert len(html) > 10000 and "confusion" in html.lower()
    assert "Why this localization" in html and "explanations.png" in html  # the explanation figures' category
    # The landing page leads with the headline table, before the description and the workflow graph.
    headline = html.find("Headline: test-fold metrics of every experiment")
    assert 0 <= headline < html.find("locfusion predicts the subcellular localization"), headline
    assert html.find("attention", headline) > 0 and "MCC pooled" in html


def test_bad_fasta_stops_the_run_with_one_line(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    (work / "bad.fasta").write_text(">P1|Cytoplasmic|negative|0\nMKVLAAGLLLAAQPAMAQVDEKLSRWGHNTEIYKDFPQVVKKLL\n>P2|Nucleus|negative|1\nMKVLAAGLLLAAQPAMAQVDEKLSRWGHNTEIYKDFPQ\n")
    config = demo_config()
    config["data"]["fasta"] = "bad.fasta"
    write_config(work / "c.yaml", config)
    proc = snakemake(work, "--configfile", "c.yaml", "--cores", "1", "results/data/proteins.tsv", check=False)
    assert proc.returncode != 0
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.startswith("locfusion: error")]
    assert lines == ["locfusion: error in rule normalize: bad.fasta: record 2 'P2|Nucleus|negative|1': unknown location label 'Nucleus'"]
    assert not (work / "results/data/proteins.tsv").exists()
