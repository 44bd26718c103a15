"""Claims C1 and C2: verdict logic on constructed tables, thresholds from the config, E1 nominal orders, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from contlaws.claims import CLAIMS, combine, evaluate_claim, nominal_s4_order
from contlaws.cli import main


def continuity_table(s4_orders=(1.0, 1.0), s6_scale=30.0, break_monotone=False, taus=(2.0, 1.0, 0.5, 0.25, 0.125)):
    """model_continuity.csv rows: d(τ) = c·(τ^p − τ_min^p), S4D order p from ``s4_orders`` per system."""
    rows, tau_ref = [], min(taus)
    for system, p in zip(("vdp", "dho"), s4_orders):
        for model, scale, order in (("s4d", 0.01, p), ("s6", 0.01 * s6_scale, 1.0)):
            for tau in taus:
                d = scale * (tau**order - tau_ref**order)
                if break_monotone and model == "s4d" and system == "dho" and tau == 0.5:
                    d = 0.02  # larger than d(1): not falling with τ
                # The order column as the pipeline writes it: NaN with fewer than two τ in (τ_min, 1].
                fitted = order if sum(tau_ref < t <= 1 for t in taus) >= 2 else np.nan
                rows.append({"system": system, "model": model, "discretization": "zoh", "seed": 0, "tau": tau,
                             "d": d, "order": fitted, "tau_ref": tau_ref})  # fmt: skip
    return pd.DataFrame(rows)


def orders_table(s4_order=1.05, s6_order=0.9):
    rows = []
    for model, order in (("s4", s4_order), ("s6", s6_order)):
        for method in ("zoh", "bilinear"):
            for amplitude in (1.0, 32.0):
                rows.append({"model": model, "discretization": method, "amplitude": amplitude,
                             "order_max_error": order, "order_rmse": order + 0.01})  # fmt: skip
    return pd.DataFrame(rows)


def numerical_errors(s6_growth=40.0):
    """E1 errors: S4 independent of amplitude, S6 error ∝ amplitude^(log s6_growth / log 32) at every τ."""
    rows = []
    for system in range(3):
        for tau in (2.0**-8, 2.0**-6, 2.0**-4):
            for amplitude in (1.0, 5.66, 32.0):
                for model in ("s4", "s6"):
                    for method in ("zoh", "bilinear"):
                        base = tau * (1 + 0.1 * system)
                        err = base if model == "s4" else base * amplitude ** (np.log(s6_growth) / np.log(32.0))
                        rows.append({"system": system, "amplitude": amplitude, "tau": tau, "model": model,
                                     "discretization": method, "rel_max_error": err, "rel_rmse": err / 2})  # fmt: skip
    return pd.DataFrame(rows)


def trained_errors(s6_growth=(0.5, 0.5)):
    """E2 errors: S4D flat in τ, S6 growing by s6_growth[i]·|log2 τ| on system i."""
    rows = []
    for system, growth in zip(("vdp", "dho"), s6_growth):
        for model, g in (("s4d", 0.02), ("s6", growth)):
            for tau in (2.0, 1.0, 0.5, 0.25):
                rmse = 0.1 * (1 + g * abs(np.log2(tau)))
                rows.append({"system": system, "model": model, "discretization": "zoh", "seed": 0, "tau": tau,
                             "rmse": rmse, "mae": rmse, "n": 10, "readout": "c"})  # fmt: skip
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


def test_c1_supported_and_numbers(tmp_path, quick_config):
    paths = write(tmp_path, model_continuity=continuity_table(s4_orders=(1.0, 0.8)), numerical_orders=orders_table())
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    expected_min = continuity_table(s4_orders=(1.0, 0.8)).query("model == 's4d'")["order"].min()
    assert rec["numbers"]["e2_s4d_order_min"] == pytest.approx(expected_min, abs=1e-4)
    assert rec["numbers"]["e1_s4_order_max_deviation"] == pytest.approx(0.06, abs=1e-9)
    assert rec["thresholds"] == {"s4_order_min": quick_config["claims"]["s4_order_min"],
                                 "s4_numerical_order_tol": quick_config["claims"]["s4_numerical_order_tol"]}  # fmt: skip
    assert rec["inputs"]["numerical_orders"]["sha256"] and rec["statement"] == CLAIMS["C1"].statement


@pytest.mark.parametrize(
    "case, change",
    [
        ("not monotone", {"break_monotone": True}),
        ("order below the threshold", {"s4_orders": (1.0, 0.3)}),
        ("E1 order off nominal", {"s4_e1": 1.5}),
        ("average hold expects order 2", {"hold": "average"}),
    ],
)
def test_c1_not_supported(tmp_path, quick_config, case, change):
    table = continuity_table(s4_orders=change.get("s4_orders", (1.0, 1.0)), break_monotone=change.get("break_monotone", False))
    paths = write(tmp_path, model_continuity=table, numerical_orders=orders_table(change.get("s4_e1", 1.05)))
    quick_config["refinement_numerical"]["input_hold"] = change.get("hold", "left")
    assert evaluate_claim("C1", paths, quick_config)["verdict"] == "not supported", case


def test_c1_threshold_comes_from_config(tmp_path, quick_config):
    paths = write(tmp_path, model_continuity=continuity_table(s4_orders=(1.0, 0.8)), numerical_orders=orders_table())
    quick_config["claims"]["s4_order_min"] = 1.5
    rec = evaluate_claim("C1", paths, quick_config)
    assert rec["verdict"] == "not supported" and rec["thresholds"]["s4_order_min"] == 1.5


def test_c1_inconclusive_with_one_tau_below_one(tmp_path, quick_config):
    paths = write(tmp_path, model_continuity=continuity_table(taus=(2.0, 1.0, 0.5)), numerical_orders=orders_table())
    assert evaluate_claim("C1", paths, quick_config)["verdict"] == "inconclusive"


@pytest.mark.parametrize("hold", ["left", "average"])
def test_nominal_s4_order_matches_e1(hold):
    """The nominal order C1 compares with is what discretized S4 actually shows in E1 (both methods)."""
    from contlaws.experiments.refinement_numerical import convergence_orders, run_experiment

    settings = {"n_systems": 2, "amplitude_log2": [0, 3], "tau_log2": [-10, -9, -8, -7], "reference_log2_step": -13}
    orders = convergence_orders(run_experiment(settings, seed=5, hold=hold, progress=False))
    s4 = orders[orders["model"] == "s4"]
    assert np.abs(s4[["order_max_error", "order_rmse"]].to_numpy() - nominal_s4_order(hold)).max() < 0.15


def test_c2_supported_and_ratio(tmp_path, quick_config):
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors())
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "supported", rec["explanation"]
    assert rec["numbers"]["e1_s6_amplitude_ratio_min"] == pytest.approx(40.0, rel=1e-3)
    assert rec["numbers"]["e1_s4_amplitude_ratio_max"] == pytest.approx(1.0)
    # S6 increase: mean over τ ≠ 1 of 0.5·|log2 τ| = 0.5·(1 + 1 + 2)/3; S4D: 0.02·4/3.
    comparison = rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]
    assert comparison["s6"] == pytest.approx(0.5 * 4 / 3, abs=1e-4) and comparison["s4d"] == pytest.approx(0.02 * 4 / 3, abs=1e-4)


def test_c2_other_verdicts(tmp_path, quick_config):
    paths = write(tmp_path, numerical_errors=numerical_errors(1.5), errors=trained_errors())
    assert evaluate_claim("C2", paths, quick_config)["verdict"] == "not supported"  # below s6_amplitude_ratio_min = 2
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors(s6_growth=(0.5, 0.0)))
    rec = evaluate_claim("C2", paths, quick_config)
    assert rec["verdict"] == "inconclusive" and rec["numbers"]["e2_s6_worse_than_s4d"] == "1 of 2"
    paths = write(tmp_path, numerical_errors=numerical_errors(40.0), errors=trained_errors(s6_growth=(0.0, 0.0)))
    assert evaluate_claim("C2", paths, quick_config)["verdict"] == "not supported"


def test_cli_writes_verdict_and_rejects_bad_inputs(tmp_path, repo_root):
    paths = write(tmp_path, numerical_errors=numerical_errors(), errors=trained_errors())
    config = repo_root / "config" / "quick.yaml"
    out = tmp_path / "claims" / "C2.json"
    args = ["claims", "evaluate", "C2", "--config", str(config), "--inputs",
            f"numerical_errors={paths['numerical_errors']}", f"errors={paths['errors']}", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    first = out.read_bytes()
    rec = json.loads(first)
    assert {"claim", "statement", "verdict", "numbers", "thresholds", "explanation", "inputs", "provenance"} <= set(rec)
    assert rec["claim"] == "C2" and rec["provenance"]["config"]["claims"]["s6_amplitude_ratio_min"] == 2.0
    assert main(args) == 0 and out.read_bytes() == first  # deterministic bytes
    assert main(args[:6] + ["wrong=" + str(paths["errors"]), "--out", str(out)]) == 2
    assert main(["claims", "evaluate", "C9", "--config", str(config), "--inputs", "a=b", "--out", str(out)]) == 2
    assert main(args[:7] + ["errors=" + str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
