"""Model bundles: a trained experiment's fold models, self-described, safe to load anywhere.

A bundle is a directory:

    manifest.json                          what the models are and what they expect (below)
    seed_{s}_fold_{k}_val_{v}.safetensors  the model trained with seed s, test fold k, validation fold v
    checksums.sha256                       sha256 of every other file (`sha256sum -c` reads it)

It holds the models each (seed, test fold) selected on validation MCC (one per
test fold with the study's single validation fold, n-1 with nested CV); predict
averages all of them.

Only JSON and safetensors: loading a bundle never unpickles anything, so a
bundle received from someone else cannot run code. The manifest holds:

- `model`, `input_dims`, `use_group` and each fold's `params`: enough to rebuild each network;
- `embedders`: in model-input order, each with its config `spec` (to rebuild the
  embedder) and its `provenance` as recorded in the attributes of the HDF5
  shards it was trained on (kind, dim, spec.*, checkpoint sha256 and package
  versions where the embedder records them);
- `classes` (output order), `groups` and `group_handling` (organism group as
  input or not; DeepLocPro's remap for Gram-positive and archaeal proteins);
- `length`: the training filter's `max_length` and `long_policy`, the length each
  embedder cropped to, and the policy used when predicting (always `crop`:
  a new proteome's long proteins are cropped, never dropped);
- `training_data`: sha256 of `dataset.tsv` and protein / fold counts;
- `folds`: per model file its sha256 (checked on load), seed, test and validation
  folds, grid point and its `params`, best epoch and validation MCC, and its
  `temperature` with the `calibration` numbers it was fitted with (rule calibrate,
  on the model's validation fold): prediction divides the model's logits by it
  before the softmax, so the probabilities are calibrated; a missing, non-finite
  or non-positive temperature refuses the bundle;
- `training` settings and the `locfusion_version` that exported it.

Nothing in it depends on the time or the machine, so exporting the same
training results twice gives the same bytes.

Integrity, checked before any protein is embedded: the manifest and every fold
file must match `checksums.sha256` (an edited manifest, e.g. other attention
heads with tensors of the same shapes, would otherwise rebuild a different
network and predict other numbers silently); each fold file's own embedded
training manifest must agree with the bundle's on what builds the network; and
weights must be finite. Each failure is one line naming the file.

Why the provenance check (`check_embedder`): a model trained on layer 33 of
ESM-2 650M silently gives wrong answers on layer 30 or on another checkpoint, as
the input looks the same (a matrix of the same width). Prediction therefore
rebuilds each embedder and refuses, in one line, a bundle whose embedders
differ from those now built on the keys that define the representation.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .classes import CLASSES, GROUPS, REMAP_FROM, REMAP_GROUPS, REMAP_TO
from .embedders.base import RUNTIME_SPEC_KEYS
from .errors import InputError, listed
from .io import sha256_file

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_FORMAT_VERSION",
    "CHECKSUMS",
    "MANIFEST",
    "Bundle",
    "check_embedder",
    "embedder_identity",
    "export_bundle",
    "model_file",
    "load_bundle",
    "read_manifest",
]

BUNDLE_FORMAT = "locfusion-bundle"
BUNDLE_FORMAT_VERSION = 4  # 2: seeds, validation folds and per-model params; 3: checksums.sha256; 4: temperatures
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.sha256"
PREDICT_LONG_POLICY = "crop"

# Shard attributes that describe one shard or the store, not the embedder.
_NOT_PROVENANCE = frozenset(
    {"format", "complete", "shard", "n_proteins", "n_residues", "n_cropped", "tokens_per_batch", "locfusion_version"}
)
# Provenance keys that define the representation of every embedder (besides every `spec.*`
# key and every weights checksum); each kind adds its own (`Embedder.identity_keys`, recorded
# in provenance as `identity_keys`), compared when both sides record them.
_ALWAYS_KEYS = ("kind", "dim")
# Spec keys that only say where weights live; when both sides record a weights
# checksum, the checksum decides and the location may differ between machines.
_LOCATION_KEYS = frozenset({"spec.model", "spec.weights"})


def model_file(seed: int, test_fold: int, val_fold: int) -> str:
    """File name of one bundled model."""
    return f"seed_{seed}_fold_{test_fold}_val_{val_fold}.safetensors"


# ----------------------------------------------------------------------------- export


def _shard_provenance(name: str, paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """The embedder's provenance as its shards record it (checked equal across shards)."""
    from .store import EmbeddingReader

    with EmbeddingReader(paths) as reader:
        attrs = reader.shard_attrs[0]
    provenance = {k: v for k, v in attrs.items() if k not in _NOT_PROVENANCE}
    if provenance.get("embedder") != name:
        raise InputError(f"embedding shards for '{name}' were made by embedder '{provenance.get('embedder')}'")
    return dict(sorted(provenance.items()))


def export_bundle(
    experiment: str,
    weights: Sequence[str | os.PathLike[str]],
    manifests: Sequence[str | os.PathLike[str]],
    shards: Mapping[str, Sequence[str | os.PathLike[str]]],
    embedder_specs: Mapping[str, Mapping[str, Any]],
    dataset: str | os.PathLike[str],
    filter_settings: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    selections: Sequence[str | os.PathLike[str]] | None = None,
    calibrations: Sequence[str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Write the bundle of one experiment (its selected models) to `out_dir`; return the manifest.

    `weights` and `manifests` are the outputs of rule `train` (any order); `selections` the
    `selection.json` of each (seed, test fold): only the models they ensembled are bundled
    (None: every model given); `shards` the embedding shards per embedder the experiment read;
    `embedder_specs` the config's spec of each of those embedders; `calibrations` the
    `calibration.json` of each seed (rule calibrate; any order), where each bundled model's
    record is looked up by its experiment, seed, test fold, validation fold and grid point:
    required, as a bundle predicts with each model's temperature.
    """
    from safetensors import safe_open

    from .calibration_files import FIT_KEYS, MODEL_COLUMNS, describe_model, model_key, read_calibrations

    chosen: set[str] | None = None
    if selections is not None:
        chosen = {str(Path(p).resolve()) for sel in selections for p in json.loads(Path(sel).read_text())["ensembled"]}
    if not calibrations:
        raise InputError(f"experiment '{experiment}': the calibration.json of each seed is needed (rule calibrate)")
    records = read_calibrations(calibrations)
    folds = []
    for w, m in zip(weights, manifests, strict=True):
        if chosen is not None and str(Path(m).resolve()) not in chosen:
            continue
        fold_manifest = json.loads(Path(m).read_text())
        with safe_open(str(w), framework="pt") as handle:  # the manifest the weights carry must be this one
            embedded = json.loads((handle.metadata() or {}).get("manifest", "{}"))
        if embedded.get("test_fold") != fold_manifest.get("test_fold"):
            raise InputError(f"{w}: weights of test fold {embedded.get('test_fold')}, but {m} describes fold "
                             f"{fold_manifest.get('test_fold')}")
        lacking = [k for k in MODEL_COLUMNS if k not in fold_manifest]
        if lacking:
            raise InputError(f"{m}: model manifest lacks {', '.join(lacking)}")
        key = model_key(fold_manifest)
        if key not in records:
            raise InputError(f"{m}: no calibration of this model ({describe_model(key)}) in "
                             f"{', '.join(str(c) for c in calibrations)} (rule calibrate)")
        folds.append((fold_manifest, Path(w), records[key]))
    if not folds:
        raise InputError(f"experiment '{experiment}': no fold models to bundle")
    folds.sort(key=lambda item: (int(item[0].get("seed", 0)), int(item[0]["test_fold"]), int(item[0]["val_fold"])))
    first = folds[0][0]
    # A grid may give test folds different hyperparameters: `params` is kept per model.
    same = ("model", "embedders", "input_dims", "use_group", "classes", "groups")
    for fold_manifest, path, _ in folds:
        if fold_manifest.get("experiment") != experiment:
            raise InputError(f"{path}: belongs to experiment '{fold_manifest.get('experiment')}', not '{experiment}'")
        diff = [k for k in same if fold_manifest[k] != first[k]]
        if diff:
            raise InputError(f"{path}: fold models of '{experiment}' differ in {', '.join(diff)}")
    keys = [(int(m.get("seed", 0)), int(m["test_fold"]), int(m["val_fold"])) for m, _, _ in folds]
    if len(set(keys)) != len(keys):
        raise InputError(f"experiment '{experiment}': a (seed, test fold, validation fold) model given twice ({keys})")
    if list(first["classes"]) != list(CLASSES):
        raise InputError(f"experiment '{experiment}': class order {first['classes']} is not locfusion's {list(CLASSES)}")

    embedders = []
    for name, dim in zip(first["embedders"], first["input_dims"], strict=True):
        if name not in shards or name not in embedder_specs:
            raise InputError(f"experiment '{experiment}': no shards or spec given for embedder '{name}'")
        provenance = _shard_provenance(name, shards[name])
        if int(provenance["dim"]) != int(dim):
            raise InputError(f"embedder '{name}': shards are {provenance['dim']}-d but the models take {dim}-d input")
        embedders.append({"name": name, "spec": dict(embedder_specs[name]), "provenance": provenance})
    limits = {e["name"]: int(e["provenance"].get("length_limit", -1)) for e in embedders}

    from .io import atomic_path, read_id_tsv, write_json

    table = read_id_tsv(dataset, usecols=["id", "fold"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_entries = []
    for fold_manifest, path, calibration in folds:
        k, v, seed = int(fold_manifest["test_fold"]), int(fold_manifest["val_fold"]), int(fold_manifest.get("seed", 0))
        dest = out_dir / model_file(seed, k, v)
        with atomic_path(dest) as tmp:
            shutil.copyfile(path, tmp)  # the bytes as trained (they embed the fold's own manifest)
        fold_entries.append({
            "file": dest.name,
            "sha256": sha256_file(dest),
            "seed": seed,
            "test_fold": k,
            "val_fold": v,
            "grid": int(fold_manifest.get("grid", 0)),
            "params": fold_manifest["params"],
            "train_folds": [int(f) for f in fold_manifest["train_folds"]],
            "best_epoch": int(fold_manifest["best_epoch"]),
            "best_val_mcc": float(fold_manifest["best_val_mcc"]),
            "temperature": calibration["temperature"],
            "calibration": {key: calibration[key] for key in FIT_KEYS},
        })

    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "locfusion_version": __version__,
        "experiment": experiment,
        "model": first["model"],
        "input_dims": [int(d) for d in first["input_dims"]],
        "use_group": bool(first["use_group"]),
        "classes": list(first["classes"]),
        "groups": list(first["groups"]),
        "group_handling": {
            "group_as_input": bool(first["use_group"]),
            "remap_groups": list(REMAP_GROUPS),
            "remap_from": list(REMAP_FROM),
            "remap_to": REMAP_TO,
        },
        "embedders": embedders,
        "length": {
            "max_length": int(filter_settings["max_length"]),
            "min_length": int(filter_settings.get("min_length", 1)),
            "training_long_policy": filter_settings["long_policy"],
            "embedder_length_limits": limits,
            "predict_long_policy": PREDICT_LONG_POLICY,
        },
        "training_data": {
            "dataset_sha256": sha256_file(dataset),
            "n_proteins": int(len(table)),
            "n_folds": int(table["fold"].nunique()),
        },
        "training": first["training"],
        "trained_on": first.get("trained_on", {}),
        "folds": fold_entries,
    }
    write_json(manifest, out_dir / MANIFEST)
    files = [MANIFEST] + [entry["file"] for entry in fold_entries]
    with atomic_path(out_dir / CHECKSUMS) as tmp:  # last: its presence means the bundle is whole
        tmp.write_text("".join(f"{sha256_file(out_dir / name)}  {name}\n" for name in files))
    return manifest




# ----------------------------------------------------------------------------- loading


def read_checksums(bundle_dir: str | os.PathLike[str]) -> dict[str, str]:
    """File name -> sha256 from the bundle's `checksums.sha256` (sha256sum's format)."""
    path = Path(bundle_dir) / CHECKSUMS
    if not path.is_file():
        raise InputError(f"{bundle_dir}: no {CHECKSUMS} (an incomplete copy, or exported by an older locfusion: "
                         "re-export the bundle)")
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name or name in sums:
            raise InputError(f"{path}: line {number} is not '<sha256>  <file>' (or names a file twice)")
        sums[name] = digest
    return sums


def verify_file(bundle_dir: str | os.PathLike[str], name: str, sums: Mapping[str, str]) -> Path:
    """The path of bundle file `name` after checking it against `checksums.sha256`."""
    path = Path(bundle_dir) / name
    if name not in sums:
        raise InputError(f"{path}: not listed in {CHECKSUMS}")
    if not path.is_file():
        raise InputError(f"{path}: missing from the bundle")
    if sha256_file(path) != sums[name]:
        raise InputError(f"{path}: checksum differs from {CHECKSUMS} (edited, corrupted or replaced file; "
                         "re-export the bundle)")
    return path


def read_manifest(bundle_dir: str | os.PathLike[str], verify: bool = True) -> dict[str, Any]:
    """Read and check a bundle's manifest (checksum, format, version, classes); no weights are read.

    `verify=False` skips the checksum, for `locfusion inspect` to show what a damaged bundle claims.
    """
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not bundle_dir.is_dir():
        raise InputError(f"{bundle_dir}: bundle directory not found")
    if not path.is_file():
        raise InputError(f"{bundle_dir}: not a locfusion bundle (no {MANIFEST})")
    if verify:
        verify_file(bundle_dir, MANIFEST, read_checksums(bundle_dir))
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise InputError(f"{path}: not a locfusion bundle manifest")
    if manifest.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise InputError(
            f"{path}: bundle format version {manifest.get('format_version')}, this locfusion reads {BUNDLE_FORMAT_VERSION}"
        )
    missing = [k for k in ("model", "input_dims", "use_group", "classes", "groups", "embedders", "length", "folds")
               if k not in manifest]
    if missing:
        raise InputError(f"{path}: manifest lacks {', '.join(missing)}")
    if list(manifest["classes"]) != list(CLASSES):
        raise InputError(f"{path}: class order {manifest['classes']} is not locfusion's {list(CLASSES)}")
    if list(manifest["groups"]) != list(GROUPS):
        raise InputError(f"{path}: organism groups {manifest['groups']} are not locfusion's {list(GROUPS)}")
    if not manifest["folds"]:
        raise InputError(f"{path}: the bundle holds no fold models")
    return manifest


@dataclass
class Bundle:
    """A loaded bundle: its manifest, the fold models (eval mode, CPU) in fold order, and their temperatures."""

    path: Path
    manifest: dict[str, Any]
    models: list[Any]
    temperatures: list[float]  # per model, in `models` order: its logits are divided by it

    @property
    def embedder_names(self) -> list[str]:
        return [e["name"] for e in self.manifest["embedders"]]

    @property
    def use_group(self) -> bool:
        return bool(self.manifest["use_group"])

    def describe(self) -> str:
        m = self.manifest
        return (f"bundle '{m.get('experiment')}' ({m['model']} on {', '.join(self.embedder_names)}, "
                f"{len(self.models)} fold models)")


def load_bundle(bundle_dir: str | os.PathLike[str]) -> Bundle:
    """Load a bundle: verify checksums and temperatures, rebuild the models from safetensors (no pickle),
    refuse non-finite weights."""
    from .calibration import check_temperature
    from .training import load_fold_model

    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    sums = read_checksums(bundle_dir)
    fold_manifest = {
        "model": manifest["model"],
        "input_dims": manifest["input_dims"],
        "use_group": manifest["use_group"],
        "classes": manifest["classes"],
        "groups": manifest["groups"],
    }
    names = [e["name"] for e in manifest["embedders"]]
    temperatures = []
    for entry in manifest["folds"]:  # all checked before any weights are read
        where = f"{bundle_dir / MANIFEST}: fold model {entry.get('file')}"
        if "temperature" not in entry:
            raise InputError(f"{where} has no temperature (exported without calibration; re-export the bundle)")
        temperatures.append(check_temperature(entry["temperature"], where))
    models = []
    for entry in manifest["folds"]:
        path = verify_file(bundle_dir, entry["file"], sums)  # hashed once, against checksums.sha256
        if sums[entry["file"]] != entry["sha256"]:
            raise InputError(f"{path}: checksum differs from the manifest (corrupted or replaced file)")
        expected = {**fold_manifest, "params": entry["params"], "embedders": names, "seed": entry["seed"],
                    "test_fold": entry["test_fold"], "val_fold": entry["val_fold"]}
        try:
            embedded = _embedded_manifest(path)
            differ = [k for k in expected if _canonical(embedded.get(k)) != _canonical(expected[k])]
            if differ:
                raise InputError(f"{path}: the bundle's manifest differs from the one the weights were trained with "
                                 f"in {', '.join(differ)} (edited manifest; re-export the bundle)")
            model, _ = load_fold_model(path, expected)
        except InputError:
            raise
        except Exception as exc:  # safetensors' own errors (truncated, not safetensors) and shape mismatches
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{path}: not loadable as this bundle's model ({reason})") from None
        bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(v.isfinite().all())]
        if bad:
            raise InputError(f"{path}: non-finite weights in {', '.join(bad[:3])}" + (" ..." if len(bad) > 3 else ""))
        models.append(model)
    return Bundle(path=bundle_dir, manifest=manifest, models=models, temperatures=temperatures)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _embedded_manifest(path: Path) -> dict[str, Any]:
    """The training manifest a fold file carries in its safetensors metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        text = (handle.metadata() or {}).get("manifest")
    if text is None:
        raise InputError(f"{path}: carries no training manifest (not a locfusion fold model)")
    return json.loads(text)


# ----------------------------------------------------------------------------- embedder check


def embedder_identity(provenance: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Keys on which two provenances of the same embedder disagree, as 'key: recorded vs now'.

    Compared: kind and dim always; the keys the embedder kind declares (`identity_keys`: e.g.
    `columns`, `layer`, `n_cells`, `model_revision`) when both record them; every `spec.*` key recorded on either side but the runtime knobs
    (`RUNTIME_SPEC_KEYS`: speed, not numbers); every `*_sha256` recorded on both. When both record a weights checksum and it matches, the spec keys that
    only locate the weights (`spec.model`, `spec.weights`) may differ.
    """
    def norm(value: Any) -> Any:
        return str(value) if isinstance(value, (list, tuple, dict)) else value

    diffs = []
    for key in _ALWAYS_KEYS:
        if norm(provenance.get(key)) != norm(other.get(key)):
            diffs.append(key)
    declared = {k for side in (provenance, other) for k in str(side.get("identity_keys") or "").split(",") if k}
    for key in sorted(declared):
        if key in provenance and key in other and norm(provenance[key]) != norm(other[key]):
            diffs.append(key)
    checksums = sorted(k for k in provenance if k.endswith("_sha256") and k in other)
    for key in checksums:
        if provenance[key] != other[key]:
            diffs.append(key)
    located = bool(checksums) and not any(provenance[k] != other[k] for k in checksums)
    runtime = {f"spec.{k}" for k in RUNTIME_SPEC_KEYS}
    spec_keys = sorted(k for k in set(provenance) | set(other) if k.startswith("spec.") and k not in runtime)
    for key in spec_keys:
        if located and key in _LOCATION_KEYS:
            continue
        if norm(provenance.get(key)) != norm(other.get(key)):
            diffs.append(key)
    return [f"{k}: {provenance.get(k, '(unset)')!r} in the bundle vs {other.get(k, '(unset)')!r} now" for k in diffs]


def check_embedder(bundle_dir: str | os.PathLike[str], recorded: Mapping[str, Any], embedder: Any) -> None:
    """Refuse (InputError) when `embedder` cannot reproduce the bundle's recorded embeddings."""
    diffs = embedder_identity(recorded, embedder.provenance())
    if diffs:
        shown = listed(diffs, show=3, sep="; ")
        raise InputError(
            f"bundle {bundle_dir}: embedder '{embedder.name}' cannot reproduce the embeddings the models were "
            f"trained on ({shown})"
        )
