"""ProstT5 in 3Di mode: translate each protein to Foldseek's 3Di alphabet, then embed the 3Di string.

Why: ProstT5's encoder reads 3Di (one structural letter per residue) as well as
amino acids, and its 3Di-mode states carry structure-like information; here the
3Di comes from ProstT5's own sequence-to-structure translation, so no predicted
structure and no Foldseek are needed.

Spec keys (the decoding settings are recorded in provenance as `decoding` and are
part of the embedder's identity: another setting gives another 3Di string):
    model: Hugging Face id or local directory of a full (encoder-decoder) ProstT5  [Rostlab/ProstT5]
    num_beams: beam width  [1: greedy]
    do_sample: sample instead of taking the best token  [false]
    temperature, top_k, top_p: sampling only  [1.0, 0 (off), 1.0 (off)]
    repetition_penalty: > 1 discourages repeated letters  [1.0: off]
    seed: torch seed set before each batch when sampling  [0]

Steps, per batch:
1. Translation. `generate` reads `<AA2fold> M K X ...` (the AA-mode input of
   `prostt5_input`). A logits processor allows only the 20 3Di letters for
   generated tokens 1..L of a protein of L residues and only `</s>` after them,
   so each translation is exactly L letters. It does this per protein: plain
   min_length/max_length would force one length for the whole batch. The
   decoder's start token is not counted, `max_new_tokens` = longest L + 1.
2. Embedding. The encoder alone reads `<fold2AA> d v l ...` (lower-case 3Di,
   space-separated); the prefix and `</s>` rows are dropped, leaving L rows.

Each protein's 3Di string is returned beside its embedding (`embed_with_side`),
so the embedding shard stores it (attribute `3di`) and rule export_3di writes
them as FASTA.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import transformers
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, T5ForConditionalGeneration

from ..errors import InputError
from .base import Embedder, RuntimeOptions, register
from .prostt5 import AA_PREFIX, load_prostt5, prostt5_input
from .torch_runtime import check_batch, directory_sha256, precision_name

THREE_DI = "acdefghiklmnpqrstvwy"  # Foldseek's 20 3Di states, lower-case as ProstT5 writes them
FOLD_PREFIX = "<fold2AA>"
SIDE_ATTR = "3di"  # name of the per-protein side attribute (shard dataset attribute, FASTA export)

# Decoding settings and their defaults: deterministic greedy decoding.
DECODING_DEFAULTS: dict[str, Any] = {
    "num_beams": 1,
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "seed": 0,
}


def decoding_settings(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's decoding settings over the defaults, type- and range-checked (one line per problem)."""
    settings = {key: default if spec.get(key) is None else spec[key] for key, default in DECODING_DEFAULTS.items()}
    checks = {
        "num_beams": (isinstance(settings["num_beams"], int) and settings["num_beams"] >= 1, "an integer >= 1"),
        "do_sample": (isinstance(settings["do_sample"], bool), "true or false"),
        "temperature": (_number(settings["temperature"]) and settings["temperature"] > 0, "a number > 0"),
        "top_k": (isinstance(settings["top_k"], int) and settings["top_k"] >= 0, "an integer >= 0 (0: off)"),
        "top_p": (_number(settings["top_p"]) and 0 < settings["top_p"] <= 1, "a number in (0, 1]"),
        "repetition_penalty": (
            _number(settings["repetition_penalty"]) and settings["repetition_penalty"] > 0, "a number > 0"
        ),
        "seed": (isinstance(settings["seed"], int) and not isinstance(settings["seed"], bool), "an integer"),
    }
    for key, (ok, what) in checks.items():
        if not ok or (key != "do_sample" and isinstance(settings[key], bool)):
            raise InputError(f"embedder '{name}': {key} must be {what}, got {settings[key]!r}")
    for key in ("temperature", "top_p", "repetition_penalty"):
        settings[key] = float(settings[key])
    return settings


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fold_input(three_di: str) -> str:
    """The text ProstT5's encoder reads for a 3Di string: `<fold2AA> d v l ...` (lower case)."""
    return f"{FOLD_PREFIX} " + " ".join(three_di.lower())


class ThreeDiOnly(LogitsProcessor):
    """Per row: only 3Di letters for the first `lengths[row]` generated tokens, then only `</s>`.

    Rows are the batch's proteins, each repeated `num_beams` times in a row, as
    `generate` expands them. The current step is the decoded length minus the
    decoder's start token.
    """

    def __init__(self, lengths: Sequence[int], letter_ids: Sequence[int], eos_id: int, num_beams: int) -> None:
        self.lengths = torch.tensor(list(lengths), dtype=torch.long).repeat_interleave(num_beams)
        self.letter_ids = torch.tensor(list(letter_ids), dtype=torch.long)
        self.eos_id = int(eos_id)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - 1
        letters = (self.lengths.to(scores.device) > step).unsqueeze(1)  # rows still inside their protein
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        allowed[:, self.letter_ids.to(scores.device)] = True
        allowed = torch.where(letters, allowed, torch.zeros_like(allowed))
        allowed[:, self.eos_id] = ~letters.squeeze(1)
        return scores.masked_fill(~allowed, float("-inf"))


@register("prostt5_3di")
class ProstT5ThreeDiEmbedder(Embedder):
    """ProstT5 encoder states of the protein's ProstT5-translated 3Di string, one row per residue."""

    max_residues = None  # relative position buckets: no hard limit; the store may still crop
    side_attrs = (SIDE_ATTR,)
    identity_keys = ("model_revision", "decoding")

    def __init__(self, name: str, spec: dict[str, Any], runtime: RuntimeOptions) -> None:
        super().__init__(name, spec, runtime)
        self.decoding = decoding_settings(name, spec)
        self.tokenizer, self.model, found = load_prostt5(name, spec, runtime, T5ForConditionalGeneration,
                                                         "ProstT5 (encoder-decoder)")
        self.device, self.dtype = found["device"], found["dtype"]
        self.model_ref, self.local_dir = found["model_ref"], found["local_dir"]
        loading = found["loading"]
        # An encoder-only checkpoint (e.g. a T5EncoderModel export) loads with a randomly initialised
        # decoder and only a warning: its 3Di would be noise, so it is refused.
        missing = [k for k in loading.get("missing_keys", ()) if k.startswith(("decoder.", "lm_head."))]
        if missing:
            raise InputError(
                f"embedder '{name}': '{self.model_ref}' has no trained decoder ({len(missing)} decoder weights missing, "
                f"e.g. {missing[0]}); 3Di translation needs the full encoder-decoder ProstT5"
            )
        self.dim = int(self.model.config.d_model)
        self.aa_prefix_id = self._single_id(AA_PREFIX, f"the {AA_PREFIX} prefix")
        self.fold_prefix_id = self._single_id(FOLD_PREFIX, f"the {FOLD_PREFIX} prefix")
        self.letter_ids = [self._single_id(letter, f"3Di letter '{letter}'") for letter in THREE_DI]
        self.id_to_letter = dict(zip(self.letter_ids, THREE_DI, strict=True))
        self.eos_id = int(self.tokenizer.eos_token_id)
        config = self.model.config
        start = config.decoder_start_token_id
        # Built whole rather than taken from the model's generation_config.json, so that only
        # the spec decides how the 3Di is decoded; sampling knobs only when sampling.
        sampling = {k: self.decoding[k] for k in ("temperature", "top_k", "top_p")} if self.decoding["do_sample"] else {}
        self.generation = GenerationConfig(
            decoder_start_token_id=config.pad_token_id if start is None else start,
            eos_token_id=self.eos_id,
            pad_token_id=config.pad_token_id,
            num_beams=self.decoding["num_beams"],
            do_sample=self.decoding["do_sample"],
            repetition_penalty=self.decoding["repetition_penalty"],
            **sampling,
        )

    def _single_id(self, text: str, what: str) -> int:
        """The one token id `text` becomes; a tokenizer that splits it or maps it to <unk> is not ProstT5's."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        lone = self.tokenizer.convert_tokens_to_ids("\u2581")  # sentencepiece's word start, if it is a token
        if lone is not None and lone != self.tokenizer.unk_token_id:
            ids = [i for i in ids if i != lone]
        if len(ids) != 1 or ids[0] == self.tokenizer.unk_token_id:
            raise InputError(
                f"embedder '{self.name}': tokenizer of '{self.model_ref}' has no single token for {what} (not ProstT5?)"
            )
        return int(ids[0])

    # ------------------------------------------------------------------ translation

    def translate(self, sequences: Sequence[str]) -> list[str]:
        """Each protein's 3Di string, exactly one lower-case 3Di letter per residue."""
        seqs = check_batch(self.name, sequences, self.max_residues)
        if not seqs:
            return []
        enc = self._encode([prostt5_input(s) for s in seqs], self.aa_prefix_id, seqs, AA_PREFIX)
        lengths = [len(s) for s in seqs]
        if self.decoding["do_sample"]:
            torch.manual_seed(self.decoding["seed"])  # per batch: a job's batches are fixed by the shard plan
        processor = ThreeDiOnly(lengths, self.letter_ids, self.eos_id, self.decoding["num_beams"])
        generation = copy.deepcopy(self.generation)
        generation.max_new_tokens = max(lengths) + 1  # L letters + </s>; the start token is not counted
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
                generation_config=generation,
                logits_processor=LogitsProcessorList([processor]),
            )
        out = out.cpu().tolist()
        return [self._letters(i, row[1:], n) for i, (row, n) in enumerate(zip(out, lengths, strict=True))]

    def _letters(self, index: int, tokens: list[int], length: int) -> str:
        """Decode one generated row (start token dropped): L letters then `</s>`, else one clear error."""
        letters = "".join(self.id_to_letter.get(t, "?") for t in tokens[:length])
        if len(letters) != length or "?" in letters or (len(tokens) > length and tokens[length] != self.eos_id):
            raise InputError(
                f"embedder '{self.name}': 3Di translation of sequence {index} of the batch ({length} residues) "
                f"is not {length} 3Di letters then </s> (got token ids {tokens[: length + 1]})"
            )
        return letters

    # ------------------------------------------------------------------ embedding

    def _encode(self, texts: list[str], prefix_id: int, seqs: Sequence[str], prefix: str) -> Any:
        enc = self.tokenizer(texts, add_special_tokens=True, padding="longest", return_tensors="pt")
        n_tokens = enc["attention_mask"].sum(dim=1).tolist()
        for i, (s, n) in enumerate(zip(seqs, n_tokens, strict=True)):
            # prefix + one token per residue + </s>, or rows would no longer match residues
            if n != len(s) + 2 or int(enc["input_ids"][i, 0]) != prefix_id:
                raise InputError(
                    f"embedder '{self.name}': tokenizer of '{self.model_ref}' gave {n} tokens for sequence {i} "
                    f"of the batch ({len(s)} residues; expected {prefix} + 1 per residue + </s>)"
                )
        return enc

    def embed_three_di(self, three_di: Sequence[str]) -> list[np.ndarray]:
        """Encoder states of 3Di strings (prefix and `</s>` rows dropped): one (L, dim) array each."""
        strings = [s.lower() for s in three_di]
        for i, s in enumerate(strings):
            bad = set(s) - set(THREE_DI)
            if not s or bad:
                raise InputError(
                    f"embedder '{self.name}': 3Di string {i} of the batch is empty or has non-3Di letters "
                    f"{''.join(sorted(bad))!r}"
                )
        if not strings:
            return []
        enc = self._encode([fold_input(s) for s in strings], self.fold_prefix_id, strings, FOLD_PREFIX)
        with torch.inference_mode():
            states = self.model.get_encoder()(
                input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)
            ).last_hidden_state
        states = states.float().cpu()
        return [states[i, 1 : 1 + len(s)].numpy().copy() for i, s in enumerate(strings)]

    def embed_with_side(self, sequences: Sequence[str]) -> tuple[list[np.ndarray], list[dict[str, str]]]:
        three_di = self.translate(sequences)
        return self.embed_three_di(three_di), [{SIDE_ATTR: s} for s in three_di]

    def embed_batch(self, sequences: Sequence[str]) -> list[np.ndarray]:
        return self.embed_with_side(sequences)[0]

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            **super().provenance(),
            "model": self.model_ref,
            "precision": precision_name(self.dtype),
            "transformers_version": transformers.__version__,
            "decoding": json.dumps(self.decoding, sort_keys=True),
        }
        revision = getattr(self.model.config, "_commit_hash", None)
        if revision:
            info["model_revision"] = revision
        if self.local_dir is not None:
            info["model_dir"] = str(self.local_dir.resolve())
            info["weights_sha256"] = directory_sha256(self.local_dir, (".safetensors", ".bin"))
        return info
