"""Claims C1–C5 at the boundaries of their decision rules: small hand-made tables where two systems
or discretizations disagree, exactly two seeds, a drop between one and two standard errors,
unequal standard errors, rows out of η order, an interval read at the wrong level, a timing
speed-up inside the noise margin. Each test names the wrong rule it would catch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import with_c4_grid_of, with_c5_grid_of

from contlaws.claims import C4_MIN_N, evaluate_claim
from contlaws.experiments import subsampling as ss
from contlaws.stats import bootstrap_rho

TAUS = (2.0, 1.0, 0.5, 0.25, 0.125)
AMPLITUDES = (1.0, 4.0, 16.0)


# ---------------------------------------------------------------------------------------------
# Hand-made tables
# ---------------------------------------------------------------------------------------------
def write(tmp_path, **tables):
    """Each table to ``tmp_path/<name>.csv``; {name: path}."""
    paths = {}
    for name, df in tables.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths


def continuity_table(d_by_system: dict[str, dict[float, float]], model="s4d", order=1.0, seeds=(0,)):
    """model_continuity.csv: d(τ) per system (the same for every seed), fitted order ``order``."""
    rows = [{"system": system, "model": model, "discretization": "zoh", "seed": seed, "tau": tau, "d": d,
             "order": order, "learned": True}
            for system, d_by_tau in d_by_system.items() for seed in seeds for tau, d in d_by_tau.items()]  # fmt: skip
    return pd.DataFrame(rows)


def sweep_table(exponents: dict[tuple[str, str], float], seeds=(0,), not_learned=(), fine_exponent=None):
    """amplitude_sweep.csv: d(τ, a) = 0.01·τ·a^q per (model, system), q = ``exponents[(model, system)]``.

    ``fine_exponent`` {(model, system): q'}: q' instead of q at τ = 0.25 only (the finest compared
    level of :data:`TAUS`). ``not_learned``: (model, system, seed) triples whose run failed its gate.
    """
    fine_exponent = fine_exponent or {}
    rows = []
    for (model, system), q in exponents.items():
        for seed in seeds:
            for amplitude in AMPLITUDES:
                for tau in TAUS:
                    q_here = fine_exponent.get((model, system), q) if tau == 0.25 else q
                    rows.append({"system": system, "model": model, "discretization": "zoh", "seed": seed,
                                 "amplitude": amplitude, "tau": tau, "d": 0.01 * tau * amplitude**q_here,
                                 "learned": (model, system, seed) not in not_learned})  # fmt: skip
    return pd.DataFrame(rows)


def orders_table(s4_order=1.05):
    """numerical_orders.csv: discretized S4 at ``s4_order`` for both methods and amplitudes."""
    return pd.DataFrame([{"model": "s4", "discretization": method, "amplitude": a, "order_max_error": s4_order,
                          "order_rmse": s4_order} for method in ("zoh", "bilinear") for a in (1.0, 32.0)])  # fmt: skip


def numerical_errors(s6_ratio: dict[str, float]):
    """E1 errors on three systems: S4 flat in the amplitude; S6's error at a = 32 is ``s6_ratio[method]``
    times its error at a = 1."""
    rows = []
    for system in range(3):
        for tau in (2.0**-8, 2.0**-6):
            for method in ("zoh", "bilinear"):
                for amplitude in (1.0, 32.0):
                    s6 = tau * (s6_ratio[method] if amplitude == 32.0 else 1.0)
                    for model, err in (("s4", tau), ("s6", s6)):
                        rows.append({"system": system, "model": model, "discretization": method,
                                     "amplitude": amplitude, "tau": tau, "rel_max_error": err})  # fmt: skip
    return pd.DataFrame(rows)


def errors_table(increase: dict[tuple[str, str], dict[int, float]]):
    """errors.csv (pooled rows): rmse(1) = 1 and rmse(½) = 1 + x, so the relative increase of a run is x."""
    rows = []
    for (model, system), by_seed in increase.items():
        for seed, x in by_seed.items():
            for tau, rmse in ((1.0, 1.0), (0.5, 1.0 + x)):
                rows.append({"system": system, "model": model, "discretization": "zoh", "seed": seed, "tau": tau,
                             "label": "pooled", "rmse": rmse, "learned": True})  # fmt: skip
    return pd.DataFrame(rows)


S4D_FLAT = {0: 0.01, 1: 0.02, 2: 0.015}  # S4D's relative RMSE increase per seed


def c2_record(tmp_path, cfg, *, s6_ratio=None, exponents=None, increase=None, **sweep_kw):
    """C2 on hand-made tables; parts not under test are given data that support them."""
    s6_ratio = s6_ratio or {"zoh": 40.0, "bilinear": 40.0}
    exponents = exponents or {("s6", "vdp"): 1.0, ("s4d", "vdp"): 0.0}
    increase = increase or {("s6", "vdp"): {0: 0.5, 1: 0.6, 2: 0.55}, ("s4d", "vdp"): S4D_FLAT}
    paths = write(tmp_path, numerical_errors=numerical_errors(s6_ratio), errors=errors_table(increase),
                  amplitude_sweep=sweep_table(exponents, **sweep_kw))  # fmt: skip
    return evaluate_claim("C2", paths, cfg)


# ---------------------------------------------------------------------------------------------
# C1
# ---------------------------------------------------------------------------------------------
MONOTONE_D = {2.0: 0.2, 1.0: 0.1, 0.5: 0.05, 0.25: 0.025, 0.125: 0.0125}


def c1_record(tmp_path, cfg, d_by_tau, sweep=None):
    paths = write(tmp_path, model_continuity=continuity_table({"vdp": d_by_tau}),
                  amplitude_sweep=sweep if sweep is not None else sweep_table({("s4d", "vdp"): 0.0}),
                  numerical_orders=orders_table())  # fmt: skip
    return evaluate_claim("C1", paths, cfg)


def test_c1_d_rising_at_one_refinement_step_is_not_convergence(tmp_path, quick_config):
    # Guards against: "d falls at every step" tested as "d falls at some step".
    rec = c1_record(tmp_path, quick_config, MONOTONE_D)
    assert rec["numbers"]["part_a_trained"] == "supported", rec["explanation"]
    assert rec["numbers"]["e2_s4d_all_decreasing"] is True
    bumped = {**MONOTONE_D, 0.25: 0.06}  # d(¼) > d(½): one step up on the way to τ → 0; order still 1 ≥ 0.5
    rec = c1_record(tmp_path, quick_config, bumped)
    assert rec["numbers"]["part_a_trained"] == "not supported", rec["explanation"]
    assert rec["numbers"]["e2_s4d_all_decreasing"] is False
    assert rec["details"]["e2_s4d"]["vdp/zoh"]["decreasing"] is False
    assert rec["verdict"] == "not supported"


def test_c1_amplitude_exponent_is_read_at_the_finest_compared_tau(tmp_path, quick_config):
    # Guards against: d(a) read at another τ (e.g. the coarsest) than τ₁, the smallest above τ_min.
    sweep = sweep_table({("s4d", "vdp"): 1.0}, fine_exponent={("s4d", "vdp"): 0.2})
    rec = c1_record(tmp_path, quick_config, MONOTONE_D, sweep)
    growth = rec["details"]["e2_s4d_amplitude"]["vdp/zoh"]
    assert growth["tau"] == 0.25
    at_fine = sweep[np.isclose(sweep["tau"], 0.25)].sort_values("amplitude")
    expected = np.polyfit(np.log(at_fine["amplitude"]), np.log(at_fine["d"]), 1)[0]
    assert growth["exponent"] == pytest.approx(expected, abs=1e-4) and expected == pytest.approx(0.2)
    assert rec["numbers"]["part_c_amplitude"] == "supported", rec["explanation"]


# ---------------------------------------------------------------------------------------------
# C2
# ---------------------------------------------------------------------------------------------
def test_c2_numerical_part_needs_every_discretization(tmp_path, quick_config):
    # Guards against: part (a) supported when the ratio passes on one discretization only.
    rec = c2_record(tmp_path, quick_config, s6_ratio={"zoh": 40.0, "bilinear": 1.5})
    assert rec["details"]["e1_amplitude_ratio_at_finest_tau"]["s6/bilinear"]["median"] == pytest.approx(1.5)
    assert rec["numbers"]["part_a_numerical"] == "not supported", rec["explanation"]
    rec = c2_record(tmp_path, quick_config, s6_ratio={"zoh": 40.0, "bilinear": 2.5})
    assert rec["numbers"]["part_a_numerical"] == "supported", rec["explanation"]


def test_c2_amplitude_part_with_systems_that_disagree_is_inconclusive(tmp_path, quick_config):
    # Guards against: one system where S6's d does not grow with a deciding "not supported" for all.
    exponents = {("s6", "vdp"): 1.0, ("s6", "dho"): 0.0, ("s4d", "vdp"): 0.0}
    rec = c2_record(tmp_path, quick_config, exponents=exponents)
    assert rec["details"]["e2_s6_amplitude"]["dho/zoh"]["exponent"] == pytest.approx(0.0, abs=1e-9)
    assert rec["numbers"]["part_b_amplitude"] == "inconclusive", rec["explanation"]
    assert rec["verdict"] == "inconclusive"


def test_c2_degradation_part_with_systems_that_disagree_is_inconclusive(tmp_path, quick_config):
    # Guards against: one system where S6 degrades less than S4D deciding "not supported" for all.
    increase = {("s6", "vdp"): {0: 0.5, 1: 0.6, 2: 0.55}, ("s4d", "vdp"): S4D_FLAT,
                ("s6", "dho"): {0: 0.001, 1: 0.002, 2: 0.0}, ("s4d", "dho"): {0: 0.5, 1: 0.6, 2: 0.55}}  # fmt: skip
    rec = c2_record(tmp_path, quick_config, increase=increase)
    parts = {k: v["verdict"] for k, v in rec["details"]["e2_relative_rmse_increase"].items()}
    assert parts == {"dho/zoh": "not supported", "vdp/zoh": "supported"}
    assert rec["numbers"]["part_c_degradation"] == "inconclusive", rec["explanation"]


def test_c2_two_paired_seeds_are_fewer_than_paired_min_seeds(tmp_path, quick_config):
    # Guards against: the paired test run with 2 seeds when claims.paired_min_seeds asks for 3.
    assert quick_config["claims"]["paired_min_seeds"] == 3
    increase = {("s6", "vdp"): {0: 0.5, 1: 0.6}, ("s4d", "vdp"): {0: 0.01, 1: 0.02}}
    rec = c2_record(tmp_path, quick_config, increase=increase)
    assert rec["numbers"]["part_c_degradation"] == "inconclusive", rec["explanation"]
    assert "2 seed(s) where both learned, 3 needed" in rec["explanation"]
    quick_config["claims"]["paired_min_seeds"] = 2  # the same two seeds decide once 2 are enough
    rec = c2_record(tmp_path, quick_config, increase=increase)
    assert rec["numbers"]["part_c_degradation"] == "supported", rec["explanation"]


def test_c2_degradation_is_paired_by_seed_not_by_rank(tmp_path, quick_config):
    # Guards against: differences of the sorted values (pairing by rank) instead of seed by seed.
    increase = {("s6", "vdp"): {0: 1.0, 1: 0.2, 2: 0.6}, ("s4d", "vdp"): {0: 0.1, 1: 0.9, 2: 0.5}}
    rec = c2_record(tmp_path, quick_config, increase=increase)
    comparison = rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]
    diffs = np.array([0.9, -0.7, 0.1])  # seed by seed
    assert comparison["mean"] == pytest.approx(diffs.mean(), abs=1e-4)
    assert comparison["se"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(3), abs=1e-4)
    assert rec["numbers"]["part_c_degradation"] == "inconclusive", rec["explanation"]


def test_c2_pair_below_min_learned_runs_is_left_out_of_the_amplitude_part(tmp_path, quick_config):
    # Guards against: a pair with some, but fewer than claims.min_learned_runs, learned runs kept in part (b).
    quick_config["claims"]["min_learned_runs"] = 2
    exponents = {("s6", "vdp"): 1.0, ("s6", "dho"): 1.0, ("s4d", "vdp"): 0.0}
    rec = c2_record(tmp_path, quick_config, exponents=exponents, seeds=(0, 1), not_learned={("s6", "dho", 1)})
    assert list(rec["details"]["e2_excluded_not_learned"]) == ["dho/zoh"]
    assert "1 learned run(s) (2 needed)" in rec["details"]["e2_excluded_not_learned"]["dho/zoh"]
    assert rec["numbers"]["part_b_amplitude"] == "supported", rec["explanation"]


# ---------------------------------------------------------------------------------------------
# C3
# ---------------------------------------------------------------------------------------------
def tc_table(tc_by_eta: dict[float, float], stderr_by_eta: dict[float, float], system="lorenz"):
    """task_continuity.csv rows of the E3 family for one system."""
    return pd.DataFrame([{"family": "forecasting", "dataset": f"{system}_eta{eta:g}", "system": system, "eta": eta,
                          "tc": tc, "tc_stderr": stderr_by_eta[eta]} for eta, tc in tc_by_eta.items()])  # fmt: skip


def c3_record(tmp_path, cfg, table):
    # the run's E3 grid is the table's (C3 names missing grid points of eta_performance.systems x forecasting.etas)
    cfg["eta_performance"]["systems"] = sorted(table["system"].unique())
    cfg["forecasting"]["etas"] = sorted(float(e) for e in table["eta"].unique())
    return evaluate_claim("C3", write(tmp_path, task_continuity=table), cfg)


def test_c3_drop_of_one_and_a_half_standard_errors_depends_on_c3_se(tmp_path, quick_config):
    # Guards against: the drop compared with one combined SE whatever claims.c3_se says.
    se = 0.4 / 1.5 / math.sqrt(2)  # combined SE of the one step: 0.4 / 1.5
    table = tc_table({0.0: 0.9, 1.0: 0.5}, {0.0: se, 1.0: se})
    quick_config["claims"]["c3_se"] = 2
    rec = c3_record(tmp_path, quick_config, table)
    assert rec["details"]["eta_family"]["lorenz"]["smallest_drop_in_stderr"] == pytest.approx(1.5)
    assert rec["numbers"]["part_a_ordering"] == "not supported", rec["explanation"]
    quick_config["claims"]["c3_se"] = 1
    rec = c3_record(tmp_path, quick_config, table)
    assert rec["numbers"]["part_a_ordering"] == "supported", rec["explanation"]


def test_c3_verdict_does_not_depend_on_row_order(tmp_path, quick_config):
    # Guards against: the η series taken in file order instead of increasing η.
    table = tc_table({0.0: 0.9, 0.5: 0.6, 1.0: 0.2}, {0.0: 0.01, 0.5: 0.01, 1.0: 0.01})
    forward = c3_record(tmp_path, quick_config, table)
    reverse = c3_record(tmp_path, quick_config, table.iloc[::-1].reset_index(drop=True))
    assert forward["verdict"] == "supported", forward["explanation"]
    assert reverse["verdict"] == forward["verdict"]
    assert reverse["numbers"] == forward["numbers"] and reverse["details"] == forward["details"]


def test_c3_step_noise_combines_the_standard_errors_of_both_etas(tmp_path, quick_config):
    # Guards against: a step's noise taken from one end's SE twice instead of both ends'.
    table = tc_table({0.0: 0.9, 0.5: 0.8}, {0.0: 1e-4, 0.5: 1e-2})
    rec = c3_record(tmp_path, quick_config, table)
    expected = 0.1 / math.hypot(1e-4, 1e-2)
    assert rec["details"]["eta_family"]["lorenz"]["smallest_drop_in_stderr"] == pytest.approx(expected, abs=0.01)


# ---------------------------------------------------------------------------------------------
# C4
# ---------------------------------------------------------------------------------------------
def c4_tables(tc: list[float], advantage: list[float], n_seeds=3, spread=0.05):
    """(alignment, advantages_by_seed): one dataset per (tc, advantage), seeds spread around it."""
    table, seeds = [], []
    for i, (t, a) in enumerate(zip(tc, advantage)):
        per_seed = [a + spread * (s - (n_seeds - 1) / 2) for s in range(n_seeds)]
        table.append({"system": "lorenz", "eta": i / 10, "tc": t, "reference_model": "transformer",
                      "advantage_s4d": float(np.mean(per_seed)),
                      "advantage_s4d_se": float(np.std(per_seed, ddof=1) / math.sqrt(n_seeds)),
                      "n_seeds_s4d": n_seeds, "advantage_s6": a / 2, "note": ""})  # fmt: skip
        seeds += [{"system": "lorenz", "eta": i / 10, "model": "s4d", "seed": s, "advantage": v}
                  for s, v in enumerate(per_seed)]  # fmt: skip
    return pd.DataFrame(table), pd.DataFrame(seeds)


def c4_record(tmp_path, cfg, tc, advantage):
    table, seeds = c4_tables(tc, advantage)
    paths = write(tmp_path, alignment=table, advantages_by_seed=seeds)
    return evaluate_claim("C4", paths, with_c4_grid_of(cfg, paths)), table, seeds


def test_c4_interval_bounds_are_the_alpha_quantiles_of_the_bootstrap(tmp_path, quick_config):
    # Guards against: the one-sided bounds read at alpha/2 and 1 - alpha/2 (a two-sided interval).
    quick_config["claims"]["bootstrap_samples"] = 300
    tc, advantage = [0.9, 0.7, 0.5, 0.3, 0.1], [0.4, 0.5, 0.1, 0.2, -0.3]
    rec, table, seeds = c4_record(tmp_path, quick_config, tc, advantage)
    per_dataset = [seeds.loc[np.isclose(seeds["eta"], eta), "advantage"].to_numpy() for eta in table["eta"]]
    boot = bootstrap_rho(np.asarray(tc), per_dataset, 300, int(quick_config["seed"]))
    alpha = quick_config["claims"]["rank_correlation_alpha"]
    assert np.quantile(boot, alpha) != pytest.approx(np.quantile(boot, alpha / 2), abs=1e-3)  # the levels differ here
    assert rec["numbers"]["rho_bootstrap_low"] == pytest.approx(np.quantile(boot, alpha), abs=1e-4)
    assert rec["numbers"]["rho_bootstrap_high"] == pytest.approx(np.quantile(boot, 1 - alpha), abs=1e-4)


def test_c4_three_anti_aligned_datasets_are_too_few_to_decide(tmp_path, quick_config):
    # Guards against: a verdict from 3 datasets, where no one-sided test can reach alpha = 0.05.
    quick_config["claims"]["bootstrap_samples"] = 200
    rec, _, _ = c4_record(tmp_path, quick_config, [0.9, 0.5, 0.1], [-0.5, 0.0, 0.5])
    assert rec["numbers"]["rho"] == pytest.approx(-1.0) and rec["numbers"]["n"] == 3
    assert rec["verdict"] == "inconclusive", rec["explanation"]
    assert f"at least {C4_MIN_N} needed" in rec["explanation"] and C4_MIN_N == 4
    rec, _, _ = c4_record(tmp_path, quick_config, [0.9, 0.7, 0.5, 0.3, 0.1], [-0.5, -0.3, 0.0, 0.3, 0.5])
    assert rec["verdict"] == "not supported", rec["explanation"]  # the same trend on 5 datasets decides


# ---------------------------------------------------------------------------------------------
# C5
# ---------------------------------------------------------------------------------------------
BASE_ACC = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.86]  # the target 0.88 is reached at epoch 7
NOISY_SECONDS = [2.0, 2.5, 1.5, 2.0, 2.5, 1.5, 2.0, 2.0]  # epoch times jittering by about ±25 %


def c5_runs(sub_acc_by_seed: list[list[float]], seconds=NOISY_SECONDS, test=0.9):
    """(curves, runs) of one continuous task: per seed a subsampled and a baseline run, both learned."""
    curves, runs = [], []
    for seed, sub_acc in enumerate(sub_acc_by_seed):
        for mode, accs in (("subsampled", sub_acc), ("baseline", BASE_ACC)):
            for i, acc in enumerate(accs):
                curves.append({"task": "digits", "continuity": "continuous", "mode": mode, "seed": seed,
                               "epoch": i + 1, "stage": 1 + i // 4, "stride": 1, "lr": 0.0, "val_accuracy": acc,
                               "epoch_seconds": seconds[i], "cumulative_seconds": float(sum(seconds[: i + 1]))})  # fmt: skip
            runs.append({"task": "digits", "continuity": "continuous", "mode": mode, "seed": seed,
                         "test_accuracy": test, "test_accuracy_best_val": test, "epochs": len(accs), "n_val": 200,
                         "val_chance_accuracy": 0.5, "task_continuity": 0.99, "majority_accuracy": 0.5,
                         "n_test": 200, "learned": True, "total_seconds": float(sum(seconds))})  # fmt: skip
    return pd.DataFrame(curves), pd.DataFrame(runs)


def c5_record(tmp_path, cfg, sub_acc_by_seed):
    curves, runs = c5_runs(sub_acc_by_seed)
    table = ss.speed_table(curves, runs)
    paths = write(tmp_path, table=table, curves=curves)
    rec = evaluate_claim("C5", paths, with_c5_grid_of(cfg, paths))
    return table, rec


def test_c5_speedup_within_twice_the_timing_noise_is_unresolved(tmp_path, quick_config):
    # Guards against: a timing margin of one noise instead of two.
    reach_at_5 = [0.2, 0.4, 0.6, 0.7, 0.88, 0.88, 0.88, 0.88]
    table, rec = c5_record(tmp_path, quick_config, [reach_at_5] * 3)
    noise, margin = rec["timing"]["noise"], rec["timing"]["margin"]
    assert margin == pytest.approx(2 * noise, abs=1e-4) and noise > ss.MIN_TIMING_NOISE
    speedups = table["speedup_to_reach_seconds"].astype(float)
    assert ((1 + noise < speedups) & (speedups < 1 + 2 * noise)).all()  # 14 / 10.5 on every seed
    assert rec["timing"]["tasks"]["digits"]["speed"] == "unresolved"
    assert rec["verdict"] == "inconclusive", rec["explanation"]


def test_c5_one_seed_of_three_never_reaching_the_target_is_unresolved(tmp_path, quick_config):
    # Guards against: "slower" as soon as one seed never reaches the target, not most seeds.
    reach_at_2 = [0.88] * 8
    never = [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.87, 0.87]
    table, rec = c5_record(tmp_path, quick_config, [reach_at_2, reach_at_2, never])
    assert list(table["reached_baseline_best"]) == ["yes", "yes", "no"]
    assert rec["timing"]["tasks"]["digits"]["speed"] == "unresolved"
    assert rec["verdict"] == "inconclusive", rec["explanation"]
    table, rec = c5_record(tmp_path, quick_config, [reach_at_2, never, never])
    assert rec["timing"]["tasks"]["digits"]["speed"] == "slower" and rec["verdict"] == "not supported"
