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
* ``summary.json``: at the end; ``status: ok``, best epoch and metric, total time. Completion marker.

Resume: when ``last.pt`` exists, :func:`fit` continues from it (model, optimizer, scheduler, epoch,
global step, best metric, metric history, RNG states, cumulative time), so a run killed at any
moment and restarted ends with exactly the metrics and ``best.pt`` of an uninterrupted run on CPU.
It refuses (:class:`ResumeMismatch`) when ``last.pt`` was made with other settings, model or data.

Command (:mod:`contlaws.commands.train`, which calls :func:`train_run`): ``contlaws train --config C
--model NAME --train PATH --val PATH --out DIR [--seed N] [--discretization zoh|bilinear]
[--experiment refinement_trained|eta_performance] [--epochs N] [--device auto|cpu|cuda]``. Exit status 0 on success, 1 when training diverges, 2 on bad input or
a refused resume. A model that cannot run on this machine (CUDA-only baselines on a CPU machine,
:class:`contlaws.models.registry.ModelUnavailable`) is not an error: the command writes
``summary.json`` with ``{"status": "not run", "reason": ...}``, logs why and exits 0, so the DAG
completes on CPU machines and downstream steps can skip that model.

Determinism: seeds for torch, numpy and ``random``; batch order from ``(seed, epoch)``; cuDNN
autotuning off. Timing columns (``*_seconds``) are wall clock and the only non-reproducible values.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import math
import random
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from contlaws.config import batch_size_for
from contlaws.errors import ConfigError, DataFileError, ResumeMismatch, UserError
from contlaws.io import atomic_path, meta_path, provenance, to_jsonable, write_json, write_table
from contlaws.schedule import SCHEDULES, make_lr_factor, make_scheduler

log = logging.getLogger("contlaws.train")

TASKS = ("regression", "classification")
# Selection metric per task: (validation column, "min" or "max").
SELECTION = {"regression": ("val_rmse", "min"), "classification": ("val_accuracy", "max")}
# Validation columns of metrics.csv per task (in this order).
VAL_METRICS = {"regression": ("rmse", "mae"), "classification": ("accuracy", "loss")}
# Every checkpoint (last.pt, best.pt); "history" (metrics rows so far) and "data" (split sizes) serve resume.
CHECKPOINT_KEYS = ("model_name", "build_kwargs", "model_state", "optimizer_state", "scheduler_state", "epoch",
                   "step", "best", "settings", "rng", "cumulative_seconds", "provenance",
                   "history", "data")  # fmt: skip


class TrainingDiverged(RuntimeError):
    """The loss or a validation metric became NaN/inf; the message names the epoch and step."""


@dataclass
class TrainSettings:
    """Everything that determines a training run besides the model and the data.

    Args:
        epochs: total epochs E (the sum of the stage epochs when ``stages`` is given).
        batch_size: training batch size.
        lr, weight_decay: AdamW defaults (parameter groups may override them).
        warmup_epochs: linear warmup length, fractions allowed (see :mod:`contlaws.schedule`).
        grad_clip: max global gradient norm; 0 disables clipping.
        device: "auto" (CUDA if available), "cpu" or "cuda".
        eval_max_elements: evaluation batch B is the largest with B·L·d_model ≤ this (memory bound
            for refined evaluation at long L).
        seed: seeds torch, numpy and random; batch order depends on (seed, epoch).
        task: "regression" (MSE; metrics rmse, mae pooled over all outputs) or "classification"
            (cross-entropy; metrics accuracy, loss).
        schedule: "cosine_epoch" (per-epoch cosine, as the authors) or "cosine_step_restarts"
            (per-step cosine with warmup, restarted at every stage; E5).
        stages: [(epochs, stride), ...] trained in order, or None for one stage at stride 1. Stage
            k's stride goes to the model as ``stride=`` for training and validation.
        max_steps_per_epoch: at most this many optimizer steps per epoch (the first batches of the
            epoch's order), or None for a full pass. A shape check at tiny cost (config
            ``train.max_steps_per_epoch``, config/paper_shapes.yaml); the schedule counts the capped
            steps.

    The config's ``train`` values (warmup_epochs, grad_clip, device, eval_max_elements) have no
    default here: their defaults live in the schema, and :func:`settings_from_config` reads them.
    seed, task, schedule and stages describe the run, not the config, and keep their defaults.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_epochs: float
    grad_clip: float
    device: str
    eval_max_elements: int
    seed: int = 0
    task: str = "regression"
    schedule: str = "cosine_epoch"
    stages: list[tuple[int, int]] | None = None
    max_steps_per_epoch: int | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}")
        if self.stages is not None:
            self.stages = [(int(e), int(s)) for e, s in self.stages]
            if any(e < 1 or s < 1 for e, s in self.stages):
                raise ValueError(f"stages need positive epochs and strides, got {self.stages}")
            if sum(e for e, _ in self.stages) != self.epochs:
                raise ValueError(f"stage epochs {self.stages} do not add up to epochs = {self.epochs}")
        if self.max_steps_per_epoch is not None and int(self.max_steps_per_epoch) < 1:
            raise ValueError(f"max_steps_per_epoch must be positive, got {self.max_steps_per_epoch}")

    def as_record(self) -> dict:
        """The fields as a dict for checkpoints and provenance; an unset step cap is left out, so
        runs without one record (and resume) exactly as before the cap existed."""
        record = dataclasses.asdict(self)
        if record["max_steps_per_epoch"] is None:
            del record["max_steps_per_epoch"]
        return record

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimizer steps of one epoch over ``n_train`` sequences (capped by max_steps_per_epoch)."""
        steps = math.ceil(n_train / self.batch_size)
        return steps if self.max_steps_per_epoch is None else min(steps, int(self.max_steps_per_epoch))

    def stage_plan(self) -> list[tuple[int, int]]:
        """[(epochs, stride), ...]; one stride-1 stage when ``stages`` is None."""
        return list(self.stages) if self.stages is not None else [(self.epochs, 1)]

    def stage_of_epoch(self, epoch: int) -> tuple[int, int]:
        """(stage index k, stride s_k) of the 0-based ``epoch``."""
        end = 0
        for k, (epochs, stride) in enumerate(self.stage_plan()):
            end += epochs
            if epoch < end:
                return k, stride
        raise ValueError(f"epoch {epoch} is past the last stage")


def settings_from_config(
    cfg: Mapping[str, Any], model_name: str, experiment: str | None, **overrides: Any
) -> TrainSettings:
    """:class:`TrainSettings` from the resolved config's ``train`` section.

    Args:
        cfg: resolved (validated) config.
        model_name: picks the batch size (``train.batch_size_per_model``).
        experiment: a config section whose ``epochs`` (if present) overrides ``train.epochs``, and
            whose ``epochs_per_model`` (if present) overrides both for ``model_name``.
        overrides: any :class:`TrainSettings` field (seed, task, schedule, stages, device, ...).
    """
    train = cfg["train"]
    epochs = train["epochs"]
    if experiment is not None:
        if not isinstance(cfg.get(experiment), Mapping):
            raise ConfigError(f"experiment '{experiment}' has no section in the config")
        epochs = cfg[experiment].get("epochs", epochs)  # an optional override (no schema default)
        epochs = cfg[experiment].get("epochs_per_model", {}).get(model_name, epochs)  # per-model override, if any
    settings = TrainSettings(
        epochs=int(epochs),
        batch_size=batch_size_for(cfg, model_name),
        lr=float(train["lr"]),
        weight_decay=float(train["weight_decay"]),
        warmup_epochs=float(train["warmup_epochs"]),
        grad_clip=float(train["grad_clip"]),
        device=train["device"],
        eval_max_elements=int(train["eval_max_elements"]),
        # no schema default: absent means no cap (a paper-shapes check key)
        max_steps_per_epoch=train.get("max_steps_per_epoch"),
    )
    return dataclasses.replace(settings, **overrides)


# ------------------------------------------------------------------------------------------------
# Determinism and devices
# ------------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # cuDNN autotuning times several kernels per shape and keeps the fastest, which can differ from
    # run to run and change the results; the reference code re-enabled it after seeding.
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA if available, else CPU; "cuda" without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' requested (train.device or --device) but CUDA is not available here")
    return torch.device(name)


def rng_state() -> dict:
    """RNG states of torch, numpy and random, as types ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {**np_state, "state": {"key": np_state["state"]["key"].tolist(), "pos": np_state["state"]["pos"]}},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = dict(state["numpy"])
    np_state["state"] = {"key": np.asarray(np_state["state"]["key"], dtype=np.uint32), "pos": np_state["state"]["pos"]}
    np.random.set_state(np_state)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------------------------------------
# Losses and evaluation
# ------------------------------------------------------------------------------------------------
def training_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE over all outputs (regression) or mean cross-entropy (classification).

    Args:
        outputs: (B, d_output); targets: (B, d_output) (or (B,) when d_output = 1) values, or (B,)
            class indices.
    """
    if task == "regression":
        return F.mse_loss(outputs, targets.reshape(outputs.shape).to(outputs.dtype))
    return F.cross_entropy(outputs, targets.long())


def model_width(model: torch.nn.Module) -> int:
    """d_model from ``build_kwargs`` (registry models) or a ``d_model`` attribute; 1 if neither."""
    cfg = (getattr(model, "build_kwargs", None) or {}).get("model_cfg") or {}
    return int(cfg.get("d_model") or getattr(model, "d_model", 1))


def eval_batch_size(length: int, width: int, max_elements: int) -> int:
    """Largest B with B·L·d_model ≤ max_elements (at least 1)."""
    return max(1, int(max_elements) // (int(length) * int(width)))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    dataset,
    *,
    tau: float = 1.0,
    stride: int = 1,
    device: str | torch.device | None = None,
    eval_max_elements: int,
    return_outputs: bool = False,
) -> dict:
    """Metrics of ``model`` at step factor τ and stride s on the whole ``dataset`` (eval mode).

    Args:
        dataset: a SequenceDataset (``task``, ``length``, ``get_batch``).
        device: where to run; default the model's device.
        eval_max_elements: batches of B sequences with B·L·d_model ≤ this (``train.eval_max_elements``).
        return_outputs: also return ``outputs``, the (N, d_output) numpy array in dataset order.
    Returns:
        regression: ``rmse`` and ``mae`` pooled over all N·d_output outputs, ``n``;
        classification: ``accuracy``, mean cross-entropy ``loss``, ``n``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(dataset)
    batch = eval_batch_size(dataset.length, model_width(model), eval_max_elements)
    sums = {"a": 0.0, "b": 0.0, "count": 0}  # regression: squared, absolute; classification: correct, CE
    outputs = []
    for start in range(0, n, batch):
        x, y = dataset.get_batch(np.arange(start, min(n, start + batch)))
        out = model(x.to(device), tau=tau, stride=stride)  # (B d_output)
        y = y.to(device)
        if dataset.task == "regression":
            err = (out - y.reshape(out.shape).to(out.dtype)).double()
            sums["a"] += err.square().sum().item()
            sums["b"] += err.abs().sum().item()
            sums["count"] += err.numel()
        else:
            sums["a"] += (out.argmax(dim=-1) == y).sum().item()
            sums["b"] += F.cross_entropy(out.double(), y.long(), reduction="sum").item()
            sums["count"] += len(y)
        if return_outputs:
            outputs.append(out.float().cpu().numpy())
    model.train(was_training)
    if dataset.task == "regression":
        metrics = {"rmse": math.sqrt(sums["a"] / sums["count"]), "mae": sums["b"] / sums["count"], "n": n}
    else:
        metrics = {"accuracy": sums["a"] / n, "loss": sums["b"] / n, "n": n}
    if return_outputs:
        metrics["outputs"] = np.concatenate(outputs) if outputs else np.zeros((0, dataset.d_output), np.float32)
    return metrics


# ------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------
def _best_recoverable(last_path: Path, best_path: Path) -> bool:
    """Whether a run resumed from ``last_path`` ends with a ``best.pt``: it exists, or ``last.pt``
    holds a copy of it (checkpoints written before that copy was kept do not)."""
    if best_path.exists():
        return True
    try:
        return read_checkpoint(last_path).get("best_checkpoint") is not None
    except DataFileError:
        return True  # unreadable: the resume below reports it


def save_checkpoint(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    # Serialized in memory first: torch names the archive inside after the file it writes to (here a
    # random temporary name), so the bytes only repeat this way; and a failed write (disk full) is
    # then an OSError, which atomic_path reports naming the checkpoint, not torch's RuntimeError.
    buffer = io.BytesIO()
    torch.save(dict(checkpoint), buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint dict (tensors on CPU); :class:`DataFileError` naming the file if unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (zip, unpickling and EOF errors all mean a bad file)
        raise DataFileError(f"{path}: corrupt or unreadable checkpoint ({type(err).__name__}: {err})") from None
    missing = [k for k in CHECKPOINT_KEYS if k not in checkpoint] if isinstance(checkpoint, dict) else CHECKPOINT_KEYS
    if missing:
        raise DataFileError(f"{path}: not a contlaws checkpoint (missing {', '.join(missing)})")
    return checkpoint


def load_model(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a registry model from a checkpoint; returns ``(model in eval mode, checkpoint)``."""
    from contlaws.models.registry import build_model

    checkpoint = read_checkpoint(checkpoint_path)
    if not checkpoint["build_kwargs"]:
        raise DataFileError(f"{checkpoint_path}: no build_kwargs (the model was not built by the registry)")
    model = build_model(**checkpoint["build_kwargs"])
    check_state_fits(model, checkpoint, checkpoint_path)
    model.load_state_dict(checkpoint["model_state"])
    # Only parameters are checked: buffers may hold -inf on purpose (attention masks).
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise DataFileError(f"{checkpoint_path}: weights contain NaN or inf ({_first(bad)}); "
                            "the training diverged or the file is damaged, train the model again")  # fmt: skip
    return model.to(device).eval(), checkpoint


def _first(names: Sequence[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def check_state_fits(model: torch.nn.Module, checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """Raise :class:`DataFileError` when the checkpoint's weights are not those of the model its
    ``build_kwargs`` describe (e.g. S6 weights under an S4D name), naming the keys that differ."""
    want = model.state_dict()
    have = checkpoint["model_state"]
    if not isinstance(have, Mapping):
        raise DataFileError(f"{path}: model_state is not a dict of weights")
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    reshaped = [f"{k} {tuple(have[k].shape)} vs {tuple(v.shape)}" for k, v in want.items()
                if k in have and getattr(have[k], "shape", None) != v.shape]  # fmt: skip
    if missing or unexpected or reshaped:
        parts = [f"{label}: {_first(keys)}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("shape differs", reshaped)) if keys]  # fmt: skip
        raise DataFileError(f"{path}: weights do not fit the {checkpoint['model_name']!r} model its build_kwargs "
                            f"describe ({'; '.join(parts)}); the file was not written for this model")  # fmt: skip


def run_identity(model: torch.nn.Module, settings: TrainSettings, train_ds, val_ds) -> dict:
    """What must match for ``last.pt`` to be resumed: model, settings (all but device), data sizes."""
    build_kwargs = getattr(model, "build_kwargs", None) or {}
    return {
        "model_name": build_kwargs.get("name", type(model).__name__),
        "build_kwargs": to_jsonable(build_kwargs),
        "settings": to_jsonable({k: v for k, v in settings.as_record().items() if k != "device"}),
        "data": {"n_train": len(train_ds), "n_val": len(val_ds), "length": int(train_ds.length)},
    }


def check_resumable(checkpoint: Mapping[str, Any], identity: Mapping[str, Any], path: Path) -> None:
    saved = {
        "model_name": checkpoint["model_name"],
        "build_kwargs": to_jsonable(checkpoint["build_kwargs"]),
        "settings": to_jsonable({k: v for k, v in checkpoint["settings"].items() if k != "device"}),
        "data": checkpoint.get("data"),
    }
    differences = []
    for key, now in identity.items():
        before = saved[key]
        if isinstance(now, dict) and isinstance(before, dict):
            differences += [
                f"{key}.{k}: {before.get(k)!r} -> {now.get(k)!r}"
                for k in sorted(set(now) | set(before))
                if before.get(k) != now.get(k)
            ]
        elif before != now:
            differences.append(f"{key}: {before!r} -> {now!r}")
    if differences:
        raise ResumeMismatch(
            f"{path} was made by a different run, refusing to resume ({'; '.join(differences)}); "
            f"delete {path.parent} or choose another output folder to start over"
        )


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def default_param_groups(model: torch.nn.Module, settings: TrainSettings) -> list[dict]:
    """Registry models: ``optimizer_param_groups``; any other module: all parameters, one group."""
    build_kwargs = getattr(model, "build_kwargs", None)
    if build_kwargs and "model_cfg" in build_kwargs:
        from contlaws.models.registry import optimizer_param_groups

        return optimizer_param_groups(model, settings.lr, settings.weight_decay, build_kwargs["model_cfg"])
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


@dataclass
class TrainingState:
    """Where a run stands after ``epoch`` epochs: what :func:`fit` carries from epoch to epoch and
    what ``last.pt`` stores for a resume."""

    epoch: int = 0
    step: int = 0
    best: dict | None = None  # {"metric", "mode", "value", "epoch"}
    history: list[dict] = dataclasses.field(default_factory=list)  # metrics.csv rows so far
    cumulative: float = 0.0  # seconds
    best_checkpoint: dict | None = None  # the content of best.pt, kept in last.pt


def build_optimizer(model, settings: TrainSettings, n_train: int, param_groups: Sequence[dict] | None):
    """AdamW over ``param_groups`` (default :func:`default_param_groups`) and its lr scheduler."""
    groups = list(param_groups) if param_groups is not None else default_param_groups(model, settings)
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = settings.steps_per_epoch(n_train)  # the capped count where max_steps_per_epoch is set
    stage_epochs = [e for e, _ in settings.stage_plan()]
    lr_factor = make_lr_factor(settings.schedule, steps_per_epoch, stage_epochs, settings.warmup_epochs)
    return optimizer, make_scheduler(optimizer, lr_factor)


def _remove(paths: Mapping[str, Path], names: Sequence[str]) -> None:
    for name in names:
        paths[name].unlink(missing_ok=True)
    if "metrics.csv" in names:
        meta_path(paths["metrics.csv"]).unlink(missing_ok=True)


def discard_unusable_run(paths: Mapping[str, Path], identity: Mapping[str, Any], restart_on_mismatch: bool) -> None:
    """Delete a previous run's files that must not be resumed: another run's (with
    ``restart_on_mismatch``), or a ``last.pt`` whose ``best.pt`` is lost and cannot be restored."""
    if paths["last.pt"].exists() and restart_on_mismatch:
        try:
            check_resumable(read_checkpoint(paths["last.pt"]), identity, paths["last.pt"])
        except ResumeMismatch as err:
            log.warning("starting over: %s", err)
            _remove(paths, ("last.pt", "best.pt", "metrics.csv"))
    if paths["last.pt"].exists() and not _best_recoverable(paths["last.pt"], paths["best.pt"]):
        log.warning("%s is missing and %s (written before best copies were kept) cannot restore it: "
                    "training again from the start", paths["best.pt"], paths["last.pt"])  # fmt: skip
        _remove(paths, ("last.pt", "metrics.csv"))


def resume_or_start(paths: Mapping[str, Path], identity: Mapping[str, Any], model, optimizer, scheduler,
                    settings: TrainSettings) -> TrainingState:  # fmt: skip
    """The state to train on from: ``last.pt``'s (model, optimizer, scheduler, RNG restored in place;
    a lost ``best.pt`` rewritten from its copy), or a fresh, seeded start when there is none."""
    last = paths["last.pt"]
    if not last.exists():
        seed_everything(settings.seed)
        return TrainingState()
    checkpoint = read_checkpoint(last)
    check_resumable(checkpoint, identity, last)
    best_checkpoint = checkpoint.get("best_checkpoint")
    if best_checkpoint is not None and not paths["best.pt"].exists():
        log.info("restoring %s (epoch %d) from %s", paths["best.pt"], best_checkpoint["epoch"], last)
        save_checkpoint(paths["best.pt"], best_checkpoint)
    model.load_state_dict(checkpoint["model_state"])
    try:
        optimizer.load_state_dict(checkpoint["optimizer_state"])
    except ValueError as err:
        raise ResumeMismatch(f"{last}: optimizer groups differ from this run's ({err})") from None
    scheduler.load_state_dict(checkpoint["scheduler_state"])
    set_rng_state(checkpoint["rng"])
    log.info("resuming %s after epoch %d of %d", last, checkpoint["epoch"], settings.epochs)
    return TrainingState(checkpoint["epoch"], checkpoint["step"], checkpoint["best"], list(checkpoint["history"]),
                         checkpoint["cumulative_seconds"], best_checkpoint)  # fmt: skip


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


def save_epoch(paths: Mapping[str, Path], checkpoint: dict, improved: bool, state: TrainingState, record: dict) -> None:
    """The epoch's outputs: ``best.pt`` when improved, ``metrics.csv``, then ``last.pt``, which commits it."""
    if improved:
        save_checkpoint(paths["best.pt"], checkpoint)
    write_table(paths["metrics.csv"], pd.DataFrame(state.history), meta=record)
    # last: the resume point commits the epoch. It carries best.pt's content (the same tensors
    # when this epoch is the best, which torch.save stores once).
    save_checkpoint(paths["last.pt"], {**checkpoint, "best_checkpoint": checkpoint if improved else state.best_checkpoint})
    if improved:  # a copy: the model and optimizer tensors change in place in later epochs
        state.best_checkpoint = copy.deepcopy(checkpoint)


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
    out_dir.mkdir(parents=True, exist_ok=True)
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

    while state.epoch < settings.epochs:
        row, val = train_and_validate(model, train_ds, val_ds, optimizer, scheduler, settings, state, device)
        improved = improve_best(state, val, settings.task)
        checkpoint = {
            "model_name": identity["model_name"], "build_kwargs": getattr(model, "build_kwargs", None) or {},
            "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(), "epoch": state.epoch, "step": state.step, "best": state.best,
            "settings": settings.as_record(), "rng": rng_state(), "cumulative_seconds": state.cumulative,
            "provenance": record, "history": state.history, "data": identity["data"],
        }  # fmt: skip
        save_epoch(paths, checkpoint, improved, state, record)
        log.info("epoch %d/%d stride %d lr %.3g train_loss %.4g %s (%.1fs; per step %.3g s, %.3g s CPU)%s",
                 state.epoch, settings.epochs, row["stride"], row["lr"], row["train_loss"],
                 " ".join(f"{k} {v:.4g}" for k, v in val.items()), row["epoch_seconds"], row["step_seconds"],
                 row["step_cpu_seconds"], " *" if improved else "")  # fmt: skip
    return write_summary(paths["summary.json"], identity, settings, state, record)


def write_summary(path: Path, identity: Mapping[str, Any], settings: TrainSettings, state: TrainingState,
                  record: dict) -> dict:  # fmt: skip
    """``summary.json``, the completion marker: best and final epochs, steps, total time."""
    metric, mode = SELECTION[settings.task]
    summary = {
        "status": "ok",
        "model_name": identity["model_name"],
        "task": settings.task,
        "selection": {"metric": metric, "mode": mode},
        "best_epoch": state.best["epoch"],
        "best_metric": state.best["value"],
        "best": state.history[state.best["epoch"] - 1],
        "final": state.history[-1],
        "epochs": settings.epochs,
        "steps": state.step,
        "total_seconds": state.cumulative,
        # peak resident memory of this process so far (MB; Linux reports KB): exact, unlike the sampled
        # max_rss of Snakemake's benchmark files (docs/paper-scale.md)
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "provenance": record,
    }
    write_json(path, summary)
    return summary


# ------------------------------------------------------------------------------------------------
# One pipeline run (what `contlaws train` calls)
# ------------------------------------------------------------------------------------------------
def write_not_run(out_dir: Path, model_name: str, reason: str, cfg: Mapping[str, Any], seed: int) -> dict:
    """summary.json marking a model that cannot run on this machine (the DAG goes on without it)."""
    summary = {"status": "not run", "model_name": model_name, "reason": reason, "provenance": provenance(cfg, seed)}
    write_json(out_dir / "summary.json", summary)
    log.warning("model %s not run: %s (wrote %s)", model_name, reason, out_dir / "summary.json")
    return summary


def check_splits(train_ds, val_ds) -> None:
    for attr in ("task", "input_kind", "d_input", "d_output"):
        if getattr(train_ds, attr) != getattr(val_ds, attr):
            a, b = getattr(train_ds, attr), getattr(val_ds, attr)
            raise UserError(f"{train_ds.path} and {val_ds.path} differ in {attr}: {a!r} vs {b!r}")


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
    from contlaws.models.registry import ModelUnavailable, availability, build_model

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
        model = build_model(
            model_name,
            d_input=train_ds.d_input,
            d_output=train_ds.d_output,
            model_cfg=cfg["model"],
            input_kind=train_ds.input_kind,
            vocab_size=getattr(train_ds, "vocab_size", None) or train_ds.meta.get("vocab_size"),
            discretization=discretization,
            **build_options,
        )
    except ModelUnavailable as err:
        return write_not_run(out_dir, model_name, err.reason, cfg, seed)
    meta = {"config": cfg, "model": model_name, "discretization": discretization,
            "experiment": experiment, "train": str(train_path), "val": str(val_path)}  # fmt: skip
    if experiment == "refinement_trained" and train_ds.task == "regression":
        # E2 labels as z = (y − mean)/std per component, statistics of the training split only;
        # recorded in the checkpoint (provenance.label_standardization) for evaluation.
        from contlaws.data.regression import LabelStandardization
        from contlaws.data.sets import standardized_dataset

        stats = LabelStandardization.fit(train_ds.y)
        train_ds, val_ds = standardized_dataset(train_ds, stats), standardized_dataset(val_ds, stats)
        meta["label_standardization"] = stats.to_dict()
    summary = fit(model, train_ds, val_ds, out_dir, settings, meta=meta, restart_on_mismatch=restart_on_mismatch)
    log.info("done: best %s = %.4g at epoch %d (%s)", summary["selection"]["metric"], summary["best_metric"],
             summary["best_epoch"], out_dir)  # fmt: skip
    return summary


__all__ = [
    "ResumeMismatch",
    "TrainSettings",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "load_model",
    "read_checkpoint",
    "seed_everything",
    "settings_from_config",
    "train_run",
]
