"""Tiny, randomly initialised protein language models saved in their real on-disk formats.

Model hubs are unreachable in tests, so these builders write a fair-esm ESM-2
checkpoint and a transformers ProstT5-style directory (T5 encoder + tokenizer)
that the embedders then load by path through exactly the code users run.
Seeds are fixed, so the same files come out every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWYXUZOB"  # the 25 residue letters of ProstT5's AA vocabulary
THREE_DI = "acdefghiklmnpqrstvwy"  # ProstT5's 20 lower-case 3Di letters
TINY_ESM2_LAYERS = 2


def make_tiny_esm2_checkpoint(directory: str | Path, *, with_regression: bool = True, seed: int = 0) -> Path:
    """Write `esm2_t2_tiny_UR50D.pt` (2 layers, 32-d, 4 heads; + its contact-regression file)."""
    return make_esm2_checkpoint(
        directory,
        num_layers=TINY_ESM2_LAYERS,
        embed_dim=32,
        attention_heads=4,
        name="esm2_t2_tiny_UR50D",
        with_regression=with_regression,
        seed=seed,
    )


def make_esm2_checkpoint(
    directory: str | Path,
    *,
    num_layers: int,
    embed_dim: int,
    attention_heads: int,
    name: str,
    with_regression: bool = True,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised ESM-2 as fair-esm's `load_model_and_alphabet_local` reads it.

    Layout of the published ESM-2 files: {"model": state_dict, "cfg": {"model":
    Namespace(encoder_layers, encoder_embed_dim, encoder_attention_heads,
    token_dropout)}}; the file name must start with `esm2` for fair-esm to build
    an ESM2. The regression weights live in `<stem>-contact-regression.pt`.
    """
    import esm

    torch.manual_seed(seed)
    model = esm.model.esm2.ESM2(
        num_layers=num_layers,
        embed_dim=embed_dim,
        attention_heads=attention_heads,
        alphabet=esm.data.Alphabet.from_architecture("ESM-1b"),
        token_dropout=True,
    )
    state = model.state_dict()
    regression = {k: state.pop(k) for k in list(state) if k.startswith("contact_head.regression")}
    # The published files keep the fairseq prefix that fair-esm strips on load.
    state = {f"encoder.sentence_encoder.{k}": v for k, v in state.items()}
    cfg = argparse.Namespace(
        encoder_layers=num_layers, encoder_embed_dim=embed_dim, encoder_attention_heads=attention_heads, token_dropout=True
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pt"
    torch.save({"model": state, "cfg": {"model": cfg}}, path)
    if with_regression:
        torch.save({"model": regression}, directory / f"{name}-contact-regression.pt")
    return path


def tiny_prostt5_parts(letters: list[str], seed: int) -> tuple[object, dict]:
    """ProstT5's word-level tokenizer over `letters` (+ pad/eos/unk and the two prefixes) and the
    tiny T5 shape both fixtures share (the seed is set for the model built from it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for token in [*letters, "<AA2fold>", "<fold2AA>"]:
        vocab[token] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=["<AA2fold>", "<fold2AA>"],
    )
    torch.manual_seed(seed)
    shape = dict(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, relative_attention_max_distance=32, dropout_rate=0.0,
                 feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return tokenizer, shape


def make_tiny_prostt5_dir(directory: str | Path, *, seed: int = 0) -> Path:
    """Write a ProstT5-shaped model directory: a tiny `T5EncoderModel` plus a word-level tokenizer.

    The tokenizer has ProstT5's AA-mode conventions: special tokens pad/eos/unk,
    the 25 residue letters and the `<AA2fold>` / `<fold2AA>` prefixes, input as
    space-separated residues, `</s>` appended. Uppercase 3Di letters are absent
    on purpose: only AA mode is used.
    """
    from transformers import T5Config, T5EncoderModel

    tokenizer, shape = tiny_prostt5_parts(list(AMINO_ACIDS), seed)
    config = T5Config(**shape)
    model = T5EncoderModel(config).eval()
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_tiny_prostt5_seq2seq_dir(directory: str | Path, *, seed: int = 0, **shape: object) -> Path:
    """Write a ProstT5-shaped encoder-decoder directory: a tiny `T5ForConditionalGeneration` + tokenizer.

    As the published ProstT5: one vocabulary for both directions, upper-case
    residue letters, lower-case 3Di letters, the `<AA2fold>` / `<fold2AA>`
    prefixes, `</s>` appended, pad (id 0) starting the decoder. The tokenizer is
    a word-level one (ProstT5's is sentencepiece) with the same token per
    space-separated letter, which is all the embedder relies on. `shape` overrides
    T5Config fields (benchmarks/prostt5_3di.py builds ProstT5's real width this way).
    """
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer, base = tiny_prostt5_parts([*AMINO_ACIDS, *THREE_DI], seed)
    config = T5Config(**base, num_decoder_layers=2, tie_word_embeddings=False)
    config.update(dict(shape))
    model = T5ForConditionalGeneration(config).eval()
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
