"""Metrics, paired bootstrap, group remap and DeepLocPro held-out predictions."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from locfusion.classes import CLASSES, normalize_class
from locfusion.deeplocpro import deeplocpro_test_predictions, read_heldout_ensemble
from locfusion.errors import InputError
from locfusion.metrics import (
    STD_KIND,
    apply_group_remap,
    classification_metrics,
    evaluate_fold,
    mcc_from_confusion,
    paired_bootstrap_mcc_diff,
    paired_comparison_table,
    row_normalized,
    summarize_experiment,
    summary_table,
)

DLP = Path("/work/shared/data/deeplocpro")
HELDOUT = DLP / "heldout_predictions"
FASTA = DLP / "graphpart_partial.fasta"
needs_data = pytest.mark.skipif(not HELDOUT.is_dir() or not FASTA.is_file(), reason="shared DeepLocPro data absent")

C = list(CLASSES)


def _random_labels(n: int, seed: int, acc: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """True labels and noisy predictions (correct with probability ~acc)."""
    rng = np.random.default_rng(seed)
    t = rng.choice(len(C), size=n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
    p = np.where(rng.random(n) < acc, t, rng.integers(0, len(C), size=n))
    names = np.asarray(C, dtype=object)
    return names[t], names[p]


def _pred_df(true, pred, fold: int, groups=None) -> pd.DataFrame:
    df = pd.DataFrame({"id": [f"P{fold}_{i}" for i in range(len(true))], "true": true, "predicted": pred})
    df["fold"] = fold
    df["group"] = groups if groups is not None else "negative"
    return df


# ----------------------------------------------------------------------------- point metrics


def test_perfect_prediction():
    y = [C[i % 6] for i in range(30)]
    m = classification_metrics(y, y)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["mcc"] == 1.0 and m["n"] == 30
    assert all(v == 1.0 for v in m["mcc_per_class"].values())
    assert np.array_equal(np.asarray(m["confusion"]), np.diag([5] * 6))


def test_known_confusion_and_values():
    # 4 Cytoplasmic (3 right, 1 -> Extracellular), 2 Extracellular (1 right, 1 -> Cytoplasmic)
    true = ["Cytoplasmic"] * 4 + ["Extracellular"] * 2
    pred = ["Cytoplasmic"] * 3 + ["Extracellular"] + ["Extracellular", "Cytoplasmic"]
    m = classification_metrics(true, pred)
    cm = np.zeros((6, 6), int)
    ci, ei = C.index("Cytoplasmic"), C.index("Extracellular")
    cm[ci, ci], cm[ci, ei], cm[ei, ei], cm[ei, ci] = 3, 1, 1, 1
    assert np.array_equal(np.asarray(m["confusion"]), cm)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # Binary problem: TP=3 TN=1 FP=1 FN=1 for Cytoplasmic -> MCC = (3-1)/sqrt(4*4*2*2) = 0.25
    assert m["mcc"] == pytest.approx(0.25)
    assert m["mcc_per_class"]["Cytoplasmic"] == pytest.approx(0.25)
    # macro F1 over the two present classes: (0.75 + 0.5) / 2
    assert m["macro_f1"] == pytest.approx(0.625)
    # absent classes are undefined, not 0
    assert m["mcc_per_class"]["Periplasmic"] is None
    assert row_normalized(m["confusion"])[ci].tolist()[ci] == pytest.approx(0.75)
    assert row_normalized(m["confusion"])[C.index("Periplasmic")].sum() == 0


def test_macro_f1_matches_sklearn_on_any_label_subset() -> None:
    """The confusion-matrix F1 is scikit-learn's, absent labels (zero_division=0) included."""
    from locfusion.metrics import macro_f1_from_confusion

    rng = np.random.default_rng(3)
    for trial in range(30):
        k = 7
        t = rng.integers(0, k - 2 if trial % 3 == 0 else k, 60)  # sometimes classes absent from both
        p = np.where(rng.random(60) < 0.5, t, rng.integers(0, k, 60))
        cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
        for labels in (sorted(set(t) | set(p)), list(range(k)), list(range(6))):
            assert macro_f1_from_confusion(cm, labels) == pytest.approx(
                f1_score(t, p, labels=labels, average="macro", zero_division=0), abs=1e-12)


def test_against_sklearn_random():
    true, pred = _random_labels(500, seed=1)
    m = classification_metrics(true, pred)
    assert m["mcc"] == pytest.approx(matthews_corrcoef(true, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(true, pred, average="macro"))
    for cls in C:
        assert m["mcc_per_class"][cls] == pytest.approx(matthews_corrcoef(true == cls, pred == cls))
    json.dumps(m)  # JSON-ready


def test_unknown_label_and_length_mismatch():
    with pytest.raises(InputError, match="Nucleus"):
        classification_metrics(["Cytoplasmic", "Nucleus"], ["Cytoplasmic", "Cytoplasmic"])
    with pytest.raises(InputError, match="length"):
        classification_metrics(["Cytoplasmic"], ["Cytoplasmic", "Cytoplasmic"])


def test_evaluate_and_summarize():
    frames = {k: _pred_df(*_random_labels(200 + 10 * k, seed=10 + k), fold=k) for k in range(5)}
    folds = {k: evaluate_fold(df) for k, df in frames.items()}
    assert folds[3]["fold"] == 3
    pooled = pd.concat(frames.values(), ignore_index=True)
    s = summarize_experiment(folds, pooled)
    assert s["std_kind"] == STD_KIND and "ddof=1" in s["std_kind"]
    mccs = [folds[k]["mcc"] for k in range(5)]
    assert s["mean"]["mcc"] == pytest.approx(np.mean(mccs))
    assert s["std"]["mcc"] == pytest.approx(np.std(mccs, ddof=1))
    assert s["pooled"]["mcc"] == pytest.approx(matthews_corrcoef(pooled["true"], pooled["predicted"]))
    assert np.array_equal(s["confusion_summed"], s["pooled"]["confusion"])
    assert set(s["per_fold"]) == {"0", "1", "2", "3", "4"}
    assert s["pooled_by_group"]["negative"]["n"] == len(pooled)
    s2 = json.loads(json.dumps(s))  # round trip keeps everything
    assert s2 == s

    table = summary_table({"a": s, "b": s})
    assert list(table["experiment"]) == ["a", "b"]
    assert table.loc[0, "mcc_mean"] == pytest.approx(s["mean"]["mcc"])
    assert table.loc[0, "mcc_pooled"] == pytest.approx(s["pooled"]["mcc"])
    assert " ± " in table.loc[0, "mcc"]
    assert table.loc[0, "mcc[Cytoplasmic]_std"] == pytest.approx(s["std"]["mcc_per_class"]["Cytoplasmic"])


def test_mixed_folds_rejected():
    df = pd.concat([_pred_df(["Cytoplasmic"], ["Cytoplasmic"], 0), _pred_df(["Cytoplasmic"], ["Cytoplasmic"], 1)])
    with pytest.raises(InputError, match="folds"):
        evaluate_fold(df)


def test_nan_probabilities_are_refused_naming_the_proteins():
    """A model with NaN weights still has an argmax; its labels must not be scored."""
    df = pd.DataFrame({"id": ["a", "NA", "c"], "fold": 0, "true": ["Cytoplasmic"] * 3,
                       "predicted": ["Cytoplasmic"] * 3})
    for name in CLASSES:
        df[name] = 1.0 / len(CLASSES)
    assert evaluate_fold(df)["accuracy"] == 1.0  # finite: scored
    df["group"] = "positive"
    df.loc[1, CLASSES[2]] = np.nan  # an empty cell in test_predictions.tsv reads as NaN
    df.loc[2, CLASSES[0]] = np.inf
    refused = r"^prediction table: 2 protein\(s\) without finite class probabilities: NA, c$"
    with pytest.raises(InputError, match=refused):
        evaluate_fold(df)
    with pytest.raises(InputError, match=refused):  # DeepLocPro's remap adds probabilities: refused first
        apply_group_remap(df, df["group"])


# ----------------------------------------------------------------------------- bootstrap


def test_fast_mcc_matches_sklearn():
    for seed in range(5):
        true, pred = _random_labels(300, seed=seed, acc=0.3 + 0.1 * seed)
        cm = np.asarray(classification_metrics(true, pred)["confusion"])
        assert mcc_from_confusion(cm) == pytest.approx(matthews_corrcoef(true, pred), abs=1e-12)
    # constant prediction: undefined -> 0 like sklearn
    assert mcc_from_confusion(np.array([[3, 0], [2, 0]])) == 0.0


def test_paired_bootstrap():
    true, pred_a = _random_labels(2000, seed=3, acc=0.8)
    _, pred_b = _random_labels(2000, seed=3, acc=0.6)  # same truth (same seed), worse model
    start = time.perf_counter()
    res = paired_bootstrap_mcc_diff(true, pred_a, pred_b, n_boot=1000, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"bootstrap too slow: {elapsed:.2f} s"
    assert res["mcc_a"] == pytest.approx(matthews_corrcoef(true, pred_a))
    assert res["mcc_b"] == pytest.approx(matthews_corrcoef(true, pred_b))
    assert res["diff"] == pytest.approx(res["mcc_a"] - res["mcc_b"])
    assert res["ci_low"] < res["diff"] < res["ci_high"]
    assert res["ci_low"] > 0 and res["p_two_sided"] < 0.01 and res["frac_a_better"] > 0.99
    # same seed, same numbers
    assert paired_bootstrap_mcc_diff(true, pred_a, pred_b, n_boot=1000, seed=0) == res
    # swapping the models mirrors the interval
    rev = paired_bootstrap_mcc_diff(true, pred_b, pred_a, n_boot=1000, seed=0)
    assert rev["ci_low"] == pytest.approx(-res["ci_high"]) and rev["ci_high"] == pytest.approx(-res["ci_low"])


def test_identical_predictions_zero_diff():
    true, pred = _random_labels(400, seed=4)
    res = paired_bootstrap_mcc_diff(true, pred, pred, n_boot=200)
    assert res["diff"] == 0.0 and res["ci_low"] == 0.0 and res["ci_high"] == 0.0
    assert res["p_two_sided"] == 1.0


def test_paired_comparison_table_alignment():
    true, pred_a = _random_labels(300, seed=5, acc=0.8)
    _, pred_b = _random_labels(300, seed=5, acc=0.5)
    a = _pred_df(true, pred_a, 0)
    b = _pred_df(true, pred_b, 0).iloc[::-1]  # other row order: must align by id
    table = paired_comparison_table({"base": b, "better": a}, n_boot=200)
    assert list(table[["a", "b"]].iloc[0]) == ["better", "base"]
    direct = paired_bootstrap_mcc_diff(true, pred_a, pred_b, n_boot=200)
    assert table.loc[0, "diff"] == pytest.approx(direct["diff"])
    with pytest.raises(InputError, match="only"):
        paired_comparison_table({"base": b.iloc[1:], "better": a}, n_boot=10)


# ----------------------------------------------------------------------------- group remap


def test_group_remap():
    probs = np.array(
        [
            # Cyto, CM, Extra, Peri, OM, CW
            [0.1, 0.1, 0.2, 0.3, 0.3, 0.0],
            [0.1, 0.1, 0.2, 0.3, 0.3, 0.0],
            [0.1, 0.1, 0.2, 0.3, 0.3, 0.0],
            [0.5, 0.1, 0.1, 0.2, 0.1, 0.0],
        ]
    )
    df = pd.DataFrame(probs, columns=C)
    df.insert(0, "id", ["n", "p", "a", "p2"])
    df["predicted"] = np.asarray(C, dtype=object)[probs.argmax(1)]
    out = apply_group_remap(df, ["negative", "positive", "archaea", "positive"])
    # negative: identity
    assert np.allclose(out.loc[0, C].to_numpy(float), probs[0]) and out.loc[0, "predicted"] == "Periplasmic"
    # positive / archaea: OM + Peri moved to Extracellular
    for i in (1, 2):
        assert out.loc[i, "Extracellular"] == pytest.approx(0.8)
        assert out.loc[i, "Periplasmic"] == 0 and out.loc[i, "Outer membrane"] == 0
        assert out.loc[i, "predicted"] == "Extracellular"
    assert out.loc[3, "predicted"] == "Cytoplasmic" and out.loc[3, "Extracellular"] == pytest.approx(0.4)
    assert np.allclose(out[C].sum(axis=1), probs.sum(axis=1))  # mass preserved
    assert np.allclose(df[C].to_numpy(), probs)  # input untouched
    assert list(out["id"]) == ["n", "p", "a", "p2"]
    with pytest.raises(InputError, match="eukaryote"):
        apply_group_remap(df, ["negative", "eukaryote", "archaea", "positive"])


# ----------------------------------------------------------------------------- DeepLocPro


def _fasta_dataset() -> pd.DataFrame:
    rows = []
    with open(FASTA) as fh:
        for line in fh:
            if line.startswith(">"):
                pid, label, group, fold = line[1:].strip().split("|")
                rows.append({"id": pid, "label": normalize_class(label), "group": group, "fold": int(fold)})
    return pd.DataFrame(rows)


@needs_data
def test_deeplocpro_real_files():
    ds = _fasta_dataset()
    assert len(ds) == 1131
    out = deeplocpro_test_predictions(HELDOUT, ds)
    assert len(out) == 1131 and list(out["id"]) == list(ds["id"])
    assert list(out.columns) == ["id", "true", "predicted", *C, "fold", "group"]
    assert (out["fold"].to_numpy() == ds["fold"].to_numpy()).all()
    assert (out["true"] == ds["label"]).all()
    # ensemble = mean of the 4 models of the test fold, read independently here
    raw = {
        (t, v): pd.read_csv(HELDOUT / f"model_{t}_{v}.csv", index_col=0)
        for t in range(5)
        for v in range(5)
        if v != t
    }
    from locfusion.classes import CANONICAL_TO_DEEPLOCPRO

    cols = [CANONICAL_TO_DEEPLOCPRO[c] for c in C]
    for _, row in out.sample(50, random_state=0).iterrows():
        t = row["fold"]
        expected = np.mean([raw[(t, v)].loc[row["id"], cols].to_numpy(float) for v in range(5) if v != t], axis=0)
        assert np.allclose(row[C].to_numpy(float), expected, atol=1e-12)
        assert row["predicted"] == C[int(np.argmax(expected))]
    # the whole set and its test-fold sizes (PROVENANCE.md)
    ens = read_heldout_ensemble(HELDOUT)
    assert ens.groupby("fold").size().tolist() == [2554, 2684, 2098, 2579, 1991]
    # DeepLocPro is a strong model on its own held-out data
    assert classification_metrics(out["true"], out["predicted"])["mcc"] > 0.5
    # remap changes only positive/archaea rows
    remapped = deeplocpro_test_predictions(HELDOUT, ds, group_remap=True)
    neg = ds["group"] == "negative"
    assert np.allclose(remapped.loc[neg, C].to_numpy(float), out.loc[neg, C].to_numpy(float))
    assert (remapped.loc[~neg, ["Periplasmic", "Outer membrane"]].to_numpy() == 0).all()


@needs_data
def test_deeplocpro_errors(tmp_path):
    ds = _fasta_dataset().head(20)
    for f in HELDOUT.glob("model_*.csv"):
        if f.name != "model_2_3.csv":
            os.symlink(f, tmp_path / f.name)
    with pytest.raises(InputError, match="model_2_3.csv is missing"):
        deeplocpro_test_predictions(tmp_path, ds)
    bad = pd.concat([ds, pd.DataFrame([{"id": "NOTAPROTEIN", "label": "Cytoplasmic", "group": "negative", "fold": 0}])])
    with pytest.raises(InputError, match="NOTAPROTEIN"):
        deeplocpro_test_predictions(HELDOUT, bad)
    wrong = ds.copy()
    wrong.loc[0, "fold"] = (wrong.loc[0, "fold"] + 1) % 5
    with pytest.raises(InputError, match=str(wrong.loc[0, "id"])):
        deeplocpro_test_predictions(HELDOUT, wrong)
