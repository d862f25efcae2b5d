"""Evaluation: per-fold and pooled metrics, fold summaries, paired model comparison.

All numbers shown in tables and figures come from here, so plots and reports never
recompute anything and every experiment is scored by the same code. A global
metric is one entry of `GLOBAL_METRICS`. Macro F1 and MCC (multiclass and one-vs-rest) are
computed from the confusion matrix with scikit-learn's formulas (MCC: Gorodkin's R_K)
without importing scikit-learn (1.7 s of every evaluation job); MCC is vectorized over a
stack of matrices, so that the paired bootstrap scores a thousand resamples in one numpy
pass. The tests check both against `sklearn.metrics.f1_score` and `matthews_corrcoef`.

Conventions:
- Labels are canonical class names; confusion matrices use the fixed `CLASSES`
  order, rows = true class, columns = predicted class.
- Macro F1 averages over the classes present in the true or the predicted labels
  (scikit-learn's default), so a class missing from a small fold does not count as F1 = 0.
- Per-class MCC is one-vs-rest; it is None (undefined) for a class that appears
  neither in the true nor in the predicted labels, and such folds are left out of
  that class's mean and std.
- Spread over folds is the sample standard deviation (ddof=1), as stated in every summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .classes import CLASSES, GROUPS, normalize_group, remap_probabilities
from .errors import InputError, listed



@dataclass(frozen=True)
class Metric:
    """One global metric: its label in figures and tables, and how it is computed.

    `compute(true codes, predicted codes, confusion matrix, codes present in either)`.
    """

    label: str
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray, list[int]], float]


def macro_f1_from_confusion(confusion: np.ndarray, labels: Sequence[int]) -> float:
    """Mean F1 = 2TP / (2TP + FP + FN) over class indices `labels` of a (K, K) confusion matrix
    (rows true, columns predicted); 0 for a label in neither, as scikit-learn's `zero_division=0`."""
    cm = np.asarray(confusion, dtype=np.float64)
    idx = np.asarray(list(labels), dtype=np.int64)
    if idx.size == 0:
        return 0.0
    tp = np.diag(cm)[idx]
    denom = cm.sum(axis=0)[idx] + cm.sum(axis=1)[idx]  # (TP + FP) + (TP + FN)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


def _macro_f1(t: np.ndarray, p: np.ndarray, cm: np.ndarray, present: list[int]) -> float:
    return macro_f1_from_confusion(cm, present)


# The global metrics, one entry each: computed by `classification_metrics`, logged per epoch by
# training (`val_<name>`), summarized, compared, drawn and tabled under these names and labels.
GLOBAL_METRICS: dict[str, Metric] = {
    "accuracy": Metric("Accuracy", lambda t, p, cm, present: float(np.mean(t == p))),
    "macro_f1": Metric("Macro F1", _macro_f1),
    "mcc": Metric("MCC", lambda t, p, cm, present: float(mcc_from_confusion(cm))),
}
STD_KIND = "sample standard deviation over folds (ddof=1)"

# ----------------------------------------------------------------------------- encoding


def encode_labels(labels: Sequence[str] | pd.Series | np.ndarray, classes: Sequence[str] = CLASSES) -> np.ndarray:
    """Class names -> integer codes in `classes` order; an unknown label is an InputError."""
    values = np.asarray(labels, dtype=object)
    codes = pd.Index(list(classes)).get_indexer(values).astype(np.int64)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise InputError(
            f"label {values[bad[0]]!r} (row {bad[0]}) is not one of the classes: {', '.join(classes)}"
        )
    return codes


def _check_pair(y_true: Any, y_pred: Any) -> None:
    if len(y_true) != len(y_pred):
        raise InputError(f"true and predicted labels differ in length ({len(y_true)} vs {len(y_pred)})")
    if len(y_true) == 0:
        raise InputError("no predictions to evaluate (empty table)")


# ----------------------------------------------------------------------------- point metrics


def classification_metrics(
    y_true: Sequence[str] | pd.Series | np.ndarray,
    y_pred: Sequence[str] | pd.Series | np.ndarray,
    classes: Sequence[str] = CLASSES,
) -> dict[str, Any]:
    """Accuracy, macro F1, multiclass MCC, one-vs-rest MCC per class, confusion matrix, n.

    Returns plain Python types (JSON-ready): `confusion` is a list of lists with rows =
    true and columns = predicted class, in `classes` order.
    """
    _check_pair(y_true, y_pred)
    classes = list(classes)
    t = encode_labels(y_true, classes)
    p = encode_labels(y_pred, classes)
    k = len(classes)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)  # rows: true, columns: predicted
    present = sorted(set(t.tolist()) | set(p.tolist()))
    # MCCs from the confusion matrix: the same formula as scikit-learn's matthews_corrcoef
    # (checked in the tests), without its warning on folds where a class is constant.
    per_class: dict[str, float | None] = {}
    for k, name in enumerate(classes):
        per_class[name] = float(mcc_from_confusion(one_vs_rest(cm, k))) if k in present else None
    return {
        "n": int(t.size),
        **{name: metric.compute(t, p, cm, present) for name, metric in GLOBAL_METRICS.items()},
        "mcc_per_class": per_class,
        "confusion": cm.tolist(),
        "classes": classes,
    }


def one_vs_rest(confusion: np.ndarray, k: int) -> np.ndarray:
    """2x2 confusion matrix [[TN, FP], [FN, TP]] of class `k` against all others."""
    cm = np.asarray(confusion, dtype=np.int64)
    tp = cm[k, k]
    fn = cm[k].sum() - tp
    fp = cm[:, k].sum() - tp
    tn = cm.sum() - tp - fn - fp
    return np.array([[tn, fp], [fn, tp]])


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}")


def require_finite_probabilities(pred_df: pd.DataFrame, classes: Sequence[str] = CLASSES) -> None:
    """Refuse a prediction table whose class probabilities are missing or non-finite, naming proteins.

    A model with NaN weights still "predicts" (argmax of NaN is the first class):
    scoring its labels would report a plausible-looking MCC for a broken model.
    """
    present = [c for c in classes if c in pred_df.columns]
    if not present:
        return
    values = pred_df[present].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        ids = pred_df["id"].astype(str).tolist() if "id" in pred_df.columns else [str(i) for i in pred_df.index]
        named = [pid for pid, b in zip(ids, bad) if b]
        raise InputError(f"prediction table: {len(named)} protein(s) without finite class probabilities: {listed(named)}")


def evaluate_fold(pred_df: pd.DataFrame, classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """Metrics of one test fold's `test_predictions.tsv` table (columns `true`, `predicted`)."""
    _require_columns(pred_df, ("true", "predicted"), "prediction table")
    require_finite_probabilities(pred_df, classes)
    out = classification_metrics(pred_df["true"], pred_df["predicted"], classes)
    if "fold" in pred_df.columns:
        folds = sorted(set(int(f) for f in pred_df["fold"]))
        if len(folds) != 1:
            raise InputError(f"prediction table of one fold holds folds {folds}")
        out["fold"] = folds[0]
    return out


def _as_float(value: Any) -> float:
    return np.nan if value is None else float(value)


def _mean_std(values: Sequence[Any]) -> tuple[float | None, float | None]:
    arr = np.array([_as_float(v) for v in values], dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None, None
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
    return float(np.mean(arr)), std


def _fold_mean_std(per_fold: Mapping[str, Mapping[str, Any]], classes: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and sample std over folds of every global metric and of each class's one-vs-rest MCC."""
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for name in GLOBAL_METRICS:
        mean[name], std[name] = _mean_std([m[name] for m in per_fold.values()])
    mean["mcc_per_class"], std["mcc_per_class"] = {}, {}
    for cls in classes:
        mean["mcc_per_class"][cls], std["mcc_per_class"][cls] = _mean_std(
            [m["mcc_per_class"].get(cls) for m in per_fold.values()])
    return mean, std


def summarize_experiment(
    fold_metrics: Mapping[int, Mapping[str, Any]],
    pooled_df: pd.DataFrame,
    classes: Sequence[str] = CLASSES,
) -> dict[str, Any]:
    """Per-fold metrics, their mean and sample std over folds, pooled metrics, summed confusion.

    `fold_metrics` maps test fold -> `evaluate_fold` output; `pooled_df` is all folds'
    prediction tables concatenated. Pooled metrics weigh every protein equally, the mean
    over folds weighs every fold equally; both are reported because they differ when
    folds differ in size or class mix. Per-fold keys are strings (as after a JSON round trip).
    When `pooled_df` has a `group` column, pooled metrics per organism group are added.
    """
    if not fold_metrics:
        raise InputError("no fold metrics to summarize")
    classes = list(classes)
    folds = sorted(int(k) for k in fold_metrics)
    per_fold = {str(k): dict(fold_metrics[k] if k in fold_metrics else fold_metrics[str(k)]) for k in folds}
    mean, std = _fold_mean_std(per_fold, classes)
    summed = np.sum([np.asarray(m["confusion"], dtype=np.int64) for m in per_fold.values()], axis=0)
    _require_columns(pooled_df, ("true", "predicted"), "pooled prediction table")
    summary: dict[str, Any] = {
        "classes": classes,
        "folds": folds,
        "n_folds": len(folds),
        "per_fold": per_fold,
        "mean": mean,
        "std": std,
        "std_kind": STD_KIND,
        "pooled": classification_metrics(pooled_df["true"], pooled_df["predicted"], classes),
        "confusion_summed": summed.tolist(),
    }
    if "group" in pooled_df.columns:
        summary["pooled_by_group"] = {
            g: classification_metrics(sub["true"], sub["predicted"], classes)
            for g, sub in pooled_df.groupby("group", sort=False)
        }
        order = {g: i for i, g in enumerate(GROUPS)}
        summary["pooled_by_group"] = dict(
            sorted(summary["pooled_by_group"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        )
    return summary


def summarize_seeds(per_seed: Mapping[int, Mapping[str, Any]], classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """One summary of an experiment trained with several seeds, from each seed's `summarize_experiment`.

    Seeds differ only in the model's initialisation and batch order, so their spread measures
    how much a result owes to luck. Keys as `summarize_experiment`, aggregated thus:
    - `pooled`: per metric, the mean over seeds of the fold-pooled value; `pooled_seed_sd`: the
      sample standard deviation over seeds of that value (None with one seed);
    - `per_fold`, `mean`, `std`: per test fold the mean over seeds, then mean and sample std over folds;
    - `pooled_by_group`: per group, mean over seeds; `confusion_summed`: summed over folds and
      seeds (each protein counted once per seed; `n_seeds` says how many);
    - `per_seed`: every seed's own summary.
    With one seed the numbers equal that seed's summary.
    """
    if not per_seed:
        raise InputError("no seeds to summarize")
    classes = list(classes)
    seeds = sorted(int(k) for k in per_seed)
    summaries = [per_seed[k] if k in per_seed else per_seed[str(k)] for k in seeds]  # type: ignore[index]
    folds = summaries[0]["folds"]
    for seed, s in zip(seeds, summaries):
        if s["folds"] != folds:
            raise InputError(f"seed {seed} was evaluated on folds {s['folds']}, seed {seeds[0]} on {folds}")

    def mean_of(values: Sequence[Any]) -> float | None:
        return _mean_std(values)[0]

    def sd_of(values: Sequence[Any]) -> float | None:
        return _mean_std(values)[1]

    def average(metrics: Sequence[Mapping[str, Any]], reduce: Any) -> dict[str, Any]:
        out: dict[str, Any] = {name: reduce([m[name] for m in metrics]) for name in GLOBAL_METRICS}
        out["mcc_per_class"] = {c: reduce([m["mcc_per_class"].get(c) for m in metrics]) for c in classes}
        return out

    per_fold = {}
    for k in folds:
        fold_metrics = [s["per_fold"][str(k)] for s in summaries]
        per_fold[str(k)] = average(fold_metrics, mean_of) | {"n": fold_metrics[0]["n"]}
    mean, std = _fold_mean_std(per_fold, classes)
    pooled_list = [s["pooled"] for s in summaries]
    summary: dict[str, Any] = {
        "classes": classes,
        "folds": folds,
        "n_folds": len(folds),
        "seeds": seeds,
        "n_seeds": len(seeds),
        "per_fold": per_fold,
        "mean": mean,
        "std": std,
        "std_kind": STD_KIND + "; each fold's value is its mean over seeds",
        "pooled": average(pooled_list, mean_of) | {"n": pooled_list[0]["n"]},
        "pooled_seed_sd": average(pooled_list, sd_of),
        "seed_sd_kind": "sample standard deviation over seeds (ddof=1) of the fold-pooled value",
        "confusion_summed": np.sum([np.asarray(s["confusion_summed"], dtype=np.int64) for s in summaries],
                                   axis=0).tolist(),
        "per_seed": {str(seed): dict(s) for seed, s in zip(seeds, summaries)},
    }
    if all("pooled_by_group" in s for s in summaries):
        groups = list(summaries[0]["pooled_by_group"])
        summary["pooled_by_group"] = {
            g: average([s["pooled_by_group"][g] for s in summaries], mean_of) | {"n": summaries[0]["pooled_by_group"][g]["n"]}
            for g in groups
        }
        summary["pooled_by_group_seed_sd"] = {
            g: average([s["pooled_by_group"][g] for s in summaries], sd_of) for g in groups
        }
    return summary


def summary_table(summaries: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per experiment: mean, std (ddof=1) and pooled value of every metric.

    Columns: experiment, n_seeds, n_folds, n; `{metric}_mean`, `{metric}_std` (over folds),
    `{metric}_pooled` (mean over seeds), `{metric}_pooled_seed_sd`, a display column `{metric}`
    ("0.812 ± 0.015", over folds) and `{metric}_pooled_over_seeds` for accuracy, macro_f1 and mcc; then
    `mcc[{class}]_mean/_std/_pooled` for every class.
    """
    rows = []
    for name, s in summaries.items():
        row: dict[str, Any] = {"experiment": name, "n_seeds": s.get("n_seeds", 1), "n_folds": s["n_folds"],
                               "n": s["pooled"]["n"]}
        seed_sd = s.get("pooled_seed_sd", {})
        for metric in GLOBAL_METRICS:
            m, sd, pooled = s["mean"][metric], s["std"][metric], s["pooled"][metric]
            row[f"{metric}_mean"] = _as_float(m)
            row[f"{metric}_std"] = _as_float(sd)
            row[f"{metric}_pooled"] = _as_float(pooled)
            row[f"{metric}_pooled_seed_sd"] = _as_float(seed_sd.get(metric))
            row[metric] = _format_mean_std(m, sd)
            row[f"{metric}_pooled_over_seeds"] = _format_mean_std(pooled, seed_sd.get(metric))
        for cls in s["classes"]:
            row[f"mcc[{cls}]_mean"] = _as_float(s["mean"]["mcc_per_class"][cls])
            row[f"mcc[{cls}]_std"] = _as_float(s["std"]["mcc_per_class"][cls])
            row[f"mcc[{cls}]_pooled"] = _as_float(s["pooled"]["mcc_per_class"][cls])
        rows.append(row)
    return pd.DataFrame(rows)


def _format_mean_std(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def row_normalized(confusion: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Confusion matrix as fractions of each true class (rows sum to 1; empty rows stay 0)."""
    cm = np.asarray(confusion, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


# ----------------------------------------------------------------------------- bootstrap


def mcc_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Multiclass MCC (Gorodkin's R_K, as scikit-learn) of one (K, K) or a stack (..., K, K) of matrices.

    0 where the MCC is undefined (a constant true or predicted labelling), as scikit-learn.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    s = cm.sum(axis=(-2, -1))
    c = np.trace(cm, axis1=-2, axis2=-1)
    t = cm.sum(axis=-1)  # true-class totals
    p = cm.sum(axis=-2)  # predicted-class totals
    cov_tp = c * s - np.sum(t * p, axis=-1)
    cov_pp = s * s - np.sum(p * p, axis=-1)
    cov_tt = s * s - np.sum(t * t, axis=-1)
    denom = np.sqrt(cov_pp * cov_tt)
    return np.divide(cov_tp, denom, out=np.zeros_like(cov_tp), where=denom > 0)


def _bootstrap_confusions(t: np.ndarray, p: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """(B, K, K) confusion matrices of the resamples `idx` (B, n) with one bincount."""
    cell = (t * k + p)[idx]  # (B, n)
    offset = (np.arange(idx.shape[0], dtype=np.int64) * (k * k))[:, None]
    counts = np.bincount((cell + offset).ravel(), minlength=idx.shape[0] * k * k)
    return counts.reshape(idx.shape[0], k, k)


def paired_bootstrap_mcc_diff(
    y_true: Sequence[str] | pd.Series | np.ndarray,
    pred_a: Sequence[str] | pd.Series | np.ndarray,
    pred_b: Sequence[str] | pd.Series | np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """MCC(a) - MCC(b) on the same proteins, with a paired percentile bootstrap CI.

    Proteins are resampled with replacement and both models are scored on the same
    resample, so the CI reflects only the difference between the models, not the luck
    of the protein sample they share. `p_two_sided` = 2 · min(P*(diff ≤ 0), P*(diff ≥ 0))
    over resamples (capped at 1): a bootstrap tail fraction, not an exact test;
    `frac_a_better` = P*(diff > 0).

    Seeds: `pred_a` and `pred_b` may each be several predictions of the same proteins (a 2-D
    array-like, one row per training seed). A model's MCC, on the full sample and on every
    resample, is then the mean over its seeds of the MCC of each seed's predictions, so the
    difference is that of seed-averaged MCCs and each resample keeps the proteins paired
    across models and seeds. The CI reflects the protein sample; the spread over seeds is
    reported separately (it is not added to the CI).
    """
    a_rows, b_rows = _seed_rows(pred_a), _seed_rows(pred_b)
    for rows in (a_rows, b_rows):
        for row in rows:
            _check_pair(y_true, row)
    if n_boot < 1:
        raise InputError(f"n_boot must be ≥ 1, got {n_boot}")
    k = len(classes)
    t = encode_labels(y_true, classes)
    a = [encode_labels(row, classes) for row in a_rows]
    b = [encode_labels(row, classes) for row in b_rows]
    n = t.size

    def mean_mcc(preds: Sequence[np.ndarray], idx: np.ndarray) -> np.ndarray:
        return np.mean([mcc_from_confusion(_bootstrap_confusions(t, p, idx, k)) for p in preds], axis=0)

    full = np.arange(n)[None, :]
    mcc_a = float(mean_mcc(a, full)[0])
    mcc_b = float(mean_mcc(b, full)[0])
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    chunk = max(1, 4_000_000 // max(n, 1))  # bound memory: ~4M sampled indices at a time
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        diffs[start:stop] = mean_mcc(a, idx) - mean_mcc(b, idx)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    p_two = min(1.0, 2.0 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {
        "mcc_a": mcc_a,
        "mcc_b": mcc_b,
        "diff": mcc_a - mcc_b,
        "ci_low": float(low),
        "ci_high": float(high),
        "confidence": confidence,
        "p_two_sided": float(p_two),
        "frac_a_better": float(np.mean(diffs > 0)),
        "n": int(n),
        "n_seeds_a": len(a),
        "n_seeds_b": len(b),
        "n_boot": int(n_boot),
        "seed": int(seed),
    }


def _seed_rows(pred: Any) -> list[Any]:
    """One label sequence per seed: a 1-D labelling is one seed, a 2-D one has a row per seed."""
    if isinstance(pred, (pd.Series, str)):
        return [pred]
    arr = np.asarray(pred, dtype=object)
    if arr.ndim == 2:
        if arr.shape[0] == 0:
            raise InputError("no seeds' predictions given")
        return [arr[i] for i in range(arr.shape[0])]
    return [pred]


def paired_comparison_table(
    predictions: Mapping[str, pd.DataFrame],
    pairs: Sequence[tuple[str, str]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
) -> pd.DataFrame:
    """Paired bootstrap of MCC differences between experiments on identical proteins.

    `predictions` maps experiment -> pooled prediction table (`id`, `true`, `predicted`), or a
    sequence of such tables, one per training seed (see `paired_bootstrap_mcc_diff`).
    Every table must cover the same proteins with the same true labels (a comparison on
    different proteins is not paired). `pairs` defaults to every experiment against the
    first one. Returns one row per pair: a, b, mcc_a, mcc_b, diff, ci_low, ci_high,
    p_two_sided, frac_a_better, n, n_seeds_a, n_seeds_b, n_boot, seed — the input of
    `plots.plot_comparison_ci`.
    """
    names = list(predictions)
    if pairs is None:
        pairs = [(other, names[0]) for other in names[1:]]
    indexed: dict[str, list[pd.DataFrame]] = {}
    for name, tables in predictions.items():
        frames = [tables] if isinstance(tables, pd.DataFrame) else list(tables)
        if not frames:
            raise InputError(f"no predictions for {name!r}")
        indexed[name] = []
        for df in frames:
            _require_columns(df, ("id", "true", "predicted"), f"predictions of {name!r}")
            dup = df["id"][df["id"].duplicated()]
            if len(dup):
                raise InputError(f"predictions of {name!r} list protein {dup.iloc[0]!r} twice")
            indexed[name].append(df.set_index("id"))
    rows = []
    for a, b in pairs:
        for name in (a, b):
            if name not in indexed:
                raise InputError(f"no predictions for experiment {name!r} (have: {', '.join(names)})")
        reference = indexed[a][0]
        aligned = {}
        for name in (a, b):
            aligned[name] = []
            for df in indexed[name]:
                only = reference.index.symmetric_difference(df.index)
                if len(only):
                    side = a if only[0] in reference.index else name
                    raise InputError(f"protein {only[0]!r} is predicted by {side!r} only; comparisons need identical proteins")
                df = df.loc[reference.index]
                mismatch = np.flatnonzero(reference["true"].to_numpy() != df["true"].to_numpy())
                if mismatch.size:
                    raise InputError(f"protein {reference.index[mismatch[0]]!r} has different true labels in {a!r} and {name!r}")
                aligned[name].append(df["predicted"].to_numpy(dtype=object))
        res = paired_bootstrap_mcc_diff(reference["true"], np.vstack(aligned[a]), np.vstack(aligned[b]), n_boot, seed,
                                        classes)
        rows.append({"a": a, "b": b, **{k: v for k, v in res.items() if k != "confidence"}})
    return pd.DataFrame(
        rows,
        columns=["a", "b", "mcc_a", "mcc_b", "diff", "ci_low", "ci_high", "p_two_sided", "frac_a_better", "n",
                 "n_seeds_a", "n_seeds_b", "n_boot", "seed"],
    )


# ----------------------------------------------------------------------------- group remap


def apply_group_remap(
    prob_df: pd.DataFrame,
    groups: Sequence[str] | pd.Series | np.ndarray,
    classes: Sequence[str] = CLASSES,
) -> pd.DataFrame:
    """DeepLocPro's remap: Gram-positive and archaeal proteins cannot be periplasmic or in an outer membrane.

    For rows whose group is `positive` or `archaea`, the Outer membrane and Periplasmic
    probabilities are added to Extracellular and set to 0; `predicted` is recomputed as the
    argmax over `classes`. Gram-negative rows are unchanged. `groups` is aligned by position
    with the rows. Returns a new DataFrame; other columns are kept.
    """
    classes = list(classes)
    _require_columns(prob_df, classes, "probability table")
    require_finite_probabilities(prob_df, classes)
    if len(groups) != len(prob_df):
        raise InputError(f"{len(groups)} groups for {len(prob_df)} probability rows")
    raw = np.asarray(groups, dtype=object)
    canon = np.array([normalize_group(str(g)) for g in raw], dtype=object)
    bad = np.flatnonzero(canon == None)  # noqa: E711 (elementwise)
    if bad.size:
        raise InputError(f"organism group {raw[bad[0]]!r} (row {bad[0]}) is not one of {', '.join(GROUPS)}")
    probs = remap_probabilities(prob_df[classes].to_numpy(dtype=float), canon, classes)
    out = prob_df.copy()
    out[classes] = probs
    out["predicted"] = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
    return out
