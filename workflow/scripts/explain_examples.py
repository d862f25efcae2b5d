"""Rule explain_examples: attention and gate weights of chosen test proteins (locfusion.explain)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)

from locfusion.explain import explain_examples  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    shards = {name: list(smk.input[name]) for name in smk.params.embedders}
    n = explain_examples(Path(smk.input.manifest).parent, smk.input.predictions, smk.input.dataset, shards,
                         smk.params.per_class, smk.output.examples, threads=smk.threads)
    logging.getLogger("explain_examples").info("explained %d test proteins", n)


run(snakemake, main)  # noqa: F821
