"""Attention pooling's training step on wide inputs: the model as it runs vs its step-by-step form.

Not a test: one run prints residues/s of training steps (forward, backward, AdamW step) of
`attention_pooling` on UniRep-1900 + BLOSUM62-sized inputs (1,920 dims, as the offline study's
`attention_pooling_concat*` experiments), one thread, each batch assembled from float16 rows as
`ProteinSet.batch` does, for
  - "step by step": LayerNorm -> linear score -> masked softmax -> pool the normalized rows -> MLP,
    the batch padded with `pad_sequence` (the code before the change; the same parameters);
  - "as it runs": the model's forward (LayerNorm's affine folded into the score and the pooled
    vector, so the backward pass skips LayerNorm's backward and the affine output's gradient)
    and `batching.pad_batch`;
and their ratio, plus the time of the batch assembly alone in both forms. Both forms give the same
logits (tests/test_models.py checks outputs and gradients); speed depends on lengths, not values,
so rows are random and lengths are bucketed batches of the real DeepLocPro lengths. Rounds
interleave the two forms and each keeps its best round, so a change in load hits both alike.

    .venv/bin/python benchmarks/attention_pooling.py               # ~1 min on an idle core
    .venv/bin/python benchmarks/attention_pooling.py --rounds 5    # on a busy machine
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch import: one thread for every BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from perf import deeplocpro_lengths  # noqa: E402

from locfusion.batching import make_batches, pad_batch  # noqa: E402
from locfusion.models import build_model  # noqa: E402
from locfusion.models.layers import length_mask, masked_softmax  # noqa: E402


def step_by_step_logits(model: torch.nn.Module, inputs: Sequence[torch.Tensor], lengths: torch.Tensor,
                        groups: torch.Tensor | None = None) -> torch.Tensor:
    """The head as DeepLocPro describes it, module after module (what the model computed before):
    LayerNorm -> linear score -> masked softmax -> pool the normalized rows -> MLP. Also the
    reference tests/test_models.py compares the model with."""
    x = model.norm(torch.cat(list(inputs), dim=-1))
    weights = masked_softmax(model.score(x).squeeze(-1), length_mask(lengths, x.shape[1]))
    pooled = torch.einsum("bl,bld->bd", weights.to(x.dtype), x)
    return model.classifier(model.group_input(pooled, groups))


def padded_by_pad_sequence(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """The batch assembly before the change: converted copies, then a padded copy."""
    return torch.nn.utils.rnn.pad_sequence([r.to(torch.float32) for r in rows], batch_first=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="bucketed batches of 32 per round (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each counts (default 3)")
    parser.add_argument("--dims", type=int, nargs="+", default=[1900, 20], help="input widths (default 1900 20)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    lengths = deeplocpro_lengths()
    every = make_batches(lengths, 32, rng, bucketed=True)
    chosen = [every[i] for i in rng.choice(len(every), size=min(args.batches, len(every)), replace=False)]
    store = {int(i): [torch.randn(int(lengths[i]), d).half() for d in args.dims] for b in chosen for i in b}
    residues = int(sum(lengths[b].sum() for b in chosen))

    model = build_model("attention_pooling", args.dims, {})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = {id(b): torch.randint(0, 6, (len(b),)) for b in chosen}

    def epoch(assemble: Callable, logits: Callable, train: bool = True) -> None:
        for b in chosen:
            inputs = [assemble([store[int(i)][k] for i in b]) for k in range(len(args.dims))]
            if not train:
                continue
            optimizer.zero_grad()
            loss = F.cross_entropy(logits(inputs, torch.as_tensor(lengths[b])), labels[id(b)])
            loss.backward()
            optimizer.step()

    forms = {
        "step by step": lambda: epoch(padded_by_pad_sequence, lambda x, n: step_by_step_logits(model, x, n)),
        "as it runs": lambda: epoch(pad_batch, model),
        "assembly, pad_sequence": lambda: epoch(padded_by_pad_sequence, None, train=False),
        "assembly, pad_batch": lambda: epoch(pad_batch, None, train=False),
    }
    for run in forms.values():  # warm-up: first calls pay for allocations
        run()
    best = dict.fromkeys(forms, np.inf)
    for _ in range(args.rounds):
        for name, run in forms.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)

    print(f"attention_pooling, inputs {'+'.join(map(str, args.dims))} dims, 1 thread, {len(chosen)} bucketed batches "
          f"of 32 real DeepLocPro lengths ({residues} residues), best of {args.rounds}; load {os.getloadavg()[0]:.2f}")
    for name, seconds in best.items():
        print(f"{name:24s} {seconds:7.3f} s  {residues / seconds:9.0f} residues/s")
    print(f"training step, as it runs / step by step: {best['step by step'] / best['as it runs']:.2f}x faster")
    print(f"batch assembly, pad_batch / pad_sequence: "
          f"{best['assembly, pad_sequence'] / best['assembly, pad_batch']:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
