"""Validation MCC of one demo experiment's settings, in-process, split by split.

Reads the demo's prepared data (results/data/dataset.tsv and the packed embeddings, made by
`snakemake --profile profiles/demo results/data/dataset.tsv results/embeddings/{blosum62,profile}/packed.npy`)
and trains the experiment of resources/demo/config.yaml with `locfusion.training.train_fold`
for each requested split (test fold k, validation fold (k+1) mod 5), with JSON overrides of its
`params` and of `training`. It reports each split's best VALIDATION MCC and epoch and the CPU
seconds it took; it never evaluates the test fold, so settings compared with it are chosen on
validation folds only (docs/measurements.md, 2026-11-30 session 5).

    PYTHONPATH=workflow python benchmarks/demo_fusion.py --splits 0 1 2 3 4 \\
        --params '{"standardize_inputs": true}' --training '{"lr": 3e-3}' --log-epochs
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import torch
import yaml

from locfusion.pipeline import read_dataset
from locfusion.store import PackedEmbeddings
from locfusion.training import ExperimentSpec, ProteinSet, TrainingSettings, fold_split, train_fold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="resources/demo/config.yaml")
    parser.add_argument("--results", default="results", help="the demo's results/ (dataset and packed embeddings)")
    parser.add_argument("--experiment", default="fusion")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="test folds")
    parser.add_argument("--params", default="{}", help="JSON: overrides of the experiment's params")
    parser.add_argument("--training", default="{}", help="JSON: overrides of the training section")
    parser.add_argument("--label", default="", help="a name for this variant in the output")
    parser.add_argument("--use-group", choices=["config", "yes", "no"], default="config",
                        help="feed the organism group to the model (the experiment's use_group unless yes/no)")
    parser.add_argument("--history", action="store_true", help="print each epoch's validation MCC")
    parser.add_argument("--log-epochs", action="store_true", help="log every epoch as it ends (train_fold's log)")
    args = parser.parse_args()
    if args.log_epochs:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    config = yaml.safe_load(Path(args.config).read_text())
    section = dict(config["experiments"][args.experiment])
    section["params"] = {**(section.get("params") or {}), **json.loads(args.params)}
    if args.use_group != "config":
        section["use_group"] = args.use_group == "yes"
    training = {**config["training"], **(section.get("training") or {}), **json.loads(args.training)}
    training.pop("seeds", None)
    spec = ExperimentSpec.from_config(args.experiment, section)
    settings = TrainingSettings.from_config(training)
    results = Path(args.results)
    data = read_dataset(str(results / "data" / "dataset.tsv"))
    stores = [PackedEmbeddings(results / "embeddings" / e / "packed.npy", results / "embeddings" / e / "packed.tsv")
              for e in spec.embedders]
    n_folds = int(config["data"]["n_folds"])
    torch.set_num_threads(1)
    scores = []
    for test_fold in args.splits:
        train_folds, val_fold = fold_split(test_fold, n_folds)
        train = ProteinSet(data[data["fold"].isin(train_folds)], stores, spec.embedders)
        val = ProteinSet(data[data["fold"] == val_fold], stores, spec.embedders)
        cpu = time.process_time()
        with tempfile.TemporaryDirectory() as tmp:
            _, history, result = train_fold(spec, settings, train, val, Path(tmp) / "checkpoint.pt", threads=1)
        cpu = time.process_time() - cpu
        scores.append(result.best_val_mcc)
        curve = " ".join(f"{row['val_mcc']:.2f}" for row in history) if args.history else ""
        print(f"{args.label} split {test_fold} (val fold {val_fold}): best val MCC {result.best_val_mcc:.3f} "
              f"at epoch {result.best_epoch}/{result.epochs_run}, {cpu:.0f} CPU-s {curve}", flush=True)
    mean = sum(scores) / len(scores)
    print(f"{args.label} mean validation MCC over splits {args.splits}: {mean:.3f} "
          f"({'/'.join(f'{s:.3f}' for s in scores)}) params {json.dumps(section['params'])} "
          f"use_group {bool(section.get('use_group', False))} "
          f"training {json.dumps({k: v for k, v in training.items() if k not in ('threads', 'mem_mb', 'runtime')})}",
          flush=True)


if __name__ == "__main__":
    main()
