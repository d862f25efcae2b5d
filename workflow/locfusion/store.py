"""Per-residue embeddings on disk: float16 HDF5 shards, one dataset per protein.

Why this layout:
- shards, not one file per protein: a few large files suit cluster file systems
  and keep each embed job long enough to be worth scheduling (`plan_shards`
  balances them by residues, which is what the embedding time follows);
- float16: halves disk and memory so a whole data set can be preloaded for
  training; the quantization error (~1e-3 relative) is far below what the
  classifiers resolve, and non-finite values (fp16 overflow) are refused;
- one dataset per protein with its own provenance (original and embedded length,
  cropped or not, length policy) and the embedder's provenance on the file, so
  a shard says what it holds without the config that made it;
- written atomically with `complete=True` set last: a killed job leaves no
  shard, never a shard that looks finished but is not;
- each protein's array is one chunk with HDF5's Fletcher-32 checksum: bytes
  damaged on disk after writing (size and mtime unchanged) fail on read with
  the protein and shard named, instead of training on garbage. Every read also
  refuses non-finite values. Shards written before the checksum still read
  (`check_complete` counts them).

Layout of a shard:

    /                 attrs: format, format_version, locfusion_version, the embedder's
                      provenance (embedder, kind, dim, spec.*, columns...), policy,
                      max_length, length_limit, tokens_per_batch, n_proteins,
                      n_residues, n_cropped, extra attributes of the caller,
                      complete (last)
    /embeddings/NAME  float16 (embedded_length, dim), one chunk, Fletcher-32;
                      attrs: id, original_length, embedded_length, cropped, policy

NAME is the protein id percent-encoded (`dataset_name`), so any UniProt or NCBI
id works, including '|', '/', '%', spaces, non-ASCII and a leading '.'; the exact
id is also kept in the dataset's `id` attribute.
"""

from __future__ import annotations

import heapq
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from . import __version__
from .embedders.base import Embedder
from .errors import InputError, listed
from .idnames import dataset_name, id_from_dataset_name
from .io import atomic_path, read_id_tsv, write_tsv
from .sequence import LONG_POLICIES, crop_sequence, effective_limit, validate_sequence

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "EmbeddingReader",
    "PackedEmbeddings",
    "check_complete",
    "dataset_name",
    "embed_to_shard",
    "export_side_fasta",
    "id_from_dataset_name",
    "length_batches",
    "load_embeddings",
    "pack_embeddings",
    "plan_shards",
    "to_float16",
]

FORMAT = "locfusion-embeddings"
FORMAT_VERSION = 1
_GROUP = "embeddings"
# File attributes written by this module; callers' extra attributes may not shadow them.
_RESERVED_ATTRS = frozenset(
    {
        "format",
        "format_version",
        "locfusion_version",
        "policy",
        "max_length",
        "length_limit",
        "tokens_per_batch",
        "n_proteins",
        "n_residues",
        "n_cropped",
        "complete",
    }
)
# File attributes that must agree across the shards of one embedding set
# (the embedder's own provenance keys `spec.*` are compared too).
_SHARED_ATTRS = ("format_version", "embedder", "kind", "dim", "columns", "policy", "max_length", "length_limit")
# Dataset attributes holding an embedder's side texts (`Embedder.side_attrs`): `side.3di`, ...
SIDE_PREFIX = "side."
_SHOW = 5  # ids listed in an error message before "..."


# --------------------------------------------------------------------------- planning


def plan_shards(ids: Sequence[str], lengths: Sequence[int], n_shards: int) -> list[int]:
    """Assign each protein (aligned with `ids`) a shard in [0, n_shards), balanced by residues.

    Greedy longest-first onto the lightest shard (ties: the shard with fewer
    proteins, then the lowest index), proteins of equal length ordered by id: the
    plan depends only on the (id, length) pairs, not on their order in the input.
    The heaviest shard then holds at most mean + the longest protein residues.
    Every shard gets a protein when there are at least `n_shards` of them; with
    fewer, the last shards stay empty (`embed_to_shard` still writes them).
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    if len(ids) != len(lengths):
        raise ValueError(f"{len(ids)} ids but {len(lengths)} lengths")
    _refuse_duplicates(ids, "shard planning")
    order = sorted(range(len(ids)), key=lambda i: (-int(lengths[i]), ids[i]))
    heap = [(0, 0, shard) for shard in range(n_shards)]  # (residues, proteins, shard index)
    assignment = [0] * len(ids)
    for i in order:
        load, count, shard = heapq.heappop(heap)
        assignment[i] = shard
        heapq.heappush(heap, (load + int(lengths[i]), count + 1, shard))
    return assignment


def length_batches(lengths: Sequence[int], tokens_per_batch: int) -> list[list[int]]:
    """Group indices into batches of similar length within a padded-token budget.

    Indices are sorted by length, longest first (ties by index), and packed while
    max_length_in_batch * batch_size <= tokens_per_batch, the padded size a model
    actually computes on. A protein longer than the budget gets a batch of its own.
    Longest first makes the first batch the most memory-hungry: an out-of-memory
    error shows up at once rather than at the end of a long job.
    """
    if tokens_per_batch < 1:
        raise ValueError(f"tokens_per_batch must be >= 1, got {tokens_per_batch}")
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    batches: list[list[int]] = []
    for i in order:
        if batches and int(lengths[batches[-1][0]]) * (len(batches[-1]) + 1) <= tokens_per_batch:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


# --------------------------------------------------------------------------- writing


def embed_to_shard(
    embedder: Embedder,
    records: Sequence[tuple[str, str]],
    path: str | os.PathLike[str],
    tokens_per_batch: int,
    max_length: int | None,
    long_policy: str,
    progress: bool = True,
    extra_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Embed `records` (id, sequence) with `embedder` into the shard file `path`.

    Sequences are validated; those longer than min(max_length, embedder.max_residues)
    are cropped (N- and C-terminal halves) under `long_policy` "crop" and refused
    with an `InputError` naming them under "drop" and "error" (the dataset filter
    must have removed them: nothing is skipped silently). The file appears at
    `path` only once complete; an empty `records` gives a valid, empty shard.
    """
    if long_policy not in LONG_POLICIES:
        raise InputError(f"long_policy must be one of {', '.join(LONG_POLICIES)}, got {long_policy!r}")
    extra = dict(extra_attrs or {})
    clash = sorted(_RESERVED_ATTRS.intersection(extra) | set(embedder.provenance()).intersection(extra))
    if clash:
        raise ValueError(f"extra_attrs may not override {clash}")
    limit = effective_limit(max_length, embedder.max_residues)
    ids = [rid for rid, _ in records]
    _refuse_duplicates(ids, f"shard {Path(path).name}")
    names = [dataset_name(rid) for rid in ids]
    seqs: list[str] = []
    original: list[int] = []
    for rid, raw in records:
        seq = validate_sequence(rid, raw)
        original.append(len(seq))
        if limit is not None and len(seq) > limit:
            if long_policy != "crop":
                raise InputError(_too_long_message(rid, len(seq), embedder, max_length, long_policy))
            seq = crop_sequence(seq, limit)
        seqs.append(seq)
    lengths = [len(s) for s in seqs]
    batches = length_batches(lengths, tokens_per_batch)

    file_attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "locfusion_version": __version__,
        **embedder.provenance(),
        "policy": long_policy,
        "max_length": -1 if max_length is None else int(max_length),  # -1: no limit
        "length_limit": -1 if limit is None else int(limit),
        "tokens_per_batch": int(tokens_per_batch),
        **extra,
        "n_proteins": len(seqs),
        "n_residues": int(sum(lengths)),
        "n_cropped": sum(n < o for n, o in zip(lengths, original, strict=True)),
    }
    # Built in memory, written to disk in one piece: HDF5 writing straight to a disk that
    # fills up prints thousands of lines of errors (and can crash) instead of one line.
    # The price: an embed job holds its shard (residues x dim x 2 bytes) until written.
    with h5py.File(f"{Path(path).name}.in-memory", "w", driver="core", backing_store=False) as h5:
        _set_attrs(h5.attrs, file_attrs)
        h5.attrs["complete"] = False
        group = h5.create_group(_GROUP, track_order=True)
        with tqdm(
            total=sum(lengths),
            unit="res",
            unit_scale=True,
            desc=f"{embedder.name} {Path(path).name}",
            file=sys.stderr,
            disable=not progress,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,  # a line per 30 s in log files
            dynamic_ncols=True,
        ) as bar:
            done = 0
            for batch in batches:
                outputs, sides = embedder.embed_with_side([seqs[i] for i in batch])
                if len(outputs) != len(batch) or len(sides) != len(batch):
                    raise RuntimeError(
                        f"embedder '{embedder.name}' returned {len(outputs)} arrays and {len(sides)} side records "
                        f"for a batch of {len(batch)}"
                    )
                for i, out, side in zip(batch, outputs, sides, strict=True):
                    data = to_float16(embedder, ids[i], out, lengths[i])
                    dset = group.create_dataset(names[i], data=data, chunks=data.shape, fletcher32=True)
                    _set_attrs(
                        dset.attrs,
                        {
                            "id": ids[i],
                            "original_length": original[i],
                            "embedded_length": lengths[i],
                            "cropped": lengths[i] < original[i],
                            "policy": long_policy,
                            **_side_attrs(embedder, ids[i], side),
                        },
                    )
                done += len(batch)
                bar.set_postfix_str(f"{done}/{len(seqs)} proteins", refresh=False)
                bar.update(sum(lengths[i] for i in batch))
        h5.attrs["complete"] = True  # last: a shard without it is never read
        h5.flush()
        image = h5.id.get_file_image()
    with atomic_path(path) as tmp:
        tmp.write_bytes(image)


def _side_attrs(embedder: Embedder, rid: str, side: Mapping[str, str]) -> dict[str, str]:
    """An embedder's side texts for one protein, checked against the names it declares.

    Stored as `side.<name>` dataset attributes so they cannot shadow the store's own.
    """
    if set(side) != set(embedder.side_attrs):
        raise RuntimeError(
            f"embedder '{embedder.name}' returned side texts {sorted(side)} for '{rid}', "
            f"declared {sorted(embedder.side_attrs)}"
        )
    return {f"{SIDE_PREFIX}{name}": str(text) for name, text in side.items()}


def _too_long_message(rid: str, n: int, embedder: Embedder, max_length: int | None, policy: str) -> str:
    if max_length is not None and n > max_length:
        why = f"more than max_length {max_length}"
        fix = "the dataset filter should have removed it" if policy == "drop" else "shorten it"
    else:
        why = f"more than embedder '{embedder.name}' accepts ({embedder.max_residues})"
        fix = f"set max_length <= {embedder.max_residues}"
    return f"record '{rid}': {n} residues, {why}, under long_policy '{policy}' ({fix}, or use long_policy 'crop')"


def to_float16(embedder: Embedder, rid: str, out: Any, length: int) -> np.ndarray:
    """An embedder's (length, dim) output as stored: float16, shape checked, non-finite refused.

    Prediction casts through this too, so a new proteome's embeddings carry the
    same rounding as the training shards the models learned from.
    """
    arr = np.asarray(out)
    if arr.shape != (length, embedder.dim):
        raise RuntimeError(
            f"embedder '{embedder.name}' returned shape {arr.shape} for '{rid}', expected {(length, embedder.dim)}"
        )
    with np.errstate(over="ignore"):  # overflow becomes inf, refused just below
        data = arr.astype(np.float16)
    if not np.isfinite(data).all():
        raise RuntimeError(
            f"embedder '{embedder.name}': non-finite values for '{rid}' (NaN, or beyond float16 range ±65504)"
        )
    return data


def _set_attrs(attrs: h5py.AttributeManager, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        attrs[key] = value if isinstance(value, (bool, int, float, str, np.generic)) else str(value)


def _refuse_duplicates(ids: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    dups: list[str] = []
    for pid in ids:
        if pid in seen:
            dups.append(pid)
        seen.add(pid)
    if dups:
        raise InputError(f"{where}: duplicate protein id(s) {listed(dups)}")


# --------------------------------------------------------------------------- reading


class EmbeddingReader:
    """Read-only view over the shards of one embedding set (one embedder), by protein id.

    Opening checks every shard (readable, this format, complete) and that all
    shards come from the same embedder settings; bad shards raise `InputError`
    naming the file. Arrays are returned as stored: float16 (embedded_length, dim).
    Use as a context manager, or call `close()`.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            raise InputError("no embedding shards given")
        self.paths = [Path(p) for p in paths]
        self._files: list[h5py.File] = []
        self._where: dict[str, tuple[int, str]] = {}  # id -> (shard index, dataset name)
        try:
            for path in self.paths:
                self._files.append(_open_shard(path))
            self.shard_attrs: list[dict[str, Any]] = [_attrs_dict(f.attrs) for f in self._files]
            self.provenance: dict[str, Any] = self._common_provenance()
            self.dim: int = int(self.provenance["dim"])
            for k, f in enumerate(self._files):
                for name in f[_GROUP]:
                    pid = id_from_dataset_name(name)
                    if pid in self._where:
                        other = self.paths[self._where[pid][0]]
                        raise InputError(f"protein '{pid}' is stored twice: in {other} and in {self.paths[k]}")
                    self._where[pid] = (k, name)
        except BaseException:
            self.close()
            raise

    def _common_provenance(self) -> dict[str, Any]:
        first = self.shard_attrs[0]
        keys = [k for k in first if k in _SHARED_ATTRS or k.startswith("spec.")]
        for path, attrs in zip(self.paths[1:], self.shard_attrs[1:], strict=True):
            other_keys = [k for k in attrs if k in _SHARED_ATTRS or k.startswith("spec.")]
            diff = sorted(k for k in set(keys) | set(other_keys) if first.get(k) != attrs.get(k))
            if diff:
                shown = ", ".join(f"{k}: {first.get(k)!r} vs {attrs.get(k)!r}" for k in diff[:_SHOW])
                raise InputError(f"embedding shards {self.paths[0]} and {path} were made differently ({shown})")
        return {k: first[k] for k in keys}

    @property
    def ids(self) -> list[str]:
        """Protein ids in storage order (shard by shard; within a shard, longest first)."""
        return list(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, protein_id: object) -> bool:
        return protein_id in self._where

    def _dataset(self, protein_id: str) -> h5py.Dataset:
        k, name = self._where[protein_id]  # KeyError for an unknown id, as for a dict
        return self._files[k][_GROUP][name]

    def __getitem__(self, protein_id: str) -> np.ndarray:
        """The stored float16 array; `InputError` naming protein and shard if damaged or non-finite."""
        dset = self._dataset(protein_id)
        where = f"embedding of '{protein_id}' in shard {self.paths[self._where[protein_id][0]]}"
        try:
            data = dset[()]
        except OSError as exc:  # Fletcher-32 mismatch, or unreadable bytes
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{where} is damaged ({reason}); delete the shard and re-run its embed job") from None
        if not np.isfinite(data).all():
            raise InputError(f"{where} holds non-finite values (NaN or inf); delete the shard and re-run its embed job")
        return data

    def shard_of(self, protein_id: str) -> Path:
        """The shard file holding a protein (for messages)."""
        return self.paths[self._where[protein_id][0]]

    def checksummed(self, protein_id: str) -> bool:
        """Whether this protein's array carries a Fletcher-32 checksum (shards before it do not)."""
        return bool(self._dataset(protein_id).fletcher32)

    def attrs(self, protein_id: str) -> dict[str, Any]:
        """Per-protein provenance: id, original_length, embedded_length, cropped, policy, side.* texts."""
        return _attrs_dict(self._dataset(protein_id).attrs)

    def lengths(self) -> dict[str, int]:
        """Embedded length of every stored protein (read from shapes, not from attributes)."""
        return {pid: int(self._dataset(pid).shape[0]) for pid in self._where}

    def iter(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (id, float16 array) one at a time: all stored proteins, or `ids` in their order."""
        wanted = self.ids if ids is None else list(ids)
        self.require(wanted)
        for pid in wanted:
            yield pid, self[pid]

    def require(self, ids: Iterable[str]) -> None:
        """Raise `InputError` listing the ids that no shard holds."""
        missing = [pid for pid in ids if pid not in self._where]
        if missing:
            raise InputError(f"{len(missing)} protein(s) have no embedding in {self.describe()}: {listed(missing)}")

    def describe(self) -> str:
        """'embedder name' (n shard(s) in folder), for messages."""
        name = self.provenance.get("embedder", "?")
        return f"'{name}' ({len(self.paths)} shard(s) in {self.paths[0].parent})"

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files = []

    def __enter__(self) -> EmbeddingReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _open_shard(path: Path) -> h5py.File:
    if not path.is_file():
        raise InputError(f"embedding shard {path} does not exist")
    try:
        # No HDF5 file locking: shards are immutable once renamed into place, and
        # locks fail on some cluster file systems (NFS, Lustre) for read-only opens.
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise InputError(f"embedding shard {path} is unreadable ({exc}); delete it and re-run its embed job") from None
    ok = f.attrs.get("format") == FORMAT and _GROUP in f
    version = f.attrs.get("format_version")
    complete = bool(f.attrs.get("complete", False))
    if not ok or version != FORMAT_VERSION or not complete:
        f.close()
        if not ok:
            raise InputError(f"{path} is not a locfusion embedding shard")
        if version != FORMAT_VERSION:
            raise InputError(
                f"embedding shard {path} has format version {version}, this locfusion reads {FORMAT_VERSION}"
            )
        raise InputError(
            f"embedding shard {path} is incomplete (interrupted write); delete it and re-run its embed job"
        )
    return f


def _attrs_dict(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """HDF5 attributes as plain Python values (JSON-ready)."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    return out


def load_embeddings(paths: Sequence[str | os.PathLike[str]], ids: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Preload float16 embeddings into memory (training): all proteins, or exactly `ids`.

    Raises `InputError` listing the requested ids that no shard holds.
    """
    with EmbeddingReader(paths) as reader:
        return dict(reader.iter(ids))


# --------------------------------------------------------------------------- packed (memory-mapped)


def pack_embeddings(paths: Sequence[str | os.PathLike[str]], array_out: str | os.PathLike[str],
                    index_out: str | os.PathLike[str]) -> dict[str, int]:
    """Write one embedding set as one contiguous float16 array (`.npy`) plus its index (TSV).

    Why: a training job that preloads every protein holds its own copy of the set
    (at the study's size ~22 GB a job). Training instead maps this file read-only
    (`PackedEmbeddings`): the pages come from the OS page cache, which parallel jobs
    on one machine share, so five folds hold one copy, and a job's own memory is its
    batches plus the model. The index lists id, offset (row of the first residue)
    and length, in the shards' storage order, and each protein's CRC-32 (checked by
    `PackedEmbeddings.verify`); every array is read through `EmbeddingReader`, so
    damaged or non-finite shards fail here, naming the protein.
    """
    with EmbeddingReader(paths) as reader:
        lengths = reader.lengths()
        ids = reader.ids
        offsets = np.concatenate([[0], np.cumsum([lengths[pid] for pid in ids])]).astype(np.int64)
        total = int(offsets[-1])
        with atomic_path(array_out) as tmp:
            with open(tmp, "wb") as handle:  # header, then each protein's rows in order: one sequential write
                np.lib.format.write_array_header_1_0(
                    handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                             "shape": (total, reader.dim)})
                crcs = []
                for pid in ids:
                    data = np.ascontiguousarray(reader[pid], dtype=np.float16).tobytes()
                    crcs.append(zlib.crc32(data))
                    handle.write(data)
        index = pd.DataFrame({"id": ids, "offset": offsets[:-1], "length": [lengths[pid] for pid in ids],
                              "crc32": crcs})
        write_tsv(index, index_out)
    return {"n_proteins": len(ids), "n_residues": total, "dim": reader.dim}


class PackedEmbeddings(Mapping[str, np.ndarray]):
    """A packed embedding set, memory-mapped: protein id -> float16 (length, dim) view, no copy.

    Opened copy-on-write (`mmap_mode="c"`): pages are shared with every other process
    that maps the file, and nothing is ever written back to it.
    """

    def __init__(self, array_path: str | os.PathLike[str], index_path: str | os.PathLike[str]) -> None:
        self.path = Path(array_path)
        try:
            self.array = np.load(self.path, mmap_mode="c")
        except (OSError, ValueError) as exc:
            raise InputError(f"packed embeddings {self.path} are unreadable ({exc}); re-run rule pack_embeddings") from None
        index = read_id_tsv(index_path)
        self._rows = {pid: (int(o), int(n)) for pid, o, n in zip(index["id"], index["offset"], index["length"])}
        self._crc = dict(zip(index["id"], index["crc32"].astype(int))) if "crc32" in index else {}
        end = int((index["offset"] + index["length"]).max()) if len(index) else 0
        if self.array.dtype != np.float16 or self.array.ndim != 2 or end != self.array.shape[0]:
            raise InputError(f"packed embeddings {self.path} do not match their index {index_path} "
                             f"({self.array.dtype}, shape {self.array.shape}, index ends at row {end})")

    def __getitem__(self, protein_id: str) -> np.ndarray:
        offset, length = self._rows[protein_id]
        return self.array[offset : offset + length]

    def verify(self, ids: Iterable[str]) -> None:
        """Check each protein's bytes against its CRC-32 and its values for NaN/inf; `InputError` names it.

        Reads each array once (which also brings it into the shared page cache): bytes
        damaged on disk after packing stop the job instead of being trained on.
        """
        for pid in ids:
            data = self[pid]
            if self._crc and zlib.crc32(np.ascontiguousarray(data).tobytes()) != self._crc[pid]:
                raise InputError(f"packed embedding of '{pid}' in {self.path} is damaged (CRC-32 mismatch); "
                                 "delete it and re-run rule pack_embeddings")
            if not np.isfinite(data).all():
                raise InputError(f"packed embedding of '{pid}' in {self.path} holds non-finite values; "
                                 "delete it and re-run rule pack_embeddings")

    def __contains__(self, protein_id: object) -> bool:
        return protein_id in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


# --------------------------------------------------------------------------- checking


def export_side_fasta(paths: Sequence[str | os.PathLike[str]], side: str, out: str | os.PathLike[str],
                      ids: Iterable[str] | None = None) -> int:
    """Write one side text (e.g. `3di`) of every protein of an embedding set as FASTA; return the count.

    Order: `ids` (all must be stored), else storage order. The header is the protein id; a cropped
    protein's text is that of its embedded (cropped) sequence, and its header says so
    (`cropped_from=<original length>`). A protein without the side text is an error naming it and
    the shard. Written atomically, so a FASTA at `out` is always whole.
    """
    attr = f"{SIDE_PREFIX}{side}"
    n = 0
    with EmbeddingReader(paths) as reader, atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        wanted = reader.ids if ids is None else list(ids)
        reader.require(wanted)
        for pid in wanted:
            attrs = reader.attrs(pid)
            if attr not in attrs:
                raise InputError(
                    f"protein '{pid}' in shard {reader.shard_of(pid)} has no '{side}' side text "
                    f"(embedder kind {reader.provenance.get('kind')!r})"
                )
            header = pid if not attrs.get("cropped") else f"{pid} cropped_from={attrs['original_length']}"
            handle.write(f">{header}\n{attrs[attr]}\n")
            n += 1
    return n


def check_complete(paths: Sequence[str | os.PathLike[str]], expected: Mapping[str, int]) -> dict[str, Any]:
    """Check that the shards hold exactly the `expected` proteins at their expected embedded lengths.

    `expected` maps id -> embedded length (the original length, or the length
    limit under cropping). Raises one `InputError` that counts and lists (first
    few) missing ids, wrong lengths and unexpected ids; unreadable or incomplete
    shards also raise. Every array is then read once, so a damaged chunk
    (checksum mismatch) or a non-finite value stops here, naming the protein and
    shard, before any training job starts. Returns a JSON-ready summary for the
    embedding report.
    """
    with EmbeddingReader(paths) as reader:
        stored = reader.lengths()
        problems = []
        missing = [pid for pid in expected if pid not in stored]
        if missing:
            problems.append(f"{len(missing)} missing: {listed(missing)}")
        wrong = [
            f"{pid} ({stored[pid]} stored, {n} expected)"
            for pid, n in expected.items()
            if pid in stored and stored[pid] != n
        ]
        if wrong:
            problems.append(f"{len(wrong)} with a wrong length: {listed(wrong)}")
        extra = [pid for pid in stored if pid not in expected]
        if extra:
            problems.append(f"{len(extra)} unexpected: {listed(extra)}")
        if problems:
            raise InputError(f"embeddings {reader.describe()} do not match the dataset: " + "; ".join(problems))
        for pid in stored:
            reader[pid]  # reads and verifies: checksum and finite values
        unchecked = sum(not reader.checksummed(pid) for pid in stored)
        n_cropped = sum(int(attrs["n_cropped"]) for attrs in reader.shard_attrs)
        return {
            "n_shards": len(reader.paths),
            "n_proteins": len(stored),
            "n_residues": int(sum(stored.values())),
            "n_cropped": int(n_cropped),
            "dim": reader.dim,
            "n_without_checksum": int(unchecked),
            "provenance": reader.provenance,
        }
