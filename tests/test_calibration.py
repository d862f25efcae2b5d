"""Temperature scaling and calibration error (locfusion.calibration) on hand-made numbers.

The files of rule calibrate (locfusion.calibration_files) on hand-made records. The workflow side
(rule calibrate on the shared small DAG, the bundle's temperatures and `locfusion predict`) is tested
in test_workflow.py and test_predict.py, which also checks that calibrating a seed's models in one
job gives each exactly what calibrating it alone gives.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locfusion.calibration import (
    ECE_BINS,
    T_MAX,
    T_MIN,
    check_temperature,
    expected_calibration_error,
    fit_temperature,
    mean_nll,
    reliability_bins,
    softmax,
)
from locfusion.calibration_files import (
    calibrated_table,
    calibration_document,
    read_calibrated_predictions,
    read_calibrations,
)
from locfusion.errors import InputError
from locfusion.io import write_json, write_tsv


def rows(confidence: float, n: int, right: int, classes: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """n predictions of class 0 with top probability `confidence`; the first `right` are labelled 0."""
    rest = (1 - confidence) / (classes - 1)
    probs = np.full((n, classes), rest)
    probs[:, 0] = confidence
    labels = np.array([0] * right + [1] * (n - right))
    return probs, labels


def test_ece_of_hand_made_cases() -> None:
    probs, labels = rows(0.9, 10, 9)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)  # 90 % sure, 90 % right
    probs, labels = rows(0.8, 10, 10)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.2)  # under-confident by 0.2
    # Two bins: 4 at 0.7 with 2 right (gap 0.2), 6 at 0.95 all right (gap 0.05): 0.4 * 0.2 + 0.6 * 0.05.
    a, la = rows(0.7, 4, 2)
    b, lb = rows(0.95, 6, 6)
    assert expected_calibration_error(np.vstack([a, b]), np.concatenate([la, lb])) == pytest.approx(0.11)
    # With one bin the gaps partly cancel: mean confidence (2.8 + 5.7) / 10 = 0.85, accuracy 0.8.
    assert expected_calibration_error(np.vstack([a, b]), np.concatenate([la, lb]), n_bins=1) == pytest.approx(0.05)


def test_reliability_bins_are_equal_width_and_keep_empty_bins() -> None:
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.7, 0.3], [0.72, 0.28]])
    bins = reliability_bins(probs, np.array([0, 1, 0, 1]))
    assert len(bins) == ECE_BINS and list(bins.columns) == ["bin", "lower", "upper", "n", "confidence", "accuracy"]
    np.testing.assert_allclose(bins["upper"] - bins["lower"], 1 / ECE_BINS)
    assert bins["n"].sum() == 4
    assert bins.loc[ECE_BINS - 1, "n"] == 1  # confidence 1.0: the last bin, (14/15, 1]
    assert bins.loc[7, "n"] == 1  # 0.5 in (7/15, 8/15]; argmax of a tie is class 0: wrong for label 1
    assert bins.loc[7, "accuracy"] == 0.0
    assert bins.loc[10, "n"] == 2 and bins.loc[10, "accuracy"] == 0.5  # 0.7 and 0.72 in (10/15, 11/15]
    assert bins.loc[10, "confidence"] == pytest.approx(0.71)
    assert bins.loc[0, "n"] == 0 and math.isnan(bins.loc[0, "accuracy"])


@pytest.mark.parametrize("planted", [0.5, 2.5])
def test_fitted_temperature_recovers_a_planted_one(planted: float) -> None:
    """Labels drawn from softmax(z); the model's logits are z * planted, so dividing by `planted` is right."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2.0, size=(20000, 6))
    p = softmax(z)
    labels = (p.cumsum(axis=1) > rng.random((len(z), 1))).argmax(axis=1)
    fit = fit_temperature(z * planted, labels)
    assert fit.temperature == pytest.approx(planted, rel=0.03)
    assert fit.nll_after <= fit.nll_before and not fit.at_bound
    assert fit.ece_after < fit.ece_before and fit.ece_after < 0.02
    assert fit.nll_after == pytest.approx(mean_nll(z * planted, labels, fit.temperature))
    assert fit_temperature(z * planted, labels) == fit  # deterministic


def test_fit_never_raises_the_nll_and_stops_at_the_bounds() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        logits = rng.normal(0, rng.uniform(0.1, 5), size=(int(rng.integers(5, 60)), 6))
        labels = rng.integers(0, 6, size=len(logits))
        fit = fit_temperature(logits, labels)
        assert fit.nll_after <= fit.nll_before + 1e-12
        for nearby in (fit.temperature * 1.01, fit.temperature / 1.01):  # a minimum within the interval
            if T_MIN <= nearby <= T_MAX:
                assert fit.nll_after <= mean_nll(logits, labels, nearby) + 1e-12
        assert fit.at_bound == (fit.temperature in (T_MIN, T_MAX))
    separable = np.eye(6)[np.arange(12) % 6] * 3.0  # every protein right with a margin: sharper is always better
    fit = fit_temperature(separable, np.arange(12) % 6)
    assert fit.temperature == pytest.approx(T_MIN) and fit.at_bound
    flat = np.zeros((5, 6))  # no information about T
    assert fit_temperature(flat, np.arange(5)).temperature == 1.0


def test_bad_inputs_are_one_line() -> None:
    with pytest.raises(InputError, match="non-finite logits in row 1"):
        fit_temperature(np.array([[0.0, 1.0], [np.nan, 0.0]]), np.array([0, 1]))
    with pytest.raises(InputError, match="labels must be class indices 0-1"):
        fit_temperature(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(InputError, match="3 labels for 2 logit rows"):
        fit_temperature(np.zeros((2, 2)), np.array([0, 1, 1]))
    with pytest.raises(InputError, match="x.json: temperature 0 is not a finite positive number"):
        check_temperature(0, "x.json")
    with pytest.raises(InputError, match="temperature 'a' is not a number"):
        check_temperature("a", "x.json")
    assert check_temperature(2, "x.json") == 2.0


def test_softmax_with_temperature_is_the_scaled_softmax() -> None:
    logits = np.array([[1000.0, 999.0, 0.0]])  # max-shifted: no overflow
    np.testing.assert_allclose(softmax(logits, 2.0), softmax(logits / 2.0))
    e = np.exp([0.0, -0.5, -500.0])
    np.testing.assert_allclose(softmax(logits, 2.0)[0], e / e.sum())
    assert isinstance(reliability_bins(softmax(logits), np.array([0])), pd.DataFrame)


def record(test_fold: int, temperature: float, seed: int = 42, grid: int = 0) -> dict:
    """A calibration record of model (exp, seed, test_fold, validation fold test_fold + 1, grid)."""
    return {"experiment": "exp", "seed": seed, "test_fold": test_fold, "val_fold": (test_fold + 1) % 5, "grid": grid,
            "temperature": temperature, "fitted_on": f"validation fold {(test_fold + 1) % 5}", "n": 10,
            "nll_before": 1.0, "nll_after": 0.9, "ece_before": 0.2, "ece_after": 0.1, "at_bound": False}


def predictions(test_fold: int, p: float) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"P{test_fold}a", "NA"], "fold": test_fold, "group": "negative",
                         "true": "Cytoplasmic", "predicted": "Cytoplasmic", "Cytoplasmic": [p, 1 - p],
                         "Extracellular": [1 - p, p]})


def test_calibration_files_are_read_back_by_model_whatever_the_order(tmp_path: Path) -> None:
    records = [record(2, 0.5), record(0, 3.0), record(1, 1.5)]
    frames = [predictions(2, 0.25), predictions(0, 0.5), predictions(1, 0.75)]
    document = calibration_document("exp", 42, records)
    assert [r["test_fold"] for r in document["models"]] == [0, 1, 2]
    write_json(document, tmp_path / "calibration.json")
    write_tsv(calibrated_table(records, frames), tmp_path / "calibrated.tsv")
    read = read_calibrations([tmp_path / "calibration.json"])
    assert {key: r["temperature"] for key, r in read.items()} == {
        ("exp", 42, 0, 1, 0): 3.0, ("exp", 42, 1, 2, 0): 1.5, ("exp", 42, 2, 3, 0): 0.5}
    tables = read_calibrated_predictions([tmp_path / "calibrated.tsv"])
    assert list(tables) == [("exp", 42, 0, 1, 0), ("exp", 42, 1, 2, 0), ("exp", 42, 2, 3, 0)]  # model order in the file
    for k, frame in zip((2, 0, 1), frames, strict=True):
        pd.testing.assert_frame_equal(tables[("exp", 42, k, (k + 1) % 5, 0)], frame)  # "NA" stays an ID
    with pytest.raises(InputError, match="records of other models given"):
        calibration_document("exp", 43, records)
    with pytest.raises(InputError, match="a model calibrated twice"):
        calibration_document("exp", 42, [*records, record(0, 2.0)])


@pytest.mark.parametrize("case", ["per_model", "version", "lacks", "other_seed", "twice", "temperature"])
def test_bad_calibration_file_is_one_line(tmp_path: Path, case: str) -> None:
    document = calibration_document("exp", 42, [record(0, 3.0), record(1, 1.5)])
    paths = [tmp_path / "calibration.json"]
    expected = {
        "per_model": "not a locfusion-calibration file",
        "version": "calibration format version 0, this locfusion reads 1",
        "lacks": "model record 2 lacks temperature, n",
        "other_seed": "model record 1 is of experiment 'exp' seed 7, the file of experiment 'exp' seed 42",
        "twice": "experiment 'exp' seed 42, test fold 0, validation fold 1, grid point 0 calibrated twice",
        "temperature": "experiment 'exp' seed 42, test fold 1, validation fold 2, grid point 0: temperature nan is not",
    }[case]
    if case == "per_model":
        document = record(0, 3.0)  # what an older locfusion wrote per model
    elif case == "version":
        document["format_version"] = 0
    elif case == "lacks":
        for key in ("temperature", "n"):
            del document["models"][1][key]
    elif case == "other_seed":
        document["models"][0]["seed"] = 7
    elif case == "twice":  # the same model in two files
        paths.append(tmp_path / "again.json")
        paths[1].write_text(json.dumps(document))
    elif case == "temperature":
        document["models"][1]["temperature"] = float("nan")
    paths[0].write_text(json.dumps(document))
    with pytest.raises(InputError, match=r"\.json: " + expected.replace("(", r"\(").replace(")", r"\)")) as err:
        read_calibrations(paths)
    assert "\n" not in str(err.value)
