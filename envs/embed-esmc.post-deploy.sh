#!/usr/bin/env bash
# Snakemake runs this in envs/embed-esmc.yaml's env once it is created. esm goes in without its
# declared dependencies: torchtext (which pins torch 2.3.0) and torchvision are never imported, and
# what it does import is in the env file (the same pins as requirements-esmc.lock).
set -euo pipefail
python -m pip install --no-deps esm==3.2.1.post1
