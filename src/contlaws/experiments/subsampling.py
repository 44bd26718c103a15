"""E5: temporal subsampling, coarse to fine (spec E5, paper Figure 6).

Staged training: the epoch budget is split into n stages of ``epochs_per_stage`` epochs; stage k
(0-based) sees the inputs mean-pooled over non-overlapping windows of s_k = 2^(n−1−k) steps
(coarsest first, the last stage at full resolution). The S4D layers are told the coarser grid
through their step factor: τ = s_k, so Δ = exp(log_dt)·s_k and the coarse model is the same
continuous-time system sampled less often. The learning rate warms up linearly, then follows a
cosine restarted at every stage boundary (:mod:`contlaws.schedule`, ``cosine_step_restarts``).
Validation runs at the current stage's stride, the final test at stride 1.

The baseline is the same model, seed, data and epoch budget at stride 1 throughout, with the same
stage boundaries (so the same learning-rate curve): the stride is the only difference.

Code names -> paper symbols:

    stride, s_k        s        subsampling factor of stage k (window length of the mean pool)
    tau                τ        step factor the layers receive; τ = s_k during stage k
    log_dt             Δ        S4D step exp(log_dt)·τ, log_dt ~ U[log 1e−4, log 1e−1], frozen
    A                  A        −0.5 + i·π·m ("lin" init of the model registry, see below)
    d_state            N        S4D real state size (N/2 complex modes)
    n_stages, epochs_per_stage  n, E/n

Model (the authors' Path-X demo as far as the model registry allows): S4D layers with ZOH,
prenorm residual blocks, mean pool over time, AdamW with lr/weight decay from ``subsampling``, the
SSM parameters (log A_real, A_imag) at lr 4e−5 and weight decay 0, log_dt frozen. Differences from
the authors' demo, all documented in docs/claims.md (C5): LayerNorm instead of BatchNorm; no input
concatenated with its time reversal; the registry's MLP decoder instead of a linear head; A_imag
initialised as π·m (registry "lin") instead of 3π·m; no channel-norm equalization (that trick
belongs to the authors' E2 model, not to the demo); dropout 0.

Outputs of ``contlaws subsampling-train`` (one run = task × mode × seed), in ``--out``: the engine's
``last.pt``, ``best.pt``, ``metrics.csv`` (epoch, stage, stride, lr, train_loss, val_accuracy,
val_loss, epoch_seconds, cumulative_seconds) and ``summary.json`` with the test accuracy at
stride 1 of the final weights (``test.accuracy``) and of the best-validation weights.

Size (about 440 lines, above the package's ~400): one run of E5 (the classifier, its stages,
the data, training and test) reads top to bottom here; the tables are apart in
:mod:`contlaws.experiments.subsampling_tables`.
"""

from __future__ import annotations

import logging
import math
import resource
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contlaws.errors import ConfigError, UserError

if TYPE_CHECKING:  # pandas is imported where used: Snakemake imports this module to build the DAG
    import pandas as pd

log = logging.getLogger(__name__)

MODES = ("subsampled", "baseline")
MODEL_NAME = "s4d"
# The authors' Path-X demo settings that the config does not expose (spec E5).
SSM_LR = 4e-5  # log A_real and A_imag (weight decay 0); log_dt is frozen
DT_MIN, DT_MAX = 1e-4, 1e-1
DROPOUT = 0.0


def stage_strides(n_stages: int) -> list[int]:
    """Strides s_k = 2^(n−1−k) of stages k = 0..n−1, coarsest first (the last is 1)."""
    if n_stages < 1:
        raise ValueError(f"n_stages must be positive, got {n_stages}")
    return [2 ** (n_stages - 1 - k) for k in range(n_stages)]


def stage_plan(n_stages: int, epochs_per_stage: int, mode: str) -> list[tuple[int, int]]:
    """[(epochs, stride), ...] of one run: coarse to fine (subsampled) or stride 1 throughout (baseline)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    strides = stage_strides(n_stages) if mode == "subsampled" else [1] * n_stages
    return [(int(epochs_per_stage), s) for s in strides]


def check_tasks(sub: Mapping[str, Any]) -> None:
    """subsampling.tasks must match subsampling.source (builtin stand-ins vs fetched benchmarks)."""
    from contlaws.data.benchmarks.registry import get_task

    for task in sub["tasks"]:
        if get_task(task).source == "ucr":  # real data from a pinned wheel: allowed at every scale
            continue
        builtin = get_task(task).source == "builtin"
        if builtin != (sub["source"] == "builtin"):
            kind = "a built-in stand-in" if builtin else "a fetched benchmark"
            raise ConfigError(f"key 'subsampling.tasks': '{task}' is {kind}, but subsampling.source = {sub['source']}")


def model_config(sub: Mapping[str, Any]) -> dict:
    """The registry's ``model`` section for the E5 classifier, from the config's ``subsampling`` section
    (the keys not set here take their schema defaults, not the run's ``model`` section)."""
    from contlaws.models.registry import resolve_model_cfg

    return resolve_model_cfg({
        "d_model": int(sub["d_model"]),
        "n_layers": int(sub["n_layers"]),
        "dropout": DROPOUT,
        "prenorm": True,
        "s4d": {
            "d_state": int(sub["d_state"]),
            "discretization": "zoh",
            "a_imag_init": "lin",
            "channel_norm": False,
            "dt_min": DT_MIN,
            "dt_max": DT_MAX,
            "lr_ssm": SSM_LR,
            "lr_a_imag": SSM_LR,
        },
    })


def build_classifier(sub: Mapping[str, Any], dataset):
    """The E5 S4D classifier for ``dataset`` (a classification SequenceDataset), log_dt frozen.

    Seed torch before calling it for reproducible initial weights.
    """
    from contlaws.models import S4D, build_model

    if int(sub["d_state"]) % 2:
        raise ConfigError(f"key 'subsampling.d_state' = {sub['d_state']}: must be even (complex conjugate pairs)")
    model = build_model(
        MODEL_NAME,
        d_input=dataset.d_input,
        d_output=dataset.d_output,
        model_cfg=model_config(sub),
        input_kind=dataset.input_kind,
        vocab_size=dataset.d_input if dataset.input_kind == "tokens" else None,
    )
    for module in model.modules():
        if isinstance(module, S4D):
            module.log_dt.requires_grad_(False)  # the demo trains with a fixed step Δ
    return model


def majority_test_accuracy(train, test) -> float:
    """E5 learning gate's trivial reference: accuracy on ``test`` of always predicting the most
    frequent class of ``train`` (ties: the smallest class index)."""
    import numpy as np

    _, y_train = train.get_batch(np.arange(len(train)))
    _, y_test = test.get_batch(np.arange(len(test)))
    majority = int(np.bincount(y_train.numpy()).argmax())
    return float(np.mean(y_test.numpy() == majority))


def learned_gate(accuracy: float, majority: float, n_test: int, n_se: float) -> bool:
    """True when ``accuracy`` > majority + n_se · sqrt(majority (1 − majority) / n_test) (binomial SE)."""
    se = math.sqrt(max(majority * (1.0 - majority), 0.0) / max(int(n_test), 1))
    return bool(accuracy > majority + n_se * se)


def continuity_label(tc: float, continuous_min: float) -> str:
    """``continuous`` when the measured TC is at least ``task_continuity.continuous_min``, else ``discrete``."""
    return "continuous" if tc >= continuous_min else "discrete"


def majority_fraction(dataset) -> float:
    """Validation accuracy of always predicting the most frequent class (chance level)."""
    import numpy as np

    _, labels = dataset.get_batch(np.arange(len(dataset)))
    return float(np.bincount(labels.numpy()).max() / len(dataset))


def task_batch_size(sub: Mapping[str, Any], task: str | None) -> int:
    """``subsampling.batch_size_per_task[task]`` if set, else ``subsampling.batch_size``.

    Small real sets (GunPoint: 40 training series) get a few optimizer steps per epoch only at a
    smaller batch.
    """
    per_task = sub.get("batch_size_per_task") or {}
    return int(per_task.get(task, sub["batch_size"])) if task is not None else int(sub["batch_size"])


def train_settings(cfg: Mapping[str, Any], mode: str, seed: int, task: str | None = None):
    """:class:`contlaws.train.TrainSettings` of one E5 run (staged cosine with warmup and restarts)."""
    from contlaws.train_settings import TrainSettings, engine_fields

    sub = cfg["subsampling"]
    stages = stage_plan(int(sub["n_stages"]), int(sub["epochs_per_stage"]), mode)
    return TrainSettings(
        epochs=sum(e for e, _ in stages),
        batch_size=task_batch_size(sub, task),
        lr=float(sub["lr"]),
        weight_decay=float(sub["weight_decay"]),
        warmup_epochs=float(sub["warmup_epochs"]),
        seed=int(seed),
        task="classification",
        schedule="cosine_step_restarts",
        stages=stages,
        **engine_fields(cfg["train"]),
    )


def run(cfg: Mapping[str, Any], task: str, mode: str, seed: int, train: Path, val: Path, test: Path, out: Path,
        restart_on_mismatch: bool = False) -> dict:
    """Train one E5 run with the engine (resuming from ``out/last.pt``), test at stride 1, write summary.json.

    Returns:
        The summary: the engine's (best epoch, history rows, total_seconds, provenance) plus
        task, mode, seed, stages, continuity, n_val, val_chance_accuracy (majority class),
        n_parameters and ``test`` = {accuracy, loss, n} of the
        final weights and ``test_best_val`` of the best-validation weights, both at stride 1.
    """
    # Longer than ~60 lines on purpose: the steps of one E5 run in order (data, model, engine, test of both weight sets, summary); the engine itself is split.
    import torch

    from contlaws.data.sets import load_split
    from contlaws.io import write_json
    from contlaws.train import evaluate, fit, load_model, seed_everything

    if task not in cfg["subsampling"]["tasks"]:
        raise UserError(f"task '{task}' is not listed in subsampling.tasks = {cfg['subsampling']['tasks']}")
    check_tasks(cfg["subsampling"])
    datasets = {name: load_split(path) for name, path in (("train", train), ("val", val), ("test", test))}
    for ds in datasets.values():
        if ds.task != "classification":
            raise UserError(f"{ds.path}: E5 needs a classification split, got a {ds.task} file")
        benchmark = ds.meta.get("benchmark")
        if benchmark not in (None, task):
            raise UserError(f"{ds.path}: holds benchmark '{benchmark}', not the requested task '{task}'")
        if (ds.input_kind, ds.d_input, ds.d_output) != (datasets["train"].input_kind, datasets["train"].d_input,
                                                        datasets["train"].d_output):  # fmt: skip
            raise UserError(f"{ds.path} and {train} differ in input kind, width or classes")
    try:
        settings = train_settings(cfg, mode, seed, task)
    except ValueError as err:
        raise UserError(f"invalid subsampling settings: {err}") from None

    seed_everything(settings.seed)
    model = build_classifier(cfg["subsampling"], datasets["train"])
    meta = {"config": cfg, "experiment": "subsampling", "task": task, "mode": mode,
            "train": str(train), "val": str(val)}  # fmt: skip
    try:
        summary = fit(model, datasets["train"], datasets["val"], out, settings, meta=meta,
                      restart_on_mismatch=restart_on_mismatch)
    except ValueError as err:  # the schedule refuses a warmup longer than the first stage
        raise UserError(f"invalid subsampling settings: {err}") from None

    device = next(model.parameters()).device
    final = evaluate(model, datasets["test"], stride=1, device=device, eval_max_elements=settings.eval_max_elements)
    best_model, _ = load_model(Path(out) / "best.pt", device=device)
    best = evaluate(best_model, datasets["test"], stride=1, device=device, eval_max_elements=settings.eval_max_elements)
    summary.update(
        experiment="subsampling",
        benchmark=task,
        mode=mode,
        seed=int(seed),
        stages=[list(s) for s in settings.stage_plan()],
        continuity=datasets["train"].meta.get("continuity", "unknown"),  # nominal; the table labels by TC
        majority_accuracy=majority_test_accuracy(datasets["train"], datasets["test"]),
        n_test=len(datasets["test"]),
        n_val=len(datasets["val"]),
        val_chance_accuracy=majority_fraction(datasets["val"]),
        n_parameters=sum(p.numel() for p in model.parameters()),
        n_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        test={"stride": 1, "weights": "final", **final},
        test_best_val={"stride": 1, "weights": f"best validation (epoch {summary['best_epoch']})", **best},
        test_file=str(test),
        device=str(device),
        torch_threads=torch.get_num_threads(),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # after the tests, too
    )
    write_json(Path(out) / "summary.json", summary)
    log.info("%s %s seed %d: test accuracy %.4f (final) %.4f (best val) after %.1f s", task, mode, seed,
             final["accuracy"], best["accuracy"], summary["total_seconds"])  # fmt: skip
    return summary


# ------------------------------------------------------------------------------------------------
# Collecting runs: per-epoch curves and the speed/accuracy table
# ------------------------------------------------------------------------------------------------
CURVE_COLUMNS = ("epoch", "stage", "stride", "lr", "val_accuracy", "epoch_seconds", "cumulative_seconds")
RUN_KEYS = ("task", "continuity", "mode", "seed")
# Relative timing noise never counts as smaller than this (timer resolution, scheduling jitter).
MIN_TIMING_NOISE = 0.05
NOT_REACHED = "not reached"


def read_run(run_dir: str | Path) -> tuple[dict, pd.DataFrame]:
    """(summary, metrics) of one run folder; DataFileError naming the file when incomplete."""

    from contlaws.errors import DataFileError
    from contlaws.io import read_json, read_result_csv

    run_dir = Path(run_dir)
    summary = read_json(run_dir / "summary.json")
    missing = [k for k in ("test", "n_val", "val_chance_accuracy", "majority_accuracy", "n_test") if k not in summary]
    if summary.get("experiment") != "subsampling" or missing:
        raise DataFileError(f"{run_dir / 'summary.json'}: not the summary of a finished `contlaws subsampling-train` run "
                            f"of this version (missing {', '.join(missing) or 'experiment'}); delete {run_dir} to retrain")
    path = run_dir / "metrics.csv"
    metrics = read_result_csv(path, CURVE_COLUMNS, what="metrics of the run")
    if len(metrics) != summary["epochs"]:
        raise DataFileError(f"{path}: {len(metrics)} epochs, but the summary says {summary['epochs']}")
    return summary, metrics


def collect_runs(run_dirs, tc: Mapping[str, float], continuous_min: float = 0.8,
                 gate_se: float = 2.0) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Per-epoch curves of every run and one row per run with its test accuracy.

    ``tc`` maps each task to the TC of its training split (the E4 record of the task,
    ``results/<run>/task_continuity/benchmarks/<task>.json``: measured once per task, not per
    training, so a change of TC metric re-labels the runs without retraining them). ``continuity`` is
    the label from it (at least ``continuous_min``: continuous); ``learned`` is the E5 gate: test
    accuracy > majority_accuracy + ``gate_se`` binomial standard errors on n_test.

    Returns:
        curves: task, continuity, mode, seed + the metrics.csv columns, by run (tasks in the order
            given) then epoch.
        runs: task, continuity, mode, seed, test_accuracy (final weights, stride 1),
            test_accuracy_best_val, n_val, val_chance_accuracy, epochs, total_seconds.
    """
    import pandas as pd

    curves, runs, task_order = [], [], {}
    for run_dir in run_dirs:
        summary, metrics = read_run(run_dir)
        if summary["benchmark"] not in tc:
            raise UserError(f"{Path(run_dir) / 'summary.json'}: no task-continuity record of task "
                            f"'{summary['benchmark']}' among {sorted(tc)}")  # fmt: skip
        task_tc = float(tc[summary["benchmark"]])
        key = {"task": summary["benchmark"], "continuity": continuity_label(task_tc, continuous_min),
               "mode": summary["mode"], "seed": int(summary["seed"])}  # fmt: skip
        task_order.setdefault(key["task"], len(task_order))
        curves.append(metrics.assign(**key)[[*RUN_KEYS, *metrics.columns]])
        runs.append({**key, "test_accuracy": summary["test"]["accuracy"],
                     "test_accuracy_best_val": summary["test_best_val"]["accuracy"],
                     "task_continuity": task_tc, "majority_accuracy": float(summary["majority_accuracy"]),
                     "n_test": int(summary["n_test"]),
                     "learned": learned_gate(summary["test"]["accuracy"], summary["majority_accuracy"], summary["n_test"], gate_se),
                     "n_val": int(summary["n_val"]), "val_chance_accuracy": float(summary["val_chance_accuracy"]),
                     "epochs": int(summary["epochs"]), "total_seconds": float(summary["total_seconds"])})  # fmt: skip
    runs_df = pd.DataFrame(runs)
    duplicated = runs_df.duplicated(["task", "mode", "seed"])
    if duplicated.any():
        raise UserError(f"run {runs_df[duplicated].iloc[0][['task', 'mode', 'seed']].to_dict()} given twice")

    def ordered(df: pd.DataFrame, *extra: str) -> pd.DataFrame:  # tasks in the order given, then mode, seed
        df = df.assign(task_index=df["task"].map(task_order))
        df = df.sort_values(["task_index", "mode", "seed", *extra], kind="stable")
        return df.drop(columns="task_index").reset_index(drop=True)

    return ordered(pd.concat(curves, ignore_index=True), "epoch"), ordered(runs_df)


def _g(x: float) -> float:
    """6 significant digits, as write_table prints float columns (these columns may also hold text)."""
    return float(f"{float(x):.6g}")


def first_reach(curve: pd.DataFrame, target: float) -> pd.Series | None:
    """The first epoch row whose validation accuracy is ≥ ``target`` (None if never)."""
    hit = curve[curve["val_accuracy"] >= target - 1e-12]  # accuracies are ratios of integers; guard rounding
    return hit.iloc[0] if len(hit) else None


def timing_noise(curves: pd.DataFrame) -> float:
    """Relative wall-clock noise of this machine, measured on the runs themselves.

    Within one stage of one run every epoch does the same work, so the spread of its epoch times is
    noise (other jobs, caches, frequency scaling). Returns the median over stages with ≥ 3 epochs of
    std/mean of ``epoch_seconds`` (the first epoch of a run is left out: it pays one-off start-up
    costs), and NaN when no stage has enough epochs.
    """
    import numpy as np

    cvs = []
    for _, stage in curves.groupby(["task", "mode", "seed", "stage"], sort=False):
        seconds = stage.loc[stage["epoch"] > 1, "epoch_seconds"].to_numpy(dtype=float)
        if len(seconds) >= 3 and seconds.mean() > 0:
            cvs.append(seconds.std(ddof=1) / seconds.mean())
    return float(np.median(cvs)) if cvs else math.nan


def speed_table(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per task and seed: accuracy and time of the subsampled run against the baseline.

    The target is the baseline's best validation accuracy; each run's time to reach it is the
    cumulative wall clock at the end of its first epoch at or above it (the baseline: its best
    epoch). Wall-clock columns end in ``_seconds`` (speed-ups are ratios of them), so the
    byte-identity check of reruns (.ci/checksums.py) leaves them out; a target never reached
    reads "not reached" there.
    """
    import pandas as pd

    rows = []
    for (task, seed), pair in runs.groupby(["task", "seed"], sort=False):
        modes = set(pair["mode"])
        if modes != set(MODES):
                raise UserError(f"task {task} seed {seed}: need both a subsampled and a baseline run, got {sorted(modes)}")
        run = {m: pair[pair["mode"] == m].iloc[0] for m in MODES}
        curve = {m: curves[(curves["task"] == task) & (curves["seed"] == seed) & (curves["mode"] == m)] for m in MODES}
        target = float(curve["baseline"]["val_accuracy"].max())
        base_hit = first_reach(curve["baseline"], target)
        sub_hit = first_reach(curve["subsampled"], target)
        t_base = float(base_hit["cumulative_seconds"])
        row = {
            "task": task,
            "continuity": run["baseline"]["continuity"],
            "seed": int(seed),
            "epochs": int(run["baseline"]["epochs"]),
            "n_val": int(run["baseline"]["n_val"]),
            "val_chance_accuracy": float(run["baseline"]["val_chance_accuracy"]),
            "task_continuity": _g(run["baseline"]["task_continuity"]),
            "n_test": int(run["baseline"]["n_test"]),
            "majority_accuracy": float(run["baseline"]["majority_accuracy"]),
            "learned_subsampled": bool(run["subsampled"]["learned"]),
            "learned_baseline": bool(run["baseline"]["learned"]),
            "learned": bool(run["subsampled"]["learned"] and run["baseline"]["learned"]),
            "test_accuracy_subsampled": float(run["subsampled"]["test_accuracy"]),
            "test_accuracy_baseline": float(run["baseline"]["test_accuracy"]),
            "test_accuracy_difference": float(run["subsampled"]["test_accuracy"] - run["baseline"]["test_accuracy"]),
            "best_val_accuracy_subsampled": float(curve["subsampled"]["val_accuracy"].max()),
            "best_val_accuracy_baseline": target,
            "epoch_best_baseline": int(base_hit["epoch"]),
            "reached_baseline_best": "yes" if sub_hit is not None else "no",
            "epoch_reached_subsampled": int(sub_hit["epoch"]) if sub_hit is not None else "not reached",
            "time_to_reach_subsampled_seconds": _g(sub_hit["cumulative_seconds"]) if sub_hit is not None else NOT_REACHED,
            "time_to_reach_baseline_seconds": t_base,
            "speedup_to_reach_seconds": _g(t_base / sub_hit["cumulative_seconds"]) if sub_hit is not None else NOT_REACHED,
            "total_subsampled_seconds": float(run["subsampled"]["total_seconds"]),
            "total_baseline_seconds": float(run["baseline"]["total_seconds"]),
            "speedup_total_seconds": float(run["baseline"]["total_seconds"] / run["subsampled"]["total_seconds"]),
        }
        rows.append(row)
    return pd.DataFrame(rows)
