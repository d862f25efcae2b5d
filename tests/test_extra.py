"""Extra training proteins: rejection with reasons, per-split homology exclusion (real MMseqs2),
subsampling for the learning curve, training with them, and the workflow plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from locfusion.dataset import FilterSettings
from locfusion.errors import InputError
from locfusion.extra import (ExclusionSettings, coverage, curve_experiments, exclude_homologs, normalize_extras,
                             rejection_counts, split_name, subsample, training_extras)
from locfusion.homology import AuditSettings
from workflow_utils import REPO, job_counts, merge_configs, random_protein, snakemake, write_config

N_FOLDS = 5
FIXTURES = Path(__file__).parent / "fixtures"


def point_mutant(seq: str, positions: list[int]) -> str:
    """`seq` with a different residue at each of `positions`."""
    chars = list(seq)
    for p in positions:
        chars[p] = "W" if chars[p] != "W" else "A"
    return "".join(chars)


def tiny_dataset(rng: np.random.Generator) -> pd.DataFrame:
    """Random proteins (no homologs between them), 6 per fold, in the dataset's columns."""
    rows = []
    for fold in range(N_FOLDS):
        for i in range(6):
            seq = random_protein(rng, int(rng.integers(120, 220)))
            rows.append({"id": f"P{fold}_{i}", "label": "Cytoplasmic", "group": "negative", "fold": fold,
                         "length": len(seq), "sequence": seq, "raw_label": "Cytoplasmic", "raw_group": "negative"})
    return pd.DataFrame(rows)


def write_fasta(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{header}\n{seq}\n" for header, seq in records))
    return path


# ------------------------------------------------------------------------------ rejection


def test_records_that_cannot_train_are_rejected_with_their_reason(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = tiny_dataset(rng)
    good = random_protein(rng, 100)
    records = [
        ("X1|Cytoplasmic|unknown some description", good),
        ("X2|Periplasmic|negative", random_protein(rng, 90)),
        ("X1|Cytoplasmic|unknown", random_protein(rng, 80)),            # same ID again
        ("P0_0|Cytoplasmic|negative", random_protein(rng, 80)),        # a dataset protein's ID
        ("X3|Cytoplasmic;Periplasmic|negative", random_protein(rng, 80)),
        ("X4|Nucleus|negative", random_protein(rng, 80)),
        ("X5|Cytoplasmic|fungi", random_protein(rng, 80)),
        ("X6|Cytoplasmic|negative", "MKV1LLA" + random_protein(rng, 60)),
        ("X7|Cytoplasmic|negative", random_protein(rng, 20)),           # too short
        ("X8|Extracellular|positive", good),                            # copy of X1
        ("X9|Extracellular|positive", data["sequence"].iloc[7]),        # copy of a dataset protein
        ("X10|Cytoplasmic", random_protein(rng, 80)),                   # no group field
        ("X11|Cellwall|positive|3", random_protein(rng, 80)),           # dataset format: fold ignored
    ]
    path = write_fasta(tmp_path / "extra.fasta", records)
    kept, rejected = normalize_extras([str(path)], data, data, FilterSettings())
    assert list(kept["id"]) == ["X1", "X2", "X11"]
    assert set(kept["fold"]) == {-1} and kept.set_index("id").loc["X1", "group"] == "unknown"
    assert kept.set_index("id").loc["X11", "label"] == "Cell wall & surface"
    reasons = dict(zip(rejected["id"] + "@" + rejected["record"].astype(str), rejected["reason"]))
    assert reasons["X1@3"].startswith("duplicate ID (first: ") and reasons["X1@3"].endswith("record 1)")
    assert reasons["P0_0@4"] == "ID clash with a dataset protein"
    assert reasons["X3@5"] == "multi-label (Cytoplasmic;Periplasmic)"
    assert reasons["X4@6"] == "unknown label 'Nucleus'"
    assert reasons["X5@7"].startswith("unknown organism group 'fungi'")
    assert reasons["X6@8"].startswith("invalid sequence: invalid residue '1' at position 4")
    assert reasons["X7@9"] == "too short (20 < 40 aa)"
    assert reasons["X8@10"] == "duplicate sequence of X1"
    assert reasons["X9@11"] == "same sequence as a dataset protein: P1_1 (fold 1)"
    assert reasons["X10@12"].startswith("malformed header: 2 '|'-separated field(s)")
    assert len(kept) + len(rejected) == len(records)
    assert rejection_counts(rejected) == {"ID clash with a dataset protein": 1, "duplicate ID": 1,
                                          "duplicate sequence": 1, "invalid sequence": 1, "malformed header": 1,
                                          "multi-label": 1, "same sequence as a dataset protein": 1,
                                          "too short": 1, "unknown label": 1, "unknown organism group": 1}


# ------------------------------------------------------------------------------ homology exclusion per split


@pytest.fixture(scope="module")
def planted(mmseqs: str, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], tuple[pd.DataFrame, pd.DataFrame]]:
    """A tiny dataset; extras: a 2-point mutant of a fold-0 protein, a 1-point mutant of a fold-3
    protein's C-terminal half (a fragment), and a dissimilar random protein."""
    rng = np.random.default_rng(11)
    data = tiny_dataset(rng)
    source = data.loc[data["id"] == "P0_2", "sequence"].iloc[0]
    other = data.loc[data["id"] == "P3_4", "sequence"].iloc[0]
    extras = pd.DataFrame({
        "id": ["mutant_of_P0_2", "fragment_of_P3_4", "dissimilar"],
        "label": ["Cytoplasmic"] * 3, "group": ["unknown"] * 3, "fold": [-1] * 3,
        "sequence": [point_mutant(source, [10, 50]), point_mutant(other[len(other) // 2:], [5]),
                     random_protein(rng, 150)],
    })
    extras["length"] = extras["sequence"].str.len()
    splits = [(0, 1), (4, 0), (1, 2), (2, 3)]
    work = tmp_path_factory.mktemp("extra")
    return exclude_homologs(extras, data, splits, ExclusionSettings(), AuditSettings(threads=1), workdir=work)


def test_a_point_mutant_of_a_test_protein_is_excluded_with_its_hit(planted) -> None:
    admitted, excluded = planted[(0, 1)]
    assert list(excluded["extra_id"]) == ["mutant_of_P0_2"]
    hit = excluded.iloc[0]
    assert hit["hit_id"] == "P0_2" and hit["hit_fold"] == 0 and hit["role"] == "test"
    assert 0.98 <= hit["identity"] < 1.0 and hit["coverage"] >= 0.99
    assert set(admitted["id"]) == {"fragment_of_P3_4", "dissimilar"}  # the dissimilar one is kept
    assert set(admitted["test_fold"]) == {0} and set(admitted["val_fold"]) == {1}


def test_a_homolog_of_a_validation_protein_is_excluded_as_such(planted) -> None:
    _, excluded = planted[(4, 0)]
    assert list(excluded["extra_id"]) == ["mutant_of_P0_2"]
    assert excluded.iloc[0]["role"] == "validation"


def test_exclusion_is_per_split_the_planted_protein_trains_where_its_homolog_trains(planted) -> None:
    admitted, excluded = planted[(1, 2)]  # fold 0 trains in this split
    assert excluded.empty and set(admitted["id"]) == {"mutant_of_P0_2", "fragment_of_P3_4", "dissimilar"}


def test_a_fragment_counts_by_the_coverage_of_the_shorter_protein(planted) -> None:
    """Half of P3_4: it covers ~50 % of P3_4 (qcov of the target) but all of itself."""
    _, excluded = planted[(2, 3)]
    row = excluded.set_index("extra_id").loc["fragment_of_P3_4"]
    assert row["hit_id"] == "P3_4" and row["role"] == "validation"
    assert row["qcov"] >= 0.99 and row["tcov"] < 0.55 and row["coverage"] == row["qcov"]


def test_split_summary_counts_each_split(planted) -> None:
    from locfusion.extra import split_summary

    summary = split_summary(planted, 3, n_rejected=2).set_index("split")
    assert summary.loc["fold0_val1", ["records", "rejected", "candidates", "excluded", "excluded_test",
                                      "admitted"]].tolist() == [5, 2, 3, 1, 1, 2]
    assert summary.loc["fold1_val2", "excluded"] == 0 and summary.loc["fold2_val3", "excluded_validation"] == 1


def test_stage_functions_write_each_split_and_the_summary(mmseqs: str, tmp_path: Path) -> None:
    """Rules normalize_extra and extra_homology as the workflow calls them (config sections as given)."""
    from locfusion.extra import run_exclusion, run_normalize
    from locfusion.io import write_tsv

    rng = np.random.default_rng(5)
    data = tiny_dataset(rng)
    write_tsv(data, tmp_path / "dataset.tsv")
    source = data.loc[data["id"] == "P1_0", "sequence"].iloc[0]
    fasta = write_fasta(tmp_path / "x.fasta", [("M|Periplasmic|unknown", point_mutant(source, [3])),
                                               ("D|Cytoplasmic|negative", random_protein(rng, 90)),
                                               ("Z|Cytoplasmic,Periplasmic|negative", random_protein(rng, 90))])
    run_normalize([str(fasta)], str(tmp_path / "dataset.tsv"), str(tmp_path / "dataset.tsv"),
                  {"min_length": 40, "max_length": 1000, "long_policy": "drop", "deduplicate": True},
                  str(tmp_path / "extra.tsv"), str(tmp_path / "rejected.tsv"))
    splits = [(0, 1), (1, 2)]
    admitted = [str(tmp_path / f"extra_admitted_{split_name(*s)}.tsv") for s in splits]
    excluded = [str(tmp_path / f"extra_excluded_{split_name(*s)}.tsv") for s in splits]
    summary = run_exclusion(str(tmp_path / "extra.tsv"), str(tmp_path / "dataset.tsv"), splits,
                            {"min_identity": 0.3, "min_coverage": 0.5}, {"sensitivity": 7.5, "evalue": 0.001},
                            admitted, excluded, str(tmp_path / "summary.tsv"), str(tmp_path / "rejected.tsv"))
    assert summary["excluded_validation"].tolist() == [1, 0] and summary["excluded_test"].tolist() == [0, 1]
    assert summary["rejected"].tolist() == [1, 1] and summary["admitted"].tolist() == [1, 1]
    hit = pd.read_csv(excluded[1], sep="\t").iloc[0]
    assert (hit["extra_id"], hit["hit_id"], hit["role"]) == ("M", "P1_0", "test")
    counts = json.loads((tmp_path / "summary.json").read_text())
    assert counts["rejected"] == {"multi-label": 1} and counts["n_candidates"] == 2


def test_coverage_is_that_of_the_shorter_protein() -> None:
    hits = pd.DataFrame({"qcov": [0.2, 0.9], "tcov": [0.95, 0.4]})
    assert coverage(hits).tolist() == [0.95, 0.9]


def test_thresholds_are_configurable(planted, mmseqs: str, tmp_path: Path) -> None:
    """At an identity threshold above the mutant's (~99 %), nothing is excluded."""
    rng = np.random.default_rng(11)
    data = tiny_dataset(rng)
    source = data.loc[data["id"] == "P0_2", "sequence"].iloc[0]
    extras = pd.DataFrame({"id": ["m"], "label": ["Cytoplasmic"], "group": ["unknown"], "fold": [-1],
                           "sequence": [point_mutant(source, [10, 50])]})
    strict = exclude_homologs(extras, data, [(0, 1)], ExclusionSettings(min_identity=0.999), AuditSettings(threads=1),
                              workdir=tmp_path)
    assert strict[(0, 1)][1].empty and list(strict[(0, 1)][0]["id"]) == ["m"]


# ------------------------------------------------------------------------------ subsampling and training


def admitted_table(n: int, test_fold: int = 0, val_fold: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"E{i:03d}" for i in range(n)], "label": "Cytoplasmic", "group": "unknown",
                         "fold": -1, "sequence": "MKV" * 20, "length": 60, "test_fold": test_fold,
                         "val_fold": val_fold})


def test_subsets_are_seeded_nested_and_per_split() -> None:
    table = admitted_table(50)
    small, large = subsample(table, 10, seed=42), subsample(table, 30, seed=42)
    assert len(small) == 10 and len(large) == 30 and set(small["id"]) <= set(large["id"])
    assert list(subsample(table, 10, seed=42)["id"]) == list(small["id"])
    assert set(subsample(table, 10, seed=43)["id"]) != set(small["id"])
    assert set(subsample(admitted_table(50, 2, 3), 10, seed=42)["id"]) != set(small["id"])
    assert len(subsample(table, "all", seed=1)) == 50 and len(subsample(table, 500, seed=1)) == 50


def test_training_extras_check_the_split_and_the_group_input(tmp_path: Path) -> None:
    from locfusion.io import write_tsv

    path = tmp_path / "extra_admitted_fold0_val1.tsv"
    write_tsv(admitted_table(5), path)
    assert len(training_extras(str(path), {"extra_training_size": "all"}, 42, 0, 1, use_group=False)) == 5
    with pytest.raises(InputError, match="admitted for another split"):
        training_extras(str(path), {"extra_training_size": "all"}, 42, 2, 3, use_group=False)
    with pytest.raises(InputError, match="5 extra proteins .* have no organism group"):
        training_extras(str(path), {"extra_training_size": 3 + 2}, 42, 0, 1, use_group=True)


def test_learning_curves_group_experiments_by_model_and_inputs() -> None:
    experiments = {
        "base": {"model": "attention_pooling", "embedders": ["a"]},
        "plus": {"model": "attention_pooling", "embedders": ["a"], "extra_training_size": 100},
        "all": {"model": "attention_pooling", "embedders": ["a"], "extra_training_size": "all"},
        "other": {"model": "fusion", "embedders": ["a", "b"]},
    }
    assert curve_experiments(experiments) == ["base", "plus", "all"]
    other_lr = {**experiments, "plus": {**experiments["plus"], "training": {"lr": 0.1}}}
    assert curve_experiments(other_lr) == ["base", "all", "plus"]  # two curves: base + all, and plus alone
    # A job priority only orders jobs: the largest point scheduled first stays on its curve.
    prioritized = {**experiments, "all": {**experiments["all"], "priority": 2}}
    assert curve_experiments(prioritized) == ["base", "plus", "all"]
    with pytest.raises(InputError, match="extra_training_size -1"):
        curve_experiments({"x": {"model": "m", "embedders": ["a"], "extra_training_size": -1}})


def test_training_sees_the_split_extras_only_in_its_training_set(tmp_path: Path) -> None:
    """A real (tiny) training job with packed embeddings for dataset and extras: the extras join
    training (the manifest counts them), never the test predictions."""
    from locfusion.embedders import build_embedder
    from locfusion.io import write_tsv
    from locfusion.pipeline import train_experiment_fold
    from locfusion.store import embed_to_shard, pack_embeddings

    rng = np.random.default_rng(0)
    data = tiny_dataset(rng)
    data["label"] = [["Cytoplasmic", "Periplasmic", "Extracellular"][i % 3] for i in range(len(data))]
    write_tsv(data, tmp_path / "dataset.tsv")
    extras = admitted_table(12)
    extras["sequence"] = [random_protein(rng, 60) for _ in range(12)]
    write_tsv(extras, tmp_path / "extra_admitted_fold0_val1.tsv")
    packed = []
    for name, table in (("data", data), ("extra", extras)):
        shard = tmp_path / f"{name}.h5"
        embed_to_shard(build_embedder("blosum", {"kind": "blosum62"}), list(zip(table["id"], table["sequence"])),
                       shard, 4000, None, "crop", progress=False)
        pack_embeddings([str(shard)], str(tmp_path / f"{name}.npy"), str(tmp_path / f"{name}.tsv"))
        packed += [str(tmp_path / f"{name}.npy"), str(tmp_path / f"{name}.tsv")]
    out = {k: str(tmp_path / f"out.{k}") for k in ("weights", "manifest", "history", "predictions")}
    experiment = {"model": "attention_pooling", "embedders": ["e"], "params": {"hidden_dim": 8},
                  "extra_training_size": 7}
    training = {"epochs": 2, "patience": 2, "batch_size": 8, "seed": 42, "precision": "fp32"}
    train_experiment_fold("x", experiment, training, [str(tmp_path / "dataset.tsv"),
                                                      str(tmp_path / "extra_admitted_fold0_val1.tsv")],
                          {"e": []}, test_fold=0, val_fold=1, n_folds=N_FOLDS, checkpoint=str(tmp_path / "ck.pt"),
                          out=out, threads=1, packed={"e": packed})
    manifest = json.loads(Path(out["manifest"]).read_text())
    assert manifest["extra_training"]["used"] == 7 and manifest["extra_training"]["size"] == 7
    predictions = pd.read_csv(out["predictions"], sep="\t")
    assert set(predictions["id"]) == set(data.loc[data["fold"] == 0, "id"])


# ------------------------------------------------------------------------------ workflow plan


def test_extra_rules_are_planned_only_for_experiments_that_ask(tmp_path: Path) -> None:
    """Extras given: normalize, exclusion and the extras' embeddings are planned; rule train's jobs of an
    experiment without extra_training_size keep their inputs; one with it reads the split's list."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    write_config(tmp_path / "off.yaml", config)
    fasta = write_fasta(tmp_path / "extra.fasta", [("E1|Cytoplasmic|unknown", "MKV" * 30)])
    config["data"]["extra_training"] = [{"fasta": str(fasta)}]
    config["experiments"]["attention_pooling_extra"] = {**config["experiments"]["attention_pooling"],
                                                        "extra_training_size": "all"}
    write_config(tmp_path / "on.yaml", config)
    counts, outputs = {}, {}
    for name in ("off", "on"):
        out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", f"{name}.yaml", "-n", "--cores", "4",
                        "-p")
        counts[name], outputs[name] = job_counts(out.stdout + out.stderr), out.stdout + out.stderr
    assert "normalize_extra" not in counts["off"] and "extra_homology" not in counts["off"]
    assert counts["on"]["normalize_extra"] == counts["on"]["extra_homology"] == 1
    assert counts["on"]["embed_extra"] == config["embed"]["shards"]  # ESM-2 shards only (the extra experiment)
    assert counts["on"]["train"] == counts["off"]["train"] + 5
    assert counts["on"]["extra_learning_curve"] == counts["on"]["figure_extra_learning_curve"] == 1
    assert "results/data/extra_admitted_fold0_val1.tsv" in outputs["on"]

    def train_inputs(text: str, experiment: str) -> str:
        """The input line of rule train's job (experiment, seed 42, test fold 0) in a dry run's output."""
        for block in text.split("\n\n"):
            if "rule train:" in block and f"experiment={experiment}, seed=42, fold=0," in block:
                return next(line for line in block.splitlines() if line.strip().startswith("input:"))
        raise AssertionError(f"no train job of {experiment}")

    assert train_inputs(outputs["on"], "attention_pooling") == train_inputs(outputs["off"], "attention_pooling")
    extra_inputs = train_inputs(outputs["on"], "attention_pooling_extra")
    assert "results/data/extra_admitted_fold0_val1.tsv" in extra_inputs
    assert "results/embeddings/esm2_650m/extra/packed.npy" in extra_inputs


def test_no_default_reaches_rule_trains_params() -> None:
    """Params of rule train come from the experiment and training sections: validation must not add a
    key there (a new default would change every job's params and retrain everything)."""
    from locfusion.config import SCHEMA_PATH, validate_config
    from locfusion.cv import run_experiment

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate_config(config, SCHEMA_PATH)
    assert config["data"]["extra_training"] == [] and "extra_training_size" not in config["experiments"]["fusion"]
    assert "extra_training_size" not in run_experiment(config, "fusion", 0)


@pytest.mark.parametrize("overlay", ["psortb_extra.yaml", "near_psortb.yaml"])
def test_psortb_extra_config_plans_the_learning_curve(tmp_path: Path, overlay: str) -> None:
    """Each learning-curve overlay on top of the core offline config: a dry run plans the PSORTb
    extraction (real files when installed, else the fixture), exclusion and three curve points."""
    from locfusion.extra import curves
    from locfusion.sclblast import default_sources

    config = merge_configs(REPO / "resources/offline_study/config.yaml", REPO / "resources/offline_study" / overlay)
    if not all(Path(p).is_file() for p in default_sources("/usr/lib/psort")):
        config["psortb"] = {**config.get("psortb", {}),
                            "sclblast": [str(p) for p in sorted((FIXTURES / "sclblast").glob("*.fasta"))]}
    config["data"]["fasta"] = str(REPO / "resources/demo/demo_proteome.fasta")  # the real data may be absent here
    config["evaluation"]["deeplocpro_predictions"] = None
    config["comparisons"] = [c for c in config["comparisons"] if "DeepLocPro" not in (c["a"], c["b"])]
    write_config(tmp_path / "c.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "-n", "--cores", "2")
    counts = job_counts(out.stdout + out.stderr)
    assert counts["psortb_training_set"] == counts["normalize_extra"] == counts["extra_homology"] == 1
    assert counts["figure_extra_learning_curve"] == 1
    with_extras = [n for n, s in config["experiments"].items() if "extra_training_size" in s]
    assert len(with_extras) == 2 and counts["train"] == 5 * len(config["experiments"])
    (points,) = curves(config["experiments"]).values()  # one curve: everything but the extra proteins alike
    assert len(points) == 3 and set(with_extras) < set(points)
    embedders = {e for n in config["experiments"].values() for e in n["embedders"]}
    extra_embedders = {e for n in points for e in config["experiments"][n]["embedders"]}
    extra_shards = config["embed"].get("extra_shards") or config["embed"]["shards"]
    assert counts["embed_extra"] == extra_shards * len(extra_embedders)
    assert counts["embed"] == config["embed"]["shards"] * len(embedders)  # the core's shards stay as they are


def test_psortb_training_set_without_psortb_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    config = merge_configs(REPO / "resources/offline_study/config.yaml", REPO / "resources/offline_study/psortb_extra.yaml")
    config["psortb"] = {"sclblast": [str(tmp_path / "absent" / "sclblast")]}
    write_config(tmp_path / "c.yaml", config)
    out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", "c.yaml", "--cores", "1",
                    "results/data/psortb_training/sclblast.fasta", check=False)
    assert out.returncode != 0
    line = (f"locfusion: error in rule psortb_training_set: PSORTb training set: {tmp_path}/absent/sclblast not found; "
            "install PSORTb (apt-get install psortb, Debian/Ubuntu, as root) or set psortb.sclblast to the SCL-BLAST "
            "FASTA files")
    assert line in (out.stdout + out.stderr).splitlines()
