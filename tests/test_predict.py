"""Prediction of new proteomes: model bundles, `locfusion predict` and the predict rule.

The shared small workflow run (tests/conftest.py, `small_dag`: demo data, weight-free
embedders, 2 seeds) exports a bundle and runs rule predict; the command line then
predicts DeepLocPro's real proteins with it. Bundles that the workflow's demo config cannot make (organism
group as input, a tiny ESM-2 checkpoint) are trained through the same library
calls the rules make.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workflow_utils import (
    REPO,
    SMALL_DAG_AP_EPOCHS,
    SMALL_DAG_QUERY,
    SMALL_DAG_SEEDS,
    demo_config,
    job_counts,
    snakemake,
    write_config,
)

from locfusion.bundle import CHECKSUMS, MANIFEST, embedder_identity, load_bundle
from locfusion.io import sha256_file
from locfusion.classes import CLASSES
from locfusion.errors import InputError
from locfusion.predict import DEEPLOCPRO_OUTPUT_NAMES, OUTPUT_COLUMNS, PROBABILITY_COLUMNS, PredictOptions, predict_proteome

DEMO_FASTA = REPO / "resources/demo/demo_proteome.fasta"
PROBS = list(PROBABILITY_COLUMNS)


# ----------------------------------------------------------------------------- helpers


def ids_only_fasta(src: Path, dest: Path, first: int | None = None) -> Path:
    """Copy of a labelled FASTA with headers cut to the ID (what a user's proteome looks like)."""
    out, n = [], 0
    for line in src.read_text().splitlines():
        if line.startswith(">"):
            n += 1
            if first is not None and n > first:
                break
            out.append(">" + line[1:].split("|")[0])
        else:
            out.append(line)
    dest.write_text("\n".join(out) + "\n")
    return dest


def fasta_records(path: Path) -> list[tuple[str, str]]:
    records: list[tuple[str, str]] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0], ""))
        elif records:
            records[-1] = (records[-1][0], records[-1][1] + line.strip())
    return records


def cli(*args: str, cwd: Path | None = None, max_file_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `locfusion`; `max_file_bytes` limits the size of any file it writes (a full disk, simulated)."""
    def limit() -> None:  # Python ignores SIGXFSZ, so an oversized write fails with EFBIG as a full disk with ENOSPC
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run([sys.executable, "-m", "locfusion.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, preexec_fn=limit if max_file_bytes else None)


def read_table(path: Path) -> pd.DataFrame:
    sep = "\t" if path.suffix == ".tsv" else ","
    return pd.read_csv(path, sep=sep, dtype={"ACC": str}, keep_default_na=False)


def library_bundle(tmp: Path, embedders: dict[str, dict], use_group: bool = False, n_proteins: int = 100,
                   model: str = "attention_pooling", params: dict | None = None) -> Path:
    """Train 5 fold models on demo proteins through the library calls of the rules, export the bundle."""
    from locfusion import pipeline
    from locfusion.bundle import export_bundle
    from locfusion.dataset import read_dataset
    from locfusion.embedders import build_embedder
    from locfusion.io import write_tsv
    from locfusion.store import embed_to_shard

    filt = {"min_length": 40, "max_length": 1000, "long_policy": "drop", "deduplicate": True}
    pipeline.normalize(str(DEMO_FASTA), str(tmp / "proteins.tsv"))
    pipeline.filter_dataset(str(tmp / "proteins.tsv"), str(tmp / "dataset.tsv"), str(tmp / "excluded.tsv"),
                            str(tmp / "filter.json"), filt)
    data = read_dataset(str(tmp / "dataset.tsv")).head(n_proteins)  # every fold has 15-25 of the first 100
    write_tsv(data, tmp / "dataset.tsv")
    records = list(zip(data["id"], data["sequence"]))
    shards = {}
    for name, spec in embedders.items():
        shards[name] = [str(tmp / f"{name}.h5")]
        embed_to_shard(build_embedder(name, spec), records, shards[name][0], 16384, 1000, "drop", progress=False)
    experiment = {"model": model, "embedders": list(embedders), "params": params or {"hidden_dim": 32},
                  "use_group": use_group}
    training = {"epochs": 2, "patience": 2, "batch_size": 16, "lr": 2e-3, "seed": 7}
    weights, manifests, models = [], [], []
    for k in range(5):
        fold = tmp / f"fold_{k}"
        out = {"weights": fold / "model.safetensors", "manifest": fold / "model.json",
               "history": fold / "history.tsv", "predictions": fold / "test_predictions.tsv"}
        pipeline.train_experiment_fold("lib", experiment, training, str(tmp / "dataset.tsv"), shards, k, 5,
                                       str(fold / "checkpoint.pt"), {k_: str(v) for k_, v in out.items()}, threads=1)
        weights.append(out["weights"])
        manifests.append(out["manifest"])
        models.append({"weights": str(out["weights"]), "manifest": str(out["manifest"]),
                       "predictions": str(out["predictions"])})
    pipeline.calibrate_models(models, str(tmp / "dataset.tsv"), calibration_out(tmp), CALIBRATE_SETTINGS, shards=shards)
    export_bundle("lib", weights, manifests, shards, embedders, tmp / "dataset.tsv", filt, tmp / "bundle",
                  calibrations=[tmp / "calibration.json"])
    return tmp / "bundle"


CALIBRATE_SETTINGS = {0: {"device": "cpu", "batch_size": 16}}  # rule calibrate's per-grid-point settings


def calibration_out(directory: Path) -> dict[str, str]:
    """Rule calibrate's two outputs (one experiment and seed) in `directory`."""
    return {"calibration": str(directory / "calibration.json"),
            "predictions": str(directory / "test_predictions_calibrated.tsv")}


def fold_model(work: Path, k: int) -> dict[str, str]:
    """The files of library_bundle's fold model k that rule calibrate reads."""
    return {"weights": str(work / f"fold_{k}/model.safetensors"), "manifest": str(work / f"fold_{k}/model.json"),
            "predictions": str(work / f"fold_{k}/test_predictions.tsv")}


def independent_fold_probabilities(bundle: Path, fasta: Path, tmp: Path, group: str = "negative",
                                   embedder_specs: dict[str, dict] | None = None, calibrated: bool = True) -> np.ndarray:
    """(folds, proteins, classes): each fold file loaded on its own, run on one ProteinSet of the proteins;
    `calibrated`: then each fold's probabilities p become softmax(log p / T) with the manifest's temperature T
    (the same as softmax(logits / T): log p differs from the logits by a constant per protein)."""
    from locfusion.embedders import build_embedder
    from locfusion.store import embed_to_shard, load_embeddings
    from locfusion.training import ProteinSet, load_fold_model, predict_proba

    manifest = json.loads((bundle / MANIFEST).read_text())
    records = fasta_records(fasta)
    stores = []
    for entry in manifest["embedders"]:
        spec = (embedder_specs or {}).get(entry["name"], entry["spec"])
        shard = tmp / f"independent_{entry['name']}.h5"
        embed_to_shard(build_embedder(entry["name"], spec), records, shard, PredictOptions().tokens_per_batch,
                       manifest["length"]["max_length"], "crop", progress=False)
        stores.append(load_embeddings([shard]))
    table = pd.DataFrame({"id": [r[0] for r in records], "label": "Cytoplasmic", "group": group})
    data = ProteinSet(table, stores, [e["name"] for e in manifest["embedders"]])
    probs = []
    for fold in manifest["folds"]:
        model, fold_manifest = load_fold_model(bundle / fold["file"])  # its own embedded manifest
        p = predict_proba(model, data, 8, "fp32", fold_manifest["use_group"])
        if calibrated:
            z = np.log(p) / fold["temperature"]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        probs.append(p)
    return np.stack(probs)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("locfusion: error: "), lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def partial_ids(partial_fasta: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DeepLocPro's 1,131 real proteins (58 longer than 1,000 residues), headers cut to IDs."""
    return ids_only_fasta(partial_fasta, tmp_path_factory.mktemp("partial") / "partial_ids.fasta")


@pytest.fixture(scope="module")
def bundle(small_dag: Path) -> Path:
    """The shared small DAG's attention-pooling bundle (BLOSUM62 + profile, 2 seeds x 5 folds)."""
    return small_dag / "results/bundles/attention_pooling"


@pytest.fixture(scope="module")
def group_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of attention-pooling models on one-hot residues that take the organism group as input."""
    return library_bundle(tmp_path_factory.mktemp("group"), {"onehot": {"kind": "onehot"}}, use_group=True)


@pytest.fixture(scope="module")
def subset(partial_ids: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 real proteins, 3 of them longer than 1,000 residues (cropped)."""
    records = fasta_records(partial_ids)
    chosen = [r for r in records if len(r[1]) <= 1000][:57] + [r for r in records if len(r[1]) > 1000][:3]
    path = tmp_path_factory.mktemp("subset") / "subset.fasta"
    path.write_text("".join(f">{pid}\n{seq}\n" for pid, seq in chosen))
    return path


# ----------------------------------------------------------------------------- bundle and rules


def test_workflow_exports_a_self_describing_bundle(small_dag: Path, bundle: Path) -> None:
    files = sorted(p.name for p in bundle.iterdir())
    files_expected = [MANIFEST] + [f"seed_{s}_fold_{k}_val_{(k + 1) % 5}.safetensors" for s in SMALL_DAG_SEEDS for k in range(5)]
    assert files == sorted(files_expected + [CHECKSUMS])  # JSON, safetensors and their checksums only
    listed = (bundle / CHECKSUMS).read_text().splitlines()
    assert listed == [f"{sha256_file(bundle / name)}  {name}" for name in files_expected]  # sha256sum -c reads it
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["format"] == "locfusion-bundle" and manifest["model"] == "attention_pooling"
    assert manifest["classes"] == list(CLASSES) and manifest["use_group"] is False
    assert manifest["training_data"]["dataset_sha256"] == sha256_file(small_dag / "results/data/dataset.tsv")
    assert manifest["length"] == {"max_length": 1000, "min_length": 40, "training_long_policy": "drop",
                                  "embedder_length_limits": {"blosum62": 1000, "profile": 1000}, "predict_long_policy": "crop"}
    blosum, profile = manifest["embedders"]
    assert blosum["spec"] == {"kind": "blosum62"} and profile["spec"]["kind"] == "profile"
    provenance = blosum["provenance"]
    assert provenance["kind"] == "blosum62" and provenance["dim"] == 20 and provenance["spec.kind"] == "blosum62"
    assert provenance["columns"].startswith("blosum_A,blosum_C")
    assert [(f["seed"], f["test_fold"]) for f in manifest["folds"]] == [(s, k) for s in SMALL_DAG_SEEDS for k in range(5)]
    for f in manifest["folds"]:
        assert f["sha256"] == sha256_file(bundle / f["file"])
        assert f["val_fold"] == (f["test_fold"] + 1) % 5
    assert manifest["training"]["epochs"] == SMALL_DAG_AP_EPOCHS  # the experiment's own schedule
    assert (small_dag / "results/logs/export_bundle/attention_pooling.log").exists()


def test_predict_rule_matches_the_command_line(small_dag: Path, bundle: Path, tmp_path: Path) -> None:
    out = small_dag / "results/predictions/query"
    assert (small_dag / "results/benchmarks/predict/query.tsv").exists()
    assert "predict" in {p.name.split(".")[0] for p in (small_dag / ".import_log").glob("*.txt")}  # its env: test_workflow
    for name in ("predictions.tsv", "predictions.csv", "summary.json", "class_distribution.png", "class_distribution.pdf"):
        assert (out / name).stat().st_size > 0
    table = read_table(out / "predictions.tsv")
    assert list(table.columns) == list(OUTPUT_COLUMNS)
    assert table["ACC"].tolist() == [pid for pid, _ in fasta_records(small_dag / "query.fasta")]  # header up to the space
    assert (table["Outer Membrane"] == 0).all() and (table["Periplasmic"] == 0).all()  # group positive
    short, long = SMALL_DAG_QUERY
    assert table["Cropped"].tolist() == ["no"] * short + ["yes"] * long
    # The command line with the rule's settings (demo embed.tokens_per_batch, group, threads) writes the same bytes.
    proc = cli("predict", "-f", str(small_dag / "query.fasta"), "-o", str(tmp_path), "-b", str(bundle),
               "--group", "positive", "--batch-size", "16384", "-t", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    for name in ("predictions.tsv", "predictions.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_prediction_target_only_when_configured(tmp_path: Path) -> None:
    config = demo_config()
    config["data"]["fasta"] = str(DEMO_FASTA)
    config["predict"]["fasta"] = str(DEMO_FASTA)  # the demo's example: results/predictions/demo_proteome/
    config["predict"]["groups"] = str(DEMO_FASTA.parent / "demo_groups.tsv")  # run outside the checkout
    write_config(tmp_path / "c.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", "--cores", "2")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["export_bundle"] == len(config["experiments"]) and counts["predict"] == 1
    assert "results/predictions/demo_proteome/predictions.tsv" in proc.stdout + proc.stderr
    config["predict"]["fasta"] = None
    write_config(tmp_path / "c.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", "--cores", "2")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["export_bundle"] == len(config["experiments"]) and "predict" not in counts
    config["predict"] = {"fasta": str(DEMO_FASTA), "experiment": "nope"}
    write_config(tmp_path / "bad.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "bad.yaml", "-n", check=False)
    assert proc.returncode != 0 and "config key 'predict.experiment': unknown experiment 'nope'" in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- command line


def test_predicts_real_proteins_reproducibly_in_input_order(bundle: Path, partial_ids: Path, tmp_path: Path) -> None:
    proc = cli("predict", "-f", str(partial_ids), "-o", str(tmp_path / "a"), "-b", str(bundle), "--plot")
    assert proc.returncode == 0, proc.stderr
    assert "1131 proteins predicted" in proc.stdout
    # A second run, in-process and in chunks of 37 proteins instead of 1,000: the same bytes.
    predict_proteome(partial_ids, tmp_path / "b", bundle, PredictOptions(chunk_size=37, progress=False))
    for name in ("predictions.tsv", "predictions.csv", "summary.json"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), name
    table = read_table(tmp_path / "a/predictions.tsv")
    records = fasta_records(partial_ids)
    assert table["ACC"].tolist() == [pid for pid, _ in records]
    pd.testing.assert_frame_equal(read_table(tmp_path / "a/predictions.csv"), table)
    probs = table[PROBS].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=5e-6)
    np.testing.assert_allclose(table["Confidence"], probs.max(axis=1), atol=1e-9)
    assert (table["Localization"] == np.asarray(PROBS)[probs.argmax(axis=1)]).all()
    # 10 fold models (2 seeds): a multiple of 1/10; 0 too, when the mean's top class is no single model's top class
    assert set(table["Agreement"].round(9)) <= {round(k / 10, 9) for k in range(11)}
    assert (table["Cropped"] == "yes").sum() == sum(len(s) > 1000 for _, s in records) == 58  # cropped, not dropped
    assert table["Localization"].nunique() > 1  # the trained models discriminate
    summary = json.loads((tmp_path / "a/summary.json").read_text())
    assert summary["input"]["n_cropped"] == 58 and sum(summary["localization_counts"].values()) == 1131
    assert (tmp_path / "a/class_distribution.png").stat().st_size > 1000


def test_ensemble_is_the_mean_of_the_fold_models(bundle: Path, subset: Path, tmp_path: Path) -> None:
    proc = cli("predict", "-f", str(subset), "-o", str(tmp_path / "out"), "-b", str(bundle), "-q")
    assert proc.returncode == 0, proc.stderr
    table = read_table(tmp_path / "out/predictions.tsv")
    folds = independent_fold_probabilities(bundle, subset, tmp_path)
    mean = folds.mean(axis=0)
    ours = table[[DEEPLOCPRO_OUTPUT_NAMES[c] for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(ours, mean, atol=2e-6)
    votes = (folds.argmax(axis=2) == mean.argmax(axis=1)[None, :]).mean(axis=0)
    np.testing.assert_allclose(table["Agreement"], votes, atol=1e-9)
    assert (table["Cropped"] == "yes").sum() == 3


def test_group_remap_follows_deeplocpro(bundle: Path, subset: Path, tmp_path: Path) -> None:
    from locfusion.metrics import apply_group_remap

    tables = {}
    for group in ("any", "negative", "positive", "archaea"):
        predict_proteome(subset, tmp_path / group, bundle, PredictOptions(group=group, progress=False))
        tables[group] = read_table(tmp_path / group / "predictions.tsv")
    pd.testing.assert_frame_equal(tables["negative"], tables["any"])
    pd.testing.assert_frame_equal(tables["archaea"], tables["positive"])
    raw, remapped = tables["any"], tables["positive"]
    assert (remapped["Outer Membrane"] == 0).all() and (remapped["Periplasmic"] == 0).all()
    assert not remapped["Localization"].isin(["Outer Membrane", "Periplasmic"]).any()
    expected = raw["Extracellular"] + raw["Outer Membrane"] + raw["Periplasmic"]
    np.testing.assert_allclose(remapped["Extracellular"], expected, atol=3e-6)
    for column in ("Cell wall & surface", "Cytoplasmic", "Cytoplasmic Membrane"):
        assert (remapped[column] == raw[column]).all()
    # The same as the evaluation's remap applied to the unremapped table.
    canonical = raw.rename(columns={v: k for k, v in DEEPLOCPRO_OUTPUT_NAMES.items()})
    reference = apply_group_remap(canonical, ["positive"] * len(raw))
    np.testing.assert_allclose(remapped["Extracellular"], reference["Extracellular"], atol=3e-6)
    assert remapped["Localization"].tolist() == [DEEPLOCPRO_OUTPUT_NAMES[c] for c in reference["predicted"]]
    assert (raw["Outer Membrane"] + raw["Periplasmic"]).mean() > 0.05  # the remap moved real probability mass


def test_bundle_with_group_input_needs_and_uses_the_group(group_bundle: Path, tmp_path: Path) -> None:
    bundle = group_bundle
    query = ids_only_fasta(DEMO_FASTA, tmp_path / "query.fasta", first=30)
    proc = cli("predict", "-f", str(query), "-o", str(tmp_path / "any"), "-b", str(bundle))
    assert_one_line_error(proc, "trained with the organism group as input", "--group", "--groups FILE")
    assert not (tmp_path / "any").exists()
    means = {}
    for group in ("negative", "archaea"):
        predict_proteome(query, tmp_path / group, bundle, PredictOptions(group=group, progress=False))
        table = read_table(tmp_path / group / "predictions.tsv")
        means[group] = table[[DEEPLOCPRO_OUTPUT_NAMES[c] for c in CLASSES]].to_numpy()
        expected = independent_fold_probabilities(bundle, query, tmp_path, group=group).mean(axis=0)
        if group == "archaea":
            frame = pd.DataFrame(expected, columns=list(CLASSES))
            from locfusion.metrics import apply_group_remap

            expected = apply_group_remap(frame, [group] * len(frame))[list(CLASSES)].to_numpy()
        np.testing.assert_allclose(means[group], expected, atol=2e-6)
    assert not np.allclose(means["negative"][:, :3], means["archaea"][:, :3], atol=1e-4)  # the group is an input


# ----------------------------------------------------------------------------- per-protein organism groups


def fasta_groups(src: Path, first: int) -> dict[str, str]:
    """The organism group in the first `first` headers of a labelled FASTA (ID|Location|Group|Fold)."""
    headers = [line[1:].split("|") for line in src.read_text().splitlines() if line.startswith(">")][:first]
    return {h[0]: h[2] for h in headers}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A mixed proteome: the demo's first 30 proteins (19 negative, 7 positive, 4 archaea) and their groups table."""
    tmp = tmp_path_factory.mktemp("mixed")
    query = ids_only_fasta(DEMO_FASTA, tmp / "mixed.fasta", first=30)
    groups = fasta_groups(DEMO_FASTA, 30)
    table = tmp / "groups.tsv"
    table.write_text("id\tgroup\n" + "".join(f"{pid}\t{g}\n" for pid, g in groups.items()))
    return query, table, groups


def test_groups_table_gives_each_protein_its_own_group(group_bundle: Path, mixed: tuple[Path, Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    """A group-aware bundle: each protein's row equals the single-group run with its group (input and remap),
    although the proteins of all three groups share batches; other groups would give other rows."""
    query, table, groups = mixed
    assert set(groups.values()) == {"negative", "positive", "archaea"}
    summary = predict_proteome(query, tmp_path / "mixed", group_bundle, PredictOptions(groups=str(table), progress=False))
    ours = read_table(tmp_path / "mixed/predictions.tsv")
    single = {}
    for group in ("negative", "positive", "archaea"):
        predict_proteome(query, tmp_path / group, group_bundle, PredictOptions(group=group, progress=False))
        single[group] = read_table(tmp_path / group / "predictions.tsv")
    lines = {g: (tmp_path / g / "predictions.tsv").read_text().splitlines() for g in single}
    expected = [lines["negative"][0]] + [lines[g][i + 1] for i, g in enumerate(groups.values())]
    assert (tmp_path / "mixed/predictions.tsv").read_text().splitlines() == expected  # every printed digit
    rows = {g: np.array([v == g for v in groups.values()]) for g in ("negative", "positive", "archaea")}
    # The group reached the model: the classes the remap leaves alone differ between groups' runs.
    kept = ["Cytoplasmic", "Cytoplasmic Membrane", "Cell wall & surface"]
    for group in ("positive", "archaea"):
        assert not np.allclose(ours.loc[rows[group], kept], single["negative"].loc[rows[group], kept], atol=1e-4)
    # The remap per protein: none left in Outer membrane or Periplasmic for positive and archaeal rows only.
    assert (ours.loc[~rows["negative"], ["Outer Membrane", "Periplasmic"]] == 0).all().all()
    assert (ours.loc[rows["negative"], ["Outer Membrane", "Periplasmic"]] > 0).any().any()
    assert summary["group"] == "per protein" and summary["group_remap"] is True
    assert summary["groups"] == {"table": str(table), "sha256": sha256_file(table), "remapped": 11,
                                 "counts": {"negative": 19, "positive": 7, "archaea": 4}}


def test_groups_table_remaps_per_protein_for_a_bundle_without_group_input(bundle: Path, subset: Path,
                                                                          tmp_path: Path) -> None:
    """Without use_group the model ignores the group; the remap still follows each protein's row."""
    ids = [pid for pid, _ in fasta_records(subset)]
    groups = [("negative", "positive", "archaea")[i % 3] for i in range(len(ids))]
    table = tmp_path / "groups.tsv"
    table.write_text("group\tid\tsource\n" + "".join(f"{g}\t{pid}\tbin{i}\n" for i, (pid, g) in
                                                       enumerate(zip(ids, groups, strict=True))))
    predict_proteome(subset, tmp_path / "mixed", bundle, PredictOptions(groups=str(table), progress=False))
    ours = read_table(tmp_path / "mixed/predictions.tsv")
    for group in ("any", "positive"):
        predict_proteome(subset, tmp_path / group, bundle, PredictOptions(group=group, progress=False))
    raw, remapped = read_table(tmp_path / "any/predictions.tsv"), read_table(tmp_path / "positive/predictions.tsv")
    negative = np.array([g == "negative" for g in groups])
    pd.testing.assert_frame_equal(ours[negative].reset_index(drop=True), raw[negative].reset_index(drop=True))
    pd.testing.assert_frame_equal(ours[~negative].reset_index(drop=True), remapped[~negative].reset_index(drop=True))
    assert (raw.loc[~negative, ["Outer Membrane", "Periplasmic"]].to_numpy().sum()) > 0  # the remap moved something


def test_per_protein_groups_are_the_same_in_any_chunk_and_recorded_in_explanations(
        group_bundle: Path, mixed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    import h5py

    from locfusion.explain import EXPLANATION_FILE, read_explanations

    query, table, groups = mixed
    for case, chunk in {"whole": 1000, "chunks": 7}.items():
        predict_proteome(query, tmp_path / case, group_bundle,
                         PredictOptions(groups=str(table), chunk_size=chunk, explain=True, progress=False))
    for name in ("predictions.tsv", "predictions.csv", EXPLANATION_FILE):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "chunks" / name).read_bytes(), name
    summaries = [json.loads((tmp_path / case / "summary.json").read_text()) for case in ("whole", "chunks")]
    for summary in summaries:
        summary["explanations"].pop("file")  # where each run wrote it
    assert summaries[0] == summaries[1] and summaries[0]["groups"]["counts"] == {"negative": 19, "positive": 7,
                                                                                "archaea": 4}
    with h5py.File(tmp_path / "whole" / EXPLANATION_FILE, "r") as handle:
        assert handle.attrs["group"] == "per protein"
    for case in ("whole", "chunks"):
        meta, items = read_explanations(tmp_path / case / EXPLANATION_FILE, list(groups))
        assert meta["group"] == "per protein"
        assert {item.id: item.group for item in items} == groups
    # A single-group run records that group for every protein.
    predict_proteome(query, tmp_path / "one", group_bundle, PredictOptions(group="archaea", explain=True, progress=False))
    meta, items = read_explanations(tmp_path / "one" / EXPLANATION_FILE)
    assert meta["group"] == "archaea" and {item.group for item in items} == {"archaea"}


BAD_GROUPS = {
    "missing_row": (lambda rows: rows[:-1], ["no row for 1 protein(s) of", "{last}"]),
    "not_in_fasta": (lambda rows: rows[:3] + [("P99999", "negative")] + rows[3:], ["line 5: ID 'P99999' is not a protein of"]),
    "duplicate": (lambda rows: rows + [rows[1]], ["line 32: duplicate ID '{second}' (first on line 3)"]),
    "unknown_group": (lambda rows: rows[:5] + [(rows[5][0], "gram+")] + rows[6:],
                      ["line 7 '{sixth}': unknown group 'gram+' (expected negative, positive, archaea)"]),
    "any_group": (lambda rows: [(rows[0][0], "any")] + rows[1:], ["line 2 '{first}': unknown group 'any'"]),
    "empty_group": (lambda rows: [(rows[0][0], "")] + rows[1:], ["line 2 '{first}': unknown group ''"]),
    "empty_id": (lambda rows: rows[:2] + [("", "negative")] + rows[2:], ["line 4: empty ID"]),
}


@pytest.mark.parametrize("case", sorted(BAD_GROUPS))
def test_bad_groups_table_is_one_line_naming_the_row_before_any_model_work(
        case: str, mixed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    query, _, groups = mixed
    edit, fragments = BAD_GROUPS[case]
    rows = edit(list(groups.items()))
    table = tmp_path / f"{case}.tsv"
    table.write_text("id\tgroup\n" + "".join(f"{pid}\t{g}\n" for pid, g in rows))
    ids = list(groups)
    names = {"first": ids[0], "second": ids[1], "sixth": ids[5], "last": ids[-1]}
    # No bundle at all: the table is checked before the bundle is even read.
    proc = cli("predict", "-f", str(query), "-o", str(tmp_path / "out"), "-b", str(tmp_path / "no_bundle"),
               "--groups", str(table))
    assert_one_line_error(proc, f"{table}: ", *(f.format(**names) for f in fragments))
    assert not (tmp_path / "out").exists()


def test_groups_table_format_errors_and_group_with_groups(mixed: tuple[Path, Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    query, table, _ = mixed
    common = ("predict", "-f", str(query), "-o", str(tmp_path / "out"), "-b", str(tmp_path / "no_bundle"))
    assert_one_line_error(cli(*common, "--groups", str(tmp_path / "nope.tsv")), "nope.tsv: groups table not found")
    headerless = tmp_path / "headerless.tsv"
    headerless.write_text("".join(line + "\n" for line in table.read_text().splitlines()[1:]))
    assert_one_line_error(cli(*common, "--groups", str(headerless)), f"{headerless}: no column 'id' or 'group'")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert_one_line_error(cli(*common, "--groups", str(empty)), f"{empty}: empty groups table")
    commas = tmp_path / "commas.csv"
    commas.write_text(table.read_text().replace("\t", ","))
    assert_one_line_error(cli(*common, "--groups", str(commas)), f"{commas}: no column 'id' or 'group'")
    assert_one_line_error(cli(*common, "--groups", str(table), "--group", "positive"),
                          "group 'positive' and a groups table", "not both")
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="not both"):
        PredictOptions(group="negative", groups=str(table))


def test_feature_batch_and_ensemble_take_one_group_or_one_per_protein() -> None:
    """The per-protein path of the arithmetic equals the scalar path group by group (no bundle needed)."""
    import torch

    from locfusion.classes import GROUP_INDEX
    from locfusion.inference import FeatureBatch, ensemble_summary

    features = [[torch.zeros(5, 3, dtype=torch.float16) for _ in range(4)]]
    assert FeatureBatch(features, [5] * 4, 2).groups.tolist() == [2, 2, 2, 2]
    assert FeatureBatch(features, [5] * 4, np.array([0, 2, 1, 0])).batch(np.array([1, 2]))[3].tolist() == [2, 1]
    with pytest.raises(ValueError, match="3 group indices for 4 proteins"):
        FeatureBatch(features, [5] * 4, [0, 1, 2])
    rng = np.random.default_rng(3)
    fold_probs = rng.dirichlet(np.ones(len(CLASSES)), size=(5, 9))
    groups = ["negative", "positive", "archaea"] * 3
    mixed_result = ensemble_summary(fold_probs, groups)
    for group in GROUP_INDEX:
        rows = [i for i, g in enumerate(groups) if g == group]
        alone = ensemble_summary(fold_probs[:, rows], group)
        for key, value in alone.items():
            np.testing.assert_array_equal(mixed_result[key][rows], value)
    assert (mixed_result["probabilities"][[0, 3, 6]][:, [CLASSES.index("Outer membrane")]] > 0).all()
    assert (mixed_result["probabilities"][[1, 2, 4, 5, 7, 8]][:, [CLASSES.index("Outer membrane"),
                                                                    CLASSES.index("Periplasmic")]] == 0).all()


def test_predict_script_passes_the_rules_groups_input(group_bundle: Path, mixed: tuple[Path, Path, dict[str, str]],
                                                      tmp_path: Path) -> None:
    """workflow/scripts/predict.py run as Snakemake runs it, with the rule's named input `groups`."""
    import runpy

    from snakemake.iocontainers import Namedlist

    query, table, _ = mixed
    out = tmp_path / "results/predictions/mixed"
    names = ("tsv", "csv", "summary", "png", "pdf")
    files = ("predictions.tsv", "predictions.csv", "summary.json", "class_distribution.png", "class_distribution.pdf")
    smk = type("Snakemake", (), {})()
    smk.input = Namedlist(fromdict={"groups": str(table), "fasta": str(query), "manifest": str(group_bundle / MANIFEST)})
    smk.output = Namedlist(fromdict={n: str(out / f) for n, f in zip(names, files, strict=True)})
    smk.params = Namedlist(fromdict={
        "predict": {"group": "any", "groups": str(table), "chunk_size": 1000, "explain": False, "explain_ids": []},
        "embed": {"tokens_per_batch": PredictOptions().tokens_per_batch, "device": "cpu", "precision": "auto"},
        "embedders": {"onehot": {"kind": "onehot"}},
    })
    smk.threads, smk.rule, smk.log = 1, "predict", Namedlist(fromdict={"log": str(tmp_path / "predict.log")})
    smk.scriptdir = str(REPO / "workflow/scripts")
    runpy.run_path(str(REPO / "workflow/scripts/predict.py"), init_globals={"snakemake": smk})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["group"] == "per protein" and summary["groups"]["table"] == str(table)
    predict_proteome(query, tmp_path / "cli", group_bundle, PredictOptions(groups=str(table), progress=False))
    assert (out / "predictions.tsv").read_bytes() == (tmp_path / "cli/predictions.tsv").read_bytes()


def test_rule_predict_tracks_the_groups_table(tmp_path: Path) -> None:
    config = demo_config()
    config["data"]["fasta"] = str(DEMO_FASTA)
    config["predict"]["fasta"] = str(DEMO_FASTA)
    config["predict"]["groups"] = str(tmp_path / "groups.tsv")  # not there yet: a missing input of rule predict
    write_config(tmp_path / "c.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", check=False)
    assert proc.returncode != 0 and "MissingInputException" in proc.stdout + proc.stderr
    assert str(tmp_path / "groups.tsv") in proc.stdout + proc.stderr
    (tmp_path / "groups.tsv").write_text("id\tgroup\n")
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", "--cores", "2")
    assert job_counts(proc.stdout + proc.stderr)["predict"] == 1
    config["predict"]["group"] = "positive"
    write_config(tmp_path / "both.yaml", config)
    proc = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "both.yaml", "-n", check=False)
    assert proc.returncode != 0 and "config key 'predict.groups'" in proc.stdout + proc.stderr


def test_a_second_run_into_the_same_directory_leaves_nothing_of_the_first(group_bundle: Path, tmp_path: Path) -> None:
    query = ids_only_fasta(DEMO_FASTA, tmp_path / "query.fasta", first=12)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    predict_proteome(query, out, group_bundle, PredictOptions(group="negative", progress=False, plot=True))
    assert (out / "class_distribution.png").is_file()
    first = (out / "summary.json").read_text()
    other = ids_only_fasta(DEMO_FASTA, tmp_path / "other.fasta", first=5)
    predict_proteome(other, out, group_bundle, PredictOptions(group="negative", progress=False, plot=False))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "predictions.csv", "predictions.tsv", "summary.json"]
    assert len(read_table(out / "predictions.tsv")) == 5 and (out / "summary.json").read_text() != first


def test_no_room_for_the_predictions_is_one_line_naming_the_file(group_bundle: Path, tmp_path: Path) -> None:
    query = ids_only_fasta(DEMO_FASTA, tmp_path / "query.fasta", first=40)
    out = tmp_path / "out"
    proc = cli("predict", "-f", str(query), "-o", str(out), "-b", str(group_bundle), "-g", "negative", "--quiet",
               max_file_bytes=2000)  # the table of 40 proteins is ~4 kB
    assert_one_line_error(proc, f"{out / 'predictions.tsv'}: could not be written (File too large)")
    assert list(out.iterdir()) == []


def test_refuses_a_bundle_whose_embedder_differs(tmp_path: Path) -> None:
    from plm_fixtures import make_tiny_esm2_checkpoint

    checkpoint = make_tiny_esm2_checkpoint(tmp_path / "esm")
    spec = {"kind": "esm2", "model": str(checkpoint), "layer": 2}
    bundle = library_bundle(tmp_path / "lib", {"esm": spec})
    query = ids_only_fasta(DEMO_FASTA, tmp_path / "query.fasta", first=12)
    import yaml

    # Another layer of the same checkpoint: refused from the command line, in one line.
    (tmp_path / "layer1.yaml").write_text(yaml.safe_dump({"embedders": {"esm": {**spec, "layer": 1}}}))
    proc = cli("predict", "-f", str(query), "-o", str(tmp_path / "layer1"), "-b", str(bundle),
               "--embedders", str(tmp_path / "layer1.yaml"))
    assert_one_line_error(proc, f"bundle {bundle}: embedder 'esm' cannot reproduce", "layer: 2 in the bundle vs 1 now")
    assert not (tmp_path / "layer1").exists()
    # Another checkpoint of the same name and shape (other weights).
    other = make_tiny_esm2_checkpoint(tmp_path / "other", seed=1)
    with pytest.raises(InputError, match="checkpoint_sha256"):
        predict_proteome(query, tmp_path / "other_out", bundle, PredictOptions(progress=False),
                         embedder_specs={"esm": {**spec, "model": str(other)}})
    # The same checkpoint elsewhere: its checksum matches, so its location may differ.
    moved = tmp_path / "moved" / checkpoint.name
    moved.parent.mkdir()
    shutil.copy2(checkpoint, moved)
    predict_proteome(query, tmp_path / "moved", bundle, PredictOptions(progress=False),
                     embedder_specs={"esm": {**spec, "model": str(moved)}})
    predict_proteome(query, tmp_path / "default", bundle, PredictOptions(progress=False))
    assert (tmp_path / "moved/predictions.tsv").read_bytes() == (tmp_path / "default/predictions.tsv").read_bytes()
    expected = independent_fold_probabilities(bundle, query, tmp_path).mean(axis=0)
    table = read_table(tmp_path / "default/predictions.tsv")
    np.testing.assert_allclose(table[[DEEPLOCPRO_OUTPUT_NAMES[c] for c in CLASSES]].to_numpy(), expected, atol=2e-6)


def test_embedder_identity_keys() -> None:
    recorded = {"kind": "esm2", "dim": 1280, "layer": 33, "spec.model": "/data/esm2_t33_650M_UR50D.pt",
                "spec.layer": 33, "checkpoint_sha256": "a" * 64, "precision": "bf16", "fair_esm_version": "2.0.0",
                "identity_keys": "layer"}
    now = {**recorded, "spec.model": "esm2_t33_650M_UR50D", "precision": "fp32", "fair_esm_version": "2.0.1"}
    assert embedder_identity(recorded, now) == []  # location, precision and versions do not define the embedding
    # tokens per batch is speed, not numbers: a bundle made on a CPU with 1,024 predicts with 16,384 on a GPU
    assert embedder_identity({**recorded, "spec.tokens_per_batch": 1024}, {**now, "spec.tokens_per_batch": 16384}) == []
    assert embedder_identity({**recorded, "spec.tokens_per_batch": 1024}, now) == []
    assert [d.split(":")[0] for d in embedder_identity(recorded, {**now, "layer": 30, "spec.layer": 30})] == ["layer", "spec.layer"]
    assert embedder_identity(recorded, {**now, "checkpoint_sha256": "b" * 64})[0].startswith("checkpoint_sha256")
    physchem = {"kind": "physchem", "dim": 2, "columns": "kd,hw", "identity_keys": "columns"}
    assert embedder_identity(physchem, {**physchem, "columns": "kd,em"})
    # Only what a kind declares is identity; shards made before `identity_keys` was recorded are
    # still compared on what the embedder built now declares.
    undeclared = {**physchem, "identity_keys": ""}
    assert embedder_identity(undeclared, {**undeclared, "columns": "kd,em"}) == []
    assert embedder_identity({k: v for k, v in physchem.items() if k != "identity_keys"}, {**physchem, "columns": "x"})


def test_tampered_fold_file_is_refused(group_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(group_bundle, tmp_path / "bundle"))
    assert len(load_bundle(bundle).models) == 5
    data = bytearray((bundle / "seed_7_fold_3_val_4.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (bundle / "seed_7_fold_3_val_4.safetensors").write_bytes(bytes(data))
    with pytest.raises(InputError, match="seed_7_fold_3_val_4.safetensors: checksum differs"):
        load_bundle(bundle)
    proc = cli("inspect", str(bundle))
    assert proc.returncode == 0 and "attention_pooling" in proc.stdout and "seed_7_fold_4_val_0.safetensors" in proc.stdout


def _edit_bundle(bundle: Path, manifest: dict | None = None, fold_file: str | None = None,
                 tensors: dict | None = None) -> None:
    """Rewrite a bundle file and, like a careful forger, every checksum that covers it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    if manifest is not None:
        (bundle / MANIFEST).write_text(json.dumps(manifest))
    if fold_file is not None:
        with safe_open(str(bundle / fold_file), framework="pt") as handle:
            metadata = handle.metadata()
        save_file(tensors, str(bundle / fold_file), metadata=metadata)
        manifest = json.loads((bundle / MANIFEST).read_text())
        for entry in manifest["folds"]:
            entry["sha256"] = sha256_file(bundle / entry["file"])
        (bundle / MANIFEST).write_text(json.dumps(manifest))
    names = [MANIFEST] + [e["file"] for e in json.loads((bundle / MANIFEST).read_text())["folds"]]
    (bundle / CHECKSUMS).write_text("".join(f"{sha256_file(bundle / n)}  {n}\n" for n in names))


def test_an_edited_manifest_is_refused_before_any_prediction(group_bundle: Path, tmp_path: Path) -> None:
    """A hyperparameter edited with tensor shapes unchanged (for fusion, e.g. more attention heads) would
    load and predict other numbers without these checks."""
    bundle = Path(shutil.copytree(group_bundle, tmp_path / "bundle"))
    manifest = json.loads((bundle / MANIFEST).read_text())
    for entry in manifest["folds"]:
        entry["params"]["dropout"] = 0.375
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=rf"^{bundle / MANIFEST}: checksum differs from checksums.sha256"):
        load_bundle(bundle)
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">P1\nMKVLAAGLLLLLSAAQA\n")
    assert_one_line_error(cli("predict", "-f", str(fasta), "-o", str(tmp_path / "out"), "-b", str(bundle), "-g", "negative"),
                          "manifest.json: checksum differs")
    assert not (tmp_path / "out").exists()
    _edit_bundle(bundle, manifest=manifest)  # checksums forged too: the weights' own manifest still disagrees
    with pytest.raises(InputError, match=r"seed_7_fold_\d_val_\d.safetensors: the bundle's manifest differs from the one "
                                         r"the weights were trained with in params"):
        load_bundle(bundle)
    (bundle / CHECKSUMS).unlink()
    with pytest.raises(InputError, match=r"no checksums.sha256 \(an incomplete copy"):
        load_bundle(bundle)


def test_non_finite_truncated_and_pickled_fold_files_are_one_line(group_bundle: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    bundle = Path(shutil.copytree(group_bundle, tmp_path / "nan"))
    name = json.loads((bundle / MANIFEST).read_text())["folds"][2]["file"]
    tensors = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
               for k, v in load_file(str(bundle / name)).items()}
    _edit_bundle(bundle, fold_file=name, tensors=tensors)
    with pytest.raises(InputError, match=rf"^{bundle / name}: non-finite weights in "):
        load_bundle(bundle)

    for case, write in {
        "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        "pickled": lambda path: torch.save({"weights": torch.zeros(3)}, path),
    }.items():
        bundle = Path(shutil.copytree(group_bundle, tmp_path / case))
        write(bundle / name)
        manifest = json.loads((bundle / MANIFEST).read_text())
        manifest["folds"][2]["sha256"] = sha256_file(bundle / name)
        _edit_bundle(bundle, manifest=manifest)  # every checksum forged: the file's own bytes must still fail cleanly
        with pytest.raises(InputError, match=rf"^{bundle / name}: ") as err:
            load_bundle(bundle)
        assert "\n" not in str(err.value), case


# ----------------------------------------------------------------------------- calibration


def _set_temperatures(bundle: Path, temperatures: list) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    for entry, t in zip(manifest["folds"], temperatures, strict=True):
        if t is _MISSING:
            entry.pop("temperature")
        else:
            entry["temperature"] = t
    _edit_bundle(bundle, manifest=manifest)  # checksums forged: only the temperature check can refuse it


_MISSING = object()


@pytest.mark.parametrize("value", [_MISSING, 0, -1.5, float("nan"), float("inf"), "1.5", True, None])
def test_bundle_without_a_finite_positive_temperature_is_refused(group_bundle: Path, tmp_path: Path, value) -> None:
    bundle = Path(shutil.copytree(group_bundle, tmp_path / "bundle"))
    assert all(t > 0 for t in load_bundle(bundle).temperatures)
    name = json.loads((bundle / MANIFEST).read_text())["folds"][2]["file"]
    _set_temperatures(bundle, [1.0, 1.0, value, 1.0, 1.0])
    reason = "has no temperature" if value is _MISSING else "temperature"
    with pytest.raises(InputError, match=rf"^{bundle / MANIFEST}: fold model {name}:? {reason}") as err:
        load_bundle(bundle)
    assert "\n" not in str(err.value)
    if value is _MISSING or value == 0:  # the command line's one-line error: one case of each message is enough
        fasta = tmp_path / "q.fasta"
        fasta.write_text(">P1\nMKVLAAGLLLLLSAAQA\n")
        assert_one_line_error(cli("predict", "-f", str(fasta), "-o", str(tmp_path / "out"), "-b", str(bundle), "-g",
                                  "negative"), name, "temperature")


def test_export_needs_each_models_own_calibration(group_bundle: Path, tmp_path: Path) -> None:
    """Each bundled model gets the record of its own (seed, test fold, validation fold, grid point),
    whatever the order of the records; a model without one, a bad temperature or a file of another
    format is refused in one line."""
    from locfusion.bundle import export_bundle

    work = group_bundle.parent
    weights = [work / f"fold_{k}/model.safetensors" for k in range(5)]
    manifests = [work / f"fold_{k}/model.json" for k in range(5)]
    calibration = work / "calibration.json"
    document = json.loads(calibration.read_text())
    embedders = {"onehot": {"kind": "onehot"}}
    args = ("lib", weights, manifests, {"onehot": [str(work / "onehot.h5")]}, embedders, work / "dataset.tsv",
            {"min_length": 40, "max_length": 1000, "long_policy": "drop"})

    def variant(name: str, models: list) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**document, "models": models}))
        return path

    with pytest.raises(InputError, match="the calibration.json of each seed is needed"):
        export_bundle(*args, tmp_path / "none")
    without_3 = variant("without_3", [r for r in document["models"] if r["test_fold"] != 3])
    with pytest.raises(InputError, match=rf"{manifests[3]}: no calibration of this model \(experiment 'lib' seed 7, "
                                         rf"test fold 3, validation fold 4, grid point 0\) in {without_3}"):
        export_bundle(*args, tmp_path / "missing", calibrations=[without_3])
    bad = variant("bad", [{**r, "temperature": -2.0} if r["test_fold"] == 3 else r for r in document["models"]])
    with pytest.raises(InputError, match=rf"{bad}: experiment 'lib' seed 7, test fold 3, validation fold 4, grid point 0: "
                                         "temperature -2.0 is not a finite positive number"):
        export_bundle(*args, tmp_path / "bad", calibrations=[bad])
    old = tmp_path / "per_model.json"  # an older locfusion's calibration.json of one model
    old.write_text(json.dumps(document["models"][0]))
    with pytest.raises(InputError, match=rf"{old}: not a locfusion-calibration file"):
        export_bundle(*args, tmp_path / "old", calibrations=[old])
    reversed_order = variant("reversed", document["models"][::-1])
    manifest = export_bundle(*args, tmp_path / "ok", calibrations=[reversed_order])
    temperatures = {r["test_fold"]: r["temperature"] for r in document["models"]}
    assert len(set(temperatures.values())) > 1  # else a mix-up of models could not show
    assert [f["temperature"] for f in manifest["folds"]] == [temperatures[f["test_fold"]] for f in manifest["folds"]]
    assert all(f["calibration"]["fitted_on"] == f"validation fold {f['val_fold']}" for f in manifest["folds"])


def test_calibrating_a_seeds_models_together_gives_each_its_own_fit(group_bundle: Path, tmp_path: Path) -> None:
    """Rule calibrate's one job per seed: each model's record and calibrated test rows are exactly
    those of calibrating it alone, whatever the order the models are given in."""
    from locfusion import pipeline
    from locfusion.calibration_files import read_calibrated_predictions, read_calibrations

    work = group_bundle.parent
    shards = {"onehot": [str(work / "onehot.h5")]}
    (tmp_path / "together").mkdir()
    together = pipeline.calibrate_models([fold_model(work, k) for k in (3, 1, 4, 0, 2)], str(work / "dataset.tsv"),
                                         calibration_out(tmp_path / "together"), CALIBRATE_SETTINGS, shards=shards)
    assert [r["test_fold"] for r in together] == [3, 1, 4, 0, 2]  # returned in the order given
    joint = read_calibrations([tmp_path / "together/calibration.json"])
    joint_rows = read_calibrated_predictions([tmp_path / "together/test_predictions_calibrated.tsv"])
    assert len({r["temperature"] for r in together}) > 1  # models with different temperatures: a mix-up would show
    for k in range(5):
        alone_dir = tmp_path / f"alone_{k}"
        alone_dir.mkdir()
        (alone,) = pipeline.calibrate_models([fold_model(work, k)], str(work / "dataset.tsv"), calibration_out(alone_dir),
                                             CALIBRATE_SETTINGS, shards=shards)
        key = ("lib", 7, k, (k + 1) % 5, 0)
        assert joint[key] == alone and alone["test_fold"] == k
        (rows,) = read_calibrated_predictions([alone_dir / "test_predictions_calibrated.tsv"]).values()
        pd.testing.assert_frame_equal(joint_rows[key], rows, check_exact=True)
        assert set(rows["fold"]) == {k}
    # The file of one experiment and seed, in model order whatever the input order.
    document = json.loads((tmp_path / "together/calibration.json").read_text())
    assert (document["format"], document["experiment"], document["seed"]) == ("locfusion-calibration", "lib", 7)
    assert [r["test_fold"] for r in document["models"]] == list(range(5))
    assert (tmp_path / "together/calibration.json").read_bytes() == (work / "calibration.json").read_bytes()


def test_a_calibrate_job_takes_one_experiment_and_seed(group_bundle: Path, tmp_path: Path) -> None:
    from locfusion import pipeline

    work = group_bundle.parent
    other = tmp_path / "model.json"
    other.write_text(json.dumps({**json.loads((work / "fold_1/model.json").read_text()), "seed": 8}))
    models = [fold_model(work, 0), {**fold_model(work, 1), "manifest": str(other)}]
    with pytest.raises(InputError, match=rf"{other}: a model of experiment 'lib' seed 8 among those of experiment "
                                         "'lib' seed 7"):
        pipeline.calibrate_models(models, str(work / "dataset.tsv"), calibration_out(tmp_path), CALIBRATE_SETTINGS,
                                  shards={"onehot": [str(work / "onehot.h5")]})
    with pytest.raises(InputError, match="grid point 0, but settings are given for \\[1\\]"):
        pipeline.calibrate_models([fold_model(work, 0)], str(work / "dataset.tsv"), calibration_out(tmp_path),
                                  {1: CALIBRATE_SETTINGS[0]}, shards={"onehot": [str(work / "onehot.h5")]})
    assert not (tmp_path / "calibration.json").exists()


def test_predict_divides_each_fold_models_logits_by_its_temperature(group_bundle: Path, tmp_path: Path) -> None:
    """Temperatures forged to 1 give the plain mean of the fold models; others give the mean of
    softmax(logits / T_k), computed here independently; each fold's top class, hence Agreement, stays."""
    query = ids_only_fasta(DEMO_FASTA, tmp_path / "query.fasta", first=20)
    plain = independent_fold_probabilities(group_bundle, query, tmp_path, calibrated=False)
    tables = {}
    for case, temperatures in {"one": [1.0] * 5, "mixed": [0.5, 1.0, 2.0, 3.0, 4.0]}.items():
        bundle = Path(shutil.copytree(group_bundle, tmp_path / case))
        _set_temperatures(bundle, temperatures)
        proc = cli("predict", "-f", str(query), "-o", str(tmp_path / f"out_{case}"), "-b", str(bundle), "-g", "negative")
        assert proc.returncode == 0, proc.stderr
        assert "probabilities temperature-calibrated per fold model" in proc.stdout
        summary = json.loads((tmp_path / f"out_{case}/summary.json").read_text())
        assert summary["probabilities"]["calibrated"] is True
        assert list(summary["probabilities"]["temperatures"].values()) == temperatures
        table = tables[case] = read_table(tmp_path / f"out_{case}/predictions.tsv")
        t = np.asarray(temperatures)[:, None, None]
        z = np.log(plain) / t
        expected = np.exp(z - z.max(axis=2, keepdims=True))
        expected = (expected / expected.sum(axis=2, keepdims=True)).mean(axis=0)
        np.testing.assert_allclose(table[[DEEPLOCPRO_OUTPUT_NAMES[c] for c in CLASSES]].to_numpy(), expected, atol=2e-6)
        votes = (plain.argmax(axis=2) == expected.argmax(axis=1)[None, :]).mean(axis=0)
        np.testing.assert_allclose(table["Agreement"], votes, atol=1e-9)
    assert not np.allclose(tables["one"][PROBS].to_numpy(), tables["mixed"][PROBS].to_numpy(), atol=1e-3)


def test_temperature_is_fitted_on_the_validation_fold_only(group_bundle: Path, tmp_path: Path) -> None:
    """Relabelling the test fold changes the calibrated test table but not T; relabelling the
    validation fold changes T (so the test can fail)."""
    from locfusion import pipeline
    from locfusion.calibration_files import read_calibrated_predictions
    from locfusion.classes import CLASSES as ORDER
    from locfusion.dataset import read_dataset
    from locfusion.io import write_tsv

    work = group_bundle.parent
    fold = work / "fold_0"
    manifest = json.loads((fold / "model.json").read_text())
    test_fold, val_fold = manifest["test_fold"], manifest["val_fold"]
    data = read_dataset(str(work / "dataset.tsv"))
    shifted = {c: ORDER[(i + 1) % len(ORDER)] for i, c in enumerate(ORDER)}
    results = {}
    for case, relabel in {"as_trained": None, "test_relabelled": test_fold, "val_relabelled": val_fold}.items():
        table = data.copy()
        if relabel is not None:
            rows = table["fold"] == relabel
            table.loc[rows, "label"] = table.loc[rows, "label"].map(shifted)
        write_tsv(table, tmp_path / f"{case}.tsv")
        out = {"calibration": str(tmp_path / f"{case}.json"), "predictions": str(tmp_path / f"{case}_test.tsv")}
        (record,) = pipeline.calibrate_models([fold_model(work, 0)], str(tmp_path / f"{case}.tsv"), out,
                                              CALIBRATE_SETTINGS, shards={"onehot": [str(work / "onehot.h5")]})
        (rows,) = read_calibrated_predictions([out["predictions"]]).values()
        results[case] = (record, rows)
    base, base_test = results["as_trained"]
    assert base["fitted_on"] == f"validation fold {val_fold}" and base["test_max_abs_difference_to_training"] < 1e-6
    assert base["nll_after"] <= base["nll_before"] and 0 < base["temperature"]
    same, same_test = results["test_relabelled"]
    assert same == base  # T and every validation number unchanged
    assert (same_test["true"] != base_test["true"]).all()  # ... though the test fold did change
    pd.testing.assert_frame_equal(same_test.drop(columns="true"), base_test.drop(columns="true"))
    moved, _ = results["val_relabelled"]
    assert moved["temperature"] != base["temperature"] and moved["n"] == base["n"]


# ----------------------------------------------------------------------------- bad input


BAD_FASTA = {
    "empty": ("", ["no FASTA records (empty file?)"]),
    "not_fasta": ("protein sequences\nMKVLAAGLLL\n", ["not a FASTA file", "does not start with '>'"]),
    "latin1": (">P1\nMKV\nLL\xe9AA\n", ["record 1 'P1': byte 0xE9 at residue position 6 is not UTF-8 text"]),
    "empty_sequence": (">P1 first\n>P2\nMKVLAAGLLL\n", ["record 1 'P1': empty sequence"]),
    "duplicate": (">P1 a\nMKVLAAGLLL\n>P2\nMKV\n>P1 b\nMKVL\n", ["record 3: duplicate ID 'P1' (first seen in record 1)"]),
    "digit": (">P1\nMKVLA\n>P2\nMKV1LL\n", ["record 2 'P2': invalid residue '1' at position 4"]),
    "letter_j": (">Q9XYZ1\nMKJLL\n", ["record 1 'Q9XYZ1': invalid residue 'J' at position 3"]),
    "gap": (">P1\nMKV-LL\n", ["record 1 'P1': invalid residue '-' at position 4", "alignment gap"]),
    "nucleotides": (">gene1\n" + "ATGGCTAAAGGTACCTGA" * 5 + "\n", ["record 1 'gene1': looks like a nucleotide sequence"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_bad_fasta_one_line_error(case: str, tmp_path: Path) -> None:
    text, fragments = BAD_FASTA[case]
    fasta = tmp_path / f"{case}.fasta"
    fasta.write_bytes(text.encode("latin-1"))  # one byte per character: '\xe9' is not UTF-8
    proc = cli("predict", "-f", str(fasta), "-o", str(tmp_path / "out"), "-b", str(tmp_path / "no_bundle"))
    assert_one_line_error(proc, str(fasta), *fragments)
    assert not (tmp_path / "out").exists()


def test_binary_missing_and_bundle_errors(tmp_path: Path) -> None:
    binary = tmp_path / "x.fasta"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert_one_line_error(cli("predict", "-f", str(binary), "-o", str(tmp_path / "o"), "-b", "b"), "not text")
    assert_one_line_error(cli("predict", "-f", str(tmp_path / "nope.fasta"), "-o", str(tmp_path / "o"), "-b", "b"),
                          "FASTA file not found")
    good = tmp_path / "good.fasta"
    good.write_text(">P1\nMKVLAAGLLLXUZBO\n")
    assert_one_line_error(cli("predict", "-f", str(good), "-o", str(tmp_path / "o"), "-b", str(tmp_path / "none")),
                          "bundle directory not found")
    (tmp_path / "notabundle").mkdir()
    assert_one_line_error(cli("predict", "-f", str(good), "-o", str(tmp_path / "o"), "-b", str(tmp_path / "notabundle")),
                          "not a locfusion bundle (no manifest.json)")


def test_rare_residues_and_any_length(bundle: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    seqs = {"tiny": "MK", "rare": "MKXUZBOLLAAGX" * 4, "huge": "".join(rng.choice(aa, 5000))}
    fasta = tmp_path / "odd.fasta"
    fasta.write_text("".join(f">{k} desc\n{v.lower() if k == 'rare' else v}\n" for k, v in seqs.items()))
    proc = cli("predict", "-f", str(fasta), "-o", str(tmp_path / "out"), "-b", str(bundle), "-q")
    assert proc.returncode == 0, proc.stderr
    table = read_table(tmp_path / "out/predictions.tsv")
    assert table["ACC"].tolist() == ["tiny", "rare", "huge"]
    assert table["Cropped"].tolist() == ["no", "no", "yes"]


def test_version() -> None:
    from locfusion import __version__

    script = Path(sys.executable).parent / "locfusion"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "locfusion.cli"]
    proc = subprocess.run([*command, "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"locfusion {__version__}"
