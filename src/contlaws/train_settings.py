"""What determines a training run besides the model and the data: :class:`TrainSettings` (epochs,
batch size, optimizer, schedule, stages, step cap) and :func:`settings_from_config`, which reads them
from the resolved config's ``train`` section (defaults live in the schema). The engine is
:mod:`contlaws.train`; the learning-rate schedules are :mod:`contlaws.schedule`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contlaws.config import batch_size_for
from contlaws.early_stopping import check_rule
from contlaws.errors import ConfigError
from contlaws.schedule import SCHEDULES

TASKS = ("regression", "classification")
# Selection metric per task: (validation column, "min" or "max").
SELECTION = {"regression": ("val_rmse", "min"), "classification": ("val_accuracy", "max")}
# Validation columns of metrics.csv per task (in this order).
VAL_METRICS = {"regression": ("rmse", "mae"), "classification": ("accuracy", "loss")}


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
        ssm_param_group: {lr, weight_decay} of one AdamW group holding the state-space parameters
            (config ``train.ssm_param_group``; :func:`contlaws.models.registry.optimizer_param_groups`),
            or None for the per-layer settings.
        early_stopping: ``{"patience": P, "min_delta": D}`` or None (off: train every epoch). With
            it, ``epochs`` is the cap and the run stops when the validation metric has not improved
            by a relative D for P epochs in a row (:mod:`contlaws.early_stopping`). Not with ``stages``
            (validation at a coarse stride is not comparable with the next stage's).

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
    ssm_param_group: dict | None = None
    early_stopping: dict | None = None

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
        self.early_stopping = check_rule(self.early_stopping)
        if self.early_stopping is not None and self.stages is not None:
            raise ValueError("early_stopping cannot be combined with stages (validation strides differ between stages)")

    def as_record(self) -> dict:
        """The fields as a dict for checkpoints and provenance; an unset step cap, SSM group or
        early-stopping rule is left out, so runs without one record (and resume) exactly as before the
        field existed."""
        record = dataclasses.asdict(self)
        for optional in ("max_steps_per_epoch", "ssm_param_group", "early_stopping"):
            if record[optional] is None:
                del record[optional]
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
            whose ``epochs_per_model`` (if present) overrides both for ``model_name`` (the config
            refuses E3 budgets that differ between models unless
            ``eta_performance.allow_unequal_budgets``). ``train.early_stopping`` is read from the
            ``train`` section given (E3: with ``eta_performance.train`` merged over it).
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
        # E2 and E3 only (E5 keeps the authors' SSM settings of its own section); schema default null:
        # the per-layer groups of model.s4d; a mapping: one group of the state-space parameters
        ssm_param_group=dict(train["ssm_param_group"]) if train.get("ssm_param_group") else None,
        early_stopping=early_stopping_field(train),
        **engine_fields(train),
    )
    return dataclasses.replace(settings, **overrides)


def engine_fields(train: Mapping[str, Any]) -> dict:
    """The :class:`TrainSettings` fields every training takes from the ``train`` section, whichever
    section sets its optimizer (E2, E3: ``train``; E5: ``subsampling``)."""
    return {
        "grad_clip": float(train["grad_clip"]),
        "device": train["device"],
        "eval_max_elements": int(train["eval_max_elements"]),
        # no schema default: absent means no cap (a paper-shapes check key)
        "max_steps_per_epoch": train.get("max_steps_per_epoch"),
    }


def early_stopping_field(train: Mapping[str, Any]) -> dict | None:
    """``train.early_stopping`` (schema default null: off) for E2 and E3 runs; E5's staged runs
    keep their fixed budget (subsampled and baseline share it by construction)."""
    return train.get("early_stopping")
