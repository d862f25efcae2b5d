"""Every figure is written as a non-empty PNG and PDF, from synthetic but realistic inputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locfusion.classes import CLASSES, GROUPS
from locfusion.errors import InputError
from locfusion.metrics import evaluate_fold, paired_comparison_table, summarize_experiment
from locfusion.plots import (
    plot_comparison_ci,
    plot_confusion,
    plot_dataset_overview,
    plot_global_metrics,
    plot_per_class_mcc,
    plot_reliability,
    plot_training_curves,
)

C = np.asarray(CLASSES, dtype=object)


@pytest.fixture(autouse=True)
def readable_figures(caplog: pytest.LogCaptureFixture):
    """Every figure drawn in these tests must pass the layout check (no overlapping or clipped text)."""
    with caplog.at_level(logging.WARNING, logger="locfusion.plots"):
        yield
    problems = [r.getMessage() for r in caplog.records if "layout:" in r.getMessage()]
    assert not problems, problems


def test_the_layout_check_finds_overlaps_clipping_and_covered_titles() -> None:
    from matplotlib.figure import Figure

    from locfusion.plots import layout_problems

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(3), [1, 2, 3])
    assert layout_problems(fig) == []
    ax.set_xticks(range(3), ["a long rotated label"] * 3, rotation=40, ha="right")  # fine: rotated apart
    assert layout_problems(fig) == []
    ax.set_xticks(range(3), ["a long rotated label"] * 3, rotation=5, ha="right")  # nearly flat: they collide
    assert any("overlap" in p for p in layout_problems(fig))
    ax.set_xticks(range(3), ["a", "b", "c"])
    ax.text(2.5, 2.9, "a note that runs far past the right edge of this small figure")
    assert any("reaches outside the figure" in p for p in layout_problems(fig))
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line with a long legend entry")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.12))
    ax.set_title("a title under the legend")
    assert any("'a title under the legend' overlaps a legend" in p for p in layout_problems(fig))


def _predictions(acc: float, seed: int) -> pd.DataFrame:
    """Pooled 5-fold predictions on the same proteins (same truth for every model)."""
    truth_rng = np.random.default_rng(0)
    n = 600
    t = truth_rng.choice(6, size=n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
    rng = np.random.default_rng(seed)
    p = np.where(rng.random(n) < acc, t, rng.integers(0, 6, size=n))
    return pd.DataFrame({"id": [f"P{i}" for i in range(n)], "true": C[t], "predicted": C[p],
                         "fold": np.arange(n) % 5, "group": np.asarray(GROUPS, dtype=object)[np.arange(n) % 3]})


@pytest.fixture(scope="module")
def experiments() -> tuple[dict[str, dict], dict[str, pd.DataFrame]]:
    preds = {"fusion": _predictions(0.85, 1), "esm2 only": _predictions(0.75, 2), "deeplocpro": _predictions(0.8, 3)}
    summaries = {}
    for name, df in preds.items():
        folds = {k: evaluate_fold(sub) for k, sub in df.groupby("fold")}
        summaries[name] = summarize_experiment(folds, df)
    return summaries, preds


def _check(paths: list[Path], stem: Path) -> None:
    assert [p.name for p in paths] == [stem.name + ".png", stem.name + ".pdf"]
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert not list(stem.parent.glob(".*.tmp")), "temporary files left behind"


def test_evaluation_figures(tmp_path, experiments):
    summaries, preds = experiments
    stem = tmp_path / "figs" / "confusion_fusion"
    _check(plot_confusion(summaries["fusion"], stem, title="fusion"), stem)
    stem = tmp_path / "figs" / "confusion_fold0"
    _check(plot_confusion(summaries["fusion"]["per_fold"]["0"], stem), stem)
    stem = tmp_path / "per_class_mcc"
    _check(plot_per_class_mcc(summaries, stem), stem)
    stem = tmp_path / "global"
    _check(plot_global_metrics(summaries, stem), stem)
    table = paired_comparison_table(preds, n_boot=200)
    assert len(table) == 2
    stem = tmp_path / "ci"
    _check(plot_comparison_ci(table, stem), stem)
    stem = tmp_path / "ci_empty"
    _check(plot_comparison_ci(table.iloc[:0], stem), stem)


def test_pdf_is_reproducible(tmp_path, experiments):
    summaries, _ = experiments
    a = plot_global_metrics(summaries, tmp_path / "a")[1].read_bytes()
    b = plot_global_metrics(summaries, tmp_path / "b")[1].read_bytes()
    assert a == b


def test_training_curves(tmp_path):
    rng = np.random.default_rng(0)
    histories = {}
    for fold in range(5):
        epochs = np.arange(1, 21)
        mcc = np.clip(0.4 + 0.3 * (1 - np.exp(-epochs / 5)) + rng.normal(0, 0.02, 20), 0, 1)
        best = mcc == np.maximum.accumulate(mcc)
        histories[fold] = pd.DataFrame({
            "epoch": epochs, "train_loss": 1.5 * np.exp(-epochs / 6) + 0.1, "val_loss": 1.4 * np.exp(-epochs / 8) + 0.3,
            "val_accuracy": mcc + 0.1, "val_macro_f1": mcc, "val_mcc": mcc, "lr": 1e-4, "seconds": 3.0,
            # as read back from TSV without dtype: text
            "best": np.where(best, "True", "False") if fold == 1 else best,
        })
    stem = tmp_path / "training_fusion"
    _check(plot_training_curves(histories, stem, "fusion"), stem)
    with pytest.raises(InputError, match="val_mcc"):
        plot_training_curves({0: histories[0].drop(columns="val_mcc")}, tmp_path / "bad", "x")


def test_reliability_diagram(tmp_path):
    from locfusion.calibration import reliability_bins, softmax

    rng = np.random.default_rng(2)
    logits = rng.normal(0, 3, size=(600, 6))
    labels = (softmax(logits / 2).cumsum(axis=1) > rng.random((600, 1))).argmax(axis=1)  # over-confident by 2
    bins = pd.concat([reliability_bins(softmax(logits, t), labels).assign(probabilities=kind)
                      for kind, t in (("uncalibrated", 1.0), ("calibrated", 2.0))], ignore_index=True)
    stem = tmp_path / "fusion" / "reliability"
    _check(plot_reliability(bins, stem, "fusion: reliability", ece={"uncalibrated": 0.21, "calibrated": 0.02}), stem)
    with pytest.raises(InputError, match="accuracy"):
        plot_reliability(bins.drop(columns="accuracy"), tmp_path / "bad")


def test_dataset_overview(tmp_path):
    rng = np.random.default_rng(1)
    n = 400
    lengths = np.exp(rng.normal(np.log(400), 0.7, n)).astype(int) + 5
    labels = rng.choice(CLASSES, n)
    groups = rng.choice(GROUPS, n, p=[0.6, 0.3, 0.1])
    df = pd.DataFrame({"id": [f"P{i}" for i in range(n)], "label": labels, "group": groups,
                       "fold": rng.integers(0, 5, n), "length": lengths})
    # The filter's own wording: one reason text per record (its length, its duplicate), dozens of distinct texts.
    reason = np.array([f"too short ({n} < 40 aa)" if n < 40 else f"too long ({n} > 1000 aa)" if n > 1000 else ""
                       for n in lengths], dtype=object)
    keep = reason == ""
    for i in rng.choice(np.flatnonzero(keep), 5, replace=False):
        reason[i] = f"duplicate sequence of P{i + 1}"
    keep = reason == ""
    assert len(set(reason[~keep])) > 20
    excluded = df[~keep].assign(reason=reason[~keep])
    stem = tmp_path / "dataset_overview"
    _check(plot_dataset_overview(df[keep], excluded, stem, 40, 1000), stem)
    stem = tmp_path / "dataset_none_excluded"
    _check(plot_dataset_overview(df[keep], excluded.iloc[:0], stem, 40, 1000), stem)


def test_extra_learning_curve_is_readable(tmp_path: Path, readable_figures) -> None:
    from locfusion.plots import plot_extra_learning_curve

    table = pd.DataFrame({
        "experiment": ["ap", "ap_2500", "ap_all", "fusion", "fusion_all"],
        "curve": ["ap"] * 3 + ["fusion"] * 2,
        "extra_training_size": ["0", "2500", "all", "0", "all"],
        "n_train": [630.0, 3130.0, 11800.0, 630.0, 11800.0],
        "pooled_mcc": [0.5, 0.55, 0.6, 0.52, 0.61],
        "pooled_mcc_seed_sd": [None] * 5, "fold_mcc_sd": [0.05, 0.04, 0.03, 0.06, 0.04], "n_seeds": [1] * 5,
    })
    paths = plot_extra_learning_curve(table, tmp_path / "curve")
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(InputError, match="lacks column"):
        plot_extra_learning_curve(table.drop(columns="n_train"), tmp_path / "bad")
