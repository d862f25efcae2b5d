"""Rules figure_*: draw one figure from saved results (never retrains)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the library beside the rules)
from locfusion.figures import draw  # noqa: E402
from locfusion.runner import run  # noqa: E402

run(snakemake, draw)  # noqa: F821
