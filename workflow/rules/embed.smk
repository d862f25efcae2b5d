localrules:
    plan_shards,
    check_embeddings,
    export_3di,


# The 3Di FASTA of every prostt5_3di embedder an experiment reads (rule export_3di).
THREE_DI_TARGETS = [
    f"results/embeddings/{name}/3di.fasta"
    for name in sorted(
        {e for spec in config["experiments"].values() for e in spec["embedders"]}
    )
    if config["embedders"][name]["kind"] == "prostt5_3di"
]


rule plan_shards:
    """Assign proteins to embedding shards, balanced by residues."""
    input:
        dataset="results/data/dataset.tsv",
    output:
        shards="results/embeddings/shards.tsv",
    log:
        "results/logs/plan_shards.log",
    conda:
        "../../envs/data.yaml"
    params:
        n_shards=N_SHARDS,
    script:
        "../scripts/plan_shards.py"


rule embed:
    """Per-residue embeddings of one shard, float16 HDF5, written atomically."""
    input:
        dataset="results/data/dataset.tsv",
        shards="results/embeddings/shards.tsv",
    output:
        h5="results/embeddings/{embedder}/shard_{shard}.h5",
    log:
        "results/logs/embed/{embedder}/shard_{shard}.log",
    benchmark:
        "results/benchmarks/embed/{embedder}/shard_{shard}.tsv"
    conda:
        embed_env
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


rule check_embeddings:
    """Fail loudly if any protein lacks an embedding or has the wrong length."""
    input:
        dataset="results/data/dataset.tsv",
        h5=lambda wildcards: shard_paths(wildcards.embedder),
    output:
        check="results/embeddings/{embedder}/check.json",
    log:
        "results/logs/check_embeddings/{embedder}.log",
    conda:
        "../../envs/embed.yaml"
    params:
        filter=config["filter"],
    script:
        "../scripts/check_embeddings.py"


rule export_3di:
    """The 3Di strings a prostt5_3di embedder translated (stored in its shards), as one FASTA in dataset order."""
    input:
        dataset="results/data/dataset.tsv",
        h5=lambda wildcards: shard_paths(wildcards.embedder),
        check="results/embeddings/{embedder}/check.json",
    output:
        fasta="results/embeddings/{embedder}/3di.fasta",
    log:
        "results/logs/export_3di/{embedder}.log",
    conda:
        "../../envs/embed.yaml"
    script:
        "../scripts/export_3di.py"


rule pack_embeddings:
    """One contiguous float16 array per embedder: training jobs map it and share it, instead of each copying it."""
    input:
        h5=lambda wildcards: shard_paths(wildcards.embedder),
        check="results/embeddings/{embedder}/check.json",
    output:
        array="results/embeddings/{embedder}/packed.npy",
        index="results/embeddings/{embedder}/packed.tsv",
    log:
        "results/logs/pack_embeddings/{embedder}.log",
    benchmark:
        "results/benchmarks/pack_embeddings/{embedder}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/pack_embeddings.py"
