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
