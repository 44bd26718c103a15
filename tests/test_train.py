"""Training engine: resume after SIGKILL, divergence, determinism, schedules, strides, evaluation, CLI."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contlaws import commands
from contlaws.config import REPO_ROOT, load_config, schema_default
from contlaws.data.sets import ArrayDataset
from contlaws.errors import ResumeMismatch
from contlaws.io import read_json, save_npz
from contlaws.schedule import make_lr_factor, make_scheduler
from contlaws.train import (
    CHECKPOINT_KEYS,
    TrainingDiverged,
    TrainSettings,
    evaluate,
    fit,
    load_model,
    read_checkpoint,
    seed_everything,
    settings_from_config,
)

TIMING = ["epoch_seconds", "cumulative_seconds", "step_seconds", "step_cpu_seconds"]
# Runs the CLI with only the train subcommand registered (isolated from other topics' imports).
CLI_DRIVER = (
    "import sys; import contlaws.commands as c; c.COMMAND_MODULES = ('contlaws.commands.train',); "
    "sys.exit(c.main(sys.argv[1:]))"
)


# ------------------------------------------------------------------------------------------------
# Tiny data and models
# ------------------------------------------------------------------------------------------------
def sine_arrays(n: int, seed: int, length: int = 32) -> dict[str, np.ndarray]:
    """x = sin(ω t + φ) (N, L, 1), label y = ω (N, 1)."""
    rng = np.random.default_rng(seed)
    omega = rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    t = np.arange(length, dtype=np.float32) * 0.2
    x = np.sin(omega * t + rng.uniform(0, 2 * np.pi, (n, 1)))[..., None].astype(np.float32)
    return {"x": x, "y": omega}


def regression_set(n: int, seed: int, length: int = 32) -> ArrayDataset:
    a = sine_arrays(n, seed, length)
    return ArrayDataset(a["x"], a["y"], task="regression", input_kind="continuous", d_input=1, d_output=1, meta={})


class SpyModel(nn.Module):
    """Linear encoder, dropout, mean over stride windows and time, linear decoder; records its calls."""

    def __init__(self, d_input: int = 1, d_output: int = 1, d_model: int = 8, dropout: float = 0.2):
        super().__init__()
        self.d_model = d_model
        self.encoder = nn.Linear(d_input, d_model)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(d_model, d_output)
        self.calls: list[tuple[bool, int, int]] = []  # (training, stride, batch)

    def forward(self, x, tau: float = 1.0, stride: int = 1):
        self.calls.append((self.training, stride, x.shape[0]))
        h = torch.tanh(self.encoder(x))  # (B L D)
        h = h[:, : h.shape[1] // stride * stride].unflatten(1, (-1, stride)).mean(2)  # (B L/s D)
        return self.decoder(self.dropout(h).mean(1))  # (B d_output)


def small_settings(**kw) -> TrainSettings:
    base = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.01, "warmup_epochs": 0.0, "grad_clip": 0.0,
            "device": "cpu", "eval_max_elements": schema_default("train.eval_max_elements"), "seed": 0}  # fmt: skip
    return TrainSettings(**{**base, **kw})


def tiny_config(tmp_path, **train) -> str:
    """The quick config with a 1-layer, width-8 model; written as JSON, returns its path."""
    cfg = load_config(REPO_ROOT / "config" / "quick.yaml")
    cfg["model"].update(d_model=8, n_layers=1)
    cfg["train"].update(batch_size=16, **train)
    cfg["threads"] = 1
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def write_splits(tmp_path, n_train: int = 96, n_val: int = 32) -> tuple[str, str]:
    paths = []
    for name, n, seed in (("train", n_train, 0), ("val", n_val, 1)):
        path = tmp_path / f"{name}.npz"
        save_npz(path, sine_arrays(n, seed), {"kind": "regression"})
        paths.append(str(path))
    return paths[0], paths[1]


def cli_args(config, train, val, out, *extra) -> list[str]:
    return ["train", "--config", config, "--model", "s4d", "--train", train, "--val", val, "--out", str(out), *extra]


def run_cli_in_process(monkeypatch, argv) -> int:
    monkeypatch.setattr(commands, "COMMAND_MODULES", ("contlaws.commands.train",))
    return commands.main(argv)


def metrics_without_timing(out_dir) -> pd.DataFrame:
    return pd.read_csv(out_dir / "metrics.csv").drop(columns=TIMING)


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


# ------------------------------------------------------------------------------------------------
# Resume, determinism, divergence
# ------------------------------------------------------------------------------------------------
def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    config = tiny_config(tmp_path, epochs=25)
    train, val = write_splits(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def start(out):
        return subprocess.Popen([sys.executable, "-c", CLI_DRIVER, *cli_args(config, train, val, out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    full, killed = tmp_path / "full", tmp_path / "killed"
    reference = start(full)
    victim = start(killed)
    deadline = time.monotonic() + 60
    while not (killed / "last.pt").exists():
        assert victim.poll() is None, victim.stderr.read().decode()
        assert time.monotonic() < deadline, "no last.pt within 60 s"
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()
    stopped_after = read_checkpoint(killed / "last.pt")["epoch"]
    assert 1 <= stopped_after < 25

    resumed = subprocess.run([sys.executable, "-c", CLI_DRIVER, *cli_args(config, train, val, killed)], env=env,
                             check=False, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {killed / 'last.pt'} after epoch {stopped_after}" in resumed.stderr
    assert reference.wait(timeout=120) == 0, reference.stderr.read().decode()

    pd.testing.assert_frame_equal(metrics_without_timing(killed), metrics_without_timing(full), check_exact=True)
    last_full, last_killed = read_checkpoint(full / "last.pt"), read_checkpoint(killed / "last.pt")
    strip = [{k: v for k, v in row.items() if k not in TIMING} for row in last_full["history"]]
    assert strip == [{k: v for k, v in row.items() if k not in TIMING} for row in last_killed["history"]]
    best_full, best_killed = read_checkpoint(full / "best.pt"), read_checkpoint(killed / "best.pt")
    assert best_full["epoch"] == best_killed["epoch"]
    assert_same_state(best_full["model_state"], best_killed["model_state"])
    assert_same_state(last_full["model_state"], last_killed["model_state"])
    summary = read_json(killed / "summary.json")
    assert summary["status"] == "ok" and summary["best_metric"] == read_json(full / "summary.json")["best_metric"]


def test_deleted_best_checkpoint_is_restored_from_last(tmp_path, monkeypatch):
    """The pipeline declares best.pt, so Snakemake deletes it before rerunning the training job: the
    rerun must end with the same best.pt (the best epoch's, not the last one's) from the copy last.pt
    keeps; a last.pt without that copy (older runs) means training again from the start."""
    import contlaws.train as engine

    scripted = iter([0.5, 0.3, 0.4, 0.5, 0.3, 0.4])  # validation RMSE per epoch: the best is epoch 2 of 3
    monkeypatch.setattr(engine, "evaluate", lambda *a, **k: {"rmse": next(scripted), "mae": 0.1})
    train, val = regression_set(32, 0), regression_set(16, 1)
    out = tmp_path / "run"
    fit(SpyModel(), train, val, out, small_settings(epochs=3))
    original = read_checkpoint(out / "best.pt")
    assert original["epoch"] == 2 and read_checkpoint(out / "last.pt")["epoch"] == 3

    (out / "best.pt").unlink()
    assert fit(SpyModel(), train, val, out, small_settings(epochs=3))["best_epoch"] == 2  # nothing left to train
    restored = read_checkpoint(out / "best.pt")
    assert restored["epoch"] == 2 and restored["history"] == original["history"]
    assert_same_state(restored["model_state"], original["model_state"])
    assert restored["optimizer_state"]["state"][0]["step"] == original["optimizer_state"]["state"][0]["step"]
    last_state = read_checkpoint(out / "last.pt")["model_state"]
    assert any(not torch.equal(v, last_state[k]) for k, v in restored["model_state"].items())  # epoch 2, not 3

    last = read_checkpoint(out / "last.pt")
    del last["best_checkpoint"]  # a last.pt from before the copy was kept
    torch.save(last, out / "last.pt")
    (out / "best.pt").unlink()
    assert fit(SpyModel(), train, val, out, small_settings(epochs=3))["best_epoch"] == 2  # trained again: 3 more epochs
    assert next(scripted, None) is None
    assert read_checkpoint(out / "best.pt")["epoch"] == 2


def test_same_seed_same_metrics_and_weights(tmp_path):
    train, val = regression_set(64, 0), regression_set(32, 1)

    def run(out, seed):
        seed_everything(seed)
        model = SpyModel()
        fit(model, train, val, out, small_settings(seed=seed))
        return metrics_without_timing(out), read_checkpoint(out / "best.pt")["model_state"]

    metrics_a, best_a = run(tmp_path / "a", 0)
    metrics_b, best_b = run(tmp_path / "b", 0)
    metrics_c, _ = run(tmp_path / "c", 1)
    pd.testing.assert_frame_equal(metrics_a, metrics_b, check_exact=True)
    assert_same_state(best_a, best_b)
    assert not metrics_a["train_loss"].equals(metrics_c["train_loss"])  # the seed matters (init, order, dropout)


def test_refuses_to_resume_a_different_run(tmp_path):
    train, val = regression_set(32, 0), regression_set(16, 1)
    fit(SpyModel(), train, val, tmp_path, small_settings(epochs=2))
    with pytest.raises(ResumeMismatch, match=r"settings\.lr: 0\.003 -> 0\.001"):
        fit(SpyModel(), train, val, tmp_path, small_settings(epochs=2, lr=1e-3))
    with pytest.raises(ResumeMismatch, match=r"data\.n_train: 32 -> 48"):
        fit(SpyModel(), regression_set(48, 0), val, tmp_path, small_settings(epochs=2))
    # the same run resumes (nothing left to do) and rewrites its completion marker
    assert fit(SpyModel(), train, val, tmp_path, small_settings(epochs=2))["status"] == "ok"


def test_divergence_stops_without_best_checkpoint(tmp_path, monkeypatch, capsys):
    train, val = regression_set(64, 0), regression_set(16, 1)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+"):
        fit(SpyModel(), train, val, tmp_path / "fit", small_settings(lr=1e30))
    assert not (tmp_path / "fit" / "best.pt").exists() and not (tmp_path / "fit" / "summary.json").exists()

    config = tiny_config(tmp_path, epochs=3, lr=1e30)
    out = tmp_path / "cli"
    status = run_cli_in_process(monkeypatch, cli_args(config, *write_splits(tmp_path), out))
    assert status != 0
    assert not (out / "best.pt").exists() and not (out / "summary.json").exists()
    err = capsys.readouterr().err
    assert "error: training diverged" in err and "epoch 1, step " in err


def test_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    import errno
    import pathlib

    real_write = pathlib.Path.write_bytes

    def full_disk(self, data):
        if self.name.startswith(".last.pt."):  # the first checkpoint written: half of it fits
            real_write(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    out = tmp_path / "run"
    status = run_cli_in_process(monkeypatch, cli_args(tiny_config(tmp_path, epochs=1), *write_splits(tmp_path), out))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"error: {out / 'last.pt'}: cannot write the output file: No space left on device" in err
    assert not any(".tmp" in p.name for p in out.iterdir()) and not (out / "last.pt").exists()


def test_nan_in_the_data_is_refused_at_load_not_reported_as_divergence(tmp_path, monkeypatch, capsys):
    """A dataset holding NaN (with a valid checksum) used to train, diverge and say "lower train.lr"."""
    train, val = write_splits(tmp_path)
    arrays = sine_arrays(96, 0)
    arrays["x"][7, 3, 0] = np.nan
    save_npz(train, arrays, {"kind": "regression"})
    out = tmp_path / "run"
    status = run_cli_in_process(monkeypatch, cli_args(tiny_config(tmp_path, epochs=1), train, val, out))
    err = capsys.readouterr().err
    assert status == 2 and "diverged" not in err and "lr" not in err
    assert f"error: {train}: regression array 'x' holds NaN or infinite values (1 of 96 rows, the first at row 7)" in err
    assert not out.exists() or not any(out.iterdir())


class BlowsUpAtStep(SpyModel):
    """SpyModel whose output becomes infinite at one training step (1-based) and stays so."""

    def __init__(self, bad_step: int):
        super().__init__()
        self.bad_step = bad_step
        self.training_calls = 0

    def forward(self, x, tau: float = 1.0, stride: int = 1):
        out = super().forward(x, tau=tau, stride=stride)
        if self.training:
            self.training_calls += 1
            if self.training_calls >= self.bad_step:
                return out * float("inf")
        return out


def test_divergence_is_reported_at_the_first_non_finite_loss(tmp_path):
    # 64 samples in batches of 16: 4 steps per epoch; step 6 is batch 2 of epoch 2. The per-step check
    # must stop there, naming the loss, before the optimizer step (the validation check at the end
    # of the epoch would fire too, but later and without the loss or the step).
    train, val = regression_set(64, 0), regression_set(16, 1)
    seed_everything(0)
    with pytest.raises(TrainingDiverged) as raised:
        fit(BlowsUpAtStep(6), train, val, tmp_path, small_settings(epochs=3))
    message = str(raised.value)
    assert "loss = inf" in message or "loss = nan" in message, message
    assert "epoch 2, step 6 (batch 2 of 4 in the epoch)" in message, message
    last = read_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 1 and last["step"] == 4  # epoch 2 was not committed
    assert all(torch.isfinite(v).all() for v in last["model_state"].values())
    assert not (tmp_path / "summary.json").exists()


# ------------------------------------------------------------------------------------------------
# Schedules and stages
# ------------------------------------------------------------------------------------------------
def recorded_lrs(factor, n_steps: int, base_lrs=(1e-3, 0.1)) -> np.ndarray:
    """lr of each group at every optimizer step, from a real AdamW + scheduler; (steps, groups)."""
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": lr} for lr in base_lrs]
    optimizer = torch.optim.AdamW(groups)
    scheduler = make_scheduler(optimizer, factor)
    lrs = []
    for _ in range(n_steps):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return np.array(lrs)


def test_step_schedule_warmup_then_cosine_restarted_per_stage():
    # 4 steps per epoch, stages of 2 epochs (8 steps), warmup 0.5 epoch = 2 steps
    factor = make_lr_factor("cosine_step_restarts", 4, [2, 2, 2], warmup_epochs=0.5)
    lrs = recorded_lrs(factor, 24)
    expected = [(t + 1) / 2 for t in range(2)]  # warmup 1/2, 2/2
    expected += [(1 + math.cos(math.pi * j / 6)) / 2 for j in range(6)]  # stage 0 after warmup: 6 steps
    expected += [(1 + math.cos(math.pi * j / 8)) / 2 for _ in range(2) for j in range(8)]  # stages 1, 2 restart
    np.testing.assert_allclose(lrs, np.outer(expected, [1e-3, 0.1]), rtol=1e-12)
    assert lrs[8, 0] == lrs[16, 0] == 1e-3  # full lr again at each stage boundary


def test_epoch_schedule_matches_torch_cosine_annealing_per_epoch():
    epochs, steps = 5, 3
    lrs = recorded_lrs(make_lr_factor("cosine_epoch", steps, [epochs], 0.0), epochs * steps)
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=0.1)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    per_epoch = []
    for _ in range(epochs):
        per_epoch.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    np.testing.assert_allclose(lrs[:, 1], np.repeat(per_epoch, steps), rtol=1e-12)


def test_stage_strides_reach_model_and_lr_is_logged(tmp_path):
    train, val = regression_set(40, 0, length=32), regression_set(16, 1, length=32)
    stages = [(1, 4), (2, 2), (1, 1)]
    settings = small_settings(epochs=4, batch_size=16, schedule="cosine_step_restarts", stages=stages,
                              warmup_epochs=1 / 3)  # fmt: skip
    model = SpyModel()
    fit(model, train, val, tmp_path, settings)
    train_batches, eval_batches = [16, 16, 8], [16]
    expected = []
    for stride in (4, 2, 2, 1):
        expected += [(True, stride, b) for b in train_batches] + [(False, stride, b) for b in eval_batches]
    assert model.calls == expected
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["stride"].tolist() == [4, 2, 2, 1] and metrics["stage"].tolist() == [1, 2, 2, 3]
    # lr at each epoch's first step: warmup step 1 of 1, then stage restarts (3 steps per epoch)
    first_step = [1.0, 1.0, (1 + math.cos(math.pi * 3 / 6)) / 2, 1.0]
    np.testing.assert_allclose(metrics["lr"], np.array(first_step) * 3e-3, rtol=1e-5)


def test_step_cap_limits_each_epoch_and_the_schedule_counts_capped_steps(tmp_path):
    """max_steps_per_epoch: the first k batches of each epoch's order, in every stage; the lr schedule
    and the global step count those steps; an uncapped run records no cap (same checkpoints as before)."""
    train, val = regression_set(80, 0, length=32), regression_set(16, 1, length=32)  # 5 batches of 16
    stages = [(1, 2), (2, 1)]
    settings = small_settings(epochs=3, batch_size=16, schedule="cosine_step_restarts", stages=stages,
                              warmup_epochs=0, max_steps_per_epoch=2)  # fmt: skip
    model = SpyModel()
    summary = fit(model, train, val, tmp_path / "capped", settings)
    train_calls = [(stride, b) for training, stride, b in model.calls if training]
    assert train_calls == [(2, 16)] * 2 + [(1, 16)] * 4  # 2 steps per epoch, strides of the stages
    assert summary["steps"] == 6
    metrics = pd.read_csv(tmp_path / "capped" / "metrics.csv")
    # stage 2 has 2 epochs x 2 capped steps: at its second epoch's first step the cosine is at 2/4
    np.testing.assert_allclose(metrics["lr"], np.array([1.0, 1.0, (1 + math.cos(math.pi * 2 / 4)) / 2]) * 3e-3,
                               rtol=1e-5)  # fmt: skip
    assert (metrics["step_seconds"] > 0).all() and (metrics["step_seconds"] <= metrics["epoch_seconds"]).all()
    assert (metrics["step_cpu_seconds"] > 0).all()
    # the epoch loss is the mean over the 32 sequences seen (lr ~ 0 keeps the initial weights)
    seed_everything(0)
    frozen = SpyModel(dropout=0.0)
    initial = copy.deepcopy(frozen)
    fit(frozen, train, val, tmp_path / "frozen", small_settings(epochs=1, lr=1e-12, max_steps_per_epoch=2))
    seen = np.random.default_rng([0, 0]).permutation(80)[:32]
    @torch.no_grad()
    def mse(rows):
        x, y = train.get_batch(rows)
        return float(((initial(x) - y) ** 2).mean())
    loss = pd.read_csv(tmp_path / "frozen" / "metrics.csv")["train_loss"].iloc[0]
    assert loss == pytest.approx(mse(seen), rel=1e-5) and loss != pytest.approx(mse(np.arange(80)), rel=1e-3)
    assert read_checkpoint(tmp_path / "capped" / "last.pt")["settings"]["max_steps_per_epoch"] == 2
    fit(SpyModel(), train, val, tmp_path / "uncapped", small_settings(epochs=1))
    assert "max_steps_per_epoch" not in read_checkpoint(tmp_path / "uncapped" / "last.pt")["settings"]
    with pytest.raises(ValueError, match="max_steps_per_epoch must be positive"):
        small_settings(max_steps_per_epoch=0)


def test_stages_must_add_up_to_epochs():
    with pytest.raises(ValueError, match="do not add up"):
        small_settings(epochs=5, stages=[(2, 2), (2, 1)])


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length, expected_batch", [(64, 10), (256, 2)])
def test_eval_batch_shrinks_with_length(length, expected_batch):
    dataset = regression_set(25, 3, length=length)
    seed_everything(0)
    model = SpyModel().eval()
    with torch.no_grad():
        reference = model(torch.from_numpy(dataset.x))  # one pass over everything: (N 1)
    model.calls.clear()
    result = evaluate(model, dataset, eval_max_elements=64 * 8 * 10, return_outputs=True)
    sizes = [b for _, _, b in model.calls]
    assert max(sizes) == expected_batch and sum(sizes) == 25
    np.testing.assert_allclose(result["outputs"], reference.numpy(), rtol=1e-6)
    err = reference.numpy() - dataset.y
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-6)
    assert result["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-6)
    assert result["n"] == 25


def test_evaluate_classification_against_full_pass():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 16, 2)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    dataset = ArrayDataset(x, y, task="classification", input_kind="continuous", d_input=2, d_output=3, meta={})
    seed_everything(0)
    model = SpyModel(d_input=2, d_output=3)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(x))
    model.train()
    result = evaluate(model, dataset, stride=2, eval_max_elements=16 * 8 * 7)
    assert model.training  # mode restored
    assert {s for _, s, _ in model.calls[1:]} == {2}
    with torch.no_grad():
        logits2 = model.eval()(torch.from_numpy(x), stride=2)
    assert not torch.equal(logits, logits2)
    assert result["accuracy"] == pytest.approx((logits2.argmax(1).numpy() == y).mean())
    assert result["loss"] == pytest.approx(F.cross_entropy(logits2, torch.from_numpy(y)).item(), rel=1e-6)


# ------------------------------------------------------------------------------------------------
# Config and CLI
# ------------------------------------------------------------------------------------------------
def test_settings_from_config(quick_config):
    cfg = quick_config
    settings = settings_from_config(cfg, "s6", None, seed=3)
    s6_batch = cfg["train"]["batch_size_per_model"]["s6"]
    assert (settings.epochs, settings.batch_size, settings.lr) == (cfg["train"]["epochs"], s6_batch, cfg["train"]["lr"])
    assert settings.seed == 3 and settings.eval_max_elements == cfg["train"]["eval_max_elements"]
    assert settings_from_config(cfg, "s4d", "refinement_trained").batch_size == cfg["train"]["batch_size"]
    cfg["refinement_trained"]["epochs"] = 2
    assert settings_from_config(cfg, "s4d", "refinement_trained").epochs == 2
    assert settings_from_config(cfg, "s4d", "eta_performance").epochs == cfg["eta_performance"]["epochs"]  # E3's cap
    del cfg["eta_performance"]["epochs"]
    assert settings_from_config(cfg, "s4d", "eta_performance").epochs == cfg["train"]["epochs"]  # absent: inherited
    cfg["eta_performance"]["epochs"] = 5
    cfg["eta_performance"]["epochs_per_model"] = {"transformer": 7}
    assert settings_from_config(cfg, "transformer", "eta_performance").epochs == 7  # per model wins
    assert settings_from_config(cfg, "s4d", "eta_performance").epochs == 5  # others: the section's epochs
    assert settings_from_config(cfg, "transformer", "refinement_trained").epochs == 2  # E3 only
    assert settings_from_config(cfg, "s4d", None).max_steps_per_epoch is None  # absent key: full epochs
    cfg["train"]["max_steps_per_epoch"] = 3
    assert settings_from_config(cfg, "s6", "eta_performance").max_steps_per_epoch == 3


def test_cli_run_outputs_and_best_checkpoint_reloads(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, epochs=3)
    train, val = write_splits(tmp_path)
    out = tmp_path / "out"
    assert run_cli_in_process(monkeypatch, cli_args(config, train, val, out, "--seed", "2")) == 0
    summary = read_json(out / "summary.json")
    assert summary["status"] == "ok" and summary["provenance"]["seed"] == 2
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["epoch", "stage", "stride", "lr", "train_loss", "val_rmse", "val_mae", *TIMING]
    assert read_json(out / "metrics.csv.meta.json")["settings"]["epochs"] == 3
    checkpoint = read_checkpoint(out / "best.pt")
    assert set(CHECKPOINT_KEYS) <= set(checkpoint) and checkpoint["epoch"] == summary["best_epoch"]
    model, saved = load_model(out / "best.pt")
    from contlaws.data.sets import load_split

    rmse = evaluate(model, load_split(val), eval_max_elements=saved["settings"]["eval_max_elements"])["rmse"]
    assert rmse == pytest.approx(summary["best_metric"], rel=1e-6)
    assert rmse == pytest.approx(metrics["val_rmse"][summary["best_epoch"] - 1], rel=1e-5)


def classification_set(n: int, seed: int) -> ArrayDataset:
    """The sine set with a class label: frequency above or below 1.25."""
    a = sine_arrays(n, seed)
    y = (a["y"][:, 0] > 1.25).astype(np.int64)
    return ArrayDataset(a["x"], y, task="classification", input_kind="continuous", d_input=1, d_output=2, meta={})


@pytest.mark.parametrize(
    "task, make_set, d_output, column, pick",
    [("regression", regression_set, 1, "val_rmse", np.argmin), ("classification", classification_set, 2,
                                                                "val_accuracy", np.argmax)],
)
def test_best_checkpoint_is_the_epoch_with_the_best_validation_metric(tmp_path, task, make_set, d_output, column,
                                                                      pick):
    # The best epoch is argmin(val_rmse) + 1 (argmax(val_accuracy) + 1), the first one on a tie;
    # best.pt holds that epoch's weights. (Checking only that best.pt, summary and metrics.csv agree
    # with each other passes when the selection picks the worst epoch.)
    seed_everything(0)
    train, val = make_set(96, 0), make_set(32, 1)
    summary = fit(SpyModel(d_output=d_output), train, val, tmp_path,
                  small_settings(epochs=6, lr=3e-2, task=task))  # fmt: skip
    values = pd.read_csv(tmp_path / "metrics.csv")[column].to_numpy()
    assert len(set(values)) > 1, f"{column} constant over epochs: the test cannot tell best from worst"
    expected = int(pick(values)) + 1
    assert summary["best_epoch"] == expected and summary["best_metric"] == pytest.approx(values[expected - 1])
    assert read_checkpoint(tmp_path / "best.pt")["epoch"] == expected


def test_unavailable_model_writes_not_run_summary(tmp_path, monkeypatch, caplog):
    from contlaws.models import registry

    monkeypatch.setattr(registry, "availability", lambda name: (False, "needs CUDA (none available)"))
    config = tiny_config(tmp_path, epochs=1)
    out = tmp_path / "out"
    argv = ["train", "--config", config, "--model", "mamba2", "--train", "missing.npz", "--val", "missing.npz",
            "--out", str(out)]  # fmt: skip
    assert run_cli_in_process(monkeypatch, argv) == 0
    summary = read_json(out / "summary.json")
    assert summary["status"] == "not run" and summary["reason"] == "needs CUDA (none available)"
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert "not run" in caplog.text


def test_restart_on_mismatch_starts_over_instead_of_refusing(tmp_path):
    """A pipeline rerun after a config change discards the old run's files instead of failing."""
    train_ds, val_ds = regression_set(48, 0), regression_set(16, 1)
    settings = small_settings(epochs=2)
    torch.manual_seed(0)
    fit(SpyModel(), train_ds, val_ds, tmp_path / "run", settings)
    changed = small_settings(epochs=2, lr=1e-3)
    torch.manual_seed(0)
    with pytest.raises(ResumeMismatch):
        fit(SpyModel(), train_ds, val_ds, tmp_path / "run", changed)
    torch.manual_seed(0)
    restarted = fit(SpyModel(), train_ds, val_ds, tmp_path / "run", changed, restart_on_mismatch=True)
    torch.manual_seed(0)
    fresh = fit(SpyModel(), train_ds, val_ds, tmp_path / "fresh", changed)
    assert restarted["best_metric"] == fresh["best_metric"]
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["lr"].iloc[0] == pytest.approx(1e-3)
