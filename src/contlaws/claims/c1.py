"""C1: model continuity is convergence under temporal refinement, and S4 is continuous."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.measures import amplitude_growth, continuity_summary, nominal_s4_order
from contlaws.claims.power import paired_power, paired_power_text
from contlaws.claims.registry import (
    ANY_SIZE,
    NONNEGATIVE,
    POSITIVE,
    claim,
    combine,
    inconclusive_for_non_finite,
    non_finite,
    pair_key,
    read_csv_input,
    read_sweep,
    rounded,
)


# ---------------------------------------------------------------------------------------------
# C1
# ---------------------------------------------------------------------------------------------
@claim(
    "C1",
    "Model continuity is convergence under temporal refinement, and S4 is continuous.",
    inputs=("model_continuity", "amplitude_sweep", "numerical_orders"),
)
def evaluate_c1(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C1: trained S4D outputs converge as τ → 0, whatever the input amplitude; discretized S4 converges at its nominal order.

    Only runs that passed the E2 learning gate (column ``learned``) count; a (system,
    discretization) with fewer than ``claims.min_learned_runs`` of them is inconclusive.

    (a) E2 trained S4D, every system and discretization: the seed-mean d(τ) falls at every step down
        in τ ≤ 1 and the fitted order p (log-log slope of the successive differences over ≥ 3
        levels) is ≥ ``claims.s4_order_min``; inconclusive when no order could be fitted.
    (b) E1, every discretization and amplitude: |p_S4 − nominal| ≤ ``claims.s4_numerical_order_tol``
        for the orders of both error measures; nominal is set by the input hold (:func:`nominal_s4_order`).
    (c) E2 amplitude sweep: trained S4D's d at the finest compared level grows at most like a^q,
        q = ``claims.s4d_amplitude_exponent_max``, with the input amplitude a (:func:`amplitude_growth`),
        on every system and discretization.
    """
    thr = cfg["claims"]
    order_min, tol = float(thr["s4_order_min"]), float(thr["s4_numerical_order_tol"])
    exponent_max, min_runs = float(thr["s4d_amplitude_exponent_max"]), int(thr["min_learned_runs"])
    hold = cfg["refinement_numerical"]["input_hold"]
    nominal = nominal_s4_order(hold)

    thresholds = {"s4_order_min": order_min, "s4_numerical_order_tol": tol,
                  "s4d_amplitude_exponent_max": exponent_max, "min_learned_runs": min_runs}  # fmt: skip

    continuity, orders, sweep, problems = read_c1_inputs(inputs)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)

    trained, excluded, per_pair_a, part_a = c1_part_a_trained(continuity, order_min, min_runs)
    numerical, deviation, part_b = c1_part_b_numerical(orders, nominal, tol)
    growth, part_c = c1_part_c_amplitude(sweep, exponent_max, min_runs)

    verdict = combine([part_a, part_b, part_c])
    s6 = continuity_summary(continuity, "s6", min_runs)
    s6_growth = amplitude_growth(sweep, "s6", min_runs)
    numbers = c1_numbers(trained, growth, s6, s6_growth, deviation, nominal, min_runs, (part_a, part_b, part_c))
    details = {"e1_input_hold": hold, "e2_s4d": trained, "e2_s4d_parts": per_pair_a, "e2_s4d_amplitude": growth,
               "e2_excluded_not_learned": excluded,
               "e2_s6_for_contrast": s6, "e2_s6_amplitude_for_contrast": s6_growth,
               "e1_s4_orders_max_error_rmse": numerical}  # fmt: skip
    why_a = "; ".join(f"{k}: {v['why']}" for k, v in trained.items() if v.get("why")) or "none"
    if not per_pair_a:
        why_a += " (no S4D system/discretization with enough learned runs)"
    explanation = (
        f"Only runs that passed the E2 learning gate count ({numbers['e2_s4d_learned_pairs']} S4D system/discretization "
        f"pairs with >= {min_runs} learned run(s)). (a) Trained S4D (E2): d(tau) must fall at every refinement step tau "
        f"<= 1 and its fitted order (slope of the successive differences over >= 3 levels) be >= {order_min} on every "
        f"system and discretization: {part_a} (smallest order {numbers['e2_s4d_order_min']}; missing: {why_a}). "
        f"(b) Discretized S4 (E1): convergence orders must be within {tol} of {nominal} (the order of the "
        f"'{hold}' input hold, for ZOH and bilinear alike) at every amplitude: {part_b} "
        f"(largest deviation {numbers['e1_s4_order_max_deviation']}). (c) Amplitude sweep (E2, evaluation only): "
        f"S4D's d at the finest compared tau may grow at most like a^{exponent_max} with the input amplitude a (log-log slope over the "
        f"swept amplitudes): {part_c} (largest exponent {numbers['e2_s4d_amplitude_exponent_max']}; S6 for contrast "
        f"{numbers['e2_s6_amplitude_exponent_for_contrast']}). Verdict: {verdict}."
    )
    if part_c != "supported":
        power = c1_power_c(growth, exponent_max, float(thr["paired_se"]), min_runs)
        numbers.update(power)
        explanation += f" Power: {power['power']}."
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}


def read_c1_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list]:
    """The three tables of C1 and the non-finite values found in them (an order is NaN by design when
    it could not be fitted, and then ``order_note`` says why)."""
    run = ["system", "model", "discretization", "seed"]
    continuity = read_csv_input(inputs, "model_continuity", [*run, "tau", "d", "order", "learned"],
                                ranges={"tau": POSITIVE, "d": NONNEGATIVE, "order": ANY_SIZE}, flags=["learned"],
                                key=[*run, "tau"])  # fmt: skip
    orders = read_csv_input(inputs, "numerical_orders", ["model", "discretization", "amplitude", "order_max_error", "order_rmse"],
                            ranges={"amplitude": POSITIVE, "order_max_error": ANY_SIZE, "order_rmse": ANY_SIZE},
                            key=["model", "discretization", "amplitude"])  # fmt: skip
    sweep = read_sweep(inputs)
    order_explained = continuity["order_note"].astype("string").fillna("").str.strip() != "" if "order_note" in continuity \
        else pd.Series(False, index=continuity.index)  # fmt: skip
    problems = [p for p in (
        non_finite(inputs, "model_continuity", continuity, "tau"),
        non_finite(inputs, "model_continuity", continuity, "d"),
        non_finite(inputs, "model_continuity", continuity, "order", nan_ok=order_explained),
        non_finite(inputs, "numerical_orders", orders, "amplitude"),
        non_finite(inputs, "numerical_orders", orders, "order_max_error"),
        non_finite(inputs, "numerical_orders", orders, "order_rmse"),
        non_finite(inputs, "amplitude_sweep", sweep, "amplitude"),
        non_finite(inputs, "amplitude_sweep", sweep, "tau"),
        non_finite(inputs, "amplitude_sweep", sweep, "d"),
    ) if p]  # fmt: skip
    return continuity, orders, sweep, problems


def c1_part_a_trained(continuity: pd.DataFrame, order_min: float, min_runs: int) -> tuple[dict, dict, dict, str]:
    """(a) trained S4D: (summary per pair, excluded pairs and why, verdict per pair, verdict)."""
    trained = continuity_summary(continuity, "s4d", min_runs)
    # Pairs (system, discretization) without enough learned runs carry no evidence: left out, listed.
    excluded = {k: v["why"] for k, v in trained.items() if v["runs"] < min_runs}
    per_pair_a = {}
    for key, v in trained.items():
        if key in excluded:
            continue
        if v["order"] is None:
            per_pair_a[key] = "inconclusive"
        else:
            per_pair_a[key] = "supported" if v["decreasing"] and v["order"] >= order_min else "not supported"
    part_a = combine(list(per_pair_a.values())) if per_pair_a else "inconclusive"
    return trained, excluded, per_pair_a, part_a


def c1_part_b_numerical(orders: pd.DataFrame, nominal: float, tol: float) -> tuple[dict, float, str]:
    """(b) discretized S4 (E1): (orders per discretization and amplitude, largest deviation, verdict)."""
    s4 = orders[orders["model"] == "s4"]
    numerical = {
        pair_key(r.discretization, f"a={r.amplitude:g}"): [rounded(r.order_max_error), rounded(r.order_rmse)] for r in s4.itertuples()
    }
    deviation = float(np.abs(s4[["order_max_error", "order_rmse"]].to_numpy() - nominal).max()) if len(s4) else math.nan
    part_b = "inconclusive" if not len(s4) else ("supported" if deviation <= tol else "not supported")
    return numerical, deviation, part_b


def c1_part_c_amplitude(sweep: pd.DataFrame, exponent_max: float, min_runs: int) -> tuple[dict, str]:
    """(c) amplitude sweep of trained S4D: (growth per pair, verdict)."""
    growth = amplitude_growth(sweep, "s4d", min_runs)
    per_pair_c = {k: "inconclusive" if v["exponent"] is None else
                  ("supported" if v["exponent"] <= exponent_max else "not supported")
                  for k, v in growth.items() if v["runs"] >= min_runs}  # fmt: skip
    part_c = combine(list(per_pair_c.values())) if per_pair_c else "inconclusive"
    return growth, part_c


def c1_power_c(growth: dict, exponent_max: float, se_factor: float, min_runs: int) -> dict:
    """Power beside part (c) when it is not supported (docs/claims.md, "Power"): the exponent distance
    from ``exponent_max`` that the seeds resolve (k SE of the exponent over seeds, k =
    ``claims.paired_se``) and the seeds that would resolve the pairs they do not."""
    items = [(v["exponent"] - exponent_max, v["exponent_se"], v["runs"]) for v in growth.values() if v["exponent"] is not None]
    power = paired_power(items, se_factor, max(2, min_runs))
    return {"power_c_exponent_resolvable": rounded(power["resolvable"]), "power_c_seeds_needed": power["seeds_needed"],
            "power": "(c) " + paired_power_text(power, f"an exponent distance from {exponent_max:g}", "pair")}  # fmt: skip


def c1_numbers(trained: dict, growth: dict, s6: dict, s6_growth: dict, deviation: float, nominal: float,
               min_runs: int, parts: tuple[str, str, str]) -> dict:  # fmt: skip
    """The headline numbers of C1 (in the claim file's order)."""
    part_a, part_b, part_c = parts
    s4_orders = [v["order"] for v in trained.values() if v["order"] is not None]
    s4_exponents = [v["exponent"] for v in growth.values() if v["exponent"] is not None]
    learned_pairs = sum(v["runs"] >= min_runs for v in trained.values())
    return {
        "e2_s4d_learned_pairs": f"{learned_pairs} of {len(trained)}",
        "e2_s4d_order_min": rounded(min(s4_orders)) if s4_orders else None,
        "e2_s4d_all_decreasing": all(bool(v["decreasing"]) for v in trained.values()) if trained else None,
        "e2_s4d_d_tau1_max": rounded(max((v["d"].get("1", math.nan) for v in trained.values() if v["d"]), default=math.nan), 6),
        "e2_s4d_amplitude_exponent_max": rounded(max(s4_exponents)) if s4_exponents else None,
        "e2_s6_amplitude_exponent_for_contrast": rounded(min((v["exponent"] for v in s6_growth.values() if v["exponent"] is not None),
                                                        default=math.nan)),
        "e2_s6_order_min_for_contrast": rounded(min((v["order"] for v in s6.values() if v["order"] is not None), default=math.nan)),
        "e1_s4_order_max_deviation": rounded(deviation),
        "e1_s4_nominal_order": nominal,
        "part_a_trained": part_a,
        "part_b_numerical": part_b,
        "part_c_amplitude": part_c,
    }
