"""locfusion: subcellular localization of prokaryotic proteins from fused pLM embeddings.

The library holds all the logic of the workflow; Snakemake rules and scripts only
read their inputs and call it, so every step can also be run and tested from Python.
"""

__version__ = "0.1.0"
