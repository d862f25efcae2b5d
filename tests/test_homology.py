"""Homology audit (MMseqs2) and the stratified random split of the leakage demonstration."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from locfusion.config import validate_config
from locfusion.dataset import assign_folds, stratified_folds
from locfusion.errors import InputError
from locfusion.homology import AuditSettings, audit_folds, audit_summary, best_hits, mmseqs_executable, summary_line
from workflow_utils import AMINO, merge_configs, random_protein

REPO = Path(__file__).resolve().parent.parent
N_FOLDS = 5


def mutate(rng: np.random.Generator, seq: str, fraction: float) -> str:
    """`seq` with `fraction` of its positions substituted by a different residue."""
    chars = np.array(list(seq))
    positions = rng.choice(len(chars), size=int(round(fraction * len(chars))), replace=False)
    for p in positions:
        chars[p] = rng.choice(AMINO[AMINO != chars[p]])
    return "".join(chars)


@pytest.fixture(scope="module")
def planted(mmseqs: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, AuditSettings]:
    """Random proteins in 5 folds, plus in test fold 0: a 10 %-mutated copy of a training-fold
    protein (fold 2), one of a validation-fold protein (fold 1: validation for test fold 0),
    and an unrelated random protein."""
    rng = np.random.default_rng(7)
    rows = [{"id": f"P{f}_{i}", "fold": f, "sequence": random_protein(rng, int(rng.integers(120, 260)))}
            for f in range(N_FOLDS) for i in range(8)]
    data = pd.DataFrame(rows)
    source_train = data.loc[data["fold"] == 2, "sequence"].iloc[3]
    source_val = data.loc[data["fold"] == 1, "sequence"].iloc[5]
    extra = pd.DataFrame([
        {"id": "dup_of_train", "fold": 0, "sequence": mutate(rng, source_train, 0.10)},
        {"id": "dup_of_val", "fold": 0, "sequence": mutate(rng, source_val, 0.10)},
        {"id": "unrelated", "fold": 0, "sequence": random_protein(rng, 200)},
    ])
    data = pd.concat([data, extra], ignore_index=True)
    data["label"], data["group"] = "Cytoplasmic", "negative"
    settings = AuditSettings(threads=1)
    table = audit_folds(data, N_FOLDS, settings, workdir=tmp_path_factory.mktemp("audit"))
    return data, table.set_index("id"), settings


def test_planted_near_duplicate_of_a_training_protein_is_found(planted: tuple) -> None:
    data, table, settings = planted
    hit = table.loc["dup_of_train"]
    assert hit["best_train_id"] == "P2_3" and hit["train_fold"] == 2
    assert hit["identity"] >= 0.85 and hit["qcov"] >= 0.95 and hit["tcov"] >= 0.95
    assert hit["train_hit"] and hit["seen_hit"]
    # One row per protein, every protein tested exactly once, in its own fold.
    assert sorted(table.index) == sorted(data["id"]) and (table["fold"] == data.set_index("id")["fold"].reindex(table.index)).all()


def test_validation_fold_duplicate_counts_as_seen_but_not_as_training(planted: tuple) -> None:
    _, table, _ = planted
    hit = table.loc["dup_of_val"]
    assert not hit["train_hit"] and hit["best_train_id"] != "P1_5"
    assert hit["seen_hit"] and hit["best_seen_id"] == "P1_5" and hit["seen_fold"] == 1 and hit["seen_identity"] >= 0.85


def test_unrelated_random_proteins_have_no_homolog(planted: tuple) -> None:
    data, table, settings = planted
    assert not table.loc["unrelated", "train_hit"] and table.loc["unrelated", "identity"] < settings.min_identity
    # The only homologs: the planted pairs, seen from both sides. P2_3 (test fold 2) has its mutant in
    # fold 0, a training fold of test fold 2; so does P1_5 (test fold 1: folds 0, 3, 4 train).
    assert set(table.index[table["train_hit"]]) == {"dup_of_train", "P2_3", "P1_5"}
    assert set(table.index[table["seen_hit"]]) == {"dup_of_train", "dup_of_val", "P2_3", "P1_5"}
    summary = audit_summary(table.reset_index(), settings, N_FOLDS).set_index("fold")
    assert summary.loc["all", "n_train_hit"] == 3 and summary.loc["all", "n_seen_hit"] == 4
    assert summary.loc["0", "n_test"] == 11 and summary.loc["0", "fraction_train_hit"] == pytest.approx(1 / 11)
    assert summary.loc["3", "n_train_hit"] == summary.loc["4", "n_train_hit"] == 0
    assert (summary.loc["0", "n_train"], summary.loc["0", "n_val"]) == (24, 8)  # folds 2-4 train, fold 1 validates
    assert "3 of 43 test proteins (7.0 %)" in summary_line(summary.reset_index())


def test_histogram_figure_is_written(planted: tuple, tmp_path: Path) -> None:
    from locfusion.plots import plot_homology_audit

    _, table, settings = planted
    paths = plot_homology_audit(table.reset_index(), audit_summary(table.reset_index(), settings, N_FOLDS), tmp_path / "audit")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_best_hit_prefers_covering_hits_and_reports_no_hit_as_zero() -> None:
    hits = pd.DataFrame({
        "query": ["q1", "q1", "q1", "q2"],
        "target": ["short", "long", "longer_weaker", "x"],
        "fident": [1.0, 0.45, 0.40, 0.9],
        "alnlen": [20, 180, 180, 10],
        "qcov": [0.1, 0.9, 0.9, 0.05],
        "tcov": [0.1, 0.8, 0.8, 0.05],
        "evalue": [1e-5, 1e-30, 1e-20, 1e-2],
        "bits": [40.0, 200.0, 150.0, 20.0],
    })
    best = best_hits(hits, ["q1", "q2", "q3"], min_coverage=0.5).set_index("id")
    assert best.loc["q1", "target"] == "long" and best.loc["q1", "fident"] == 0.45
    assert best.loc["q2", "target"] == "x" and best.loc["q2", "qcov"] == 0.05  # best of what there is
    assert best.loc["q3", "target"] == "" and best.loc["q3", "fident"] == 0.0 and np.isnan(best.loc["q3", "evalue"])


def test_missing_mmseqs_is_one_line_with_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match=r"'mmseqs' not found on PATH; install MMseqs2: apt-get install mmseqs2") as err:
        mmseqs_executable()
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------ stratified folds


def uneven_labels(n: int = 503, seed: int = 3) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(["A", "B", "C", "D", "E", "F"], size=n, p=[0.45, 0.2, 0.15, 0.1, 0.07, 0.03]).tolist()
    groups = rng.choice(["negative", "positive", "archaea"], size=n, p=[0.7, 0.25, 0.05]).tolist()
    return labels, groups


def test_stratified_folds_cover_every_protein_once_with_class_proportions_kept() -> None:
    labels, groups = uneven_labels()
    folds = stratified_folds(labels, groups, N_FOLDS, seed=11)
    assert len(folds) == len(labels) and set(folds) == set(range(N_FOLDS))
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for label, n in Counter(labels).items():
        per_fold = Counter(f for f, lab in zip(folds, labels, strict=True) if lab == label)
        for k in range(N_FOLDS):
            assert abs(per_fold[k] - n / N_FOLDS) < 1, (label, k, per_fold[k], n)
    for stratum, n in Counter(zip(labels, groups)).items():
        per_fold = Counter(f for f, *s in zip(folds, labels, groups, strict=True) if tuple(s) == stratum)
        assert all(abs(per_fold[k] - n / N_FOLDS) < 1 for k in range(N_FOLDS)), stratum


def test_stratified_folds_are_seeded_and_deterministic() -> None:
    labels, groups = uneven_labels()
    first = stratified_folds(labels, groups, N_FOLDS, seed=11)
    assert stratified_folds(labels, groups, N_FOLDS, seed=11) == first
    other = stratified_folds(labels, groups, N_FOLDS, seed=12)
    assert other != first and sum(a != b for a, b in zip(first, other, strict=True)) > len(first) / 2


def test_assign_folds_keeps_the_header_fold() -> None:
    labels, groups = uneven_labels(60)
    kept = pd.DataFrame({"id": [f"p{i}" for i in range(60)], "label": labels, "group": groups,
                         "fold": [i % N_FOLDS for i in range(60)]})
    header = assign_folds(kept, "header", N_FOLDS, seed=1)
    assert (header["fold"] == kept["fold"]).all() and (header["header_fold"] == kept["fold"]).all()
    strat = assign_folds(kept, "stratified", N_FOLDS, seed=1)
    assert (strat["header_fold"] == kept["fold"]).all() and (strat["fold"] != kept["fold"]).any()
    assert strat["fold"].tolist() == stratified_folds(labels, groups, N_FOLDS, seed=1)
    with pytest.raises(InputError, match="data.folds 'random' must be one of header, stratified"):
        assign_folds(kept, "random", N_FOLDS, seed=1)


def test_real_proteins_stratified_split(partial_fasta: Path, tmp_path: Path) -> None:
    """The 1,051 real proteins: stratified folds of 210-211, header folds untouched in header_fold."""
    from locfusion.dataset import read_dataset
    from locfusion.pipeline import filter_dataset, normalize

    normalize(str(partial_fasta), str(tmp_path / "proteins.tsv"))
    settings = {"min_length": 40, "max_length": 1000, "long_policy": "drop", "deduplicate": True}
    outputs = [str(tmp_path / name) for name in ("dataset.tsv", "excluded.tsv", "summary.json")]
    header = filter_dataset(str(tmp_path / "proteins.tsv"), *outputs, settings)
    header_data = read_dataset(outputs[0])
    summary = filter_dataset(str(tmp_path / "proteins.tsv"), *outputs, settings, folds="stratified", fold_seed=42)
    data = read_dataset(outputs[0])
    assert sorted(summary["kept_by_fold"].values()) == [210, 210, 210, 210, 211]
    assert summary["kept_by_header_fold"] == header["kept_by_fold"] == header["kept_by_header_fold"]
    assert (data["header_fold"] == header_data["fold"]).all() and (data["fold"] != data["header_fold"]).any()


# ------------------------------------------------------------------------------ configuration


def offline_config(*overlays: str) -> dict:
    """resources/offline_study/config.yaml with overlays merged as snakemake merges --configfile files."""
    offline = REPO / "resources" / "offline_study"
    return merge_configs(offline / "config.yaml", *(offline / name for name in overlays))


def test_new_keys_default_to_header_folds_and_no_audit() -> None:
    config = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert config["data"]["folds"] == "header" and isinstance(config["data"]["fold_seed"], int)
    audit = config["audit"]
    assert audit["enabled"] is False
    assert (audit["min_identity"], audit["min_coverage"], audit["sensitivity"]) == (0.3, 0.5, 7.5)


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("data", {"folds": "random"}, r"config key 'data\.folds': 'random' is not one of \['header', 'stratified'\]"),
        ("data", {"fold_seed": 1.5}, r"config key 'data\.fold_seed': 1\.5 is not of type 'integer'"),
        ("audit", {"min_identity": 30}, r"config key 'audit\.min_identity': 30 is greater than the maximum of 1"),
        ("audit", {"sensitivity": 9}, r"config key 'audit\.sensitivity': 9 is greater than the maximum of 7\.5"),
        ("audit", {"aligner": "blast"}, r"config key 'audit\.aligner': Additional properties"),
    ],
)
def test_bad_fold_and_audit_keys_name_the_key(section: str, values: dict, message: str) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.setdefault(section, {}).update(values)
    with pytest.raises(InputError, match=message):
        validate_config(config)


def test_stratified_folds_reject_deeplocpro_predictions_in_one_line() -> None:
    config = offline_config()
    config["data"]["folds"] = "stratified"
    with pytest.raises(InputError, match=r"'evaluation\.deeplocpro_predictions': DeepLocPro's held-out predictions "
                                         r"belong to GraphPart's header folds.*set it to null") as err:
        validate_config(copy.deepcopy(config))
    assert "\n" not in str(err.value)


def test_offline_leakage_overlays_validate() -> None:
    """The two configurations of `make offline-leakage`: GraphPart and stratified folds, audit on."""
    graphpart = validate_config(offline_config("audit.yaml"))
    stratified = validate_config(offline_config("audit.yaml", "stratified.yaml"))
    assert graphpart["audit"]["enabled"] and stratified["audit"]["enabled"]
    assert graphpart["data"]["folds"] == "header" and stratified["data"]["folds"] == "stratified"
    assert stratified["evaluation"]["deeplocpro_predictions"] is None
    assert graphpart["experiments"] == stratified["experiments"] and graphpart["training"] == stratified["training"]


# ------------------------------------------------------------------------------ leakage table


def write_run(root: Path, folds: list[int], correct: np.ndarray, train_hit: np.ndarray, scheme: str) -> Path:
    """A workflow results tree as the real stages write it (filter summary, audit summary, experiment
    summary from `summarize_experiment` over test predictions)."""
    from locfusion.classes import CLASSES
    from locfusion.io import write_json, write_tsv
    from locfusion.metrics import evaluate_fold, summarize_experiment

    n = len(folds)
    true = [CLASSES[i % len(CLASSES)] for i in range(n)]
    predicted = [t if ok else CLASSES[(CLASSES.index(t) + 1) % len(CLASSES)] for t, ok in zip(true, correct, strict=True)]
    pooled = pd.DataFrame({"fold": folds, "true": true, "predicted": predicted})
    per_fold = {k: evaluate_fold(sub) for k, sub in pooled.groupby("fold")}
    write_json(summarize_experiment(per_fold, pooled), root / "results/experiments/exp/summary.json")
    sizes = Counter(folds)
    write_json({"kept_by_fold": {str(k): sizes[k] for k in sorted(sizes)}, "folds": {"scheme": scheme}},
               root / "results/data/filter_summary.json")
    table = pd.DataFrame({"fold": folds, "best_train_id": "", "identity": 0.0, "train_hit": train_hit,
                          "seen_hit": train_hit})
    write_tsv(audit_summary(table, AuditSettings(), N_FOLDS), root / "results/audit/summary.tsv")
    return root


def test_leakage_table_reports_both_schemes_and_their_difference(tmp_path: Path) -> None:
    from locfusion.leakage import leakage_lines, leakage_table

    rng = np.random.default_rng(5)
    folds = [i % N_FOLDS for i in range(300)]
    graphpart = write_run(tmp_path / "g", folds, rng.random(300) < 0.6, np.zeros(300, bool), "header")
    stratified = write_run(tmp_path / "s", folds, rng.random(300) < 0.8, rng.random(300) < 0.4, "stratified")
    table = leakage_table({"graphpart": graphpart, "stratified": stratified}, "exp", "graphpart").set_index("scheme")
    assert table.loc["graphpart", "fold_sizes"] == "60/60/60/60/60" and table.loc["stratified", "folds"] == "stratified"
    assert table.loc["graphpart", "fraction_train_hit"] == 0
    diff = table.loc["stratified - graphpart"]
    assert diff["mcc_pooled"] == pytest.approx(table.loc["stratified", "mcc_pooled"] - table.loc["graphpart", "mcc_pooled"])
    assert diff["mcc_pooled"] > 0.1 and diff["fraction_train_hit"] == table.loc["stratified", "fraction_train_hit"]
    lines = leakage_lines(table.reset_index(), "exp")
    assert len(lines) == 3 and lines[2].startswith("stratified - graphpart: MCC pooled +")
    with pytest.raises(InputError, match=r"none/results/data/filter_summary\.json: not found \(run the workflow"):
        leakage_table({"graphpart": graphpart, "empty": tmp_path / "none"}, "exp", "graphpart")


# ------------------------------------------------------------------------------ workflow


def test_audit_rules_are_planned_only_when_enabled(tmp_path: Path) -> None:
    """`audit.enabled` adds the audit table and its figure to the default targets; off, nothing."""
    from workflow_utils import job_counts, snakemake

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "off.yaml").write_text(yaml.safe_dump(config))
    config["audit"] = {"enabled": True}
    config["data"] = {**config.get("data", {}), "folds": "stratified"}
    (tmp_path / "on.yaml").write_text(yaml.safe_dump(config))
    counts = {}
    for name in ("off", "on"):
        out = snakemake(tmp_path, "-s", str(REPO / "Snakefile"), "--configfile", f"{name}.yaml", "-n", "--cores", "4")
        counts[name] = job_counts(out.stdout + out.stderr)
    assert "homology_audit" not in counts["off"] and "figure_homology_audit" not in counts["off"]
    assert counts["on"]["homology_audit"] == counts["on"]["figure_homology_audit"] == 1
    assert counts["on"]["train"] == counts["off"]["train"]  # the fold scheme changes folds, not the plan
