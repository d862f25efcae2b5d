"""The files rule `calibrate` writes: per experiment and seed, every model's temperature and calibrated test predictions.

Why per experiment x seed and not per trained model: one calibrate job per seed loads the
dataset and the embeddings once for all of that seed's models, where a job per model paid a
Python + torch start and a reload each (`pipeline.calibrate_models`). Each model is still
fitted on its own validation fold alone; these files only gather the results.

`calibration.json`:

    {"format": "locfusion-calibration", "format_version": 1, "experiment": ..., "seed": ...,
     "models": [record, ...]}

one record per model, sorted by (test_fold, val_fold, grid), each naming its model
(`experiment`, `seed`, `test_fold`, `val_fold`, `grid`) beside its `temperature`, the validation
numbers of the fit (`n`, `nll_before`/`nll_after`, `ece_before`/`ece_after`, `at_bound`),
`fitted_on`, `method`, `device`, `precision` and `test_max_abs_difference_to_training`.

`test_predictions_calibrated.tsv`: the model columns (MODEL_COLUMNS) followed by one model's
calibrated test-fold table (`training.predictions_frame`'s columns), models in the order of
the records. One model's rows without the model columns are that model's table alone.

Readers look a model up by `model_key` (experiment, seed, test fold, validation fold, grid
point), never by position, so models cannot be mixed up by the order files are given in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .calibration import check_temperature
from .errors import InputError

__all__ = [
    "FIT_KEYS",
    "CALIBRATION_FORMAT",
    "CALIBRATION_FORMAT_VERSION",
    "MODEL_COLUMNS",
    "ModelKey",
    "calibrated_table",
    "calibration_document",
    "describe_model",
    "model_key",
    "read_calibrated_predictions",
    "read_calibrations",
]

CALIBRATION_FORMAT = "locfusion-calibration"
CALIBRATION_FORMAT_VERSION = 1
# What names one trained model, in the records and as the first columns of the predictions table.
MODEL_COLUMNS = ("experiment", "seed", "test_fold", "val_fold", "grid")
# Besides the model columns and its temperature, what every record must hold: the fit on the
# validation fold (a bundle's manifest keeps these beside each fold model's temperature).
FIT_KEYS = ("fitted_on", "n", "nll_before", "nll_after", "ece_before", "ece_after", "at_bound")

ModelKey = tuple[str, int, int, int, int]  # experiment, seed, test fold, validation fold, grid point


def model_key(record: Mapping[str, Any]) -> ModelKey:
    """The key of the model a record, a model manifest (model.json) or a table row describes."""
    return (str(record["experiment"]), int(record["seed"]), int(record["test_fold"]), int(record["val_fold"]),
            int(record["grid"]))


def describe_model(key: ModelKey) -> str:
    """A model in words, for the one-line errors that name it."""
    experiment, seed, test_fold, val_fold, grid = key
    return f"experiment '{experiment}' seed {seed}, test fold {test_fold}, validation fold {val_fold}, grid point {grid}"


def calibration_document(experiment: str, seed: int, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """calibration.json of one experiment and seed: its models' records, sorted by model."""
    keys = [model_key(r) for r in records]
    if any(k[:2] != (experiment, int(seed)) for k in keys):
        raise InputError(f"experiment '{experiment}' seed {seed}: records of other models given "
                         f"({sorted({k[:2] for k in keys})})")
    if len(set(keys)) != len(keys):
        raise InputError(f"experiment '{experiment}' seed {seed}: a model calibrated twice")
    return {"format": CALIBRATION_FORMAT, "format_version": CALIBRATION_FORMAT_VERSION, "experiment": experiment,
            "seed": int(seed), "models": sorted((dict(r) for r in records), key=model_key)}


def calibrated_table(records: Sequence[Mapping[str, Any]], frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """test_predictions_calibrated.tsv: each model's table behind its model columns, in model order."""
    pairs = sorted(zip(records, frames, strict=True), key=lambda pair: model_key(pair[0]))
    parts = []
    for record, frame in pairs:
        columns = dict(zip(MODEL_COLUMNS, model_key(record), strict=True))
        parts.append(pd.concat([pd.DataFrame(columns, index=frame.index), frame], axis=1))
    return pd.concat(parts, ignore_index=True)


def read_calibrations(paths: Sequence[str | os.PathLike[str]]) -> dict[ModelKey, dict[str, Any]]:
    """Every model's record in `paths` (calibration.json files), by model key; each checked whole.

    A file of another format (e.g. a per-model calibration.json of an older locfusion), a record
    lacking a key, one of another experiment or seed than its file, a model in two records, or a
    temperature that is not a finite positive number is one line naming the file.
    """
    records: dict[ModelKey, dict[str, Any]] = {}
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: unreadable calibration ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != CALIBRATION_FORMAT:
            raise InputError(f"{path}: not a {CALIBRATION_FORMAT} file (one per experiment and seed, written by rule "
                             "calibrate; rerun snakemake to replace older per-model files)")
        if document.get("format_version") != CALIBRATION_FORMAT_VERSION:
            raise InputError(f"{path}: calibration format version {document.get('format_version')!r}, this locfusion "
                             f"reads {CALIBRATION_FORMAT_VERSION}")
        models = document.get("models")
        if not isinstance(models, list) or not models:
            raise InputError(f"{path}: no model records under 'models'")
        for number, record in enumerate(models, 1):
            if not isinstance(record, dict):
                raise InputError(f"{path}: model record {number} is not an object")
            missing = [k for k in (*MODEL_COLUMNS, "temperature", *FIT_KEYS) if k not in record]
            if missing:
                raise InputError(f"{path}: model record {number} lacks {', '.join(missing)}")
            key = model_key(record)
            if key[:2] != (document.get("experiment"), document.get("seed")):
                raise InputError(f"{path}: model record {number} is of experiment '{key[0]}' seed {key[1]}, the file "
                                 f"of experiment '{document.get('experiment')}' seed {document.get('seed')}")
            if key in records:
                raise InputError(f"{path}: {describe_model(key)} calibrated twice")
            where = f"{path}: {describe_model(key)}"
            records[key] = {**record, "temperature": check_temperature(record["temperature"], where)}
    return records


def read_calibrated_predictions(paths: Sequence[str | os.PathLike[str]]) -> dict[ModelKey, pd.DataFrame]:
    """Every model's calibrated test predictions in `paths`, by model key, without the model columns."""
    from .io import read_id_tsv

    tables: dict[ModelKey, pd.DataFrame] = {}
    for path in paths:
        table = read_id_tsv(path, text_columns=("id", "experiment"))
        missing = [c for c in MODEL_COLUMNS if c not in table.columns]
        if missing:
            raise InputError(f"{path}: no column {', '.join(missing)} (not a table of rule calibrate)")
        for values, rows in table.groupby(list(MODEL_COLUMNS), sort=False, dropna=False):
            try:
                key = model_key(dict(zip(MODEL_COLUMNS, values, strict=True)))
            except (TypeError, ValueError):
                raise InputError(f"{path}: line {int(rows.index[0]) + 2}: model columns {list(values)} are not "
                                 "an experiment and four integers") from None
            if key in tables:
                raise InputError(f"{path}: {describe_model(key)} predicted twice")
            tables[key] = rows.drop(columns=list(MODEL_COLUMNS)).reset_index(drop=True)
    return tables
