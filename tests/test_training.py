"""Training protocol: fold split, class weights, bucketing, learning, resume after interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from locfusion import training
from locfusion.batching import make_batches, pad_batch, padding_fraction
from locfusion.classes import CLASSES
from locfusion.errors import InputError
from locfusion.training import (
    ExperimentSpec,
    ProteinSet,
    TrainingSettings,
    class_weight_vector,
    crop_rows,
    fold_split,
    predict_proba,
    train_fold,
)


def test_fold_split_is_the_study_protocol() -> None:
    assert fold_split(0) == ([2, 3, 4], 1)
    assert fold_split(4) == ([1, 2, 3], 0)
    for k in range(5):
        train, val = fold_split(k)
        assert sorted(train + [val, k]) == [0, 1, 2, 3, 4]


def test_class_weights_inverse_frequency() -> None:
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weight_vector(labels, n_classes=4)
    assert torch.allclose(w, torch.tensor([10 / (4 * 6), 10 / (4 * 3), 10 / 4, 0.0]))


def test_bucketed_batches_cover_all_and_pad_less() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(40, 1000, size=2000)
    bucketed = make_batches(lengths, 32, np.random.default_rng(1), bucketed=True)
    shuffled = make_batches(lengths, 32, np.random.default_rng(1), bucketed=False)
    for batches in (bucketed, shuffled):
        assert sorted(np.concatenate(batches).tolist()) == list(range(2000))
    assert padding_fraction(lengths, bucketed) < 0.1 < padding_fraction(lengths, shuffled)
    again = make_batches(lengths, 32, np.random.default_rng(1), bucketed=True)
    assert all((a == b).all() for a, b in zip(bucketed, again))


def test_pad_batch_converts_each_protein_and_zeroes_only_the_padding(monkeypatch: pytest.MonkeyPatch) -> None:
    import locfusion.batching

    gen = torch.Generator().manual_seed(0)
    rows = [torch.randn(n, 5, generator=gen).half() for n in (3, 7, 1)]
    # Uninitialized memory made visible: every cell pad_batch does not write stays NaN.
    monkeypatch.setattr(locfusion.batching.torch, "empty",
                        lambda *a, **k: torch.full(*a, float("nan"), **k))
    batch = pad_batch(rows)
    expected = torch.nn.utils.rnn.pad_sequence([r.float() for r in rows], batch_first=True)
    assert batch.dtype == torch.float32 and batch.shape == (3, 7, 5)
    assert torch.equal(batch, expected)
    assert pad_batch(rows, dtype=torch.float16).dtype == torch.float16
    with pytest.raises(ValueError, match="protein 1 has rows of shape \\(1,\\), protein 0 \\(5,\\)"):
        pad_batch([torch.zeros(2, 5), torch.zeros(2, 1)])


def toy_sets(n: int = 120, dims: tuple[int, ...] = (6, 4), seed: int = 0) -> tuple[ProteinSet, ProteinSet]:
    """Proteins whose class is written in the first residues' features: learnable."""
    rng = np.random.default_rng(seed)
    rows, stores = [], [dict() for _ in dims]
    for i in range(n):
        label = i % 3
        length = int(rng.integers(8, 30))
        pid = f"T{i}"
        rows.append({"id": pid, "label": CLASSES[label], "group": "negative", "fold": i % 5, "length": length})
        for store, dim in zip(stores, dims):
            x = rng.normal(size=(length, dim)).astype(np.float16)
            x[:5, label % dim] += 5.0
            store[pid] = x
    table = pd.DataFrame(rows)
    names = [f"e{j}" for j in range(len(dims))]
    train = ProteinSet(table[table.fold != 0], stores, names)
    val = ProteinSet(table[table.fold == 0], stores, names)
    return train, val


SPEC = ExperimentSpec("toy", "fusion", ("e0", "e1"), {"hidden_dim": 16, "attention_heads": 2, "lstm_hidden": 8,
                                                      "pool_heads": 2, "classifier_hidden": 8, "dropout": 0.1})


def test_training_learns_and_keeps_best_epoch(tmp_path: Path) -> None:
    train, val = toy_sets()
    # Seed 3: with seeds 1-5 this tiny model reaches validation MCC 1.0 within 15 epochs in four
    # runs of five; seed 1 sits on a two-of-three-classes plateau (MCC 0.61) for all 15.
    settings = TrainingSettings(epochs=15, patience=15, batch_size=16, lr=5e-3, seed=3)
    model, history, result = train_fold(SPEC, settings, train, val, tmp_path / "ckpt.pt")
    assert len(history) == result.epochs_run == 15
    assert result.best_val_mcc == max(h["val_mcc"] for h in history) > 0.8
    proba = predict_proba(model, val, 8, "fp32", use_group=False)
    assert np.allclose(proba.sum(1), 1.0)
    assert history[0]["lr"] == pytest.approx(5e-3)


def test_early_stopping_respects_patience(tmp_path: Path) -> None:
    train, val = toy_sets()
    settings = TrainingSettings(epochs=40, patience=2, batch_size=16, lr=1e-9, seed=1)
    _, history, result = train_fold(SPEC, settings, train, val, tmp_path / "ckpt.pt")
    assert result.epochs_run < 40
    assert result.epochs_run - result.best_epoch == 2


def killed_after_epoch(epoch: int, settings: TrainingSettings, train: ProteinSet, val: ProteinSet, checkpoint: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Train until the checkpoint of `epoch` is written, then die as a killed job would."""
    real_save = training._save_checkpoint

    def save_then_die(path, run_id, saved_epoch, *args):  # type: ignore[no-untyped-def]
        real_save(path, run_id, saved_epoch, *args)
        if saved_epoch == epoch:
            raise KeyboardInterrupt(f"simulated kill after epoch {epoch}")

    with monkeypatch.context() as patch:
        patch.setattr(training, "_save_checkpoint", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            train_fold(SPEC, settings, train, val, checkpoint)


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, val = toy_sets()
    settings = TrainingSettings(epochs=6, patience=6, batch_size=16, lr=3e-3, seed=3)
    reference, ref_history, _ = train_fold(SPEC, settings, train, val, tmp_path / "a.pt")

    killed_after_epoch(3, settings, train, val, tmp_path / "b.pt", monkeypatch)
    resumed, history, result = train_fold(SPEC, settings, train, val, tmp_path / "b.pt")
    assert result.resumed_from == 3
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(history) == drop(ref_history)


def test_a_training_crop_keeps_each_long_proteins_terminal_rows() -> None:
    rows = torch.arange(10 * 3, dtype=torch.float16).reshape(10, 3)
    assert torch.equal(crop_rows(rows, 5), torch.cat([rows[:3], rows[8:]]))  # 3 N-terminal + 2 C-terminal
    assert crop_rows(rows, 10) is rows
    train, _ = toy_sets()
    longest = int(train.lengths.argmax())
    n = int(train.lengths[longest])
    inputs, lengths, _, _ = train.batch(np.array([longest, int(train.lengths.argmin())]), max_length=n - 3)
    assert lengths.tolist() == [n - 3, int(train.lengths.min())]
    assert inputs[0].shape[1] == n - 3
    whole = train.features[0][longest].float()
    assert torch.equal(inputs[0][0], torch.cat([whole[: n - 3 - (n - 3) // 2], whole[n - (n - 3) // 2 :]]))
    assert np.array_equal(train.cropped_lengths(n - 3), np.minimum(train.lengths, n - 3))


def test_a_training_crop_changes_training_only_where_it_cuts(tmp_path: Path) -> None:
    """A crop no protein exceeds trains the same bits as none; a shorter one trains another model
    (another run: the uncropped run's checkpoint is not resumed). Validation reads whole proteins."""
    train, val = toy_sets()
    base = TrainingSettings(epochs=2, patience=2, batch_size=16, seed=1)
    longest = int(train.lengths.max())
    reference, history, _ = train_fold(SPEC, base, train, val, tmp_path / "a.pt")
    same, _, _ = train_fold(SPEC, TrainingSettings(**{**base.__dict__, "train_max_length": longest}), train, val,
                            tmp_path / "b.pt")
    for key, value in reference.state_dict().items():
        assert torch.equal(value, same.state_dict()[key]), key
    cropped, _, result = train_fold(SPEC, TrainingSettings(**{**base.__dict__, "train_max_length": 10}), train, val,
                                    tmp_path / "a.pt")
    assert result.resumed_from == 0
    assert any(not torch.equal(v, cropped.state_dict()[k]) for k, v in reference.state_dict().items())


def test_checkpoint_of_another_run_is_ignored(tmp_path: Path) -> None:
    train, val = toy_sets()
    ckpt = tmp_path / "c.pt"
    train_fold(SPEC, TrainingSettings(epochs=2, patience=2, batch_size=16, seed=1), train, val, ckpt)
    _, _, result = train_fold(SPEC, TrainingSettings(epochs=2, patience=2, batch_size=16, seed=2), train, val, ckpt)
    assert result.resumed_from == 0


def test_mismatched_embedding_lengths_are_refused() -> None:
    table = pd.DataFrame([{"id": "A", "label": "Cytoplasmic", "group": "negative", "fold": 0, "length": 5}])
    stores = [{"A": np.zeros((5, 2), np.float16)}, {"A": np.zeros((4, 2), np.float16)}]
    with pytest.raises(ValueError, match="'A'.*4 residues"):
        ProteinSet(table, stores, ["x", "y"])


def test_a_non_finite_loss_stops_training_naming_the_batch(tmp_path: Path) -> None:
    """One NaN embedding would otherwise make every weight NaN and keep epoch 1 as "best" silently."""
    train, val = toy_sets()
    train.features[0][train.ids.index("T7")][2, 1] = float("nan")
    settings = TrainingSettings(epochs=3, patience=3, batch_size=16, seed=1)
    with pytest.raises(InputError, match=r"^epoch 1: training loss is nan: non-finite input embeddings for T7$"):
        train_fold(SPEC, settings, train, val, tmp_path / "ckpt.pt")
    assert not (tmp_path / "ckpt.pt").exists()


def test_a_diverging_learning_rate_is_named_as_the_cause(tmp_path: Path) -> None:
    train, val = toy_sets()
    settings = TrainingSettings(epochs=3, patience=3, batch_size=16, lr=1e30, seed=1)  # Adam steps ~lr: overflow
    with pytest.raises(InputError, match=r"^epoch 1: training loss is (nan|inf) on a batch .* lower training.lr$"):
        train_fold(SPEC, settings, train, val, tmp_path / "ckpt.pt")


def test_device_auto_is_the_cpu_here_and_cuda_without_a_gpu_is_one_line(tmp_path: Path) -> None:
    train, val = toy_sets()
    settings = TrainingSettings(epochs=2, patience=2, batch_size=16, seed=3)
    assert settings.device == "auto"
    auto, _, _ = train_fold(SPEC, settings, train, val, tmp_path / "a.pt")
    cpu, _, _ = train_fold(SPEC, TrainingSettings(**{**vars(settings), "device": "cpu"}), train, val, tmp_path / "b.pt")
    if not torch.cuda.is_available():
        for key, value in auto.state_dict().items():
            assert torch.equal(value, cpu.state_dict()[key]), key
        with pytest.raises(InputError, match=r"^device 'cuda:1' requested but no CUDA GPU is visible"):
            train_fold(SPEC, TrainingSettings(**{**vars(settings), "device": "cuda:1"}), train, val, tmp_path / "c.pt")
    # The device is where a run happens, not what it is: a checkpoint resumes on another device.
    _, _, resumed = train_fold(SPEC, TrainingSettings(**{**vars(settings), "device": "cpu"}), train, val, tmp_path / "a.pt")
    assert resumed.resumed_from == 2


def test_fp16_with_a_gradient_scaler_trains_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU's fp16 branch (autocast, scaled loss, unscale before clipping, scaler state in the
    checkpoint) run on the CPU, where torch has both fp16 autocast and a gradient scaler: killed
    after epoch 2 of 4 and resumed, it ends where an uninterrupted run ends."""
    monkeypatch.setattr(training, "resolve_training_precision", lambda name, device: "fp16")
    train, val = toy_sets()
    settings = TrainingSettings(epochs=4, patience=4, batch_size=16, lr=5e-3, seed=3)
    reference, ref_history, _ = train_fold(SPEC, settings, train, val, tmp_path / "a.pt")
    assert all(np.isfinite(h["train_loss"]) for h in ref_history)
    killed_after_epoch(2, settings, train, val, tmp_path / "b.pt", monkeypatch)
    saved = torch.load(tmp_path / "b.pt", weights_only=True)["scaler"]
    assert saved is not None and saved["scale"] > 0
    resumed, history, result = train_fold(SPEC, settings, train, val, tmp_path / "b.pt")
    assert result.resumed_from == 2
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in ref_history]


def test_to_device_on_the_cpu_is_the_batch_itself() -> None:
    train, _ = toy_sets()
    batch = train.batch(np.arange(4))
    assert training.to_device(batch, torch.device("cpu")) is batch


def test_standardized_inputs_are_fitted_on_the_training_residues_only(tmp_path: Path) -> None:
    train, val = toy_sets()
    spec = ExperimentSpec("toy", "fusion", SPEC.embedders, {**SPEC.params, "standardize_inputs": True})
    settings = TrainingSettings(epochs=2, patience=2, batch_size=16, lr=5e-3, seed=3)
    model, _, _ = train_fold(spec, settings, train, val, tmp_path / "ckpt.pt")
    for scaling, proteins in zip(model.input_scaling, train.features):
        every = torch.cat([p.double() for p in proteins])
        assert torch.allclose(scaling.mean.double(), every.mean(0), atol=1e-4)
        assert torch.allclose(scaling.std.double(), every.std(0, unbiased=False), atol=1e-4)
    # The statistics travel with the weights: a reloaded fold model predicts the same.
    from safetensors.torch import save_file

    from locfusion.training import load_fold_model

    manifest = {"model": "fusion", "params": spec.params, "input_dims": train.dims, "use_group": False,
                "classes": list(CLASSES), "groups": []}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    reloaded, _ = load_fold_model(tmp_path / "w.safetensors", manifest)
    assert np.allclose(predict_proba(reloaded, val, 8, "fp32", use_group=False),
                       predict_proba(model, val, 8, "fp32", use_group=False), atol=1e-6)
