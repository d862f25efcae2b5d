"""Kind esmc (ESM C through EvolutionaryScale's esm), on a tiny randomly initialised ESM C.

EvolutionaryScale's `esm` cannot be imported beside fair-esm's (this process has
fair-esm), so the embedder's own checks run in .venv-esmc (tests/esmc_checks.py,
JSON back). Making that venv takes minutes, so the tests that need it are in the slow
tier: `make test-slow` and `make test TESTS=all` (CI) make it first, and the fixture
below makes it when pytest is run alone. The hand-off of a shard from this interpreter to that
one (locfusion.embed_job) is tested from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from locfusion.embed_job import OWN_INTERPRETER, conda_env, interpreter_for
from locfusion.errors import InputError
from locfusion.pipeline import embed_shard
from locfusion.store import EmbeddingReader, load_embeddings

from workflow_utils import copy_workflow, demo_config, rule_env_gaps, snakemake, write_config

REPO = Path(__file__).resolve().parents[1]
ESMC_PYTHON = REPO / ".venv-esmc" / "bin" / "python"
CHECKS = Path(__file__).with_name("esmc_checks.py")
TINY_DIM = 128


@pytest.fixture(scope="module")
def esmc_python() -> Path:
    """The interpreter of .venv-esmc, made by the Makefile when missing (minutes: see the README)."""
    proc = subprocess.run(["make", "-s", "venv-esmc"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"make venv-esmc failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert ESMC_PYTHON.is_file()
    return ESMC_PYTHON


def check(python: Path, name: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run one check of tests/esmc_checks.py in .venv-esmc and return its JSON."""
    environ = {**os.environ, "PYTHONPATH": f"{REPO / 'workflow'}{os.pathsep}{REPO / 'tests'}", **(env or {})}
    proc = subprocess.run([str(python), str(CHECKS), name, *args], capture_output=True, text=True, timeout=600,
                          env=environ)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_weights(esmc_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("esmc") / "esmc_tiny.pth"
    made = check(esmc_python, "make_tiny", str(path))
    assert made["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    return path


@pytest.fixture(scope="module")
def checked(esmc_python: Path, tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The embedder's checks in one .venv-esmc process (offline: no Hugging Face download is tried)."""
    scratch = tmp_path_factory.mktemp("esmc_checks")
    calls = [["embed", str(tiny_weights)], ["crop", str(tiny_weights), str(scratch / "shard.h5")],
             ["package_shapes"], ["named_through_same_loader", str(tiny_weights), str(scratch / "snapshot")],
             ["errors", str(tiny_weights), str(scratch)]]
    out = check(esmc_python, "several", json.dumps(calls), env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(scratch / "hf")})
    return {**out, "scratch": scratch}


@pytest.mark.slow
def test_esmc_rows_shape_determinism_and_provenance(checked: dict, tiny_weights: Path) -> None:
    out = checked["embed"]
    assert out["dim"] == TINY_DIM and out["dtype"] == "float32"
    assert out["shapes"] == [[n, TINY_DIM] for n in out["lengths"]]  # L x D for lengths 2 to 81
    assert out["manual_rows"] == [n + 2 for n in out["lengths"]]  # the model itself gives BOS and EOS rows too
    assert out["max_diff_manual_stripped"] < 1e-5  # ours are its rows 1..L: no BOS, no EOS
    assert out["min_diff_manual_shifted"] > 1e-2  # (and the comparison can tell a one-row shift)
    assert out["max_diff_repeat"] == 0.0 and out["max_diff_rebuilt"] == 0.0  # deterministic
    assert out["max_diff_batched_single"] < 1e-4  # padding does not leak into a shorter protein
    prov = out["provenance"]
    assert prov["kind"] == "esmc" and prov["dim"] == TINY_DIM and prov["n_heads"] == 2 and prov["n_layers"] == 2
    assert prov["weights_sha256"] == hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    assert prov["weights"] == str(tiny_weights.resolve()) and prov["esm_version"] == "3.2.1.post1"
    assert out["max_residues"] == 2046


@pytest.mark.slow
def test_esmc_crops_a_long_protein_through_the_store(checked: dict) -> None:
    out = checked["crop"]
    assert out["length"] > out["max_residues"] == out["stored_rows"]  # N- and C-terminal halves kept
    assert out["max_diff_stored_direct"] < 5e-3  # the stored rows are the cropped protein's (float16)
    assert f"more than the model's limit of {out['max_residues']}" in out["uncropped_error"]


@pytest.mark.slow
def test_esmc_released_shapes_are_the_packages(checked: dict) -> None:
    """NAMED_MODELS agrees with what esm.pretrained builds (shape) and reads (file) for each name."""
    out = checked["package_shapes"]
    assert set(out) == {"esmc_300m", "esmc_600m"}
    for name, sides in out.items():
        assert sides["package"] == sides["ours"], name
    assert out["esmc_300m"]["ours"]["shape"] == [960, 15, 30] and out["esmc_600m"]["ours"]["shape"] == [1152, 18, 36]


@pytest.mark.slow
def test_esmc_name_and_path_share_the_loader(checked: dict) -> None:
    out = checked["named_through_same_loader"]
    assert "not esmc_300m's ESMCShape(d_model=960, n_heads=15, n_layers=30)" in out["wrong_shape"]
    assert out["max_diff_name_path"] == 0.0 and out["sha_name"] == out["sha_path"]
    assert out["weights_name"].endswith("data/weights/esmc_300m_2024_12_v0.pth")


@pytest.mark.slow
def test_esmc_bad_models_are_one_clear_line(checked: dict) -> None:
    out = checked["errors"]
    assert all(msg and "\n" not in msg for msg in out.values()), out
    assert out["missing"] == f"ESM C weights not found: {checked['scratch'] / 'missing.pth'}"
    assert "not a loadable ESM C state dict" in out["not_torch"]
    assert "not an ESM C state dict (no 'embed.weight' tensor)" in out["not_esmc"]
    assert "neither a released name (esmc_300m, esmc_600m) nor an existing weights file" in out["unknown_name"]
    assert out["offline_name"].startswith("ESM C model 'esmc_600m' is not in the Hugging Face cache")


def shard_inputs(tmp_path: Path, proteins: dict[str, str]) -> tuple[str, str]:
    dataset, shards = tmp_path / "dataset.tsv", tmp_path / "shards.tsv"
    ids = list(proteins)
    lengths = [len(s) for s in proteins.values()]
    pd.DataFrame({"id": ids, "sequence": list(proteins.values()), "length": lengths, "label": "Cytoplasmic",
                  "fold": 0}).to_csv(dataset, sep="\t", index=False)
    pd.DataFrame({"id": ids, "length": lengths, "shard": 0}).to_csv(shards, sep="\t", index=False)
    return str(dataset), str(shards)


EMBED_SETTINGS = {"tokens_per_batch": 64, "device": "cpu", "precision": "fp32"}
FILTER_SETTINGS = {"max_length": 1000, "long_policy": "drop"}


@pytest.mark.slow
def test_embed_shard_hands_esmc_to_its_own_interpreter(esmc_python: Path, tiny_weights: Path, tmp_path: Path) -> None:
    """From this interpreter (fair-esm's esm), rule embed's embed_shard runs an esmc shard in .venv-esmc."""
    assert interpreter_for("esmc", {"esmc_python": str(esmc_python)}) == esmc_python
    assert interpreter_for("esm2", {"esmc_python": str(esmc_python)}) is None
    proteins = {"P1": "MKTAYIAKQRQISFVKSHFSRQ", "P2": "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "P3": "MA"}
    dataset, shards = shard_inputs(tmp_path, proteins)
    out = tmp_path / "shard_0.h5"
    embed_shard(dataset, shards, 0, "esmc_tiny", {"kind": "esmc", "model": str(tiny_weights)},
                {**EMBED_SETTINGS, "esmc_python": str(esmc_python)}, FILTER_SETTINGS, str(out), threads=1)
    arrays = load_embeddings([out])
    assert {pid: a.shape for pid, a in arrays.items()} == {pid: (len(s), TINY_DIM) for pid, s in proteins.items()}
    with EmbeddingReader([out]) as reader:
        assert reader.shard_attrs[0]["weights_sha256"] == hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    # The child's one-line input error comes back as this process's InputError.
    with pytest.raises(InputError, match=r"^ESM C weights not found: .*nowhere\.pth$"):
        embed_shard(dataset, shards, 0, "esmc_tiny", {"kind": "esmc", "model": str(tmp_path / "nowhere.pth")},
                    {**EMBED_SETTINGS, "esmc_python": str(esmc_python)}, FILTER_SETTINGS, str(tmp_path / "x.h5"),
                    threads=1)
    assert not (tmp_path / "x.h5").exists()


def test_esmc_without_its_interpreter_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"embed\.esmc_python .* is no interpreter file: run `make venv-esmc`"):
        interpreter_for("esmc", {"esmc_python": str(tmp_path / "no-venv/bin/python")})


def test_rule_embed_picks_the_esmc_conda_env() -> None:
    """Under --use-conda rule embed's env follows the kind: envs/embed-esmc.yaml for esmc, embed.yaml else."""
    assert conda_env("esmc") == "embed-esmc.yaml" and conda_env("esm2") == conda_env("onehot") == "embed.yaml"
    assert set(OWN_INTERPRETER) == {"esmc"}
    rule = (REPO / "workflow/rules/embed.smk").read_text().split("rule embed:")[1].split("\nrule ")[0]
    assert "conda:\n        embed_env\n" in rule
    common = (REPO / "workflow/rules/common.smk").read_text()
    assert "def embed_env(wildcards):" in common and "conda_env(config['embedders'][wildcards.embedder]['kind'])" in common
    assert (REPO / "envs/embed-esmc.yaml").is_file() and os.access(REPO / "envs/embed-esmc.post-deploy.sh", os.X_OK)


@pytest.mark.slow
def test_rule_embed_runs_an_esmc_embedder_in_its_venv(esmc_python: Path, tiny_weights: Path, tmp_path: Path) -> None:
    """Snakemake (with .venv's Python, fair-esm) runs rule embed for an esmc embedder: the shards come from
    .venv-esmc (the rule's log says so), check_embeddings passes; a bad weights path fails in one line."""
    work = copy_workflow(tmp_path / "wf")
    embed = {"shards": 1, "threads": 1, "esmc_python": str(esmc_python)}
    good = demo_config({"embedders": {"esmc_tiny": {"kind": "esmc", "model": str(tiny_weights)}}, "embed": embed})
    write_config(work / "good.yaml", good)
    target = "results/embeddings/esmc_tiny/check.json"
    snakemake(work, "--configfile", "good.yaml", "--cores", "2", target)
    summary = json.loads((work / target).read_text())  # check_embeddings: every protein has its rows
    n_kept = len(pd.read_csv(work / "results/data/dataset.tsv", sep="\t"))
    assert summary["n_shards"] == 1 and summary["n_proteins"] == n_kept > 0 and summary["dim"] == TINY_DIM
    with EmbeddingReader(sorted((work / "results/embeddings/esmc_tiny").glob("shard_*.h5"))) as reader:
        assert reader.dim == TINY_DIM and reader.provenance["kind"] == "esmc"
        assert reader.shard_attrs[0]["weights_sha256"] == hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    log = (work / "results/logs/embed/esmc_tiny/shard_0.log").read_text()
    assert f"embedding in {esmc_python}" in log and "embedder esmc_tiny on cpu" in log
    # What the jobs imported (rule embed: .venv's side of the hand-off) is in their conda envs, embed-esmc.yaml for embed.
    assert rule_env_gaps(work, {"embed": REPO / "envs/embed-esmc.yaml"}) == {}

    bad = demo_config({"embedders": {"esmc_bad": {"kind": "esmc", "model": str(tmp_path / "gone.pth")}}, "embed": embed})
    write_config(work / "bad.yaml", bad)
    proc = snakemake(work, "--configfile", "bad.yaml", "--cores", "1", "results/embeddings/esmc_bad/shard_0.h5",
                     check=False)
    assert proc.returncode != 0
    message = f"locfusion: error in rule embed: ESM C weights not found: {tmp_path / 'gone.pth'}"
    assert message in proc.stdout + proc.stderr


def test_esmc_built_outside_its_venv_is_one_line_naming_the_package() -> None:
    """In .venv (fair-esm's `esm`), building an esmc embedder, as locfusion predict would, names the
    package it needs and says that only rule embed hands the work to .venv-esmc."""
    from locfusion.embedders import build_embedder

    with pytest.raises(InputError) as caught:
        build_embedder("esmc_300m", {"kind": "esmc"})
    message = str(caught.value)
    assert "\n" not in message
    assert "EvolutionaryScale's esm" in message and "locfusion predict" in message
