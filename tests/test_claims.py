"""Claims C1 and C2: positive and negative controls from real S4D/S6 layer behaviour, verdict logic,
learning gates, paired seeds, thresholds from the config, E1 nominal orders, CLI."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from contlaws.claims import CLAIMS, combine, evaluate_claim, nominal_s4_order
from contlaws.commands import main
from contlaws.model_continuity import PooledLayer, continuity_from_outputs, predict
from contlaws.models.s4d import S4D
from contlaws.models.s6 import S6

TAUS = (2.0, 1.0, 0.5, 0.25, 0.125)
AMPLITUDES = (1.0, 4.0, 16.0)


# ---------------------------------------------------------------------------------------------
# Tables from real layer behaviour (the controls) and constructed tables
# ---------------------------------------------------------------------------------------------
def refined_signals(taus, batch, channels, channels_first, window=10.24, step=0.04):
    """{τ: (B, H, L) or (B, L, H) float64}: the same smooth trajectories sampled every step·τ."""
    out = {}
    for tau in taus:
        t = np.arange(round(window / (step * tau))) * step * tau
        k = np.arange(1, channels + 1)[:, None]
        x = np.stack([(1 + 0.3 * b) * (np.sin(0.7 * t + 0.5 * b + k) + 0.5 * np.cos(1.9 * k * t)) for b in range(batch)])
        out[tau] = torch.from_numpy(x if channels_first else x.transpose(0, 2, 1).copy())
    return out


def layer_model(kind: str, seed: int):
    """(callable f(x, τ) -> (B, H), channels_first) for a real S4D or S6 layer, time-pooled.

    ``s4d_no_tau`` is the S4D called with τ = 1 whatever the grid: it treats a refined input as a
    slower signal, so its outputs cannot converge (the negative control of C1).
    """
    torch.manual_seed(seed)
    if kind.startswith("s4d"):
        layer = PooledLayer(S4D(4, d_state=4, discretization="zoh", a_imag_init="lin", dt_min=0.01, dt_max=0.1).double())
        return ((lambda x, tau: layer(x, 1.0)) if kind == "s4d_no_tau" else layer), True
    layer = PooledLayer(S6(4, d_state=4, dt_rank=2, backend="torch").double().eval())
    return layer, False


def sweep_rows(kind: str, model: str, system: str, seed: int, learned: bool = True) -> list[dict]:
    """amplitude_sweep.csv rows of a real layer: d(τ) and its order at every amplitude."""
    rows = [dict(r) for r in _layer_sweep(kind, seed)]
    for r in rows:
        r.update(system=system, model=model, seed=seed, learned=learned)
    return rows


@functools.cache
def _layer_sweep(kind: str, seed: int) -> tuple[dict, ...]:
    f, channels_first = layer_model(kind, seed)
    inputs = refined_signals(TAUS, batch=6, channels=4, channels_first=channels_first)
    rows = []
    for amplitude in AMPLITUDES:
        outputs = {t: predict(f, inputs[t], t, batch_size=6, amplitude=amplitude) for t in TAUS}
        for row in continuity_from_outputs(outputs).rows():
            rows.append({"system": None, "model": None, "discretization": "zoh", "seed": seed,
                         "amplitude": amplitude, **row, "learned": None})  # fmt: skip
    return tuple(rows)


def real_tables(kinds: dict[str, str], seeds=(0,), learned=None):
    """(model_continuity, amplitude_sweep) tables for models {"s4d": kind, "s6": kind} on two systems."""
    learned = learned or {}
    rows = [r for system in ("vdp", "dho") for model, kind in kinds.items() for seed in seeds
            for r in sweep_rows(kind, model, system, seed, learned.get(model, True))]  # fmt: skip
    sweep = pd.DataFrame(rows)
    return sweep[sweep["amplitude"] == 1.0].drop(columns="amplitude"), sweep


def orders_table(s4_order=1.05, s6_order=0.9):
    rows = []
    for model, order in (("s4", s4_order), ("s6", s6_order)):
        for method in ("zoh", "bilinear"):
            for amplitude in (1.0, 32.0):
                rows.append({"model": model, "discretization": method, "amplitude": amplitude,
                             "order_max_error": order, "order_rmse": order + 0.01})  # fmt: skip
    return pd.DataFrame(rows)


def numerical_errors(s6_growth=40.0, spread=(1.0, 1.0, 1.0)):
    """E1 errors: S4 independent of amplitude; S6 error ∝ amplitude^(log g / log 32), g = s6_growth·spread[system]."""
    rows = []
    for system in range(3):
        growth = s6_growth * spread[system]
        for tau in (2.0**-8, 2.0**-6, 2.0**-4):
            for amplitude in (1.0, 5.66, 32.0):
                for model in ("s4", "s6"):
                    for method in ("zoh", "bilinear"):
                        base = tau * (1 + 0.1 * system)
                        err = base if model == "s4" else base * amplitude ** (np.log(growth) / np.log(32.0))
                        rows.append({"system": system, "amplitude": amplitude, "tau": tau, "model": model,
                                     "discretization": method, "rel_max_error": err, "rel_rmse": err / 2})  # fmt: skip
    return pd.DataFrame(rows)


def trained_errors(s6_growth=(0.5, 0.5), seeds=(0, 1, 2), learned=None, noise=0.02):
    """errors.csv (pooled rows): S4D flat in τ, S6 growing by s6_growth[i]·|log2 τ| on system i, seed noise."""
    learned = learned or {}
    rows = []
    for system, growth in zip(("vdp", "dho"), s6_growth):
        for model, g in (("s4d", 0.02), ("s6", growth)):
            for seed in seeds:
                jitter = noise * np.random.default_rng([seed, len(system), len(model)]).standard_normal()
                for tau in (2.0, 1.0, 0.5, 0.25):
                    rmse = 0.1 * (1 + (g + jitter) * abs(np.log2(tau)))
                    rows.append({"system": system, "model": model, "discretization": "zoh", "seed": seed, "tau": tau,
                                 "label": "pooled", "rmse": rmse, "mae": rmse, "train_mean_rmse": 1.0,
                                 "rmse_ratio": rmse, "n": 10, "readout": "c",
                                 "learned": learned.get(model, True)})  # fmt: skip
    return pd.DataFrame(rows)


def write(tmp_path, **tables):
    paths = {}
    for name, df in tables.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


def test_combine_needs_every_part():
    assert combine(["supported", "supported"]) == "supported"
    assert combine(["supported", "not supported"]) == "not supported"
    assert combine(["supported", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "not supported"]) == "not supported"
    assert combine([]) == "inconclusive"


# ---------------------------------------------------------------------------------------------
# C1
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s4d_tables():
    return real_tables({"s4d": "s4d", "s6": "s6"})


def test_c1_positive_control_real_s4d(tmp_path, quick_config, s4d_tables):
    """A real S4D layer called with τ: d(τ) falls at order ≈ 1, and does not grow with the amplitude."""
    continuity, sweep = s4d_tables
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert 0.8 < rec["numbers"]["e2_s4d_order_min"] < 1.3
    assert rec["numbers"]["e2_s4d_amplitude_exponent_max"] < 0.5
    assert rec["numbers"]["e2_s6_amplitude_exponent_for_contrast"] > 1.0  # S6's d grows faster than a
    assert rec["numbers"]["e1_s4_order_max_deviation"] == pytest.approx(0.06, abs=1e-9)
    assert rec["thresholds"]["s4_order_min"] == quick_config["claims"]["s4_order_min"]
    assert rec["inputs"]["numerical_orders"]["sha256"] and rec["statement"] == CLAIMS["C1"].statement


def test_c1_negative_control_s4d_without_tau(tmp_path, quick_config):
    """The same S4D evaluated without τ (τ = 1 on refined inputs): no convergence, order ≈ 0 -> not supported.

    The old two-point slope against τ_min gave such a model a positive order (d(τ_min) = 0 forces one)."""
    continuity, sweep = real_tables({"s4d": "s4d_no_tau"})
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "not supported", rec["explanation"]
    assert rec["numbers"]["part_a_trained"] == "not supported"
    assert rec["numbers"]["e2_s4d_order_min"] < 0.3


def test_c1_negative_control_s6_in_place_of_s4d(tmp_path, quick_config):
    """An S6 layer labelled as the continuous model: its d grows with the amplitude -> part (c) not supported."""
    continuity, sweep = real_tables({"s4d": "s6"})
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["numbers"]["part_c_amplitude"] == "not supported" and rec["verdict"] == "not supported"


def test_c1_counts_only_learned_runs(tmp_path, quick_config):
    continuity, sweep = real_tables({"s4d": "s4d"}, learned={"s4d": False})
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["e2_s4d_learned_pairs"] == "0 of 2"
    assert "0 learned run(s)" in rec["explanation"]


def test_c1_leaves_out_a_system_whose_model_did_not_learn(tmp_path, quick_config, s4d_tables):
    """One system's S4D below its gate: the verdict rests on the other system, and the record says which was left out."""
    continuity, sweep = (df.copy() for df in s4d_tables)
    for df in (continuity, sweep):
        df.loc[(df["system"] == "dho") & (df["model"] == "s4d"), "learned"] = False
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert list(rec["details"]["e2_excluded_not_learned"]) == ["dho/zoh"]
    assert rec["numbers"]["e2_s4d_learned_pairs"] == "1 of 2"


@pytest.mark.parametrize("case", ["E1 order off nominal", "average hold expects order 2", "threshold from config"])
def test_c1_other_parts_not_supported(tmp_path, quick_config, s4d_tables, case):
    continuity, sweep = s4d_tables
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep,
                  numerical_orders=orders_table(1.5 if case == "E1 order off nominal" else 1.05))  # fmt: skip
    if case == "average hold expects order 2":
        quick_config["refinement_numerical"]["input_hold"] = "average"
    if case == "threshold from config":
        quick_config["claims"]["s4_order_min"] = 1.5
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "not supported", case
    assert rec["thresholds"]["s4_order_min"] == quick_config["claims"]["s4_order_min"]


def test_c1_inconclusive_with_too_few_levels(tmp_path, quick_config, s4d_tables):
    """With only τ ∈ {1, ½, ¼} at or below 1 there are two successive differences: no order, inconclusive."""
    continuity, sweep = s4d_tables
    coarse = continuity[continuity["tau"] >= 0.25].copy()
    outputs_note = "order needs 3 refinement levels"
    coarse["order"], coarse["order_note"] = np.nan, outputs_note
    paths = write(tmp_path, model_continuity=coarse, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and outputs_note in rec["explanation"]


@pytest.mark.parametrize("hold", ["left", "average"])
def test_nominal_s4_order_matches_e1(hold):
    """The nominal order C1 compares with is what discretized S4 actually shows in E1 (both methods)."""
    from contlaws.config import resolve_section
    from contlaws.experiments.refinement_numerical import convergence_orders, run_experiment

    settings = resolve_section("refinement_numerical", {"n_systems": 2, "amplitude_log2": [0, 3],
                                                        "tau_log2": [-10, -9, -8, -7], "reference_log2_step": -13})  # fmt: skip
    orders = convergence_orders(run_experiment(settings, seed=5, hold=hold, progress=False))
    s4 = orders[orders["model"] == "s4"]
    assert np.abs(s4[["order_max_error", "order_rmse"]].to_numpy() - nominal_s4_order(hold)).max() < 0.15


# ---------------------------------------------------------------------------------------------
# C2
# ---------------------------------------------------------------------------------------------
def test_c2_positive_control(tmp_path, quick_config, s4d_tables):
    """E1 S6 error growing with amplitude on every system, a real S6 layer's d growing with a, S6
    degrading more than S4D on three seeds -> supported; the median and range over systems recorded."""
    _, sweep = s4d_tables
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0, spread=(0.5, 1.0, 3.0)), errors=trained_errors(),
                  amplitude_sweep=sweep)  # fmt: skip
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["e1_s6_amplitude_ratio_median"] == pytest.approx(40.0, rel=1e-3)
    assert rec["numbers"]["e1_s6_amplitude_ratio_range"] == "20-120"
    assert rec["numbers"]["e1_s4_amplitude_ratio_median"] == pytest.approx(1.0)
    assert rec["details"]["e1_amplitude_ratio_per_system"]["s6/zoh"] == {"0": pytest.approx(20.0, rel=1e-3),
                                                                        "1": pytest.approx(40.0, rel=1e-3),
                                                                        "2": pytest.approx(120.0, rel=1e-3)}  # fmt: skip
    comparison = rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]
    assert comparison["n_seeds"] == 3 and comparison["mean"] > 2 * comparison["se"]


def test_c2_negative_control_amplitude_independent_model(tmp_path, quick_config):
    """An S4-like model in S6's place: E1 errors independent of amplitude and a trained-model d that
    does not grow with a (a real S4D layer) -> not supported."""
    _, sweep = real_tables({"s4d": "s4d", "s6": "s4d"})
    paths = write(tmp_path, numerical_errors=numerical_errors(1.0), errors=trained_errors(), amplitude_sweep=sweep)
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "not supported", rec["explanation"]
    assert rec["numbers"]["part_a_numerical"] == "not supported"
    assert rec["numbers"]["part_b_amplitude"] == "not supported"
    assert rec["numbers"]["e2_s6_amplitude_exponent_min"] < 0.5


def test_c2_single_seed_is_inconclusive(tmp_path, quick_config, s4d_tables):
    _, sweep = s4d_tables
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors(seeds=(0,)), amplitude_sweep=sweep)
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["part_c_degradation"] == "inconclusive"
    assert "1 seed(s) where both learned, 3 needed" in rec["explanation"]


def test_c2_difference_within_noise_is_inconclusive(tmp_path, quick_config, s4d_tables):
    """S6 barely worse than S4D, with seed noise larger than the difference: not resolved."""
    _, sweep = s4d_tables
    errors = trained_errors(s6_growth=(0.025, 0.025), noise=0.2)
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=errors, amplitude_sweep=sweep)
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["numbers"]["part_c_degradation"] == "inconclusive", rec["explanation"]


def test_c2_s6_below_its_gate_is_not_counted(tmp_path, quick_config):
    _, sweep = real_tables({"s4d": "s4d", "s6": "s6"}, learned={"s6": False})
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors(learned={"s6": False}),
                  amplitude_sweep=sweep)  # fmt: skip
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "inconclusive"
    assert rec["numbers"]["part_b_amplitude"] == "inconclusive" and rec["numbers"]["part_c_degradation"] == "inconclusive"


def test_c2_s6_degrading_less_is_not_supported(tmp_path, quick_config, s4d_tables):
    _, sweep = s4d_tables
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors(s6_growth=(0.0, 0.0), noise=0.0),
                  amplitude_sweep=sweep)  # fmt: skip
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["numbers"]["part_c_degradation"] == "not supported" and rec["verdict"] == "not supported"


def test_cli_writes_verdict_and_rejects_bad_inputs(tmp_path, repo_root, s4d_tables):
    paths = write(tmp_path, numerical_errors=numerical_errors(), errors=trained_errors(), amplitude_sweep=s4d_tables[1])
    config = repo_root / "config" / "quick.yaml"
    out = tmp_path / "claims" / "C2.json"
    args = ["claims", "evaluate", "C2", "--config", str(config), "--inputs",
            f"numerical_errors={paths['numerical_errors']}", f"errors={paths['errors']}",
            f"amplitude_sweep={paths['amplitude_sweep']}", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    first = out.read_bytes()
    rec = json.loads(first)
    assert {"claim", "statement", "verdict", "numbers", "thresholds", "explanation", "inputs", "provenance"} <= set(rec)
    assert rec["claim"] == "C2" and rec["provenance"]["config"]["claims"]["s6_amplitude_ratio_min"] == 2.0
    assert main(args) == 0 and out.read_bytes() == first  # deterministic bytes
    assert main(args[:6] + ["wrong=" + str(paths["errors"]), "--out", str(out)]) == 2
    assert main(["claims", "evaluate", "C9", "--config", str(config), "--inputs", "a=b", "--out", str(out)]) == 2
    assert main(args[:7] + ["errors=" + str(tmp_path / "missing.csv"), args[8], "--out", str(out)]) == 2


# ---------------------------------------------------------------------------------------------
# NaN or infinite metrics: inconclusive, naming the file and rows, never a number or a crash
# ---------------------------------------------------------------------------------------------
def _s6_rmse_at_tau2(errors: pd.DataFrame) -> pd.Series:
    return (errors["model"] == "s6") & (errors["system"] == "vdp") & (errors["seed"] == 0) & (errors["tau"] == 2.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_c2_one_non_finite_rmse_is_inconclusive_naming_it(tmp_path, quick_config, s4d_tables, bad):
    """One S6 RMSE set to NaN used to leave C2 "supported" (pandas means skip NaN)."""
    errors = trained_errors()
    errors.loc[_s6_rmse_at_tau2(errors), "rmse"] = bad
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=errors, amplitude_sweep=s4d_tables[1])
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "inconclusive"
    line = int(np.flatnonzero(_s6_rmse_at_tau2(errors))[0]) + 2  # CSV line: header is line 1
    assert f"{paths['errors']} (input 'errors'): rmse is NaN, inf or not a number on line {line} " in rec["explanation"]
    assert "system=vdp, model=s6, discretization=zoh, seed=0, tau=2.0" in rec["explanation"]
    assert rec["numbers"] == {"non_finite_inputs": 1} and len(rec["details"]["non_finite"]) == 1


def test_c2_all_nan_rmse_is_inconclusive_not_a_crash(tmp_path, quick_config, s4d_tables, repo_root):
    """Every RMSE NaN raised TypeError in C2(c); now inconclusive, through the CLI too (exit 0, verdict written)."""
    errors = trained_errors().assign(rmse=np.nan)
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=errors, amplitude_sweep=s4d_tables[1])
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and "rmse is NaN, inf or not a number on line 2 " in rec["explanation"]
    assert f"and {len(errors) - 5} more" in rec["explanation"]
    out = tmp_path / "C2.json"
    assert main(["claims", "evaluate", "C2", "--config", str(repo_root / "config" / "quick.yaml"),
                 "--inputs", *(f"{k}={v}" for k, v in paths.items()), "--out", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["verdict"] == "inconclusive"


def test_c1_nan_in_the_amplitude_sweep_or_an_e1_order_is_inconclusive(tmp_path, quick_config, s4d_tables):
    continuity, sweep = s4d_tables
    bad_sweep = sweep.copy()
    row = bad_sweep.index[(bad_sweep["model"] == "s4d") & (bad_sweep["amplitude"] == 16.0)][3]
    bad_sweep.loc[row, "d"] = np.nan
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=bad_sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "inconclusive"
    assert f"{paths['amplitude_sweep']} (input 'amplitude_sweep'): d is NaN, inf or not a number on line {row + 2} " in rec["explanation"]
    orders = orders_table()
    orders.loc[0, "order_rmse"] = np.inf
    paths = write(tmp_path, model_continuity=continuity, amplitude_sweep=sweep, numerical_orders=orders)
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and "order_rmse is NaN, inf or not a number on line 2 " in rec["explanation"]


def test_c1_an_order_that_could_not_be_fitted_stays_a_reason_not_a_failure(tmp_path, quick_config, s4d_tables):
    """order is NaN by design when too few levels were fitted (order_note says why); without a note it is bad."""
    continuity, sweep = s4d_tables
    unexplained = continuity.assign(order=np.nan, order_note="")
    paths = write(tmp_path, model_continuity=unexplained, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and "order is NaN, inf or not a number" in rec["explanation"]
    explained = continuity.assign(order=np.nan, order_note="order needs 3 refinement levels")
    paths = write(tmp_path, model_continuity=explained, amplitude_sweep=sweep, numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert "non_finite_inputs" not in rec["numbers"] and rec["numbers"]["part_a_trained"] == "inconclusive"
