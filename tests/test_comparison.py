"""The comparison: declared pairs only, seeds averaged, per-group and per-class tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from locfusion.classes import CLASSES, GROUPS
from locfusion.comparison import DEEPLOCPRO, claim_html, compare, per_class_table, per_group_table
from locfusion.errors import InputError
from locfusion.metrics import classification_metrics, paired_bootstrap_mcc_diff

N = 240


def predictions(accuracy: float, seed: int, truth: np.ndarray | None = None) -> pd.DataFrame:
    """A pooled test-prediction table over 5 folds: each protein right with probability `accuracy`."""
    rng = np.random.default_rng(seed)
    truth = np.random.default_rng(0).integers(0, len(CLASSES), N) if truth is None else truth
    right = rng.random(N) < accuracy
    predicted = np.where(right, truth, rng.integers(0, len(CLASSES), N))
    probs = np.full((N, len(CLASSES)), 0.01)
    probs[np.arange(N), predicted] = 0.95
    frame = pd.DataFrame({
        "id": [f"P{i:04d}" for i in range(N)],
        "fold": np.arange(N) % 5,
        "group": np.asarray(GROUPS, dtype=object)[np.arange(N) % len(GROUPS)],
        "true": np.asarray(CLASSES, dtype=object)[truth],
        "predicted": np.asarray(CLASSES, dtype=object)[predicted],
    })
    frame[list(CLASSES)] = probs
    return frame


def test_only_declared_comparisons_get_a_ci() -> None:
    preds = {"fusion": {42: predictions(0.8, 1)}, "single_a": {42: predictions(0.5, 2)},
             "single_b": {42: predictions(0.6, 3)}, DEEPLOCPRO: {0: predictions(0.9, 4)}}
    declared = [{"name": "inputs", "a": "fusion", "b": "single_a"}]
    summaries, metrics, bootstrap = compare(preds, declared, n_boot=100)
    assert bootstrap["comparison"].tolist() == ["inputs", "inputs"]  # one row per remap variant
    assert set(bootstrap["a"]) == {"fusion"} and set(bootstrap["b"]) == {"single_a"}
    assert set(metrics["experiment"]) == set(preds)  # every model is still scored
    _, _, none = compare(preds, [], n_boot=100)
    assert none.empty and "comparison" in none.columns
    assert "No comparison was declared" in claim_html(metrics, none, N)
    page = claim_html(metrics, bootstrap, N)
    assert "inputs" in page and "single_b" not in page.split("<h3>")[0]  # the verdicts name declared pairs only


def test_seeds_are_averaged_and_their_spread_reported() -> None:
    seeds = {42: predictions(0.7, 10), 43: predictions(0.7, 11), 44: predictions(0.7, 12)}
    summaries, metrics, _ = compare({"fusion": seeds}, [], n_boot=100)
    summary = summaries["none"]["fusion"]
    per_seed = [classification_metrics(df["true"], df["predicted"])["mcc"] for df in seeds.values()]
    assert summary["seeds"] == [42, 43, 44] and summary["n_seeds"] == 3
    assert summary["pooled"]["mcc"] == pytest.approx(np.mean(per_seed))
    assert summary["pooled_seed_sd"]["mcc"] == pytest.approx(np.std(per_seed, ddof=1))
    assert summary["per_seed"]["43"]["pooled"]["mcc"] == pytest.approx(per_seed[1])
    row = metrics[(metrics["experiment"] == "fusion") & (metrics["group_remap"] == "none")].iloc[0]
    assert row["n_seeds"] == 3 and row["mcc_pooled_seed_sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert sum(map(sum, summary["confusion_summed"])) == 3 * N  # each protein once per seed


def test_one_seed_summary_equals_that_seed() -> None:
    frame = predictions(0.7, 5)
    summary = compare({"m": {42: frame}}, [], n_boot=100)[0]["none"]["m"]
    assert summary["pooled"]["mcc"] == pytest.approx(classification_metrics(frame["true"], frame["predicted"])["mcc"])
    assert summary["pooled_seed_sd"]["mcc"] is None


def test_bootstrap_over_seeds_differs_by_the_seed_averaged_mcc() -> None:
    truth = predictions(1.0, 0)["true"].to_numpy()
    a = [predictions(0.8, s)["predicted"].to_numpy() for s in (1, 2, 3)]
    b = predictions(0.5, 9)["predicted"].to_numpy()
    res = paired_bootstrap_mcc_diff(truth, np.vstack(a), b, n_boot=300)
    mean_a = np.mean([classification_metrics(truth, p)["mcc"] for p in a])
    assert res["mcc_a"] == pytest.approx(mean_a)
    assert res["n_seeds_a"] == 3 and res["n_seeds_b"] == 1
    assert res["ci_low"] < res["diff"] < res["ci_high"] and res["ci_low"] > 0
    # three copies of one seed are that seed
    single = paired_bootstrap_mcc_diff(truth, a[0], b, n_boot=300, seed=5)
    tripled = paired_bootstrap_mcc_diff(truth, np.vstack([a[0]] * 3), b, n_boot=300, seed=5)
    assert tripled["ci_low"] == pytest.approx(single["ci_low"]) and tripled["diff"] == pytest.approx(single["diff"])


def test_seeds_must_predict_the_same_proteins() -> None:
    short = predictions(0.7, 2).iloc[:-1]
    with pytest.raises(InputError, match="predicted by 'fusion' only"):
        compare({"fusion": {1: predictions(0.7, 1), 2: short}, "b": {1: predictions(0.5, 3)}},
                [{"name": "x", "a": "fusion", "b": "b"}], n_boot=10)


def test_per_group_and_per_class_tables_cover_every_model() -> None:
    preds = {"fusion": {42: predictions(0.8, 1), 43: predictions(0.8, 2)}, DEEPLOCPRO: {0: predictions(0.9, 4)}}
    summaries, _, _ = compare(preds, [], n_boot=10)
    groups = per_group_table(summaries)
    assert set(groups["model"]) == set(preds) and set(groups["group"]) == set(GROUPS)
    assert set(groups["group_remap"]) == {"none", "deeplocpro"}
    sub = groups[(groups["model"] == "fusion") & (groups["group_remap"] == "none")].set_index("group")
    frames = [preds["fusion"][s] for s in (42, 43)]
    for group in GROUPS:
        expected = [classification_metrics(f[f["group"] == group]["true"], f[f["group"] == group]["predicted"])["mcc"]
                    for f in frames]
        assert sub.loc[group, "mcc"] == pytest.approx(np.mean(expected))
        assert sub.loc[group, "mcc_seed_sd"] == pytest.approx(np.std(expected, ddof=1))
        assert sub.loc[group, "n"] == (frames[0]["group"] == group).sum()
    classes = per_class_table(summaries)
    assert len(classes) == 2 * len(preds) * len(CLASSES)
    assert list(classes[(classes["model"] == DEEPLOCPRO) & (classes["group_remap"] == "none")]["class"]) == list(CLASSES)
