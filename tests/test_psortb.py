"""PSORTb side by side: parsing its real output, the prediction tables, the install check, a real run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score, matthews_corrcoef

from locfusion import plots, psortb
from locfusion.classes import CLASSES
from locfusion.comparison import PSORTB
from locfusion.config import validate_config
from locfusion.errors import InputError
from locfusion.pipeline import compare_experiments
import debian
from workflow_utils import REPO, merge_configs, copy_workflow, demo_config, job_counts, snakemake, write_config

FIXTURES = Path(__file__).parent / "fixtures"
GROUPS = ("negative", "positive", "archaea")


def fixture_text(group: str) -> str:
    """psort's bytes from a fixture file, without the provenance lines that start with '#'."""
    lines = (FIXTURES / f"psortb_long_{group}.txt").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#"))


def all_calls() -> pd.DataFrame:
    parts = []
    for group in GROUPS:
        part = psortb.parse_long_output(fixture_text(group), group)
        part.insert(1, "group", group)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- parsing real output


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("negative", {"A0A0C5CJR8": "Extracellular", "A0A0H2US87": "Cytoplasmic", "A0A0H2V8B5": "Cytoplasmic"}),
        ("positive", {"A0A0H2VG78": "Cytoplasmic membrane", "A0A3S5YBC7": "Unknown", "A0QWG5": "Cytoplasmic", "A1C3L9": "Unknown"}),
        ("archaea", {"B0R6I4": "Cytoplasmic membrane", "D4GPK6": "Cytoplasmic", "E7FHP1": "Cytoplasmic", "E7FHU4": "Cytoplasmic"}),
    ],
)
def test_long_output_parses_ids_final_calls_and_site_scores(group: str, expected: dict[str, str]) -> None:
    calls = psortb.parse_long_output(fixture_text(group), f"{group} fixture")
    assert dict(zip(calls["id"], calls["final"])) == expected  # ids lose psort's trailing space
    scores = calls[list(CLASSES)].to_numpy()
    np.testing.assert_allclose(scores.sum(axis=1), 10.0, atol=0.05)  # PSORTb's site scores sum to 10
    allowed = {"negative": {"Periplasmic", "Outer membrane"}, "positive": {"Cell wall & surface"}, "archaea": {"Cell wall & surface"}}
    forbidden = {"Periplasmic", "Outer membrane", "Cell wall & surface"} - allowed[group]
    assert (calls[sorted(forbidden)] == 0).all().all()  # sites the group does not have score 0
    called = calls[calls["final"] != psortb.UNKNOWN]
    top = np.asarray(CLASSES)[called[list(CLASSES)].to_numpy().argmax(axis=1)]
    assert list(top) == list(called["final"])  # a definite call is the top-scoring site


def test_unknown_calls_spread_the_score_evenly() -> None:
    calls = psortb.parse_long_output(fixture_text("positive"), "positive fixture").set_index("id")
    row = calls.loc["A0A3S5YBC7", ["Cytoplasmic", "Cytoplasmic membrane", "Extracellular", "Cell wall & surface"]]
    assert list(row) == [2.5, 2.5, 2.5, 2.5]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("\t10.00\tExtracellular", "\tten\tExtracellular", 1), r"protein 'A0A0C5CJR8' has Extracellular_Score 'ten', not a number"),
        (lambda t: t.replace("Final_Localization\t", "Final\t", 1), r"lacks column 'Final_Localization'"),
        (lambda t: t.replace("Periplasmic_Score", "Nucleus_Score", 1), r"score column 'Nucleus_Score' is not one of our classes"),
        (lambda t: t.replace("\tExtracellular\t\t10.00\t", "\tGolgi\t\t10.00\t", 1), r"protein 'A0A0C5CJR8' has final localization 'Golgi'"),
        (lambda t: t + t.splitlines()[1] + "\n", r"protein 'A0A0C5CJR8' appears twice"),
        (lambda t: "", r"empty PSORTb output"),
    ],
)
def test_bad_output_stops_with_one_line_naming_the_problem(edit, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        psortb.parse_long_output(edit(fixture_text("negative")), "shard_0 -n")
    assert "\n" not in str(err.value) and "shard_0 -n" in str(err.value)


# ----------------------------------------------------------------------------- tables


def dataset_for(calls: pd.DataFrame) -> pd.DataFrame:
    labels = ["Extracellular", "Extracellular", "Cytoplasmic", "Cytoplasmic membrane", "Extracellular",
              "Cytoplasmic membrane", "Cytoplasmic", "Cytoplasmic membrane", "Extracellular", "Cytoplasmic", "Cytoplasmic"]
    return pd.DataFrame({"id": list(calls["id"][::-1]), "label": labels, "group": list(calls["group"][::-1]),
                         "fold": [k % 5 for k in range(len(calls))]})


def test_predictions_table_has_the_test_predictions_format_plus_psortb_final() -> None:
    calls = all_calls()
    data = dataset_for(calls)
    table = psortb.predictions_table(calls, data)
    assert list(table.columns) == ["id", "fold", "group", "true", "predicted", *CLASSES, "psortb_final"]
    assert list(table["id"]) == list(data["id"])  # dataset order
    np.testing.assert_allclose(table[list(CLASSES)].sum(axis=1), 1.0)
    by_id = table.set_index("id")
    assert by_id.loc["A0A0C5CJR8", "Extracellular"] == 1.0
    # Unknown: PSORTb's own call kept; forced to the top score, ties to the first class in CLASSES order.
    assert by_id.loc["A1C3L9", "psortb_final"] == "Unknown"
    assert by_id.loc["A1C3L9", "predicted"] == CLASSES[0]
    definite = table[table["psortb_final"] != "Unknown"]
    assert (definite["predicted"] == definite["psortb_final"]).all()


def test_predictions_table_refuses_missing_proteins_and_wrong_groups() -> None:
    calls = all_calls()
    data = dataset_for(calls)
    with pytest.raises(InputError, match=r"protein 'E7FHU4' has no PSORTb call \(1 of 11 missing\)"):
        psortb.predictions_table(calls[calls["id"] != "E7FHU4"], data)
    data.loc[data["id"] == "B0R6I4", "group"] = "negative"
    with pytest.raises(InputError, match=r"protein 'B0R6I4' was run by PSORTb as 'archaea' but is 'negative'"):
        psortb.predictions_table(calls, data)


def test_unknown_outcome_table_matches_sklearn_over_seven_outcomes() -> None:
    rng = np.random.default_rng(0)
    outcomes = [*CLASSES, "Unknown"]
    true = rng.choice(CLASSES, size=60)
    final = np.where(rng.random(60) < 0.6, true, rng.choice(outcomes, size=60))
    frame = pd.DataFrame({"fold": np.arange(60) % 3, "true": true, "psortb_final": final})
    table = psortb.unknown_outcome_table(frame).set_index("fold")
    assert list(table.index) == ["0", "1", "2", "mean", "sd", "pooled"]
    pooled = table.loc["pooled"]
    assert pooled["n"] == 60 and pooled["n_unknown"] == int((final == "Unknown").sum()) > 0
    assert pooled["accuracy"] == pytest.approx(accuracy_score(true, final))
    assert pooled["mcc"] == pytest.approx(matthews_corrcoef(true, final))
    fold1 = frame[frame["fold"] == 1]
    assert table.loc["1", "mcc"] == pytest.approx(matthews_corrcoef(fold1["true"], fold1["psortb_final"]))
    assert table.loc["sd", "mcc"] == pytest.approx(np.std(table.loc[["0", "1", "2"], "mcc"].astype(float), ddof=1))


def test_comparison_frame_drops_psortb_final_and_needs_every_tested_protein() -> None:
    calls = all_calls()
    table = psortb.predictions_table(calls, dataset_for(calls))
    frame = psortb.comparison_frame(table, ["B0R6I4", "A0QWG5"], "predictions.tsv")
    assert list(frame.columns) == ["id", "fold", "group", "true", "predicted", *CLASSES]
    assert list(frame["id"]) == ["B0R6I4", "A0QWG5"]
    with pytest.raises(InputError, match=r"predictions.tsv: protein 'P99999' was tested but has no PSORTb prediction"):
        psortb.comparison_frame(table, ["B0R6I4", "P99999"], "predictions.tsv")


def test_a_protein_without_one_of_the_three_groups_is_named(tmp_path: Path) -> None:
    """PSORTb has no group-agnostic mode: a protein of group 'any' stops the run, it is not guessed."""
    proteins = pd.DataFrame({"id": ["P1", "P2"], "group": ["negative", "any"], "sequence": ["M" * 50] * 2})
    with pytest.raises(InputError, match=r"protein 'P2' has organism group 'any'; PSORTb needs negative, positive or archaea"):
        psortb.predict_proteins(proteins, tmp_path, tmp_path)


# ----------------------------------------------------------------------------- install check


def test_missing_install_says_in_one_line_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no psort, blastall or makeblastdb
    with pytest.raises(InputError) as err:
        psortb.locate_install("/usr/lib/psort")
    message = str(err.value)
    assert "\n" not in message
    assert "psort, blastall, makeblastdb not found" in message and "apt-get install psortb ncbi-blast+-legacy" in message


def test_a_root_without_scl_blast_databases_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in psortb.EXECUTABLES:  # stand-ins on PATH: only the root is wrong here
        exe = tmp_path / "bin" / name
        exe.parent.mkdir(exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(InputError, match=r"PSORTb root .*/nowhere lacks its SCL-BLAST database .*gramneg/sclblast"):
        psortb.locate_install(tmp_path / "nowhere")


def test_offline_overlay_enables_psortb_and_changes_nothing_else() -> None:
    offline = REPO / "resources" / "offline_study"
    base = validate_config(yaml.safe_load((offline / "config.yaml").read_text()))
    merged = validate_config(merge_configs(offline / "config.yaml", offline / "psortb.yaml"))
    assert base["psortb"]["enabled"] is False and merged["psortb"]["enabled"] is True
    changed = ("psortb", "comparisons")
    assert {k: v for k, v in merged.items() if k not in changed} == {k: v for k, v in base.items() if k not in changed}
    # lists are replaced when snakemake merges config files: the overlay repeats the core's comparisons
    assert merged["comparisons"][: len(base["comparisons"])] == base["comparisons"]
    assert {(c["a"], c["b"]) for c in merged["comparisons"][len(base["comparisons"]):]} == {
        ("fusion", PSORTB), ("DeepLocPro", PSORTB)}


def test_psortb_rules_are_planned_only_when_enabled(tmp_path: Path) -> None:
    """Off by default: no PSORTb job; on: root, shards, merge and the Unknown table feed the comparison."""
    work = copy_workflow(tmp_path / "wf")
    counts = {}
    for enabled in (False, True):
        config = demo_config({"psortb": {"enabled": enabled, "shards": 3}})
        write_config(work / "c.yaml", config)
        proc = snakemake(work, "--configfile", "c.yaml", "-n", "--cores", "2")
        counts[enabled] = job_counts(proc.stdout + proc.stderr)
    assert not any(rule.startswith("psortb") for rule in counts[False])
    assert counts[True]["psortb"] == 3
    assert counts[True]["psortb_root"] == counts[True]["psortb_merge"] == counts[True]["psortb_unknown"] == 1
    assert counts[True]["compare_experiments"] == 1


# ----------------------------------------------------------------------------- a real run


def ensure_psortb_installed() -> None:
    """PSORTb from Debian when missing: installed in the background since collection (tests/debian.py)."""
    debian.require("psortb")
    if not psortb.sclblast_fasta("/usr/lib/psort", "negative").is_file():
        pytest.fail("PSORTb is installed but its SCL-BLAST databases are not under /usr/lib/psort")


@pytest.mark.slow  # PSORTb itself (~1.8 s per protein per core) and its BLAST indexing
def test_real_psortb_rules_on_six_real_proteins(tmp_path: Path, partial_fasta: Path) -> None:
    """The rules themselves, end to end: 2 real proteins per group, PSORTb run for real
    (one shard, 2 psort processes side by side per group: the offline run covers several shards)."""
    ensure_psortb_installed()
    records, seen = [], {g: 0 for g in GROUPS}
    header = None
    for line in partial_fasta.read_text().splitlines():
        if line.startswith(">"):
            header = line
        elif header:
            group = header.split("|")[2]
            if seen[group] < 2 and 40 <= len(line) <= 300:
                records.append(f"{header}\n{line}\n")
                seen[group] += 1
            header = None
    assert sum(seen.values()) == 6, "graphpart_partial.fasta is expected to hold one sequence line per record"
    work = copy_workflow(tmp_path / "wf")
    (work / "six.fasta").write_text("".join(records))
    config = demo_config({"psortb": {"enabled": True, "shards": 1, "threads": 2}})
    config["data"]["fasta"] = "six.fasta"
    write_config(work / "c.yaml", config)
    started = time.perf_counter()
    snakemake(work, "--configfile", "c.yaml", "--cores", "2", "results/comparison/psortb_unknown.tsv")
    print(f"PSORTb rules on 6 proteins: {time.perf_counter() - started:.0f} s")
    table = psortb.read_predictions(work / "results/psortb/predictions.tsv")
    dataset = pd.read_csv(work / "results/data/dataset.tsv", sep="\t", dtype={"id": str})
    assert list(table["id"]) == list(dataset["id"]) and len(table) == 6
    assert list(table["group"]) == list(dataset["group"]) and list(table["true"]) == list(dataset["label"])
    np.testing.assert_allclose(table[list(CLASSES)].sum(axis=1), 1.0)
    assert set(table["psortb_final"]) <= {*CLASSES, "Unknown"}
    gram_positive_or_archaea = table[table["group"] != "negative"]
    assert (gram_positive_or_archaea[["Periplasmic", "Outer membrane"]] == 0).all().all()
    unknown = pd.read_csv(work / "results/comparison/psortb_unknown.tsv", sep="\t", dtype={"fold": str}).set_index("fold")
    assert unknown.loc["pooled", "n"] == 6
    assert unknown.loc["pooled", "n_unknown"] == int((table["psortb_final"] == "Unknown").sum())
    assert "makeblastdb" in (work / "results/logs/psortb/root.log").read_text()


def test_psortb_joins_the_comparison_and_its_unknown_table_the_claim(tmp_path: Path) -> None:
    """pipeline.compare_experiments with PSORTb's predictions: a peer named PSORTb, paired CIs, Unknown table."""
    calls = all_calls()
    data = dataset_for(calls)
    table = psortb.predictions_table(calls, data)
    table.to_csv(tmp_path / "psortb.tsv", sep="\t", index=False)
    psortb.write_unknown_table(str(tmp_path / "psortb.tsv"), str(tmp_path / "unknown.tsv"))
    dataset = data.assign(sequence="M" * 50, length=50)
    dataset.to_csv(tmp_path / "dataset.tsv", sep="\t", index=False)
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(len(CLASSES)), size=len(data))
    model = data.rename(columns={"label": "true"})[["id", "fold", "group", "true"]].assign(
        predicted=np.asarray(CLASSES)[proba.argmax(1)])
    model[list(CLASSES)] = proba
    paths = []
    for fold, sub in model.groupby("fold"):
        paths.append(str(tmp_path / "seed_42" / f"fold_{fold}" / "test_predictions.tsv"))
        Path(paths[-1]).parent.mkdir(parents=True)
        sub.to_csv(paths[-1], sep="\t", index=False)
    out = {name: str(tmp_path / f"{name}.out")
           for name in ("summaries", "table", "bootstrap", "claim", "per_group", "per_class")}
    declared = [{"name": "experiment vs PSORTb", "a": "single", "b": PSORTB}]
    metrics = compare_experiments({"single": paths}, declared, str(tmp_path / "dataset.tsv"), None, 5, 100, out,
                                  psortb=str(tmp_path / "psortb.tsv"), psortb_unknown=str(tmp_path / "unknown.tsv"))
    assert set(metrics["experiment"]) == {"single", PSORTB}
    forced = psortb.unknown_outcome_metrics(table["true"], table["predicted"])  # forced: no Unknown left
    row = metrics[(metrics["experiment"] == PSORTB) & (metrics["group_remap"] == "none")].iloc[0]
    assert row["accuracy_pooled"] == pytest.approx(forced["accuracy"])
    boot = pd.read_csv(out["bootstrap"], sep="\t")
    assert ("single", PSORTB, "experiment vs PSORTb") in set(zip(boot["a"], boot["b"], boot["comparison"]))
    claim = Path(out["claim"]).read_text()
    assert "PSORTb with Unknown as its own outcome" in claim and "n_unknown" in claim
    summaries = json.loads(Path(out["summaries"]).read_text())["none"]  # what the figure rules read
    assert set(summaries) == {"single", PSORTB}
    for draw, stem in ((plots.plot_global_metrics, "global"), (plots.plot_per_class_mcc, "per_class")):
        assert all(path.stat().st_size > 1000 for path in draw(summaries, tmp_path / stem))


# ------------------------------------------------------------------------------ SCL-BLAST training set


def test_sclblast_fixture_extraction_merges_rejects_and_keeps_provenance(tmp_path: Path) -> None:
    """PSORTb-style headers (tests/fixtures/sclblast): sub-annotation tags are not labels, multi-label
    (one tag or two) and tagless records are excluded, identical duplicates across files merged,
    conflicting ones excluded, an invalid sequence named; every record is one sidecar row."""
    from locfusion.extra import read_records
    from locfusion.sclblast import extract_training_set, parse_header

    sources = [str(FIXTURES / "sclblast" / name) for name in ("gramneg.fasta", "grampos.fasta")]
    info = extract_training_set(sources, str(tmp_path / "s.fasta"), str(tmp_path / "r.tsv"), str(tmp_path / "p.json"))
    assert info["records"] == 11 and info["kept"] == 3 and info["merged_duplicates"] == 1
    assert info["excluded_by_reason"] == {"conflicting duplicates": 2, "invalid sequence": 1, "multi-label": 3,
                                          "no localization tag": 1}
    records = pd.read_csv(tmp_path / "r.tsv", sep="\t", dtype=str, keep_default_na=False).set_index(["id", "record"])
    assert len(records) == 11
    assert records.loc[("psortb_17979023", "3"), "reason"] == "multi-label (Periplasmic, Cell wall & surface)"
    assert records.loc[("psortb_333", "6"), "reason"] == "conflicting duplicates of psortb_333: labels Extracellular vs Periplasmic differ"
    assert (records.loc[("psortb_16125160", "1"), "status"].tolist() == ["kept", "merged"])
    assert records.loc[("psortb_16125160", "1"), "header"].iloc[0].endswith("[Caulobacter crescentus CB15]")
    assert records.loc[("psortb_666", "4"), "reason"].startswith("multi-label (Outer membrane, Extracellular)")
    provenance = json.loads((tmp_path / "p.json").read_text())
    import hashlib
    assert provenance["sources"][0]["sha256"] == hashlib.sha256(Path(sources[0]).read_bytes()).hexdigest()
    # The FASTA reads back as extra training data: PSORTb's label spelling, group unknown.
    kept, rejected = read_records([str(tmp_path / "s.fasta")])
    assert not rejected and list(kept["id"]) == ["psortb_16125160", "psortb_222", "psortb_555"]
    assert list(kept["label"]) == ["Cytoplasmic", "Outer membrane", "Cell wall & surface"]
    assert set(kept["group"]) == {"unknown"}
    assert parse_header("222 [OuterMembrane] isocitrate dehydrogenase [NADP] [E. coli]").description == \
        "isocitrate dehydrogenase [NADP] [E. coli]"


def test_sclblast_missing_files_say_how_to_install_psortb(tmp_path: Path) -> None:
    from locfusion.sclblast import check_sources

    with pytest.raises(InputError, match=r"^PSORTb training set: .*nothing/sclblast not found; install PSORTb "
                                         r"\(apt-get install psortb"):
        check_sources([str(tmp_path / "nothing" / "sclblast")])


def test_sclblast_real_files_counts() -> None:
    """PSORTb 3.0.6's own SCL-BLAST FASTAs (Debian psortb). Numbers measured 2026-11-30 with
        PYTHONPATH=workflow python -c "from locfusion.sclblast import *; s=default_sources('/usr/lib/psort'); \\
            k, t = extract(s); print(summary(t, k, s))"
    30,172 records hold 12,609 distinct GI numbers (psortb.md: ~12,600 unique proteins)."""
    from locfusion.sclblast import default_sources, extract, summary

    debian.require("psortb")
    sources = default_sources("/usr/lib/psort")
    kept, sidecar = extract(sources)
    info = summary(sidecar, kept, sources)
    assert [s["records"] for s in info["sources"]] == [11343, 9027, 9802]
    assert sidecar["id"].nunique() == 12609
    assert info["kept"] == 12385 and info["unique_sequences"] == 12364 and info["merged_duplicates"] == 17481
    assert info["excluded_by_reason"] == {"conflicting duplicates": 10, "invalid sequence": 1, "multi-label": 295}
    assert info["kept_by_class"] == {"Cellwall": 91, "Cytoplasmic": 8417, "CytoplasmicMembrane": 2011,
                                     "Extracellular": 780, "OuterMembrane": 575, "Periplasmic": 511}
