"""Equal training budgets: the pre-registered early-stopping rule (pure rule, engine, resume), the
config's refusal of unequal E3 budgets, the epochs each E3 run used, and the E3 gate against the
best trivial forecast (gates.e3_reference)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from contlaws.config import REPO_ROOT, e3_budgets, load_config, schema_default
from contlaws.data.sets import ArrayDataset
from contlaws.early_stopping import STOP_CAP, STOP_EARLY, decide, improves
from contlaws.errors import ConfigError, ResumeMismatch, UserError
from contlaws.experiments.eta_performance import BASELINES, best_trivial, budget_columns, gate_columns
from contlaws.io import read_json
from contlaws.train import TrainSettings, fit, read_checkpoint, settings_from_config


# ------------------------------------------------------------------------------------------------
# The rule on metric sequences
# ------------------------------------------------------------------------------------------------
def stop_epoch(values, mode, patience, min_delta=0.0):
    """The first epoch (from 1) after which the rule stops, or None if it never does within ``values``."""
    rule = {"patience": patience, "min_delta": min_delta}
    return next((n for n in range(1, len(values) + 1) if decide(values[:n], mode, rule).stop), None)


@pytest.mark.parametrize(
    ("values", "mode", "patience", "min_delta", "expected"),
    [
        ([1.0, 0.5, 0.75, 0.625, 0.25], "min", 2, 0.0, 4),  # reference epoch 2; epochs 3, 4 worse: stop after 4
        ([1.0, 0.5, 0.75, 0.375, 0.5, 0.5], "min", 2, 0.0, 6),  # epoch 4 improves, resets the count
        ([1.0, 1.0, 1.0, 1.0, 0.5], "min", 3, 0.0, 4),  # an equal value is not an improvement
        ([1.0, 0.5], "min", 1, 0.0, None),  # improving: no stop
        ([1.0, 2.0], "min", 1, 0.0, 2),  # patience 1: the first epoch without improvement stops
        ([0.5, 0.625, 0.625, 0.625], "max", 2, 0.0, 4),  # accuracy: higher is better
        ([0.5, 0.625, 0.75, 0.875, 1.0], "max", 2, 0.0, None),
        # relative min_delta 1/4: gains below a quarter of the reference do not count ...
        ([1.0, 0.875, 0.8125, 0.78125], "min", 3, 0.25, 4),
        # ... but they add up: 0.75 is exactly 1/4 below the reference 1.0 (the boundary counts)
        ([1.0, 0.875, 0.75, 0.6875, 0.625, 0.59375], "min", 3, 0.25, 6),
        ([1.0, 0.875, 0.75, 0.6875, 0.625, 0.5625], "min", 3, 0.25, None),  # 0.5625 = 0.75 - 0.75/4: counts
    ],
)
def test_rule_stops_exactly_after_patience_epochs_without_improvement(values, mode, patience, min_delta, expected):
    assert stop_epoch(values, mode, patience, min_delta) == expected


def test_min_delta_boundary_is_relative_and_inclusive():
    assert improves(0.75, 1.0, "min", 0.25) and not improves(0.75 + 2**-30, 1.0, "min", 0.25)
    assert improves(1.5, 2.0, "min", 0.25) and not improves(1.5 + 2**-30, 2.0, "min", 0.25)  # relative to |r|
    assert improves(1.25, 1.0, "max", 0.25) and not improves(1.25 - 2**-30, 1.0, "max", 0.25)
    assert not improves(1.0, 1.0, "min", 0.0) and improves(1.0 - 2**-30, 1.0, "min", 0.0)  # D = 0: any strict gain
    decision = decide([1.0, 0.875, 0.75], "min", {"patience": 5, "min_delta": 0.25})
    assert (decision.reference_epoch, decision.reference_value, decision.epochs_without_improvement) == (3, 0.75, 0)
    assert decide([1.0, 2.0, 3.0], "min", None).stop is False  # off: never stops


@pytest.mark.parametrize("rule", [{"patience": 0}, {"patience": 1.5}, {"patience": 2, "min_delta": -0.1}, {"min_delta": 0.1}])
def test_bad_rules_are_refused(rule):
    with pytest.raises(ValueError, match="early_stopping"):
        small_settings(early_stopping=rule)


# ------------------------------------------------------------------------------------------------
# The engine
# ------------------------------------------------------------------------------------------------
class TinyModel(nn.Module):
    """Linear encoder, mean over time, linear decoder."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.Linear(1, 4), nn.Linear(4, 1)

    def forward(self, x, tau: float = 1.0, stride: int = 1):
        return self.decoder(torch.tanh(self.encoder(x)).mean(1))  # (B 1)


def sine_set(n: int, seed: int) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    omega = rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
    x = np.sin(omega * np.arange(16, dtype=np.float32) * 0.2)[..., None].astype(np.float32)  # (N 16 1)
    return ArrayDataset(x, omega, task="regression", input_kind="continuous", d_input=1, d_output=1, meta={})


def small_settings(**kw) -> TrainSettings:
    base = {"epochs": 10, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.01, "warmup_epochs": 0.0, "grad_clip": 0.0,
            "device": "cpu", "eval_max_elements": schema_default("train.eval_max_elements"), "seed": 0}  # fmt: skip
    return TrainSettings(**{**base, **kw})


def scripted_validation(monkeypatch, values, fail_at=None):
    """Replace the engine's validation by ``values`` (val RMSE per epoch); raise at call ``fail_at`` (from 1),
    like a job killed during that epoch. Returns the list of calls made."""
    import contlaws.train as engine

    calls = []

    def evaluate(*args, **kwargs):
        calls.append(len(calls))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt("killed")
        return {"rmse": values[len(calls) - 1], "mae": 0.1}

    monkeypatch.setattr(engine, "evaluate", evaluate)
    return calls


# reference 0.5 at epoch 2; epoch 4 gains 1/8 of it (below min_delta 1/4, but the best checkpoint);
# epochs 3-5 without a counted gain: patience 3 stops after epoch 5 of the cap of 10
SCRIPT = [1.0, 0.5, 0.75, 0.4375, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25]
RULE = {"patience": 3, "min_delta": 0.25}


def test_engine_stops_at_the_rule_and_keeps_the_best_checkpoint(tmp_path, monkeypatch):
    calls = scripted_validation(monkeypatch, SCRIPT)
    summary = fit(TinyModel(), sine_set(32, 0), sine_set(16, 1), tmp_path, small_settings(early_stopping=RULE))
    assert len(calls) == 5 and len(pd.read_csv(tmp_path / "metrics.csv")) == 5
    assert (summary["epochs_used"], summary["epoch_cap"], summary["stop_reason"]) == (5, 10, STOP_EARLY)
    assert summary["epochs"] == 10 and summary["final"]["epoch"] == 5
    assert summary["early_stopping"]["reference_epoch"] == 2 and summary["early_stopping"]["patience"] == 3
    assert summary["best_epoch"] == 4 and read_checkpoint(tmp_path / "best.pt")["epoch"] == 4  # any gain selects
    assert read_json(tmp_path / "summary.json")["stop_reason"] == STOP_EARLY


@pytest.mark.parametrize("rule", [None, {"patience": 20, "min_delta": 0.0}, {"patience": 1, "min_delta": 0.0}])
def test_cap_is_respected(tmp_path, monkeypatch, rule):
    """Always improving (or patience beyond the cap, or the rule off): every epoch of the cap, reason epoch_cap."""
    calls = scripted_validation(monkeypatch, [1.0 / (k + 1) for k in range(6)])
    summary = fit(TinyModel(), sine_set(32, 0), sine_set(16, 1), tmp_path, small_settings(epochs=6, early_stopping=rule))
    assert len(calls) == 6 and (summary["epochs_used"], summary["stop_reason"]) == (6, STOP_CAP)
    assert summary["early_stopping"] == (None if rule is None else {**rule, "reference_epoch": 6, "reference_value": 1 / 6,
                                                                   "epochs_without_improvement": 0})  # fmt: skip


def test_patience_running_out_at_the_cap_counts_as_the_cap(tmp_path, monkeypatch):
    scripted_validation(monkeypatch, [1.0, 2.0, 2.0])
    summary = fit(TinyModel(), sine_set(32, 0), sine_set(16, 1), tmp_path,
                  small_settings(epochs=3, early_stopping={"patience": 2}))  # fmt: skip
    assert (summary["epochs_used"], summary["stop_reason"]) == (3, STOP_CAP)


@pytest.mark.parametrize("killed_in_epoch", [2, 4, 5])
def test_resumed_run_stops_at_the_same_epoch(tmp_path, monkeypatch, killed_in_epoch):
    """Killed while validating epoch k (last.pt holds epoch k - 1), then resumed: same metrics, same stop,
    same best checkpoint as the uninterrupted run."""
    train, val = sine_set(32, 0), sine_set(16, 1)
    settings = small_settings(early_stopping=RULE)
    torch.manual_seed(0)
    scripted_validation(monkeypatch, SCRIPT)
    full = fit(TinyModel(), train, val, tmp_path / "full", settings)

    torch.manual_seed(0)
    scripted_validation(monkeypatch, SCRIPT, fail_at=killed_in_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(TinyModel(), train, val, tmp_path / "killed", settings)
    assert read_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == killed_in_epoch - 1
    calls = scripted_validation(monkeypatch, SCRIPT[killed_in_epoch - 1 :])
    resumed = fit(TinyModel(), train, val, tmp_path / "killed", settings)
    assert len(calls) == full["epochs_used"] - (killed_in_epoch - 1)
    for key in ("epochs_used", "stop_reason", "best_epoch", "best_metric", "steps", "early_stopping"):
        assert resumed[key] == full[key], key
    columns = ["epoch", "lr", "train_loss", "val_rmse"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "killed" / "metrics.csv")[columns],
                                  pd.read_csv(tmp_path / "full" / "metrics.csv")[columns], check_exact=True)  # fmt: skip
    best_full, best_resumed = (read_checkpoint(tmp_path / d / "best.pt")["model_state"] for d in ("full", "killed"))
    assert all(torch.equal(best_full[k], best_resumed[k]) for k in best_full)


def test_a_stopped_run_does_not_train_further_when_rerun(tmp_path, monkeypatch):
    """summary.json lost after the stop (the job is rerun): the rule, recomputed from last.pt's history,
    still says stop; nothing is trained and the same summary is written."""
    train, val = sine_set(32, 0), sine_set(16, 1)
    scripted_validation(monkeypatch, SCRIPT)
    first = fit(TinyModel(), train, val, tmp_path, small_settings(early_stopping=RULE))
    (tmp_path / "summary.json").unlink()
    calls = scripted_validation(monkeypatch, SCRIPT)
    again = fit(TinyModel(), train, val, tmp_path, small_settings(early_stopping=RULE))
    assert calls == [] and (again["epochs_used"], again["stop_reason"]) == (first["epochs_used"], STOP_EARLY)


def test_the_rule_is_part_of_the_run_identity(tmp_path, monkeypatch):
    """A run without the rule is not resumed with it (and vice versa): it would have stopped elsewhere."""
    train, val = sine_set(32, 0), sine_set(16, 1)
    scripted_validation(monkeypatch, SCRIPT)
    fit(TinyModel(), train, val, tmp_path, small_settings(epochs=2))
    assert "early_stopping" not in read_checkpoint(tmp_path / "last.pt")["settings"]  # old runs resume as before
    with pytest.raises(ResumeMismatch, match=r"settings\.early_stopping: None -> \{'patience': 3"):
        fit(TinyModel(), train, val, tmp_path, small_settings(epochs=2, early_stopping=RULE))
    with pytest.raises(ValueError, match="stages"):
        small_settings(epochs=2, stages=[(1, 2), (1, 1)], early_stopping=RULE)


# ------------------------------------------------------------------------------------------------
# Config: one budget for every E3 model
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["quick", "evidence", "config"])
def test_every_scale_gives_the_e3_models_one_budget(name):
    cfg = load_config(REPO_ROOT / "config" / f"{name}.yaml")
    budgets = e3_budgets(cfg)
    assert len(set(budgets.values())) == 1, budgets
    assert cfg["eta_performance"]["epochs_per_model"] == {} and not cfg["eta_performance"]["allow_unequal_budgets"]
    from contlaws.experiments.eta_performance import experiment_config

    # what an E3 training reads (eta_performance.train merged over train)
    e3 = {m: settings_from_config(experiment_config(cfg), m, "eta_performance") for m in cfg["eta_performance"]["models"]}
    assert len({(s.epochs, s.batch_size, str(s.early_stopping)) for s in e3.values()}) == 1  # the same rule
    # quick and evidence: a cap and early stopping; the paper scale trains its 50 epochs at batch 128
    expected = {"quick": (24, 16, {"patience": 4, "min_delta": 0.02}), "evidence": (48, 16, {"patience": 6, "min_delta": 0.01}),
                "config": (50, 128, None)}[name]  # fmt: skip
    assert {(s.epochs, s.batch_size, str(s.early_stopping)) for s in e3.values()} == {(*expected[:2], str(expected[2]))}
    assert settings_from_config(cfg, "s4d", "refinement_trained").early_stopping is None  # E2 unchanged


def test_unequal_e3_budgets_are_refused_unless_allowed():
    quick = REPO_ROOT / "config" / "quick.yaml"
    unequal = {"eta_performance": {"epochs": 8, "epochs_per_model": {"transformer": 24, "linear_attention": 48}}}
    with pytest.raises(ConfigError) as err:
        load_config(quick, overrides=unequal)
    message = str(err.value)
    assert "key 'eta_performance.epochs_per_model'" in message and "eta_performance.allow_unequal_budgets: true" in message
    assert "s4d 8, s6 8, transformer 24, linear_attention 48" in message and "claim C4" in message
    # the budgets of the earlier runs, as a declared robustness variant
    variant = load_config(quick, overrides={"eta_performance": {**unequal["eta_performance"], "allow_unequal_budgets": True,
                                                                "train": {"early_stopping": None}}})  # fmt: skip
    from contlaws.experiments.eta_performance import experiment_config

    e3 = experiment_config(variant)
    assert [settings_from_config(e3, m, "eta_performance").epochs for m in ("s4d", "transformer", "linear_attention")] == [8, 24, 48]
    assert settings_from_config(e3, "s4d", "eta_performance").early_stopping is None
    with pytest.raises(ConfigError, match=r"key 'eta_performance\.train\.batch_size_per_model'.*s6 64"):
        load_config(quick, overrides={"eta_performance": {"train": {"batch_size_per_model": {"s6": 64}}}})
    same = load_config(quick, overrides={"eta_performance": {"epochs": 48, "epochs_per_model": {"transformer": 48}}})
    assert e3_budgets(same)["s4d"] == (48, 16)  # equal: fine
    with pytest.raises(ConfigError, match="s4d 24, s6 24, transformer 48"):
        load_config(quick, overrides={"eta_performance": {"epochs_per_model": {"transformer": 48}}})
    assert e3_budgets(same)["transformer"] == (48, 16)


def test_bad_early_stopping_and_reference_keys_are_named():
    quick = REPO_ROOT / "config" / "quick.yaml"
    with pytest.raises(ConfigError, match="train.early_stopping"):
        load_config(quick, overrides={"train": {"early_stopping": {"patience": 0}}})
    with pytest.raises(ConfigError, match="gates.e3_reference"):
        load_config(quick, overrides={"gates": {"e3_reference": "window_mean"}})
    cfg = load_config(quick, overrides={"train": {"early_stopping": {"patience": 4}}})
    assert cfg["train"]["early_stopping"] == {"patience": 4, "min_delta": 0}  # min_delta default
    assert settings_from_config(cfg, "s6", "refinement_trained").early_stopping == {"patience": 4, "min_delta": 0.0}


# ------------------------------------------------------------------------------------------------
# E3 rows: epochs used, the best trivial forecast and the gate's reference
# ------------------------------------------------------------------------------------------------
def test_budget_columns_from_summaries():
    assert budget_columns({"epochs_used": 12, "stop_reason": STOP_EARLY, "final": {"epoch": 12}}) == {
        "epochs_used": 12, "stop_reason": STOP_EARLY}
    # a summary written before early stopping existed trained every epoch
    assert budget_columns({"final": {"epoch": 8}}) == {"epochs_used": 8, "stop_reason": STOP_CAP}


def trivial_and_model_errors(n=4000, seed=0):
    """Per-sample squared errors: last value ~1, linear extrapolation ~0.25 (the best trivial forecast),
    window mean ~4; a model at ~0.5 beats the last value by far but loses to linear extrapolation."""
    rng = np.random.default_rng(seed)
    noise = lambda scale: scale * rng.uniform(0.5, 1.5, n)
    trivial = {"last_value": noise(1.0), "linear_extrapolation": noise(0.25), "window_mean": noise(4.0)}
    return trivial, noise(0.5), noise(0.05)


def test_gate_reference_switch_positive_and_negative():
    trivial, middling, good = trivial_and_model_errors()
    last_rmse = float(np.sqrt(trivial["last_value"].mean()))
    best_rmse = float(np.sqrt(trivial["linear_extrapolation"].mean()))
    assert best_trivial(trivial) == "linear_extrapolation"

    def columns(model, reference):
        rmse = float(np.sqrt(model.mean()))
        return gate_columns(model, rmse, trivial, gate_rmse=last_rmse, margin=0.0, se=2.0, reference=reference)

    # beats the last value, not linear extrapolation
    by_last, by_best = columns(middling, "last_value"), columns(middling, "best_trivial")
    assert by_last["learned"] and not by_last["beats_best_trivial"] and by_last["gate_reference"] == "last_value"
    assert by_last["gate_rmse"] == last_rmse and by_last["gate_z"] < -2
    assert by_last["best_trivial"] == "linear_extrapolation" and by_last["best_trivial_rmse"] == pytest.approx(best_rmse)
    assert by_last["best_trivial_z"] > 2  # worse than the best trivial forecast, beyond noise
    assert not by_best["learned"] and by_best["gate_reference"] == "linear_extrapolation"
    assert by_best["gate_rmse"] == pytest.approx(best_rmse) and by_best["gate_z"] == by_last["best_trivial_z"]
    # beats every trivial forecast: learned under either reference
    for reference in ("last_value", "best_trivial"):
        row = columns(good, reference)
        assert row["learned"] and row["beats_best_trivial"]
    # no better than the best trivial forecast itself: its paired z is NaN, not learned
    assert not columns(trivial["linear_extrapolation"], "best_trivial")["learned"]
    with pytest.raises(UserError, match="gates.e3_reference"):
        columns(good, "median")


def test_best_trivial_is_the_last_value_when_it_is_best_and_ties_keep_the_listed_order():
    trivial, middling, _ = trivial_and_model_errors()
    swapped = {**trivial, "last_value": trivial["linear_extrapolation"], "linear_extrapolation": trivial["last_value"]}
    assert best_trivial(swapped) == "last_value"
    rmse, gate = float(np.sqrt(middling.mean())), float(np.sqrt(swapped["last_value"].mean()))
    a = gate_columns(middling, rmse, swapped, gate_rmse=gate, margin=0.0, se=2.0, reference="last_value")
    b = gate_columns(middling, rmse, swapped, gate_rmse=gate, margin=0.0, se=2.0, reference="best_trivial")
    assert a == b  # the same reference either way
    tie = {name: np.ones(10) for name in BASELINES}
    assert best_trivial(tie) == BASELINES[0] and best_trivial({k: tie[k] for k in BASELINES[1:]}) == BASELINES[1]


# ------------------------------------------------------------------------------------------------
# End to end on a tiny forecasting split: train, evaluate, table
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Tiny vdp η = 0.5 splits and an S4D trained by `contlaws train` under a rule that stops after epoch 2
    (a 99 % relative gain is needed; patience 1) with a cap of 5."""
    from contlaws.commands import main
    from contlaws.data.forecasting import make_forecasting_split
    from contlaws.io import save_npz, write_json

    root = tmp_path_factory.mktemp("tiny_budgets")
    overrides = {
        "forecasting": {"n_train": 16, "n_val": 8, "n_test": 64, "length": 24, "dt": 0.04, "etas": [0, 0.5, 1]},
        "model": {"d_model": 8, "n_layers": 1},
        "eta_performance": {"systems": ["vdp"], "models": ["s4d"], "seeds": [3], "epochs": 5,
                            "train": {"batch_size": 8, "early_stopping": {"patience": 1, "min_delta": 0.99}}},
    }  # fmt: skip
    cfg = load_config(REPO_ROOT / "config" / "quick.yaml", overrides=overrides)
    config = root / "config.json"
    write_json(config, cfg)
    paths = {}
    for split in ("train", "val", "test"):
        arrays, meta = make_forecasting_split(cfg, "vdp", 0.5, split)
        paths[split] = root / f"{split}.npz"
        save_npz(paths[split], arrays, meta)
    run = root / "s4d_seed3"
    assert main(["train", "--config", str(config), "--model", "s4d", "--train", str(paths["train"]), "--val",
                 str(paths["val"]), "--out", str(run), "--seed", "3", "--experiment", "eta_performance"]) == 0  # fmt: skip
    return {"cfg": cfg, "paths": paths, "run": run}


def test_e3_rows_report_epochs_used_and_the_best_trivial_forecast(tmp_path, tiny_runs):
    from contlaws.experiments.eta_performance import evaluate_split
    from contlaws.plots.figure5 import results_table

    summary = read_json(tiny_runs["run"] / "summary.json")
    assert (summary["epochs"], summary["epochs_used"], summary["stop_reason"]) == (5, 2, STOP_EARLY)
    assert len(pd.read_csv(tiny_runs["run"] / "metrics.csv")) == 2
    cfg = tiny_runs["cfg"]
    rows, baselines = evaluate_split(cfg, tiny_runs["paths"]["test"], [tiny_runs["run"]], tmp_path / "a.csv")
    row = rows.iloc[0]
    assert (row["epochs_used"], row["stop_reason"]) == (2, STOP_EARLY)
    expected_best = baselines.set_index("baseline")["test_rmse"].idxmin()
    assert row["best_trivial"] == expected_best
    assert row["best_trivial_rmse"] == pytest.approx(baselines.set_index("baseline").loc[expected_best, "test_rmse"], rel=1e-12)
    assert row["gate_reference"] == "last_value"
    assert row["gate_rmse"] == baselines.set_index("baseline").loc["last_value", "test_rmse"]
    switched = {**cfg, "gates": {**cfg["gates"], "e3_reference": "best_trivial"}}
    other, _ = evaluate_split(switched, tiny_runs["paths"]["test"], [tiny_runs["run"]], tmp_path / "b.csv")
    assert other["gate_reference"].iloc[0] == expected_best
    assert other["learned"].iloc[0] == row["beats_best_trivial"] and other["gate_z"].iloc[0] == row["best_trivial_z"]
    tidy, wide = results_table(rows, baselines)
    assert "nan" not in wide.astype(str).to_numpy().ravel().tolist()  # reference rows: no epochs, empty cells
    tidy, wide = results_table(rows)
    assert tidy["epochs_used_min"].iloc[0] == 2 and tidy["best_trivial"].iloc[0] == expected_best
    assert bool(tidy["beats_best_trivial"].iloc[0]) == bool(row["beats_best_trivial"])
    assert wide["epochs used"].iloc[0] == "2"
    cell = wide.filter(like="eta").iloc[0, 0]
    assert ("‡" in cell) == (not row["beats_best_trivial"])


def test_table_marks_models_that_do_not_beat_the_best_trivial_forecast():
    from contlaws.experiments.eta_performance import COLUMNS
    from contlaws.plots.figure5 import results_table

    rows = []
    for model, beats, epochs in (("s4d", True, 48), ("transformer", False, 9), ("transformer", True, 30)):
        seed = sum(r["model"] == model for r in rows)
        rows.append({"system": "dho", "eta": 1.0, "model": model, "seed": seed, "status": "ok", "reason": "",
                     "test_rmse": 0.1, "test_mae": 0.1, "n": 100, "gate_rmse": 0.2, "gate_z": -5.0, "learned": True,
                     "gate_reference": "last_value", "best_trivial": "linear_extrapolation", "best_trivial_rmse": 0.15,
                     "best_trivial_z": -3.0 if beats else 1.0, "beats_best_trivial": beats, "epochs_used": epochs,
                     "stop_reason": STOP_CAP if epochs == 48 else STOP_EARLY})  # fmt: skip
    tidy, wide = results_table(pd.DataFrame(rows, columns=COLUMNS))
    by_model = tidy.set_index("model")
    assert by_model.loc["s4d", "beats_best_trivial"] and not by_model.loc["transformer", "beats_best_trivial"]
    assert by_model.loc["transformer", "n_beats_best_trivial"] == 1
    assert (by_model.loc["transformer", "epochs_used_min"], by_model.loc["transformer", "epochs_used_max"]) == (9, 30)
    cells = wide.set_index("model")
    assert "‡" in cells.loc["Transformer", "eta = 1"] and "‡" not in cells.loc["S4D", "eta = 1"]
    assert cells.loc["Transformer", "epochs used"] == "9–30" and cells.loc["S4D", "epochs used"] == "48"
    assert not math.isnan(by_model.loc["s4d", "epochs_used_max"])
