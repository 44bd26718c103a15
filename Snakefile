# contlaws: replication DAG of "Continuity Laws for Sequential Models" (arXiv:2605.08539).
#
#   snakemake --cores all                              paper scale (config/config.yaml)
#   snakemake --configfile config/quick.yaml --cores 2 quick scale (what `make replicate` runs)
#   snakemake <target> --configfile config/quick.yaml  one figure/table and only what it needs
#   snakemake --workflow-profile profiles/slurm        the same DAG on a SLURM cluster (docs/cluster.md)
#
# Targets go before the options: --configfile, --config and --resources take several values.
# Every --configfile is an overlay of config/config.yaml (the paper config): README, "Settings".
#
# Rules live in workflow/rules/<topic>.smk and stay thin: each calls the `contlaws` CLI.
# Where every output lands: see the README, section "Outputs".
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    system="vdp|duffing|dho|ou",
    split="train|val|test",
    tau=r"[0-9][0-9.e-]*",
    eta=r"[0-9][0-9.]*",


include: "workflow/rules/run_config.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/refinement_numerical.smk"
include: "workflow/rules/refinement_trained.smk"
include: "workflow/rules/benchmarks.smk"
include: "workflow/rules/subsampling.smk"
include: "workflow/rules/eta_performance.smk"
include: "workflow/rules/task_continuity.smk"
include: "workflow/rules/alignment_benchmarks.smk"
# (one include per topic; each adds its outputs to ALL_TARGETS)
include: "workflow/rules/report.smk"  # last: it collects CLAIM_FILES from the topics above


rule all:
    default_target: True
    input:
        ALL_TARGETS,
