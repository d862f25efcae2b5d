"""Calibrated probabilities: temperature scaling, expected calibration error, reliability bins.

Why temperature scaling (Guo et al., 2017, "On calibration of modern neural
networks"): networks trained to a minimum of cross-entropy and early-stopped on
MCC are often over- or under-confident, so a class probability of 0.9 need not
mean right 9 times in 10. One scalar T > 0 per trained model divides its logits
before the softmax. It never changes that model's top class (dividing every logit
by the same positive number keeps their order), so accuracy and MCC of each model
are untouched; and one parameter can be fitted reliably on a validation fold of a
few hundred proteins, where a per-class or matrix calibration would overfit.

T is fitted on the model's own validation fold, never on its test fold: the test
folds give the final numbers, and anything fitted on them would flatter them.

Numbers here are plain numpy (float64) on logits and labels, so the same code
serves the workflow, `locfusion predict` and the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "ECE_BINS",
    "T_MAX",
    "T_MIN",
    "TemperatureFit",
    "check_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "mean_nll",
    "reliability_bins",
    "softmax",
]

ECE_BINS = 15  # equal-width confidence bins (Guo et al.'s choice); the ECE depends on it, so it is fixed
# The search interval for T. Beyond it a validation fold says more about its size than about the model:
# T -> 0 when every validation protein is right with a margin (NLL falls towards 0 as logits sharpen).
T_MIN = 0.01
T_MAX = 100.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature (float64, max-shifted so it cannot overflow)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise InputError(f"calibration needs an (n > 0, classes) logit matrix, got shape {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise InputError(f"{labels.shape[0] if labels.ndim else 0} labels for {logits.shape[0]} logit rows")
    if not np.isfinite(logits).all():
        raise InputError(f"non-finite logits in row {int(np.flatnonzero(~np.isfinite(logits).all(axis=1))[0])}")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise InputError(f"labels must be class indices 0-{logits.shape[1] - 1}")
    return logits, labels.astype(np.int64)


def mean_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes under softmax(logits / temperature)."""
    logits, labels = _check(logits, labels)
    z = logits / float(temperature)
    m = z.max(axis=1)
    log_norm = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def _nll_slope(logits: np.ndarray, labels: np.ndarray, beta: float) -> float:
    """d NLL / d beta at inverse temperature beta: mean over rows of E_p[z] - z_true.

    NLL(beta) = mean(logsumexp(beta z) - beta z_true) is convex in beta (a log-sum-exp
    of linear functions), so this slope is non-decreasing and its sign change is the
    one minimum: a bisection on it cannot land in a local minimum.
    """
    p = softmax(logits * beta)
    return float(np.mean((p * logits).sum(axis=1) - logits[np.arange(len(labels)), labels]))


@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature and the validation numbers before (T = 1) and after it."""

    temperature: float
    n: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    at_bound: bool  # T is T_MIN or T_MAX: the optimum lies at or beyond the search interval

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray, n_bins: int = ECE_BINS,
                    t_min: float = T_MIN, t_max: float = T_MAX) -> TemperatureFit:
    """The T in [t_min, t_max] that minimizes the mean NLL of `labels` under softmax(logits / T).

    Deterministic: a bisection on the sign of the NLL's slope in beta = 1/T, over
    log beta, to a width of 1e-12. The NLL is convex in
    beta, so this finds the minimum over the interval; T = 1 lies in it, hence
    `nll_after <= nll_before` always (checked; T = 1 is kept should rounding say
    otherwise). Rows whose logits are all equal carry no information about T; if
    every row is so, T = 1.
    """
    logits, labels = _check(logits, np.asarray(labels))
    if not 0 < t_min <= 1 <= t_max:
        raise InputError(f"temperature interval [{t_min}, {t_max}] must contain 1 and be positive")
    before = mean_nll(logits, labels)
    lo, hi = math.log(1 / t_max), math.log(1 / t_min)  # log beta
    if np.ptp(logits, axis=1).max() == 0:
        beta = 1.0
    elif _nll_slope(logits, labels, math.exp(lo)) >= 0:  # NLL rises from the flattest end: T = t_max
        beta = 1 / t_max
    elif _nll_slope(logits, labels, math.exp(hi)) <= 0:  # still falling at the sharpest end: T = t_min
        beta = 1 / t_min
    else:
        while hi - lo > 1e-12:  # about 43 halvings: T to 12 significant digits
            mid = (lo + hi) / 2
            if _nll_slope(logits, labels, math.exp(mid)) > 0:
                hi = mid
            else:
                lo = mid
        beta = math.exp((lo + hi) / 2)
    temperature = 1 / beta
    after = mean_nll(logits, labels, temperature)
    if after > before:  # only by rounding: the interval contains T = 1
        temperature, after = 1.0, before
    return TemperatureFit(
        temperature=float(temperature),
        n=int(len(labels)),
        nll_before=before,
        nll_after=after,
        ece_before=expected_calibration_error(softmax(logits), labels, n_bins),
        ece_after=expected_calibration_error(softmax(logits, temperature), labels, n_bins),
        at_bound=bool(np.isclose(temperature, t_min) or np.isclose(temperature, t_max)),
    )


def reliability_bins(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray,
                     n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Top-label reliability table: per equal-width confidence bin, proteins, mean confidence, accuracy.

    Confidence is the top class probability; a protein is right when its top class is
    its label. Bin b holds confidences in (b/n_bins, (b+1)/n_bins] (bin 0 also holds 0).
    Empty bins are kept (n = 0, confidence and accuracy NaN), so tables of different
    models line up bin by bin.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise InputError(f"{labels.size} labels for a probability matrix of shape {probabilities.shape}")
    if n_bins < 1:
        raise InputError(f"n_bins must be >= 1, got {n_bins}")
    if not np.isfinite(probabilities).all():
        raise InputError("non-finite probabilities")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    index = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan)
        accuracy = np.where(counts > 0, right / np.maximum(counts, 1), np.nan)
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "n": counts,
                         "confidence": mean_conf, "accuracy": accuracy})


def expected_calibration_error(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray,
                               n_bins: int = ECE_BINS) -> float:
    """ECE = sum over bins of (n_b / N) * |accuracy_b - mean confidence_b| (top label, equal-width bins).

    0 for a perfectly calibrated model; the largest gap a protein can contribute is 1.
    Its value depends on the bin count and is biased upwards on small samples (a bin
    of few proteins has a noisy accuracy), so the validation NLL is reported beside it.
    """
    bins = reliability_bins(probabilities, labels, n_bins)
    used = bins[bins["n"] > 0]
    total = int(used["n"].sum())
    if total == 0:
        raise InputError("no predictions to compute a calibration error on")
    return float((used["n"] / total * (used["accuracy"] - used["confidence"]).abs()).sum())


def check_temperature(value: Any, where: str) -> float:
    """`value` as a finite positive temperature, else one line naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: temperature {value!r} is not a number")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{where}: temperature {value!r} is not a finite positive number")
    return float(value)
