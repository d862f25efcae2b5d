# PSORTb 3.0 side by side (psortb.enabled): PSORTb is a system install (Debian
# `apt-get install psortb ncbi-blast+-legacy`; not on conda), so these rules run the
# library's checks first and stop with one line saying how to install it when it is missing.


localrules:
    psortb_plan_shards,
    psortb_merge,
    psortb_unknown,


rule psortb_root:
    """A writable copy of the PSORTb root with its SCL-BLAST databases indexed (makeblastdb)."""
    output:
        root=directory("results/psortb/root"),
    log:
        "results/logs/psortb/root.log",
    conda:
        "../../envs/data.yaml"
    params:
        source=config["psortb"]["root"],
    script:
        "../scripts/psortb_root.py"


rule psortb_plan_shards:
    """Assign proteins to PSORTb shards, balanced by residues."""
    input:
        dataset="results/data/dataset.tsv",
    output:
        shards="results/psortb/shards.tsv",
    log:
        "results/logs/psortb/plan_shards.log",
    conda:
        "../../envs/data.yaml"
    params:
        n_shards=config["psortb"]["shards"],
    script:
        "../scripts/plan_shards.py"


rule psortb:
    """PSORTb on one shard, each protein with its own organism group (-n/-p/-a, -o long)."""
    input:
        dataset="results/data/dataset.tsv",
        shards="results/psortb/shards.tsv",
        root="results/psortb/root",
    output:
        calls="results/psortb/shard_{shard}.tsv",
    log:
        "results/logs/psortb/shard_{shard}.log",
    benchmark:
        "results/benchmarks/psortb/shard_{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: config["psortb"]["threads"]
    resources:
        mem_mb=attempt_scaled(config["psortb"]["mem_mb"]),
        runtime=attempt_scaled(config["psortb"]["runtime"]),
    script:
        "../scripts/psortb.py"


rule psortb_merge:
    """All shards in the test_predictions.tsv format (forced top class) plus PSORTb's own call."""
    input:
        dataset="results/data/dataset.tsv",
        calls=expand(
            "results/psortb/shard_{shard}.tsv", shard=range(config["psortb"]["shards"])
        ),
    output:
        predictions="results/psortb/predictions.tsv",
    log:
        "results/logs/psortb/merge.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/psortb_merge.py"


rule psortb_unknown:
    """PSORTb with Unknown kept as its own outcome: per fold, mean, sd and pooled."""
    input:
        predictions="results/psortb/predictions.tsv",
    output:
        table=report(
            "results/comparison/psortb_unknown.tsv",
            caption="../report/psortb_unknown.rst",
            category="Metrics",
            subcategory="Comparison",
        ),
    log:
        "results/logs/psortb/unknown.log",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/psortb_unknown.py"
