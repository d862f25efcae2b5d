"""Training one fold with the study's protocol, checkpointed every epoch.

Protocol (study defaults, all configurable): for test fold k the validation
fold is (k+1) mod n and the rest train; AdamW, CosineAnnealingWarmRestarts
stepped per epoch, class-weighted cross-entropy (w_c = N / (C N_c)) or focal
loss, gradient clipping, early stopping on validation MCC with patience, best
epoch kept. Each epoch ends with an atomic checkpoint holding everything needed
to continue (weights, optimizer, scheduler, CPU and CUDA RNG states, the fp16
gradient scaler, history); batch order is derived from (seed, epoch), so on the
CPU a run killed and resumed gives the same final model, bit for bit, as an
uninterrupted one (on a GPU, the same up to the GPU's rounding; see README).
Training runs on `training.device`, the CPU or a CUDA GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__
from .batching import make_batches, pad_batch
from .classes import CLASS_INDEX, CLASSES, GROUP_INDEX, GROUPS, N_CLASSES
from .config import schema_default
from .device import TORCH_DTYPES, resolve_device, resolve_training_precision
from .errors import InputError, listed
from .io import atomic_path, write_json, write_tsv
from .metrics import GLOBAL_METRICS, classification_metrics
from .models import build_model
from .sequence import terminal_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSettings:
    """The `training:` section of the config (defaults: the schema's, i.e. the study's)."""

    epochs: int = field(default_factory=schema_default("training", "epochs"))
    patience: int = field(default_factory=schema_default("training", "patience"))
    batch_size: int = field(default_factory=schema_default("training", "batch_size"))
    lr: float = field(default_factory=schema_default("training", "lr"))
    weight_decay: float = field(default_factory=schema_default("training", "weight_decay"))
    t0: int = field(default_factory=schema_default("training", "t0"))
    t_mult: int = field(default_factory=schema_default("training", "t_mult"))
    grad_clip: float = field(default_factory=schema_default("training", "grad_clip"))
    loss: str = field(default_factory=schema_default("training", "loss"))
    focal_gamma: float = field(default_factory=schema_default("training", "focal_gamma"))
    class_weights: bool = field(default_factory=schema_default("training", "class_weights"))
    precision: str = field(default_factory=schema_default("training", "precision"))
    bucketed_batches: bool = field(default_factory=schema_default("training", "bucketed_batches"))
    train_max_length: int | None = field(default_factory=schema_default("training", "train_max_length"))
    seed: int = field(default_factory=schema_default("training", "seeds", 0))  # one run's; config `seeds` lists all
    device: str = field(default_factory=schema_default("training", "device"))  # where it runs: not in a run's identity

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TrainingSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in section.items() if k in known})


@dataclass(frozen=True)
class ExperimentSpec:
    """What is trained: a model kind, its hyperparameters and its input embedders."""

    name: str
    model: str
    embedders: tuple[str, ...]
    params: dict[str, Any]
    use_group: bool = False

    @classmethod
    def from_config(cls, name: str, section: Mapping[str, Any]) -> ExperimentSpec:
        return cls(
            name=name,
            model=section["model"],
            embedders=tuple(section["embedders"]),
            params=dict(section.get("params") or {}),
            use_group=bool(section.get("use_group", False)),
        )


def fold_split(test_fold: int, n_folds: int = 5, val_fold: int | None = None) -> tuple[list[int], int]:
    """(training folds, validation fold) for a test fold: validation is `val_fold`, by default (k+1) mod n.

    The other folds train. `cv.validation_folds` says which validation folds a scheme uses.
    """
    if not 0 <= test_fold < n_folds:
        raise InputError(f"test fold {test_fold} outside 0-{n_folds - 1}")
    val = (test_fold + 1) % n_folds if val_fold is None else val_fold
    if val == test_fold or not 0 <= val < n_folds:
        raise InputError(f"validation fold {val} must be another fold than test fold {test_fold} (0-{n_folds - 1})")
    return [f for f in range(n_folds) if f not in (test_fold, val)], val


class ProteinSet:
    """Proteins with their per-embedder float16 features: preloaded arrays or memory-mapped views
    (`store.PackedEmbeddings`), wrapped as tensors without a copy; batches are padded from them."""

    def __init__(self, table: pd.DataFrame, embeddings: Sequence[Mapping[str, np.ndarray]], embedder_names: Sequence[str]):
        self.ids: list[str] = table["id"].tolist()
        self.table = table.reset_index(drop=True)
        self.labels = torch.tensor([CLASS_INDEX[c] for c in table["label"]], dtype=torch.long)
        # -1: an extra training protein whose organism group is not known (locfusion.extra); only models
        # without the group input train on those, so -1 never reaches an embedding lookup.
        self.groups = torch.tensor([GROUP_INDEX.get(g, -1) for g in table["group"]], dtype=torch.long)
        self.features: list[list[torch.Tensor]] = []
        for name, store in zip(embedder_names, embeddings):
            missing = [pid for pid in self.ids if pid not in store]
            if missing:
                raise InputError(f"embedder '{name}': no embedding for {len(missing)} protein(s), e.g. '{missing[0]}'")
            self.features.append([torch.from_numpy(np.asarray(store[pid], dtype=np.float16)) for pid in self.ids])
        lengths = [f.shape[0] for f in self.features[0]]
        for name, feats in zip(embedder_names[1:], self.features[1:]):
            for pid, a, f in zip(self.ids, lengths, feats):
                if f.shape[0] != a:
                    raise InputError(
                        f"protein '{pid}': embedder '{name}' has {f.shape[0]} residues but "
                        f"'{embedder_names[0]}' has {a}; fused embedders must crop alike"
                    )
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.dims = [feats[0].shape[1] for feats in self.features]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices: np.ndarray, max_length: int | None = None,
              ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(padded inputs per embedder, lengths, labels, groups) for the given indices; with
        `max_length`, longer proteins give only their N- and C-terminal windows' rows
        (`cropped_lengths` are the lengths such batches have)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if max_length is None:
            inputs = [pad_batch([feats[i] for i in indices]) for feats in self.features]
        else:
            inputs = [pad_batch([crop_rows(feats[i], max_length) for i in indices]) for feats in self.features]
        lengths = self.lengths[indices] if max_length is None else np.minimum(self.lengths[indices], max_length)
        return inputs, torch.as_tensor(lengths), self.labels[idx], self.groups[idx]

    def cropped_lengths(self, max_length: int | None) -> np.ndarray:
        """Every protein's length as `batch(..., max_length)` gives it (for bucketing)."""
        return self.lengths if max_length is None else np.minimum(self.lengths, max_length)


def crop_rows(rows: torch.Tensor, max_length: int) -> torch.Tensor:
    """A protein's per-residue rows cut to its N- and C-terminal windows (`sequence.terminal_windows`);
    a protein of at most `max_length` residues is returned as it is (no copy)."""
    if rows.shape[0] <= max_length:
        return rows
    n_head, n_tail = terminal_windows(max_length)
    return torch.cat([rows[:n_head], rows[rows.shape[0] - n_tail :]])


def class_weight_vector(labels: torch.Tensor, n_classes: int = N_CLASSES) -> torch.Tensor:
    """w_c = N / (C * N_c) over the training labels; 0 for a class absent from training."""
    counts = torch.bincount(labels, minlength=n_classes).double()
    weights = torch.where(counts > 0, labels.numel() / (n_classes * counts.clamp(min=1)), torch.zeros_like(counts))
    return weights.float()


class FocalLoss(nn.Module):
    """Focal loss (Lin et al.) with optional class weights: down-weights easy examples."""

    def __init__(self, gamma: float, weight: torch.Tensor | None = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else torch.ones(N_CLASSES))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits.float(), dim=-1).gather(1, target[:, None]).squeeze(1)
        w = self.weight[target]
        loss = -w * (1 - logp.exp()) ** self.gamma * logp
        return loss.sum() / w.sum().clamp(min=1e-12)


def make_loss(settings: TrainingSettings, train_labels: torch.Tensor) -> nn.Module:
    weight = class_weight_vector(train_labels) if settings.class_weights else None
    if settings.loss == "focal":
        return FocalLoss(settings.focal_gamma, weight)
    return nn.CrossEntropyLoss(weight=weight)


def autocast(precision: str, device: torch.device | str = "cpu") -> torch.autocast:
    """Mixed precision for bf16 and fp16 (weights stay fp32); fp32 runs as is."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=TORCH_DTYPES.get(precision, torch.float32),
                          enabled=precision in ("bf16", "fp16"))


def to_device(batch: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None, torch.Tensor | None],
              device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """A batch moved to `device`: inputs, labels and groups through pinned memory; lengths stay on the CPU.

    Only one batch at a time is on the GPU: the data set stays in host memory.
    """
    if device.type == "cpu":
        return batch
    inputs, lengths, labels, groups = batch

    def move(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.pin_memory().to(device, non_blocking=True)

    return [move(x) for x in inputs], lengths, move(labels), move(groups)  # type: ignore[misc]


@torch.no_grad()
def _batch_logits(model: nn.Module, data: ProteinSet, batch_size: int, precision: str, use_group: bool,
                  device: torch.device) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """(indices, float32 logits on `device`) per length-sorted batch of `data`."""
    model.eval()
    for indices in make_batches(data.lengths, batch_size):
        inputs, lengths, _, groups = to_device(data.batch(indices), device)
        with autocast(precision, device):
            logits = model(inputs, lengths, groups if use_group else None)
        yield indices, logits.float()


@torch.no_grad()
def predict_proba(model: nn.Module, data: ProteinSet, batch_size: int, precision: str, use_group: bool,
                  device: torch.device | str = "cpu", temperature: float = 1.0) -> np.ndarray:
    """Class probabilities (N x C) in the order of `data`, batched by length, on `device` (the model's).

    `temperature`: the logits are divided by it before the softmax (`locfusion.calibration`);
    dividing by 1.0 is exact, so uncalibrated probabilities are bit for bit what they were.
    """
    device = torch.device(device)
    out = np.zeros((len(data), N_CLASSES), dtype=np.float64)
    for indices, logits in _batch_logits(model, data, batch_size, precision, use_group, device):
        out[indices] = torch.softmax(logits / temperature, dim=-1).double().cpu().numpy()
    return out


@torch.no_grad()
def predict_logits(model: nn.Module, data: ProteinSet, batch_size: int, precision: str, use_group: bool,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Logits (N x C, float64 copies of the float32 outputs) in the order of `data`: what a
    temperature is fitted on (`predict_proba` is their softmax)."""
    device = torch.device(device)
    out = np.zeros((len(data), N_CLASSES), dtype=np.float64)
    for indices, logits in _batch_logits(model, data, batch_size, precision, use_group, device):
        out[indices] = logits.double().cpu().numpy()
    return out


def _evaluate(model: nn.Module, data: ProteinSet, loss_fn: nn.Module, settings: TrainingSettings, precision: str,
              use_group: bool, device: torch.device) -> dict[str, float]:
    proba = predict_proba(model, data, settings.batch_size, precision, use_group, device)
    logp = torch.log(torch.from_numpy(proba).clamp(min=1e-12)).float()
    weight = getattr(loss_fn, "weight", None)
    loss = float(nn.functional.nll_loss(logp, data.labels, weight=None if weight is None else weight.cpu()))
    metrics = classification_metrics([CLASSES[i] for i in data.labels.tolist()], [CLASSES[i] for i in proba.argmax(1)])
    return {"val_loss": loss, **{f"val_{name}": metrics[name] for name in GLOBAL_METRICS}}


def fingerprint(*parts: Any) -> str:
    """Stable hash of what a checkpoint depends on: resume only into the same run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class FoldResult:
    best_epoch: int
    best_val_mcc: float
    epochs_run: int
    resumed_from: int
    device: str = "cpu"  # where it trained
    precision: str = "fp32"  # the precision it trained at (`auto` resolved)


def train_fold(
    experiment: ExperimentSpec,
    settings: TrainingSettings,
    train: ProteinSet,
    val: ProteinSet,
    checkpoint_path: str | Path,
    threads: int = 1,
    data_fingerprint: str = "",
) -> tuple[nn.Module, list[dict[str, Any]], FoldResult]:
    """Train with early stopping; resume from `checkpoint_path` when it matches this run.

    On a CUDA device the model lives on the GPU in fp32 (master weights) and each
    batch is moved there through pinned memory; bf16 autocasts, fp16 autocasts with
    a gradient scaler. The model is returned on that device.
    """
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(resolve_device(settings.device))
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (read when it starts)
        if device.index is not None:
            torch.cuda.set_device(device)  # pinned memory and kernels on this GPU, not GPU 0
    precision = resolve_training_precision(settings.precision, str(device))
    torch.manual_seed(settings.seed)  # also seeds every CUDA device
    n_groups = len(GROUPS) if experiment.use_group else 0
    model = build_model(experiment.model, train.dims, experiment.params, n_classes=N_CLASSES, n_groups=n_groups)
    fit_inputs = getattr(model, "fit_input_statistics", None)
    if fit_inputs is not None:  # training residues only; a resumed run loads the same values with the weights
        fit_inputs(train.features)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=settings.t0, T_mult=settings.t_mult)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    loss_fn = make_loss(settings, train.labels).to(device)
    # A run resumes on another device, but not at another precision (`auto` may resolve differently there).
    # An optional setting left off (null) is no part of it, so adding one keeps earlier checkpoints valid.
    identity = {k: v for k, v in asdict(settings).items() if k != "device" and v is not None} | {"precision": precision}
    run_id = fingerprint(identity, asdict(experiment), data_fingerprint, train.dims)

    history: list[dict[str, Any]] = []
    best = {"mcc": -np.inf, "epoch": 0, "state": None, "stale": 0}
    start_epoch = 1
    checkpoint_path = Path(checkpoint_path)
    state = _load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None
    if state is not None:
        if state.get("run_id") == run_id:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            history = state["history"]
            best = {"mcc": state["best_mcc"], "epoch": state["best_epoch"], "state": state["best_state"], "stale": state["stale"]}
            start_epoch = state["epoch"] + 1
            log.info("resuming from checkpoint after epoch %d", state["epoch"])
        else:
            log.warning("ignoring checkpoint %s: it belongs to another configuration or dataset", checkpoint_path)
    resumed_from = start_epoch - 1

    for epoch in range(start_epoch, settings.epochs + 1):
        if best["stale"] >= settings.patience:
            break
        t0 = time.perf_counter()
        model.train()
        rng = np.random.default_rng([settings.seed, epoch])
        total, count = 0.0, 0
        crop = settings.train_max_length
        for indices in make_batches(train.cropped_lengths(crop), settings.batch_size, rng, settings.bucketed_batches):
            inputs, lengths, labels, groups = to_device(train.batch(indices, crop), device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(precision, device):
                logits = model(inputs, lengths, groups if experiment.use_group else None)
            loss = loss_fn(logits.float(), labels)
            if not torch.isfinite(loss):
                raise InputError(_non_finite_loss_message(epoch, float(loss.detach()), train, indices))
            if scaler is None:
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
            else:  # fp16: scale the loss so small gradients survive, unscale before clipping
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                scaler.step(optimizer)
                scaler.update()
            total += float(loss.detach()) * len(indices)
            count += len(indices)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        row = {"epoch": epoch, "train_loss": total / max(count, 1)}
        row.update(_evaluate(model, val, loss_fn, settings, precision, experiment.use_group, device))
        improved = row["val_mcc"] > best["mcc"]
        if improved:
            best = {"mcc": row["val_mcc"], "epoch": epoch, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "stale": 0}
        else:
            best["stale"] += 1
        row.update(lr=lr, seconds=round(time.perf_counter() - t0, 3), best=improved)
        history.append(row)
        log.info(
            "epoch %d/%d train_loss %.4f val_loss %.4f val_mcc %.4f%s (%.1f s)",
            epoch, settings.epochs, row["train_loss"], row["val_loss"], row["val_mcc"], " *" if improved else "", row["seconds"],
        )
        _save_checkpoint(checkpoint_path, run_id, epoch, model, optimizer, scheduler, history, best, scaler)

    if best["state"] is None:
        raise RuntimeError("no epoch was trained")
    model.load_state_dict(best["state"])
    result = FoldResult(best_epoch=best["epoch"], best_val_mcc=float(best["mcc"]), epochs_run=len(history),
                        resumed_from=resumed_from, device=str(device), precision=precision)
    return model, history, result


def _non_finite_loss_message(epoch: int, value: float, data: ProteinSet, indices: Sequence[int]) -> str:
    """One line for a NaN/inf training loss, naming the proteins whose inputs are non-finite if any.

    Stopping here, not at the end, matters: a NaN loss makes every later weight
    NaN, validation MCC stays 0, and epoch 1 would be kept as "best" silently.
    """
    bad = [data.ids[i] for i in indices if not all(bool(torch.isfinite(f[i]).all()) for f in data.features)]
    if bad:
        return f"epoch {epoch}: training loss is {value}: non-finite input embeddings for {listed(bad)}"
    return (
        f"epoch {epoch}: training loss is {value} on a batch of {len(indices)} protein(s) with finite inputs "
        f"({listed([data.ids[i] for i in indices])}): the learning rate diverges; lower training.lr"
    )


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None (with a warning) when it cannot be read.

    Checkpoints are renamed into place only once fully written, so a damaged one
    comes from outside (a full or failing disk, a copy cut short): training afresh
    is always correct, whereas failing on it would fail every rerun of the fold.
    """
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")  # loaded onto the model's device later
    except Exception as exc:  # torch raises several types for a damaged file
        reason = next(iter(str(exc).splitlines()), "")
        log.warning("ignoring unreadable checkpoint %s (%s: %s); training from epoch 1", path, type(exc).__name__, reason)
        return None
    if not isinstance(state, dict):
        log.warning("ignoring checkpoint %s: not a locfusion checkpoint; training from epoch 1", path)
        return None
    return state


def _save_checkpoint(path: Path, run_id: str, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, history: list[dict[str, Any]], best: dict[str, Any],
                     scaler: torch.amp.GradScaler | None = None) -> None:
    cuda = next(model.parameters()).is_cuda
    state = {
        "run_id": run_id,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
        "best_mcc": float(best["mcc"]),
        "best_epoch": int(best["epoch"]),
        "best_state": best["state"],
        "stale": int(best["stale"]),
        "cuda_rng": torch.cuda.get_rng_state(next(model.parameters()).device) if cuda else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def predictions_frame(data: ProteinSet, proba: np.ndarray) -> pd.DataFrame:
    """The `test_predictions.tsv` table: id, fold, group, true, predicted, one column per class."""
    frame = pd.DataFrame({
        "id": data.ids,
        "fold": data.table["fold"].astype(int).to_numpy(),
        "group": data.table["group"].to_numpy(),
        "true": data.table["label"].to_numpy(),
        "predicted": [CLASSES[i] for i in proba.argmax(1)],
    })
    for j, name in enumerate(CLASSES):
        frame[name] = proba[:, j]
    return frame


def model_manifest(experiment: ExperimentSpec, dims: Sequence[int], result: FoldResult, test_fold: int, n_folds: int,
                   settings: TrainingSettings, val_fold: int | None = None, grid: int = 0) -> dict[str, Any]:
    """Self-description stored beside the weights: enough to rebuild the model without code pickles."""
    train_folds, val_fold = fold_split(test_fold, n_folds, val_fold)
    return {
        "experiment": experiment.name,
        "model": experiment.model,
        "params": experiment.params,
        "embedders": list(experiment.embedders),
        "input_dims": list(dims),
        "use_group": experiment.use_group,
        "classes": list(CLASSES),
        "groups": list(GROUPS),
        "test_fold": test_fold,
        "val_fold": val_fold,
        "train_folds": train_folds,
        "seed": settings.seed,
        "grid": grid,
        "best_epoch": result.best_epoch,
        "best_val_mcc": result.best_val_mcc,
        "epochs_run": result.epochs_run,
        "training": asdict(settings),
        "trained_on": {"device": result.device, "precision": result.precision},  # `auto` as it resolved
        "locfusion_version": __version__,
    }


def save_fold_outputs(out: Mapping[str, str | Path], model: nn.Module, manifest: dict[str, Any], history: list[dict[str, Any]], predictions: pd.DataFrame) -> None:
    """Write weights (safetensors), manifest, history and test predictions atomically."""
    from safetensors.torch import save_file

    with atomic_path(out["weights"]) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"manifest": json.dumps(manifest)})
    write_json(manifest, out["manifest"])
    write_tsv(pd.DataFrame(history), out["history"])
    write_tsv(predictions, out["predictions"], float_format="%.6g")


def load_fold_model(weights: str | Path, manifest: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained fold model from safetensors (no pickle: safe to load from anywhere)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if manifest is None:
        with safe_open(str(weights), framework="pt") as handle:
            manifest = json.loads(handle.metadata()["manifest"])
    n_groups = len(manifest["groups"]) if manifest["use_group"] else 0
    model = build_model(manifest["model"], manifest["input_dims"], manifest["params"], n_classes=len(manifest["classes"]), n_groups=n_groups)
    model.load_state_dict(load_file(str(weights)))
    model.eval()
    return model, dict(manifest)
