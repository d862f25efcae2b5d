localrules:
    download_deeplocpro,
    normalize,
    filter_dataset,


rule download_deeplocpro:
    """Fetch DeepLocPro's graphpart_set.fasta and check its git blob id."""
    output:
        fasta="results/data/raw/graphpart_set.fasta",
    log:
        "results/logs/download_deeplocpro.log",
    conda:
        "../../envs/data.yaml"
    params:
        url=config["data"]["url"],
        git_blob_sha1=config["data"]["git_blob_sha1"],
    script:
        "../scripts/download.py"


rule normalize:
    """Parse FASTA headers; normalize labels and groups; validate every record."""
    input:
        fasta=raw_fasta(),
    output:
        proteins="results/data/proteins.tsv",
    log:
        "results/logs/normalize.log",
    conda:
        "../../envs/data.yaml"
    params:
        n_folds=N_FOLDS,
    script:
        "../scripts/normalize.py"


rule filter_dataset:
    """The study's filter (length, duplicates), every excluded record with its reason; then the folds."""
    input:
        proteins="results/data/proteins.tsv",
    output:
        dataset="results/data/dataset.tsv",
        excluded="results/data/excluded.tsv",
        summary="results/data/filter_summary.json",
    log:
        "results/logs/filter_dataset.log",
    conda:
        "../../envs/data.yaml"
    params:
        settings=config["filter"],
        folds=config["data"]["folds"],
        n_folds=N_FOLDS,
        fold_seed=config["data"]["fold_seed"],
    script:
        "../scripts/filter_dataset.py"
