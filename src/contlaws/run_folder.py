"""The output folder of :func:`contlaws.train.fit` (listed in that module's docstring): writing and
reading ``last.pt``/``best.pt``, rebuilding a model from one, ``metrics.csv`` and ``summary.json``,
the identity a resumed run must match, RNG states, and the :class:`TrainingState` a run continues from.

Resume: when ``last.pt`` exists, :func:`resume_or_start` restores model, optimizer, scheduler, epoch,
global step, best metric, metric history, RNG states and cumulative time from it, so a run killed at
any moment and restarted ends with exactly the metrics and ``best.pt`` of an uninterrupted run on CPU.
It refuses (:class:`ResumeMismatch`) when ``last.pt`` was made with other settings, model or data.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import logging
import os
import random
import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from contlaws.early_stopping import STOP_CAP
from contlaws.errors import DataFileError, ResumeMismatch, RunFolderBusy
from contlaws.io import atomic_path, meta_path, output_file_error, provenance, to_jsonable, write_json, write_table
from contlaws.train_settings import SELECTION, TrainSettings

log = logging.getLogger(__name__)

# Every checkpoint (last.pt, best.pt); "history" (metrics rows so far) and "data" (split sizes) serve resume.
CHECKPOINT_KEYS = ("model_name", "build_kwargs", "model_state", "optimizer_state", "scheduler_state", "epoch",
                   "step", "best", "settings", "rng", "cumulative_seconds", "provenance",
                   "history", "data")  # fmt: skip

# ------------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # cuDNN autotuning times several kernels per shape and keeps the fastest, which can differ from
    # run to run and change the results; the reference code re-enabled it after seeding.
    torch.backends.cudnn.benchmark = False


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
# One trainer per run folder
# ------------------------------------------------------------------------------------------------
LOCK_NAME = ".lock"  # in the run folder; holds the PID of the trainer that has it locked


@contextlib.contextmanager
def hold_run_folder(out_dir: Path):
    """Hold an exclusive lock on ``out_dir/.lock`` (``flock``) while the body runs.

    Two trainers in one folder (a rerun started while an orphaned trainer still runs) would write
    ``last.pt``, ``best.pt`` and ``metrics.csv`` in turn. The second one is refused at once with a
    :class:`RunFolderBusy` naming the folder and the PID holding it. The operating system releases
    the lock when its holder exits, however it exits (a killed trainer leaves no stale lock). The
    file itself stays (removing it would let a third trainer lock a new file while the second holds
    the old one). Without ``fcntl`` (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        yield
        return
    path = out_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise output_file_error(path, err) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RunFolderBusy(f"{out_dir}: another training (PID {holder}) is writing this run folder; wait for "
                                "it to end or stop it, then rerun") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


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
# Resume
# ------------------------------------------------------------------------------------------------
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


def epoch_checkpoint(model, optimizer, scheduler, settings: TrainSettings, state: TrainingState,
                     identity: Mapping[str, Any], record: dict) -> dict:  # fmt: skip
    """The checkpoint of the epoch ``state`` ends (every key of :data:`CHECKPOINT_KEYS`), RNG states as of now."""
    return {
        "model_name": identity["model_name"], "build_kwargs": getattr(model, "build_kwargs", None) or {},
        "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(), "epoch": state.epoch, "step": state.step, "best": state.best,
        "settings": settings.as_record(), "rng": rng_state(), "cumulative_seconds": state.cumulative,
        "provenance": record, "history": state.history, "data": identity["data"],
    }  # fmt: skip


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


def write_summary(path: Path, identity: Mapping[str, Any], settings: TrainSettings, state: TrainingState,
                  record: dict, stopping: Mapping[str, Any] | None = None) -> dict:  # fmt: skip
    """``summary.json``, the completion marker: best and final epochs, steps, total time, and
    ``stopping`` (epochs_used, epoch_cap, stop_reason, the early-stopping state; default: every
    epoch of the cap trained)."""
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
        **(stopping or {"epochs_used": state.epoch, "epoch_cap": settings.epochs, "stop_reason": STOP_CAP,
                        "early_stopping": None}),
        "steps": state.step,
        "total_seconds": state.cumulative,
        # peak resident memory of this process so far (MB; Linux reports KB): exact, unlike the sampled
        # max_rss of Snakemake's benchmark files (docs/paper-scale.md)
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "provenance": record,
    }
    write_json(path, summary)
    return summary


def write_not_run(out_dir: Path, model_name: str, reason: str, cfg: Mapping[str, Any], seed: int) -> dict:
    """summary.json marking a model that cannot run on this machine (the DAG goes on without it)."""
    summary = {"status": "not run", "model_name": model_name, "reason": reason, "provenance": provenance(cfg, seed)}
    write_json(out_dir / "summary.json", summary)
    log.warning("model %s not run: %s (wrote %s)", model_name, reason, out_dir / "summary.json")
    return summary
