# Homology audit: how close is each test protein to the training proteins of its split?
#
# homology_audit: one MMseqs2 easy-search, all proteins against all, hits split by fold;
#   per test protein its best training hit, per fold the fraction with a homolog.
# figure_homology_audit: histogram of best training identity per test protein.
# Default targets only when `audit.enabled` is true.

AUDIT = config["audit"]
# its figure is in `all` through the figure table (locfusion.figures, when="audit")
AUDIT_TARGETS = ["results/audit/summary.tsv"] if AUDIT["enabled"] else []


localrules:
    figure_homology_audit,


rule homology_audit:
    """Best MMseqs2 hit of each test protein among its split's training (and validation) proteins."""
    input:
        dataset="results/data/dataset.tsv",
    output:
        table="results/audit/homology.tsv",
        summary=report(
            "results/audit/summary.tsv",
            caption="../report/homology_summary.rst",
            category="Data",
            subcategory="Homology audit",
        ),
    log:
        "results/logs/homology_audit.log",
    benchmark:
        "results/benchmarks/homology_audit.tsv"
    conda:
        "../../envs/audit.yaml"
    threads: AUDIT["threads"]
    resources:
        mem_mb=attempt_scaled(AUDIT["mem_mb"]),
        runtime=attempt_scaled(AUDIT["runtime"]),
    params:
        n_folds=N_FOLDS,
        settings={
            key: AUDIT[key]
            for key in ("min_identity", "min_coverage", "sensitivity", "evalue")
        },
    script:
        "../scripts/homology_audit.py"


rule figure_homology_audit:
    input:
        table="results/audit/homology.tsv",
        summary="results/audit/summary.tsv",
        code=LIBRARY / "plots.py",
    output:
        **figure_outputs("homology_audit"),
    log:
        figure_log("homology_audit"),
    conda:
        "../../envs/report.yaml"
    params:
        folds=config["data"]["folds"],
    script:
        "../scripts/figure.py"
