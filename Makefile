# Two commands for a fresh machine with Python 3.11:
#   make replicate   create .venv and run the whole pipeline at quick scale (CPU, offline)
#   make test        create .venv and run the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# GPU rules (resources: gpu=1) run on CPU where there is no GPU; there the one-GPU cap of the default
# profile would serialize them, so a CPU-only machine lets as many run as it has cores.
GPUS ?= $(shell nvidia-smi -L 2>/dev/null | grep -c GPU)
# Where pip takes torch (pinned 2.13.0) from. Empty: the default index (PyPI). PyPI's Linux wheels are
# CUDA builds, right for a GPU machine. On a CPU-only machine take the CPU build instead:
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (or a CUDA-specific index, e.g. .../whl/cu126). Applies when .venv is created: remove .venv to switch.
TORCH_INDEX ?=
# pyproject.toml extras `make venv` installs (also only when .venv is created). A machine that submits to
# SLURM adds the executor plugin: make venv EXTRAS=pipeline,test,cluster (docs/cluster.md)
EXTRAS ?= pipeline,test
GPU_SLOTS := $(if $(filter 0,$(GPUS)),$(CORES),$(GPUS))
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg

.PHONY: venv replicate evidence robustness paper paper-shapes test lint report report-check clean-quick

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, from TORCH_INDEX if given: the install below then finds it satisfied
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	# the library, plus the workflow engine (Snakemake, DVC) and the test tools; add `cluster` to EXTRAS
	# for the SLURM executor (docs/cluster.md)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

replicate: venv
	$(BIN)/snakemake --configfile config/quick.yaml --cores $(CORES) --resources gpu=$(GPU_SLOTS)

# Evidence scale (config/evidence.yaml): every system, the full eta grid, three seeds; <= 2 h on 2 cores.
evidence: venv
	$(BIN)/snakemake --configfile config/evidence.yaml --cores $(CORES) --resources gpu=$(GPU_SLOTS)

# Robustness (config/robustness.yaml): the evidence run (the baseline column), then every pre-registered
# variant's claims, each an overlay of config/evidence.yaml with its own run_name (results/robustness_<name>/),
# then the stability table and the C4/C5 specification curve. Each variant starts from the evidence run's
# finished work (`contlaws robustness-seed`: hard links plus Snakemake's records), so Snakemake reruns only
# the jobs whose settings the variant changes: a claim-only variant takes minutes, one that retrains
# everything (fresh seeds, twice the budget) as long as the evidence run. Each variant is an ordinary
# Snakemake run: rerunning `make robustness` resumes where it stopped; a variant that fails is reported and
# left "not run" in the table, the others go on (docs/claims.md, "Robustness variants"). A variant counts
# only once `contlaws robustness-complete` has recorded that its run finished: until then its seeded
# verdict files are the evidence run's.
ROBUSTNESS_DIR ?= results/robustness
robustness: venv
	$(BIN)/snakemake claims --configfile config/evidence.yaml --cores $(CORES) --resources gpu=$(GPU_SLOTS) --rerun-incomplete
	mkdir -p $(ROBUSTNESS_DIR)
	$(BIN)/contlaws robustness-plan --variants config/robustness.yaml --out-dir $(ROBUSTNESS_DIR)/overlays > $(ROBUSTNESS_DIR)/plan.tsv.tmp
	mv $(ROBUSTNESS_DIR)/plan.tsv.tmp $(ROBUSTNESS_DIR)/plan.tsv
	@failed=""; while IFS="$$(printf '\t')" read -r name overlay; do \
		echo "== robustness variant $$name ($$overlay)"; \
		rm -f results/robustness_$$name/robustness_complete.json; \
		$(BIN)/contlaws robustness-seed --from evidence --to robustness_$$name || { failed="$$failed $$name"; continue; }; \
		$(BIN)/snakemake claims --configfile config/evidence.yaml $$overlay --cores $(CORES) \
			--resources gpu=$(GPU_SLOTS) --rerun-incomplete < /dev/null \
			&& $(BIN)/contlaws robustness-complete --variants config/robustness.yaml --name $$name \
			|| failed="$$failed $$name"; \
	done < $(ROBUSTNESS_DIR)/plan.tsv; \
	if [ -n "$$failed" ]; then echo "variants that did not finish (shown as not run):$$failed"; fi
	$(BIN)/contlaws robustness-gather --variants config/robustness.yaml --results results --out-dir $(ROBUSTNESS_DIR)
	$(BIN)/contlaws robustness-plot --csv $(ROBUSTNESS_DIR)/spec_curve.csv --out figures/robustness/spec_curve

paper: venv
	$(BIN)/snakemake --cores all --resources gpu=$(GPU_SLOTS)

# Paper shapes (config/paper_shapes.yaml): every job kind of the paper DAG once, at the paper's sequence
# lengths, model and batch sizes, with tiny counts and 2 optimizer steps per epoch; CPU, offline. Runs in
# its own folder (the benchmark archives there are small stand-ins of the real formats); each job's
# seconds and peak memory land in $(SHAPES_DIR)/logs/paper_shapes/benchmarks/, gathered into
# benchmarks/paper_shapes_measured.csv (docs/paper-scale.md: `compute_budget.py report` makes the tables).
SHAPES_DIR ?= build/paper_shapes
paper-shapes: venv
	$(BIN)/python benchmarks/paper_shapes_data.py --workdir $(SHAPES_DIR)
	# one model job at a time (gpu=1): each job's seconds and memory are measured alone, and two Path-X
	# trainings (about 8 GB each on a CPU) would not share a 24 GB machine with the rest
	$(BIN)/snakemake --snakefile Snakefile --directory $(SHAPES_DIR) --configfile $(abspath config/paper_shapes.yaml) \
		--cores $(CORES) --resources gpu=1
	$(BIN)/python benchmarks/compute_budget.py collect --workdir $(SHAPES_DIR)

report: venv
	$(BIN)/snakemake --configfile config/quick.yaml --cores $(CORES) --resources gpu=$(GPU_SLOTS) --report results/quick/report.html

# The quick report as a reader sees it, in headless Chromium (tests/test_report_browser.py): the claims
# table on the landing page, every figure rendered with its caption, the claims/result-table/provenance
# pages shown inline, no console error. Needs chromium (Debian: apt-get install chromium); screenshots
# are left in results/quick/report-screenshots/.
report-check: replicate report
	CONTLAWS_REQUIRE_REPORT_CHECK=1 CONTLAWS_REPORT_SCREENSHOTS=results/quick/report-screenshots \
		$(BIN)/python -m pytest -q -m browser tests/test_report_browser.py

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src tests benchmarks

clean-quick:
	rm -rf data/quick results/quick figures/quick
