"""E3 performance vs eta: eta-performance-evaluate vs direct computation, not-run rows, results.csv, Figure 5 and table, rules."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from contlaws.commands import main
from contlaws.data.sets import load_split
from contlaws.errors import DataFileError
from contlaws.experiments.eta_performance import (
    BASELINE_COLUMNS,
    COLUMNS,
    evaluate_runs,
    experiment_config,
    gather,
    gather_baselines,
    learned_gate,
    paired_z,
    readout_setup,
    reference_forecasts,
)
from contlaws.io import read_json, write_json
from contlaws.plots.figure5 import plot_figure5, read_baselines, read_results, results_table, short_reason, summarize
from contlaws.train import load_model


@pytest.fixture(scope="module")
def tiny_eta(tmp_path_factory):
    """Tiny forecasting splits of one system at η = 0.5, an S4D trained 1 epoch by `contlaws train`,
    and the engine's "not run" summary of a CUDA-only model (this machine has no CUDA)."""
    from contlaws.config import REPO_ROOT, load_config
    from contlaws.data.forecasting import make_forecasting_split
    from contlaws.io import save_npz

    root = tmp_path_factory.mktemp("tiny_eta")
    overrides = {
        "forecasting": {"n_train": 16, "n_val": 8, "n_test": 10, "length": 24, "dt": 0.04, "etas": [0, 0.5, 1]},
        "model": {"d_model": 8, "n_layers": 1},
        "train": {"epochs": 1, "batch_size": 8, "eval_max_elements": 8 * 24 * 3},  # 3 rows per evaluation batch
        "eta_performance": {"systems": ["vdp"], "models": ["s4d", "mamba2"], "seeds": [4], "epochs": 1},
    }
    cfg = load_config(REPO_ROOT / "config" / "quick.yaml", overrides=overrides)
    config = root / "config.json"
    write_json(config, cfg)
    paths = {}
    for split in ("train", "val", "test"):
        arrays, meta = make_forecasting_split(cfg, "vdp", 0.5, split)
        paths[split] = root / f"vdp_eta0.5_{split}.npz"
        save_npz(paths[split], arrays, meta)
    mean_pool_config = root / "config_mean_pool.json"
    write_json(mean_pool_config, {**cfg, "eta_performance": {**cfg["eta_performance"], "readout": "mean_pool"}})
    runs = {}
    for model, config_path in (("s4d", config), ("mamba2", config), ("s4d_mean_pool", mean_pool_config)):
        runs[model] = root / f"{model}_seed4"
        status = main(["train", "--config", str(config_path), "--model", model.removesuffix("_mean_pool"), "--train",
                       str(paths["train"]), "--val", str(paths["val"]), "--out", str(runs[model]), "--seed", "4",
                       "--experiment", "eta_performance"])  # fmt: skip
        assert status == 0
    return {"root": root, "config": config, "paths": paths, "runs": runs, "cfg": cfg}


def test_cli_rows_match_direct_computation(tmp_path, tiny_eta):
    out, baselines = tmp_path / "test.csv", tmp_path / "baselines.csv"
    runs = [str(tiny_eta["runs"][m]) for m in ("s4d", "mamba2")]
    status = main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["test"]),
                   "--runs", *runs, "--out", str(out), "--out-baselines", str(baselines)])  # fmt: skip
    assert status == 0
    reference = pd.read_csv(baselines)
    assert list(reference.columns) == BASELINE_COLUMNS
    assert reference["baseline"].tolist() == ["last_value", "linear_extrapolation", "window_mean"]
    rows = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(rows.columns) == COLUMNS and len(rows) == 2

    # Direct: the causal forecaster's output at the last position against obs[L], numpy metrics.
    model, _ = load_model(tiny_eta["runs"]["s4d"] / "best.pt")
    assert model.readout == "causal" and model.increment
    test = load_split(tiny_eta["paths"]["test"])
    x, y = test.get_batch(np.arange(len(test)))
    with torch.no_grad():
        err = model(x, tau=1.0)[:, -1].double().numpy() - y.double().numpy()
    ok = rows[rows["model"] == "s4d"].iloc[0]
    assert (ok["system"], ok["eta"], ok["seed"], ok["status"], ok["n"]) == ("vdp", 0.5, 4, "ok", 10)
    assert ok["test_rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-5)
    assert ok["test_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    last_value = reference.set_index("baseline").loc["last_value", "test_rmse"]
    assert ok["gate_rmse"] == pytest.approx(last_value, rel=1e-12)
    # The gate is paired over test samples: the model's and the last value's per-sample squared errors.
    obs = x.double().numpy()[:, -1]
    z = paired_z(np.mean(err**2, axis=1), np.mean((obs - y.double().numpy().reshape(len(x), -1)) ** 2, axis=1))
    assert ok["gate_z"] == pytest.approx(z, rel=1e-4)
    assert bool(ok["learned"]) == (ok["test_rmse"] <= last_value and z <= -2)  # gates.e3_se defaults to 2

    missing = rows[rows["model"] == "mamba2"].iloc[0]
    assert missing["status"] == "not run" and missing["reason"].startswith("needs CUDA")
    assert np.isnan(missing["test_rmse"]) and np.isnan(missing["test_mae"]) and missing["n"] == 0
    assert not bool(missing["learned"])


def test_e3_evaluation_bound_overrides_the_shared_one_and_changes_only_speed(tmp_path, tiny_eta, monkeypatch):
    from contlaws.experiments import eta_performance

    seen = []
    score_runs_unpatched = eta_performance.score_runs

    def recording(*args, **kwargs):
        seen.append(kwargs["eval_max_elements"])
        return score_runs_unpatched(*args, **kwargs)

    monkeypatch.setattr(eta_performance, "score_runs", recording)
    cfg, runs = tiny_eta["cfg"], [tiny_eta["runs"]["s4d"]]
    # without the E3 key (the quick and evidence configs set one) the shared train bound applies
    cfg = {**cfg, "eta_performance": {k: v for k, v in cfg["eta_performance"].items() if k != "eval_max_elements"}}
    shared, _ = eta_performance.evaluate_split(cfg, tiny_eta["paths"]["test"], runs, tmp_path / "a.csv")
    one_row = {**cfg, "eta_performance": {**cfg["eta_performance"], "eval_max_elements": 8 * 24}}  # 1 row per batch
    alone, _ = eta_performance.evaluate_split(one_row, tiny_eta["paths"]["test"], runs, tmp_path / "b.csv")
    assert seen == [cfg["train"]["eval_max_elements"], 8 * 24]
    # the causal forecaster has no batch statistics: same numbers from batches of 3 rows and of 1
    assert alone["test_rmse"].tolist() == pytest.approx(shared["test_rmse"].tolist(), rel=1e-6)
    assert alone["gate_z"].tolist() == pytest.approx(shared["gate_z"].tolist(), rel=1e-5)


def test_mean_pool_variant_is_tested_on_its_only_output(tiny_eta):
    """readout mean_pool (the authors'): trained on obs[L] alone; batches of 3 (the config's
    eval_max_elements; the authors' S4D channel norm averages over a batch, so the partition matters)."""
    model, _ = load_model(tiny_eta["runs"]["s4d_mean_pool"] / "best.pt")
    assert model.readout == "mean_pool" and model.layers[0].layer.channel_norm
    test = load_split(tiny_eta["paths"]["test"])
    errs = []
    with torch.no_grad():
        for start in range(0, len(test), 3):
            x, y = test.get_batch(np.arange(start, min(len(test), start + 3)))
            errs.append(model(x, tau=1.0).double().numpy() - y.double().numpy())
    err = np.concatenate(errs)
    rows = evaluate_runs([tiny_eta["runs"]["s4d_mean_pool"]], tiny_eta["paths"]["test"], eval_max_elements=8 * 24 * 3,
                         gate_rmse=1e-9)  # fmt: skip
    assert rows["test_rmse"].iloc[0] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-5)
    assert not rows["learned"].iloc[0]  # an impossible gate fails it


def test_learning_gate_positive_and_negative():
    assert learned_gate(0.09, 0.1, 0.0) and learned_gate(0.1, 0.1, 0.0)  # no worse than the last value
    assert not learned_gate(0.1001, 0.1, 0.0)
    assert learned_gate(0.104, 0.1, 0.05) and not learned_gate(0.106, 0.1, 0.05)
    assert not learned_gate(float("nan"), 0.1, 0.0) and not learned_gate(0.05, float("nan"), 0.0)
    assert learned_gate(0.09, 0.1, 0.0, -2.5, 2.0) and not learned_gate(0.09, 0.1, 0.0, -1.5, 2.0)
    assert not learned_gate(0.09, 0.1, 0.0, float("nan"), 0.0)  # no paired evidence: not learned


def rare_change_test_errors(n=2000, change_rate=0.03, seed=0):
    """Per-sample squared errors of the last value on a symbol stream that changes on a few samples:
    0 where the symbol stays, 2/16 (two orthonormal codewords over 16 outputs) where it changes."""
    rng = np.random.default_rng(seed)
    changed = rng.random(n) < change_rate
    return changed, np.where(changed, 2 / 16, 0.0)


def test_paired_gate_rejects_persistence_and_noise_level_wins():
    """Negative controls (DHO η = 1 regime): a model that outputs zero increments *is* the last value
    (d ≡ 0) and did not learn; a model whose errors on the changing samples are the last value's
    times a random factor 1 ± 0.2 (no skill: E d = 0) beats the last value's RMSE on about half of
    the test sets, but the paired gate passes it only at its nominal one-sided rate (2.3 % at 2 SE)."""
    _, last = rare_change_test_errors()
    gate = float(np.sqrt(last.mean()))
    z = paired_z(last, last)
    assert np.isnan(z) and not learned_gate(gate, gate, 0.0, z, 2.0)
    rng = np.random.default_rng(1)
    rmse_wins = gate_passes = 0
    trials = 200
    for _ in range(trials):
        model = last * (1 + rng.uniform(-0.2, 0.2, len(last)))
        rmse = float(np.sqrt(model.mean()))
        rmse_wins += learned_gate(rmse, gate, 0.0)  # the RMSE comparison alone (e3_se = 0)
        gate_passes += learned_gate(rmse, gate, 0.0, paired_z(model, last), 2.0)
    assert rmse_wins > 0.3 * trials  # the old gate: a coin flip
    assert gate_passes <= 0.05 * trials


def test_paired_gate_accepts_a_forecaster_that_anticipates_changes():
    """Positive control: a forecaster that puts weight 0.5 on the next codeword where the symbol
    changes (squared error ×1/4 there) and is exact elsewhere beats the last value beyond 2 SE."""
    changed, last = rare_change_test_errors()
    model = np.where(changed, last / 4, 0.0)
    z = paired_z(model, last)
    assert z < -5 and learned_gate(float(np.sqrt(model.mean())), float(np.sqrt(last.mean())), 0.0, z, 2.0)


def test_causal_training_uses_every_position(tiny_eta):
    """Per-position targets obs[t+1] for every input position t; the engine's loss averages all of them."""
    from contlaws.train import training_loss

    cfg = tiny_eta["cfg"]
    train = load_split(tiny_eta["paths"]["train"])
    _, train_all, _, options = readout_setup(cfg, train, train)
    assert options == {"causal": True, "increment": True}
    x, y_last = train.get_batch(np.arange(4))
    x2, y_all = train_all.get_batch(np.arange(4))
    torch.testing.assert_close(x2, x)
    assert y_all.shape == (4, train.length, 16)
    torch.testing.assert_close(y_all[:, :-1], x[:, 1:])  # target of position t is the input at t + 1
    torch.testing.assert_close(y_all[:, -1], y_last)  # the last position's target is the test target
    outputs = torch.zeros(4, train.length, 16, requires_grad=True)
    loss = training_loss("regression", outputs, y_all)
    assert loss.item() == pytest.approx(float((y_all.double() ** 2).mean()), rel=1e-6)
    loss.backward()
    assert (outputs.grad.abs().sum(dim=(0, 2)) > 0).all()  # every position receives a gradient

    mean_pool_cfg = {**cfg, "eta_performance": {**cfg["eta_performance"], "readout": "mean_pool"}}
    _, same, _, none = readout_setup(mean_pool_cfg, train, train)
    assert same is train and none == {}
    with pytest.raises(ValueError, match="eta_performance.readout"):
        readout_setup({**cfg, "eta_performance": {**cfg["eta_performance"], "readout": "x"}}, train, train)


def test_experiment_overrides_touch_e3_only(quick_config):
    cfg = dict(quick_config, eta_performance={**quick_config["eta_performance"], "model": {"dropout": 0.0},
                                              "train": {"lr": 0.5}})  # fmt: skip
    merged = experiment_config(cfg)
    assert merged["model"]["dropout"] == 0.0 and merged["train"]["lr"] == 0.5
    assert merged["model"]["d_model"] == quick_config["model"]["d_model"]
    assert cfg["model"]["dropout"] == quick_config["model"]["dropout"]  # the shared sections are untouched
    assert cfg["train"]["lr"] == quick_config["train"]["lr"]


def test_every_position_targets_for_a_longer_horizon(tiny_eta):
    from contlaws.data.forecasting import forecast_observations
    from contlaws.io import load_npz

    arrays, _ = load_npz(tiny_eta["paths"]["test"])
    arrays = dict(arrays, horizon=np.array([3]))  # the same window read with L' = T - 3
    inputs, last = forecast_observations(arrays)
    _, every = forecast_observations(arrays, targets="every_position")
    obs = np.concatenate([inputs, last], axis=1)  # (n T D)
    length = inputs.shape[1]
    assert every.shape == (len(obs), length, 3, 16)
    for k in range(3):
        np.testing.assert_array_equal(every[:, :, k], obs[:, 1 + k : length + 1 + k])
    np.testing.assert_array_equal(every[:, -1], last)


def test_reference_forecasts_match_direct_computation(tiny_eta):
    """last value, linear extrapolation and window mean from the raw compact arrays (state, symbols, W, Q),
    not the dataset class."""
    from contlaws.io import load_npz

    arrays, _ = load_npz(tiny_eta["paths"]["test"])
    eta = float(arrays["eta"][0])
    cont = arrays["state"].astype(float) @ arrays["W"].astype(float)  # (n T D)
    disc = arrays["Q"].astype(float).T[arrays["symbols"]]  # Q[:, symbol] per step, (n T D)
    obs = (1 - eta) * cont + eta * disc
    length = obs.shape[1] - int(arrays["horizon"][0])
    x, y = obs[:, :length], obs[:, length:]
    expected = {"last_value": x[:, -1:, :] - y, "linear_extrapolation": 2 * x[:, -1:, :] - x[:, -2:-1, :] - y,
                "window_mean": x.mean(axis=1, keepdims=True) - y}  # fmt: skip
    rows = reference_forecasts(tiny_eta["paths"]["test"], batch_size=3).set_index("baseline")
    for name, err in expected.items():
        assert rows.loc[name, "test_rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-5)
        assert rows.loc[name, "test_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
        assert (rows.loc[name, "system"], rows.loc[name, "eta"], rows.loc[name, "n"]) == ("vdp", 0.5, 10)


def test_not_run_only_split_needs_no_model(tiny_eta):
    rows = evaluate_runs([tiny_eta["runs"]["mamba2"]], tiny_eta["paths"]["test"], eval_max_elements=8 * 24 * 3)
    assert rows["status"].tolist() == ["not run"]
    assert rows["reason"].iloc[0] == read_json(tiny_eta["runs"]["mamba2"] / "summary.json")["reason"]


def test_untrained_models_get_the_rows_of_the_engine_not_run_summary(tmp_path, tiny_eta):
    """`--not-run mamba2` (the DAG found mamba-ssm absent and trained nothing) writes the rows the
    engine's "not run" summary gives (same reason), in the order of eta_performance.models."""
    out = {}
    for name, extra in (("summary", ["--runs", str(tiny_eta["runs"]["s4d"]), str(tiny_eta["runs"]["mamba2"])]),
                        ("untrained", ["--runs", str(tiny_eta["runs"]["s4d"]), "--not-run", "mamba2"]),
                        ("only", ["--not-run", "mamba2"])):  # fmt: skip
        out[name] = tmp_path / f"{name}.csv"
        status = main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["test"]),
                       *extra, "--out", str(out[name])])  # fmt: skip
        assert status == 0
    read = {name: pd.read_csv(path, keep_default_na=False, na_values=[""]) for name, path in out.items()}
    pd.testing.assert_frame_equal(read["summary"], read["untrained"])
    # check_dtype: a text column empty on every row (not-run rows have no gate reference) reads back as float NaN
    pd.testing.assert_frame_equal(read["only"], read["summary"][read["summary"]["model"] == "mamba2"].reset_index(drop=True),
                                  check_dtype=False)
    engine_reason = read_json(tiny_eta["runs"]["mamba2"] / "summary.json")["reason"]
    assert read["only"][["model", "seed", "status", "reason"]].values.tolist() == [["mamba2", 4, "not run", engine_reason]]
    assert main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["test"]),
                 "--out", str(tmp_path / "none.csv")]) == 2  # fmt: skip
    assert not (tmp_path / "none.csv").exists()


def test_wrong_test_split_and_bad_summary_are_refused(tmp_path, tiny_eta):
    with pytest.raises(DataFileError, match="expected a forecasting test split"):
        evaluate_runs([tiny_eta["runs"]["s4d"]], tiny_eta["paths"]["train"], eval_max_elements=8 * 24 * 3)
    bad = tmp_path / "bad_run"
    write_json(bad / "summary.json", {"status": "ok"})
    with pytest.raises(DataFileError, match="not a training summary"):
        evaluate_runs([bad], tiny_eta["paths"]["test"], eval_max_elements=8 * 24 * 3)
    out = tmp_path / "x.csv"
    status = main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["val"]),
                   "--runs", str(tiny_eta["runs"]["s4d"]), "--out", str(out)])  # fmt: skip
    assert status == 2 and not out.exists()


# --------------------------------------------------------------------------------------------------
# The gate split from the evaluation: scores.npz (eta_evaluate) -> test.csv (eta_gate)
# --------------------------------------------------------------------------------------------------
GATE_SETTINGS = [  # (gates overrides, what they exercise)
    {},  # the default: last value, margin 0, 2 SE
    {"e3_reference": "best_trivial"},  # the e3_best_trivial_gate robustness variant
    {"e3_margin": 0.5, "e3_se": 0.0},  # a lenient gate: the learned flags may differ from the default
]


@pytest.mark.parametrize("gates", GATE_SETTINGS)
def test_gating_a_scores_file_writes_the_bytes_of_a_full_evaluation(tmp_path, tiny_eta, gates):
    """eta-performance-gate on the scores of eta-performance-evaluate --out-scores writes, byte for byte,
    the results CSV that a full evaluation under the same gates writes (with an untrained model's rows)."""
    from contlaws.data.forecasting import make_forecasting_split
    from contlaws.io import save_npz

    cfg = {**tiny_eta["cfg"], "gates": {**tiny_eta["cfg"]["gates"], **gates}}
    config = tmp_path / "config.json"
    write_json(config, cfg)
    # a smooth test split (eta 0), where linear extrapolation, not the last value, is the best trivial forecast
    test = tmp_path / "vdp_eta0_test.npz"
    save_npz(test, *make_forecasting_split(tiny_eta["cfg"], "vdp", 0.0, "test"))
    scores = tmp_path / "scores.npz"
    common = ["--config", str(tiny_eta["config"]), "--test", str(test),
              "--runs", str(tiny_eta["runs"]["s4d"]), "--not-run", "mamba2"]  # fmt: skip
    # the scores come from the default config: the gate settings must not matter to them
    assert main(["eta-performance-evaluate", *common, "--out-scores", str(scores)]) == 0
    full = tmp_path / "full.csv"
    assert main(["eta-performance-evaluate", *common[:1], str(config), *common[2:], "--out", str(full)]) == 0
    gated = tmp_path / "gated.csv"
    assert main(["eta-performance-gate", "--config", str(config), "--scores", str(scores), "--out", str(gated)]) == 0
    assert gated.read_bytes() == full.read_bytes()
    rows = pd.read_csv(gated, keep_default_na=False, na_values=[""])
    assert rows["model"].tolist() == ["s4d", "mamba2"] and rows["status"].tolist() == ["ok", "not run"]
    assert rows["best_trivial"].iloc[0] == "linear_extrapolation"
    want = "linear_extrapolation" if gates.get("e3_reference") == "best_trivial" else "last_value"
    assert rows["gate_reference"].iloc[0] == want
    assert read_json(gated.with_name("gated.csv.meta.json"))["config"]["gates.e3_reference"] == cfg["gates"]["e3_reference"]


def test_scores_keep_every_per_sample_error_bit_exact(tmp_path, tiny_eta):
    """scores.npz holds the float64 per-sample squared errors of each run and of each trivial forecast,
    exactly as computed, so a later gate pairs the same numbers."""
    from contlaws.experiments.eta_performance import read_scores, run_key, score_runs, trivial_errors

    runs = [tiny_eta["runs"]["s4d"], tiny_eta["runs"]["mamba2"]]
    scores = tmp_path / "scores.npz"
    evaluate_split = __import__("contlaws.experiments.eta_performance", fromlist=["evaluate_split"]).evaluate_split
    evaluate_split(tiny_eta["cfg"], tiny_eta["paths"]["test"], runs, scores_out=scores)
    read, meta = read_scores(scores)
    direct = score_runs(runs, tiny_eta["paths"]["test"], eval_max_elements=8 * 24 * 3)
    assert (read.system, read.eta) == ("vdp", 0.5) and meta["provenance"]["test"] == str(tiny_eta["paths"]["test"])
    assert list(read.model_sq_err) == [run_key("s4d", 4)]  # the not-run model has no errors
    np.testing.assert_array_equal(read.model_sq_err[run_key("s4d", 4)], direct.model_sq_err[run_key("s4d", 4)])
    _, trivial, _ = trivial_errors(load_split(tiny_eta["paths"]["test"]))
    assert set(read.trivial_sq_err) == set(trivial)
    for name, errors in trivial.items():
        assert read.trivial_sq_err[name].dtype == np.float64 and read.trivial_sq_err[name].shape == (10,)
        np.testing.assert_array_equal(read.trivial_sq_err[name], errors)
    assert [r["status"] for r in read.rows] == ["ok", "not run"] and np.isnan(read.rows[1]["test_rmse"])


def test_scores_with_infinite_or_missing_numbers_gate_as_they_would_directly(tmp_path):
    """Rows round-trip through scores.npz with NaN, ±inf, ints and floats intact (JSON stores NaN as
    null and inf as "inf"): the gated rows equal gating the in-memory scores."""
    from contlaws.experiments.eta_performance import (
        SplitScores,
        gate_scores,
        not_run_row,
        read_scores,
        run_key,
        write_scores,
    )

    rng = np.random.default_rng(0)
    trivial = {"last_value": rng.random(20), "linear_extrapolation": rng.random(20), "window_mean": rng.random(20)}
    rows = [{**not_run_row("vdp", 0.25, "s4d", seed, ""), "status": "ok", "test_rmse": rmse, "test_mae": 0.5, "n": 20,
             "epochs_used": epochs, "stop_reason": "early_stop"}
            for seed, rmse, epochs in ((0, 0.3, 12), (1, math.inf, 48), (2, 0.2, math.nan))]  # fmt: skip
    rows.append(not_run_row("vdp", 0.25, "mamba2", 0, "needs CUDA"))
    errors = {run_key("s4d", seed): rng.random(20) * (1 + seed) for seed in range(3)}
    scores = SplitScores("vdp", 0.25, rows, errors, trivial)
    write_scores(tmp_path / "scores.npz", scores, {})
    read, _ = read_scores(tmp_path / "scores.npz")
    settings = {"margin": 0.1, "gate_se": 1.0, "reference": "best_trivial"}
    direct, via_file = gate_scores(scores, **settings), gate_scores(read, **settings)
    pd.testing.assert_frame_equal(via_file, direct)
    assert via_file["test_rmse"].iloc[1] == math.inf and not via_file["learned"].iloc[1]


def test_a_foreign_or_damaged_scores_file_is_refused_naming_it(tmp_path, tiny_eta):
    scores = tmp_path / "scores.npz"
    assert main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["test"]),
                 "--runs", str(tiny_eta["runs"]["s4d"]), "--out-scores", str(scores)]) == 0  # fmt: skip
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(scores.read_bytes()[:-200])
    from contlaws.experiments.eta_performance import gate_split

    for bad, message in ((tiny_eta["paths"]["test"], "not an E3 scores file"), (truncated, "corrupt or truncated"),
                         (tmp_path / "absent.npz", "not found")):  # fmt: skip
        with pytest.raises(DataFileError, match=message) as err:
            gate_split(tiny_eta["cfg"], bad, tmp_path / "x.csv")
        assert str(bad) in str(err.value)
        assert main(["eta-performance-gate", "--config", str(tiny_eta["config"]), "--scores", str(bad),
                     "--out", str(tmp_path / "x.csv")]) == 2  # fmt: skip
        assert not (tmp_path / "x.csv").exists()
    # neither output asked for: refused before any model runs
    assert main(["eta-performance-evaluate", "--config", str(tiny_eta["config"]), "--test", str(tiny_eta["paths"]["test"]),
                 "--runs", str(tiny_eta["runs"]["s4d"])]) == 2  # fmt: skip
    # a scores file whose ok row lost its errors cannot be gated silently
    from contlaws.experiments.eta_performance import gate_scores, read_scores

    read, _ = read_scores(scores)
    read.model_sq_err.clear()
    with pytest.raises(DataFileError, match="no per-sample errors for run_s4d_seed4"):
        gate_scores(read)


@pytest.mark.slow
def test_a_gate_change_reruns_the_gate_and_not_the_models(tmp_path):
    """A real E3 subgraph at tiny size; then gates.e3_reference changes (the e3_best_trivial_gate
    variant): Snakemake plans eta_gate alone, and running it leaves the scores untouched."""
    from conftest import REPO

    (tmp_path / "tiny.yaml").write_text(
        "run_name: tiny_gate\nthreads: 1\nsystems: [vdp]\n"
        "forecasting: {n_train: 16, n_val: 8, n_test: 40, length: 24, dt: 0.04, etas: [0, 0.5, 1]}\n"
        "model: {d_model: 8, n_layers: 1}\n"
        "eta_performance: {systems: [vdp], models: [s4d], seeds: [0], epochs: 1}\n"
        "refinement_trained: {systems: [vdp]}\n"
    )
    (tmp_path / "gate.yaml").write_text("gates: {e3_reference: best_trivial}\n")
    split = tmp_path / "results/tiny_gate/eta_performance/vdp/eta0.5"
    env = {**__import__("os").environ, "MPLBACKEND": "Agg"}

    def snakemake(*configs, dry=False):
        done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                               str(tmp_path), str(split.relative_to(tmp_path) / "test.csv"), "--configfile",
                               str(REPO / "config" / "quick.yaml"), *configs, "--cores", "1", *(["-n"] if dry else [])],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return {line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("rule ")}

    snakemake("tiny.yaml")
    before = pd.read_csv(split / "test.csv")
    scores_bytes, scores_mtime = (split / "scores.npz").read_bytes(), (split / "scores.npz").stat().st_mtime_ns
    assert before["gate_reference"].tolist() == ["last_value"]
    assert snakemake("tiny.yaml", "gate.yaml", dry=True) == {"eta_gate"}
    snakemake("tiny.yaml", "gate.yaml")
    after = pd.read_csv(split / "test.csv")
    assert after["gate_reference"].tolist() == after["best_trivial"].tolist()
    assert after["test_rmse"].tolist() == before["test_rmse"].tolist()
    assert (split / "scores.npz").stat().st_mtime_ns == scores_mtime and (split / "scores.npz").read_bytes() == scores_bytes


def results_frame(seeds=(0,), missing=("mamba2",)):
    """A results table with known RMSEs: rmse = base(system) · factor(model) · (1 + η) · (1 + 0.1·seed)."""
    base = {"vdp": 1.0, "dho": 0.2}
    factor = {"s4d": 1.0, "s6": 1.1, "transformer": 0.9}
    rows = []
    for system in ("vdp", "dho"):
        for eta in (0.0, 0.5, 1.0):
            for model in [*factor, *missing]:
                for seed in seeds:
                    if model in missing:
                        rows.append({"system": system, "eta": eta, "model": model, "seed": seed, "status": "not run",
                                     "reason": "needs CUDA (none available) and package mamba-ssm (not installed)",
                                     "test_rmse": np.nan, "test_mae": np.nan, "n": 0, "gate_rmse": np.nan,
                                     "learned": False})  # fmt: skip
                    else:
                        rmse = base[system] * factor[model] * (1 + eta) * (1 + 0.1 * seed)
                        learned = not (model == "s6" and seed == 2)  # S6 seed 2 lost to the last value
                        gate = rmse * (1.5 if learned else 0.9)
                        rows.append({"system": system, "eta": eta, "model": model, "seed": seed, "status": "ok", "reason": "",
                                     "test_rmse": rmse, "test_mae": 0.8 * rmse, "n": 10, "gate_rmse": gate,
                                     "learned": learned, "gate_reference": "last_value", "best_trivial": "last_value",
                                     "beats_best_trivial": learned, "epochs_used": 8, "stop_reason": "epoch_cap"})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def baselines_frame():
    """Reference forecasts: last value at 0.1·base, window mean at 1.5·base (base as in results_frame)."""
    base = {"vdp": 1.0, "dho": 0.2}
    rows = [{"system": s, "eta": e, "baseline": b, "test_rmse": f * base[s], "test_mae": f * base[s], "n": 10}
            for s in base for e in (0.0, 0.5, 1.0)
            for b, f in (("last_value", 0.1), ("linear_extrapolation", 0.12), ("window_mean", 1.5))]  # fmt: skip
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def test_gather_orders_rows_and_keeps_not_run(tmp_path):
    frame = results_frame()
    parts = []
    for i, (key, group) in enumerate(frame.sample(frac=1, random_state=0).groupby(["system", "eta"])):
        parts.append(tmp_path / f"part{i}.csv")
        group.to_csv(parts[-1], index=False)
    out = gather(parts, ["vdp", "dho"], ["transformer", "s4d", "s6", "mamba2"])
    assert list(out.columns) == COLUMNS and len(out) == len(frame)
    assert out["system"].tolist()[:12] == ["vdp"] * 12 and out["model"].tolist()[:4] == ["transformer", "s4d", "s6", "mamba2"]
    assert np.all(np.diff(out.loc[out["system"] == "vdp", "eta"].to_numpy()) >= 0)
    not_run = out[out["status"] == "not run"]
    assert len(not_run) == 6 and (not_run["reason"].str.startswith("needs CUDA")).all()
    with pytest.raises(DataFileError, match="appears twice"):
        gather([parts[0], parts[0]], ["vdp", "dho"], ["s4d"])
    pd.DataFrame({"system": ["vdp"]}).to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(DataFileError, match="broken.csv: missing column"):
        gather([tmp_path / "broken.csv"], ["vdp"], ["s4d"])

    reference = baselines_frame()
    parts = []
    for i, (_, group) in enumerate(reference.sample(frac=1, random_state=1).groupby(["system", "eta"])):
        parts.append(tmp_path / f"baselines{i}.csv")
        group.to_csv(parts[-1], index=False)
    out = gather_baselines(parts, ["vdp", "dho"])
    assert out["system"].tolist()[:9] == ["vdp"] * 9
    assert out["baseline"].tolist()[:3] == ["last_value", "linear_extrapolation", "window_mean"]
    with pytest.raises(DataFileError, match="appears twice"):
        gather_baselines([parts[0], parts[0]], ["vdp", "dho"])


def test_table_statistics_and_best_marks():
    frame = results_frame(seeds=(0, 1, 2))
    tidy, wide = results_table(frame)
    row = tidy[(tidy["system"] == "dho") & (tidy["eta"] == 0.5) & (tidy["model"] == "s6")].iloc[0]
    values = np.array([0.2 * 1.1 * 1.5 * (1 + 0.1 * s) for s in range(3)])
    assert row["rmse_mean"] == pytest.approx(values.mean()) and row["rmse_std"] == pytest.approx(values.std(ddof=1))
    assert (row["rmse_min"], row["rmse_max"], row["n_seeds"]) == pytest.approx((values.min(), values.max(), 3))
    # The transformer (factor 0.9) is the best everywhere; the CUDA model is "not run" in every column.
    marked = wide[wide["model"] == "Transformer"]
    assert all(str(v).endswith("*") for v in marked.filter(like="eta").to_numpy().ravel())
    assert not any(str(v).endswith("*") for v in wide[wide["model"] == "S4D"].filter(like="eta").to_numpy().ravel())
    assert set(wide[wide["model"] == "Mamba-2"].filter(like="eta").to_numpy().ravel()) == {"not run"}
    # S6 lost to the last value at one seed: not learned, a dagger in every column; the others learned.
    assert all(str(v).endswith("†") for v in wide[wide["model"] == "S6"].filter(like="eta").to_numpy().ravel())
    assert not any("†" in str(v) for v in wide[wide["model"] == "S4D"].filter(like="eta").to_numpy().ravel())
    s6 = tidy[tidy["model"] == "s6"]
    assert (s6["n_learned"] == 2).all() and not s6["learned"].any() and tidy[tidy["model"] == "s4d"]["learned"].all()
    fig = plot_figure5(frame, baselines_frame())
    hollow = [line for line in fig.axes[0].lines if line.get_markerfacecolor() == "white"]  # (1, 1, 1, 1) -> "white"
    assert hollow and all(line.get_marker() == "s" for line in hollow)  # S6's marker, nobody else's
    assert "hollow: did not learn (lost to last value)" in {t.get_text() for t in fig.legends[0].get_texts()}
    assert short_reason("needs CUDA (none available) and package x (not installed)") == "needs CUDA"
    # A model that ran on some seeds only counts those seeds.
    partial = frame.copy()
    partial.loc[(partial["model"] == "s4d") & (partial["seed"] == 2), ["status", "test_rmse"]] = ["not run", np.nan]
    s4d = summarize(partial).query("model == 's4d' and system == 'vdp' and eta == 0").iloc[0]
    assert s4d["n_seeds"] == 2 and s4d["rmse_mean"] == pytest.approx(np.mean([1.0, 1.1]))


def test_figure_and_cli_are_reproducible(tmp_path):
    results, baselines = tmp_path / "results.csv", tmp_path / "baselines.csv"
    results_frame().to_csv(results, index=False)
    baselines_frame().to_csv(baselines, index=False)
    fig = plot_figure5(read_results(results), read_baselines(baselines))
    legend_title = fig.legends[0].get_title().get_text()
    assert "not run (needs CUDA): Mamba-2" in legend_title
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {
        "S4D", "S6", "Transformer", "last value (no training)", "linear extrapolation (no training)",
        "window mean (no training)"}
    top = fig.axes[0]
    assert top.get_yscale() == "log"  # last value at 0.1, window mean at 3 (span 30 > LOG_Y_SPAN)
    outputs = []
    for attempt in range(2):
        stem = tmp_path / f"run{attempt}" / "figure5"
        args = ["eta-performance-plot", "--results", str(results), "--baselines", str(baselines), "--out-figure", str(stem),
                "--out-csv", str(stem) + ".csv", "--out-tex", str(stem) + ".tex"]  # fmt: skip
        assert main(args) == 0
        outputs.append([(stem.parent / f"figure5{ext}").read_bytes() for ext in (".png", ".pdf", ".csv", ".tex")])
    assert outputs[0] == outputs[1]
    tex = outputs[0][3].decode()
    assert "not run (needs CUDA)" in tex and "Van der Pol & last value (no training) & 0.100 & 0.100 & 0.100" in tex
    pd.DataFrame({"system": ["vdp"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["eta-performance-plot", "--results", str(tmp_path / "bad.csv"), "--out-figure", str(tmp_path / "f"),
                 "--out-csv", str(tmp_path / "t.csv"), "--out-tex", str(tmp_path / "t.tex")]) == 2  # fmt: skip
    assert not (tmp_path / "f.png").exists()


def dry_run(repo_root, target, *options):
    """stdout of `snakemake TARGET -n --forceall OPTIONS` at quick scale (targets go before the options)."""
    out = subprocess.run([sys.executable, "-m", "snakemake", target, "-n", "--forceall", *options, "--configfile",
                          "config/quick.yaml", "--cores", "1"], cwd=repo_root, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_fig5_target_trains_every_model_and_nothing_else(repo_root, quick_config):
    """`snakemake fig5` (dry run of the whole subgraph): one training per system × eta × model × seed,
    except the CUDA-only models whose packages are absent: no job per (system, eta) for them, and
    eta_evaluate gets them as --not-run (their "not run" rows). Quick scale trains every run of one
    (system, eta) set in one job (eta_performance.train_job: cell)."""
    from contlaws.gpu_packages import absent_packages

    counts = {line.split()[0]: int(line.split()[-1]) for line in dry_run(repo_root, "fig5", "--quiet", "rules").splitlines()
              if line and line.split()[-1].isdigit()}  # fmt: skip
    exp = quick_config["eta_performance"]
    n_splits = len(exp["systems"]) * len(quick_config["forecasting"]["etas"])
    untrained = [m for m in exp["models"] if absent_packages(m)]
    assert exp["train_job"] == "cell"
    assert counts["eta_train"] == n_splits
    assert counts["eta_evaluate"] == n_splits and counts["eta_gate"] == n_splits
    assert counts["eta_results"] == 1 and counts["figure5_plot"] == 1
    assert counts["forecasting_latent"] == 3 * len(exp["systems"]) and counts["forecasting_dataset"] == 3 * n_splits
    assert not set(counts) & {"train_refinement", "subsample_train", "task_continuity_score", "claim_c4"}

    commands = [line.removeprefix("Shell command: ") for line in dry_run(repo_root, "fig5", "--printshellcmds").splitlines()
                if line.startswith("Shell command: contlaws ")]  # fmt: skip
    trainings = [line for line in commands if line.startswith("contlaws train ")]
    assert len(trainings) == n_splits
    for line in trainings:  # every trained model and every seed of its set, one folder per run
        assert line.split("--model ")[1].split(" --")[0].split() == [m for m in exp["models"] if m not in untrained]
        assert line.split("--seed ")[1].split(" --")[0].split() == [str(s) for s in exp["seeds"]]
        assert "{model}_seed{seed}" in line.split("--out ")[1].split()[0]
    evaluations = [line for line in commands if line.startswith("contlaws eta-performance-evaluate ")]
    assert len(evaluations) == n_splits
    for line in evaluations:
        assert (f"--not-run {' '.join(untrained)} --out-scores" in line) if untrained else "--not-run" not in line
        assert " --out " not in line  # the gate is eta_gate's: a gate change must not rerun the models
    gates = [line for line in commands if line.startswith("contlaws eta-performance-gate ")]
    assert len(gates) == n_splits and all("/scores.npz --out " in line and "/test.csv" in line for line in gates)
    if importlib.util.find_spec("mamba_ssm") is None:  # as on every CPU machine of this project
        assert {"mamba2", "mamba3"} <= set(untrained)


@pytest.mark.parametrize(("layout", "jobs_per_split"), [("run", None), ("cell", 1)])
def test_e3_training_jobs_per_run_or_per_set_train_the_same_runs(repo_root, quick_config, tmp_path, layout, jobs_per_split):
    """eta_performance.train_job: `run` gives one job per (system, eta, model, seed), `cell` one per
    (system, eta); both train exactly the same (model, seed) folders."""
    from contlaws.gpu_packages import absent_packages

    overlay = tmp_path / "layout.yaml"
    overlay.write_text(f"eta_performance: {{train_job: {layout}}}\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "fig5", "-n", "--forceall", "--printshellcmds",
                          "--configfile", "config/quick.yaml", str(overlay), "--cores", "1"], cwd=repo_root,
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    exp = quick_config["eta_performance"]
    trained = [m for m in exp["models"] if not absent_packages(m)]
    n_splits = len(exp["systems"]) * len(quick_config["forecasting"]["etas"])
    commands = [line.removeprefix("Shell command: ") for line in out.stdout.splitlines()
                if line.startswith("Shell command: contlaws train ")]  # fmt: skip
    assert len(commands) == (jobs_per_split or len(trained) * len(exp["seeds"])) * n_splits
    folders = set()
    for line in commands:
        models = line.split("--model ")[1].split(" --")[0].split()
        seeds = line.split("--seed ")[1].split(" --")[0].split()
        pattern = line.split("--out ")[1].split()[0].strip("'")
        folders |= {pattern.format(model=m, seed=s) for m in models for s in seeds}
    assert len(folders) == n_splits * len(trained) * len(exp["seeds"])
    assert all(f.split("/")[-1] in {f"{m}_seed{s}" for m in trained for s in exp["seeds"]} for f in folders)

