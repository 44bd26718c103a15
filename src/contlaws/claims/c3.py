"""C3: task continuity orders the continuity levels of the E3 family."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.registry import (
    ETA_RANGE,
    NONNEGATIVE,
    TC_RANGE,
    claim,
    combine,
    inconclusive_for_non_finite,
    non_finite,
    read_csv_input,
    rounded,
)
from contlaws.config import fmt_num
from contlaws.errors import DataFileError
from contlaws.table_checks import drop_exact_duplicates


# ---------------------------------------------------------------------------------------------
# C3
# ---------------------------------------------------------------------------------------------
def eta_family_tc(tc: pd.DataFrame) -> dict[str, pd.Series]:
    """Per system of the E3 family: TC indexed by increasing η (rows ``family == "forecasting"``)."""
    rows = tc[tc["family"] == "forecasting"]
    return {system: group.set_index("eta")["tc"].sort_index() for system, group in rows.groupby("system", sort=False)}


@claim(
    "C3",
    "Task continuity can be measured directly from a dataset's temporal structure: the score orders the "
    "continuity levels of the E3 family and separates smooth from symbolic data.",
    inputs=("task_continuity",),
)
def evaluate_c3(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C3: on the E3 family obs = (1 − η)·cont + η·disc, TC falls with η and TC(0) − TC(1) is large.

    (a) For every system, TC decreases at every step of the η grid by more than ``claims.c3_se``
        combined standard errors sqrt(SE_k² + SE_{k+1}²) (needs at least two η); a family whose η adds
        no discontinuity (flat TC) or whose order is shuffled fails it.
    (b) For every system, TC(η = 0) − TC(η = 1) ≥ ``claims.tc_separation_min`` (needs both ends).
    The smallest step between neighbouring η is reported in units of its standard error, to show
    whether the ordering is resolved beyond sampling noise.
    """
    sep_min = float(cfg["claims"]["tc_separation_min"])
    n_se = float(cfg["claims"]["c3_se"])
    tc, problems = read_c3_inputs(inputs)
    tc_metric = check_tc_metric(inputs, tc, cfg)
    if problems:
        return inconclusive_for_non_finite(problems, {"tc_separation_min": sep_min, "c3_se": n_se})
    family = eta_family_tc(tc)
    stderr = tc[tc["family"] == "forecasting"].set_index(["system", "eta"])["tc_stderr"]

    per_system, steps, separations = c3_per_system(family, stderr, n_se)
    part_a, part_b = c3_part_a_ordering(family, per_system), c3_part_b_separation(family, separations, sep_min)
    verdict = combine([part_a, part_b])
    missing = missing_grid_points(family, cfg)
    if missing:  # an incomplete grid cannot show an ordering over the grid, whatever the rows present say
        verdict = "inconclusive"

    benchmarks = tc[tc["family"] != "forecasting"]
    numbers = c3_numbers(family, per_system, steps, separations, part_a, part_b)
    numbers["missing_grid_points"] = len(missing)
    details = {"tc_metric": tc_metric, "eta_family": per_system, "other_datasets": {r.dataset: rounded(r.tc, 6) for r in benchmarks.itertuples()},
               "missing_grid_points": missing}  # fmt: skip
    lacking = (f"Inconclusive: the table lacks {len(missing)} point(s) of the E3 grid (eta_performance.systems x "
               f"forecasting.etas): {', '.join(missing)}; rerun `snakemake task_continuity`. The parts below use "
               "the rows present. ") if missing else ""  # fmt: skip
    explanation = lacking + (
        f"(a) On the E3 family obs = (1 - eta) cont + eta disc, TC must fall at every step of the eta grid by more "
        f"than {n_se:g} combined standard errors "
        f"for every system ({numbers['systems']} systems, {numbers['etas_per_system']} eta values): {part_a} "
        f"(smallest drop {numbers['smallest_drop']}). (b) TC(eta=0) - TC(eta=1) must be >= {sep_min} for every "
        f"system: {part_b} (smallest separation {numbers['separation_min']}; TC(eta=0) >= {numbers['tc_eta0_min']}, "
        f"TC(eta=1) <= {numbers['tc_eta1_max']}). Verdict: {verdict}."
    )
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": {"tc_separation_min": sep_min, "c3_se": n_se}}  # fmt: skip


def check_tc_metric(inputs: Mapping[str, Path], tc: pd.DataFrame, cfg: Mapping[str, Any]) -> str:
    """The task-continuity metric of this run (``task_continuity.metric``: refinement or first_difference);
    DataFileError when the table's ``metric`` column names another one (a table scored under other settings)."""
    metric = str(cfg["task_continuity"]["metric"])
    if "metric" in tc.columns:
        found = sorted({str(m) for m in tc["metric"].dropna()} - {metric})
        if found:
            raise DataFileError(f"{inputs['task_continuity']} (input 'task_continuity'): metric column holds "
                                f"{', '.join(found)}, but task_continuity.metric = {metric!r}; rescore the datasets "
                                f"with this config")  # fmt: skip
    return metric


def missing_grid_points(family: Mapping[str, pd.Series], cfg: Mapping[str, Any]) -> list[str]:
    """The (system, η) of the run's E3 grid (``eta_performance.systems`` × ``forecasting.etas``, the
    datasets the pipeline scores) without a TC row, as ``vdp eta=0.5``."""
    out = []
    for system in cfg["eta_performance"]["systems"]:
        present = family[system].index.to_numpy(dtype=float) if system in family else np.array([])
        out += [f"{system} eta={fmt_num(eta)}" for eta in cfg["forecasting"]["etas"] if not np.isclose(present, float(eta)).any()]
    return out


def read_c3_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, list]:
    """The task-continuity table and the non-finite values found in it."""
    tc = read_csv_input(inputs, "task_continuity", ["family", "dataset", "system", "eta", "tc", "tc_stderr"],
                        ranges={"tc": TC_RANGE, "tc_stderr": NONNEGATIVE, "eta": ETA_RANGE}, key=["family", "dataset"])  # fmt: skip
    in_family = tc["family"] == "forecasting"
    # two datasets scored as the same (system, eta) of the family: which TC counts is unknown
    tc = drop_exact_duplicates(tc, Path(inputs["task_continuity"]), "input 'task_continuity'", ["family", "system", "eta"],
                               where=in_family)  # fmt: skip
    in_family = tc["family"] == "forecasting"
    problems = [p for p in (
        non_finite(inputs, "task_continuity", tc, "tc"),
        non_finite(inputs, "task_continuity", tc, "eta", where=in_family),
        # A standard error is NaN when a single sequence was scored (no spread); never infinite.
        non_finite(inputs, "task_continuity", tc, "tc_stderr", where=in_family, nan_ok=pd.Series(True, index=tc.index)),
    ) if p]  # fmt: skip
    return tc, problems


def c3_per_system(family: Mapping[str, pd.Series], stderr: pd.Series, n_se: float) -> tuple[dict, list, list]:
    """Per system: TC per η, whether it falls at every step beyond ``n_se`` combined standard errors,
    the smallest drop, the separation TC(0) − TC(1); with all drops and all separations."""
    per_system, steps, separations = {}, [], []
    for system, series in family.items():
        etas, values = series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)
        drops = -np.diff(values)  # TC(η_k) − TC(η_{k+1}), > 0 when decreasing
        noise = np.hypot(stderr[system].reindex(etas[:-1]).to_numpy(), stderr[system].reindex(etas[1:]).to_numpy())
        ends = bool(np.isclose(etas, 0.0).any() and np.isclose(etas, 1.0).any())
        separation = float(values[np.isclose(etas, 0.0)][0] - values[np.isclose(etas, 1.0)][0]) if ends else math.nan
        per_system[system] = {
            "tc": {f"{e:g}": rounded(v, 6) for e, v in zip(etas, values)},
            "strictly_decreasing": bool(len(values) >= 2 and np.all(drops > np.nan_to_num(n_se * noise, nan=0.0))),
            "smallest_drop": rounded(drops.min(), 6) if len(drops) else None,
            "smallest_drop_in_stderr": rounded((drops / noise).min(), 2) if len(drops) and np.all(noise > 0) else None,
            "separation": rounded(separation, 6),
        }
        steps += list(drops)
        if ends:
            separations.append(separation)
    return per_system, steps, separations


def c3_part_a_ordering(family: Mapping[str, pd.Series], per_system: Mapping[str, dict]) -> str:
    """(a) TC falls at every η step on every system (needs at least two η per system)."""
    enough_etas = bool(family) and all(len(s) >= 2 for s in family.values())
    if not enough_etas:
        part_a = "inconclusive"
    else:
        part_a = "supported" if all(v["strictly_decreasing"] for v in per_system.values()) else "not supported"
    return part_a


def c3_part_b_separation(family: Mapping[str, pd.Series], separations: list, sep_min: float) -> str:
    """(b) TC(η = 0) − TC(η = 1) ≥ ``sep_min`` on every system (needs both ends on the grid)."""
    if not family or len(separations) < len(family):
        part_b = "inconclusive"  # η = 0 or η = 1 not on the grid for some system
    else:
        part_b = "supported" if min(separations) >= sep_min else "not supported"
    return part_b


def c3_numbers(family: Mapping[str, pd.Series], per_system: Mapping[str, dict], steps: list, separations: list,
               part_a: str, part_b: str) -> dict:  # fmt: skip
    """The headline numbers of C3 (in the claim file's order)."""

    def tc_at(eta: float) -> list[float]:
        # Only systems with this η on their grid: a system may lack an end (then (b) is inconclusive).
        return [float(s[np.isclose(s.index, eta)].iloc[0]) for s in family.values() if np.isclose(s.index, eta).any()]

    return {
        "systems": len(family),
        "etas_per_system": min((len(s) for s in family.values()), default=0),
        "all_strictly_decreasing": all(v["strictly_decreasing"] for v in per_system.values()) if per_system else None,
        "smallest_drop": rounded(min(steps), 6) if steps else None,
        "separation_min": rounded(min(separations), 6) if separations else None,
        "tc_eta0_min": rounded(min(tc_at(0.0)), 6) if separations else None,
        "tc_eta1_max": rounded(max(tc_at(1.0)), 6) if separations else None,
        "part_a_ordering": part_a,
        "part_b_separation": part_b,
    }
