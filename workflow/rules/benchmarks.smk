# Benchmark task splits for the subsampling experiment (spec E5, "Benchmarks"; docs/benchmarks.md).
#
# Built-in stand-ins (listops_synth, pathfinder_synth, digits) are generated per run under
# data/<run>/benchmarks/raw/. Real benchmarks (listops, aan, pathfinder32, pathx, imdb, cifar10) are
# fetched by DVC (dvc.yaml: fetch_lra, fetch_imdb, fetch_cifar10) into data/benchmarks/raw/ and read
# here through ancient(): DVC does not preserve modification times, so a `dvc pull` must not
# trigger a rerun. If one is missing, a job prints how to fetch it and fails (dry runs still work).
#
# benchmark_files(task) gives a task's three prepared splits; the subsampling rules depend on them.
# The target rule `benchmarks` builds the tasks listed in subsampling.tasks; they are not added to
# ALL_TARGETS here (the subsampling experiment pulls them in).
from functools import partial

from contlaws.data.benchmarks.registry import (  # noqa: E402
    BUILTIN_TASKS,
    GENERATED_TASKS,
    REAL_TASKS,
    TASKS,
    UCR_RAW,
    UCR_TASKS,
    benchmark_paths,
    data_settings,
    fetch_message,
    real_raw_dir,
    real_sources,
)

BENCH = f"{DATA}/benchmarks"
# benchmark_files(task) -> [".../<task>_train.npz", "..._val.npz", "..._test.npz"]
benchmark_files = partial(benchmark_paths, BENCH)
BENCHMARK_TARGETS = [path for task in CFG["subsampling"]["tasks"] for path in benchmark_files(task)]


rule bench_generate:
    """Raw files of a generated stand-in, in the real benchmark's format (LRA TSV / image folders)."""
    output:
        raw=directory(f"{BENCH}/raw/{{standin}}"),
    benchmark:
        f"{BENCHMARKS}/bench_generate/generate_{{standin}}.tsv",
    log:
        f"{LOGS}/benchmarks/generate_{{standin}}.log",
    wildcard_constraints:
        standin="|".join(GENERATED_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: data_settings(CFG, wildcards.standin),
    resources:
        runtime=job_runtime("bench_generate"),
        mem_mb=job_mem_mb("bench_generate"),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench generate {wildcards.standin} --config {params.config} --out {output.raw} > {log} 2>&1"


rule bench_prepare_builtin:
    """One split of a built-in task as a classification .npz (digits reads scikit-learn directly)."""
    input:
        raw=lambda wildcards: [f"{BENCH}/raw/{wildcards.task}"] if wildcards.task in GENERATED_TASKS else [],
    output:
        npz=f"{BENCH}/{{task}}_{{split}}.npz",
    benchmark:
        f"{BENCHMARKS}/bench_prepare_builtin/prepare_{{task}}_{{split}}.tsv",
    log:
        f"{LOGS}/benchmarks/prepare_{{task}}_{{split}}.log",
    wildcard_constraints:
        task="|".join(BUILTIN_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: data_settings(CFG, wildcards.task),
        raw=lambda wildcards, input: f"--raw {input.raw}" if input.raw else "",
    resources:
        runtime=job_runtime("bench_prepare_builtin"),
        mem_mb=job_mem_mb("bench_prepare_builtin"),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench prepare {wildcards.task} --config {params.config} --split {wildcards.split}"
        " {params.raw} --out {output.npz} > {log} 2>&1"


rule bench_missing_real:
    """Runs only when a real benchmark is not on disk: prints how to fetch it (DVC) and fails."""
    output:
        f"{LOGS}/benchmarks/missing_{{source}}.txt",
    log:
        f"{LOGS}/benchmarks/missing_{{source}}.log",
    wildcard_constraints:
        source="|".join(real_sources()),
    params:
        message=lambda wildcards: fetch_message(wildcards.source),
    conda:
        CONDA_ENV
    shell:
        "echo {params.message:q} | tee {log} >&2; exit 1"


rule bench_prepare_real:
    """One split of a real benchmark as a classification .npz, from the DVC-fetched raw folder."""
    input:
        # the DVC output (ancient: DVC resets mtimes), or the job that explains how to fetch it
        raw=lambda wildcards: (
            ancient(str(real_raw_dir(wildcards.task)))
            if real_raw_dir(wildcards.task).is_dir()
            else f"{LOGS}/benchmarks/missing_{TASKS[wildcards.task].source}.txt"
        ),
    output:
        npz=f"{BENCH}/{{task}}_{{split}}.npz",
    benchmark:
        f"{BENCHMARKS}/bench_prepare_real/prepare_{{task}}_{{split}}.tsv",
    log:
        f"{LOGS}/benchmarks/prepare_{{task}}_{{split}}.log",
    wildcard_constraints:
        task="|".join(REAL_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: data_settings(CFG, wildcards.task),
        raw=lambda wildcards: real_raw_dir(wildcards.task),
    resources:
        # Path-X: 160k x 16384 float32 pixels (10.5 GB) for the train split, plus the write buffer
        mem_mb=lambda wildcards, attempt: (32000 if wildcards.task == "pathx" else 8000) * attempt,
        runtime=job_runtime("bench_prepare_real"),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench prepare {wildcards.task} --config {params.config} --split {wildcards.split}"
        " --raw {params.raw} --out {output.npz} > {log} 2>&1"


rule bench_fetch_ucr:
    """UCR/UEA .ts files from the aeon wheel (pip download of a pinned version, sha256-checked; aeon is not installed)."""
    output:
        raw=directory(str(UCR_RAW)),
    benchmark:
        f"{BENCHMARKS}/bench_fetch_ucr/fetch_ucr.tsv",
    log:
        f"{LOGS}/benchmarks/fetch_ucr.log",
    resources:
        runtime=job_runtime("bench_fetch_ucr"),
        mem_mb=job_mem_mb("bench_fetch_ucr"),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench fetch-ucr --out {output.raw} > {log} 2>&1"


rule bench_prepare_ucr:
    """One split of a UCR/UEA set as a classification .npz (train/val from the archive's TRAIN, test = TEST)."""
    input:
        raw=ancient(str(UCR_RAW)),
    output:
        npz=f"{BENCH}/{{task}}_{{split}}.npz",
    benchmark:
        f"{BENCHMARKS}/bench_prepare_ucr/prepare_{{task}}_{{split}}.tsv",
    log:
        f"{LOGS}/benchmarks/prepare_{{task}}_{{split}}.log",
    wildcard_constraints:
        task="|".join(UCR_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: data_settings(CFG, wildcards.task),
        raw=lambda wildcards: real_raw_dir(wildcards.task),
    resources:
        runtime=job_runtime("bench_prepare_ucr"),
        mem_mb=job_mem_mb("bench_prepare_ucr"),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench prepare {wildcards.task} --config {params.config} --split {wildcards.split}"
        " --raw {params.raw} --out {output.npz} > {log} 2>&1"


rule benchmarks:
    """Target: train/val/test splits of every task in subsampling.tasks."""
    input:
        BENCHMARK_TARGETS,
