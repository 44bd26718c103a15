#!/usr/bin/env bash
# Run by `snakemake --sdm conda` inside the environment it has just created from environment.yml:
# installs this checkout (the folder that holds the Snakefile, exported by workflow/rules/common.smk)
# without touching the dependencies environment.yml already installed. environment.yml cannot say
# `-e .` itself, because Snakemake creates the environment from a copy under .snakemake/conda/.
set -euo pipefail
python -m pip install --quiet --no-deps --no-build-isolation -e "${CONTLAWS_CHECKOUT:?not set; run through the Snakefile}"
