# Benchmark task splits for the subsampling experiment (spec E5, "Benchmarks"; docs/benchmarks.md).
#
# Built-in stand-ins (listops_synth, pathfinder_synth, digits) are generated per run under
# data/<run>/benchmarks/raw/. Real benchmarks (listops, aan, pathfinder32, pathx, imdb, cifar10) are
# fetched by DVC (dvc.yaml: fetch_lra, fetch_imdb, fetch_cifar10) into data/benchmarks/raw/ and read
# here through ancient(): DVC does not preserve modification times, so a `dvc pull` must not
# trigger a rerun. If they are missing, a job says how to fetch them (and fails) instead.
#
# benchmark_files(task) gives a task's three prepared splits; the subsampling rules depend on them.
# The target rule `benchmarks` builds the tasks listed in subsampling.tasks (not part of `all` on
# its own: the subsampling experiment pulls them in).
from contlaws.data.benchmarks.registry import (  # noqa: E402
    BUILTIN_TASKS,
    GENERATED_TASKS,
    REAL_ROOT,
    REAL_TASKS,
    SPLITS,
    TASKS,
    missing_raw_message,
    real_raw_dir,
)

BENCH = f"{DATA}/benchmarks"


def benchmark_files(task):
    """The prepared train/val/test .npz files of one benchmark task."""
    return [f"{BENCH}/{task}_{split}.npz" for split in SPLITS]


def benchmark_targets():
    return [path for task in CFG["subsampling"]["tasks"] for path in benchmark_files(task)]


def bench_settings(task):
    """The settings a task's data depends on: seed and its own subsampling sizes.

    Narrower than settings("subsampling"): changing epochs or the learning rate must not redo an
    hour of Path-X image decoding.
    """
    sub = CFG["subsampling"]
    return json.dumps({"seed": CFG["seed"], "subsampling": {k: sub[k] for k in TASKS[task].settings}}, sort_keys=True)


rule bench_generate:
    """Raw files of a generated stand-in, in the real benchmark's format (LRA TSV / image folders)."""
    output:
        raw=directory(f"{BENCH}/raw/{{standin}}"),
    log:
        f"{LOGS}/benchmarks/generate_{{standin}}.log",
    wildcard_constraints:
        standin="|".join(GENERATED_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: bench_settings(wildcards.standin),
    conda:
        CONDA_ENV
    shell:
        "contlaws bench generate {wildcards.standin} --config {params.config} --out {output.raw} > {log} 2>&1"


def _builtin_raw(wildcards):
    return [f"{BENCH}/raw/{wildcards.task}"] if wildcards.task in GENERATED_TASKS else []


rule bench_prepare_builtin:
    """One split of a built-in task as a classification .npz (digits reads scikit-learn directly)."""
    input:
        raw=_builtin_raw,
    output:
        npz=f"{BENCH}/{{task}}_{{split}}.npz",
    log:
        f"{LOGS}/benchmarks/prepare_{{task}}_{{split}}.log",
    wildcard_constraints:
        task="|".join(BUILTIN_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: bench_settings(wildcards.task),
        raw=lambda wildcards, input: f"--raw {input.raw}" if input.raw else "",
    conda:
        CONDA_ENV
    shell:
        "contlaws bench prepare {wildcards.task} --config {params.config} --split {wildcards.split}"
        " {params.raw} --out {output.npz} > {log} 2>&1"


def _real_raw(wildcards):
    """The DVC-fetched folder (ancient: DVC resets mtimes), or the job that explains how to fetch it."""
    raw = real_raw_dir(wildcards.task)
    if raw.is_dir():
        return ancient(str(raw))
    return f"{LOGS}/benchmarks/missing_{TASKS[wildcards.task].source}.txt"


def _fetch_message(source):
    task = next(t for t in REAL_TASKS if TASKS[t].source == source)
    return missing_raw_message(task, REAL_ROOT / source)  # the DVC output of stage fetch_<source>


rule bench_missing_real:
    """Runs only when a real benchmark is not on disk: prints how to fetch it and fails."""
    output:
        f"{LOGS}/benchmarks/missing_{{source}}.txt",
    log:
        f"{LOGS}/benchmarks/missing_{{source}}.log",
    wildcard_constraints:
        source="|".join(sorted({TASKS[t].source for t in REAL_TASKS})),
    params:
        message=lambda wildcards: _fetch_message(wildcards.source),
    shell:
        "echo {params.message:q} | tee {log} >&2; exit 1"


rule bench_prepare_real:
    """One split of a real benchmark as a classification .npz, from the DVC-fetched raw folder."""
    input:
        raw=_real_raw,
    output:
        npz=f"{BENCH}/{{task}}_{{split}}.npz",
    log:
        f"{LOGS}/benchmarks/prepare_{{task}}_{{split}}.log",
    wildcard_constraints:
        task="|".join(REAL_TASKS),
    params:
        config=RESOLVED,
        settings=lambda wildcards: bench_settings(wildcards.task),
        raw=lambda wildcards: real_raw_dir(wildcards.task),
    conda:
        CONDA_ENV
    resources:
        mem_mb=lambda wildcards: 48000 if wildcards.task == "pathx" else 8000,
    shell:
        "contlaws bench prepare {wildcards.task} --config {params.config} --split {wildcards.split}"
        " --raw {params.raw} --out {output.npz} > {log} 2>&1"


rule benchmarks:
    """Target: train/val/test splits of every task in subsampling.tasks."""
    input:
        benchmark_targets(),
