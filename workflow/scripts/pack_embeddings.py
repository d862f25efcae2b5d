"""Rule pack_embeddings: one memory-mappable float16 array per embedder, with its index."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.pipeline import pack_embeddings  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    pack_embeddings(list(smk.input.h5), smk.output.array, smk.output.index)


run(snakemake, main)  # noqa: F821
