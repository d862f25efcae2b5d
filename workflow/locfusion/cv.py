"""Cross-validation plan: which models are trained per test fold, and how one is chosen.

Every training job is one (experiment, seed, test fold, validation fold, grid
point). Two schemes decide the validation folds of a test fold k:

- `single` (the study): validation fold (k+1) mod n, the other n-2 folds train;
- `nested` (DeepLocPro's): each of the n-1 other folds validates once, the rest
  train, and the test fold is predicted by the mean of those n-1 models' class
  probabilities (DeepLocPro scores its own held-out predictions this way).

An experiment may declare a small hyperparameter `grid`. Per (seed, test fold),
the grid point with the best mean validation MCC over that test fold's
validation folds is kept, so nothing is ever chosen by looking at the test fold;
the choice and every candidate's validation MCC are written to `selection.json`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .classes import CLASSES
from .errors import InputError
from .io import read_id_tsv

CV_SCHEMES = ("single", "nested")
GRID_SECTIONS = ("training", "params")


def validation_folds(test_fold: int, n_folds: int, scheme: str) -> list[int]:
    """The validation folds of `test_fold`: one per trained model of that test fold."""
    if not 0 <= test_fold < n_folds:
        raise InputError(f"test fold {test_fold} outside 0-{n_folds - 1}")
    if scheme == "single":
        return [(test_fold + 1) % n_folds]
    if scheme == "nested":
        return [f for f in range(n_folds) if f != test_fold]
    raise InputError(f"cv scheme {scheme!r} is not one of {', '.join(CV_SCHEMES)}")


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order of its keys (last key fastest).

    An empty grid is one point with no overrides, so an experiment without a grid
    trains exactly as configured.
    """
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def split_grid_point(point: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{'training': {...}, 'params': {...}} overrides of one grid point ('training.lr' -> training lr)."""
    out: dict[str, dict[str, Any]] = {section: {} for section in GRID_SECTIONS}
    for key, value in point.items():
        section, _, name = key.partition(".")
        if section not in out or not name:
            raise InputError(f"grid key {key!r}: use training.<setting> or params.<hyperparameter>")
        out[section][name] = value
    return out


# Keys of an experiment that only order jobs (rule train's priority): not part of what a run, a
# learning curve or a comparison is, so rule params carry the spec without them and changing one
# reruns nothing.
SCHEDULING_KEYS = ("priority",)


def experiment_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's spec without its scheduling-only keys (SCHEDULING_KEYS)."""
    return {key: value for key, value in spec.items() if key not in SCHEDULING_KEYS}


def run_experiment(config: Mapping[str, Any], name: str, grid_index: int) -> dict[str, Any]:
    """Experiment `name` as grid point `grid_index` trains it: its params with the point's overrides."""
    experiment = experiment_identity(config["experiments"][name])
    overrides = split_grid_point(_point(config, name, grid_index))
    experiment["params"] = {**experiment.get("params", {}), **overrides["params"]}
    return experiment


def run_training(config: Mapping[str, Any], name: str, seed: int, grid_index: int) -> dict[str, Any]:
    """Training settings of one job: `training:`, the experiment's overrides, the grid point's, the seed."""
    overrides = split_grid_point(_point(config, name, grid_index))
    settings = {**config["training"], **config["experiments"][name].get("training", {}), **overrides["training"]}
    settings.pop("seeds", None)
    # Optional settings left off (null) stay out, as they do of a checkpoint's identity: a job's
    # params, and so its outputs, do not change when a new optional setting is added.
    settings = {key: value for key, value in settings.items() if value is not None}
    settings["seed"] = int(seed)
    return settings


def _point(config: Mapping[str, Any], name: str, grid_index: int) -> dict[str, Any]:
    points = grid_points(config["experiments"][name].get("grid", {}))
    if not 0 <= grid_index < len(points):
        raise InputError(f"experiment '{name}': grid point {grid_index} outside 0-{len(points) - 1}")
    return points[grid_index]


# ----------------------------------------------------------------------------- selection


def select_grid_point(candidates: Sequence[Mapping[str, Any]]) -> tuple[int, pd.DataFrame]:
    """Choose the grid point with the best mean validation MCC; ties go to the earlier point.

    `candidates`: one mapping per trained model with `grid`, `val_fold` and `best_val_mcc`.
    Returns the chosen grid index and the per-point table (grid, n_models, mean_val_mcc).
    Every grid point must have the same validation folds, else the means are not comparable.
    """
    if not candidates:
        raise InputError("no trained models to choose from")
    frame = pd.DataFrame([{k: c[k] for k in ("grid", "val_fold", "best_val_mcc")} for c in candidates])
    folds = frame.groupby("grid")["val_fold"].apply(lambda s: tuple(sorted(s)))
    if folds.nunique() != 1:
        raise InputError(f"grid points were validated on different folds: {folds.to_dict()}")
    table = (frame.groupby("grid", sort=True)
             .agg(n_models=("val_fold", "size"), mean_val_mcc=("best_val_mcc", "mean"))
             .reset_index())
    best = int(table.loc[table["mean_val_mcc"].idxmax(), "grid"])  # idxmax: first of equal maxima
    return best, table


def ensemble_predictions(frames: Sequence[pd.DataFrame], classes: Sequence[str] = CLASSES) -> pd.DataFrame:
    """Mean class probabilities of several models' predictions of the same proteins; argmax predicts."""
    if not frames:
        raise InputError("no predictions to ensemble")
    classes = list(classes)
    first = frames[0].reset_index(drop=True)
    for frame in frames[1:]:
        if not frame["id"].reset_index(drop=True).equals(first["id"]):
            raise InputError("models to ensemble predicted different proteins (or in another order)")
    probs = np.mean([f[classes].to_numpy(dtype=np.float64) for f in frames], axis=0)
    out = first.copy()
    out[classes] = probs
    out["predicted"] = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
    return out


def select_and_ensemble(
    manifests: Sequence[str | Path],
    predictions: Sequence[str | Path],
    grid: Mapping[str, Sequence[Any]],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The test-fold predictions of the chosen grid point (mean over its models) and the selection record.

    `manifests[i]` (model.json) and `predictions[i]` (test_predictions.tsv) are one trained model.
    """
    if len(manifests) != len(predictions):
        raise InputError(f"{len(manifests)} model manifests for {len(predictions)} prediction tables")
    candidates = []
    for m, p in zip(manifests, predictions, strict=True):
        manifest = json.loads(Path(m).read_text())
        for key in ("grid", "val_fold", "best_val_mcc", "test_fold", "seed"):
            if key not in manifest:
                raise InputError(f"{m}: model manifest lacks {key!r}")
        candidates.append({**{k: manifest[k] for k in ("grid", "val_fold", "best_val_mcc", "test_fold", "seed",
                                                       "best_epoch")},
                           "manifest": str(m), "predictions": str(p)})
    test_folds = {c["test_fold"] for c in candidates}
    seeds = {c["seed"] for c in candidates}
    if len(test_folds) != 1 or len(seeds) != 1:
        raise InputError(f"models of several test folds {sorted(test_folds)} or seeds {sorted(seeds)} given together")
    chosen, table = select_grid_point(candidates)
    kept = sorted((c for c in candidates if c["grid"] == chosen), key=lambda c: c["val_fold"])
    frames = [read_id_tsv(c["predictions"]) for c in kept]
    points = grid_points(grid)
    selection = {
        "test_fold": next(iter(test_folds)),
        "seed": next(iter(seeds)),
        "chosen_grid": chosen,
        "chosen_settings": points[chosen] if points else {},
        "criterion": "mean best validation MCC over the test fold's validation folds",
        "grid_points": [{"grid": int(r.grid), "settings": points[int(r.grid)], "n_models": int(r.n_models),
                         "mean_val_mcc": float(r.mean_val_mcc)} for r in table.itertuples()],
        "models": [{k: c[k] for k in ("grid", "val_fold", "best_val_mcc", "best_epoch", "manifest")}
                   for c in sorted(candidates, key=lambda c: (c["grid"], c["val_fold"]))],
        "ensembled": [c["manifest"] for c in kept],
    }
    return ensemble_predictions(frames), selection


def choose_experiment(selections: Mapping[str, Sequence[str | Path]]) -> pd.DataFrame:
    """Which experiment validation alone prefers: the one a study may name its model without a
    look at the test folds.

    `selections` maps experiment -> its `selection.json` of every (seed, test fold). An
    experiment's score is the mean, over those runs, of its chosen grid point's mean validation
    MCC (what `select_and_ensemble` chose it by). Each validation MCC is its run's best epoch
    (early stopping), and the chosen point is the best of its grid, so a score is optimistic, the
    more so the more epochs and grid points it was the best of (`grid_points` says how many); it
    says which model to report, not how well it does (the test folds say that). Ties go to the
    earlier experiment. Every experiment must have the same (seed, test fold) runs, else the
    means are not comparable.
    """
    if not selections:
        raise InputError("no experiments to choose from")
    rows, runs = [], {}
    for name, paths in selections.items():
        if not paths:
            raise InputError(f"experiment {name!r}: no selections")
        scores, n_points = {}, set()
        for path in paths:
            sel = json.loads(Path(path).read_text())
            n_points.add(len(sel["grid_points"]))
            point = [p for p in sel["grid_points"] if p["grid"] == sel["chosen_grid"]]
            if len(point) != 1:
                raise InputError(f"{path}: chosen grid point {sel['chosen_grid']} is not among its grid points")
            score = float(point[0]["mean_val_mcc"])
            if not np.isfinite(score):
                raise InputError(f"{path}: the chosen grid point's mean validation MCC is {score}")
            scores[(int(sel["seed"]), int(sel["test_fold"]))] = score
        if len(scores) != len(paths):
            raise InputError(f"experiment {name!r}: {len(paths)} selections for {len(scores)} distinct (seed, test fold) runs")
        runs[name] = sorted(scores)
        values = np.array([scores[k] for k in runs[name]])
        rows.append({"experiment": name, "runs": len(values), "grid_points": max(n_points),
                     "mean_val_mcc": values.mean(),
                     "sd_val_mcc": values.std(ddof=1) if len(values) > 1 else np.nan,
                     "min_val_mcc": values.min(), "max_val_mcc": values.max()})
    first = next(iter(runs.values()))
    differ = {name: r for name, r in runs.items() if r != first}
    if differ:
        raise InputError(f"experiments were validated on different (seed, test fold) runs: {sorted(differ)} vs "
                         f"{next(iter(runs))}")
    table = pd.DataFrame(rows)
    table["chosen"] = False
    table.loc[table["mean_val_mcc"].idxmax(), "chosen"] = True  # idxmax: first of equal maxima
    table["rank"] = table["mean_val_mcc"].rank(ascending=False, method="first").astype(int)
    return table


def selection_report(seed_dir: str | Path) -> str:
    """One line per test fold under `seed_dir` (`.../<experiment>/seed_<s>`): each grid point's mean
    validation MCC and the one chosen. What validation alone says, without a look at the test folds."""
    paths = sorted(Path(seed_dir).glob("fold_*/selection.json"), key=lambda p: int(p.parent.name.removeprefix("fold_")))
    if not paths:
        raise InputError(f"{seed_dir}: no fold_*/selection.json (run the workflow's select_models first)")
    lines = []
    for path in paths:
        sel = json.loads(path.read_text())
        points = ", ".join(f"{json.dumps(p['settings'], sort_keys=True)}: {p['mean_val_mcc']:.4f} ({p['n_models']} models)"
                           for p in sel["grid_points"])
        lines.append(f"test fold {sel['test_fold']}: mean validation MCC {points}; chosen "
                     f"{json.dumps(sel['chosen_settings'], sort_keys=True)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m locfusion.cv results/experiments/<experiment>/seed_<s>`: print the selections."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m locfusion.cv", description=main.__doc__)
    parser.add_argument("seed_dir")
    args = parser.parse_args(argv)
    try:
        print(selection_report(args.seed_dir))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
