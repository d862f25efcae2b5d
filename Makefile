# locfusion: `make demo` runs the whole workflow on the bundled synthetic data,
# `make test` runs the test suite. Both create the local virtual environment first.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

# Bytecode: the environment may set PYTHONDONTWRITEBYTECODE (many containers do), and then every
# interpreter start, each Snakemake job being one, compiles all it imports again. make's targets
# let Python cache bytecode as it imports (each module compiled once, on first use), and each venv
# warms that cache with the imports of a training job and of Snakemake, so that running
# .venv/bin/snakemake outside make starts fast too. pip installs without compiling: compiling all
# of .venv (~15,700 files, most never imported: transformers, sympy, ...) took ~1 min on 2 cores.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test test-slow report venv venv-esmc lint format clean help offline-study offline-study-full offline-study-seeds offline-precision-nested offline-study-psortb offline-leakage offline-learning-curve offline-study-near

help:
	@echo "make demo   - run the full workflow on the bundled synthetic demo (results/)"
	@echo "make test   - run the tests (all but the slow tier: SLURM cluster, kill-and-resume, real PSORTb, ...; ~10 min)"
	@echo "make test-slow - the slow tier alone; make test TESTS=all runs everything (CI)"
	@echo "make report - HTML report of the last demo run (results/report.html)"
	@echo "make offline-study - the study protocol on the real DeepLocPro proteins in ../shared (UniRep + BLOSUM62): fusion vs attention pooling, one seed (fits ~150 min on 2 cores)"
	@echo "make offline-study-full - the core set plus ~12,000 homology-filtered PSORTb proteins as extra training data: a learning curve of attention pooling on UniRep + BLOSUM62, the validation choice among all (apt-get install psortb mmseqs2; ~3 h on 2 cores)"
	@echo "make offline-study-seeds - the core set's ablations: fusion on UniRep alone, single-embedder baselines, the organism-group variant, 3 seeds (~10 h on 2 cores, estimated, not run)"
	@echo "make offline-precision-nested - fp32 vs bf16 for the offline fusion, chosen by nested CV on validation folds"
	@echo "make offline-study-psortb - the offline study plus PSORTb 3.0 side by side (apt-get install psortb ncbi-blast+-legacy)"
	@echo "make offline-study-near - the core set plus fusion on UniRep + NEAR and attention pooling on NEAR"
	@echo "make offline-learning-curve - attention pooling on NEAR with 0 / 2,500 / all homology-filtered PSORTb proteins as extra training data"
	@echo "make offline-leakage - attention pooling on UniRep under GraphPart vs stratified random folds, with the homology audit"
	@echo "make venv-esmc - the separate venv of the ESM-C embedder (kind esmc; made by make test-slow and make test TESTS=all)"
	@echo "make lint   - snakemake --lint and snakefmt --check"

venv: $(STAMP)

# The ESM-C embedder (kind esmc) needs EvolutionaryScale's `esm` package, whose top-level module
# clashes with fair-esm's (kind esm2) in .venv: it gets this venv of its own, and rule embed hands an
# esmc shard to its interpreter (config embed.esmc_python) when the one running the rule lacks it.
# CPU torch first (as for .venv), then the lock with --no-deps, then the library itself.
ESMC_VENV := .venv-esmc
ESMC_STAMP := $(ESMC_VENV)/.installed

venv-esmc: $(ESMC_STAMP)

$(ESMC_STAMP): pyproject.toml requirements-esmc.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(ESMC_VENV)
	$(ESMC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ESMC_VENV)/bin/python -m pip install --quiet --no-compile torch==2.13.0
	$(ESMC_VENV)/bin/python -m pip install --quiet --no-compile --no-deps -r requirements-esmc.lock
	$(ESMC_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(ESMC_VENV)/bin/python -c "import torch, esm.models.esmc"
	touch $(ESMC_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-compile --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -c "import locfusion.training, locfusion.models.fusion, locfusion.plots, matplotlib.pyplot, h5py, scipy.stats"
	$(BIN)/snakemake --version >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --profile profiles/demo --cores $(CORES)
	$(BIN)/snakemake --profile profiles/demo --report results/report.html
	@echo "demo done: results/comparison/metrics.tsv, results/figures/, results/report.html"

offline-study: $(STAMP)
	$(BIN)/snakemake --profile profiles/offline_study
	$(BIN)/snakemake --profile profiles/offline_study --report results/report.html

OFFLINE := --profile profiles/offline_study --configfile resources/offline_study/config.yaml
OFFLINE_FULL := $(OFFLINE) resources/offline_study/psortb_extra.yaml
OFFLINE_SEEDS := $(OFFLINE) resources/offline_study/seeds.yaml
OFFLINE_PRECISION := $(OFFLINE) resources/offline_study/precision_nested.yaml

# The larger set: the core set plus PSORTb's labelled proteins as extra training data, each
# split's homologs of its validation and test proteins excluded, with the declared learning curve
# (attention pooling on UniRep + BLOSUM62 with 0, 2,500 and all admitted PSORTb proteins), the
# declared comparisons of both and the validation choice among all their models
# (results/comparison/validation_choice.tsv). Needs psortb (its SCL-BLAST sets) and MMseqs2.
offline-study-full: $(STAMP)
	$(BIN)/snakemake $(OFFLINE_FULL)
	$(BIN)/snakemake $(OFFLINE_FULL) --report results/report.html

# The core set's ablations and seeds: fusion on UniRep alone, the single-embedder baselines, the
# organism-group variant, seeds 43 and 44 for everything (seed 42's runs are the core's).
offline-study-seeds: $(STAMP)
	$(BIN)/snakemake $(OFFLINE_SEEDS)
	$(BIN)/snakemake $(OFFLINE_SEEDS) --report results/report.html

# Only the fusion experiment's per-test-fold selections (and what they need): 5 x 4 x 2 models.
offline-precision-nested: $(STAMP)
	$(BIN)/snakemake $(foreach k,0 1 2 3 4,results/experiments/fusion/seed_42/fold_$(k)/selection.json) $(OFFLINE_PRECISION)
	$(BIN)/python -m locfusion.cv results/experiments/fusion/seed_42

OFFLINE_PSORTB := $(OFFLINE) resources/offline_study/psortb.yaml
OFFLINE_CURVE := $(OFFLINE) resources/offline_study/near_psortb.yaml
OFFLINE_NEAR := $(OFFLINE) resources/offline_study/near.yaml

# The core set and the study's design with offline parts: fusion of two real pretrained models
# (UniRep-1900 + NEAR), and attention pooling on NEAR alone.
offline-study-near: $(STAMP)
	$(BIN)/snakemake $(OFFLINE_NEAR)
	$(BIN)/snakemake $(OFFLINE_NEAR) --report results/report.html

# What extra training data buys: attention pooling on NEAR with 0, 2,500 and all admitted PSORTb
# proteins per split (needs psortb installed for its SCL-BLAST sets, and MMseqs2).
offline-learning-curve: $(STAMP)
	$(BIN)/snakemake $(OFFLINE_CURVE) -- results/comparison/extra_learning_curve.tsv results/figures/extra_learning_curve.png

offline-study-psortb: $(STAMP)
	$(BIN)/snakemake $(OFFLINE_PSORTB)
	$(BIN)/snakemake $(OFFLINE_PSORTB) --report results/report.html

# The leakage demonstration: the same experiment on the same 1,051 proteins under GraphPart's folds
# (in results/, shared with make offline-study) and under a stratified random split (its own working
# directory, results/leakage/stratified/, so neither run invalidates the other), the homology audit
# (MMseqs2) on both, then one table of fold sizes, homolog fractions and MCC (results/leakage/leakage.tsv).
OFFLINE_DIR := resources/offline_study
LEAKAGE_EXPERIMENT := attention_pooling_unirep
LEAKAGE_TARGETS := results/experiments/$(LEAKAGE_EXPERIMENT)/summary.json results/audit/summary.tsv results/figures/homology_audit.png
LEAKAGE_DIR := results/leakage/stratified
# --directory moves the working directory, so the FASTA path (relative to this one) is passed absolute.
OFFLINE_FASTA := $(abspath ../shared/data/deeplocpro/graphpart_partial.fasta)

offline-leakage: $(STAMP)
	$(BIN)/snakemake --profile profiles/offline_study --configfile $(OFFLINE_DIR)/config.yaml $(OFFLINE_DIR)/audit.yaml -- $(LEAKAGE_TARGETS)
	mkdir -p $(LEAKAGE_DIR)
	$(BIN)/snakemake --profile profiles/offline_study --configfile $(OFFLINE_DIR)/config.yaml $(OFFLINE_DIR)/audit.yaml \
		$(OFFLINE_DIR)/stratified.yaml --directory $(LEAKAGE_DIR) --config "data={fasta: $(OFFLINE_FASTA)}" -- $(LEAKAGE_TARGETS)
	$(BIN)/locfusion leakage --run graphpart=. --run stratified=$(LEAKAGE_DIR) -e $(LEAKAGE_EXPERIMENT) \
		-o results/leakage/leakage.tsv

report: $(STAMP)
	$(BIN)/snakemake --profile profiles/demo --report results/report.html

# make test: every test but the `slow` tier (a real SLURM cluster, kill-and-resume runs, real PSORTb,
# the larger UniRep models, ...: the marker in pyproject.toml lists them);
# under 10 minutes on 2 cores, venv included. make test-slow: that tier alone.
# make test TESTS=all: both in one session, the shared workflow run built once (what CI runs).
TESTS ?= fast
ifeq ($(filter $(TESTS),fast all),)
$(error TESTS must be fast or all, not '$(TESTS)' (make test-slow runs the slow tier alone))
endif
PYTEST_MARK := $(if $(filter all,$(TESTS)),,-m "not slow")

test: $(STAMP) $(if $(filter all,$(TESTS)),$(ESMC_STAMP))
	$(BIN)/python -m pytest -ra $(PYTEST_MARK)

test-slow: $(STAMP) $(ESMC_STAMP)
	$(BIN)/python -m pytest -ra -m slow

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: $(STAMP)
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake
