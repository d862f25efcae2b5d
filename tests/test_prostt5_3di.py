"""ProstT5 in 3Di mode, offline: a tiny random encoder-decoder ProstT5 loaded by path.

The tiny model's translations mean nothing; what is tested is the machinery the
real ProstT5 runs through: one 3Di letter per residue, only 3Di letters (even when
the model prefers others), deterministic decoding, encoder rows aligned with
residues, provenance, one-line errors, and the 3Di FASTA written from the shards.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from locfusion.embedders import RuntimeOptions, build_embedder
from locfusion.errors import InputError
from locfusion.fasta import read_plain_fasta

from plm_fixtures import THREE_DI, make_tiny_prostt5_dir, make_tiny_prostt5_seq2seq_dir

transformers = pytest.importorskip("transformers")

# One thread: the tiny model's decoding is all per-step overhead, which extra threads only slow.
FP32 = RuntimeOptions(device="cpu", precision="fp32", threads=1)
SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQ",
    "M",
    "MKV",
    "ACDEFGHIKLMNPQRSTVWYXUZBO",
    "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGRRQPIPKARRPEGRTWAQ",
]


def three_di(model_dir, **spec):
    return build_embedder("p3di", {"kind": "prostt5_3di", "model": str(model_dir), **spec}, FP32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_prostt5_seq2seq_dir(tmp_path_factory.mktemp("prostt5_3di"))


@pytest.fixture(scope="module")
def embedder(model_dir):
    return three_di(model_dir)


def test_translation_is_one_3di_letter_per_residue_and_deterministic(embedder, model_dir):
    first = embedder.translate(SEQS)
    assert [len(t) for t in first] == [len(s) for s in SEQS]
    assert all(set(t) <= set(THREE_DI) for t in first)
    assert embedder.translate(SEQS) == first  # same embedder twice
    assert three_di(model_dir).translate(SEQS) == first  # and a fresh one
    assert [embedder.translate([s])[0] for s in SEQS] == first  # batch padding changes nothing


def test_only_3di_letters_even_when_the_model_prefers_others(model_dir, tmp_path):
    """Zero the output rows of the 3Di letters: every other token (residues, prefixes, </s>) then
    outscores them, so unconstrained decoding never writes 3Di, and ours must still give L letters."""
    model = transformers.T5ForConditionalGeneration.from_pretrained(model_dir).eval()
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    letter_ids = tok.convert_tokens_to_ids(list(THREE_DI))
    with torch.no_grad():
        model.lm_head.weight[letter_ids] = 0.0
        model.lm_head.weight[[i for i in range(model.config.vocab_size) if i not in letter_ids]] += 0.5
    biased = tmp_path / "biased"
    model.save_pretrained(biased)
    tok.save_pretrained(biased)
    from locfusion.embedders.prostt5 import prostt5_input

    enc = tok([prostt5_input(SEQS[0])], return_tensors="pt")
    free = model.generate(**enc, max_new_tokens=len(SEQS[0]) + 1, do_sample=False, num_beams=1)[0, 1:].tolist()
    assert not set(free) & set(letter_ids)  # the constraint below has work to do
    translated = three_di(biased).translate(SEQS)
    assert [len(t) for t in translated] == [len(s) for s in SEQS]
    assert all(set(t) <= set(THREE_DI) for t in translated)


def test_beam_search_and_seeded_sampling(model_dir):
    beams = three_di(model_dir, num_beams=3).translate(SEQS)
    assert [len(t) for t in beams] == [len(s) for s in SEQS] and all(set(t) <= set(THREE_DI) for t in beams)
    spec = {"do_sample": True, "temperature": 20.0, "top_p": 0.99, "repetition_penalty": 1.2}
    long = [SEQS[-1]]
    a = three_di(model_dir, seed=1, **spec).translate(long)
    assert three_di(model_dir, seed=1, **spec).translate(long) == a  # seeded: reproducible
    b = three_di(model_dir, seed=2, **spec).translate(long)
    assert a != b and len(set(a[0])) > 3  # and sampling really samples
    assert len(a[0]) == len(b[0]) == len(long[0]) and set(a[0] + b[0]) <= set(THREE_DI)


def test_embedding_is_the_encoder_on_the_3di_without_prefix_and_end_rows(embedder, model_dir):
    from locfusion.embedders.prostt5_3di import fold_input

    arrays, side = embedder.embed_with_side(SEQS)
    assert [a.shape for a in arrays] == [(len(s), 32) for s in SEQS] and embedder.dim == 32
    assert [s["3di"] for s in side] == embedder.translate(SEQS)
    for i in (0, 4):
        np.testing.assert_allclose(embedder.embed_batch([SEQS[i]])[0], arrays[i], atol=1e-4)  # batched = single
    assert fold_input("dvLa") == "<fold2AA> d v l a"
    model = transformers.T5EncoderModel.from_pretrained(model_dir).eval()  # the encoder half of the same weights
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    enc = tok([fold_input(side[0]["3di"])], return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    assert ids[0] == tok.convert_tokens_to_ids("<fold2AA>") and ids[-1] == tok.eos_token_id
    with torch.no_grad():
        full = model(**enc).last_hidden_state[0].numpy()  # prefix, residues, </s>
    np.testing.assert_allclose(arrays[0], full[1:-1], atol=1e-5)
    assert not np.allclose(arrays[0], full[:-2], atol=1e-3)  # keeping the prefix row would show


def test_provenance_records_the_decoding_as_identity(embedder, model_dir):
    from locfusion.bundle import embedder_identity

    prov = embedder.provenance()
    assert prov["kind"] == "prostt5_3di" and prov["model"] == str(model_dir) and len(prov["weights_sha256"]) == 64
    assert json.loads(prov["decoding"]) == {"num_beams": 1, "do_sample": False, "temperature": 1.0, "top_k": 0,
                                           "top_p": 1.0, "repetition_penalty": 1.0, "seed": 0}
    assert "decoding" in prov["identity_keys"].split(",")
    explicit = three_di(model_dir, num_beams=1).provenance()
    assert json.loads(explicit["decoding"]) == json.loads(prov["decoding"])
    beams = three_di(model_dir, num_beams=2).provenance()
    assert any(d.startswith("decoding") for d in embedder_identity(prov, beams))


def test_errors_are_one_line(embedder, model_dir, tmp_path):
    cases = [
        (lambda: embedder.embed_batch(["MK*"]), "invalid residue"),
        (lambda: three_di(make_tiny_prostt5_dir(tmp_path / "enc")), "no trained decoder"),
        (lambda: three_di(tmp_path / "empty_dir_does_not_exist_yet"), "cannot load ProstT5"),
        (lambda: three_di(model_dir, num_beams=0), "num_beams must be an integer >= 1"),
        (lambda: three_di(model_dir, do_sample="yes"), "do_sample must be true or false"),
        (lambda: three_di(model_dir, top_p=1.5), "top_p must be a number in"),
        (lambda: three_di(model_dir, beams=2), "unknown key 'beams' for kind 'prostt5_3di'"),
        (lambda: embedder.embed_three_di(["dvlB"]), "non-3Di letters 'b'"),
        # a translation that is not L letters then </s> names the sequence
        (lambda: embedder._letters(3, [embedder.letter_ids[0], embedder.eos_id], 2), "sequence 3 of the batch"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message) as info:
            call()
        assert "\n" not in str(info.value), str(info.value)


def test_the_shard_keeps_the_3di_and_exports_it_as_fasta(embedder, tmp_path):
    from locfusion.store import EmbeddingReader, embed_to_shard, export_side_fasta

    records = [(f"p{i}|x", s) for i, s in enumerate(SEQS)]
    shard = tmp_path / "shard_0.h5"
    embed_to_shard(embedder, records, shard, tokens_per_batch=64, max_length=40, long_policy="crop", progress=False)
    out = tmp_path / "3di.fasta"
    ids = [pid for pid, _ in records]
    assert export_side_fasta([shard], "3di", out, ids=ids) == len(SEQS)
    fasta = read_plain_fasta(out)
    assert [pid for pid, _ in fasta] == ids
    cropped = [s if len(s) <= 40 else s[:20] + s[-20:] for s in SEQS]
    assert [t for _, t in fasta] == [t.upper() for t in embedder.translate(cropped)]  # the reader upper-cases
    assert f">p4|x cropped_from={len(SEQS[4])}\n" in out.read_text()
    assert all(line.islower() for line in out.read_text().splitlines() if not line.startswith(">"))
    with EmbeddingReader([shard]) as reader:
        assert reader.attrs("p0|x")["side.3di"] == embedder.translate([SEQS[0]])[0]
        np.testing.assert_allclose(reader["p0|x"], embedder.embed_batch([SEQS[0]])[0], atol=2e-2)
    # the rule's entry point: dataset order (here reversed), whatever the shards' order
    from locfusion import pipeline

    dataset = tmp_path / "dataset.tsv"
    dataset.write_text("id\tsequence\n" + "".join(f"{pid}\t{seq}\n" for pid, seq in reversed(records)))
    assert pipeline.export_side_fasta(str(dataset), [str(shard)], "3di", str(tmp_path / "rule.fasta")) == len(SEQS)
    assert read_plain_fasta(tmp_path / "rule.fasta") == list(reversed(fasta))
    plain = build_embedder("oh", {"kind": "onehot"})
    embed_to_shard(plain, records[:2], tmp_path / "onehot.h5", tokens_per_batch=64, max_length=None,
                   long_policy="crop", progress=False)
    with pytest.raises(InputError, match=r"protein 'p0\|x' in shard .*onehot.h5 has no '3di' side text"):
        export_side_fasta([tmp_path / "onehot.h5"], "3di", tmp_path / "no.fasta")
    assert not (tmp_path / "no.fasta").exists()
