# Shared helpers: validated config, output locations, wildcard constraints, target lists.
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from contlaws.budget import (  # noqa: E402
    TRAINING_RULES,
    RuleCosts,
    long_cpu_run_refusal,
    read_measured,
    run_projection,
    training_keys,
)
from contlaws.config import (  # noqa: E402
    PAPER_CONFIG,
    config_diff,
    deep_merge,
    describe_diff,
    fmt_num,
    read_config_file,
    validate_config,
    write_snapshot,
)
from contlaws.errors import ConfigError  # noqa: E402

# Every job calls the `contlaws` command. A run started as `.venv/bin/snakemake ...` without activating
# the venv finds none on PATH: it is beside the Python that runs Snakemake, so that folder is added (at
# the end: a `contlaws` already on PATH, e.g. another install or a test's stand-in, keeps precedence).
# With `--sdm conda` each job's own environment provides it (Snakemake activates it in the job).
_PYTHON_BIN = Path(sys.executable).parent
if shutil.which("contlaws") is None:
    if (_PYTHON_BIN / "contlaws").exists():
        os.environ.update(PATH=f"{os.environ.get('PATH', '')}{os.pathsep}{_PYTHON_BIN}")
    elif "--sdm" not in sys.argv and "--software-deployment-method" not in sys.argv:
        raise WorkflowError(
            f"the `contlaws` command is not installed for {sys.executable} nor on PATH: run `make venv` "
            "(or `pip install -e '.[pipeline]'`) in this environment, or use --sdm conda"
        )

# Validate when the DAG is built: an invalid config stops here, before any job starts. The config is
# the paper config with every --configfile deep-merged over it, then --config (Snakemake merges them
# over `configfile: config/config.yaml`; merging over the packaged paper config again is a no-op
# then, and keeps every config an overlay of it when --directory runs elsewhere). validate_config
# reads number-like strings (Snakemake's `--config 'train={lr: 1e-3}'`) as numbers.
try:
    CFG = validate_config(
        deep_merge(read_config_file(PAPER_CONFIG), config), source="snakemake config (--configfile/--config)"
    )
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.update(CFG)

RUN = CFG["run_name"]
DATA = f"data/{RUN}"
RESULTS = f"results/{RUN}"
FIGS = f"figures/{RUN}"
LOGS = f"logs/{RUN}"
TC_DIR = f"{RESULTS}/task_continuity"  # E4 records (task_continuity.smk); E5 and C4(b) tables read them

print(f"contlaws run '{RUN}': {describe_diff(config_diff(CFG))}", file=sys.stderr)

# The settings every job reads: results/<run>/configs/<sha256 prefix of the content>.json, written
# once and never rewritten. A job's command names the file of the DAG build that scheduled it, so a
# later build with other settings (a dry run, another invocation) writes another file and cannot
# change a job that is running or queued. The path is a Path, not a str: Snakemake tracks only params
# of builtin types, so which file holds the settings never reruns a job by itself; the `settings`
# param (below) reruns exactly the jobs whose sections changed.
try:
    RESOLVED = write_snapshot(CFG, RESULTS)  # refuses an existing snapshot whose content no longer matches its name
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# The software environment of every job, used only with `--sdm conda` (a path relative to this
# file). environment.yml lists the dependencies; environment.post-deploy.sh, which Snakemake runs in
# the new environment, installs this checkout (found through CONTLAWS_CHECKOUT). A named environment
# would not do: Snakemake then runs `conda env export` after every job, even without `--sdm conda`.
CONDA_ENV = "../../environment.yml"
os.environ.update(CONTLAWS_CHECKOUT=str(Path(workflow.basedir).resolve()))  # read by the post-deploy script


# Keys that say how work is split into jobs, not what is computed: never a reason to rerun a job.
JOB_LAYOUT_KEYS = ("train_job",)


def settings(*sections):
    """The config sections a rule depends on, as a params value (changing them reruns the rule). A
    dotted name takes one key of a section ("gates.e5_se"): a rule that reads one gate does not rerun
    when another gate changes (a robustness variant that changes the E3 gate retrains nothing)."""
    def without_layout(value):
        return {k: v for k, v in value.items() if k not in JOB_LAYOUT_KEYS} if isinstance(value, dict) else value

    picked = {}
    for name in ("seed", *sections):
        section, _, key = name.partition(".")
        if key:
            picked.setdefault(section, {})[key] = CFG[section][key]
        else:
            picked[section] = without_layout(CFG.get(section))
    return json.dumps(picked, sort_keys=True)


def train_job_runs(wildcards, grouped, models, seeds, run_folder):
    """(models, seeds, --out) of one training job: its own run (model and seed wildcards), or, when
    ``grouped`` (the section's train_job), every model and seed, --out a pattern naming {model} and {seed}."""
    if grouped:
        out = run_folder.format(**dict(wildcards.items()), model="{model}", seed="{seed}")
        return " ".join(models), " ".join(map(str, seeds)), out
    return wildcards.model, wildcards.seed, run_folder.format(**dict(wildcards.items()))


def grid(values):
    return [fmt_num(v) for v in values]


def regression_files(system, tau, splits=("train", "val", "test")):
    return [f"{DATA}/regression/{system}_tau{fmt_num(tau)}_{s}.npz" for s in splits]


def forecasting_files(system, eta, splits=("train", "val", "test")):
    return [f"{DATA}/forecasting/{system}_eta{fmt_num(eta)}_{s}.npz" for s in splits]


def dataset_targets():
    """Every dynamical-system dataset the config asks for."""
    out = []
    for system in CFG["systems"]:
        for tau in CFG["regression"]["taus"]:
            out += regression_files(system, tau, ("train", "val", "test") if float(tau) == 1 else ("test",))
        for eta in CFG["forecasting"]["etas"]:
            out += forecasting_files(system, eta)
    return out


# Measurements and cluster requests (docs/paper-scale.md). Every rule that does work writes a Snakemake
# benchmark file (wall seconds, max_rss in MB, ...) to logs/<run>/benchmarks/<rule>/<its log's name>.tsv.
# Each of them requests `runtime` (minutes) and `mem_mb` from contlaws.budget, i.e. projections for one
# GPU (trainings) and the paper-shapes measurements of benchmarks/paper_shapes_measured.csv scaled to this
# config's counts, times the attempt, so a job killed at its time or memory limit is retried with twice,
# then three times the request (profiles/slurm: retries).
BENCHMARKS = f"{LOGS}/benchmarks"
PAPER_SHAPES = Path(workflow.basedir) / "config" / "paper_shapes.yaml"
COSTS = RuleCosts(
    CFG,
    read_measured(Path(workflow.basedir) / "benchmarks" / "paper_shapes_measured.csv"),
    validate_config(deep_merge(read_config_file(PAPER_CONFIG), read_config_file(PAPER_SHAPES)), source=str(PAPER_SHAPES)),
)


# The projected cost of the run about to start, printed when the DAG is built (dry runs too), and the
# laptop guard: on a machine without a GPU, with jobs on this machine, a run projected at more than a day
# stops before any job starts unless `confirm_long_cpu_run` says so (`snakemake --cores all` is the
# paper scale: weeks on a laptop CPU). A GPU machine or a cluster executor only gets the projection.
def local_gpu_count():
    """GPUs that `nvidia-smi -L` lists (0 without the driver): no torch import at DAG build."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU") for line in listed.stdout.splitlines()) if listed.returncode == 0 else 0


def projection_for(runs=None):
    return run_projection(CFG, COSTS.measured, COSTS.shapes, runs)


def needed_trainings(dag):
    """(rule, key) -> how many of the DAG's jobs that still have to run train a model of that kind."""
    runs = Counter()
    for job in dag.needrun_jobs():
        if job.rule.name in TRAINING_RULES:
            for key in training_keys(job.rule.name, dict(job.wildcards.items()), CFG):
                runs[(job.rule.name, key)] += 1
    return runs


if workflow.is_main_process:
    print(f"contlaws run '{RUN}': {projection_for().describe(local_gpu_count() > 0, os.cpu_count() or 1)} "
          f"(contlaws.budget; docs/paper-scale.md)", file=sys.stderr)


onstart:
    # Runs after the DAG is built, before the first job, never in a dry run: the jobs still to run are known.
    refusal = long_cpu_run_refusal(
        projection_for(needed_trainings(workflow.dag)), RUN, cores=workflow.resource_settings.cores or 1,
        gpus=local_gpu_count(), local_exec=workflow.local_exec and not workflow.touch,
        confirmed=CFG["confirm_long_cpu_run"],
    )
    if refusal:  # one line and exit 1 (a WorkflowError would add Snakemake's traceback of this handler)
        print(refusal, file=sys.stderr)
        sys.exit(1)


def job_runtime(rule):
    """`resources: runtime=` of a rule: minutes, scaled by the attempt."""
    return lambda wildcards, attempt: COSTS.runtime(rule, dict(wildcards.items())) * attempt


def job_mem_mb(rule):
    """`resources: mem_mb=` of a rule: MB, scaled by the attempt."""
    return lambda wildcards, attempt: COSTS.mem_mb(rule, dict(wildcards.items())) * attempt


# Each topic .smk adds its final outputs here (figures, tables, claim verdicts); `rule all` builds them.
ALL_TARGETS = []
# Each topic .smk adds the verdict files of its claims (results/<run>/claims/C*.json) here.
CLAIM_FILES = []

