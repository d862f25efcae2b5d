"""Embedding a shard in another Python interpreter, for kinds whose package clashes with another's.

EvolutionaryScale's `esm` (kind esmc) and fair-esm (kind esm2) are both the
top-level module `esm`: one interpreter can import only one of them. Under
`--use-conda` rule embed picks the conda env of the embedder's kind
(`conda_env`), whose Python has the right one. In the local venv workflow
every job runs with the Python of .venv, which has fair-esm; there
`pipeline.embed_shard` asks `interpreter_for` and, for kind esmc, runs the shard
again with the interpreter named by `embed.esmc_python` (.venv-esmc, made by
`make venv-esmc`): `python -m locfusion.embed_job JOB.json`, the same
`embed_shard` call, its log lines relayed to the rule's log and a bad-input
error re-raised as the same one line.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

log = logging.getLogger(__name__)

# The repository root: a relative interpreter path is read from here, whatever --directory the run has.
REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY_DIR = Path(__file__).resolve().parents[1]
ERROR_PREFIX = "locfusion: error: "
# Set in the child, so that a child that cannot import the package either fails instead of recursing.
CHILD_ENV = "LOCFUSION_EMBED_CHILD"


@dataclass(frozen=True)
class OwnInterpreter:
    """How a kind whose package clashes with another's gets an interpreter of its own."""

    probe: str  # a module only the right interpreter can import
    package: str  # what to tell the user is missing
    setting: str  # embed.<setting>: the interpreter's path in the local venv workflow
    conda_env: str  # its conda env file under envs/ (--use-conda)


OWN_INTERPRETER: dict[str, OwnInterpreter] = {
    "esmc": OwnInterpreter("esm.models.esmc", "EvolutionaryScale's esm (not fair-esm)", "esmc_python", "embed-esmc.yaml"),
}
DEFAULT_CONDA_ENV = "embed.yaml"


def conda_env(kind: str) -> str:
    """The env file (under envs/) that rule embed runs an embedder of `kind` in."""
    own = OWN_INTERPRETER.get(kind)
    return own.conda_env if own else DEFAULT_CONDA_ENV


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing (or is another package of that name)
        return False


def interpreter_for(kind: str, embed_settings: Mapping[str, Any]) -> Path | None:
    """The interpreter to hand an embedder of `kind` to, or None when this one can run it."""
    own = OWN_INTERPRETER.get(kind)
    if own is None or importable(own.probe):
        return None
    where = f"this Python ({sys.executable}) cannot import {own.package}"
    if os.environ.get(CHILD_ENV):
        raise InputError(f"embedder kind '{kind}': {where}, and it is already the interpreter of embed.{own.setting}")
    configured = embed_settings.get(own.setting)
    python = Path(str(configured)).expanduser() if configured else None
    if python is not None and not python.is_absolute():
        python = REPO_ROOT / python
    if python is None or not python.is_file():
        raise InputError(
            f"embedder kind '{kind}': {where}, and embed.{own.setting} ({configured}) is no interpreter file: "
            f"run `make venv-{kind}` in {REPO_ROOT}, point embed.{own.setting} at a Python that has it, "
            "or run with --use-conda"
        )
    return python


def run_elsewhere(python: Path, job: Mapping[str, Any]) -> None:
    """Run `pipeline.embed_shard(**job)` with `python`; relay its log, re-raise its one-line error."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="embed_job_", delete=False) as handle:
        json.dump(dict(job), handle)
    env = {**os.environ, CHILD_ENV: "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(LIBRARY_DIR), os.environ.get("PYTHONPATH", "")) if p)}
    log.info("embedding in %s (this interpreter cannot import the embedder's package)", python)
    last = ""
    try:
        with subprocess.Popen([str(python), "-m", "locfusion.embed_job", handle.name], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stderr.write(line)
                if line.strip():
                    last = line.strip()
        code = proc.returncode
    finally:
        os.unlink(handle.name)
    if code != 0:
        if last.startswith(ERROR_PREFIX):
            raise InputError(last[len(ERROR_PREFIX):])
        raise RuntimeError(f"embedding with {python} failed (exit {code}): {last}")


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: `python -m locfusion.embed_job JOB.json` (written by `run_elsewhere`)."""
    from .pipeline import embed_shard
    from .runner import configure_logging

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        raise SystemExit("usage: python -m locfusion.embed_job JOB.json")
    configure_logging(sys.stdout)
    job = json.loads(Path(args[0]).read_text())
    try:
        embed_shard(**job)
    except InputError as exc:
        print(f"{ERROR_PREFIX}{exc}", flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
