"""Report figures, each written as PNG (150 dpi) and PDF from already computed numbers.

Figures are drawn from the summaries of `locfusion.metrics` and the tables the
workflow saved, so they can be regenerated without retraining and never disagree
with the reported numbers. Figures are built on `matplotlib.figure.Figure`, not pyplot:
PNG goes through the Agg renderer, no display is needed, and importing this module
does not switch the backend of a user's interactive session. Both files are written
atomically through `locfusion.io.atomic_path`, so a killed job never leaves a
half-written figure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .classes import CLASSES, GROUPS
from .dataset import reason_counts
from .errors import InputError
from .io import atomic_path
from .metrics import GLOBAL_METRICS, row_normalized

log = logging.getLogger(__name__)

DPI = 150
FORMATS: tuple[str, ...] = ("png", "pdf")


def layout_problems(fig: Figure, tolerance: float = 1.0) -> list[str]:
    """Texts that overlap each other or a legend, or reach outside the figure, after layout.

    Checked on every figure written (`save_figure` logs each problem as a warning, and
    the workflow tests fail on such warnings), because an unreadable figure is found
    by a reader, not by a test, otherwise. Tick labels count only for ticks in view.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    tick_labels = set()
    shown_ticks = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-6
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                tick_labels.update((tick.label1, tick.label2))
                if lo - span <= tick.get_loc() <= hi + span:
                    shown_ticks += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    texts = [t for t in fig.findobj(Text) if t not in tick_labels and t.get_visible()] + shown_ticks
    texts = [t for t in texts if t.get_text().strip()]
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    shapes = {id(t): _text_outline(t, box, renderer) for t, box in boxes}
    problems = []

    def overlap(a: Any, b: Any) -> bool:
        return min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance

    canvas = fig.bbox
    for t, box in boxes:
        if (box.x0 < canvas.x0 - tolerance or box.y0 < canvas.y0 - tolerance
                or box.x1 > canvas.x1 + tolerance or box.y1 > canvas.y1 + tolerance):
            problems.append(f"text {t.get_text()!r} reaches outside the figure")
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1 :]:
            if overlap(box_a, box_b) and _polygons_overlap(shapes[id(a)], shapes[id(b)], tolerance):
                problems.append(f"texts {a.get_text()!r} and {b.get_text()!r} overlap")
    legends = [lg for lg in [*(ax.get_legend() for ax in fig.axes), *fig.legends] if lg is not None]
    for legend in legends:
        own = {id(t) for t in legend.get_texts()} | {id(legend.get_title())}
        frame = legend.get_window_extent(renderer)
        for t, box in boxes:
            if id(t) not in own and overlap(frame, box):
                problems.append(f"text {t.get_text()!r} overlaps a legend")
    return problems


def _text_outline(text: Any, box: Any, renderer: Any) -> np.ndarray:
    """Corners of a text's own (possibly rotated) rectangle in display space.

    A rotated label's axis-aligned extent overlaps its neighbours' although the
    letters do not; the rectangle inscribed in that extent at the text's angle does not.
    """
    angle = np.deg2rad(text.get_rotation() % 180)
    corners = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    if np.isclose(np.sin(2 * angle), 0) or "\n" in text.get_text():
        return corners
    width, height, _ = renderer.get_text_width_height_descent(text.get_text(), text.get_fontproperties(), ismath=False)
    sin, cos = abs(np.sin(angle)), abs(np.cos(angle))
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    if angle < np.pi / 2:  # rising to the right: lowest corner on the bottom edge, height * sin from the left
        return np.array([[x0 + height * sin, y0], [x1, y0 + width * sin], [x1 - height * sin, y1], [x0, y1 - width * sin]])
    return np.array([[x0, y0 + height * cos], [x1 - height * sin, y0], [x1, y1 - height * cos], [x0 + height * sin, y1]])


def _polygons_overlap(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Separating-axis test for two convex polygons, needing more than `tolerance` pixels of overlap."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for nx, ny in np.column_stack([-edges[:, 1], edges[:, 0]]):
            norm = np.hypot(nx, ny)
            if norm == 0:
                continue
            pa, pb = a @ (np.array([nx, ny]) / norm), b @ (np.array([nx, ny]) / norm)
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tolerance:
                return False
    return True


def save_figure(fig: Figure, stem: str | os.PathLike[str]) -> list[Path]:
    """Write `fig` to `{stem}.png` and `{stem}.pdf` atomically; return both paths.

    Layout problems (`layout_problems`) are logged as warnings naming the figure.
    """
    for problem in layout_problems(fig):
        log.warning("figure %s: layout: %s", Path(stem).name, problem)
    paths = []
    for fmt in FORMATS:
        dest = Path(f"{os.fspath(stem)}.{fmt}")
        # No creation date in the PDF: same data, same bytes.
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        with atomic_path(dest) as tmp:  # PNG is rendered by Agg whatever pyplot's backend
            fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
        paths.append(dest)
    return paths


def _colors(n: int) -> list[Any]:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _num(value: Any) -> float:
    return np.nan if value is None else float(value)


# ----------------------------------------------------------------------------- evaluation


def _matrix_panel(ax: Axes, matrix: np.ndarray, classes: Sequence[str], fmt: str, title: str, vmax: float) -> None:
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            value = matrix[i, j]
            ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=8,
                    color="white" if value > vmax / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=40, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_confusion(summary: Mapping[str, Any], stem: str | os.PathLike[str], title: str | None = None) -> list[Path]:
    """Confusion matrix as counts and as fractions of each true class, side by side.

    Takes a `summarize_experiment` summary (matrix summed over folds) or one
    `classification_metrics` dict (its own matrix).
    """
    if "confusion_summed" in summary:
        counts = np.asarray(summary["confusion_summed"])
    elif "confusion" in summary:
        counts = np.asarray(summary["confusion"])
    else:
        raise InputError("summary has no confusion matrix")
    classes = list(summary.get("classes", CLASSES))
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    ax_counts, ax_norm = fig.subplots(1, 2)
    seeds = int(summary.get("n_seeds", 1))
    n_text = f"n = {int(counts.sum())}" if seeds == 1 else f"n = {int(counts.sum()) // seeds} proteins x {seeds} seeds"
    _matrix_panel(ax_counts, counts, classes, "d", f"Counts ({n_text})", max(1, counts.max()))
    _matrix_panel(ax_norm, row_normalized(counts), classes, ".2f", "Fraction of true class (recall on diagonal)", 1.0)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem)


def _grouped_bars(
    ax: Axes, categories: Sequence[str], summaries: Mapping[str, Mapping[str, Any]], get: Any
) -> None:
    """Bars of mean ± std (sample std over folds) per category and experiment, pooled as a diamond."""
    names = list(summaries)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(categories))
    for i, (name, color) in enumerate(zip(names, _colors(len(names)), strict=True)):
        mean, std, pooled = (np.array([_num(get(summaries[name], c, part)) for c in categories])
                             for part in ("mean", "std", "pooled"))
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, mean, width, yerr=np.nan_to_num(std), capsize=3, color=color, label=name,
               error_kw={"elinewidth": 1})
        ax.scatter(pos, pooled, marker="D", s=14, color="black", zorder=3,
                   label="pooled" if i == 0 else None)
    ax.set_xticks(x, categories, rotation=20 if len(categories) > 3 else 0, ha="right" if len(categories) > 3 else "center")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(names) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(categories) > 3 else -0.08))


def _std_note(summaries: Mapping[str, Mapping[str, Any]], fig: Figure) -> str:
    """What bars, error bars and diamonds mean, wrapped to the figure's width (~12 characters an inch)."""
    import textwrap

    kinds = {s.get("std_kind") for s in summaries.values()} - {None}
    note = f"bars: mean over folds; error bars: {kinds.pop() if len(kinds) == 1 else 'std over folds'}; ◆ pooled"
    return textwrap.fill(note, width=int(fig.get_figwidth() * 12))


def plot_per_class_mcc(summaries: Mapping[str, Mapping[str, Any]], stem: str | os.PathLike[str]) -> list[Path]:
    """One-vs-rest MCC per class, one bar per experiment (mean ± std over folds, pooled marked)."""
    if not summaries:
        raise InputError("no experiment summaries to plot")
    classes = list(next(iter(summaries.values())).get("classes", CLASSES))

    def get(s: Mapping[str, Any], cls: str, part: str) -> Any:
        return s[part]["mcc_per_class"].get(cls)

    fig = Figure(figsize=(max(8, 1.4 * len(classes) + 0.5 * len(summaries)), 5), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, classes, summaries, get)
    ax.set_ylabel("MCC (one vs rest)")
    ax.set_title("Per-class MCC\n" + _std_note(summaries, fig), fontsize=10)
    return save_figure(fig, stem)


def plot_global_metrics(summaries: Mapping[str, Mapping[str, Any]], stem: str | os.PathLike[str]) -> list[Path]:
    """Accuracy, macro F1 and MCC per experiment (mean ± std over folds, pooled marked)."""
    if not summaries:
        raise InputError("no experiment summaries to plot")

    labels = [metric.label for metric in GLOBAL_METRICS.values()]
    by_label = dict(zip(labels, GLOBAL_METRICS, strict=True))

    def get(s: Mapping[str, Any], label: str, part: str) -> Any:
        return s[part][by_label[label]]

    fig = Figure(figsize=(max(6, 2 + 1.2 * len(summaries)), 4.5), layout="constrained")
    ax = fig.subplots()
    _grouped_bars(ax, labels, summaries, get)
    ax.set_ylim(min(0, ax.get_ylim()[0]), 1.0)
    ax.set_title("Global metrics\n" + _std_note(summaries, fig), fontsize=10)
    return save_figure(fig, stem)


def plot_comparison_ci(ci_table: pd.DataFrame, stem: str | os.PathLike[str]) -> list[Path]:
    """Forest plot of MCC differences (a − b) with their paired bootstrap confidence intervals.

    `ci_table` is `metrics.paired_comparison_table` output (columns a, b, diff, ci_low, ci_high).
    """
    missing = [c for c in ("a", "b", "diff", "ci_low", "ci_high") if c not in ci_table.columns]
    if missing:
        raise InputError(f"comparison table lacks column(s) {', '.join(missing)}")
    n = len(ci_table)
    fig = Figure(figsize=(8, 1.2 + 0.5 * max(n, 1)), layout="constrained")
    ax = fig.subplots()
    if n == 0:
        ax.text(0.5, 0.5, "no comparisons (a single model)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return save_figure(fig, stem)
    y = np.arange(n)[::-1]
    diff = ci_table["diff"].to_numpy(float)
    low, high = ci_table["ci_low"].to_numpy(float), ci_table["ci_high"].to_numpy(float)
    excludes_zero = (low > 0) | (high < 0)
    colors = np.where(excludes_zero, "tab:red", "tab:blue")
    for yi, d, lo, hi, c in zip(y, diff, low, high, colors, strict=True):
        ax.errorbar(d, yi, xerr=[[d - lo], [hi - d]], fmt="o", color=c, capsize=4)
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    labels = [f"{a} − {b}" for a, b in zip(ci_table["a"], ci_table["b"], strict=True)]
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, n - 0.3)
    for yi, d, lo, hi in zip(y, diff, low, high, strict=True):
        ax.annotate(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]", (1.01, yi), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8)
    extra = ""
    if "n_boot" in ci_table.columns and "n" in ci_table.columns:
        extra = f" ({int(ci_table['n_boot'].iloc[0])} resamples of {int(ci_table['n'].iloc[0])} proteins)"
    ax.set_xlabel("MCC difference")
    ax.set_title(f"Paired bootstrap 95% CI of MCC differences{extra}\nred: CI excludes 0", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------- training


def plot_reliability(bins: pd.DataFrame, stem: str | os.PathLike[str], title: str = "",
                     ece: Mapping[str, float] | None = None) -> list[Path]:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per kind of
    probabilities (`probabilities` column: uncalibrated, calibrated), the diagonal, and proteins per bin.

    `bins` is `calibration.reliability_bins` output with a `probabilities` column; empty bins are skipped.
    """
    needed = ["probabilities", "lower", "upper", "n", "confidence", "accuracy"]
    missing = [c for c in needed if c not in bins.columns]
    if missing:
        raise InputError(f"reliability table lacks column(s) {', '.join(missing)}")
    fig = Figure(figsize=(6.5, 7), layout="constrained")
    ax, ax_n = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    kinds = list(dict.fromkeys(bins["probabilities"]))
    width = float((bins["upper"] - bins["lower"]).iloc[0]) if len(bins) else 1.0
    for i, (kind, color) in enumerate(zip(kinds, _colors(len(kinds)), strict=True)):
        part = bins[(bins["probabilities"] == kind) & (bins["n"] > 0)]
        label = kind if not ece or kind not in ece else f"{kind} (ECE {ece[kind]:.3f})"
        ax.plot(part["confidence"], part["accuracy"], marker="o", color=color, label=label)
        offset = (i - (len(kinds) - 1) / 2) * width / max(len(kinds), 1)
        ax_n.bar((part["lower"] + part["upper"]) / 2 + offset, part["n"], width=width / max(len(kinds), 1),
                 color=color, alpha=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Accuracy (top class right)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax_n.set_xlabel("Mean confidence (top-class probability) per bin")
    ax_n.set_ylabel("Proteins")
    ax_n.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, stem)


def _as_bool(values: pd.Series) -> np.ndarray:
    """`best` column as bool, whether read from TSV as bool, int or text."""
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "yes")).to_numpy()


def plot_training_curves(
    histories: Mapping[int | str, pd.DataFrame], stem: str | os.PathLike[str], title: str = ""
) -> list[Path]:
    """Train and validation loss, and validation MCC, per training run; the selected (best) epoch starred.

    Keys name the runs: an int is a test fold ("fold k"), a string is shown as it is.
    """
    if not histories:
        raise InputError("no training histories to plot")
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_loss, ax_mcc = fig.subplots(1, 2)
    runs = sorted(histories, key=str)
    for run, color in zip(runs, _colors(len(runs)), strict=True):
        h = histories[run]
        name = f"fold {run}" if isinstance(run, int) else str(run)
        missing = [c for c in ("epoch", "train_loss", "val_loss", "val_mcc", "best") if c not in h.columns]
        if missing:
            raise InputError(f"history of {name} lacks column(s) {', '.join(missing)}")
        ax_loss.plot(h["epoch"], h["train_loss"], color=color, label=f"{name} train")
        ax_loss.plot(h["epoch"], h["val_loss"], color=color, linestyle="--", label=f"{name} val")
        ax_mcc.plot(h["epoch"], h["val_mcc"], color=color, label=name)
        best = np.flatnonzero(_as_bool(h["best"]))
        if best.size:  # the last epoch that was best so far is the one kept
            row = h.iloc[best[-1]]
            ax_mcc.plot(row["epoch"], row["val_mcc"], marker="*", markersize=13, color=color,
                        markeredgecolor="black", linestyle="none")
            ax_loss.plot(row["epoch"], row["val_loss"], marker="*", markersize=11, color=color,
                         markeredgecolor="black", linestyle="none")
    ax_loss.set_xlabel("Epoch")
    ax_loss.set_ylabel("Loss")
    ax_loss.set_title("Loss (solid: train, dashed: validation; ★ best epoch)", fontsize=10)
    ax_loss.legend(fontsize=7, ncols=2)
    ax_mcc.set_xlabel("Epoch")
    ax_mcc.set_ylabel("Validation MCC")
    ax_mcc.set_title("Validation MCC (★ best epoch)", fontsize=10)
    ax_mcc.legend(fontsize=8)
    for ax in (ax_loss, ax_mcc):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------- data


def plot_dataset_overview(
    dataset_df: pd.DataFrame,
    excluded_df: pd.DataFrame,
    stem: str | os.PathLike[str],
    min_length: int,
    max_length: int,
) -> list[Path]:
    """Kept proteins per class and organism group, and lengths of kept vs excluded with the thresholds."""
    for what, df, cols in (("dataset", dataset_df, ("label", "group", "length")),
                           ("excluded", excluded_df, ("length", "reason"))):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"{what} table lacks column(s) {', '.join(missing)}")
    counts = pd.crosstab(dataset_df["label"], dataset_df["group"])
    rows = [c for c in CLASSES if c in counts.index] + sorted(set(counts.index) - set(CLASSES))
    cols = [g for g in GROUPS if g in counts.columns] + sorted(set(counts.columns) - set(GROUPS))
    counts = counts.reindex(index=rows, columns=cols, fill_value=0)

    fig = Figure(figsize=(14, 5), layout="constrained")
    ax_heat, ax_len = fig.subplots(1, 2, width_ratios=[1, 1.3])
    matrix = counts.to_numpy()
    vmax = max(1, matrix.max())
    im = ax_heat.imshow(matrix, cmap="Greens", vmin=0, vmax=vmax, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax_heat.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=9,
                         color="white" if matrix[i, j] > vmax / 2 else "black")
    ax_heat.set_xticks(range(len(cols)), [f"{g}\n(n={counts[g].sum()})" for g in cols])
    ax_heat.set_yticks(range(len(rows)), [f"{r} (n={counts.loc[r].sum()})" for r in rows])
    ax_heat.set_title(f"Kept proteins per class and organism group (n = {len(dataset_df)})", fontsize=10)
    fig.colorbar(im, ax=ax_heat, fraction=0.046, pad=0.04)

    kept_len = dataset_df["length"].to_numpy(float)
    excl_len = excluded_df["length"].to_numpy(float)
    all_len = np.concatenate([kept_len, excl_len, [min_length - 0.5, max_length + 0.5]])
    reasons = reason_counts(excluded_df)  # by kind: a reason per record would make a legend wider than the figure
    excl_label = f"excluded (n={len(excluded_df)})" + "".join(f"\n  {kind}: {n}" for kind, n in reasons.items())
    ax_len.hist([kept_len, excl_len], bins=_length_bins(all_len.min(), all_len.max(), min_length, max_length),
                stacked=True, color=["tab:green", "tab:grey"], label=[f"kept (n={len(dataset_df)})", excl_label])
    ax_len.axvline(min_length, color="tab:red", linestyle=":", linewidth=1.2, label=f"min length {min_length}")
    ax_len.axvline(max_length, color="tab:red", linestyle="--", linewidth=1.2, label=f"max length {max_length}")
    ax_len.set_xscale("log")
    ax_len.set_xlabel("Sequence length (aa, log scale)")
    ax_len.set_ylabel("Proteins")
    ax_len.set_title("Length distribution", fontsize=10)
    ax_len.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside, never over bars
    return save_figure(fig, stem)


def _length_bins(lo: float, hi: float, min_length: int, max_length: int, n: int = 50) -> np.ndarray:
    """Log-spaced bins with the two thresholds as edges, so no bar mixes kept and too short/long."""
    lo, hi = max(0.5, lo * 0.95), hi * 1.05
    cuts = [lo, min_length - 0.5, max_length + 0.5, hi]
    total = np.log(hi / lo)
    edges = [
        np.geomspace(a, b, max(2, int(round(n * np.log(b / a) / total)) + 1))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
        if b > a
    ]
    return np.unique(np.concatenate(edges))


# ----------------------------------------------------------------------------- homology audit

SCHEME_NAMES = {"header": "GraphPart header", "stratified": "stratified random"}


def plot_homology_audit(table: pd.DataFrame, summary: pd.DataFrame, stem: str | os.PathLike[str],
                        scheme: str = "header") -> list[Path]:
    """Best training identity per test protein (histogram) and the fraction with a homolog per fold.

    Left: each test protein's best hit among its split's training folds, split by whether
    that hit covers at least `min_coverage` of the protein (only those can count as
    homologs); proteins without a hit sit at 0. Right: per test fold, the fraction with a
    homolog (identity and coverage at their thresholds), against training folds and against
    training + validation folds.
    """
    for what, df, cols in (("audit table", table, ("fold", "identity", "qcov", "best_train_id")),
                           ("audit summary", summary, ("fold", "fraction_train_hit", "fraction_seen_hit",
                                                       "min_identity", "min_coverage", "n_test", "n_train_hit"))):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"{what} lacks column(s) {', '.join(missing)}")
    per_fold = summary[summary["fold"].astype(str) != "all"]
    overall = summary[summary["fold"].astype(str) == "all"].iloc[0]
    min_identity, min_coverage = float(overall["min_identity"]), float(overall["min_coverage"])
    identity = table["identity"].to_numpy(float)
    covered = table["qcov"].to_numpy(float) >= min_coverage
    no_hit = (table["best_train_id"].astype(str) == "").to_numpy()

    fig = Figure(figsize=(13, 4.8), layout="constrained")
    ax_hist, ax_fold = fig.subplots(1, 2, width_ratios=[1.5, 1])
    bins = np.linspace(0, 1, 41)
    # Side by side, not stacked: stacked segments misread on a log scale.
    ax_hist.hist([identity[covered], identity[~covered & ~no_hit], identity[no_hit]], bins=bins,
                 color=["tab:red", "tab:orange", "tab:grey"],
                 label=[f"hit covers >= {100 * min_coverage:.0f} % of the test protein (n={int(covered.sum())})",
                        f"hit covers less (n={int((~covered & ~no_hit).sum())})",
                        f"no hit, shown at 0 (n={int(no_hit.sum())})"])
    ax_hist.axvline(min_identity, color="black", linestyle="--", linewidth=1.2,
                    label=f"{100 * min_identity:.0f} % identity")
    ax_hist.set_yscale("log")  # the no-hit bar would otherwise flatten the tail that matters
    ax_hist.set_xlabel("Identity of the best hit among the training folds (MMseqs2 fident)")
    ax_hist.set_ylabel("Test proteins (log scale)")
    ax_hist.set_xlim(0, 1)
    ax_hist.legend(fontsize=8, loc="upper right")
    ax_hist.set_title(f"{int(overall['n_train_hit'])} of {int(overall['n_test'])} test proteins "
                      f"({100 * float(overall['fraction_train_hit']):.1f} %) have a training hit >= "
                      f"{100 * min_identity:.0f} % identity over >= {100 * min_coverage:.0f} % coverage", fontsize=10)

    x = np.arange(len(per_fold))
    ax_fold.bar(x - 0.2, per_fold["fraction_train_hit"].to_numpy(float), width=0.4, color="tab:red",
                label="vs training folds")
    ax_fold.bar(x + 0.2, per_fold["fraction_seen_hit"].to_numpy(float), width=0.4, color="tab:purple",
                label="vs training + validation folds")
    ax_fold.set_xticks(x, [f"fold {f}\n(n={n})" for f, n in zip(per_fold["fold"], per_fold["n_test"], strict=True)])
    ax_fold.set_ylabel("Fraction of test proteins with a homolog")
    ax_fold.set_ylim(0, 1)
    ax_fold.legend(fontsize=8, loc="upper right")
    ax_fold.set_title(f"Per test fold ({SCHEME_NAMES.get(scheme, scheme)} folds)", fontsize=10)
    return save_figure(fig, stem)


def plot_extra_learning_curve(table: pd.DataFrame, stem: str | os.PathLike[str]) -> list[Path]:
    """Pooled test MCC against training proteins per model (dataset + extra), one line per curve.

    A curve is named after its first experiment (same model and settings but for
    `extra_training_size`). Error bars: the sample sd of the pooled MCC over seeds where there are
    several, else over test folds (the per-fold spread), as the title says; each point is labelled
    with its `extra_training_size`.
    """
    missing = [c for c in ("experiment", "curve", "extra_training_size", "n_train", "pooled_mcc") if c not in table]
    if missing:
        raise InputError(f"learning-curve table lacks column(s) {', '.join(missing)}")
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    curves = list(dict.fromkeys(table["curve"]))
    spread = "seeds" if "n_seeds" in table and (table["n_seeds"] > 1).all() else "test folds"
    column = "pooled_mcc_seed_sd" if spread == "seeds" else "fold_mcc_sd"
    for color, curve in zip(_colors(len(curves)), curves):
        part = table[table["curve"] == curve].sort_values("n_train")
        errors = part[column].map(_num).to_numpy() if column in part else None
        ax.errorbar(part["n_train"], part["pooled_mcc"].map(_num), yerr=errors, color=color, marker="o",
                    capsize=3, label=curve)
        for x, y, size in zip(part["n_train"], part["pooled_mcc"].map(_num), part["extra_training_size"]):
            ax.annotate(f"+{size}", (x, y), textcoords="offset points", xytext=(4, -12), fontsize=8, color=color)
    ax.set_xlabel("Training proteins per model (training folds + extra proteins, mean over splits)")
    ax.set_ylabel("Pooled test MCC")
    ax.set_title(f"Learning curve with extra training proteins (error bars: sd over {spread})")
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, stem)
