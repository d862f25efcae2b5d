# Extra training proteins (data.extra_training; locfusion.extra): labelled proteins that only
# ever train, each split's list filtered against that split's validation and test proteins.
#
# normalize_extra: the extra FASTAs -> extra_proteins.tsv, every unusable record in
#   extra_rejected.tsv with its reason.
# extra_homology: one MMseqs2 search (the homology audit's aligner and settings), then per split
#   the admitted list and the excluded proteins with their hit; the summary is in the report.
# embed_extra and friends: the extra proteins' own embedding shards and packed arrays, so that
#   adding extra proteins never re-embeds (or retrains on) the dataset.
# extra_learning_curve: pooled test MCC against the training-set size (extra_training_size).
# psortb_training_set: PSORTb 3.0's SCL-BLAST proteins as a labelled FASTA for data.extra_training.

EXTRA_TARGETS = (
    ["results/data/extra_summary.tsv", "results/data/extra_rejected.tsv"]
    if EXTRA_FASTAS
    else []
)
# the learning curve's figure is in `all` through the figure table (locfusion.figures)


localrules:
    normalize_extra,
    plan_extra_shards,
    check_extra_embeddings,
    extra_learning_curve,
    figure_extra_learning_curve,


rule normalize_extra:
    """Read the extra FASTAs; reject (with the reason) what cannot train; the rest normalized."""
    input:
        fastas=EXTRA_FASTAS,
        proteins="results/data/proteins.tsv",
        dataset="results/data/dataset.tsv",
    output:
        extras="results/data/extra_proteins.tsv",
        rejected=report(
            "results/data/extra_rejected.tsv",
            caption="../report/extra_rejected.rst",
            category="Data",
            subcategory="Extra training proteins",
        ),
    log:
        "results/logs/normalize_extra.log",
    conda:
        "../../envs/data.yaml"
    params:
        filter=config["filter"],
    script:
        "../scripts/normalize_extra.py"


rule extra_homology:
    """Per split: extra proteins with a homolog among its validation or test proteins are excluded."""
    input:
        extras="results/data/extra_proteins.tsv",
        rejected="results/data/extra_rejected.tsv",
        dataset="results/data/dataset.tsv",
    output:
        admitted=[extra_split_file("admitted", k, v) for k, v in EXTRA_SPLITS],
        excluded=[extra_split_file("excluded", k, v) for k, v in EXTRA_SPLITS],
        summary=report(
            "results/data/extra_summary.tsv",
            caption="../report/extra_summary.rst",
            category="Data",
            subcategory="Extra training proteins",
        ),
        counts="results/data/extra_summary.json",
    log:
        "results/logs/extra_homology.log",
    benchmark:
        "results/benchmarks/extra_homology.tsv"
    conda:
        "../../envs/audit.yaml"
    threads: AUDIT["threads"]
    resources:
        mem_mb=attempt_scaled(AUDIT["mem_mb"]),
        runtime=attempt_scaled(AUDIT["runtime"]),
    params:
        splits=EXTRA_SPLITS,
        exclusion=config["data"]["extra_exclusion"],
        search={key: AUDIT[key] for key in ("sensitivity", "evalue")},
    script:
        "../scripts/extra_homology.py"


rule plan_extra_shards:
    """Assign the extra proteins to their own embedding shards, balanced by residues."""
    input:
        dataset="results/data/extra_proteins.tsv",
    output:
        shards="results/embeddings/extra_shards.tsv",
    log:
        "results/logs/plan_extra_shards.log",
    conda:
        "../../envs/data.yaml"
    params:
        n_shards=N_EXTRA_SHARDS,
    script:
        "../scripts/plan_shards.py"


rule embed_extra:
    """Per-residue embeddings of one shard of the extra proteins (as rule embed)."""
    input:
        dataset="results/data/extra_proteins.tsv",
        shards="results/embeddings/extra_shards.tsv",
    output:
        h5="results/embeddings/{embedder}/extra/shard_{shard}.h5",
    log:
        "results/logs/embed_extra/{embedder}/shard_{shard}.log",
    benchmark:
        "results/benchmarks/embed_extra/{embedder}/shard_{shard}.tsv"
    conda:
        "../../envs/embed.yaml"
    threads: config["embed"]["threads"]
    resources:
        mem_mb=attempt_scaled(config["embed"]["mem_mb"]),
        runtime=attempt_scaled(config["embed"]["runtime"]),
        gpu=config["embed"]["gpu"],
    params:
        spec=lambda wildcards: config["embedders"][wildcards.embedder],
        embed=embed_settings(),
        filter=config["filter"],
    script:
        "../scripts/embed.py"


rule check_extra_embeddings:
    """Fail loudly if any extra protein lacks an embedding or has the wrong length."""
    input:
        dataset="results/data/extra_proteins.tsv",
        h5=expand(
            "results/embeddings/{{embedder}}/extra/shard_{shard}.h5",
            shard=EXTRA_SHARDS,
        ),
    output:
        check="results/embeddings/{embedder}/extra/check.json",
    log:
        "results/logs/check_extra_embeddings/{embedder}.log",
    conda:
        "../../envs/embed.yaml"
    params:
        filter=config["filter"],
    script:
        "../scripts/check_embeddings.py"


rule pack_extra_embeddings:
    """The extra proteins' embeddings as one memory-mapped array (as rule pack_embeddings)."""
    input:
        h5=expand(
            "results/embeddings/{{embedder}}/extra/shard_{shard}.h5",
            shard=EXTRA_SHARDS,
        ),
        check="results/embeddings/{embedder}/extra/check.json",
    output:
        array="results/embeddings/{embedder}/extra/packed.npy",
        index="results/embeddings/{embedder}/extra/packed.tsv",
    log:
        "results/logs/pack_extra_embeddings/{embedder}.log",
    benchmark:
        "results/benchmarks/pack_extra_embeddings/{embedder}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/pack_embeddings.py"


rule extra_learning_curve:
    """Pooled test MCC and training-set size of every experiment on a curve with extra proteins."""
    input:
        dataset="results/data/dataset.tsv",
        summaries=expand(
            "results/experiments/{experiment}/summary.json",
            experiment=CURVE_EXPERIMENTS,
        ),
        manifests=[
            path
            for name in CURVE_EXPERIMENTS
            for path in run_outputs("model.json", name)
        ],
    output:
        table=report(
            "results/comparison/extra_learning_curve.tsv",
            caption="../report/extra_learning_curve_table.rst",
            category="Metrics",
            subcategory="Extra training proteins",
        ),
    log:
        "results/logs/extra_learning_curve.log",
    conda:
        "../../envs/data.yaml"
    params:
        experiments={
            name: experiment_identity(config["experiments"][name])
            for name in CURVE_EXPERIMENTS
        },
    script:
        "../scripts/extra_learning_curve.py"


rule figure_extra_learning_curve:
    input:
        table="results/comparison/extra_learning_curve.tsv",
        code=LIBRARY / "plots.py",
    output:
        **figure_outputs("extra_learning_curve"),
    log:
        figure_log("extra_learning_curve"),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure.py"


rule psortb_training_set:
    """PSORTb 3.0's SCL-BLAST proteins as a labelled FASTA (a source for data.extra_training).

    The sources are params, not inputs, as in rule psortb_root: when PSORTb is not installed the
    script says in one line how to install it (their sha256 is in provenance.json)."""
    output:
        fasta="results/data/psortb_training/sclblast.fasta",
        records="results/data/psortb_training/records.tsv",
        provenance="results/data/psortb_training/provenance.json",
    log:
        "results/logs/psortb_training_set.log",
    conda:
        "../../envs/data.yaml"
    params:
        sources=PSORTB_SCLBLAST,
    script:
        "../scripts/psortb_training_set.py"
