"""Boundary walks of every claim rule (C1-C5): each threshold and each combinator, one table per rule.

Every walk builds the smallest input tables that put one measured quantity just below, exactly at and
just above its threshold (the other parts held clearly on one side) and asserts the verdict of each row:
the verdict flips exactly at the boundary, on the side the rule (docs/claims.md) defines as inclusive
or exclusive, and nowhere else. A threshold is walked twice where possible: the config value moved
with the data fixed, and the data moved with the config fixed.

Exactness: "at" rows use numbers that binary floating point holds exactly (dyadic fractions, a
paired spread whose standard error is a power of two), and a precondition asserts the quantity
really is the threshold. Measures that the claims round to 4 digits before comparing (C1 orders and
exponents, C2 exponents and ratio medians) are stepped by 1e-3.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from conftest import with_c4_grid_of, with_c5_grid_of

from contlaws.claims import combine, combine_across, evaluate_claim, paired_difference
from contlaws.claims.c4 import C4_MIN_N, c4_bootstrap, c4_usable_datasets, c4_verdict
from contlaws.claims.c5 import c5_task_verdict, timing_margin
from contlaws.stats import mean_and_stderr, spearman

S, N, I = "supported", "not supported", "inconclusive"


def with_claims(cfg: dict, **values) -> dict:
    """A copy of ``cfg`` with ``claims.<key>`` set to each value."""
    out = copy.deepcopy(cfg)
    out["claims"].update(values)
    return out


def write(tmp_path, **tables) -> dict:
    paths = {}
    for name, df in tables.items():
        paths[name] = tmp_path / f"{name}.csv"
        pd.DataFrame(df).to_csv(paths[name], index=False)
    return paths


def spread4(mean: float, half: float) -> list[float]:
    """Four values with mean ``mean`` and standard error of the mean exactly ``half`` (a power of two).

    Deviations half·(3, −1, −1, −1): sum of squares 12·half², sample variance 4·half², SE = 2·half/2.
    """
    return [mean + 3 * half, mean - half, mean - half, mean - half]


def test_spread4_is_exact():
    for mean, half in ((0.5, 0.125), (0.25, 0.125), (-0.5, 0.125), (0.25 + 2**-10, 0.125), (0.0, 2**-6)):
        assert mean_and_stderr(spread4(mean, half)) == (mean, half)


# =============================================================================================
# C1
# =============================================================================================
C1_TAUS = (2.0, 1.0, 0.5, 0.25, 0.125)
C1_D = (0.8, 0.4, 0.2, 0.1, 0.0)  # falls at every step down in τ ≤ 1, d(τ_min) = 0
SWEEP_TAUS = (0.125, 0.25)  # τ_min and τ₁, the finest compared level
SWEEP_AMPLITUDES = (1.0, 4.0)


def continuity_rows(model: str, pairs: dict) -> list[dict]:
    """model_continuity rows: pairs {(system, method): {"orders": per seed, "learned": per seed, "d": per τ}}."""
    rows = []
    for (system, method), spec in pairs.items():
        learned = spec.get("learned", [True] * len(spec["orders"]))
        for seed, (order, ok) in enumerate(zip(spec["orders"], learned)):
            note = "" if np.isfinite(order) else "order needs 3 refinement levels"
            for tau, d in zip(spec.get("taus", C1_TAUS), spec.get("d", C1_D)):
                rows.append({"system": system, "model": model, "discretization": method, "seed": seed, "tau": tau,
                             "d": d, "order": order, "order_note": note, "learned": ok})  # fmt: skip
    return rows


def sweep_rows(model: str, pairs: dict) -> list[dict]:
    """amplitude_sweep rows: pairs {(system, method): {"exponents": per seed, "learned": per seed}};
    d(τ₁, a) = 0.1·a^q, so the fitted exponent is q (to 4 digits)."""
    rows = []
    for (system, method), spec in pairs.items():
        learned = spec.get("learned", [True] * len(spec["exponents"]))
        for seed, (q, ok) in enumerate(zip(spec["exponents"], learned)):
            for a in SWEEP_AMPLITUDES:
                for tau in SWEEP_TAUS:
                    d = 0.0 if tau == SWEEP_TAUS[0] else 0.1 * a**q
                    rows.append({"system": system, "model": model, "discretization": method, "seed": seed,
                                 "amplitude": a, "tau": tau, "d": d, "learned": ok})  # fmt: skip
    return rows


def e1_orders(orders: dict) -> list[dict]:
    """numerical_orders rows of S4: orders {(method, amplitude): (order_max_error, order_rmse)}."""
    return [{"model": "s4", "discretization": m, "amplitude": a, "order_max_error": p, "order_rmse": q}
            for (m, a), (p, q) in orders.items()]  # fmt: skip


GOOD_E1 = {("zoh", 1.0): (1.0, 1.0), ("bilinear", 1.0): (1.0, 1.0)}
ONE_PAIR = ("vdp", "zoh")


def c1_record(tmp_path, cfg, orders=None, exponents=None, e1=None, continuity=None, sweep=None) -> dict:
    """C1 on the smallest tables: by default one pair, one learned seed, order 1, exponent 0, E1 orders 1."""
    if continuity is None:
        continuity = {ONE_PAIR: {"orders": [1.0] if orders is None else orders}}
    if sweep is None:
        sweep = {ONE_PAIR: {"exponents": [0.0] if exponents is None else exponents}}
    paths = write(tmp_path, model_continuity=continuity_rows("s4d", continuity), amplitude_sweep=sweep_rows("s4d", sweep),
                  numerical_orders=e1_orders(e1 or GOOD_E1))  # fmt: skip
    return evaluate_claim("C1", paths, cfg)


def c1_parts(rec) -> tuple[str, str, str, str]:
    n = rec["numbers"]
    return n["part_a_trained"], n["part_b_numerical"], n["part_c_amplitude"], rec["verdict"]


# --- C1(a): fitted order p >= s4_order_min (inclusive) ----------------------------------------
@pytest.mark.parametrize("order, expected", [
    (0.0, N), (0.499, N), (0.5, S), (0.501, S), (2.0, S),
    (0.49994, N), (0.49996, S),   # compared as recorded, rounded to 4 decimals (docs/claims.md, "Boundaries")
])  # fmt: skip
def test_c1a_order_walk_data(tmp_path, quick_config, order, expected):
    """Data moves, s4_order_min = 0.5 (default): supported from p = 0.5 on."""
    assert quick_config["claims"]["s4_order_min"] == 0.5
    rec = c1_record(tmp_path, quick_config, orders=[order])
    assert c1_parts(rec) == (expected, S, S, expected), rec["explanation"]


@pytest.mark.parametrize("order_min, expected", [(0.749, S), (0.75, S), (0.751, N), (1.5, N)])
def test_c1a_order_walk_config(tmp_path, quick_config, order_min, expected):
    """Config moves, p = 0.75 fixed (mean of two seeds 0.5 and 1.0)."""
    rec = c1_record(tmp_path, with_claims(quick_config, s4_order_min=order_min), orders=[0.5, 1.0])
    assert rec["numbers"]["e2_s4d_order_min"] == 0.75
    assert c1_parts(rec)[0] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("d, expected", [
    ((0.8, 0.4, 0.2, 0.1, 0.0), S),     # strictly falling at every step τ ≤ 1
    ((0.8, 0.4, 0.2, 0.2, 0.0), N),     # one flat step: d(½) = d(¼) is not a fall
    ((0.8, 0.4, 0.2, 0.2001, 0.0), N),  # one step up
    ((0.0, 0.4, 0.2, 0.1, 0.0), S),     # τ = 2 (> 1) is not part of the trend
])  # fmt: skip
def test_c1a_decreasing_walk(tmp_path, quick_config, d, expected):
    rec = c1_record(tmp_path, quick_config, continuity={ONE_PAIR: {"orders": [1.0], "d": d}})
    assert c1_parts(rec)[0] == expected


@pytest.mark.parametrize("taus, expected", [
    ((2.0, 1.0, 0.5), N),          # two levels ≤ 1: no trend of three
    ((2.0, 1.0, 0.5, 0.25), S),    # three levels ≤ 1: enough
])  # fmt: skip
def test_c1a_levels_needed_for_a_trend(tmp_path, quick_config, taus, expected):
    d = C1_D[: len(taus) - 1] + (0.0,)
    rec = c1_record(tmp_path, quick_config, continuity={ONE_PAIR: {"orders": [1.0], "d": d, "taus": taus}})
    assert c1_parts(rec)[0] == expected


# --- C1(b): |E1 order − nominal| <= s4_numerical_order_tol (inclusive), both measures, every row ----
@pytest.mark.parametrize("orders, expected", [
    ((1.25, 1.0), S), ((0.75, 1.0), S), ((1.0, 1.25), S),           # deviation 0.25 = tol: inside
    ((1.25 + 2**-10, 1.0), N), ((1.0, 0.75 - 2**-10), N),           # just beyond, either measure
    ((1.25 - 2**-10, 1.25 - 2**-10), S),
])  # fmt: skip
def test_c1b_tolerance_walk_data(tmp_path, quick_config, orders, expected):
    """Data moves (one of two discretizations off), tol = 0.25 (exact in binary), nominal 1 (left hold)."""
    cfg = with_claims(quick_config, s4_numerical_order_tol=0.25)
    rec = c1_record(tmp_path, cfg, e1={("zoh", 1.0): (1.0, 1.0), ("bilinear", 32.0): orders})
    assert c1_parts(rec) == (S, expected, S, expected), rec["explanation"]


@pytest.mark.parametrize("tol, expected", [(0.25 - 2**-10, N), (0.25, S), (0.25 + 2**-10, S)])
def test_c1b_tolerance_walk_config(tmp_path, quick_config, tol, expected):
    rec = c1_record(tmp_path, with_claims(quick_config, s4_numerical_order_tol=tol), e1={("zoh", 4.0): (1.0, 0.75)})
    assert c1_parts(rec)[1] == expected


@pytest.mark.parametrize("hold, order, expected", [("left", 1.0, S), ("left", 2.0, N), ("average", 2.0, S),
                                                   ("average", 1.0, N)])  # fmt: skip
def test_c1b_nominal_order_follows_the_input_hold(tmp_path, quick_config, hold, order, expected):
    quick_config["refinement_numerical"]["input_hold"] = hold
    rec = c1_record(tmp_path, quick_config, e1={("zoh", 1.0): (order, order), ("bilinear", 1.0): (order, order)})
    assert c1_parts(rec)[1] == expected


def test_c1b_default_tolerance_is_compared_in_binary(tmp_path, quick_config):
    """With the default tol 0.3, an order of exactly 1.3 deviates by 0.30000000000000004 > 0.3 in binary
    floating point and fails; 1.2999 passes. (Decimal boundaries are not representable.)"""
    assert quick_config["claims"]["s4_numerical_order_tol"] == 0.3 and abs(1.3 - 1.0) > 0.3
    assert c1_parts(c1_record(tmp_path, quick_config, e1={("zoh", 1.0): (1.3, 1.0)}))[1] == N
    assert c1_parts(c1_record(tmp_path, quick_config, e1={("zoh", 1.0): (1.2999, 1.0)}))[1] == S


# --- C1(c): exponent q <= s4d_amplitude_exponent_max (inclusive) ---------------------------------
@pytest.mark.parametrize("q, expected", [(-1.0, S), (0.0, S), (0.499, S), (0.5, S), (0.501, N), (1.5, N)])
def test_c1c_exponent_walk_data(tmp_path, quick_config, q, expected):
    assert quick_config["claims"]["s4d_amplitude_exponent_max"] == 0.5
    rec = c1_record(tmp_path, quick_config, exponents=[q])
    assert rec["numbers"]["e2_s4d_amplitude_exponent_max"] == q
    assert c1_parts(rec) == (S, S, expected, expected)


@pytest.mark.parametrize("q_max, expected", [(0.249, N), (0.25, S), (0.251, S)])
def test_c1c_exponent_walk_config(tmp_path, quick_config, q_max, expected):
    """Config moves; q = 0.25, the mean over two seeds (0, 0.5)."""
    rec = c1_record(tmp_path, with_claims(quick_config, s4d_amplitude_exponent_max=q_max), exponents=[0.0, 0.5])
    assert rec["numbers"]["e2_s4d_amplitude_exponent_max"] == 0.25 and c1_parts(rec)[2] == expected


# --- C1: min_learned_runs (>=), per pair ---------------------------------------------------------
@pytest.mark.parametrize("min_runs, expected", [(1, S), (2, S), (3, I), (4, I)])
def test_c1_min_learned_runs_walk_config(tmp_path, quick_config, min_runs, expected):
    """Two learned seeds of three: a pair counts from min_learned_runs <= 2 on."""
    learned = [True, True, False]
    rec = c1_record(tmp_path, with_claims(quick_config, min_learned_runs=min_runs),
                    continuity={ONE_PAIR: {"orders": [1.0] * 3, "learned": learned}},
                    sweep={ONE_PAIR: {"exponents": [0.0] * 3, "learned": learned}})  # fmt: skip
    assert c1_parts(rec) == (expected, S, expected, expected)
    assert rec["numbers"]["e2_s4d_learned_pairs"] == ("1 of 1" if expected == S else "0 of 1")


@pytest.mark.parametrize("learned_seeds, expected", [(0, I), (1, I), (2, S), (3, S)])
def test_c1_min_learned_runs_walk_data(tmp_path, quick_config, learned_seeds, expected):
    learned = [k < learned_seeds for k in range(3)]
    rec = c1_record(tmp_path, with_claims(quick_config, min_learned_runs=2),
                    continuity={ONE_PAIR: {"orders": [1.0] * 3, "learned": learned}},
                    sweep={ONE_PAIR: {"exponents": [0.0] * 3, "learned": learned}})  # fmt: skip
    assert c1_parts(rec)[0] == expected and c1_parts(rec)[2] == expected


# --- C1 combinators: every pair (combine within a part), every part ------------------------------
PAIR_B = ("dho", "bilinear")


@pytest.mark.parametrize("orders, expected", [
    ((1.0, 1.0), S), ((1.0, 0.1), N), ((0.1, 0.1), N),
    ((1.0, math.nan), I),          # one pair without a fitted order: not every pair shows convergence
    ((0.1, math.nan), N),          # one pair fails: not supported whatever the other
])  # fmt: skip
def test_c1a_needs_every_pair(tmp_path, quick_config, orders, expected):
    rec = c1_record(tmp_path, quick_config, continuity={ONE_PAIR: {"orders": [orders[0]]}, PAIR_B: {"orders": [orders[1]]}},
                    sweep={ONE_PAIR: {"exponents": [0.0]}, PAIR_B: {"exponents": [0.0]}})  # fmt: skip
    assert c1_parts(rec)[0] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("exponents, expected", [((0.0, 0.0), S), ((0.0, 1.0), N), ((1.0, 1.0), N)])
def test_c1c_needs_every_pair(tmp_path, quick_config, exponents, expected):
    """C1(c) combines its pairs with ``combine`` (one pair over the limit fails the part), unlike C2(b)."""
    rec = c1_record(tmp_path, quick_config, continuity={ONE_PAIR: {"orders": [1.0]}, PAIR_B: {"orders": [1.0]}},
                    sweep={ONE_PAIR: {"exponents": [exponents[0]]}, PAIR_B: {"exponents": [exponents[1]]}})  # fmt: skip
    assert c1_parts(rec)[2] == expected


@pytest.mark.parametrize("parts, expected", [
    ((S, S, S), S), ((N, S, S), N), ((S, N, S), N), ((S, S, N), N), ((I, S, S), I), ((I, N, S), N), ((I, I, I), I),
])  # fmt: skip
def test_c1_claim_combines_its_parts(tmp_path, quick_config, parts, expected):
    """Each part driven to its verdict by its own table: order (a), E1 order (b), exponent (c)."""
    order = {S: 1.0, N: 0.1, I: math.nan}[parts[0]]
    e1 = {S: GOOD_E1, N: {("zoh", 1.0): (2.0, 2.0)}, I: {("zoh", 1.0): (1.0, 1.0)}}[parts[1]]
    q = {S: 0.0, N: 1.0, I: 0.0}[parts[2]]
    learned_c = [parts[2] != I]
    rec = c1_record(tmp_path, quick_config, continuity={ONE_PAIR: {"orders": [order]}},
                    sweep={ONE_PAIR: {"exponents": [q], "learned": learned_c}}, e1=e1)  # fmt: skip
    if parts[1] == I:  # no S4 row in E1 at all
        paths = write(tmp_path, numerical_orders=pd.DataFrame(columns=["model", "discretization", "amplitude",
                                                                        "order_max_error", "order_rmse"]))  # fmt: skip
        paths.update(model_continuity=tmp_path / "model_continuity.csv", amplitude_sweep=tmp_path / "amplitude_sweep.csv")
        rec = evaluate_claim("C1", paths, quick_config)
    assert c1_parts(rec) == (*parts, expected)


@pytest.mark.parametrize("parts, expected", [
    ([], I), ([S], S), ([N], N), ([I], I), ([S, S], S), ([S, N], N), ([S, I], I), ([N, I], N), ([I, I], I),
])  # fmt: skip
def test_combine_table(parts, expected):
    """Claim level (and C1/C3/C5 within a part): any not supported -> not supported, else any inconclusive
    or nothing -> inconclusive."""
    assert combine(parts) == expected


@pytest.mark.parametrize("parts, expected", [
    ([], I), ([S], S), ([N], N), ([I], I), ([S, S], S), ([N, N], N), ([S, N], I), ([S, I], I), ([N, I], I),
])  # fmt: skip
def test_combine_across_table(parts, expected):
    """C2(b), C2(c) across (system, discretization): all supported -> supported, all not -> not, mixed -> inconclusive."""
    assert combine_across(parts) == expected


# =============================================================================================
# C2
# =============================================================================================
def e1_error_rows(ratios: dict) -> list[dict]:
    """numerical_errors rows at one τ: ratios {method: [S6 ratio per system]}; error 1 at amplitude 1,
    the ratio at amplitude 32 (S4 flat, for contrast)."""
    rows = []
    for method, per_system in ratios.items():
        for system, ratio in enumerate(per_system):
            for model, r in (("s6", ratio), ("s4", 1.0)):
                for amplitude, err in ((1.0, 1.0), (32.0, r)):
                    rows.append({"system": system, "model": model, "discretization": method, "amplitude": amplitude,
                                 "tau": 2.0**-8, "rel_max_error": err})  # fmt: skip
    return rows


INCREASE_OFFSET = 2.0  # added to every model's increase: RMSEs stay positive, differences stay exact


def error_rows(pairs: dict) -> list[dict]:
    """errors rows (pooled): pairs {(system, method): {"s6": increase per seed, "s4d": increase per seed,
    "learned_s6": per seed}}; rmse(1) = 1 and rmse(2) = 1 + 2 + increase, so the S6 − S4D difference
    of the increases is exact for dyadic increases."""
    rows = []
    for (system, method), spec in pairs.items():
        for model in ("s6", "s4d"):
            learned = spec.get(f"learned_{model}", [True] * len(spec[model]))
            for seed, (v, ok) in enumerate(zip(spec[model], learned)):
                for tau, rmse in ((1.0, 1.0), (2.0, 1.0 + INCREASE_OFFSET + v)):
                    rows.append({"system": system, "model": model, "discretization": method, "seed": seed, "tau": tau,
                                 "label": "pooled", "rmse": rmse, "learned": ok})  # fmt: skip
    return rows


CLEAR_C = {"s6": spread4(1.0, 2**-6), "s4d": [0.0] * 4}  # mean 1, SE 1/64: far beyond 2 SE


def c2_record(tmp_path, cfg, ratios=None, s6_exponents=None, degradation=None) -> dict:
    """C2 on the smallest tables; each part clearly supported unless its argument says otherwise.

    ratios: {method: [ratio per system]}; s6_exponents: {pair: [q per seed]}; degradation: {pair: spec of
    :func:`error_rows`}."""
    ratios = ratios or {"zoh": [8.0], "bilinear": [8.0]}
    s6_exponents = s6_exponents or {ONE_PAIR: [1.0]}
    degradation = degradation or {ONE_PAIR: CLEAR_C}
    sweep = sweep_rows("s6", {k: {"exponents": v} for k, v in s6_exponents.items()})
    sweep += sweep_rows("s4d", {k: {"exponents": [0.0] * len(v)} for k, v in s6_exponents.items()})
    paths = write(tmp_path, numerical_errors=e1_error_rows(ratios), errors=error_rows(degradation), amplitude_sweep=sweep)
    return evaluate_claim("C2", paths, cfg)


def c2_parts(rec) -> tuple[str, str, str, str]:
    n = rec["numbers"]
    return n["part_a_numerical"], n["part_b_amplitude"], n["part_c_degradation"], rec["verdict"]


# --- C2(a): median over systems of the E1 ratio >= s6_amplitude_ratio_min, every discretization -----
@pytest.mark.parametrize("ratios, expected", [
    ([1.0], N), ([1.999], N), ([2.0], S), ([2.001], S),
    ([1.0, 2.0, 100.0], S),       # the median (2), not the mean (34.3)
    ([1.0, 1.999, 100.0], N),     # mean 34 but median below
    ([1.0, 3.0], S),              # even count: median = (1 + 3)/2 = 2
    ([1.0, 2.998], N),            # median 1.999
])  # fmt: skip
def test_c2a_ratio_walk_data(tmp_path, quick_config, ratios, expected):
    """Data moves on one discretization (the other clearly above), s6_amplitude_ratio_min = 2 (default)."""
    assert quick_config["claims"]["s6_amplitude_ratio_min"] == 2.0
    rec = c2_record(tmp_path, quick_config, ratios={"zoh": [8.0], "bilinear": ratios})
    assert c2_parts(rec) == (expected, S, S, expected), rec["explanation"]


@pytest.mark.parametrize("ratio_min, expected", [(3.999, S), (4.0, S), (4.001, N)])
def test_c2a_ratio_walk_config(tmp_path, quick_config, ratio_min, expected):
    rec = c2_record(tmp_path, with_claims(quick_config, s6_amplitude_ratio_min=ratio_min),
                    ratios={"zoh": [2.0, 4.0, 8.0], "bilinear": [16.0]})  # fmt: skip
    assert rec["numbers"]["e1_s6_amplitude_ratio_median"] == 4.0 and c2_parts(rec)[0] == expected


# --- C2(b): exponent q >= s6_amplitude_exponent_min, combined across pairs -------------------------
@pytest.mark.parametrize("q, expected", [(0.0, N), (0.499, N), (0.5, S), (0.501, S), (2.0, S),
                                         (0.49994, N), (0.49996, S)])  # rounded to 4 decimals, then compared
def test_c2b_exponent_walk_data(tmp_path, quick_config, q, expected):
    assert quick_config["claims"]["s6_amplitude_exponent_min"] == 0.5
    rec = c2_record(tmp_path, quick_config, s6_exponents={ONE_PAIR: [q]})
    assert rec["numbers"]["e2_s6_amplitude_exponent_min"] == round(q, 4) and c2_parts(rec) == (S, expected, S, expected)


@pytest.mark.parametrize("q_min, expected", [(0.749, S), (0.75, S), (0.751, N)])
def test_c2b_exponent_walk_config(tmp_path, quick_config, q_min, expected):
    """q = 0.75, the mean over seeds (0.5, 1.0)."""
    rec = c2_record(tmp_path, with_claims(quick_config, s6_amplitude_exponent_min=q_min), s6_exponents={ONE_PAIR: [0.5, 1.0]})
    assert c2_parts(rec)[1] == expected


@pytest.mark.parametrize("exponents, expected", [
    ((1.0, 1.0), S), ((0.0, 0.0), N),
    ((1.0, 0.0), I),   # mixed across pairs: inconclusive (C1(c) would call one failing pair "not supported")
])  # fmt: skip
def test_c2b_combines_across_pairs(tmp_path, quick_config, exponents, expected):
    rec = c2_record(tmp_path, quick_config, s6_exponents={ONE_PAIR: [exponents[0]], PAIR_B: [exponents[1]]},
                    degradation={ONE_PAIR: CLEAR_C, PAIR_B: CLEAR_C})  # fmt: skip
    assert c2_parts(rec)[1] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("min_runs, expected", [(1, S), (2, S), (3, I)])
def test_c2b_min_learned_runs_walk_config(tmp_path, quick_config, min_runs, expected):
    """Two learned S6 seeds: counted from min_learned_runs <= 2 on."""
    rec = c2_record(tmp_path, with_claims(quick_config, min_learned_runs=min_runs), s6_exponents={ONE_PAIR: [1.0, 1.0]})
    assert c2_parts(rec)[1] == expected


# --- C2(c): paired S6 − S4D degradation, mean > k·SE (strict), mean < −k·SE (strict) ---------------
def degradation(mean: float, half: float = 0.125, sign: int = 1) -> dict:
    """Four seeds whose S6 − S4D difference has the given mean and SE ``half`` (negated when sign = −1)."""
    diffs = spread4(mean, half)
    return {"s6": diffs, "s4d": [0.0] * 4} if sign > 0 else {"s6": [0.0] * 4, "s4d": diffs}


@pytest.mark.parametrize("k, sign, expected", [
    (3.99, 1, S), (4.0, 1, I), (4.01, 1, I),      # mean 0.5 = 4 SE exactly: not beyond
    (3.99, -1, N), (4.0, -1, I), (4.01, -1, I),   # mean −0.5
])  # fmt: skip
def test_c2c_se_factor_walk_config(tmp_path, quick_config, k, sign, expected):
    rec = c2_record(tmp_path, with_claims(quick_config, paired_se=k), degradation={ONE_PAIR: degradation(0.5, sign=sign)})
    comparison = rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]
    assert (comparison["mean"], comparison["se"], comparison["n_seeds"]) == (0.5 * sign, 0.125, 4)
    assert c2_parts(rec)[2] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("mean, expected", [
    (-1.0, N), (-0.25 - 2**-10, N), (-0.25, I), (-0.25 + 2**-10, I), (0.0, I),
    (0.25 - 2**-10, I), (0.25, I), (0.25 + 2**-10, S), (1.0, S),
])  # fmt: skip
def test_c2c_se_factor_walk_data(tmp_path, quick_config, mean, expected):
    """Data moves, paired_se = 2 (default), SE = 1/8: the boundaries are ±0.25, both exclusive."""
    assert quick_config["claims"]["paired_se"] == 2.0
    pair = {"s6": spread4(mean, 0.125), "s4d": [0.0] * 4}
    rec = c2_record(tmp_path, quick_config, degradation={ONE_PAIR: pair})
    assert c2_parts(rec)[2] == expected


@pytest.mark.parametrize("min_seeds, n_seeds, expected", [
    (3, 2, I), (3, 3, S), (3, 4, S),
    (4, 3, I), (4, 4, S),
    (1, 1, I), (1, 2, S),            # at least two seeds whatever the config: an SE needs two
])  # fmt: skip
def test_c2c_paired_min_seeds_walk(tmp_path, quick_config, min_seeds, n_seeds, expected):
    diffs = [1.0, 1.25, 1.5, 1.75][:n_seeds]
    rec = c2_record(tmp_path, with_claims(quick_config, paired_min_seeds=min_seeds),
                    degradation={ONE_PAIR: {"s6": diffs, "s4d": [0.0] * n_seeds}})  # fmt: skip
    assert c2_parts(rec)[2] == expected, rec["explanation"]
    too_few = f"{n_seeds} seed(s) where both learned, {max(2, min_seeds)} needed"
    assert (rec["details"]["e2_relative_rmse_increase"]["vdp/zoh"]["why"] == too_few) == (n_seeds < max(2, min_seeds))


@pytest.mark.parametrize("learned_s6, expected", [
    ([True, True, True, True], S), ([True, True, True, False], S), ([True, True, False, False], I),
])  # fmt: skip
def test_c2c_pairs_only_seeds_where_both_learned(tmp_path, quick_config, learned_s6, expected):
    pair = {"s6": [1.0, 1.25, 1.5, 1.75], "s4d": [0.0] * 4, "learned_s6": learned_s6}
    rec = c2_record(tmp_path, quick_config, degradation={ONE_PAIR: pair})
    assert c2_parts(rec)[2] == expected


@pytest.mark.parametrize("means, expected", [
    ((1.0, 1.0), S), ((-1.0, -1.0), N), ((1.0, -1.0), I), ((1.0, 0.0), I), ((-1.0, 0.0), I),
])  # fmt: skip
def test_c2c_combines_across_pairs(tmp_path, quick_config, means, expected):
    rec = c2_record(tmp_path, quick_config, s6_exponents={ONE_PAIR: [1.0], PAIR_B: [1.0]},
                    degradation={ONE_PAIR: degradation(means[0], 2**-6), PAIR_B: degradation(means[1], 2**-6)})  # fmt: skip
    assert c2_parts(rec)[2] == expected


def test_c2c_a_pair_where_both_never_learned_is_left_out(tmp_path, quick_config):
    """A pair with no seed where both learned carries no evidence: the other pair decides alone."""
    dead = {**degradation(-1.0, 2**-6), "learned_s6": [False] * 4}
    rec = c2_record(tmp_path, quick_config, s6_exponents={ONE_PAIR: [1.0], PAIR_B: [1.0]},
                    degradation={ONE_PAIR: CLEAR_C, PAIR_B: dead})  # fmt: skip
    assert c2_parts(rec)[2] == S and "dho/bilinear" in rec["details"]["e2_excluded_not_learned"]


@pytest.mark.parametrize("a, b, c, expected", [
    (S, S, S, S), (N, S, S, N), (S, N, S, N), (S, S, N, N), (S, S, I, I), (I, N, S, N),
])  # fmt: skip
def test_c2_claim_combines_its_parts(tmp_path, quick_config, a, b, c, expected):
    ratios = {S: {"zoh": [8.0]}, N: {"zoh": [1.0]}, I: {}}[a]
    q = {S: 1.0, N: 0.0}[b]
    deg = {S: CLEAR_C, N: degradation(-1.0, 2**-6), I: degradation(0.0)}[c]
    if a == I:  # no E1 table rows: part (a) cannot be judged
        paths = write(tmp_path, numerical_errors=pd.DataFrame(columns=["system", "model", "discretization", "amplitude", "tau",
                                                                         "rel_max_error"]),
                      errors=error_rows({ONE_PAIR: deg}), amplitude_sweep=sweep_rows("s6", {ONE_PAIR: {"exponents": [q]}}))
        rec = evaluate_claim("C2", paths, quick_config)
    else:
        rec = c2_record(tmp_path, quick_config, ratios=ratios, s6_exponents={ONE_PAIR: [q]}, degradation={ONE_PAIR: deg})
    assert c2_parts(rec) == (a, b, c, expected)


# --- paired_difference on its own: the same rule at the resolution of one float ----------------------
@pytest.mark.parametrize("k_step, expected", [(-1, S), (0, I), (1, I)])
def test_paired_difference_flips_at_one_ulp(k_step, expected):
    """mean = k·SE exactly is not beyond; one ulp less of k is."""
    a = dict(enumerate(spread4(0.5, 0.125)))
    k = {-1: np.nextafter(4.0, 0.0), 0: 4.0, 1: np.nextafter(4.0, 8.0)}[k_step]
    assert paired_difference(a, dict.fromkeys(a, 0.0), 3, float(k))["verdict"] == expected


# =============================================================================================
# C3
# =============================================================================================
SE3, SE4 = 3 * 2**-10, 4 * 2**-10  # combined SE hypot(3, 4)·2^-10 = 5·2^-10 exactly


def tc_rows(systems: dict) -> list[dict]:
    """task_continuity rows of the E3 family: systems {name: {η: (TC, SE)}}."""
    return [{"family": "forecasting", "dataset": f"forecasting/{s}_eta{eta:g}", "system": s, "eta": eta, "tc": tc,
             "tc_stderr": se} for s, values in systems.items() for eta, (tc, se) in values.items()]  # fmt: skip


def c3_record(tmp_path, cfg, systems) -> dict:
    """C3 on the family ``systems``, with the config's E3 grid (systems × η) set to the one the table covers."""
    cfg = copy.deepcopy(cfg)
    cfg["eta_performance"]["systems"] = list(systems)
    cfg["forecasting"]["etas"] = sorted({eta for values in systems.values() for eta in values})
    return evaluate_claim("C3", write(tmp_path, task_continuity=tc_rows(systems)), cfg)


def c3_parts(rec) -> tuple[str, str, str]:
    return rec["numbers"]["part_a_ordering"], rec["numbers"]["part_b_separation"], rec["verdict"]


def two_step(drop: float, se=(SE3, SE4)) -> dict:
    """η ∈ {0, ½, 1}: the step 0 → ½ drops by ``drop`` with SEs ``se``; ½ → 1 drops by 0.25 (clear)."""
    return {0.0: (0.75, se[0]), 0.5: (0.75 - drop, se[1]), 1.0: (0.5 - drop, 0.0)}


# --- C3(a): every drop > c3_se · sqrt(SE_k² + SE_{k+1}²) (strict), every system -------------------
@pytest.mark.parametrize("drop, expected", [
    (-0.01, N), (0.0, N), (10 * 2**-10 - 2**-20, N), (10 * 2**-10, N), (10 * 2**-10 + 2**-20, S), (0.1, S),
])  # fmt: skip
def test_c3a_drop_walk_data(tmp_path, quick_config, drop, expected):
    """Data moves, c3_se = 2 (default): the threshold is 2·5·2^-10, exclusive."""
    assert quick_config["claims"]["c3_se"] == 2
    assert math.hypot(SE3, SE4) == 5 * 2**-10
    rec = c3_record(tmp_path, quick_config, {"vdp": two_step(drop)})
    assert c3_parts(rec)[0] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("c3_se, expected", [(0.0, S), (1.99, S), (2.0, N), (2.01, N)])
def test_c3a_drop_walk_config(tmp_path, quick_config, c3_se, expected):
    rec = c3_record(tmp_path, with_claims(quick_config, c3_se=c3_se), {"vdp": two_step(10 * 2**-10)})
    assert c3_parts(rec)[0] == expected


@pytest.mark.parametrize("drop, c3_se, expected", [(0.0, 2.0, N), (2**-20, 2.0, S), (0.0, 0.0, N), (2**-20, 0.0, S)])
def test_c3a_without_standard_errors_any_fall_counts(tmp_path, quick_config, drop, c3_se, expected):
    """A NaN SE (one sequence scored) gives no noise allowance: the drop must only be positive; the
    same with c3_se = 0."""
    se = (math.nan, math.nan) if c3_se else (SE3, SE4)
    rec = c3_record(tmp_path, with_claims(quick_config, c3_se=c3_se), {"vdp": two_step(drop, se=se)})
    assert c3_parts(rec)[0] == expected


@pytest.mark.parametrize("drops, expected", [((0.1, 0.1), S), ((0.1, 0.0), N), ((0.0, 0.0), N)])
def test_c3a_needs_every_system(tmp_path, quick_config, drops, expected):
    rec = c3_record(tmp_path, quick_config, {"vdp": two_step(drops[0]), "dho": two_step(drops[1])})
    assert c3_parts(rec)[0] == expected


@pytest.mark.parametrize("etas, expected", [((0.0,), I), ((0.0, 1.0), S)])
def test_c3a_needs_two_etas(tmp_path, quick_config, etas, expected):
    values = {0.0: (0.9, 0.0), 1.0: (0.5, 0.0)}
    rec = c3_record(tmp_path, quick_config, {"vdp": {e: values[e] for e in etas}})
    assert c3_parts(rec)[0] == expected


# --- C3(b): TC(0) − TC(1) >= tc_separation_min (inclusive), every system ---------------------------
@pytest.mark.parametrize("separation, expected", [(0.25 - 2**-10, N), (0.25, S), (0.25 + 2**-10, S)])
def test_c3b_separation_walk_data(tmp_path, quick_config, separation, expected):
    """tc_separation_min = 0.25 (exact in binary); TC(0) = 0.75, TC(1) = 0.75 − separation."""
    cfg = with_claims(quick_config, tc_separation_min=0.25)
    rec = c3_record(tmp_path, cfg, {"vdp": {0.0: (0.75, 0.0), 1.0: (0.75 - separation, 0.0)}})
    assert c3_parts(rec) == (S, expected, expected)


@pytest.mark.parametrize("sep_min, expected", [(0.125 - 2**-12, S), (0.125, S), (0.125 + 2**-12, N)])
def test_c3b_separation_walk_config(tmp_path, quick_config, sep_min, expected):
    rec = c3_record(tmp_path, with_claims(quick_config, tc_separation_min=sep_min),
                    {"vdp": {0.0: (0.75, 0.0), 1.0: (0.625, 0.0)}})  # fmt: skip
    assert c3_parts(rec)[1] == expected


@pytest.mark.parametrize("separations, expected", [((0.5, 0.5), S), ((0.5, 0.01), N)])
def test_c3b_needs_every_system(tmp_path, quick_config, separations, expected):
    systems = {s: {0.0: (0.75, 0.0), 1.0: (0.75 - sep, 0.0)} for s, sep in zip(("vdp", "dho"), separations)}
    assert c3_parts(c3_record(tmp_path, quick_config, systems))[1] == expected


def test_c3b_needs_both_ends_on_every_system(tmp_path, quick_config):
    """One system without η = 1: (b) inconclusive (this used to raise IndexError in the headline numbers)."""
    systems = {"vdp": {0.0: (0.75, 0.0), 1.0: (0.25, 0.0)}, "dho": {0.0: (0.75, 0.0), 0.5: (0.25, 0.0)}}
    rec = c3_record(tmp_path, quick_config, systems)
    assert c3_parts(rec) == (S, I, I)
    assert rec["numbers"]["tc_eta1_max"] == 0.25 and rec["numbers"]["separation_min"] == 0.5


# =============================================================================================
# C4
# =============================================================================================
def c4_paths(tmp_path, datasets: list[tuple[float, list[float]]]) -> dict:
    """alignment and advantages_by_seed tables: datasets [(TC, [advantage per seed])], one system."""
    from contlaws.experiments.alignment import ALIGNMENT_COLUMNS, SEED_ADVANTAGE_COLUMNS

    rows, seed_rows = [], []
    for i, (tc, advantages) in enumerate(datasets):
        eta = i / 16
        mean, se = mean_and_stderr(advantages) if advantages else (math.nan, math.nan)
        rows.append({"system": "vdp", "eta": eta, "tc": tc, "tc_stderr": 0.0, "rmse_s4d": 1.0, "rmse_s6": 1.0,
                     "reference_model": "transformer", "rmse_reference": 1.0, "advantage_s4d": mean,
                     "advantage_s4d_se": se, "n_seeds_s4d": len(advantages), "advantage_s6": -mean,
                     "advantage_s6_se": se, "n_seeds_s6": len(advantages), "note": ""})  # fmt: skip
        seed_rows += [{"system": "vdp", "eta": eta, "tc": tc, "model": "s4d", "reference_model": "transformer",
                       "seed": k, "advantage": a} for k, a in enumerate(advantages)]  # fmt: skip
    return write(tmp_path, alignment=pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS),
                 advantages_by_seed=pd.DataFrame(seed_rows, columns=SEED_ADVANTAGE_COLUMNS))  # fmt: skip


def c4_record(paths: dict, cfg: dict) -> dict:
    """C4 on a table built here, the config's E3 grid set to the table's (one system, eta = i/16)."""
    return evaluate_claim("C4", paths, with_c4_grid_of(cfg, paths))


def aligned(n: int, seeds: int = 3, order=None) -> list[tuple[float, list[float]]]:
    """n datasets, TC = 0.5 + i/32, advantage level order[i]/4 with seed offsets ±1/64 (far below the steps)."""
    order = range(n) if order is None else order
    return [(0.5 + i / 32, [k / 4 + (s - 1) / 64 for s in range(seeds)]) for i, k in enumerate(order)]


@pytest.fixture()
def c4_cfg(quick_config):
    """Fewer bootstrap replicates than the default (the walks need many evaluations), same rule."""
    return with_claims(quick_config, bootstrap_samples=400)


def c4_exact_stats(paths, cfg) -> tuple[dict, float, float]:
    """ρ statistics and bootstrap bounds computed as C4 computes them (same tables, same seed)."""
    from contlaws.claims.c4 import read_c4_inputs

    table, seeds = read_c4_inputs(paths)
    usable, _ = c4_usable_datasets(table, int(cfg["claims"]["paired_min_seeds"]))
    _, low, high = c4_bootstrap(usable, seeds, int(cfg["claims"]["bootstrap_samples"]),
                                float(cfg["claims"]["rank_correlation_alpha"]), int(cfg["seed"]))  # fmt: skip
    return spearman(usable["tc"], usable["advantage_s4d"]), low, high


@pytest.mark.parametrize("n, expected", [(2, I), (3, I), (4, S), (5, S)])
def test_c4_min_datasets_walk(tmp_path, c4_cfg, n, expected):
    """C4_MIN_N = 4: with fewer datasets no one-sided exact test reaches α = 0.05; from 4 on a perfect
    alignment (p = 1/24) is supported."""
    assert C4_MIN_N == 4
    rec = c4_record(c4_paths(tmp_path, aligned(n)), c4_cfg)
    assert rec["verdict"] == expected, rec["explanation"]


@pytest.mark.parametrize("min_seeds, seeds_of_last, expected", [
    (3, 2, I), (3, 3, S), (3, 4, S),      # data moves: the 4th dataset counts from 3 paired seeds on
    (2, 2, S), (4, 3, I),                  # config moves
])  # fmt: skip
def test_c4_paired_min_seeds_walk(tmp_path, c4_cfg, min_seeds, seeds_of_last, expected):
    datasets = aligned(4, seeds=max(3, min_seeds))[:3] + aligned(4, seeds=seeds_of_last)[3:]
    rec = c4_record(c4_paths(tmp_path, datasets), with_claims(c4_cfg, paired_min_seeds=min_seeds))
    assert rec["verdict"] == expected, rec["explanation"]


@pytest.mark.parametrize("step, expected", [(-1, S), (0, S), (1, I)])
def test_c4_rho_min_walk_config(tmp_path, c4_cfg, step, expected):
    """ρ >= rank_correlation_min is inclusive: rank_correlation_min set to the observed ρ (one swap among
    8 datasets, ρ = 1 − 12/504) and one ulp either side."""
    paths = c4_paths(tmp_path, aligned(8, order=[0, 1, 2, 4, 3, 5, 6, 7]))
    stats, low, high = c4_exact_stats(paths, c4_cfg)
    assert stats["rho"] == pytest.approx(1 - 12 / 504) and stats["p_greater"] < 0.05 and low > 0 and high > stats["rho"]
    rho_min = {-1: np.nextafter(stats["rho"], 0.0), 0: stats["rho"], 1: np.nextafter(stats["rho"], 1.0)}[step]
    rec = c4_record(paths, with_claims(c4_cfg, rank_correlation_min=float(rho_min)))
    assert rec["verdict"] == expected, rec["explanation"]


@pytest.mark.parametrize("order, expected", [
    ([0, 1, 2, 3], S),        # ρ = 1, exact p = 1/24 <= 0.05
    ([0, 1, 3, 2], I),        # ρ = 0.8, p = 4/24 > 0.05: right sign, not significant at n = 4
    ([0, 1, 2, 3, 4], S), ([0, 1, 2, 4, 3], S),  # n = 5: ρ = 0.9, p = 5/120 <= 0.05
])  # fmt: skip
def test_c4_significance_walk_data(tmp_path, c4_cfg, order, expected):
    rec = c4_record(c4_paths(tmp_path, aligned(len(order), order=order)), c4_cfg)
    assert rec["verdict"] == expected, rec["explanation"]


@pytest.mark.parametrize("step, expected", [(-1, I), (0, S), (1, S)])
def test_c4_alpha_walk_config(tmp_path, c4_cfg, step, expected):
    """p <= α is inclusive: α set to the exact p = 1/24 of a perfect alignment over 4 datasets."""
    paths = c4_paths(tmp_path, aligned(4))
    p = spearman([0.5 + i / 32 for i in range(4)], [k / 4 for k in range(4)])["p_greater"]
    assert p == pytest.approx(1 / 24)
    alpha = {-1: np.nextafter(p, 0.0), 0: p, 1: np.nextafter(p, 1.0)}[step]
    rec = c4_record(paths, with_claims(c4_cfg, rank_correlation_alpha=float(alpha)))
    assert rec["verdict"] == expected, rec["explanation"]


@pytest.mark.parametrize("step, expected", [(-1, I), (0, I), (1, N)])
def test_c4_upper_bound_walk_config(tmp_path, c4_cfg, step, expected):
    """high < rank_correlation_min is exclusive: rank_correlation_min set to the bootstrap upper bound of
    an anti-aligned table and one ulp either side."""
    paths = c4_paths(tmp_path, aligned(8, order=[7, 6, 5, 3, 4, 2, 1, 0]))
    stats, _, high = c4_exact_stats(paths, c4_cfg)
    assert stats["rho"] < 0 and -1 <= high < 1
    rho_min = {-1: np.nextafter(high, -2.0), 0: high, 1: np.nextafter(high, 2.0)}[step]
    rec = c4_record(paths, with_claims(c4_cfg, rank_correlation_min=float(rho_min)))
    assert rec["verdict"] == expected, rec["explanation"]


C4_THRESHOLDS = {"rank_correlation_min": 0.3, "rank_correlation_alpha": 0.05, "paired_min_seeds": 3}


@pytest.mark.parametrize("rho, p, low, high, expected", [
    (0.5, 0.01, -1e-12, 0.9, I), (0.5, 0.01, 0.0, 0.9, I), (0.5, 0.01, 1e-12, 0.9, S),      # low > 0, exclusive
    (0.3 - 1e-12, 0.01, 0.1, 0.9, I), (0.3, 0.01, 0.1, 0.9, S), (0.3 + 1e-12, 0.01, 0.1, 0.9, S),  # ρ >= ρ_min
    (0.5, 0.05 + 1e-12, 0.1, 0.9, I), (0.5, 0.05, 0.1, 0.9, S), (0.5, 0.05 - 1e-12, 0.1, 0.9, S),  # p <= α
    (0.0, 0.5, -0.5, 0.3 - 1e-12, N), (0.0, 0.5, -0.5, 0.3, I), (0.0, 0.5, -0.5, 0.3 + 1e-12, I),  # high < ρ_min
    (math.nan, math.nan, math.nan, math.nan, I),
])  # fmt: skip
def test_c4_verdict_rule_walk(rho, p, low, high, expected):
    """The verdict rule alone, at n = 20: each of its four comparisons walked across its boundary."""
    stats = {"rho": rho, "p_greater": p}
    assert c4_verdict("causal", 20, 0, stats, low, high, 0.38, C4_THRESHOLDS)[0] == expected


@pytest.mark.parametrize("readout, n, expected", [("causal", 4, S), ("causal", 3, I), ("mean_pool", 20, I)])
def test_c4_verdict_rule_readout_and_n(readout, n, expected):
    stats = {"rho": 1.0, "p_greater": 0.001}
    assert c4_verdict(readout, n, 0, stats, 0.9, 1.0, 0.38, C4_THRESHOLDS)[0] == expected


def test_c4_constant_advantage_is_inconclusive(tmp_path, c4_cfg):
    datasets = [(0.5 + i / 32, [0.25, 0.25 + 1 / 64, 0.25 - 1 / 64]) for i in range(6)]
    rec = c4_record(c4_paths(tmp_path, datasets), c4_cfg)
    assert rec["verdict"] == I and rec["numbers"]["rho"] is None


# =============================================================================================
# C5
# =============================================================================================
def c5_paths(tmp_path, tasks: dict, stage_seconds=(1.0, 1.0)) -> dict:
    """table and curves: tasks {name: {"diffs", "speedups" (None: not reached), "learned", "continuity"}};
    every run's stage has epochs with ``stage_seconds`` after a first start-up epoch. The baseline's
    accuracy is 0.75, lowered where the difference would lift the subsampled one above 1 (accuracies
    stay in [0, 1]: C5 refuses others)."""
    rows, curves = [], []
    for task, spec in tasks.items():
        n = len(spec["diffs"])
        speedups = spec.get("speedups", [4.0] * n)
        learned = spec.get("learned", [True] * n)
        for seed, (d, v, ok) in enumerate(zip(spec["diffs"], speedups, learned)):
            rows.append({"task": task, "continuity": spec.get("continuity", "continuous"), "task_continuity": 0.99,
                         "seed": seed, "n_test": 1024, "learned": ok, "test_accuracy_difference": d,
                         "test_accuracy_subsampled": min(0.75, 1 - d) + d, "test_accuracy_baseline": min(0.75, 1 - d),
                         "majority_accuracy": 0.5,
                         "reached_baseline_best": "no" if v is None else "yes",
                         "speedup_to_reach_seconds": "not reached" if v is None else v})  # fmt: skip
            for mode in ("subsampled", "baseline"):
                for epoch, seconds in enumerate((5.0, *stage_seconds), start=1):
                    curves.append({"task": task, "mode": mode, "seed": seed, "stage": 0, "epoch": epoch,
                                   "epoch_seconds": seconds})  # fmt: skip
    return write(tmp_path, table=rows, curves=curves)


def c5_record(tmp_path, cfg, tasks, **kw) -> dict:
    paths = c5_paths(tmp_path, tasks, **kw)
    return evaluate_claim("C5", paths, with_c5_grid_of(cfg, paths))


def c5_task_of(rec, task="digits") -> tuple[str, str, str]:
    t = rec["details"]["tasks"][task]
    return t["accuracy"], rec["timing"]["tasks"][task]["speed"], t["verdict"]


ACC = spread4(-0.5, 0.125)  # mean −0.5, SE 1/8: mean ± 2 SE = −0.25 and −0.75


# --- accuracy: worse when mean + k·SE < −tol (strict), no worse when mean − k·SE >= −tol (inclusive) ---
@pytest.mark.parametrize("tol, expected", [
    (0.25 - 2**-10, ("worse", N)), (0.25, ("unresolved", I)), (0.25 + 2**-10, ("unresolved", I)),
    (0.75 - 2**-10, ("unresolved", I)), (0.75, ("no worse", S)), (0.75 + 2**-10, ("no worse", S)),
])  # fmt: skip
def test_c5_accuracy_tolerance_walk_config(tmp_path, quick_config, tol, expected):
    rec = c5_record(tmp_path, with_claims(quick_config, subsample_accuracy_tol=tol), {"digits": {"diffs": ACC}})
    accuracy, speed, verdict = c5_task_of(rec)
    assert (accuracy, verdict) == expected and speed == "faster" and rec["verdict"] == verdict


@pytest.mark.parametrize("mean, expected", [
    (-0.625, "worse"), (-0.5 - 2**-10, "worse"), (-0.5, "unresolved"),    # worse: mean + 1/4 < −1/4
    (-2**-10, "unresolved"), (0.0, "no worse"), (2**-10, "no worse"),     # no worse: mean − 1/4 >= −1/4
])  # fmt: skip
def test_c5_accuracy_walk_data(tmp_path, quick_config, mean, expected):
    """Data moves, tol = 1/4 (a binary-exact stand-in for the default 0.01), k = 2, SE = 1/8."""
    diffs = spread4(mean, 0.125)
    assert mean_and_stderr(diffs) == (mean, 0.125)
    rec = c5_record(tmp_path, with_claims(quick_config, subsample_accuracy_tol=0.25), {"digits": {"diffs": diffs}})
    assert c5_task_of(rec)[0] == expected


@pytest.mark.parametrize("k, tol, expected", [
    (1.99, 0.25, "worse"), (2.0, 0.25, "unresolved"), (2.01, 0.25, "unresolved"),     # −0.5 + k/8 < −1/4 iff k < 2
    (1.99, 0.75, "no worse"), (2.0, 0.75, "no worse"), (2.01, 0.75, "unresolved"),   # −0.5 − k/8 >= −3/4 iff k <= 2
])  # fmt: skip
def test_c5_se_factor_walk_config(tmp_path, quick_config, k, tol, expected):
    rec = c5_record(tmp_path, with_claims(quick_config, paired_se=k, subsample_accuracy_tol=tol), {"digits": {"diffs": ACC}})
    assert c5_task_of(rec)[0] == expected


# --- speed: faster when mean(ln s) − k·SE > ln(1 + m) (strict), slower when mean + k·SE < −ln(1 + m) --
@pytest.mark.parametrize("speedup, expected", [
    (1.2 * (1 + 1e-9), ("faster", S)), (1.2 * (1 - 1e-9), ("unresolved", I)), (1.0, ("unresolved", I)),
    (1 / 1.2 * (1 + 1e-9), ("unresolved", I)), (1 / 1.2 * (1 - 1e-9), ("slower", N)),
])  # fmt: skip
def test_c5_speed_walk_data(tmp_path, quick_config, speedup, expected):
    """Equal speed-ups on three seeds (SE 0); epoch times too short to measure noise, so m = 0.2."""
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [0.0] * 3, "speedups": [speedup] * 3}})
    assert rec["timing"]["margin"] == 0.2
    _, speed, verdict = c5_task_of(rec)
    assert (speed, verdict) == expected


@pytest.mark.parametrize("step, expected", [(-1, "unresolved"), (0, "unresolved"), (1, "faster")])
def test_c5_speed_rule_flips_at_one_ulp(step, expected):
    """The rule alone: mean ln speed-up exactly ln(1 + m) is not faster, one ulp more is."""
    bound = math.log1p(0.2)
    log_s = {-1: np.nextafter(bound, 0.0), 0: bound, 1: np.nextafter(bound, 1.0)}[step]
    assert c5_task_verdict([0.0, 0.0], [float(log_s)] * 2, 0.01, 2.0, 0.2)[2] == expected
    assert c5_task_verdict([0.0, 0.0], [-float(log_s)] * 2, 0.01, 2.0, 0.2)[2] == {"faster": "slower"}.get(expected, expected)


@pytest.mark.parametrize("reached, expected", [
    (0, ("slower", N)), (1, ("slower", N)), (2, ("unresolved", I)), (3, ("unresolved", I)), (4, ("faster", S)),
])  # fmt: skip
def test_c5_most_seeds_must_reach_the_target(tmp_path, quick_config, reached, expected):
    """Four seeds: fewer than half reaching the target is slower; half or more but not all is unresolved."""
    speedups = [4.0 if k < reached else None for k in range(4)]
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [0.0] * 4, "speedups": speedups}})
    _, speed, verdict = c5_task_of(rec)
    assert (speed, verdict) == expected


@pytest.mark.parametrize("noise, margin", [
    (math.nan, 0.2), (0.0, 0.05), (0.02, 0.05), (0.025, 0.05), (0.03, 0.06), (0.1, 0.2),
])  # fmt: skip
def test_timing_margin_walk(noise, margin):
    """m = max(0.05, 2σ), 0.2 when σ could not be measured."""
    assert timing_margin(noise) == pytest.approx(margin, abs=1e-15)


@pytest.mark.parametrize("spread, margin, speedup, expected", [
    (0.1, 0.2, 1.2 * (1 + 1e-6), "faster"), (0.1, 0.2, 1.2 * (1 - 1e-6), "unresolved"),
    (0.04, 0.08, 1.08 * (1 + 1e-6), "faster"), (0.04, 0.08, 1.08 * (1 - 1e-6), "unresolved"),
    (0.01, 0.05, 1.05 * (1 + 1e-6), "faster"), (0.01, 0.05, 1.05 * (1 - 1e-6), "unresolved"),  # 2σ below the floor
])  # fmt: skip
def test_c5_margin_from_the_measured_noise(tmp_path, quick_config, spread, margin, speedup, expected):
    """Epoch times 1 − e, 1, 1 + e within a stage: σ = e, m = max(0.05, 2e), and the speed boundary moves with it."""
    rec = c5_record(tmp_path, quick_config, {"digits": {"diffs": [0.0] * 3, "speedups": [speedup] * 3}},
                    stage_seconds=(1 - spread, 1.0, 1 + spread))  # fmt: skip
    assert rec["timing"]["margin"] == pytest.approx(margin, rel=1e-9)
    assert c5_task_of(rec)[1] == expected


@pytest.mark.parametrize("min_seeds, learned, expected", [
    (3, [True, True, False], I), (3, [True, True, True], S), (3, [True, True, True, False], S),
    (4, [True, True, True], I), (2, [True, True, False], S),
])  # fmt: skip
def test_c5_paired_min_seeds_walk(tmp_path, quick_config, min_seeds, learned, expected):
    """Only seeds where both runs learned count; a task needs paired_min_seeds of them."""
    n = len(learned)
    rec = c5_record(tmp_path, with_claims(quick_config, paired_min_seeds=min_seeds),
                    {"digits": {"diffs": [0.0] * n, "learned": learned}})  # fmt: skip
    assert c5_task_of(rec)[2] == expected and rec["verdict"] == expected


@pytest.mark.parametrize("verdicts, expected", [
    ({"a": S, "b": S}, S), ({"a": S, "b": N}, N), ({"a": S, "b": I}, I), ({"a": I, "b": N}, N),
    ({"a": S, "b_discrete": N}, S),    # a discrete task is reported for contrast only
    ({"a_discrete": S}, I),            # no continuous task: inconclusive
])  # fmt: skip
def test_c5_combines_continuous_tasks(tmp_path, quick_config, verdicts, expected):
    spec = {S: {"diffs": [0.0] * 3}, N: {"diffs": [-0.5] * 3}, I: {"diffs": [0.0] * 3, "learned": [True, True, False]}}
    tasks = {t: {**spec[v], "continuity": "discrete" if t.endswith("discrete") else "continuous"} for t, v in verdicts.items()}
    rec = c5_record(tmp_path, quick_config, tasks)
    assert rec["verdict"] == expected
    assert {t: rec["details"]["tasks"][t]["verdict"] for t in tasks} == verdicts
