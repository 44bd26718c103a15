"""The training output folder beyond the metrics: a restart leaves nothing of the other run behind,
a resume refuses another model class, keeps counting wall-clock time, and ``summary.json``'s best
row is the best epoch's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import contlaws.train as engine
from contlaws.config import schema_default
from contlaws.data.sets import ArrayDataset
from contlaws.errors import ResumeMismatch
from contlaws.train import TrainingDiverged, TrainSettings, fit, read_checkpoint


# ------------------------------------------------------------------------------------------------
# Tiny data, models and settings
# ------------------------------------------------------------------------------------------------
def regression_set(n: int, seed: int, length: int = 16) -> ArrayDataset:
    """x = sin(ω t + φ) (N, L, 1), label ω (N, 1)."""
    rng = np.random.default_rng(seed)
    omega = rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    t = np.arange(length, dtype=np.float32) * 0.2
    x = np.sin(omega * t + rng.uniform(0, 2 * np.pi, (n, 1)))[..., None].astype(np.float32)
    return ArrayDataset(x, omega, task="regression", input_kind="continuous", d_input=1, d_output=1, meta={})


class TinyModel(nn.Module):
    """Linear encoder, mean over time, linear decoder (no build_kwargs: identified by its class name)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(1, 4)
        self.decoder = nn.Linear(4, 1)

    def forward(self, x, tau: float = 1.0, stride: int = 1):
        return self.decoder(torch.tanh(self.encoder(x)).mean(1))  # (B 1)


class OtherTinyModel(TinyModel):
    """Another model class with the same parameter names and shapes."""


def settings(**kw) -> TrainSettings:
    base = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.01, "warmup_epochs": 0.0, "grad_clip": 0.0,
            "device": "cpu", "eval_max_elements": schema_default("train.eval_max_elements"), "seed": 0}  # fmt: skip
    return TrainSettings(**{**base, **kw})


TRAIN, VAL = regression_set(32, 0), regression_set(16, 1)


# ------------------------------------------------------------------------------------------------
# Restart and resume
# ------------------------------------------------------------------------------------------------
def test_restart_whose_first_epoch_diverges_leaves_no_best_checkpoint_of_the_previous_run(tmp_path):
    # Guards against: a restart on mismatch keeping the other run's best.pt.
    fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=2))
    assert (tmp_path / "best.pt").exists()
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=2, lr=1e30), restart_on_mismatch=True)
    assert not (tmp_path / "best.pt").exists()
    assert not (tmp_path / "last.pt").exists() and not (tmp_path / "summary.json").exists()


def test_resume_refuses_another_model_class_with_the_same_parameters(tmp_path):
    # Guards against: differences in model_name (outside the dict-valued identity parts) being ignored.
    fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=2))
    with pytest.raises(ResumeMismatch, match=r"model_name: 'TinyModel' -> 'OtherTinyModel'"):
        fit(OtherTinyModel(), TRAIN, VAL, tmp_path, settings(epochs=2))


class Interrupted(Exception):
    """Stands for a kill between two epochs."""


def test_resumed_run_keeps_counting_wall_clock_time(tmp_path, monkeypatch):
    # Guards against: cumulative_seconds restarting at 0 on resume (E5's times to reach a target read it).
    real_evaluate, calls = engine.evaluate, []

    def evaluate_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the third epoch's validation: last.pt holds epoch 2
            raise Interrupted
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", evaluate_then_stop)
    with pytest.raises(Interrupted):
        fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=4))
    before = read_checkpoint(tmp_path / "last.pt")
    assert before["epoch"] == 2 and before["cumulative_seconds"] > 0
    monkeypatch.setattr(engine, "evaluate", real_evaluate)

    summary = fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=4))
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2, 3, 4]
    # metrics.csv keeps 6 significant digits
    np.testing.assert_allclose(metrics["cumulative_seconds"], metrics["epoch_seconds"].cumsum(), rtol=1e-5)
    assert metrics["cumulative_seconds"].is_monotonic_increasing
    assert summary["total_seconds"] >= before["cumulative_seconds"]
    assert summary["total_seconds"] == pytest.approx(metrics["cumulative_seconds"].iloc[-1], rel=1e-5)


# ------------------------------------------------------------------------------------------------
# summary.json
# ------------------------------------------------------------------------------------------------
def test_summary_best_row_is_the_best_epochs_metrics_row(tmp_path, monkeypatch):
    # Guards against: summary["best"] holding the final epoch's row instead of the best epoch's.
    scripted = iter([0.5, 0.3, 0.4])  # validation RMSE per epoch: the best is epoch 2 of 3
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: {"rmse": next(scripted), "mae": 0.1})
    summary = fit(TinyModel(), TRAIN, VAL, tmp_path, settings(epochs=3))
    assert summary["best_epoch"] == 2 and summary["best"]["epoch"] == summary["best_epoch"]
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    expected = metrics[metrics["epoch"] == 2].iloc[0].to_dict()
    assert summary["best"] == pytest.approx(expected, rel=1e-5)  # metrics.csv keeps 6 significant digits
    assert summary["final"]["epoch"] == 3 and summary["best"]["val_rmse"] == 0.3
