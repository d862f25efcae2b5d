"""DeepLocPro's own held-out predictions, as a competitor scored on our proteins and folds.

DeepLocPro (Moreno et al. 2024) published the class probabilities of every model of
its nested cross-validation (`model_{test}_{val}.csv`: 5 test folds x 4 validation
folds). Its reported performance averages the 4 models of a test fold; we do the same
and return the result in our `test_predictions.tsv` format, so that DeepLocPro is
evaluated by exactly the code that evaluates our experiments, on the same proteins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .classes import CLASSES, DEEPLOCPRO_LABELS, normalize_class, normalize_group
from .errors import InputError
from .metrics import apply_group_remap

DEEPLOCPRO_COLUMNS: tuple[str, ...] = tuple(DEEPLOCPRO_LABELS)


def heldout_path(directory: str | os.PathLike[str], test_fold: int, val_fold: int) -> Path:
    """Path of the model tested on `test_fold` and validated on `val_fold`."""
    return Path(directory) / f"model_{test_fold}_{val_fold}.csv"


def _read_model_csv(path: Path) -> pd.DataFrame:
    """One model's probabilities, indexed by UniProt id, columns renamed to canonical classes."""
    if not path.is_file():
        raise InputError(f"DeepLocPro held-out prediction file {path} is missing")
    # IDs stay text (an ID such as NA is a name); an empty probability then fails astype(float) loudly.
    df = pd.read_csv(path, index_col=0, dtype={0: str}, keep_default_na=False)
    missing = [c for c in DEEPLOCPRO_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: lacks DeepLocPro column(s) {', '.join(missing)}")
    df.index = df.index.astype(str)
    if df.index.has_duplicates:
        raise InputError(f"{path}: protein {df.index[df.index.duplicated()][0]!r} is listed twice")
    df = df[list(DEEPLOCPRO_COLUMNS)].rename(columns=DEEPLOCPRO_LABELS)
    return df[list(CLASSES)].astype(float)


def read_heldout_ensemble(directory: str | os.PathLike[str], n_folds: int = 5) -> pd.DataFrame:
    """All proteins of DeepLocPro's CV: mean probabilities of the 4 models of each test fold.

    Returns columns id, fold, the class probabilities in `CLASSES` order, predicted
    (argmax). Every `model_{t}_{v}.csv` (t != v) must exist; the models of one test fold
    must list the same proteins and no protein may be in two test folds.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"DeepLocPro held-out prediction directory {directory} does not exist")
    parts = []
    for t in range(n_folds):
        models = [_read_model_csv(heldout_path(directory, t, v)) for v in range(n_folds) if v != t]
        ids = models[0].index
        for v, m in zip([v for v in range(n_folds) if v != t], models, strict=True):
            if not m.index.sort_values().equals(ids.sort_values()):
                diff = m.index.symmetric_difference(ids)
                raise InputError(
                    f"{heldout_path(directory, t, v)}: protein {diff[0]!r} is not listed by every model of test fold {t}"
                )
        mean = np.mean([m.loc[ids].to_numpy() for m in models], axis=0)
        part = pd.DataFrame(mean, columns=list(CLASSES))
        part.insert(0, "fold", t)
        part.insert(0, "id", ids.to_numpy())
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    dup = out["id"][out["id"].duplicated()]
    if len(dup):
        raise InputError(f"protein {dup.iloc[0]!r} is in two DeepLocPro test folds")
    out["predicted"] = np.asarray(CLASSES, dtype=object)[out[list(CLASSES)].to_numpy().argmax(axis=1)]
    return out


def deeplocpro_test_predictions(
    directory: str | os.PathLike[str],
    dataset: pd.DataFrame,
    n_folds: int = 5,
    group_remap: bool = False,
) -> pd.DataFrame:
    """DeepLocPro's held-out ensemble for the proteins of `dataset`, in `test_predictions.tsv` format.

    `dataset` needs columns id, label, group, fold (e.g. dataset.tsv). Columns of the result:
    id, true, predicted, one probability per class in `CLASSES` order, fold, group — rows in
    `dataset` order. A protein absent from DeepLocPro's files, or in another test fold there
    than in `dataset`, is an InputError: the comparison must be on identical proteins and folds.
    `group_remap` applies DeepLocPro's own post-processing (`metrics.apply_group_remap`),
    which its published numbers include; off by default so it is treated like our models.
    """
    for col in ("id", "label", "group", "fold"):
        if col not in dataset.columns:
            raise InputError(f"dataset table lacks column {col!r}")
    ensemble = read_heldout_ensemble(directory, n_folds).set_index("id")
    ids = dataset["id"].astype(str)
    missing = ~ids.isin(ensemble.index)
    if missing.any():
        raise InputError(
            f"protein {ids[missing].iloc[0]!r} is not in DeepLocPro's held-out predictions "
            f"({int(missing.sum())} of {len(ids)} missing) in {directory}"
        )
    sub = ensemble.loc[ids.to_numpy()]
    ours = dataset["fold"].astype(int).to_numpy()
    wrong = np.flatnonzero(sub["fold"].to_numpy() != ours)
    if wrong.size:
        i = wrong[0]
        raise InputError(
            f"protein {ids.iloc[i]!r} is in fold {ours[i]} here but in DeepLocPro's test fold {sub['fold'].iloc[i]}"
        )
    true = [_canonical(normalize_class, str(v), "class", pid) for v, pid in zip(dataset["label"], ids, strict=True)]
    group = [_canonical(normalize_group, str(v), "group", pid) for v, pid in zip(dataset["group"], ids, strict=True)]
    out = pd.DataFrame({"id": ids.to_numpy(), "true": true, "predicted": sub["predicted"].to_numpy()})
    for cls in CLASSES:
        out[cls] = sub[cls].to_numpy()
    out["fold"] = ours
    out["group"] = group
    if group_remap:
        out = apply_group_remap(out, out["group"])
    return out


def _canonical(normalize: Callable[[str], str | None], raw: str, what: str, pid: str) -> str:
    value = normalize(raw)
    if value is None:
        raise InputError(f"protein {pid!r}: unknown {what} {raw!r}")
    return value
