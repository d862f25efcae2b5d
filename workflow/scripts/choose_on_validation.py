"""Rule choose_on_validation: the experiment validation folds prefer, chosen without the test folds."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)
from locfusion.cv import choose_experiment  # noqa: E402
from locfusion.io import write_tsv  # noqa: E402
from locfusion.runner import run  # noqa: E402


def main(smk):
    table = choose_experiment({name: list(smk.input[f"sel_{name}"]) for name in smk.params.experiments})
    write_tsv(table, smk.output.table)
    chosen = table[table["chosen"]].iloc[0]
    logging.getLogger("locfusion").info("chosen on validation: %s (mean validation MCC %.4f over %d runs)",
                                        chosen["experiment"], chosen["mean_val_mcc"], chosen["runs"])


run(snakemake, main)  # noqa: F821
