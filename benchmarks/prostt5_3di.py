"""What the `prostt5_3di` embedder costs at ProstT5's real width, on this machine (CPU).

Not a test. ProstT5 has ProtT5-XL's shape (d_model 1024, d_ff 16384, 32 heads of 128,
ReLU feed-forward, 24 encoder and 24 decoder layers); its weights are not reachable
here, and a 3B-parameter random model would not fit beside other work on a small
machine. So random models of the real width with 1 and 2 layers per stack are built
(tests/plm_fixtures.py), run through the embedder, and the time per layer (the
difference) is extrapolated linearly to 24 layers. Printed per setting: seconds to
translate (generate, one token per residue) and to embed the 3Di (one encoder pass),
for one protein of the DeepLocPro median length and a batch of 4 such proteins.
Extrapolated numbers are labelled as such; the load average is printed.

    .venv/bin/python benchmarks/prostt5_3di.py [--threads 2] [--length N]   # ~10 min on 2 busy cores with --length 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "workflow"))

from perf import deeplocpro_lengths  # noqa: E402
from plm_fixtures import make_tiny_prostt5_seq2seq_dir  # noqa: E402

from locfusion.embedders import RuntimeOptions, build_embedder  # noqa: E402

REAL_WIDTH = {"d_model": 1024, "d_ff": 16384, "num_heads": 32, "d_kv": 128, "feed_forward_proj": "relu",
              "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128}
REAL_LAYERS = 24


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(layers: int, seqs: list[str], threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = make_tiny_prostt5_seq2seq_dir(Path(tmp), num_layers=layers, num_decoder_layers=layers, **REAL_WIDTH)
        embedder = build_embedder("p3di", {"kind": "prostt5_3di", "model": str(directory)},
                                  RuntimeOptions("cpu", "fp32", threads))
        embedder.embed_batch(["MKTAYIAKQR"])  # warm-up (one short protein: the first call pays one-off costs)
        out = {}
        for label, batch in (("1 protein", seqs[:1]), ("4 proteins", seqs)):
            three_di: list[str] = []
            out[f"translate {label}"] = timed(lambda: three_di.extend(embedder.translate(batch)))
            out[f"embed 3Di {label}"] = timed(lambda: embedder.embed_three_di(three_di))
            print(f"  {layers} layer(s), {label}: translate {out[f'translate {label}']:.2f}s, "
                  f"embed {out[f'embed 3Di {label}']:.2f}s", flush=True)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=0, help="protein length (default: DeepLocPro median)")
    args = parser.parse_args()
    length = args.length or int(np.median(deeplocpro_lengths()))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=length)) for _ in range(4)]
    print(f"load average {os.getloadavg()}; {args.threads} threads, fp32, proteins of {length} residues", flush=True)
    one, two = measure(1, seqs, args.threads), measure(2, seqs, args.threads)
    print(f"{'':24s} {'1 layer':>9s} {'2 layers':>9s} {'per layer':>9s} {'24 layers (extrapolated)':>26s}")
    for key in one:
        per_layer = two[key] - one[key]
        real = one[key] + (REAL_LAYERS - 1) * per_layer
        n = 1 if key.endswith("1 protein") else 4
        print(f"{key:24s} {one[key]:8.2f}s {two[key]:8.2f}s {per_layer:8.2f}s {real:9.1f}s = {n * length / real:6.1f} residues/s")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
