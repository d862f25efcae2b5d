"""Explanations: per-residue attention and gate weights, their HDF5 file, annotations and track plots.

Model-level properties use small random models (tests/test_models.py's helpers);
the prediction path uses a real tiny fusion bundle trained on demo proteins through
the rules' library calls (tests/test_predict.py, `library_bundle`).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from test_models import make_batch, small_model
from test_predict import DEMO_FASTA, assert_one_line_error, cli, fasta_records, library_bundle
from workflow_utils import TINY_FUSION

from locfusion.annotations import (
    KD_THRESHOLD,
    KD_WINDOW,
    hydropathy_profile,
    hydrophobic_stretches,
    signal_like_region,
)
from locfusion.classes import CLASSES
from locfusion.errors import InputError
from locfusion.explain import (
    EXPLANATION_FILE,
    explain_models,
    explanation_plot_stem,
    read_explanations,
    select_examples,
)
from locfusion.models.layers import length_mask
from locfusion.predict import PredictOptions, predict_proteome
from locfusion.idnames import dataset_name

LENGTHS = [1, 180, 9, 57, 2]


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("kind,dims", [("fusion", (20, 12)), ("fusion", (20, 12, 7)), ("fusion", (20,)),
                                       ("attention_pooling", (20, 12))])
def test_explain_returns_the_forward_logits_bit_for_bit(kind: str, dims: tuple[int, ...]) -> None:
    model = small_model(kind, dims).eval()
    inputs, lens = make_batch(dims, LENGTHS, max_len=200)
    with torch.no_grad():
        plain = model(inputs, lens)
        explained, record = model.explain(inputs, lens)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the bf16 path of prediction, too
            plain_bf16 = model(inputs, lens)
            explained_bf16, _ = model.explain(inputs, lens)
    assert torch.equal(plain, explained)
    assert torch.equal(plain_bf16, explained_bf16)
    heads = 4 if kind == "fusion" else 1
    assert record["attention"].shape == (len(LENGTHS), heads, 200)
    assert ("gate" in record) == (kind == "fusion" and len(dims) > 1)


@pytest.mark.parametrize("kind", ["fusion", "attention_pooling"])
def test_attention_sums_to_one_over_real_residues_and_is_zero_beyond(kind: str) -> None:
    dims = (20, 12)
    model = small_model(kind, dims).eval()
    inputs, lens = make_batch(dims, LENGTHS, max_len=200, pad_value="noise")
    with torch.no_grad():
        _, record = model.explain(inputs, lens)
    attention = record["attention"]
    valid = length_mask(lens, 200).unsqueeze(1).expand_as(attention)
    assert bool((attention[~valid] == 0).all())
    assert bool((attention >= 0).all())
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.shape[:2]), atol=1e-6, rtol=0)
    assert attention[1].std(dim=-1).max() > 0  # not uniform: the weights come from the scores


def test_fusion_gate_is_a_softmax_over_the_embedders() -> None:
    dims = (20, 12, 7)
    model = small_model("fusion", dims).eval()
    inputs, lens = make_batch(dims, LENGTHS, max_len=200)
    with torch.no_grad():
        _, record = model.explain(inputs, lens)
    gate = record["gate"]
    assert gate.shape == (len(LENGTHS), 200, 3)
    assert bool(((gate >= 0) & (gate <= 1)).all())
    torch.testing.assert_close(gate.sum(-1), torch.ones(gate.shape[:2]), atol=1e-6, rtol=0)
    assert gate[1, :180].std(dim=0).min() > 0  # varies along the protein


# ----------------------------------------------------------------------------- annotations


POLAR = "MSDKNQETSGRDEKSTNQ" * 6


def test_hydrophobic_stretch_finds_a_planted_helix_and_nothing_in_a_polar_protein() -> None:
    seq = POLAR[:50] + "L" * 20 + POLAR[50:]
    stretches = hydrophobic_stretches(seq)
    assert len(stretches) == 1
    found = stretches[0]
    assert found.start <= 50 and found.end >= 70  # covers the planted residues
    assert found.start > 50 - KD_WINDOW and found.end < 70 + KD_WINDOW  # and stays near them
    assert hydrophobic_stretches(POLAR) == []
    assert hydrophobic_stretches("L" * 10) == []  # shorter than one window
    profile = hydropathy_profile(seq)
    assert np.isnan(profile[: KD_WINDOW // 2]).all() and np.isnan(profile[-(KD_WINDOW // 2):]).all()
    assert profile[60] == pytest.approx(3.8)  # leucine's hydropathy, from Biopython's Kyte-Doolittle table
    above = np.flatnonzero(profile >= KD_THRESHOLD)  # the plotted profile agrees with the call
    assert above.min() - KD_WINDOW // 2 == found.start and above.max() + KD_WINDOW // 2 + 1 == found.end


def test_signal_like_region_needs_a_positive_n_region_and_an_early_h_region() -> None:
    ompa = "MKKTAIAIAVALAGFATVAQA" + POLAR  # E. coli OmpA's signal peptide
    n_region, h_region = signal_like_region(ompa)
    assert n_region.start == 0 and 1 <= h_region.start <= 5 and h_region.end <= 30
    assert signal_like_region(POLAR) is None
    assert signal_like_region("MDDTAIAIAVALAGFATVAQA" + POLAR) is None  # negative n-region
    assert signal_like_region("M" + POLAR[:40] + "AIAIAVALAGFA" + POLAR) is None  # h-region too late


# ----------------------------------------------------------------------------- selection


def test_examples_are_the_most_confident_correct_per_class_deterministically() -> None:
    rows = []
    for k, cls in enumerate(CLASSES):
        for j, p in enumerate([0.9, 0.8, 0.8, 0.3]):
            probs = {c: (1 - p) / 5 for c in CLASSES} | {cls: p}
            rows.append({"id": f"{cls[:3]}{j}", "fold": k % 5, "group": "negative", "true": cls, **probs})
    wrong = {c: 0.0 for c in CLASSES} | {CLASSES[0]: 0.99}
    rows.append({"id": "zzz", "fold": 0, "group": "negative", "true": CLASSES[1], **wrong})
    table = pd.DataFrame(rows)
    chosen = select_examples(pd.concat([table, table]), 2)  # two "seeds" with the same numbers
    assert len(chosen) == 2 * len(CLASSES)
    for cls in CLASSES:
        assert chosen[chosen["true"] == cls]["id"].tolist() == [f"{cls[:3]}0", f"{cls[:3]}1"]  # 0.8 tie: smaller ID
    assert "zzz" not in set(chosen["id"])  # confident but wrong


# ----------------------------------------------------------------------------- a real tiny bundle


@pytest.fixture(scope="module")
def fusion_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fusion models (2 pooling heads, a gate over one-hot and physchem) on demo proteins."""
    embedders = {"onehot": {"kind": "onehot"}, "physchem": {"kind": "physchem"}}
    return library_bundle(tmp_path_factory.mktemp("fusion"), embedders, model="fusion",
                          params={**TINY_FUSION, "lstm_layers": 1})


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 demo proteins and one longer than 1,000 residues (cropped), IDs with '/' and '|'."""
    records = fasta_records(DEMO_FASTA)
    short = [(pid.split("|")[0], seq) for pid, seq in records if len(seq) <= 1000][:20]
    long = [(pid.split("|")[0], seq) for pid, seq in records if len(seq) > 1000][:1]
    chosen = [("odd/id|1", short[0][1]), *short[1:], *long]
    path = tmp_path_factory.mktemp("queries") / "q.fasta"
    path.write_text("".join(f">{pid}\n{seq}\n" for pid, seq in chosen))
    return path


def test_explaining_does_not_change_a_single_prediction_bit(fusion_bundle: Path, queries: Path, tmp_path: Path) -> None:
    from locfusion.bundle import load_bundle
    from locfusion.inference import FeatureBatch, fold_probabilities

    bundle = load_bundle(fusion_bundle)
    gen = torch.Generator().manual_seed(3)
    lengths = [37, 120, 5, 64]
    features = [[torch.randn(n, d, generator=gen).half() for n in lengths] for d in (21, 5)]
    data = FeatureBatch(features, lengths, 0)
    probs, details = explain_models(bundle.models, data, "fp32", bundle.use_group, "cpu", bundle.temperatures)
    assert np.array_equal(probs, fold_probabilities(bundle, data, "fp32"))  # the bundle's temperatures applied
    hotter = explain_models(bundle.models, data, "fp32", bundle.use_group, "cpu", [2 * t for t in bundle.temperatures])
    assert not np.allclose(hotter[0], probs)
    assert [d["attention"].shape for d in details] == [(len(bundle.models), 2, n) for n in lengths]
    assert [d["gate"].shape for d in details] == [(len(bundle.models), n, 2) for n in lengths]

    plain = predict_proteome(queries, tmp_path / "plain", fusion_bundle, PredictOptions(progress=False))
    explained = predict_proteome(queries, tmp_path / "explained", fusion_bundle,
                                 PredictOptions(progress=False, explain=True, explain_ids=("odd/id|1",)))
    for name in ("predictions.tsv", "predictions.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "explained" / name).read_bytes()
    assert explained["explanations"]["n_proteins"] == plain["input"]["n_proteins"] == 21
    assert not (tmp_path / "plain" / EXPLANATION_FILE).exists()


def test_explanations_file_holds_every_protein_and_the_plot_is_drawn(fusion_bundle: Path, queries: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = dict(fasta_records(queries))
    long_id = next(pid for pid, seq in records.items() if len(seq) > 1000)
    proc = cli("predict", "-f", str(queries), "-o", str(out), "-b", str(fusion_bundle), "-q",
               "--explain-ids", "odd/id|1", long_id)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "predictions.tsv", sep="\t", dtype={"ACC": str}, keep_default_na=False)
    manifest = json.loads((fusion_bundle / "manifest.json").read_text())
    with h5py.File(out / EXPLANATION_FILE, "r") as handle:
        assert handle.attrs["format"] == "locfusion-explanations"
        assert handle.attrs["n_heads"] == 2 and handle.attrs["model"] == "fusion"
        assert json.loads(handle.attrs["embedders"]) == ["onehot", "physchem"]
        assert json.loads(handle.attrs["models"]) == [f["file"] for f in manifest["folds"]]
        assert "mean over fold models" in handle.attrs["averaging"]
        assert sorted(handle["proteins"]) == sorted(dataset_name(pid) for pid in records)
        for pid, row in zip(table["ACC"], table.itertuples(index=False), strict=True):
            group = handle["proteins"][dataset_name(pid)]
            length = min(len(records[pid]), 1000)
            assert group.attrs["id"] == pid and group.attrs["length"] == length
            assert group["attention"].shape == (len(manifest["folds"]), 2, length)
            assert group["gate"].shape == (len(manifest["folds"]), length, 2)
            np.testing.assert_allclose(group["attention"][()].sum(-1), 1.0, atol=1e-5)
            np.testing.assert_allclose(group["attention_mean"][()].sum(), 1.0, atol=1e-5)
            np.testing.assert_allclose(group["gate_mean"][()].sum(-1), 1.0, atol=1e-5)
            assert group.attrs["confidence"] == pytest.approx(row.Confidence, abs=1e-6)
            assert bool(group.attrs["cropped"]) == (row.Cropped == "yes")
    _, items = read_explanations(out / EXPLANATION_FILE, [long_id])
    assert items[0].cropped and items[0].sequence == records[long_id][:500] + records[long_id][-500:]
    for pid in ("odd/id|1", long_id):
        stem = explanation_plot_stem(out, pid)
        assert stem.parent == out / "explanations"
        for ext in ("png", "pdf"):
            assert Path(f"{stem}.{ext}").stat().st_size > 10_000
    assert sorted(p.name for p in (out / "explanations").iterdir()) == sorted(
        f"{dataset_name(pid)}.{ext}" for pid in ("odd/id|1", long_id) for ext in ("png", "pdf"))


def test_unknown_id_to_explain_is_one_line_before_any_work(fusion_bundle: Path, queries: Path, tmp_path: Path) -> None:
    proc = cli("predict", "-f", str(queries), "-o", str(tmp_path / "o"), "-b", str(fusion_bundle),
               "--explain-ids", "NOPE1", "odd/id|1")
    assert_one_line_error(proc, "NOPE1", "explain")
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError, match="need explain"):
        PredictOptions(explain_ids=("x",))


# ----------------------------------------------------------------------------- the workflow


def test_workflow_explains_its_predictions_and_draws_the_report_figure(small_dag: Path) -> None:
    from workflow_utils import SMALL_DAG_EXPLAIN_IDS

    query = small_dag / "results/predictions/query"
    meta, items = read_explanations(query / EXPLANATION_FILE)
    assert sorted(item.id for item in items) == sorted(pid for pid, _ in fasta_records(small_dag / "query.fasta"))
    assert meta["model"] == "attention_pooling" and meta["n_heads"] == 1 and meta["group"] == "positive"
    for pid in SMALL_DAG_EXPLAIN_IDS:
        assert Path(f"{explanation_plot_stem(query, pid)}.png").stat().st_size > 10_000
    for experiment in ("fusion", "attention_pooling"):
        assert (small_dag / f"results/figures/{experiment}/explanations.png").stat().st_size > 10_000
    # The report's examples: at most one correct test prediction per class, each by its own test fold's models.
    meta, items = read_explanations(small_dag / "results/explanations/fusion/examples.h5")
    assert meta["embedders"] == ["blosum62", "profile"] and meta["n_heads"] == TINY_FUSION["pool_heads"]
    tested = pd.concat([pd.read_csv(p, sep="\t", dtype={"id": str}, keep_default_na=False)
                        for p in (small_dag / "results/experiments/fusion").glob("seed_*/fold_*/test_predictions.tsv")])
    assert items and len({item.true for item in items}) == len(items)
    for item in items:
        fold = int(tested.loc[tested["id"] == item.id, "fold"].iloc[0])
        assert item.predicted == item.true and item.models and all(f"_fold_{fold}_" in m for m in item.models)
        assert item.gate is not None and item.attention.shape[:2] == (len(item.models), TINY_FUSION["pool_heads"])
