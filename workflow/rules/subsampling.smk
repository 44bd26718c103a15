# E5: temporal subsampling, coarse to fine (spec E5, paper Figure 6); verdict of claim C5.
#
#   snakemake fig6      Figure 6, the speed/accuracy table and the per-epoch curves
#
# One training per task x mode (subsampled | baseline) x seed, on the splits of benchmarks.smk.
# Trainings resume from last.pt when a job was killed (the profile reruns incomplete jobs).
from contlaws.experiments.subsampling import MODES, check_tasks  # noqa: E402

SUB = CFG["subsampling"]
SUB_DIR = f"{RESULTS}/subsampling"
SUB_RUN = f"{SUB_DIR}/{{task}}/{{mode}}_seed{{seed}}"  # one training run
try:
    check_tasks(SUB)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
# The trainings depend on the subsampling section and on the engine keys they read from `train`; not on
# task_continuity: the tables take each task's TC from its E4 record (a TC change re-labels, never retrains).
SUB_TRAIN_SETTINGS = json.dumps(
    {
        "seed": CFG["seed"],
        "subsampling": SUB,
        "train": {k: CFG["train"][k] for k in ("grad_clip", "device", "eval_max_elements", "max_steps_per_epoch")
                  if k in CFG["train"]},
    },
    sort_keys=True,
)


# Every run folder the config asks for, tasks in config order.
SUB_RUN_DIRS = [f"{SUB_DIR}/{task}/{mode}_seed{seed}" for task in SUB["tasks"] for mode in MODES for seed in SUB["seeds"]]


rule subsample_train:
    """Train the S4D classifier on one task: coarse to fine (subsampled) or at stride 1 (baseline)."""
    input:
        # benchmark_files(task) = [train, val, test] splits (benchmarks.smk)
        train=lambda wildcards: benchmark_files(wildcards.task)[0],
        val=lambda wildcards: benchmark_files(wildcards.task)[1],
        test=lambda wildcards: benchmark_files(wildcards.task)[2],
    # metrics.csv, last.pt and best.pt are written beside summary.json but not declared: Snakemake
    # deletes declared outputs before a rerun, and a resumed run must keep them (the engine writes
    # metrics.csv only while epochs remain).
    output:
        summary=f"{SUB_RUN}/summary.json",
    benchmark:
        f"{BENCHMARKS}/subsample_train/train_{{task}}_{{mode}}_seed{{seed}}.tsv",
    log:
        f"{LOGS}/subsampling/train_{{task}}_{{mode}}_seed{{seed}}.log",
    wildcard_constraints:
        task="|".join(SUB["tasks"]),
        mode="|".join(MODES),
        seed=r"\d+",
    params:
        config=RESOLVED,
        settings=SUB_TRAIN_SETTINGS,
        out_dir=lambda wildcards, output: str(Path(output.summary).parent),
    threads: CFG["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("subsample_train"),
        mem_mb=job_mem_mb("subsample_train"),
    conda:
        CONDA_ENV
    shell:
        "contlaws subsampling-train --config {params.config} --task {wildcards.task} --mode {wildcards.mode}"
        " --seed {wildcards.seed} --train {input.train} --val {input.val} --test {input.test}"
        " --out {params.out_dir} --restart-on-mismatch > {log} 2>&1"


rule subsampling_tables:
    """The per-epoch curves of every run and the speed/accuracy table (claim C5 and Figure 6 read them)."""
    input:
        summaries=[f"{run}/summary.json" for run in SUB_RUN_DIRS],  # each folder also holds its metrics.csv
        task_continuity=[f"{TC_DIR}/benchmarks/{task}.json" for task in SUB["tasks"]],  # task_continuity.smk
    output:
        curves=f"{SUB_DIR}/curves_timing.csv",
        table_csv=report(
            f"{SUB_DIR}/table.csv",
            caption="../report/figure6_table.rst",
            category="Figure 6: temporal subsampling",
        ),
        table_tex=f"{SUB_DIR}/table.tex",
    benchmark:
        f"{BENCHMARKS}/subsampling_tables/tables.tsv",
    log:
        f"{LOGS}/subsampling/tables.log",
    params:
        config=RESOLVED,
        settings=settings("subsampling", "task_continuity", "gates.e5_se"),
        runs=lambda wildcards, input: [str(Path(p).parent) for p in input.summaries],
    resources:
        runtime=job_runtime("subsampling_tables"),
        mem_mb=job_mem_mb("subsampling_tables"),
    conda:
        CONDA_ENV
    shell:
        "contlaws subsampling-gather --config {params.config} --runs {params.runs}"
        " --task-continuity {input.task_continuity} --out-curves {output.curves}"
        " --out-csv {output.table_csv} --out-tex {output.table_tex} > {log} 2>&1"


rule subsample_plot:
    """Figure 6 (validation accuracy vs wall clock and vs epoch) from the curves and the table; plotting only."""
    input:
        curves=rules.subsampling_tables.output.curves,
        table=rules.subsampling_tables.output.table_csv,
    output:
        pdf=f"{FIGS}/figure6.pdf",
        png=report(
            f"{FIGS}/figure6.png",
            caption="../report/figure6.rst",
            category="Figure 6: temporal subsampling",
        ),
    benchmark:
        f"{BENCHMARKS}/subsample_plot/plot.tsv",
    log:
        f"{LOGS}/subsampling/plot.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
    resources:
        runtime=job_runtime("subsample_plot"),
        mem_mb=job_mem_mb("subsample_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws subsampling-plot --curves-csv {input.curves} --speed-table {input.table} --out-figure {params.stem} > {log} 2>&1"


rule claim_c5:
    """C5: on continuous tasks, subsampled training reaches the baseline's best accuracy sooner, no worse."""
    input:
        table=rules.subsampling_tables.output.table_csv,
        curves=rules.subsampling_tables.output.curves,
    output:
        f"{RESULTS}/claims/C5.json",
    benchmark:
        f"{BENCHMARKS}/claim_c5/C5.tsv",
    log:
        f"{LOGS}/claims/C5.log",
    params:
        config=RESOLVED,
        settings=settings("claims", "subsampling", "task_continuity", "gates.e5_se"),
    resources:
        runtime=job_runtime("claim_c5"),
        mem_mb=job_mem_mb("claim_c5"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C5 --config {params.config} --inputs table={input.table}"
        " curves={input.curves} --out {output} > {log} 2>&1"


FIG6_TARGETS = [
    rules.subsample_plot.output.pdf,
    rules.subsample_plot.output.png,
    rules.subsampling_tables.output.table_csv,
    rules.subsampling_tables.output.table_tex,
]


rule fig6:
    """Target: Figure 6 and its table (temporal subsampling)."""
    input:
        FIG6_TARGETS,


ALL_TARGETS.extend(FIG6_TARGETS)
CLAIM_FILES.append(rules.claim_c5.output[0])
