"""The `locfusion` command line.

    locfusion predict -f proteome.fasta -o out/ -b results/bundles/fusion [--group positive] [--plot]
    locfusion predict -f mixed.fasta -o out/ -b results/bundles/fusion --groups groups.tsv
    locfusion predict -f proteome.fasta -o out/ -b results/bundles/fusion --explain [--explain-ids P1 P2]
    locfusion inspect results/bundles/fusion
    locfusion leakage --run graphpart=. --run stratified=results/leakage/stratified -e attention_pooling_unirep -o out.tsv
    locfusion --version

The workflow itself runs through Snakemake; the command line serves what a user
does with its results: predicting new proteomes with an exported model bundle.
Bad input (FASTA, bundle, options) ends with one line `locfusion: error: ...`
and exit status 1, never a traceback. Heavy imports (torch, the embedders)
happen after the input FASTA and the bundle's manifest have been read and
checked, so a mistake there is reported at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import InputError, exit_on_input_error

PROG = "locfusion"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .predict import GROUP_CHOICES, PredictOptions

    defaults = PredictOptions()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Subcellular localization of prokaryotic proteins from fused protein language model embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "predict",
        help="predict the localization of every protein of a FASTA with a model bundle",
        description=(
            "Predict the localization of every protein of a FASTA file with the fold-model ensemble of a bundle "
            "(results/bundles/<experiment>/ of a trained workflow). Writes predictions.tsv, predictions.csv "
            "(DeepLocPro's column names) and summary.json to the output directory."
        ),
    )
    p.add_argument("-f", "--fasta", required=True, help="input protein FASTA (ID = header up to the first space)")
    p.add_argument("-o", "--output", required=True, help="output directory (created if needed)")
    p.add_argument("-b", "--bundle", required=True, help="model bundle directory (manifest.json + fold_*.safetensors)")
    p.add_argument(
        "-g", "--group", default=defaults.group, choices=GROUP_CHOICES,
        help="organism group of the proteome; positive and archaea apply DeepLocPro's remap "
        "(no Outer membrane or Periplasmic); required (not 'any') for bundles trained with the group as input "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--groups", metavar="FILE", default=None,
        help="each protein's organism group, for mixed proteomes: a TSV with a header line and columns id and "
        "group (negative, positive or archaea), one row for every protein of the FASTA; the protein's group is "
        "its model input (bundles trained with the group) and decides its remap; not with --group",
    )
    p.add_argument("-d", "--device", default=defaults.device,
                   help="device for the embedders and the fold models: auto, cpu, cuda, cuda:N (default: %(default)s)")
    p.add_argument("--precision", default=defaults.precision, choices=("auto", "fp32", "bf16", "fp16"),
                   help="embedders' precision (default: %(default)s: the precision the bundle's embeddings were "
                   "made at when this device runs it, else fp16 on GPU, bf16 on CPUs with native bf16, fp32)")
    p.add_argument("-t", "--threads", type=_positive_int, default=defaults.threads,
                   help="CPU threads (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=defaults.tokens_per_batch, metavar="TOKENS",
                   help="batch size in padded residues (longest protein x proteins in the batch), for the embedders "
                   "and the fold models alike: many short or few long proteins per batch; lower it if memory runs "
                   "out (default: %(default)s)")
    p.add_argument("--chunk-size", type=_positive_int, default=defaults.chunk_size, metavar="N",
                   help="proteins embedded and predicted at a time; bounds memory, does not change the "
                   "output (default: %(default)s)")
    p.add_argument("--embedders", metavar="YAML", default=None,
                   help="embedder specs replacing the bundle's (a mapping name -> spec, or a locfusion config), "
                   "e.g. to use a local copy of the weights; they must reproduce the bundle's embeddings")
    p.add_argument("-p", "--plot", action="store_true", help="also draw class_distribution.png/.pdf")
    p.add_argument("--explain", action="store_true",
                   help="also write explanations.h5: each protein's per-residue attention weights of every fold "
                   "model's pooling heads and, for gated fusion models, the gate's weight on each embedder "
                   "(the predictions are the same bits with or without)")
    p.add_argument("--explain-ids", nargs="+", default=[], metavar="ID",
                   help="proteins to draw a track plot of (explanations/<ID>.png/.pdf: attention, gate, "
                   "hydrophobic stretches, signal-like N-terminus); implies --explain")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=_predict)

    i = sub.add_parser("inspect", help="describe a model bundle (model, embedders, folds, training data)",
                       description="Describe a model bundle without loading its weights.")
    i.add_argument("bundle", help="model bundle directory")
    i.set_defaults(func=_inspect)

    k = sub.add_parser("leakage", help="one experiment under two fold schemes: audit fractions and MCC side by side",
                       description="Compare workflow runs that differ only in data.folds (each with the homology "
                       "audit enabled): fold sizes, test proteins with a training homolog, MCC, and the differences "
                       "from the baseline scheme.")
    k.add_argument("--run", action="append", required=True, metavar="NAME=DIR",
                   help="a scheme's name and the directory holding its results/ (repeat)")
    k.add_argument("-e", "--experiment", required=True, help="experiment trained in every run")
    k.add_argument("--baseline", default="graphpart", help="the scheme others are compared with (default: %(default)s)")
    k.add_argument("-o", "--output", required=True, help="output TSV")
    k.set_defaults(func=_leakage)
    return parser


def _leakage(args: argparse.Namespace) -> None:
    from .io import write_tsv
    from .leakage import leakage_lines, leakage_table

    runs = {}
    for item in args.run:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--run '{item}': expected NAME=DIR")
        runs[name] = path
    table = leakage_table(runs, args.experiment, args.baseline)
    write_tsv(table, args.output)
    print("\n".join(leakage_lines(table, args.experiment)), flush=True)


def _predict(args: argparse.Namespace) -> None:
    from .predict import PredictOptions, load_embedder_specs, predict_proteome, summary_line

    specs = load_embedder_specs(args.embedders) if args.embedders else None
    options = PredictOptions(
        group=args.group,
        groups=args.groups,
        chunk_size=args.chunk_size,
        tokens_per_batch=args.batch_size,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        plot=args.plot,
        progress=not args.quiet,
        explain=args.explain or bool(args.explain_ids),
        explain_ids=tuple(args.explain_ids),
    )
    summary = predict_proteome(args.fasta, args.output, args.bundle, options, embedder_specs=specs)
    if not args.quiet:
        extra = ", explanations.h5" if "explanations" in summary else ""
        print(f"{summary_line(summary)}; wrote {args.output}/predictions.tsv, predictions.csv{extra}", flush=True)


def _inspect(args: argparse.Namespace) -> None:
    from .predict import manifest_overview

    print(manifest_overview(args.bundle))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `locfusion` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if getattr(args, "quiet", False) else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=level, format=f"{PROG}: %(message)s", force=True)
    with exit_on_input_error(PROG):
        try:
            args.func(args)
        except OSError as exc:  # unwritable output directory, unreadable file, disk full
            raise InputError(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)) from None


if __name__ == "__main__":
    main()
