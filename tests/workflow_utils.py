"""Helpers to run the real workflow in a scratch copy of the repository."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def copy_workflow(dest: Path) -> Path:
    """Copy what the workflow needs (Snakefile, workflow/, config, resources, profiles, envs) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("workflow", "resources", "profiles", "envs"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def demo_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "resources/demo/config.yaml").read_text())
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section].update(values)
        else:
            config[section] = values
    return config


def merge_configs(*files: Path) -> dict[str, Any]:
    """Config files merged as snakemake merges --configfile files: dicts key by key, anything else replaced."""

    def update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = update(base[key], value)
            else:
                base[key] = value
        return base

    config: dict[str, Any] = {}
    for path in files:
        update(config, yaml.safe_load(Path(path).read_text()))
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ------------------------------------------------------------------ the shared small DAG
# One real run of the whole workflow serves every test that reads a DAG's outputs
# (tests/conftest.py, fixture `small_dag`): the demo proteome with five IDs that pandas
# reads as missing values, both demo embedders, a tiny fusion model (2 epochs) and the
# demo's attention pooling on a shortened schedule (it must still learn: the learning
# floor), two seeds, a bundle and rule predict on new proteins with descriptions (with
# explanations), and the report's explanation figure (one test protein per class). The fusion
# model takes the organism group as the demo's do; attention pooling does not (its bundle is the
# predict tests' group-free model).

SMALL_DAG_SEEDS = [42, 43]
MISSING_LOOKING_IDS = ["NA", "N/A", "null", "nan", "None"]
# One cross-attention head, as the demo (its L x L softmax is most of a step; several heads: tests/test_models.py).
TINY_FUSION = {"hidden_dim": 16, "attention_heads": 1, "lstm_hidden": 8, "pool_heads": 2, "classifier_hidden": 16}
SMALL_DAG_AP_EPOCHS = 15  # the demo's attention pooling (100 epochs) shortened; it must still clear the learning floor
SMALL_DAG_QUERY = (40, 2)  # rule predict's proteins: the first 40 of <= 1,000 residues, then 2 longer (cropped)
SMALL_DAG_EXPLAIN_IDS = ["NA"]  # rule predict's track plots: the first query protein, an ID pandas would read as missing


def small_dag_config(**ap_training: Any) -> dict[str, Any]:
    """The shared DAG's config (files it names are written by `prepare_small_dag`)."""
    config = demo_config({"training": {"epochs": 2, "patience": 2, "seeds": SMALL_DAG_SEEDS, "threads": 1}})
    config["data"]["fasta"] = "demo_na_ids.fasta"
    config["experiments"]["fusion"]["params"] = TINY_FUSION  # with the demo's group input (use_group)
    # Attention pooling without it: its bundle is the predict tests' model that ignores the group
    # (rule predict below and tests/test_predict.py: `any`, and the remap alone per group).
    config["experiments"]["attention_pooling"]["use_group"] = False
    epochs = SMALL_DAG_AP_EPOCHS
    config["experiments"]["attention_pooling"]["training"].update(
        {"epochs": epochs, "patience": epochs, "t0": epochs, **ap_training})
    config["predict"] = {"fasta": "query.fasta", "experiment": "attention_pooling", "group": "positive",
                         "chunk_size": 16, "threads": 1, "explain": True, "explain_ids": SMALL_DAG_EXPLAIN_IDS}
    config["evaluation"]["explain_per_class"] = 1
    return config


def prepare_small_dag(work: Path) -> Path:
    """Write the shared DAG's inputs and config (c.yaml) into a copy of the workflow."""
    text = (REPO / "resources/demo/demo_proteome.fasta").read_text()
    for number, name in enumerate(MISSING_LOOKING_IDS, start=1):
        text = text.replace(f">SYN{number:05d}|", f">{name}|", 1)
    (work / "demo_na_ids.fasta").write_text(text)
    records = [(header.split("|")[0], "".join(body.split())) for header, body in
               (chunk.split("\n", 1) for chunk in text.split(">")[1:])]
    short, long = SMALL_DAG_QUERY
    query = [r for r in records if len(r[1]) <= 1000][:short] + [r for r in records if len(r[1]) > 1000][:long]
    (work / "query.fasta").write_text("".join(f">{pid} some description\n{seq}\n" for pid, seq in query))
    return write_config(work / "c.yaml", small_dag_config())


IMPORT_LOG = ".import_log"  # under a run's working directory: what each job imported (locfusion.runner)


def snakemake_command(workdir: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a test's Snakemake run in `workdir`."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "LOCFUSION_IMPORT_LOG": str(Path(workdir) / IMPORT_LOG)}
    return [SNAKEMAKE, *args], env


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command, env = snakemake_command(workdir, *args)
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts: dict[str, int] = {}
    in_table = False
    for line in dry_run_output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            if line.strip().startswith("total"):
                break
            match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if match:
                counts[match.group(1)] = int(match.group(2))
    return counts


def rule_conda_envs(body: str) -> list[Path]:
    """The env files a rule can run in: its `conda:` file, or for rule embed (`embed_env`, a function
    of the embedder's kind) the default env first, then each kind's own (locfusion.embed_job)."""
    match = re.search(r'conda:\n\s+"([^"]+)"', body)
    if match:
        return [(REPO / "workflow/rules" / match.group(1)).resolve()]
    if re.search(r"conda:\n\s+embed_env\n", body):
        from locfusion.embed_job import DEFAULT_CONDA_ENV, OWN_INTERPRETER

        return [REPO / "envs" / DEFAULT_CONDA_ENV, *(REPO / "envs" / own.conda_env for own in OWN_INTERPRETER.values())]
    return []


def rule_blocks() -> dict[str, str]:
    """Each rule's body in workflow/rules, by rule name."""
    blocks: dict[str, str] = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = body.split("\nrule ")[0]
    return blocks


# Conda package names that differ from the distribution's name on the package index.
CONDA_NAMES = {"torch": "pytorch", "pyyaml": "pyyaml"}


def env_packages(env_file: Path) -> set[str]:
    """Package names a conda env file lists (conda and pip sections), lower case."""
    env = yaml.safe_load(env_file.read_text())
    names = set()
    for dep in env["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(re.split(r"[=<>!\s#]", item.strip(), maxsplit=1)[0].lower())
    return names


@functools.cache
def imported_names(module: str) -> frozenset[str]:
    """Top-level names a locfusion module imports absolutely (its source, parsed once)."""
    import ast

    base = REPO / "workflow" / Path(*module.split("."))
    source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    named: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            named.add(node.module.split(".")[0])
    return frozenset(named)


def rule_env_gaps(workdir: Path, env_of: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """For every job of a run: third-party packages its code imported that its rule's conda env lacks.

    What a job really used is the locfusion modules it loaded (recorded by
    locfusion.runner); the packages those modules name in an import statement
    and that were loaded too are the ones its env must provide (a package pulled
    in by another package is that package's business).
    """
    import importlib.metadata

    providers = importlib.metadata.packages_distributions()
    envs = {}
    for name, body in rule_blocks().items():
        envs[name] = rule_conda_envs(body)[0]  # rule embed: embed.yaml (the shared DAG has no esmc embedder)
    envs.update(env_of or {})  # a run whose rule embed ran in another of its envs (esmc: embed-esmc.yaml)
    gaps: dict[str, set[str]] = {}
    records = sorted((Path(workdir) / IMPORT_LOG).glob("*.txt"))
    assert records, f"no import records under {workdir / IMPORT_LOG}"
    for record in records:
        rule = record.name.split(".")[0]
        loaded = set(record.read_text().split())
        named: set[str] = set()
        for module in (m for m in loaded if m.startswith("locfusion")):
            named |= imported_names(module)
        used = (named & loaded) - set(sys.stdlib_module_names) - {"locfusion", "__future__"}
        have = env_packages(envs[rule])
        for top in used:
            dists = {CONDA_NAMES.get(d.lower(), d.lower()) for d in providers.get(top, [top])}
            if not dists & have:
                gaps.setdefault(rule, set()).add("/".join(sorted(dists)))
    return gaps


AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def random_protein(rng: np.random.Generator, length: int) -> str:
    """A random sequence of the 20 standard amino acids."""
    return "".join(rng.choice(AMINO, size=length))
