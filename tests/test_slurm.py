"""The workflow through profiles/slurm on a real one-node SLURM cluster (tests/slurm/slurm_up.sh).

The cluster is started once for this module (the Debian packages are installed if
missing; the tests skip only when they cannot be) and stopped, daemon by daemon,
when the module ends. Runs use profiles/slurm itself, with the fast status polling
of tests/slurm/profile layered over it (--workflow-profile takes precedence).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import debian
from workflow_utils import REPO, SNAKEMAKE, copy_workflow, prepare_small_dag, small_dag_config, write_config

SLURM_DIR = REPO / "tests" / "slurm"
TEST_PROFILE = SLURM_DIR / "profile"
# Distinct values, so that a request reaching SLURM can only have come from its rule.
# Embedding takes both CPUs (shards one after the other), training one (two folds at a time).
EMBED = {"threads": 2, "mem_mb": 1500, "runtime": 5}
# gpu: each train job asks the scheduler for one GPU (training.gpu); with none visible it trains on the CPU.
TRAINING = {"epochs": 2, "patience": 2, "threads": 1, "mem_mb": 1200, "runtime": 6, "gpu": 1}
EXPERIMENT = "attention_pooling"
TARGET = f"results/experiments/{EXPERIMENT}/summary.json"
FOLDS = range(5)

pytestmark = pytest.mark.slow


def slurm_config() -> dict[str, Any]:
    """The shared small DAG's config, one seed, cluster resources: embedding shards and training folds
    become SLURM jobs whose outputs must equal the shared DAG's (tests/conftest.py) bit for bit."""
    config = small_dag_config()
    config["embed"].update(EMBED)
    config["training"].update(TRAINING)
    config["training"]["seeds"] = [42]
    config["predict"]["fasta"] = None
    return config


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[Path]:
    """A running test cluster; SLURM_CONF points the SLURM commands of this process at it."""
    state = Path(tempfile.mkdtemp(prefix="locfusion-slurm-"))
    previous = os.environ.get("SLURM_CONF")
    try:
        if debian.can_install():  # installed in the background since collection; slurm_up.sh then finds it
            debian.require("slurm")
        proc = subprocess.run(["bash", str(SLURM_DIR / "slurm_up.sh"), str(state)], capture_output=True, text=True, timeout=900)
        if proc.returncode == 3:
            pytest.skip(f"SLURM packages cannot be installed here: {proc.stderr.strip()}")
        assert proc.returncode == 0, f"slurm_up.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        os.environ["SLURM_CONF"] = str(state / "slurm.conf")
        yield state
    finally:
        subprocess.run(["bash", str(SLURM_DIR / "slurm_down.sh"), str(state)], capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(state, ignore_errors=True)


def run_on_slurm(work: Path, *args: str, limit: int = 600) -> subprocess.CompletedProcess[str]:
    """snakemake --profile profiles/slurm ..., interrupted with SIGINT (which cancels its jobs) after `limit` s."""
    command = ["timeout", "-s", "INT", "-k", "30", str(limit), SNAKEMAKE,
               "--profile", "profiles/slurm", "--workflow-profile", str(TEST_PROFILE), *args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=limit + 60, env=env)


def slurm_jobs() -> list[dict[str, str]]:
    """Every job the controller still knows (finished ones for MinJobAge), as scontrol's fields."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True).stdout
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]


def jobs_of(jobs: list[dict[str, str]], rule: str, wildcards: str) -> list[dict[str, str]]:
    """The plugin names each job's rule and wildcards in its comment: rule_<rule>_wildcards_<values>."""
    return [job for job in jobs if job.get("Comment") == f"rule_{rule}_wildcards_{wildcards}"]


@pytest.fixture(scope="module")
def runs(slurm_cluster: Path, small_dag: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shared small DAG (run locally) and the same config and target through the SLURM profile
    (embedding with a GPU request)."""
    cluster = copy_workflow(tmp_path_factory.mktemp("slurm"))
    prepare_small_dag(cluster)
    write_config(cluster / "c.yaml", slurm_config())
    started = time.perf_counter()
    proc = run_on_slurm(cluster, TARGET, "--configfile", "c.yaml", "--set-resources", "embed:gpu=1")
    print(f"SLURM run: {time.perf_counter() - started:.0f} s")
    assert proc.returncode == 0, f"SLURM run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return {"local": small_dag, "slurm": cluster, "jobs": slurm_jobs()}


def test_slurm_run_equals_local_run(runs: dict[str, Any]) -> None:
    """Bit-identical fold outputs: same threads (training.threads) in both runs, seeded training."""
    local, cluster = runs["local"], runs["slurm"]
    for k in FOLDS:
        fold = f"results/experiments/{EXPERIMENT}/seed_42/fold_{k}"
        run = f"{fold}/val_{(k + 1) % 5}_g0"
        for name in (f"{run}/test_predictions.tsv", f"{run}/model.safetensors", f"{run}/model.json",
                     f"{fold}/test_predictions.tsv", f"{fold}/metrics.json"):
            assert (cluster / name).read_bytes() == (local / name).read_bytes(), name
        # history.tsv: identical but for the wall-clock seconds of each epoch
        histories = [pd.read_csv(root / run / "history.tsv", sep="\t").drop(columns="seconds") for root in (local, cluster)]
        pd.testing.assert_frame_equal(*histories, check_exact=True)
        log = (cluster / f"results/logs/train/{EXPERIMENT}/seed_42/fold_{k}/val_{(k + 1) % 5}_g0.log").read_text()
        assert f", {TRAINING['threads']} threads" in log  # the job itself ran with the rule's threads
    summary = json.loads((cluster / TARGET).read_text())  # the local run has two seeds, this one seed 42
    assert summary["seeds"] == [42] and summary["per_seed"]["42"] == json.loads((local / TARGET).read_text())["per_seed"]["42"]


def test_heavy_rules_ran_as_slurm_jobs_with_their_rules_resources(runs: dict[str, Any]) -> None:
    jobs = runs["jobs"]
    submitted = {re.sub(r"_wildcards_.*", "", job.get("Comment", "")) for job in jobs}
    # everything else is a localrule; pack_embeddings reads and writes every embedding: a job of its own
    assert submitted == {"rule_embed", "rule_pack_embeddings", "rule_train"}, submitted
    for embedder in ("blosum62", "profile"):
        (job,) = jobs_of(jobs, "pack_embeddings", embedder)
        assert job["JobState"] == "COMPLETED" and job["MinMemoryNode"] == "2000M", job
    for k in FOLDS:
        (job,) = jobs_of(jobs, "train", f"{EXPERIMENT}_42_{k}_{(k + 1) % 5}_0")
        assert job["JobState"] == "COMPLETED", job
        assert job["NumCPUs"] == str(TRAINING["threads"])
        assert job["MinMemoryNode"] == f"{TRAINING['mem_mb']}M"
        assert job["TimeLimit"] == f"00:{TRAINING['runtime']:02d}:00"
        assert job["TresPerJob"] == "gres:gpu:1"  # training.gpu: 1 -> sbatch --gpus=1
    for shard in range(2):
        (job,) = jobs_of(jobs, "embed", f"blosum62_{shard}")
        assert jobs_of(jobs, "embed", f"profile_{shard}")[0]["JobState"] == "COMPLETED"
        assert job["JobState"] == "COMPLETED", job
        assert job["NumCPUs"] == str(EMBED["threads"])
        assert job["MinMemoryNode"] == f"{EMBED['mem_mb']}M"
        assert job["TimeLimit"] == f"00:{EMBED['runtime']:02d}:00"
        assert job["TresPerJob"] == "gres:gpu:1"  # --set-resources embed:gpu=1 -> sbatch --gpus=1


def test_failed_job_is_retried_with_more_resources_then_reported(runs: dict[str, Any]) -> None:
    """A train job that fails on the cluster: resubmitted with doubled memory and time, then the run fails."""
    work = runs["slurm"]
    config = slurm_config()
    config["experiments"]["broken"] = {"model": "attention_pooling", "embedders": ["blosum62"], "params": {"no_such_parameter": 1}}
    write_config(work / "broken.yaml", config)
    target = "results/experiments/broken/seed_42/fold_0/val_1_g0/model.safetensors"
    proc = run_on_slurm(work, "--configfile", "broken.yaml", "--retries", "1", target, limit=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "Error in rule train" in output and "SLURM status is: 'FAILED'" in output, output[-3000:]
    assert "locfusion: error in rule train: model 'attention_pooling': unknown hyperparameter 'no_such_parameter'" in output
    assert not (work / target).exists()
    attempts = sorted(jobs_of(slurm_jobs(), "train", "broken_42_0_1_0"), key=lambda job: int(job["JobId"]))
    assert [job["JobState"] for job in attempts] == ["FAILED", "FAILED"]
    assert [job["MinMemoryNode"] for job in attempts] == [f"{TRAINING['mem_mb'] * a}M" for a in (1, 2)]
    assert [job["TimeLimit"] for job in attempts] == [f"00:{TRAINING['runtime'] * a:02d}:00" for a in (1, 2)]
    # Only the failing job was submitted: the first run's embeddings were reused.
    assert len(jobs_of(slurm_jobs(), "embed", "blosum62_0")) == 1
