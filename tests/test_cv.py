"""The cross-validation plan: validation folds per scheme, grid selection on validation MCC, ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locfusion.classes import CLASSES
from locfusion.cv import (
    choose_experiment,
    ensemble_predictions,
    grid_points,
    main,
    select_and_ensemble,
    select_grid_point,
    validation_folds,
)
from locfusion.errors import InputError
from locfusion.training import fold_split


def test_single_is_the_study_protocol_and_nested_uses_every_other_fold() -> None:
    assert [validation_folds(k, 5, "single") for k in range(5)] == [[1], [2], [3], [4], [0]]
    assert validation_folds(2, 5, "nested") == [0, 1, 3, 4]
    assert fold_split(2, 5, 0) == ([1, 3, 4], 0)
    with pytest.raises(InputError, match="validation fold 2 must be another fold"):
        fold_split(2, 5, 2)
    with pytest.raises(InputError, match="test fold 5 outside 0-4"):
        validation_folds(5, 5, "nested")


def test_grid_points_are_the_product_in_key_order() -> None:
    assert grid_points({}) == [{}]
    assert grid_points({"training.lr": [1, 2], "params.hidden_dim": [8, 16]}) == [
        {"training.lr": 1, "params.hidden_dim": 8}, {"training.lr": 1, "params.hidden_dim": 16},
        {"training.lr": 2, "params.hidden_dim": 8}, {"training.lr": 2, "params.hidden_dim": 16},
    ]


def test_the_best_mean_validation_mcc_wins_and_ties_go_to_the_earlier_point() -> None:
    candidates = [
        {"grid": 0, "val_fold": 1, "best_val_mcc": 0.9}, {"grid": 0, "val_fold": 2, "best_val_mcc": 0.1},
        {"grid": 1, "val_fold": 1, "best_val_mcc": 0.6}, {"grid": 1, "val_fold": 2, "best_val_mcc": 0.6},
    ]
    best, table = select_grid_point(candidates)
    assert best == 1  # mean 0.6 beats mean 0.5, although grid 0 has the single best model
    assert table["mean_val_mcc"].tolist() == pytest.approx([0.5, 0.6])
    tie = [{"grid": g, "val_fold": 1, "best_val_mcc": 0.5} for g in (0, 1)]
    assert select_grid_point(tie)[0] == 0
    with pytest.raises(InputError, match="validated on different folds"):
        select_grid_point(candidates[:3])


def frame(probs: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({"id": ["a", "b"], "fold": [0, 0], "group": ["negative", "positive"],
                        "true": [CLASSES[0], CLASSES[1]], "predicted": ["", ""]})
    out[list(CLASSES)] = probs
    return out


def test_ensemble_averages_probabilities() -> None:
    p1 = np.eye(len(CLASSES))[[0, 1]] * 0.7 + 0.05
    p2 = np.eye(len(CLASSES))[[2, 1]] * 0.9 + 0.02
    out = ensemble_predictions([frame(p1), frame(p2)])
    assert np.allclose(out[list(CLASSES)].to_numpy(), (p1 + p2) / 2)
    assert out["predicted"].tolist() == [CLASSES[2], CLASSES[1]]  # 0.47 for class 2 beats 0.40 for class 0
    other = frame(p1).iloc[::-1]
    with pytest.raises(InputError, match="different proteins"):
        ensemble_predictions([frame(p1), other])


def write_model(root: Path, grid: int, val: int, mcc: float, probs: np.ndarray) -> tuple[Path, Path]:
    run = root / f"val_{val}_g{grid}"
    run.mkdir(parents=True)
    manifest = run / "model.json"
    manifest.write_text(json.dumps({"grid": grid, "val_fold": val, "best_val_mcc": mcc, "test_fold": 0, "seed": 42,
                                    "best_epoch": 3}))
    predictions = run / "test_predictions.tsv"
    frame(probs).to_csv(predictions, sep="\t", index=False)
    return manifest, predictions


def test_select_and_ensemble_uses_only_the_chosen_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = np.eye(len(CLASSES))[[0, 1]] * 0.9 + 0.01
    bad = np.eye(len(CLASSES))[[3, 3]] * 0.9 + 0.01
    files = [write_model(tmp_path, 0, v, 0.2, bad) for v in (1, 2)] + [write_model(tmp_path, 1, v, 0.4, good) for v in (1, 2)]
    grid = {"training.precision": ["fp32", "bf16"]}
    out, selection = select_and_ensemble([m for m, _ in files], [p for _, p in files], grid)
    assert selection["chosen_grid"] == 1 and selection["chosen_settings"] == {"training.precision": "bf16"}
    assert [p["mean_val_mcc"] for p in selection["grid_points"]] == pytest.approx([0.2, 0.4])
    assert len(selection["ensembled"]) == 2 and all("_g1" in m for m in selection["ensembled"])
    assert out["predicted"].tolist() == [CLASSES[0], CLASSES[1]]
    # python -m locfusion.cv prints what validation said, fold by fold
    fold = tmp_path / "seed_42" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "selection.json").write_text(json.dumps(selection))
    assert main([str(tmp_path / "seed_42")]) == 0
    printed = capsys.readouterr().out
    assert "test fold 0" in printed and '"training.precision": "bf16"' in printed and "0.4000" in printed
    assert main([str(tmp_path / "nothing")]) == 1


def write_selection(path: Path, seed: int, fold: int, chosen: int, means: list[float]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seed": seed, "test_fold": fold, "chosen_grid": chosen,
                                "grid_points": [{"grid": g, "mean_val_mcc": m} for g, m in enumerate(means)]}))
    return str(path)


def test_the_experiment_chosen_on_validation_has_the_best_mean_of_its_chosen_points(tmp_path: Path) -> None:
    def selections(name: str, per_fold: list[tuple[int, list[float]]]) -> list[str]:
        return [write_selection(tmp_path / name / f"fold_{k}.json", 42, k, chosen, means)
                for k, (chosen, means) in enumerate(per_fold)]

    a = selections("a", [(0, [0.5]), (0, [0.7])])  # mean 0.6
    b = selections("b", [(1, [0.9, 0.6]), (0, [0.64, 0.2])])  # chosen points 0.6, 0.64: mean 0.62
    c = selections("c", [(0, [0.62]), (0, [0.62])])  # ties b: the earlier experiment wins
    table = choose_experiment({"a": a, "b": b, "c": c}).set_index("experiment")
    assert table["chosen"].tolist() == [False, True, False]
    assert table.loc["b", "mean_val_mcc"] == pytest.approx(0.62) and table.loc["b", "runs"] == 2
    assert table["rank"].tolist() == [3, 1, 2] and table["grid_points"].tolist() == [1, 2, 1]
    with pytest.raises(InputError, match="different \\(seed, test fold\\) runs"):
        choose_experiment({"a": a, "short": a[:1]})
    with pytest.raises(InputError, match="2 selections for 1 distinct"):
        choose_experiment({"a": [a[0], a[0]]})
    with pytest.raises(InputError, match="'a': no selections"):
        choose_experiment({"a": []})
    nan = write_selection(tmp_path / "nan.json", 42, 0, 0, [float("nan")])
    with pytest.raises(InputError, match="nan.json: the chosen grid point's mean validation MCC is nan"):
        choose_experiment({"a": [nan]})
