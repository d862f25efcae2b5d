"""HDF5 embedding shards: planning, batching, writing, reading, checking."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from locfusion.embedders import Embedder, RuntimeOptions, build_embedder
from locfusion.embedders.base import STANDARD_AA
from locfusion.errors import InputError
from locfusion.sequence import crop_sequence
from locfusion.store import (
    EmbeddingReader,
    PackedEmbeddings,
    pack_embeddings,
    check_complete,
    dataset_name,
    embed_to_shard,
    id_from_dataset_name,
    length_batches,
    load_embeddings,
    plan_shards,
)

ODD_IDS = [
    "sp|P0A7V0|RS2_ECOLI",
    "WP_000000001.1",
    "a/b/c",
    ".hidden",
    "..",
    "100%",
    "with space",
    "ünïcode",
    "tr|A0A0%2F|X",
]


def protein(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(STANDARD_AA), size=n))


def records(rng: np.random.Generator, lengths: Sequence[int], prefix: str = "P") -> list[tuple[str, str]]:
    return [(f"{prefix}{i}", protein(rng, n)) for i, n in enumerate(lengths)]


class LimitedEmbedder(Embedder):
    """A model with its own length limit (like ESM-2's 1022) that records the batches it sees."""

    kind = "test_limited"
    dim = 3
    max_residues = 1022

    def __init__(self, fail_on_batch: int | None = None, scale: float = 1.0) -> None:
        super().__init__("limited", {"kind": self.kind}, RuntimeOptions())
        self.batches: list[list[int]] = []
        self.fail_on_batch = fail_on_batch
        self.scale = scale

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        if self.fail_on_batch is not None and len(self.batches) == self.fail_on_batch:
            raise RuntimeError("simulated crash")
        self.batches.append([len(s) for s in sequences])
        return [
            np.stack([np.arange(len(s)), np.full(len(s), len(s)), [ord(c) for c in s]], axis=1).astype(np.float32)
            * self.scale
            for s in sequences
        ]


@pytest.fixture()
def blosum() -> Embedder:
    return build_embedder("blosum", {"kind": "blosum62"})


# --------------------------------------------------------------------------- planning


def test_plan_shards_balanced_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    lengths = [int(x) for x in rng.integers(40, 1000, size=500)]
    ids = [f"P{i}" for i in range(len(lengths))]
    for n_shards in (1, 3, 7, 50, 500):
        plan = plan_shards(ids, lengths, n_shards)
        loads = np.bincount(plan, weights=lengths, minlength=n_shards)
        assert loads.sum() == sum(lengths)
        assert loads.max() <= loads.mean() + max(lengths)
        assert (np.bincount(plan, minlength=n_shards) >= 1).all()
        assert plan == plan_shards(ids, lengths, n_shards)
        # Same (id, length) pairs in another order: same shard for every id.
        perm = rng.permutation(len(ids))
        shuffled = plan_shards([ids[i] for i in perm], [lengths[i] for i in perm], n_shards)
        assert {ids[i]: s for i, s in zip(perm, shuffled, strict=True)} == dict(zip(ids, plan, strict=True))
    # Greedy onto the lightest shard (not round-robin): one long protein balances nine short ones.
    assert plan_shards([f"s{i}" for i in range(10)], [9] + [1] * 9, 2) == [0] + [1] * 9
    # Balanced far better than the bound on this easy case.
    loads = np.bincount(plan_shards(ids, lengths, 7), weights=lengths)
    assert loads.max() - loads.min() < max(lengths)


def test_plan_shards_fewer_proteins_than_shards() -> None:
    plan = plan_shards(["a", "b"], [10, 20], 4)
    assert sorted(plan) == [0, 1] and plan[1] == 0
    assert plan_shards([], [], 3) == []
    with pytest.raises(InputError, match="duplicate.*'?a"):
        plan_shards(["a", "a"], [1, 2], 2)
    with pytest.raises(ValueError):
        plan_shards(["a"], [1], 0)


def test_length_batches_respect_budget() -> None:
    rng = np.random.default_rng(2)
    lengths = [int(x) for x in rng.integers(1, 1500, size=300)]
    budget = 4000
    batches = length_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths, reverse=True)
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert longest * len(b) <= budget or len(b) == 1
    # Greedy packing is tight: the next protein would not have fit.
    for b, nxt in zip(batches, batches[1:]):
        assert max(lengths[i] for i in b) * (len(b) + 1) > budget
    assert length_batches([5000, 10, 10], 100) == [[0], [1, 2]]
    assert length_batches([], 100) == []


# --------------------------------------------------------------------------- writing / reading


def test_round_trip_float16(tmp_path: Path, blosum: Embedder) -> None:
    rng = np.random.default_rng(3)
    recs = records(rng, [50, 120, 7, 300, 64])
    path = tmp_path / "shard_0.h5"
    embed_to_shard(
        blosum,
        recs,
        path,
        tokens_per_batch=400,
        max_length=1000,
        long_policy="drop",
        progress=False,
        extra_attrs={"shard": 0, "n_shards": 1},
    )
    loaded = load_embeddings([path])
    assert set(loaded) == {rid for rid, _ in recs}
    for rid, seq in recs:
        want = blosum.embed_batch([seq])[0]
        assert loaded[rid].dtype == np.float16 and loaded[rid].shape == want.shape
        np.testing.assert_array_equal(loaded[rid], want.astype(np.float16))
    with EmbeddingReader([path]) as reader:
        assert reader.dim == 20 and len(reader) == 5 and "P0" in reader and "nope" not in reader
        assert reader.provenance["embedder"] == "blosum" and reader.provenance["kind"] == "blosum62"
        assert reader.provenance["policy"] == "drop" and reader.provenance["max_length"] == 1000
        assert reader.shard_attrs[0]["shard"] == 0 and reader.shard_attrs[0]["complete"] is True
        assert reader.attrs("P3") == {
            "id": "P3",
            "original_length": 300,
            "embedded_length": 300,
            "cropped": False,
            "policy": "drop",
        }
        # Streaming: storage order is longest first; a subset comes in the order asked.
        assert reader.ids == ["P3", "P1", "P4", "P0", "P2"]
        assert [pid for pid, _ in reader.iter(["P2", "P0"])] == ["P2", "P0"]
    with EmbeddingReader([path]) as reader:
        assert [pid for pid, _ in reader.iter(["P4"])] == ["P4"]
    with pytest.raises(InputError, match="1 protein.*no embedding.*P9"):
        load_embeddings([path], ["P0", "P9"])


def test_long_protein_cropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    long_seq = protein(rng, 5000)
    recs = [("long", long_seq), ("short", protein(rng, 80))]
    # The model's own limit (1022) is stricter than max_length (2000).
    model = LimitedEmbedder()
    path = tmp_path / "s.h5"
    embed_to_shard(model, recs, path, tokens_per_batch=2048, max_length=2000, long_policy="crop", progress=False)
    with EmbeddingReader([path]) as reader:
        emb = reader["long"]
        assert emb.shape == (1022, 3)
        assert reader.attrs("long") == {
            "id": "long",
            "original_length": 5000,
            "embedded_length": 1022,
            "cropped": True,
            "policy": "crop",
        }
        assert reader.attrs("short")["cropped"] is False
        assert reader.provenance["length_limit"] == 1022
        # The model saw the cropped sequence: N-terminal 511 + C-terminal 511 residues.
        seen = "".join(chr(int(c)) for c in emb[:, 2].astype(np.float32))
        assert seen == crop_sequence(long_seq, 1022) == long_seq[:511] + long_seq[-511:]
    assert model.batches == [[1022, 80]]
    # Weight-free embedder, no model limit: crop to max_length.
    onehot = build_embedder("oh", {"kind": "onehot"})
    embed_to_shard(onehot, recs, path, tokens_per_batch=2048, max_length=1000, long_policy="crop", progress=False)
    summary = check_complete([path], {"long": 1000, "short": 80})
    assert summary["n_cropped"] == 1 and summary["n_residues"] == 1080 and summary["dim"] == 21


@pytest.mark.parametrize("policy", ["drop", "error"])
def test_long_protein_refused_without_crop(tmp_path: Path, blosum: Embedder, policy: str) -> None:
    rng = np.random.default_rng(5)
    recs = [("ok", protein(rng, 100)), ("too_long", protein(rng, 1001))]
    with pytest.raises(InputError, match="record 'too_long': 1001 residues, more than max_length 1000"):
        embed_to_shard(blosum, recs, tmp_path / "s.h5", 4000, 1000, policy, progress=False)
    # Within max_length but beyond the model's own limit: refused too, not silently cropped.
    with pytest.raises(InputError, match="'too_long'.*accepts \\(1022\\)"):
        embed_to_shard(
            LimitedEmbedder(), [("too_long", protein(rng, 1100))], tmp_path / "s.h5", 4000, 2000, policy, progress=False
        )
    assert not (tmp_path / "s.h5").exists()


def test_bad_input_named(tmp_path: Path, blosum: Embedder) -> None:
    with pytest.raises(InputError, match="record 'P7'.*'J' at position 2"):
        embed_to_shard(blosum, [("P1", "MKV"), ("P7", "MJ")], tmp_path / "s.h5", 100, None, "crop", progress=False)
    with pytest.raises(InputError, match="duplicate protein id.*P1"):
        embed_to_shard(blosum, [("P1", "MKV"), ("P1", "MKL")], tmp_path / "s.h5", 100, None, "crop", progress=False)
    with pytest.raises(InputError, match="long_policy"):
        embed_to_shard(blosum, [("P1", "MKV")], tmp_path / "s.h5", 100, None, "truncate", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    recs = records(rng, [100] * 6)
    path = tmp_path / "emb" / "shard_0.h5"
    with pytest.raises(RuntimeError, match="simulated crash"):
        embed_to_shard(
            LimitedEmbedder(fail_on_batch=1),
            recs,
            path,
            tokens_per_batch=200,
            max_length=None,
            long_policy="crop",
            progress=False,
        )
    assert not path.exists()
    assert not path.parent.exists() or list(path.parent.iterdir()) == []  # no temporary file left behind
    # Non-finite output (fp16 overflow) is refused, not stored.
    with pytest.raises(RuntimeError, match="non-finite.*P0"):
        embed_to_shard(LimitedEmbedder(scale=1e4), recs[:1], path, 200, None, "crop", progress=False)
    assert not path.exists()


FULL_DISK = """
import resource, signal, sys
import numpy as np
from locfusion.embedders import build_embedder
from locfusion.errors import exit_on_input_error
from locfusion.store import embed_to_shard

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as a full disk fails with ENOSPC
rng = np.random.default_rng(0)
records = [(f"P{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 900))) for i in range(300)]
embedder = build_embedder("blosum", {"kind": "blosum62"})
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the shard needs ~11 MB
with exit_on_input_error():
    embed_to_shard(embedder, records, sys.argv[1], 4000, None, "crop", progress=False)
"""


def test_no_room_on_disk_is_one_line_naming_the_shard(tmp_path: Path) -> None:
    """Written straight to disk, HDF5 printed thousands of error lines and could crash; now one line."""
    import subprocess
    import sys

    path = tmp_path / "emb" / "shard_0.h5"
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        f"locfusion: error: {path}: could not be written (File too large); nothing was left half-written"
    ]
    assert list(path.parent.iterdir()) == []


def test_odd_ids_round_trip(tmp_path: Path, blosum: Embedder) -> None:
    names = [dataset_name(i) for i in ODD_IDS]
    assert all("/" not in n and n not in (".", "..") for n in names)
    assert len(set(names)) == len(names)
    assert [id_from_dataset_name(n) for n in names] == ODD_IDS
    rng = np.random.default_rng(7)
    recs = [(pid, protein(rng, 10 + i)) for i, pid in enumerate(ODD_IDS)]
    path = tmp_path / "odd.h5"
    embed_to_shard(blosum, recs, path, 1000, None, "crop", progress=False)
    loaded = load_embeddings([path])
    assert set(loaded) == set(ODD_IDS)
    for pid, seq in recs:
        assert loaded[pid].shape == (len(seq), 20)
    with h5py.File(path, "r") as f:
        assert sorted(f["embeddings"][n].attrs["id"] for n in f["embeddings"]) == sorted(ODD_IDS)
    check_complete([path], {pid: len(seq) for pid, seq in recs})


def test_batched_equals_one_at_a_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    recs = records(rng, [int(x) for x in rng.integers(5, 400, size=20)])
    for kind in ("onehot", "blosum62", "physchem"):
        emb = build_embedder(kind, {"kind": kind})
        embed_to_shard(emb, recs, tmp_path / "big.h5", 4000, None, "crop", progress=False)
        embed_to_shard(emb, recs, tmp_path / "one.h5", 1, None, "crop", progress=False)
        big, one = load_embeddings([tmp_path / "big.h5"]), load_embeddings([tmp_path / "one.h5"])
        for rid, _ in recs:
            np.testing.assert_array_equal(big[rid], one[rid])


def test_progress_on_stderr(tmp_path: Path, blosum: Embedder, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(9)
    embed_to_shard(blosum, records(rng, [100, 200]), tmp_path / "s.h5", 150, None, "crop", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "res" in captured.err and "2/2 proteins" in captured.err and "100%" in captured.err


# --------------------------------------------------------------------------- checking


def test_shards_and_check_complete(tmp_path: Path, blosum: Embedder) -> None:
    rng = np.random.default_rng(10)
    recs = records(rng, [int(x) for x in rng.integers(40, 500, size=9)])
    ids, lengths = [r for r, _ in recs], [len(s) for _, s in recs]
    n_shards = 12  # more shards than proteins: three stay empty but are valid files
    plan = plan_shards(ids, lengths, n_shards)
    paths = [tmp_path / f"shard_{k}.h5" for k in range(n_shards)]
    for k, path in enumerate(paths):
        embed_to_shard(
            blosum,
            [r for r, s in zip(recs, plan, strict=True) if s == k],
            path,
            1000,
            1000,
            "drop",
            progress=False,
            extra_attrs={"shard": k},
        )
    expected = dict(zip(ids, lengths, strict=True))
    summary = check_complete(paths, expected)
    assert summary["n_shards"] == n_shards and summary["n_proteins"] == 9
    assert summary["n_residues"] == sum(lengths) and summary["dim"] == 20 and summary["n_cropped"] == 0
    assert summary["provenance"]["embedder"] == "blosum" and "shard" not in summary["provenance"]
    assert len(load_embeddings(paths)) == 9
    assert check_complete(paths[-1:], {})["n_proteins"] == 0  # an empty shard alone

    with pytest.raises(InputError, match=r"1 missing: GONE\b"):
        check_complete(paths, {**expected, "GONE": 5})
    with pytest.raises(InputError, match=rf"1 with a wrong length: P0 \({lengths[0]} stored, 7 expected\)"):
        check_complete(paths, {**expected, "P0": 7})
    with pytest.raises(InputError, match=r"2 unexpected: P1, P2"):
        check_complete(paths, {k: v for k, v in expected.items() if k not in ("P1", "P2")})
    # All three problems in one line, long lists shortened.
    listed = r"'blosum'.*8 missing: Q0, Q1, Q2, Q3, Q4, \.\.\. \(\+3\).*9 unexpected"
    with pytest.raises(InputError, match=listed) as err:
        check_complete(paths, {f"Q{i}": 1 for i in range(8)})
    assert "\n" not in str(err.value)


def test_damaged_bytes_are_caught_by_the_checksum(tmp_path: Path, blosum: Embedder) -> None:
    """4 KiB of garbage inside one protein's array (size unchanged): every read names protein and shard."""
    rng = np.random.default_rng(3)
    recs = records(rng, [3000, 200, 150])  # P0's chunk (3000 x 20 float16 = 120 kB) spans the damage
    path = tmp_path / "shard_0.h5"
    embed_to_shard(blosum, recs, path, 4000, None, "crop", progress=False)
    expected = {pid: len(seq) for pid, seq in recs}
    assert check_complete([path], expected)["n_without_checksum"] == 0
    with h5py.File(path, "r") as h5:
        offset = h5["embeddings"]["P0"].id.get_chunk_info(0).byte_offset
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(offset + 40_000)
        fh.write(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    assert path.stat().st_size == size
    damaged = rf"embedding of 'P0' in shard {path} is damaged"
    with pytest.raises(InputError, match=damaged):
        check_complete([path], expected)
    with pytest.raises(InputError, match=damaged):
        load_embeddings([path])
    assert load_embeddings([path], ["P1", "P2"]).keys() == {"P1", "P2"}  # the others are intact


def test_non_finite_values_are_refused_on_read(tmp_path: Path, blosum: Embedder) -> None:
    rng = np.random.default_rng(4)
    path = tmp_path / "shard_0.h5"
    recs = records(rng, [30, 20])
    embed_to_shard(blosum, recs, path, 1000, None, "crop", progress=False)
    with h5py.File(path, "r+") as h5:  # written through HDF5, so the checksum matches: only the values are bad
        h5["embeddings"]["P1"][3, 2] = np.nan
    message = rf"embedding of 'P1' in shard {path} holds non-finite values"
    with pytest.raises(InputError, match=message):
        check_complete([path], {pid: len(seq) for pid, seq in recs})
    with pytest.raises(InputError, match=message):
        load_embeddings([path])


def test_unusable_shards_refused(tmp_path: Path, blosum: Embedder) -> None:
    good = tmp_path / "good.h5"
    embed_to_shard(blosum, [("P1", "MKV")], good, 100, None, "crop", progress=False)
    incomplete = tmp_path / "incomplete.h5"
    embed_to_shard(blosum, [("P2", "MKV")], incomplete, 100, None, "crop", progress=False)
    with h5py.File(incomplete, "a") as f:
        f.attrs["complete"] = False
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    for path, why in [
        (incomplete, "incomplete"),
        (garbage, "unreadable"),
        (foreign, "not a locfusion"),
        (tmp_path / "absent.h5", "does not exist"),
    ]:
        with pytest.raises(InputError, match=f"{path.name}.*{why}|{why}.*{path.name}"):
            check_complete([good, path], {"P1": 3, "P2": 3})
    # The same protein in two shards.
    embed_to_shard(blosum, [("P1", "MKV")], tmp_path / "dup.h5", 100, None, "crop", progress=False)
    with pytest.raises(InputError, match="'P1' is stored twice"):
        EmbeddingReader([good, tmp_path / "dup.h5"])
    # Shards from different embedders do not mix.
    other = tmp_path / "other.h5"
    embed_to_shard(build_embedder("oh", {"kind": "onehot"}), [("P3", "MKV")], other, 100, None, "crop", progress=False)
    with pytest.raises(InputError, match="made differently.*dim: 20 vs 21"):
        EmbeddingReader([good, other])
    with pytest.raises(InputError, match="no embedding shards"):
        load_embeddings([])


def test_embed_shard_uses_the_embedders_own_tokens_per_batch(tmp_path: Path) -> None:
    """`embedders.<name>.tokens_per_batch` overrides `embed.tokens_per_batch` (recorded in the shard)."""

    from locfusion.pipeline import embed_shard

    pd.DataFrame({"id": ["A", "B"], "sequence": ["MKV" * 20, "MLA" * 30], "length": [60, 90]}).to_csv(
        tmp_path / "dataset.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ["A", "B"], "shard": [0, 0]}).to_csv(tmp_path / "shards.tsv", sep="\t", index=False)
    settings = {"tokens_per_batch": 8192, "device": "cpu", "precision": "fp32"}
    filters = {"max_length": 1000, "long_policy": "drop"}
    for spec, expected in (({"kind": "blosum62"}, 8192), ({"kind": "blosum62", "tokens_per_batch": 128}, 128)):
        out = tmp_path / f"shard_{expected}.h5"
        embed_shard(str(tmp_path / "dataset.tsv"), str(tmp_path / "shards.tsv"), 0, "b", spec, settings, filters,
                    str(out), threads=1)
        with h5py.File(out) as h5:
            assert h5.attrs["tokens_per_batch"] == expected and len(next(iter(h5.values()))) == 2


def test_packed_embeddings_are_the_shards_memory_mapped(tmp_path: Path, blosum: Embedder) -> None:
    """What training maps (one array + index) holds exactly what the shards hold, without a copy."""
    rng = np.random.default_rng(12)
    recs = records(rng, [int(x) for x in rng.integers(20, 300, size=12)], prefix="Q")
    recs[3] = ("NA", recs[3][1])  # an id pandas would read as missing
    paths = [tmp_path / f"shard_{k}.h5" for k in range(2)]
    for k, path in enumerate(paths):
        embed_to_shard(blosum, recs[k::2], path, 500, None, "crop", progress=False)
    summary = pack_embeddings(paths, tmp_path / "packed.npy", tmp_path / "packed.tsv")
    assert summary == {"n_proteins": 12, "n_residues": sum(len(s) for _, s in recs), "dim": 20}
    packed, loaded = PackedEmbeddings(tmp_path / "packed.npy", tmp_path / "packed.tsv"), load_embeddings(paths)
    assert set(packed) == set(loaded) and "NA" in packed and "nope" not in packed
    for pid, array in loaded.items():
        view = packed[pid]
        assert isinstance(view, np.memmap) and view.dtype == np.float16 and np.array_equal(view, array)
    packed.verify(loaded)
    index = pd.read_csv(tmp_path / "packed.tsv", sep="\t", keep_default_na=False)
    row = int(index.loc[index["id"] == "Q5", "offset"].iloc[0]) + 1
    header = (tmp_path / "packed.npy").stat().st_size - summary["n_residues"] * 20 * 2
    with open(tmp_path / "packed.npy", "r+b") as handle:  # one value of Q5 damaged on disk
        handle.seek(header + row * 40 + 6)
        handle.write(np.float16(1234.5).tobytes())
    damaged = PackedEmbeddings(tmp_path / "packed.npy", tmp_path / "packed.tsv")
    damaged.verify(["Q1", "Q2"])
    with pytest.raises(InputError, match=r"packed embedding of 'Q5' in .*packed.npy is damaged \(CRC-32 mismatch\)"):
        damaged.verify(loaded)
    (tmp_path / "short.tsv").write_text("id\toffset\tlength\nQ0\t0\t5\n")  # an index of another array
    with pytest.raises(InputError, match="packed embeddings .* do not match their index"):
        PackedEmbeddings(tmp_path / "packed.npy", tmp_path / "short.tsv")


def test_training_on_mapped_embeddings_equals_training_on_preloaded_ones(tmp_path: Path, blosum: Embedder) -> None:
    from locfusion.classes import CLASSES
    from locfusion.training import ExperimentSpec, ProteinSet, TrainingSettings, train_fold

    rng = np.random.default_rng(13)
    recs = records(rng, [int(x) for x in rng.integers(20, 120, size=40)])
    embed_to_shard(blosum, recs, tmp_path / "s.h5", 2000, None, "crop", progress=False)
    pack_embeddings([tmp_path / "s.h5"], tmp_path / "p.npy", tmp_path / "p.tsv")
    table = pd.DataFrame({"id": [r for r, _ in recs], "label": [CLASSES[i % 3] for i in range(40)],
                          "group": "negative", "fold": [i % 5 for i in range(40)]})
    spec = ExperimentSpec("t", "attention_pooling", ("blosum",), {"hidden_dim": 8})
    settings = TrainingSettings(epochs=2, patience=2, batch_size=8, seed=1)
    models = []
    for name, store in (("mapped", PackedEmbeddings(tmp_path / "p.npy", tmp_path / "p.tsv")),
                        ("preloaded", load_embeddings([tmp_path / "s.h5"]))):
        train, val = (ProteinSet(table[mask], [store], ["blosum"]) for mask in (table.fold != 0, table.fold == 0))
        models.append(train_fold(spec, settings, train, val, tmp_path / f"{name}.pt")[0].state_dict())
    for key in models[0]:
        assert torch.equal(models[0][key], models[1][key]), key
