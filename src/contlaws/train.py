"""The one training engine of the study (spec E2, E3, E5): fit, evaluate, checkpoints, resume.

    settings = settings_from_config(cfg, "s4d", "refinement_trained", seed=0, task="regression")
    summary = fit(model, train_ds, val_ds, out_dir, settings, meta={"config": cfg})
    model, checkpoint = load_model(out_dir / "best.pt")
    evaluate(model, test_ds_at_tau, tau=0.5)                     # {"rmse", "mae", "n"}

Symbols: τ (``tau``) multiplies every internal step size Δ of a time-aware model (S4D, S6); s
(``stride``) is the temporal subsampling factor of E5 stage k (the model mean-pools windows of s
steps and its layers see τ·s). Training runs at τ = 1.

One epoch (stage k, stride s_k): batches from a permutation seeded by (seed, epoch) through
``dataset.get_batch``; AdamW steps with the parameter groups of
:func:`contlaws.models.registry.optimizer_param_groups` (the one place per-parameter settings live)
and the learning rate of :mod:`contlaws.schedule`; validation at stride s_k; then the outputs below.
The final test at stride 1 is the caller's job (load ``best.pt``, call :func:`evaluate`).

Output folder of :func:`fit`:

* ``last.pt``: end of every epoch (atomically); the resume point, everything to continue bit-exactly,
  and under ``best_checkpoint`` the content of ``best.pt`` (so a deleted ``best.pt`` is rewritten
  on the next run: the pipeline declares it as an output, and Snakemake deletes outputs before a rerun).
* ``best.pt``: on a better validation metric (val rmse min / val accuracy max); same content.
* ``metrics.csv`` (+ ``.meta.json`` provenance): one row per epoch: epoch, stage (both from 1),
  stride, lr (base group, at the epoch's first step), train_loss, val_rmse/val_mae or
  val_accuracy/val_loss, epoch_seconds (training + validation wall clock), cumulative_seconds.
* ``summary.json``: at the end; ``status: ok``, best epoch and metric, total time, ``epochs_used``
  and ``stop_reason`` (``early_stop`` or ``epoch_cap``; :mod:`contlaws.early_stopping`). Completion marker.

Early stopping (``settings.early_stopping``): ``epochs`` is then a cap, and the run stops once the
validation metric has not improved by a relative ``min_delta`` for ``patience`` epochs in a row.

Resume: when ``last.pt`` exists, :func:`fit` continues from it bit-exactly, or refuses
(:class:`ResumeMismatch`) when it was made with other settings, model or data (:mod:`contlaws.run_folder`).
Settings: :mod:`contlaws.train_settings`; evaluation: :mod:`contlaws.evaluation`.

Command (:mod:`contlaws.commands.train`, which calls :func:`train_run`): ``contlaws train --config C
--model NAME --train PATH --val PATH --out DIR [--seed N] [--discretization zoh|bilinear]
[--experiment refinement_trained|eta_performance] [--epochs N] [--device auto|cpu|cuda]``. Exit status 0 on success, 1 when training diverges, 2 on bad input or
a refused resume. A model that cannot run on this machine (CUDA-only baselines on a CPU machine,
:class:`contlaws.models.registry.ModelUnavailable`) is not an error: the command writes
``summary.json`` with ``{"status": "not run", "reason": ...}``, logs why and exits 0, so the DAG
completes on CPU machines and downstream steps can skip that model.

Determinism: seeds for torch, numpy and ``random``; batch order from ``(seed, epoch)``; cuDNN
autotuning off. Timing columns (``*_seconds``) are wall clock and the only non-reproducible values.

Size (about 440 lines, above the package's ~400): the engine (fit and its steps, the epoch loop,
train_run); settings, the run folder and evaluation live in train_settings, run_folder and
evaluation, re-exported here so ``contlaws.train`` stays the one import.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from contlaws.early_stopping import StopDecision, decide_from_history, stop_record
from contlaws.errors import ResumeMismatch, UserError
from contlaws.evaluation import eval_batch_size, evaluate, model_width
from contlaws.io import output_file_error, provenance

# Settings, the run folder (checkpoints, resume, summary) and evaluation live in their own modules; their public names are re-exported
# here (see __all__), so ``from contlaws.train import ...`` keeps working for every caller.
from contlaws.run_folder import (
    CHECKPOINT_KEYS,
    TrainingState,
    check_resumable,
    check_state_fits,
    discard_unusable_run,
    epoch_checkpoint,
    hold_run_folder,
    load_model,
    read_checkpoint,
    resume_or_start,
    rng_state,
    run_identity,
    save_checkpoint,
    save_epoch,
    seed_everything,
    set_rng_state,
    write_not_run,
    write_summary,
)
from contlaws.schedule import make_lr_factor, make_scheduler
from contlaws.train_settings import SELECTION, TASKS, VAL_METRICS, TrainSettings, settings_from_config

log = logging.getLogger("contlaws.train")

class TrainingDiverged(RuntimeError):
    """The loss or a validation metric became NaN/inf; the message names the epoch and step."""


# ------------------------------------------------------------------------------------------------
# Devices and losses
# ------------------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA if available, else CPU; "cuda" without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested (train.device or --device) but CUDA is not available here")
    return torch.device(name)


def training_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE over all outputs (regression) or mean cross-entropy (classification).

    Args:
        outputs: (B, d_output); targets: (B, d_output) (or (B,) when d_output = 1) values, or (B,)
            class indices.
    """
    if task == "regression":
        return F.mse_loss(outputs, targets.reshape(outputs.shape).to(outputs.dtype))
    return F.cross_entropy(outputs, targets.long())

# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def default_param_groups(model: torch.nn.Module, settings: TrainSettings) -> list[dict]:
    """Registry models: ``optimizer_param_groups``; any other module: all parameters, one group."""
    build_kwargs = getattr(model, "build_kwargs", None)
    if build_kwargs and "model_cfg" in build_kwargs:
        from contlaws.models.registry import optimizer_param_groups

        return optimizer_param_groups(model, settings.lr, settings.weight_decay, build_kwargs["model_cfg"],
                                      ssm_group=settings.ssm_param_group)
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"name": "default", "params": params, "lr": settings.lr, "weight_decay": settings.weight_decay}]


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """Current lr of the group named "default" (the one at ``settings.lr``), else of the first group."""
    groups = optimizer.param_groups
    return next((g["lr"] for g in groups if g.get("name") == "default"), groups[0]["lr"])


def train_epoch(
    model, dataset, optimizer, scheduler, settings: TrainSettings, epoch: int, stride: int, step: int, device
) -> tuple[float, int]:
    """One pass over ``dataset`` in the order seeded by (seed, epoch), or its first
    ``settings.max_steps_per_epoch`` batches; returns (mean loss over the sequences seen, new global step).

    Raises:
        TrainingDiverged: on a non-finite loss (before the optimizer step, so no NaN reaches the weights).
    """
    model.train()
    n = len(dataset)
    order = np.random.default_rng([settings.seed, epoch]).permutation(n)
    starts = range(0, n, settings.batch_size)[: settings.steps_per_epoch(n)]
    loss_sum, seen = 0.0, 0
    bar = tqdm(starts, desc=f"epoch {epoch + 1}/{settings.epochs} stride {stride}", file=sys.stderr,
               leave=False, mininterval=2.0)  # fmt: skip
    for i, start in enumerate(bar):
        idx = order[start : start + settings.batch_size]
        x, y = dataset.get_batch(idx)
        loss = training_loss(settings.task, model(x.to(device), stride=stride), y.to(device))
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged: loss = {value} at epoch {epoch + 1}, step {step + 1} "
                f"(batch {i + 1} of {len(starts)} in the epoch); lower train.lr or set train.grad_clip"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        loss_sum += value * len(idx)
        seen += len(idx)
    return loss_sum / seen, step


def build_optimizer(model, settings: TrainSettings, n_train: int, param_groups: Sequence[dict] | None):
    """AdamW over ``param_groups`` (default :func:`default_param_groups`) and its lr scheduler."""
    groups = list(param_groups) if param_groups is not None else default_param_groups(model, settings)
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = settings.steps_per_epoch(n_train)  # the capped count where max_steps_per_epoch is set
    stage_epochs = [e for e, _ in settings.stage_plan()]
    lr_factor = make_lr_factor(settings.schedule, steps_per_epoch, stage_epochs, settings.warmup_epochs)
    return optimizer, make_scheduler(optimizer, lr_factor)


def train_and_validate(model, train_ds, val_ds, optimizer, scheduler, settings: TrainSettings, state: TrainingState,
                       device) -> tuple[dict, dict]:  # fmt: skip
    """One epoch (``state.epoch``) at its stage's stride, then validation; advances ``state``
    (epoch, step, time, history). Returns (metrics.csv row, validation metrics).

    Raises:
        TrainingDiverged: a non-finite loss or validation metric (the NaN guard).
    """
    epoch = state.epoch
    stage, stride = settings.stage_of_epoch(epoch)
    lr = base_lr(optimizer)
    began, cpu_began, step_before = time.perf_counter(), time.process_time(), state.step
    train_loss, state.step = train_epoch(model, train_ds, optimizer, scheduler, settings, epoch, stride, state.step, device)
    # seconds per optimizer step (forward, backward, update; validation excluded), wall clock and CPU
    # time of this process (the latter barely changes when other jobs share the cores): the numbers
    # docs/paper-scale.md scales to paper-size runs
    n_steps = max(1, state.step - step_before)
    step_seconds = (time.perf_counter() - began) / n_steps
    step_cpu_seconds = (time.process_time() - cpu_began) / n_steps
    val = evaluate(model, val_ds, stride=stride, device=device, eval_max_elements=settings.eval_max_elements)
    seconds = time.perf_counter() - began
    state.cumulative += seconds
    val = {f"val_{k}": float(val[k]) for k in VAL_METRICS[settings.task]}
    if not all(math.isfinite(v) for v in val.values()):
        raise TrainingDiverged(f"training diverged: validation metrics {val} at epoch {epoch + 1}, step {state.step}")
    row = {"epoch": epoch + 1, "stage": stage + 1, "stride": stride, "lr": lr, "train_loss": train_loss, **val,
           "epoch_seconds": seconds, "cumulative_seconds": state.cumulative, "step_seconds": step_seconds,
           "step_cpu_seconds": step_cpu_seconds}  # fmt: skip
    state.history.append(row)
    state.epoch = epoch + 1
    return row, val


def improve_best(state: TrainingState, val: Mapping[str, float], task: str) -> bool:
    """Whether this epoch's selection metric beats ``state.best`` (updated if so)."""
    metric, mode = SELECTION[task]
    best = state.best
    improved = best is None or (val[metric] < best["value"] if mode == "min" else val[metric] > best["value"])
    if improved:
        state.best = {"metric": metric, "mode": mode, "value": val[metric], "epoch": state.epoch}
    return improved


def fit(
    model: torch.nn.Module,
    train_ds,
    val_ds,
    out_dir: str | Path,
    settings: TrainSettings,
    meta: Mapping[str, Any] | None = None,
    param_groups: Sequence[dict] | None = None,
    restart_on_mismatch: bool = False,
) -> dict:
    """Train ``model`` with AdamW, validating every epoch; resume from ``out_dir/last.pt`` if present.

    Args:
        model: ``model(x, stride=s) -> (B, d_output)``; registry models carry ``build_kwargs``.
            Seed (:func:`seed_everything`) before building it for reproducible initial weights.
        train_ds, val_ds: SequenceDatasets (``len``, ``length``, ``task``, ``get_batch``).
        out_dir: output folder (see the module docstring).
        settings: :class:`TrainSettings`.
        meta: provenance extras; its ``config`` entry is recorded as the provenance config.
        param_groups: AdamW groups; default :func:`default_param_groups`.
        restart_on_mismatch: when ``last.pt`` was made by a different run (e.g. the config changed
            and Snakemake reruns the job), discard that run's files and start over instead of
            raising :class:`ResumeMismatch`. Pipeline rules set it; interactive use keeps the refusal.
    Returns:
        The summary dict written to ``summary.json``. ``model`` ends with the last epoch's weights;
        load ``best.pt`` for the selected ones.
    Raises:
        TrainingDiverged (no ``best.pt`` is written for a diverged epoch), ResumeMismatch.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_file_error(out_dir, err) from None
    with hold_run_folder(out_dir):  # one trainer per folder: a second one would interleave its checkpoints
        return _fit_in_folder(model, train_ds, val_ds, out_dir, settings, meta, param_groups, restart_on_mismatch)


def _fit_in_folder(model, train_ds, val_ds, out_dir: Path, settings: TrainSettings, meta, param_groups,
                   restart_on_mismatch: bool) -> dict:  # fmt: skip
    """:func:`fit` once ``out_dir`` exists and this process holds its lock."""
    paths = {name: out_dir / name for name in ("last.pt", "best.pt", "metrics.csv", "summary.json")}
    paths["summary.json"].unlink(missing_ok=True)  # no stale completion marker while training
    if train_ds.task != settings.task or val_ds.task != settings.task:
        raise UserError(f"settings.task = {settings.task} but the datasets are {train_ds.task}/{val_ds.task}")

    device = resolve_device(settings.device)
    torch.backends.cudnn.benchmark = False  # see seed_everything
    model.to(device)
    optimizer, scheduler = build_optimizer(model, settings, len(train_ds), param_groups)
    meta = dict(meta or {})
    config = meta.pop("config", None)
    identity = run_identity(model, settings, train_ds, val_ds)
    record = provenance(config, settings.seed, **meta, settings=settings.as_record(), data=identity["data"])
    discard_unusable_run(paths, identity, restart_on_mismatch)
    state = resume_or_start(paths, identity, model, optimizer, scheduler, settings)

    while state.epoch < settings.epochs and not stopping_decision(state, settings).stop:
        row, val = train_and_validate(model, train_ds, val_ds, optimizer, scheduler, settings, state, device)
        improved = improve_best(state, val, settings.task)
        checkpoint = epoch_checkpoint(model, optimizer, scheduler, settings, state, identity, record)
        save_epoch(paths, checkpoint, improved, state, record)
        log.info("epoch %d/%d stride %d lr %.3g train_loss %.4g %s (%.1fs; per step %.3g s, %.3g s CPU)%s",
                 state.epoch, settings.epochs, row["stride"], row["lr"], row["train_loss"],
                 " ".join(f"{k} {v:.4g}" for k, v in val.items()), row["epoch_seconds"], row["step_seconds"],
                 row["step_cpu_seconds"], " *" if improved else "")  # fmt: skip
    decision = stopping_decision(state, settings)
    if decision.stop and state.epoch < settings.epochs:
        log.info("early stop after epoch %d of %d: no relative improvement >= %g for %d epochs (reference epoch %d)",
                 state.epoch, settings.epochs, settings.early_stopping["min_delta"],
                 settings.early_stopping["patience"], decision.reference_epoch)  # fmt: skip
    stopping = stop_record(decision, state.epoch, settings.epochs, settings.early_stopping)
    return write_summary(paths["summary.json"], identity, settings, state, record, stopping)


def stopping_decision(state: TrainingState, settings: TrainSettings) -> StopDecision:
    """The early-stopping rule on the validation history so far (never stops when the rule is off)."""
    metric, mode = SELECTION[settings.task]
    return decide_from_history(state.history, metric, mode, settings.early_stopping)


# ------------------------------------------------------------------------------------------------
# One pipeline run (what `contlaws train` calls)
# ------------------------------------------------------------------------------------------------
def check_splits(train_ds, val_ds) -> None:
    for attr in ("task", "input_kind", "d_input", "d_output"):
        if getattr(train_ds, attr) != getattr(val_ds, attr):
            a, b = getattr(train_ds, attr), getattr(val_ds, attr)
            raise UserError(f"{train_ds.path} and {val_ds.path} differ in {attr}: {a!r} vs {b!r}")


def build_run_model(cfg: Mapping[str, Any], model_name: str, train_ds, discretization: str | None,
                    build_options: Mapping[str, Any]) -> torch.nn.Module:  # fmt: skip
    """The registry model of a :func:`train_run` for the training split's shapes; raises
    :class:`contlaws.models.registry.ModelUnavailable` where it cannot run here."""
    from contlaws.models.registry import build_model

    return build_model(
        model_name,
        d_input=train_ds.d_input,
        d_output=train_ds.d_output,
        model_cfg=cfg["model"],
        input_kind=train_ds.input_kind,
        vocab_size=getattr(train_ds, "vocab_size", None) or train_ds.meta.get("vocab_size"),
        discretization=discretization,
        **build_options,
    )


def standardized_splits(train_ds, val_ds) -> tuple[Any, Any, dict]:
    """(train, val, statistics as a dict) with regression labels standardized by the training split's statistics."""
    # E2 labels as z = (y − mean)/std per component, statistics of the training split only;
    # recorded in the checkpoint (provenance.label_standardization) for evaluation.
    from contlaws.data.regression import LabelStandardization
    from contlaws.data.sets import standardized_dataset

    stats = LabelStandardization.fit(train_ds.y)
    train_ds, val_ds = standardized_dataset(train_ds, stats), standardized_dataset(val_ds, stats)
    return train_ds, val_ds, stats.to_dict()


def train_run(
    cfg: Mapping[str, Any],
    model_name: str,
    train_path: Path,
    val_path: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    discretization: str | None = None,
    experiment: str | None = None,
    epochs: int | None = None,
    device: str | None = None,
    restart_on_mismatch: bool = False,
    prepare: Callable[[Mapping[str, Any], Any, Any], tuple[dict, Any, Any, dict]] | None = None,
) -> dict:
    """One pipeline training run: load the splits, build ``model_name``, :func:`fit`; the summary.

    ``experiment`` (``refinement_trained`` | ``eta_performance``) names the config section whose
    ``epochs`` applies; ``epochs`` and ``device`` override the config. ``prepare(cfg, train_ds,
    val_ds) -> (cfg, train_ds, val_ds, build options)`` is the experiment's own setup (E3:
    :func:`contlaws.experiments.eta_performance.readout_setup`; passed in, so the engine never imports
    an experiment). E2 regression labels are standardized here.
    A model that cannot run here gets a ``not run`` summary.json (see :func:`write_not_run`), which
    is returned. Raises :class:`TrainingDiverged`, :class:`ResumeMismatch` and the user errors of
    :mod:`contlaws.errors`.
    """
    from contlaws.models.registry import ModelUnavailable, availability

    out_dir = Path(out_dir)
    available, reason = availability(model_name)
    if not available:
        return write_not_run(out_dir, model_name, reason, cfg, seed)
    from contlaws.data.sets import load_split

    train_ds, val_ds = load_split(train_path), load_split(val_path)
    check_splits(train_ds, val_ds)
    build_options: dict = {}
    if prepare is not None:
        cfg, train_ds, val_ds, build_options = prepare(cfg, train_ds, val_ds)
    overrides = {"seed": seed, "task": train_ds.task}
    overrides.update({k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None})
    try:
        settings = settings_from_config(cfg, model_name, experiment, **overrides)
    except ValueError as err:
        raise UserError(f"invalid training settings: {err}") from None
    seed_everything(settings.seed)
    try:
        model = build_run_model(cfg, model_name, train_ds, discretization, build_options)
    except ModelUnavailable as err:
        return write_not_run(out_dir, model_name, err.reason, cfg, seed)
    meta = {"config": cfg, "model": model_name, "discretization": discretization,
            "experiment": experiment, "train": str(train_path), "val": str(val_path)}  # fmt: skip
    if experiment == "refinement_trained" and train_ds.task == "regression":
        train_ds, val_ds, meta["label_standardization"] = standardized_splits(train_ds, val_ds)
    summary = fit(model, train_ds, val_ds, out_dir, settings, meta=meta, restart_on_mismatch=restart_on_mismatch)
    log.info("done: best %s = %.4g at epoch %d (%s)", summary["selection"]["metric"], summary["best_metric"],
             summary["best_epoch"], out_dir)  # fmt: skip
    return summary


__all__ = [
    "CHECKPOINT_KEYS",
    "SELECTION",
    "TASKS",
    "VAL_METRICS",
    "ResumeMismatch",
    "TrainSettings",
    "TrainingDiverged",
    "TrainingState",
    "check_resumable",
    "check_state_fits",
    "discard_unusable_run",
    "epoch_checkpoint",
    "eval_batch_size",
    "evaluate",
    "fit",
    "load_model",
    "model_width",
    "read_checkpoint",
    "resolve_device",
    "resume_or_start",
    "rng_state",
    "run_identity",
    "save_checkpoint",
    "save_epoch",
    "seed_everything",
    "set_rng_state",
    "settings_from_config",
    "train_run",
    "training_loss",
    "write_not_run",
    "write_summary",
]
