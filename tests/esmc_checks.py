"""Checks of the esmc embedder that must run inside .venv-esmc (EvolutionaryScale's esm).

The test process has fair-esm's `esm`, so tests/test_esmc.py runs
`.venv-esmc/bin/python tests/esmc_checks.py CHECK ARGS...` and asserts on the
JSON this prints: measured values, never verdicts decided here.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

# A tiny ESM C for tests: 2 heads of ESM C's width (64), 2 blocks.
TINY = {"d_model": 128, "n_heads": 2, "n_layers": 2}
SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "MA", "MKXUZBOACDEFGHIKLMNPQRSTVWY" * 3]


def make_tiny(out: str) -> dict:
    """Build a randomly initialised ESM C from the package's own classes and save its state dict."""
    from esm.models.esmc import ESMC
    from esm.tokenization import get_esmc_model_tokenizers

    torch.manual_seed(0)
    net = ESMC(**TINY, tokenizer=get_esmc_model_tokenizers(), use_flash_attn=False)
    torch.save(net.state_dict(), out)
    return {"sha256": hashlib.sha256(Path(out).read_bytes()).hexdigest()}


def embedder(model: str):
    from locfusion.embedders import build_embedder

    return build_embedder("esmc_test", {"kind": "esmc", "model": model})


def manual_rows(net, seq: str) -> np.ndarray:
    """The model's output for BOS + seq + EOS, token ids from the vocabulary by hand (all rows)."""
    vocab = net.tokenizer.get_vocab()
    ids = [vocab["<cls>"]] + [vocab[c] for c in seq] + [vocab["<eos>"]]
    with torch.inference_mode():
        return net(sequence_tokens=torch.tensor([ids])).embeddings[0].float().numpy()


def embed(weights: str) -> dict:
    emb = embedder(weights)
    out = emb.embed_batch(SEQS)
    again = emb.embed_batch(SEQS)
    rebuilt = embedder(weights).embed_batch(SEQS)
    singles = [emb.embed_batch([s])[0] for s in SEQS]
    manual = [manual_rows(emb.model, s) for s in SEQS]
    return {
        "dim": emb.dim,
        "shapes": [list(a.shape) for a in out],
        "lengths": [len(s) for s in SEQS],
        "dtype": str(out[0].dtype),
        "manual_rows": [m.shape[0] for m in manual],
        "max_diff_manual_stripped": max(float(np.abs(a - m[1:-1]).max()) for a, m in zip(out, manual)),
        "min_diff_manual_shifted": min(float(np.abs(a - m[:-2]).max()) for a, m in zip(out, manual)),
        "max_diff_repeat": max(float(np.abs(a - b).max()) for a, b in zip(out, again)),
        "max_diff_rebuilt": max(float(np.abs(a - b).max()) for a, b in zip(out, rebuilt)),
        "max_diff_batched_single": max(float(np.abs(a - b).max()) for a, b in zip(out, singles)),
        "provenance": {k: v for k, v in emb.provenance().items() if isinstance(v, (str, int, float, bool))},
        "max_residues": emb.max_residues,
    }


def crop(weights: str, shard: str) -> dict:
    """A protein longer than the model's limit, through the store (long_policy crop)."""
    from locfusion.errors import InputError
    from locfusion.sequence import crop_sequence
    from locfusion.store import embed_to_shard, load_embeddings

    emb = embedder(weights)
    rng = np.random.default_rng(0)
    long = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=emb.max_residues + 60))
    embed_to_shard(emb, [("long", long)], shard, tokens_per_batch=4096, max_length=None, long_policy="crop",
                   progress=False)
    stored = load_embeddings([shard])["long"].astype(np.float32)
    direct = emb.embed_batch([crop_sequence(long, emb.max_residues)])[0]
    try:
        emb.embed_batch([long])
        refused = ""
    except InputError as exc:
        refused = str(exc)
    return {"length": len(long), "stored_rows": stored.shape[0], "max_residues": emb.max_residues,
            "max_diff_stored_direct": float(np.abs(stored - direct).max()), "uncropped_error": refused}


def named_through_same_loader(weights: str, root: str) -> dict:
    """A released name resolves to a file in esm's snapshot, then loads exactly as a path does.

    esm's `data_root` (the Hugging Face download) is replaced by a folder holding the tiny
    weights under the 300M file name: the shape check must refuse it as esmc_300m; a name
    registered with the tiny shape must embed exactly as the path does.
    """
    import shutil

    from locfusion.embedders import esmc
    from locfusion.errors import InputError

    entry = esmc.NAMED_MODELS["esmc_300m"]
    target = Path(root) / entry.weights
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(weights, target)
    saved = esmc.data_root
    esmc.data_root = lambda key: Path(root) if key == entry.data_key else None
    try:
        try:
            embedder("esmc_300m")
            wrong_shape = ""
        except InputError as exc:
            wrong_shape = str(exc)
        esmc.NAMED_MODELS["esmc_tiny"] = esmc.NamedModel(entry.data_key, entry.weights, esmc.ESMCShape(**TINY))
        by_name, by_path = embedder("esmc_tiny"), embedder(weights)
        a, b = by_name.embed_batch(SEQS[:2]), by_path.embed_batch(SEQS[:2])
    finally:
        esmc.data_root = saved
        esmc.NAMED_MODELS.pop("esmc_tiny", None)
    return {"wrong_shape": wrong_shape, "max_diff_name_path": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
            "sha_name": by_name.provenance()["weights_sha256"], "sha_path": by_path.provenance()["weights_sha256"],
            "weights_name": by_name.provenance()["weights"]}


def package_shapes() -> dict:
    """The shapes esm.pretrained builds each released ESM C with, and the file it reads, without weights."""
    import esm.pretrained as pretrained

    from locfusion.embedders.esmc import NAMED_MODELS

    class Built(Exception):
        pass

    seen: dict = {}

    def record_model(**kwargs):
        seen["shape"] = [kwargs["d_model"], kwargs["n_heads"], kwargs["n_layers"]]
        return torch.nn.Linear(1, 1)

    def record_load(path, **kwargs):
        seen["file"] = str(path)
        raise Built

    saved = pretrained.ESMC, pretrained.data_root, torch.load
    pretrained.ESMC = record_model
    pretrained.data_root = lambda key: Path("/ROOT") / key
    torch.load = record_load  # (the module esm.pretrained calls it as torch.load)
    out = {}
    try:
        for name, builder in pretrained.LOCAL_MODEL_REGISTRY.items():
            if not name.startswith("esmc"):
                continue
            seen.clear()
            try:
                builder("cpu")
            except Built:
                pass
            ours = NAMED_MODELS[name]
            out[name] = {"package": dict(seen),
                         "ours": {"shape": [ours.shape.d_model, ours.shape.n_heads, ours.shape.n_layers],
                                  "file": str(Path("/ROOT") / ours.data_key / ours.weights)}}
    finally:
        pretrained.ESMC, pretrained.data_root, torch.load = saved
    return out


def errors(weights: str, scratch: str) -> dict:
    """The one-line message of each bad model reference."""
    from locfusion.errors import InputError

    not_torch = Path(scratch) / "notes.pth"
    not_torch.write_text("not a checkpoint\n")
    other = Path(scratch) / "other.pth"
    torch.save({"layer.weight": torch.zeros(2, 2)}, other)
    cases = {"missing": str(Path(scratch) / "missing.pth"), "not_torch": str(not_torch), "not_esmc": str(other),
             "unknown_name": "esmc_9000m", "offline_name": "esmc_600m"}
    out = {}
    for case, model in cases.items():
        try:
            embedder(model)
            out[case] = ""
        except InputError as exc:
            out[case] = str(exc)
    return out


def several(calls: str) -> dict:
    """Several checks in one process (importing esm takes seconds): JSON [[check, args...], ...]."""
    return {call[0]: globals()[call[0]](*call[1:]) for call in json.loads(calls)}


if __name__ == "__main__":
    check, *args = sys.argv[1:]
    print(json.dumps(globals()[check](*args)))
