"""Compute budget of a config: optimizer steps, floating-point work, projected GPU time, job requests.

One place for the numbers behind docs/paper-scale.md (benchmarks/compute_budget.py writes it) and
behind every rule's ``resources: runtime, mem_mb`` (workflow/rules/common.smk). Light: no torch, so
the DAG build imports it.

Training jobs (rules ``train_refinement``, ``eta_train``, ``subsample_train``,
``alignment_benchmarks_train``) are counted from the config: steps = ceil(n_train / batch) x epochs
per run (E5 and C4(b): the real split sizes of :data:`REAL_TRAIN_SIZES`, or the counted splits of the
built-in tasks), runs = the product of the rule's grid. Work per step (forward FLOPs per
token and layer, a multiply-add counted as 2; D = width, L = length seen by the layers, N = state size)::

    S4D            4D^2 (1x1 conv to 2D, GLU) + 15 D log2(2L) (three real FFTs of length 2L per channel)
    S6             2D(R + 2N) + 2RD (x_proj, dt_proj; R = dt_rank) + 9DN (discretize, scan, readout)
    Transformer    8D^2 (QKV, output) + 4LD (scores, values) + 4 D d_ff (feed-forward)
    lin. attention 8D^2 + 4 D (D/heads) (causal running sum of key-value outer products per head)
    CUDA baselines as linear attention (mamba2, GLA, DeltaNet, ...: fused chunked kernels)
    wrapper        2 d_in D (encoder) + (2D^2 + 2 D d_out) per decoded position

and a training step is 3x the forward work of its B x L tokens (backward = 2x forward). Time per
step on the GPU = work / (peak x achieved fraction) + launches x launch cost, where the launches
that matter are the per-time-step kernels of the pure-PyTorch S6 scan: 3 per step and layer
(forward, recomputed forward and adjoint in backward) plus about 40 per scan chunk. These are
projections with the assumptions of :data:`GPU`, not GPU measurements.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contlaws.gpu_packages import GPU_LAYERS

# One H100-class GPU (SXM). PyTorch's default for float32 matmuls on CUDA is full FP32 (TF32 off),
# and the study trains in float32: the FP32 peak applies. Small widths (D = 128) keep the achieved
# fraction low; the launch cost is PyTorch's eager per-op overhead (CPU dispatch + launch).
GPU = {
    "name": "one H100-class GPU (H100 SXM: 67 TFLOP/s FP32 peak)",
    "peak_flops": 67e12,
    "achieved_fraction": 0.15,
    "launch_seconds": 10e-6,
    "other_launches_per_layer": 60,  # per training step: the layer's other kernels, forward + backward
}
# Cluster requests from projections and measurements: runtime = margin x projected + start-up.
RUNTIME_MARGIN = 2.0
RUNTIME_STARTUP_MIN = 10
RUNTIME_FLOOR_MIN = 10
MEM_FLOOR_MB = 1000
# Training split sizes of the real tasks (docs/benchmarks.md, "Splits"); UCR/UEA: the archive's TRAIN
# (contlaws.data.benchmarks.ucr.SETS), validation: the larger half of its TEST.
REAL_TRAIN_SIZES = {"listops": 96000, "aan": 147086, "pathfinder32": 160000, "pathx": 160000, "imdb": 22500,
                    "cifar10": 45000, "gunpoint": 50, "arrowhead": 36, "osuleaf": 200, "acsf1": 100,
                    "basicmotions": 40, "italypowerdemand": 67, "japanesevowels": 270, "pickupgesture": 50,
                    "covid3month": 140}  # fmt: skip
REAL_VAL_SIZES = {"listops": 2000, "aan": 18090, "pathfinder32": 20000, "pathx": 20000, "imdb": 2500,
                  "cifar10": 5000, "gunpoint": 75, "arrowhead": 88, "osuleaf": 121, "acsf1": 50,
                  "basicmotions": 20, "italypowerdemand": 515, "japanesevowels": 185, "pickupgesture": 25,
                  "covid3month": 31}  # fmt: skip
# Sequence length and input channels of each real or built-in task of a fixed shape (tokens: d_in = 1,
# int64); listops_synth is as long as subsampling.listops_max_length.
TASK_SHAPES = {"listops": (2000, 1), "aan": (8000, 1), "pathfinder32": (1024, 1), "pathx": (16384, 1),
               "imdb": (4096, 1), "cifar10": (1024, 1), "gunpoint": (150, 1), "arrowhead": (251, 1),
               "osuleaf": (427, 1), "acsf1": (1460, 1), "basicmotions": (100, 6), "italypowerdemand": (24, 1),
               "japanesevowels": (25, 12), "pickupgesture": (361, 1), "covid3month": (84, 1), "digits": (64, 1),
               "stdlib_text": (128, 1)}  # fmt: skip
# Examples in the fixed pools of the built-in tasks split by subsampling's counts (digits: scikit-learn's
# 8x8 set; stdlib_text: 128-byte chunks of the CPython library files the task reads).
BUILTIN_POOL_SIZES = {"digits": 1797, "stdlib_text": 2460}
# Classes of each task of alignment_benchmarks (the classifier's d_output).
TASK_CLASSES = {"gunpoint": 2, "arrowhead": 3, "osuleaf": 6, "acsf1": 10, "basicmotions": 4, "italypowerdemand": 2,
                "japanesevowels": 9, "pickupgesture": 10, "covid3month": 3, "digits": 10, "listops_synth": 10,
                "stdlib_text": 3}  # fmt: skip
TOKEN_TASKS = ("listops", "aan", "imdb", "listops_synth", "stdlib_text")
TRAINING_RULES = ("train_refinement", "eta_train", "subsample_train", "alignment_benchmarks_train")
FIGURE_OF_RULE = {
    "train_refinement": "Figure 4 (E2)", "evaluate_refinement": "Figure 4 (E2)",
    "eta_train": "Figure 5 (E3)", "eta_evaluate": "Figure 5 (E3)",
    "subsample_train": "Figure 6 (E5)", "alignment_benchmarks_train": "C4(b) alignment",
}  # fmt: skip


@dataclass(frozen=True)
class TrainingJob:
    """One kind of training run: its grid size (runs) and its shapes."""

    rule: str
    key: str  # model (E2, E3), task/mode (E5) or task/model (C4(b))
    runs: int
    model: str  # s4d, s6, transformer, linear_attention or a CUDA-only baseline
    n_train: int
    n_val: int
    batch: int
    epochs: int
    length: int
    d_input: int
    d_output: int
    d_model: int
    n_layers: int
    d_state: int
    dt_rank: int = 8
    d_ff: int = 512
    n_heads: int = 8
    causal: bool = False
    strides: tuple[int, ...] = ()  # E5: the stride of each epoch (empty: stride 1 throughout)
    scan_chunk: int = 256
    value_bytes: int = 4  # bytes per input value in memory (token ids: int64)

    @property
    def steps_per_run(self) -> int:
        return math.ceil(self.n_train / self.batch) * self.epochs

    @property
    def steps(self) -> int:
        return self.steps_per_run * self.runs

    def epoch_lengths(self) -> list[int]:
        return [max(1, self.length // s) for s in (self.strides or (1,) * self.epochs)]


def forward_flops_per_token(job: TrainingJob, length: int) -> float:
    """Forward FLOPs per input position of the whole model at layer length ``length`` (module docstring)."""
    D, N, R = job.d_model, job.d_state, job.dt_rank
    if job.model == "s4d":
        layer = 4 * D * D + 15 * D * math.log2(2 * length)
    elif job.model == "s6":
        layer = 2 * D * (R + 2 * N) + 2 * R * D + 9 * D * N
    elif job.model == "transformer":
        layer = 8 * D * D + 4 * length * D + 4 * D * job.d_ff
    else:  # linear attention and the CUDA-only baselines
        layer = 8 * D * D + 4 * D * (D // job.n_heads)
    decoder = (2 * D * D + 2 * D * job.d_output) if job.causal else 0
    return job.n_layers * layer + 2 * job.d_input * D + decoder


def s6_chunk(job: TrainingJob, batch: int) -> int:
    """Time steps per scan chunk (contlaws.models.scan: at most 2^21 elements of B x D x N per chunk)."""
    return max(1, min(job.scan_chunk, 2**21 // max(1, batch * job.d_model * job.d_state)))


def launches_per_step(job: TrainingJob, length: int, batch: int) -> float:
    """Kernel launches of one training step (forward + backward)."""
    per_layer = GPU["other_launches_per_layer"]
    if job.model == "s6":  # the pure-PyTorch scan (no mamba-ssm kernel)
        per_layer += 3 * length + 40 * math.ceil(length / s6_chunk(job, batch))
    return job.n_layers * per_layer + 20


def gpu_seconds_per_step(job: TrainingJob, length: int | None = None) -> float:
    length = job.length if length is None else length
    flops = 3 * forward_flops_per_token(job, length) * job.batch * length
    rate = GPU["peak_flops"] * GPU["achieved_fraction"]
    return flops / rate + launches_per_step(job, length, job.batch) * GPU["launch_seconds"]


def gpu_seconds_per_run(job: TrainingJob) -> float:
    """Training steps plus one validation pass per epoch (forward only: a third of a step's work and
    launches, in evaluation batches as large as a training batch)."""
    steps = math.ceil(job.n_train / job.batch)
    val_batches = math.ceil(job.n_val / job.batch)
    return sum((steps + val_batches / 3) * gpu_seconds_per_step(job, length) for length in job.epoch_lengths())


def gpu_seconds_forward(job: TrainingJob, n: int, length: int, eval_max_elements: int = 2**24) -> float:
    """Projected seconds of a forward pass over ``n`` sequences of ``length`` in evaluation batches
    (B x L x D <= eval_max_elements, as contlaws.train.eval_batch_size)."""
    batch = max(1, min(n, eval_max_elements // (length * job.d_model)))
    flops = forward_flops_per_token(job, length) * n * length
    launches = math.ceil(n / batch) * launches_per_step(job, length, batch) / 3
    return flops / (GPU["peak_flops"] * GPU["achieved_fraction"]) + launches * GPU["launch_seconds"]


def gpu_seconds_evaluation(job: TrainingJob, cfg: Mapping[str, Any]) -> float:
    """One evaluation job of a trained model: E2 (evaluate_refinement) every tau x amplitude on the
    refined test sets; E3 (eta_evaluate, per model) the test split once; E5 two test passes (final, best)."""
    eval_max = int(cfg["train"].get("eval_max_elements", 2**24))
    if job.rule == "train_refinement":
        reg = cfg["regression"]
        amplitudes = len({1, *cfg["refinement_trained"].get("amplitudes", [1])})
        return amplitudes * sum(gpu_seconds_forward(job, reg["n_test"], round(reg["length"] / tau), eval_max)
                                for tau in reg["taus"])  # fmt: skip
    if job.rule == "eta_train":
        return gpu_seconds_forward(job, cfg["forecasting"]["n_test"], job.length, eval_max)
    n_test = REAL_VAL_SIZES.get(job.key.split("/")[0], job.n_val)  # test splits are as large as val or larger
    return 2 * gpu_seconds_forward(job, n_test, job.length, eval_max)


def flops_per_step(job: TrainingJob) -> float:
    return 3 * forward_flops_per_token(job, job.length) * job.batch * job.length


# ------------------------------------------------------------------------------------------------
# The training jobs of a config
# ------------------------------------------------------------------------------------------------
def _merged(cfg: Mapping[str, Any], section: str) -> dict:
    return {**cfg[section], **cfg["eta_performance"].get(section, {})}


def _batch(train: Mapping[str, Any], model: str) -> int:
    return int(train.get("batch_size_per_model", {}).get(model, train["batch_size"]))


def _model_job(rule, model, runs, cfg, model_cfg, train, epochs, data, d_input, d_output, causal) -> TrainingJob:
    layer = model_cfg.get(model, {}) if isinstance(model_cfg.get(model), Mapping) else {}
    d_state = int(layer.get("d_state", {"s4d": 2, "s6": 16}.get(model, 64)))
    transformer = model_cfg.get("transformer", {})
    heads = transformer.get("n_heads", 8) if model == "transformer" else model_cfg.get("linear_attention", {}).get(
        "n_heads", 8)  # fmt: skip
    return TrainingJob(rule=rule, key=model, runs=runs, model=model, n_train=int(data["n_train"]),
                       n_val=int(data["n_val"]), batch=_batch(train, model), epochs=int(epochs),
                       length=int(data["length"]), d_input=d_input, d_output=d_output,
                       d_model=int(model_cfg.get("d_model", 128)), n_layers=int(model_cfg.get("n_layers", 4)),
                       d_state=d_state, dt_rank=int(layer.get("dt_rank", 8)), d_ff=int(transformer.get("d_ff", 512)),
                       n_heads=int(heads), causal=causal,
                       scan_chunk=int(model_cfg.get("s6", {}).get("scan_chunk", 256)))  # fmt: skip


def training_jobs(cfg: Mapping[str, Any]) -> list[TrainingJob]:
    """Every kind of training the config asks for, with its number of runs."""
    jobs = []
    rt = cfg["refinement_trained"]
    for model in rt["models"]:
        runs = len(rt["systems"]) * len(rt["discretizations"]) * len(rt["seeds"])
        epochs = rt.get("epochs", cfg["train"]["epochs"])
        jobs.append(_model_job("train_refinement", model, runs, cfg, cfg["model"], cfg["train"], epochs,
                               cfg["regression"], 1, 3, False))  # fmt: skip
    eta = cfg["eta_performance"]
    model_cfg, train = _merged(cfg, "model"), _merged(cfg, "train")
    fc = cfg["forecasting"]
    obs, horizon = int(fc.get("obs_dim", 16)), int(fc.get("horizon", 1))
    causal = eta.get("readout", "causal") == "causal"
    for model in eta["models"]:
        runs = len(eta["systems"]) * len(cfg["forecasting"]["etas"]) * len(eta["seeds"])
        # the cap: with train.early_stopping an upper bound of what the run trains
        epochs = eta.get("epochs_per_model", {}).get(model, eta.get("epochs", cfg["train"]["epochs"]))
        jobs.append(_model_job("eta_train", model, runs, cfg, model_cfg, train, epochs, fc, obs, obs * horizon, causal))
    sub = cfg["subsampling"]
    n_stages, per_stage = int(sub["n_stages"]), int(sub["epochs_per_stage"])
    for task in sub["tasks"]:
        length, d_in = TASK_SHAPES.get(task, (int(sub.get("listops_max_length", 512)), 1))
        n_train = REAL_TRAIN_SIZES.get(task, int(sub.get("n_train", 4000)))
        n_val = REAL_VAL_SIZES.get(task, int(sub.get("n_val", 500)))
        batch = int(sub.get("batch_size_per_task", {}).get(task, sub["batch_size"]))
        for mode in ("subsampled", "baseline"):
            strides = tuple(2 ** (n_stages - 1 - k) if mode == "subsampled" else 1
                            for k in range(n_stages) for _ in range(per_stage))  # fmt: skip
            jobs.append(TrainingJob(rule="subsample_train", key=f"{task}/{mode}", runs=len(sub["seeds"]), model="s4d",
                                    n_train=n_train, n_val=n_val, batch=batch, epochs=n_stages * per_stage,
                                    length=length, d_input=d_in, d_output=10, d_model=int(sub["d_model"]),
                                    n_layers=int(sub["n_layers"]), d_state=int(sub["d_state"]),
                                    strides=strides, value_bytes=8 if task in TOKEN_TASKS else 4))  # fmt: skip
    return jobs + alignment_benchmark_jobs(cfg)


def task_split_sizes(task: str, cfg: Mapping[str, Any]) -> tuple[int, int]:
    """(n_train, n_val) of a benchmark task as its reader splits it: the real sizes of
    :data:`REAL_TRAIN_SIZES`; for digits and stdlib_text subsampling's counts where they fit the pool,
    else the whole pool in the same proportions (contlaws.data.benchmarks.tasks.counted_split); for the
    generated ListOps subsampling's counts."""
    if task in REAL_TRAIN_SIZES:
        return REAL_TRAIN_SIZES[task], REAL_VAL_SIZES[task]
    sub = cfg["subsampling"]
    counts = [int(sub["n_train"]), int(sub["n_val"]), int(sub["n_test"])]
    pool = BUILTIN_POOL_SIZES.get(task)
    if pool is None or sum(counts) <= pool:
        return counts[0], counts[1]
    val, test = (int(n / sum(counts) * pool) for n in counts[1:])  # split_by_fractions: floor, train the rest
    return pool - val - test, val


def alignment_benchmark_jobs(cfg: Mapping[str, Any]) -> list[TrainingJob]:
    """The C4(b) trainings (rule ``alignment_benchmarks_train``): one kind per task x model, one run per
    seed; one budget for every model (epochs, batch size of the task), the classifier of
    contlaws.experiments.alignment_benchmarks.model_config (mean pool over time: no per-position decoder)."""
    ab = cfg.get("alignment_benchmarks")
    if not ab:
        return []
    jobs = []
    for task in ab["tasks"]:
        length, d_in = TASK_SHAPES.get(task, (int(cfg["subsampling"].get("listops_max_length", 512)), 1))
        n_train, n_val = task_split_sizes(task, cfg)
        batch = int((ab.get("batch_size_per_task") or {}).get(task, ab["batch_size"]))
        for model in ab["models"]:
            jobs.append(TrainingJob(rule="alignment_benchmarks_train", key=f"{task}/{model}", runs=len(ab["seeds"]),
                                    model=model, n_train=n_train, n_val=n_val, batch=batch, epochs=int(ab["epochs"]),
                                    length=length, d_input=d_in, d_output=TASK_CLASSES.get(task, 10),
                                    d_model=int(ab["d_model"]), n_layers=int(ab["n_layers"]),
                                    d_state=int(ab["d_state"]), d_ff=2 * int(ab["d_model"]), n_heads=int(ab["n_heads"]),
                                    value_bytes=8 if task in TOKEN_TASKS else 4))  # fmt: skip
    return jobs


# ------------------------------------------------------------------------------------------------
# Measurements of the paper-shapes run (benchmarks/paper_shapes_measured.csv)
# ------------------------------------------------------------------------------------------------
MEASURED_COLUMNS = ("rule", "key", "jobs", "seconds", "cpu_seconds", "max_rss_mb", "step_seconds", "step_cpu_seconds")


def read_measured(path: str | Path) -> dict[tuple[str, str], dict]:
    """(rule, key) -> {jobs, seconds, cpu_seconds, max_rss_mb, step_seconds, step_cpu_seconds} (floats; NaN
    where not measured).
    A missing file gives an empty table (the rules then request floors and projections only)."""
    path = Path(path)
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        out[(row["rule"], row["key"])] = {k: float(row[k]) if row.get(k) not in ("", None) else math.nan
                                          for k in MEASURED_COLUMNS[2:]}  # fmt: skip
    return out


def _measured(measured: Mapping, rule: str, key: str = "") -> dict:
    """The measurement of (rule, key), else the largest of the rule's (a conservative stand-in)."""
    if (rule, key) in measured:
        return measured[(rule, key)]
    rows = [v for (r, _), v in measured.items() if r == rule]
    if not rows:
        return {}
    return {k: max((v[k] for v in rows if not math.isnan(v[k])), default=math.nan) for k in rows[0]}


# ------------------------------------------------------------------------------------------------
# Cluster requests (runtime in minutes, mem_mb), before the retry factor
# ------------------------------------------------------------------------------------------------
def _data_mb(n: int, length: int, channels: int, bytes_per_value: int = 4) -> float:
    return n * length * channels * bytes_per_value / 2**20


def training_request(job: TrainingJob, measured: Mapping) -> tuple[int, int]:
    """(runtime minutes, mem_mb) of one run: projected GPU time with margin and start-up; host memory
    = the training data in memory (train + val, the causal readout's per-position targets as much again)
    plus the measured peak of the paper-shapes job (activations on CPU, libraries)."""
    minutes = RUNTIME_STARTUP_MIN + RUNTIME_MARGIN * gpu_seconds_per_run(job) / 60
    copies = 2 if job.causal else 1
    data = copies * _data_mb(job.n_train + job.n_val, job.length, job.d_input, job.value_bytes)
    peak = _measured(measured, job.rule, job.key).get("max_rss_mb", math.nan)
    mem = data + (peak if not math.isnan(peak) else 2000)
    return max(RUNTIME_FLOOR_MIN, math.ceil(minutes)), max(MEM_FLOOR_MB, 500 * math.ceil(mem / 500))


def other_request(rule: str, measured: Mapping, scale: float = 1.0, data_mb: float = 0.0) -> tuple[int, int]:
    """(runtime minutes, mem_mb) of a job that does not train: the paper-shapes seconds scaled by
    ``scale`` (the ratio of its work at this config to the paper-shapes run), with margin; memory = the
    paper-shapes peak (libraries, small arrays) + 500 MB + 3 copies of the ``data_mb`` it holds at this
    config (the arrays it writes or reads whole)."""
    m = _measured(measured, rule)
    # CPU seconds where measured: a cluster job has its cores to itself, the paper-shapes run may not have
    seconds = next((v for v in (m.get("cpu_seconds"), m.get("seconds")) if v is not None and not math.isnan(v)), 60.0)
    peak = m.get("max_rss_mb", math.nan)
    peak = 1000.0 if math.isnan(peak) else peak
    minutes = RUNTIME_STARTUP_MIN + RUNTIME_MARGIN * seconds * scale / 60
    mem = 500 + peak + 3 * data_mb
    return max(RUNTIME_FLOOR_MIN, math.ceil(minutes)), max(MEM_FLOOR_MB, 500 * math.ceil(mem / 500))


def data_mb(rule: str, cfg: Mapping[str, Any], wildcards: Mapping[str, str]) -> float:
    """MB of the arrays a data job holds at ``cfg`` (float32): the split it generates or the test set it reads."""
    split = wildcards.get("split", "train")
    if rule == "regression_dataset":
        reg = cfg["regression"]
        tau = float(wildcards.get("tau", min(reg["taus"])))
        return _data_mb(reg[f"n_{split}"], round(reg["length"] / tau), 1)
    fc = cfg["forecasting"]
    if rule in ("forecasting_dataset", "forecasting_latent"):  # an eta file is small; kept as an upper bound
        return _data_mb(fc[f"n_{split}"], fc["length"] + fc.get("horizon", 1), fc.get("obs_dim", 16))
    if rule == "eta_evaluate":
        return _data_mb(fc["n_test"], fc["length"] + fc.get("horizon", 1), fc.get("obs_dim", 16))
    return 0.0


# Work of a non-training job at a config, relative to the paper-shapes run (same shapes, other counts).
def work_scale(rule: str, cfg: Mapping[str, Any], shapes: Mapping[str, Any]) -> float:
    def ratio(section, keys=("n_train", "n_val", "n_test")):
        return sum(cfg[section][k] for k in keys) / sum(shapes[section][k] for k in keys)

    if rule == "regression_dataset":
        return ratio("regression") * cfg["regression"]["length"] / shapes["regression"]["length"]
    if rule in ("forecasting_dataset", "forecasting_latent", "eta_evaluate"):
        return ratio("forecasting") * cfg["forecasting"]["length"] / shapes["forecasting"]["length"]
    if rule == "evaluate_refinement":
        return cfg["regression"]["n_test"] / shapes["regression"]["n_test"]
    if rule == "refine_numerical_compute":
        return cfg["refinement_numerical"]["n_systems"] / shapes["refinement_numerical"]["n_systems"]
    if rule == "task_continuity_score":
        return max(1, cfg["task_continuity"]["max_sequences"] or 1) / max(1, shapes["task_continuity"]["max_sequences"])
    if rule == "bench_prepare_real":  # the real splits against the stand-in archives (~40 examples)
        return 4000.0
    return 1.0


# Training rules whose jobs may train several runs (the config section's train_job), and that section.
GROUPED_SECTIONS = {"eta_train": "eta_performance", "alignment_benchmarks_train": "alignment_benchmarks"}


def training_keys(rule: str, wildcards: Mapping[str, str], cfg: Mapping[str, Any]) -> list[str]:
    """The key of every run one training job trains: one, or for a job without a model wildcard every
    model and seed it trains (``eta_performance.train_job: cell``, one E3 (system, eta) set;
    ``alignment_benchmarks.train_job: task``, one C4(b) task)."""
    if "model" not in wildcards and rule in GROUPED_SECTIONS:
        section = cfg[GROUPED_SECTIONS[rule]]
        prefix = f"{wildcards['task']}/" if rule == "alignment_benchmarks_train" else ""
        return [f"{prefix}{model}" for model in section["models"] for _ in section["seeds"]]
    return [training_key(rule, wildcards)]


def training_key(rule: str, wildcards: Mapping[str, str]) -> str:
    """The (rule, key) key of a training job from its wildcards: model (E2, E3), task/mode (E5),
    task/model (C4(b))."""
    if rule == "subsample_train":
        return f"{wildcards.get('task')}/{wildcards.get('mode')}"
    if rule == "alignment_benchmarks_train":
        return f"{wildcards.get('task')}/{wildcards.get('model')}"
    return wildcards.get("model", "")


class RuleCosts:
    """What each rule requests for a config: ``runtime(rule, wildcards)``, ``mem_mb(rule, wildcards)``."""

    def __init__(self, cfg: Mapping[str, Any], measured: Mapping, shapes_cfg: Mapping[str, Any]):
        self.cfg, self.measured, self.shapes = cfg, measured, shapes_cfg
        self.jobs = {(j.rule, j.key): j for j in training_jobs(cfg)}

    def request(self, rule: str, wildcards: Mapping[str, str] | None = None) -> tuple[int, int]:
        wildcards = wildcards or {}
        evaluated = {"evaluate_refinement": "train_refinement", "eta_evaluate": "eta_train"}
        if rule in evaluated:  # GPU time of the evaluation passes; memory as measured, scaled
            jobs = [j for (r, k), j in self.jobs.items() if r == evaluated[rule]
                    and (rule != "evaluate_refinement" or k == wildcards.get("model", k))]  # fmt: skip
            seconds = sum(gpu_seconds_evaluation(j, self.cfg) for j in jobs)
            minutes = max(RUNTIME_FLOOR_MIN, math.ceil(RUNTIME_STARTUP_MIN + RUNTIME_MARGIN * seconds / 60))
            scale = work_scale(rule, self.cfg, self.shapes)
            return minutes, other_request(rule, self.measured, scale, data_mb(rule, self.cfg, wildcards))[1]
        if rule in GROUPED_SECTIONS and "model" not in wildcards:  # one job, several runs (training_keys)
            requests = [training_request(self.jobs[(rule, key)], self.measured)
                        for key in training_keys(rule, wildcards, self.cfg) if (rule, key) in self.jobs]  # fmt: skip
            if requests:  # the start-up once, every run's projected time after it
                minutes = RUNTIME_STARTUP_MIN + sum(m - RUNTIME_STARTUP_MIN for m, _ in requests)
                return max(RUNTIME_FLOOR_MIN, minutes), max(mem for _, mem in requests)
        if rule in TRAINING_RULES:
            key = training_key(rule, wildcards)
            job = self.jobs.get((rule, key)) or max(
                (j for (r, _), j in self.jobs.items() if r == rule), key=gpu_seconds_per_run, default=None)
            if job is not None:
                return training_request(job, self.measured)
        scale = work_scale(rule, self.cfg, self.shapes)
        return other_request(rule, self.measured, scale, data_mb(rule, self.cfg, wildcards))

    def runtime(self, rule: str, wildcards: Mapping[str, str] | None = None) -> int:
        return self.request(rule, wildcards)[0]

    def mem_mb(self, rule: str, wildcards: Mapping[str, str] | None = None) -> int:
        return self.request(rule, wildcards)[1]


# ------------------------------------------------------------------------------------------------
# The projected cost of a run on this machine (printed when the DAG is built; the laptop guard)
# ------------------------------------------------------------------------------------------------
def training_flops_per_run(job: TrainingJob, max_steps_per_epoch: int | None = None) -> float:
    """Training FLOPs of one run: every optimizer step at the length each epoch sees (E5 strides), at
    most ``max_steps_per_epoch`` steps per epoch (``train.max_steps_per_epoch``, as the trainer does)."""
    steps_per_epoch = math.ceil(job.n_train / job.batch)
    if max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, int(max_steps_per_epoch))
    return sum(steps_per_epoch * 3 * forward_flops_per_token(job, n) * job.batch * n for n in job.epoch_lengths())


def cpu_seconds_per_flop(measured: Mapping, shapes_cfg: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """(rule, key) -> CPU seconds per training FLOP, measured at paper shapes (one thread).

    The paper-shapes run measures CPU seconds per optimizer step at the paper's shapes; divided by the
    FLOPs of that step, it carries to any config's shapes of the same model (rates differ by model:
    the S6 loop scan is launch-bound, attention is matmul-bound)."""
    rates = {}
    for job in training_jobs(shapes_cfg):
        m = measured.get((job.rule, job.key), {})
        step_cpu = m.get("step_cpu_seconds", math.nan)
        if not math.isnan(step_cpu) and step_cpu > 0:
            rates[(job.rule, job.key)] = step_cpu / flops_per_step(job)
    return rates


@dataclass(frozen=True)
class RunProjection:
    """Projected cost of the trainings of a run: GPU hours on one GPU, CPU hours on one thread."""

    gpu_hours: float
    cpu_hours: float
    trainings: int

    def cpu_days(self, cores: int) -> float:
        """Wall-clock days on ``cores`` CPU cores, trainings running side by side."""
        return self.cpu_hours / max(1, cores) / 24

    def describe(self, gpu: bool, cores: int) -> str:
        if gpu:
            return f"{self.trainings} trainings, projected {self.gpu_hours:,.1f} GPU hours on one GPU"
        return (f"{self.trainings} trainings, projected {self.cpu_days(cores):,.2f} days on {cores} CPU core(s) "
                f"({self.cpu_hours:,.1f} CPU hours; {self.gpu_hours:,.1f} GPU hours on one GPU)")  # fmt: skip


def run_projection(cfg: Mapping[str, Any], measured: Mapping, shapes_cfg: Mapping[str, Any],
                   runs: Mapping[tuple[str, str], int] | None = None) -> RunProjection:  # fmt: skip
    """Projected cost of the trainings of ``cfg``: all of them, or ``runs[(rule, key)]`` runs of each
    kind (the jobs a DAG still has to run). Evaluation and data jobs are left out: they are minutes.

    CPU seconds per FLOP come from the paper-shapes measurements of the same kind, else the slowest
    measured kind (a conservative stand-in)."""
    rates = cpu_seconds_per_flop(measured, shapes_cfg)
    fallback = max(rates.values(), default=math.nan)
    cap = cfg["train"].get("max_steps_per_epoch")
    gpu_s = cpu_s = 0.0
    trainings = 0
    for job in training_jobs(cfg):
        n = job.runs if runs is None else int(runs.get((job.rule, job.key), 0))
        if n == 0:
            continue
        trainings += n
        flops = training_flops_per_run(job, cap)
        gpu_s += n * gpu_seconds_per_run(job) * flops / training_flops_per_run(job)
        if job.model not in GPU_LAYERS:  # the CUDA-only baselines never train on a CPU ("not run")
            cpu_s += n * rates.get((job.rule, job.key), fallback) * flops
    return RunProjection(gpu_hours=gpu_s / 3600, cpu_hours=cpu_s / 3600, trainings=trainings)


LONG_CPU_RUN_DAYS = 1.0  # the laptop guard: a run projected above this many days on the CPU stops first


def long_cpu_run_refusal(projected: RunProjection, run_name: str, cores: int, gpus: int, local_exec: bool,
                         confirmed: bool) -> str | None:  # fmt: skip
    """The one-line refusal of a run too long for this machine, or None when it may start.

    Refused only when every condition holds: no GPU, jobs on this machine (not a cluster executor, not
    --touch), the run projected above :data:`LONG_CPU_RUN_DAYS` days on ``cores`` cores, and the config
    key ``confirm_long_cpu_run`` not set. Dry runs never get here (the workflow's onstart handler)."""
    days = projected.cpu_days(cores)
    if gpus > 0 or not local_exec or confirmed or not days > LONG_CPU_RUN_DAYS:
        return None
    return (f"error: run '{run_name}' is projected at {days:,.1f} days on this machine ({cores} CPU core(s), no GPU; "
            f"{projected.trainings} trainings, {projected.cpu_hours:,.0f} CPU hours). For a laptop run use the "
            f"evidence scale: make evidence (about 2 h on 2 cores). To start this run anyway: "
            f"--config confirm_long_cpu_run=true")
