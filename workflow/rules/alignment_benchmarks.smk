# Claim C4(b): task continuity against the advantage of S4D over order-aware attention, across real
# classification tasks that need no download (docs/claims.md, "C4(b): alignment across real benchmarks").
#
#   snakemake alignment_benchmarks    figures/<run>/alignment_benchmarks.{pdf,png},
#                                     results/<run>/alignment_benchmarks/{runs,alignment,advantages_by_seed}.csv,
#                                     results/<run>/claims/C4b.json
#
# Data: the prepared splits of benchmarks.smk (benchmark_files); TC: the E4 record of each task
# (task_continuity.smk scores every task of alignment_benchmarks.tasks). One training job per
# (task, model, seed), all with the same budget; then gather, the verdict and the figure.
from contlaws.experiments.alignment_benchmarks import check_section  # noqa: E402

AB = CFG["alignment_benchmarks"]
AB_DIR = f"{RESULTS}/alignment_benchmarks"
AB_RUN = f"{AB_DIR}/runs/{{task}}/{{model}}_seed{{seed}}"
try:
    check_section(AB)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
AB_SUMMARIES = [f"{AB_DIR}/runs/{task}/{model}_seed{seed}/summary.json"
                for task in AB["tasks"] for model in AB["models"] for seed in AB["seeds"]]  # fmt: skip
AB_TC = [f"{TC_DIR}/benchmarks/{task}.json" for task in AB["tasks"]]


# One job per run (alignment_benchmarks.train_job: run) or per task (task: every model and seed of the
# task in one process, the interpreter start and imports paid once). In a task job the model and seed
# wildcards are absent and its outputs are all the task's summaries.
AB_TASK_JOBS = AB["train_job"] == "task"
if AB_TASK_JOBS:
    AB_TRAIN_OUTPUT = expand(f"{AB_RUN}/summary.json", model=AB["models"], seed=AB["seeds"], allow_missing=True)
    AB_TRAIN_JOB = "{task}"
else:
    AB_TRAIN_OUTPUT = [f"{AB_RUN}/summary.json"]
    AB_TRAIN_JOB = "{task}_{model}_seed{seed}"


rule alignment_benchmarks_train:
    """Train classifiers of one task (one run, or every model and seed) with the common budget; test each and check its gate."""
    input:
        train=lambda wildcards: benchmark_files(wildcards.task)[0],
        val=lambda wildcards: benchmark_files(wildcards.task)[1],
        test=lambda wildcards: benchmark_files(wildcards.task)[2],
    # metrics.csv, last.pt and best.pt are written beside summary.json but not declared, so a
    # resumed run keeps them (as subsample_train).
    output:
        summaries=AB_TRAIN_OUTPUT,
    benchmark:
        f"{BENCHMARKS}/alignment_benchmarks_train/train_{AB_TRAIN_JOB}.tsv"
    log:
        f"{LOGS}/alignment_benchmarks/train_{AB_TRAIN_JOB}.log",
    wildcard_constraints:
        task="|".join(AB["tasks"]),
        model="|".join(AB["models"]),
        seed=r"\d+",
    params:
        config=RESOLVED,
        settings=settings("alignment_benchmarks", "gates.e5_se"),
        models=lambda wildcards: train_job_runs(wildcards, AB_TASK_JOBS, AB["models"], AB["seeds"], AB_RUN)[0],
        seeds=lambda wildcards: train_job_runs(wildcards, AB_TASK_JOBS, AB["models"], AB["seeds"], AB_RUN)[1],
        out=lambda wildcards: train_job_runs(wildcards, AB_TASK_JOBS, AB["models"], AB["seeds"], AB_RUN)[2],
    threads: CFG["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("alignment_benchmarks_train"),
        mem_mb=job_mem_mb("alignment_benchmarks_train"),
    conda:
        CONDA_ENV
    shell:
        "contlaws alignment-benchmarks-train --config {params.config} --task {wildcards.task}"
        " --model {params.models} --seed {params.seeds} --train {input.train} --val {input.val}"
        " --test {input.test} --out {params.out:q} --restart-on-mismatch > {log} 2>&1"


rule alignment_benchmarks_tables:
    """The runs table, the advantages per seed and the alignment table (TC and A per task)."""
    input:
        summaries=AB_SUMMARIES,
        task_continuity=AB_TC,
    output:
        runs=f"{AB_DIR}/runs.csv",
        alignment=report(f"{AB_DIR}/alignment.csv", caption="../report/alignment_benchmarks_table.rst",
                         category="E4: task continuity"),
        seeds=f"{AB_DIR}/advantages_by_seed.csv",
    benchmark:
        f"{BENCHMARKS}/alignment_benchmarks_tables/tables.tsv"
    log:
        f"{LOGS}/alignment_benchmarks/tables.log",
    params:
        config=RESOLVED,
        settings=settings("alignment_benchmarks", "gates.e5_se"),
    resources:
        runtime=job_runtime("alignment_benchmarks_tables"),
        mem_mb=job_mem_mb("alignment_benchmarks_tables"),
    conda:
        CONDA_ENV
    shell:
        "contlaws alignment-benchmarks-gather --config {params.config} --summaries {input.summaries}"
        " --task-continuity {input.task_continuity} --out-runs {output.runs} --out-alignment {output.alignment}"
        " --out-seeds {output.seeds} > {log} 2>&1"


rule claim_c4b:
    """C4(b): Spearman rho between TC and S4D's advantage over the real tasks (rule and thresholds of C4)."""
    input:
        alignment=rules.alignment_benchmarks_tables.output.alignment,
        seeds=rules.alignment_benchmarks_tables.output.seeds,
    output:
        f"{RESULTS}/claims/C4b.json",
    benchmark:
        f"{BENCHMARKS}/claim_c4b/C4b.tsv"
    log:
        f"{LOGS}/claims/C4b.log",
    params:
        config=RESOLVED,
        settings=settings("claims"),
    resources:
        runtime=job_runtime("claim_c4b"),
        mem_mb=job_mem_mb("claim_c4b"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C4b --config {params.config} --inputs alignment={input.alignment}"
        " advantages_by_seed={input.seeds} --out {output} > {log} 2>&1"


rule alignment_benchmarks_plot:
    """C4(b) figure: TC against S4D's advantage, one labelled point per task; plotting only."""
    input:
        alignment=rules.alignment_benchmarks_tables.output.alignment,
        claim=rules.claim_c4b.output,
    output:
        pdf=f"{FIGS}/alignment_benchmarks.pdf",
        png=report(f"{FIGS}/alignment_benchmarks.png", caption="../report/alignment_benchmarks.rst",
                   category="E4: task continuity"),
    benchmark:
        f"{BENCHMARKS}/alignment_benchmarks_plot/plot.tsv"
    log:
        f"{LOGS}/alignment_benchmarks/plot.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
    resources:
        runtime=job_runtime("alignment_benchmarks_plot"),
        mem_mb=job_mem_mb("alignment_benchmarks_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws alignment-benchmarks-plot --alignment {input.alignment} --claim {input.claim}"
        " --out-figure {params.stem} > {log} 2>&1"


ALIGNMENT_BENCHMARK_TARGETS = [*rules.alignment_benchmarks_tables.output, *rules.claim_c4b.output,
                               *rules.alignment_benchmarks_plot.output]  # fmt: skip


rule alignment_benchmarks:
    """Target: claim C4(b), its tables and its figure."""
    input:
        ALIGNMENT_BENCHMARK_TARGETS,


CLAIM_FILES.extend(rules.claim_c4b.output)
ALL_TARGETS.extend(ALIGNMENT_BENCHMARK_TARGETS)
