# E4: task continuity of every dataset the pipeline uses, its alignment with model performance and
# model continuity, and the verdicts of claims C3 and C4 (spec E4; docs/task_continuity.md).
#
#   snakemake task_continuity   results/<run>/task_continuity/table.{csv,tex}
#   snakemake alignment         the alignment figure and tables, claims C3 and C4
#
# One job per dataset scores its train split (`contlaws task-continuity`) into a small JSON named
# <family>/<name>.json: forecasting/<system>_eta<eta> (E3), regression/<system>_tau1 (E2),
# benchmarks/<task> (subsampling.tasks, plus the scikit-learn digits and the UCR/UEA sets of the
# pinned aeon wheel: real data that needs no benchmark download).

AL_DIR = f"{RESULTS}/alignment"
# record name -> dataset file it scores
TC_DATASETS = {
    **{
        f"forecasting/{system}_eta{fmt_num(eta)}": forecasting_files(system, eta, ("train",))[0]
        for system in CFG["eta_performance"]["systems"]
        for eta in CFG["forecasting"]["etas"]
    },
    **{f"regression/{system}_tau1": regression_files(system, 1, ("train",))[0] for system in CFG["systems"]},
    # the E5 tasks, digits, every UCR/UEA set of the pinned aeon wheel (real data, fetched in seconds)
    # and the C4(b) tasks (alignment_benchmarks.smk reads their records)
    **{
        f"benchmarks/{task}": benchmark_files(task)[0]
        for task in dict.fromkeys([*CFG["subsampling"]["tasks"], "digits", *UCR_TASKS,
                                   *CFG["alignment_benchmarks"]["tasks"]])
    },
}
TC_RECORDS = [f"{TC_DIR}/{name}.json" for name in TC_DATASETS]


rule task_continuity_score:
    """Task continuity (score and curve over strides) of one dataset's train split."""
    input:
        data=lambda wildcards: TC_DATASETS[f"{wildcards.family}/{wildcards.name}"],
    output:
        json=f"{TC_DIR}/{{family}}/{{name}}.json",
    wildcard_constraints:
        family="forecasting|regression|benchmarks",
        name=r"[A-Za-z0-9_.]+",
    benchmark:
        f"{BENCHMARKS}/task_continuity_score/{{family}}_{{name}}.tsv",
    log:
        f"{LOGS}/task_continuity/{{family}}_{{name}}.log",
    params:
        config=RESOLVED,
        settings=settings("task_continuity"),
    resources:
        # contlaws dataset files are read whole (checksum) before the first max_sequences rows are scored
        mem_mb=lambda wildcards, input, attempt: max(1000, int(3 * input.size_mb) + 500) * attempt,
        runtime=job_runtime("task_continuity_score"),
    conda:
        CONDA_ENV
    shell:
        "contlaws task-continuity {input.data} --config {params.config} --out-json {output.json} > {log} 2>&1"


rule task_continuity_table:
    """Task continuity of every dataset in one table (CSV and LaTeX)."""
    input:
        records=TC_RECORDS,
    output:
        csv=report(f"{TC_DIR}/table.csv", caption="../report/task_continuity.rst", category="E4: task continuity"),
        tex=f"{TC_DIR}/table.tex",
    benchmark:
        f"{BENCHMARKS}/task_continuity_table/table.tsv",
    log:
        f"{LOGS}/task_continuity/table.log",
    params:
        config=RESOLVED,
        settings=settings("task_continuity"),
    resources:
        runtime=job_runtime("task_continuity_table"),
        mem_mb=job_mem_mb("task_continuity_table"),
    conda:
        CONDA_ENV
    shell:
        "contlaws task-continuity-gather --config {params.config} --inputs {input.records}"
        " --out-csv {output.csv} --out-tex {output.tex} > {log} 2>&1"


rule alignment_tables:
    """Per eta dataset: TC and the continuous models' relative RMSE; per E2 system: TC and model continuity."""
    input:
        task_continuity=rules.task_continuity_table.output.csv,
        eta_results=rules.eta_results.output.csv,
        model_continuity=rules.refinement_trained_tables.output.continuity,
    output:
        alignment=f"{AL_DIR}/alignment.csv",
        seeds=f"{AL_DIR}/advantages_by_seed.csv",
        continuity=f"{AL_DIR}/tc_model_continuity.csv",
    benchmark:
        f"{BENCHMARKS}/alignment_tables/tables.tsv",
    log:
        f"{LOGS}/alignment/tables.log",
    params:
        config=RESOLVED,
        settings=settings("task_continuity", "eta_performance"),
    resources:
        runtime=job_runtime("alignment_tables"),
        mem_mb=job_mem_mb("alignment_tables"),
    conda:
        CONDA_ENV
    shell:
        "contlaws alignment-run --config {params.config} --task-continuity {input.task_continuity}"
        " --eta-results {input.eta_results} --model-continuity {input.model_continuity}"
        " --out {output.alignment} --out-seeds {output.seeds} --out-continuity {output.continuity} > {log} 2>&1"


rule alignment_plot:
    """Alignment figure: TC vs relative performance (eta family) and vs model continuity (E2); plotting only."""
    input:
        alignment=rules.alignment_tables.output.alignment,
        continuity=rules.alignment_tables.output.continuity,
    output:
        pdf=f"{FIGS}/alignment.pdf",
        png=report(f"{FIGS}/alignment.png", caption="../report/alignment.rst", category="E4: task continuity"),
    benchmark:
        f"{BENCHMARKS}/alignment_plot/plot.tsv",
    log:
        f"{LOGS}/alignment/plot.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
    resources:
        runtime=job_runtime("alignment_plot"),
        mem_mb=job_mem_mb("alignment_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws alignment-plot --alignment {input.alignment} --continuity {input.continuity}"
        " --out-figure {params.stem} > {log} 2>&1"


rule claim_c3:
    """C3: task continuity is measurable from data: it orders the eta family and separates smooth from symbolic."""
    input:
        task_continuity=rules.task_continuity_table.output.csv,
    output:
        f"{RESULTS}/claims/C3.json",
    benchmark:
        f"{BENCHMARKS}/claim_c3/C3.tsv",
    log:
        f"{LOGS}/claims/C3.log",
    params:
        config=RESOLVED,
        settings=settings("claims"),
    resources:
        runtime=job_runtime("claim_c3"),
        mem_mb=job_mem_mb("claim_c3"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C3 --config {params.config} --inputs task_continuity={input.task_continuity}"
        " --out {output} > {log} 2>&1"


rule claim_c4:
    """C4: task continuity aligns with the continuous model's relative performance (Spearman rho)."""
    input:
        alignment=rules.alignment_tables.output.alignment,
        seeds=rules.alignment_tables.output.seeds,
    output:
        f"{RESULTS}/claims/C4.json",
    benchmark:
        f"{BENCHMARKS}/claim_c4/C4.tsv",
    log:
        f"{LOGS}/claims/C4.log",
    params:
        config=RESOLVED,
        settings=settings("claims"),
    resources:
        runtime=job_runtime("claim_c4"),
        mem_mb=job_mem_mb("claim_c4"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C4 --config {params.config} --inputs alignment={input.alignment}"
        " advantages_by_seed={input.seeds} --out {output} > {log} 2>&1"


TASK_CONTINUITY_TARGETS = list(rules.task_continuity_table.output)
TC_CLAIM_FILES = [*rules.claim_c3.output, *rules.claim_c4.output]
ALIGNMENT_TARGETS = [*rules.alignment_tables.output, *rules.alignment_plot.output, *TC_CLAIM_FILES]


rule task_continuity:
    """Target: the task-continuity table of every dataset."""
    input:
        TASK_CONTINUITY_TARGETS,


rule alignment:
    """Target: the alignment figure and tables, and the verdicts of claims C3 and C4."""
    input:
        ALIGNMENT_TARGETS,


CLAIM_FILES.extend(TC_CLAIM_FILES)
ALL_TARGETS.extend(TASK_CONTINUITY_TARGETS + ALIGNMENT_TARGETS)
