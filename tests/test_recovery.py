"""Recovering from failures: killed training resumes, damaged checkpoints are not trusted,
one fold can be rerun alone, and a killed embedding job leaves nothing that looks finished.

The workflow tests run the real workflow (tests/workflow_utils.py): the shared small DAG
(tests/conftest.py) or scratch copies of it, and kill snakemake with all its jobs (SIGKILL
to its process group), as a node failure or an out-of-memory kill would. Killing and
resuming, and retraining a forced fold with everything downstream, take minutes: those
tests are `slow` (make test-slow; CI runs them).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import pandas as pd
import pytest
import torch
from Bio import SeqIO
from safetensors.torch import load_file

from locfusion import training
from locfusion.training import TrainingSettings, train_fold
from test_training import SPEC, toy_sets
from workflow_utils import (
    REPO,
    SNAKEMAKE,
    TINY_FUSION,
    copy_workflow,
    demo_config,
    job_counts,
    small_dag_config,
    snakemake,
    write_config,
)

RUN_FILES = ("model.safetensors", "model.json", "history.tsv", "test_predictions.tsv")  # one trained model
FOLD_FILES = ("test_predictions.tsv", "selection.json", "metrics.json")  # its test fold, for one seed
SEED_FILES = ("calibration.json", "test_predictions_calibrated.tsv")  # every model of one seed (rule calibrate)


def fold_paths(experiments: Path, experiment: str, k: int) -> list[Path]:
    """Every file of test fold k of seed 42 (the demo's), single validation fold (k+1) mod 5."""
    fold = experiments / experiment / "seed_42" / f"fold_{k}"
    return [fold / f"val_{(k + 1) % 5}_g0" / n for n in RUN_FILES] + [fold / n for n in FOLD_FILES]


def seed_paths(experiments: Path, experiment: str) -> list[Path]:
    """The calibration files of seed 42, shared by its test folds."""
    return [experiments / experiment / "seed_42" / n for n in SEED_FILES]


def small_config(**training_settings: Any) -> dict[str, Any]:
    """The demo on BLOSUM62 only, with a tiny fusion model (for the killed embedding job)."""
    config = demo_config({"training": {"epochs": 2, "patience": 2, "threads": 1, **training_settings}})
    config["embedders"] = {"blosum62": {"kind": "blosum62"}}
    # --configfile is merged into config.yaml: both of its experiment names exist, so both are redefined.
    config["experiments"] = {
        "fusion": {"model": "fusion", "embedders": ["blosum62"], "params": TINY_FUSION},
        "attention_pooling": {"model": "attention_pooling", "embedders": ["blosum62"], "params": {"hidden_dim": 32}},
    }
    config["predict"]["fasta"] = None  # the demo's prediction of new proteins is not what is tested here
    return config


def clone(work: Path, dest: Path) -> Path:
    """A copy of a workflow directory with its results and snakemake's metadata (mtimes kept)."""
    shutil.copytree(work, dest, symlinks=True)
    return dest


def snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def start_snakemake(work: Path, *args: str) -> subprocess.Popen[bytes]:
    """snakemake in its own process group, so that it can be killed together with its jobs."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with open(work / "killed_run.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([SNAKEMAKE, *args], cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], poll: float, timeout: float = 240) -> None:
    """SIGKILL snakemake and every job it started as soon as `ready()` holds (checked every `poll` s)."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"snakemake ended ({proc.returncode}) before it could be killed mid-run")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the moment to kill snakemake")
            time.sleep(poll)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


# ----------------------------------------------------------------- checkpoints (no workflow)


def test_corrupt_checkpoint_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train, val = toy_sets()
    settings = TrainingSettings(epochs=3, patience=3, batch_size=16, lr=3e-3, seed=5)
    fresh, _, _ = train_fold(SPEC, settings, train, val, tmp_path / "fresh.pt")
    complete = (tmp_path / "fresh.pt").read_bytes()
    for name, damaged in (("garbage", b"not a checkpoint" * 100), ("truncated", complete[: len(complete) // 2])):
        path = tmp_path / f"{name}.pt"
        path.write_bytes(damaged)
        caplog.clear()
        model, history, result = train_fold(SPEC, settings, train, val, path)
        assert result.resumed_from == 0 and len(history) == 3
        assert any("ignoring unreadable checkpoint" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
        for key, value in fresh.state_dict().items():
            assert torch.equal(value, model.state_dict()[key]), (name, key)
        assert torch.load(path, weights_only=True)["epoch"] == 3  # replaced by a good one


def test_half_written_checkpoint_never_replaces_the_last_good_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save killed half-way leaves the previous checkpoint in place; its temporary file is never read."""
    train, val = toy_sets()
    settings = TrainingSettings(epochs=5, patience=5, batch_size=16, lr=3e-3, seed=5)
    reference, _, _ = train_fold(SPEC, settings, train, val, tmp_path / "reference.pt")
    path = tmp_path / "checkpoint.pt"
    real_save = torch.save

    def save_half_then_die(state: dict[str, Any], tmp: Path) -> None:
        if state["epoch"] < 4:
            return real_save(state, tmp)
        real_save(state, tmp)
        with open(tmp, "r+b") as handle:
            handle.truncate(os.path.getsize(tmp) // 2)
        raise KeyboardInterrupt("simulated kill while writing the checkpoint of epoch 4")

    monkeypatch.setattr(training.torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_fold(SPEC, settings, train, val, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoint.pt.")] == []  # temporary removed
    # What a SIGKILL (no clean-up) would leave beside it: a stray, half-written temporary file.
    stray = tmp_path / ".checkpoint.pt.kill.tmp"
    stray.write_bytes(path.read_bytes()[:1000])
    resumed, _, result = train_fold(SPEC, settings, train, val, path)
    assert result.resumed_from == 3
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# ----------------------------------------------------------------- workflow


@pytest.mark.slow
def test_killed_training_job_resumes_from_its_last_epoch(small_dag: Path, tmp_path: Path) -> None:
    """SIGKILL snakemake and the training job mid-run; the documented rerun continues, not restarts."""
    epochs = 10
    target = "results/experiments/attention_pooling/seed_42/fold_0/val_1_g0"
    works = {name: clone(small_dag, tmp_path / name) for name in ("killed", "reference")}
    for work in works.values():
        shutil.rmtree(work / "results/experiments")
        shutil.rmtree(work / "results/checkpoints")
        write_config(work / "long.yaml", small_dag_config(epochs=epochs, patience=epochs, t0=epochs))
    args = ("--configfile", "long.yaml", "--cores", "1", f"{target}/model.safetensors")
    snakemake(works["reference"], *args)

    work = works["killed"]
    checkpoint = work / "results/checkpoints/attention_pooling/seed_42/fold_0/val_1_g0/checkpoint.pt"

    def three_epochs_saved() -> bool:
        try:
            return torch.load(checkpoint, weights_only=True)["epoch"] >= 3
        except FileNotFoundError:
            return False

    kill_when(start_snakemake(work, *args), three_epochs_saved, poll=0.05)
    last_saved = torch.load(checkpoint, weights_only=True)["epoch"]
    log = work / "results/logs/train/attention_pooling/seed_42/fold_0/val_1_g0.log"
    logged = [int(n) for n in re.findall(rf"epoch (\d+)/{epochs} ", log.read_text())]
    assert 3 <= last_saved < epochs and logged[-1] in (last_saved, last_saved + 1), (last_saved, logged)
    assert not (work / target / "model.safetensors").exists()

    # README, "Recovering from failures": unlock, then rerun with --rerun-incomplete.
    snakemake(work, "--unlock", *args)
    snakemake(work, "--rerun-incomplete", *args)
    text = log.read_text()
    assert f"resuming from checkpoint after epoch {last_saved}" in text
    assert [int(n) for n in re.findall(rf"epoch (\d+)/{epochs} ", text)] == list(range(last_saved + 1, epochs + 1))

    ref = works["reference"] / target
    resumed, expected = load_file(str(work / target / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert resumed.keys() == expected.keys()
    for key in expected:
        assert torch.equal(resumed[key], expected[key]), key
    assert (work / target / "test_predictions.tsv").read_bytes() == (ref / "test_predictions.tsv").read_bytes()
    histories = [pd.read_csv(root / "history.tsv", sep="\t").drop(columns="seconds") for root in (work / target, ref)]
    pd.testing.assert_frame_equal(*histories, check_exact=True)


def planned_jobs(dry_run_output: str) -> list[dict[str, str]]:
    """The jobs of a dry run: rule, wildcards and reason of each."""
    jobs: list[dict[str, str]] = []
    for line in dry_run_output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line)
        if match:
            jobs.append({"rule": match.group(1), "wildcards": "", "reason": ""})
        elif jobs and (field := re.match(r"^\s+(wildcards|reason): (.*)$", line)):
            jobs[-1][field.group(1)] = field.group(2)
    return jobs


@pytest.mark.slow
@pytest.mark.mutates_small_dag(order=1)  # leaves the DAG complete
def test_forcing_one_fold_reruns_only_that_fold_and_what_depends_on_it(small_dag: Path) -> None:
    """README, "Recovering from failures": retrain fold 2 of fusion from scratch; the other folds keep their files.

    Runs in the fixture's directory itself: the figure rules take the plotting code's
    absolute path as an input, so in a moved copy they would rerun anyway.
    """
    work = small_dag
    experiments = work / "results/experiments"
    fold_files = {exp: {k: fold_paths(experiments, exp, k) for k in range(5)}
                  for exp in ("fusion", "attention_pooling")}
    untouched = [p for exp, folds in fold_files.items() for k, paths in folds.items() if (exp, k) != ("fusion", 2) for p in paths]
    untouched += [experiments / "attention_pooling/summary.json", *(work / "results/figures/attention_pooling").iterdir(),
                  *(work / "results/figures").glob("dataset_overview.*"), *seed_paths(experiments, "attention_pooling")]
    before = snapshot(untouched)
    # The seed's calibrate job reruns for all its models: the retrained one is the same, so are its files.
    rerun = snapshot(fold_files["fusion"][2] + seed_paths(experiments, "fusion"))

    shutil.rmtree(work / "results/checkpoints/fusion/seed_42/fold_2")  # train from scratch, not from its final checkpoint
    args = ("--configfile", "c.yaml", "--cores", "2", "--forcerun",
            "results/experiments/fusion/seed_42/fold_2/val_3_g0/model.safetensors")
    dry_run = snakemake(work, "-n", *args)
    plan = planned_jobs(dry_run.stdout + dry_run.stderr)
    rules = [job["rule"] for job in plan]
    for rule in ("train", "select_models", "evaluate_experiment", "compare_experiments",
                 "figure_confusion", "figure_training_curves", "figure_per_class_mcc", "figure_global_metrics",
                 "calibrate", "evaluate_calibration", "compare_calibration", "figure_reliability"):
        assert rules.count(rule) == 1, (rule, rules)
    assert {job["rule"]: job["wildcards"] for job in plan
            if job["rule"] in ("train", "select_models", "calibrate")} == {
        "train": "experiment=fusion, seed=42, fold=2, val=3, grid=0", "select_models": "experiment=fusion, seed=42, fold=2",
        "calibrate": "experiment=fusion, seed=42"}
    for job in plan:  # nothing else: every job is forced or reads what a rerun job writes
        assert "attention_pooling" not in job["wildcards"], job
        assert job["reason"].startswith(("Forced execution", "Input files updated by another job")), job

    snakemake(work, *args)
    assert snapshot(untouched) == before
    for path, (content, mtime) in rerun.items():
        assert path.stat().st_mtime_ns > mtime, path
        if path.name != "history.tsv":  # retrained from scratch: the same model, bit for bit
            assert path.read_bytes() == content, path
    assert "epoch 1/2" in (work / "results/logs/train/fusion/seed_42/fold_2/val_3_g0.log").read_text()
    again = snakemake(work, "-n", "--configfile", "c.yaml", "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_killed_embedding_job_leaves_no_shard_and_only_that_shard_reruns(tmp_path: Path) -> None:
    """SIGKILL while one shard is being made: no file at its path; the rerun redoes only that shard."""
    work = copy_workflow(tmp_path / "wf")
    # The demo proteome 8 times over (new ids, duplicates kept) makes a shard take a second or
    # so (embedded in memory, then written in one piece), long enough to be caught in the act.
    with open(work / "big.fasta", "w") as out:
        for copy in range(8):
            for record in SeqIO.parse(REPO / "resources/demo/demo_proteome.fasta", "fasta"):
                pid, rest = record.id.split("|", 1)
                out.write(f">{pid}_{copy}|{rest}\n{record.seq}\n")
    config = small_config()
    config["data"]["fasta"] = "big.fasta"
    config["filter"]["deduplicate"] = False
    write_config(work / "c.yaml", config)
    store = work / "results/embeddings/blosum62"
    shards = [store / f"shard_{i}.h5" for i in range(2)]
    logs = [work / f"results/logs/embed/blosum62/shard_{i}.log" for i in range(2)]
    args = ("--configfile", "c.yaml", "--cores", "1", *(str(s.relative_to(work)) for s in shards))

    def one_shard_done_and_the_other_started() -> bool:
        return any(s.exists() for s in shards) and all(log.exists() for log in logs)

    kill_when(start_snakemake(work, *args), one_shard_done_and_the_other_started, poll=0.005)
    done = [s for s in shards if s.exists()]
    assert len(done) == 1, "both shards finished before the kill"
    (killed,) = set(shards) - set(done)
    for leftover in store.glob(".shard_*.tmp"):  # if the kill fell in the final write: never marked complete
        try:
            with h5py.File(leftover, "r", locking=False) as h5:
                assert not h5.attrs.get("complete", False)
        except OSError:
            pass  # not even a readable HDF5 file
    finished = snapshot(done)

    snakemake(work, "--unlock", *args)
    plan = snakemake(work, "-n", "--rerun-incomplete", *args)
    assert job_counts(plan.stdout + plan.stderr) == {"embed": 1}
    assert re.findall(r"wildcards: embedder=blosum62, shard=(\d+)", plan.stdout + plan.stderr) == [killed.stem.split("_")[1]]
    snakemake(work, "--rerun-incomplete", *args)
    assert snapshot(done) == finished
    with h5py.File(killed, "r", locking=False) as h5:
        assert h5.attrs["complete"] and h5.attrs["n_proteins"] > 0
