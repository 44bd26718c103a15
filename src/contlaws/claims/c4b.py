"""C4(b): the alignment claim across real classification benchmarks (Spearman ρ over tasks, bootstrap).

The same test and thresholds as C4(a) (:mod:`contlaws.claims.c4`), on the tables of
:mod:`contlaws.experiments.alignment_benchmarks`: one point per task (TC, A), A the seed-mean of
A_s = ln(err_ref,s / err_S4D,s). Registered as its own verdict, C4b, so the claims table shows the
synthetic (C4) and the real-benchmark (C4b) test apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.c4 import C4_MIN_N, SEED_MODEL, c4_power, c4_verdict
from contlaws.claims.registry import (
    ACCURACY,
    ANY_SIZE,
    NONNEGATIVE,
    TC_RANGE,
    claim,
    inconclusive_for_non_finite,
    non_finite,
    read_csv_input,
    rounded,
)
from contlaws.errors import DataFileError
from contlaws.stats import bootstrap_rho, critical_rho, spearman

ALIGNMENT_COLUMNS = ["task", "tc", "reference_model", "advantage_s4d", "advantage_s4d_se", "n_seeds_s4d",
                     "advantage_s6", "all_learned", "note"]  # fmt: skip
SEED_COLUMNS = ["task", "model", "seed", "advantage"]
# What each column of the two tables can hold (optional columns are checked when present); an error
# is a test error rate, a fraction in [0, 1] like an accuracy.
ALIGNMENT_RANGES = {"tc": TC_RANGE, "tc_stderr": NONNEGATIVE, "advantage_s4d": ANY_SIZE,
                    "advantage_s4d_se": NONNEGATIVE, "n_seeds_s4d": NONNEGATIVE, "advantage_s6": ANY_SIZE,
                    "advantage_s6_se": NONNEGATIVE, "error_s4d": ACCURACY, "error_reference": ACCURACY}  # fmt: skip
SEED_RANGES = {"seed": NONNEGATIVE, "error_reference": ACCURACY, "error_model": ACCURACY, "advantage": ANY_SIZE}


@claim(
    "C4b",
    "Task continuity aligns with performance across real benchmarks: over classification tasks from token streams "
    "to smooth signals, the more continuous the task, the larger the advantage of S4D over attention baselines.",
    inputs=("alignment", "advantages_by_seed"),
)
def evaluate_c4b(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C4(b): Spearman ρ between TC and A = ln(err_ref / err_S4D) over the real tasks.

    A task counts when every run of every model passed its learning gate (``all_learned``) and S4D
    pairs with the attention reference on at least ``claims.paired_min_seeds`` seeds. ρ, its
    two-level bootstrap interval (tasks, then seeds) and the verdict rule are those of C4(a)
    (:func:`contlaws.claims.c4.c4_verdict`): supported when ρ ≥ ``claims.rank_correlation_min``, ρ > 0
    significant at α and the bootstrap lower bound above 0; not supported when the upper bound is
    below ``rank_correlation_min``; inconclusive otherwise (fewer than 4 tasks included among them).
    """
    claims_cfg = cfg["claims"]
    thresholds = {"rank_correlation_min": float(claims_cfg["rank_correlation_min"]),
                  "rank_correlation_alpha": float(claims_cfg["rank_correlation_alpha"]),
                  "paired_min_seeds": int(claims_cfg["paired_min_seeds"]),
                  "bootstrap_samples": int(claims_cfg["bootstrap_samples"])}  # fmt: skip
    alpha = thresholds["rank_correlation_alpha"]
    table, seeds = read_c4b_inputs(inputs)
    problems = c4b_non_finite(inputs, table, seeds)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    missing = c4b_missing_grid_points(inputs, table, seeds, cfg["alignment_benchmarks"])
    usable, excluded = usable_tasks(table, thresholds["paired_min_seeds"])
    n = len(usable)
    stats = spearman(usable["tc"], usable["advantage_s4d"])
    contrast = spearman(usable["tc"], usable["advantage_s6"]) if usable["advantage_s6"].notna().all() else {"rho": math.nan}
    boot, low, high = task_bootstrap(usable, seeds, thresholds["bootstrap_samples"], alpha, int(cfg["seed"]))
    needed = critical_rho(n, alpha) if n >= 3 else math.nan
    # the references are order-aware (positions, causal): the readout caveat of C4(a) does not apply
    verdict, why = c4_verdict("causal", n, len(excluded), stats, low, high, needed, thresholds)
    outcome = f"{verdict.capitalize()}: {why}"
    if missing:  # a correlation over part of the tasks is not the run's correlation, whatever it says
        outcome = f"On the rows present the rule gives {verdict} ({why}), but the grid is incomplete: inconclusive"
        verdict = "inconclusive"
    numbers = {
        "rho": rounded(stats["rho"]), "rho_bootstrap_low": rounded(low), "rho_bootstrap_high": rounded(high),
        "p_one_sided": rounded(stats["p_greater"]), "n": n, "n_excluded": len(excluded),
        "rho_needed_for_significance": rounded(needed), "p_method": stats["method"],
        "rho_s6_for_contrast": rounded(contrast["rho"]), "missing_grid_points": len(missing),
    }  # fmt: skip
    details = {
        "tasks": {r.task: {"tc": rounded(r.tc, 6), "advantage_s4d": rounded(r.advantage_s4d),
                           "advantage_s4d_se": rounded(r.advantage_s4d_se), "paired_seeds": int(r.n_seeds_s4d),
                           "reference": r.reference_model} for r in usable.itertuples()},
        "excluded": excluded,
        "bootstrap": {"replicates": len(boot), "requested": thresholds["bootstrap_samples"],
                      "levels": [alpha, 1 - alpha]},
        "missing_grid_points": missing,
    }  # fmt: skip
    lacking = (f"Inconclusive: the alignment tables lack {len(missing)} point(s) of the C4(b) grid "
               f"(alignment_benchmarks.tasks, and the {SEED_MODEL} seeds of alignment_benchmarks.seeds on each task): "
               f"{', '.join(missing)}; rerun `snakemake alignment_benchmarks`. The numbers below use the rows present. "
               ) if missing else ""  # fmt: skip
    explanation = lacking + (
        f"Spearman rho between TC and the advantage A = ln(err_ref / err_S4D) of S4D over the best order-aware "
        f"attention baseline (paired by seed), over {n} real classification tasks where every model passed its "
        f"learning gate on every seed ({len(excluded)} excluded: {', '.join(excluded) or 'none'}): rho = {numbers['rho']}, "
        f"bootstrap {1 - 2 * alpha:.0%} interval [{numbers['rho_bootstrap_low']}, {numbers['rho_bootstrap_high']}], "
        f"one-sided p = {numbers['p_one_sided']} ({stats['method']}). {outcome}. "
        f"S6 for contrast: rho = {numbers['rho_s6_for_contrast']}."
    )
    power_numbers, power_text = c4_power(verdict, n, len(table), stats["rho"], thresholds["rank_correlation_min"],
                                         alpha, unit="tasks")  # fmt: skip
    numbers.update(power_numbers)
    explanation += power_text
    return {"verdict": verdict, "numbers": numbers, "details": details, "explanation": explanation,
            "thresholds": thresholds}  # fmt: skip


def read_c4b_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The alignment table (one row per task) and the advantages per seed, checked: impossible values,
    a non-boolean ``all_learned`` and rows that repeat a key are refused (naming file, line, column)."""
    table = read_csv_input(inputs, "alignment", ALIGNMENT_COLUMNS, ranges=ALIGNMENT_RANGES, flags=["all_learned"],
                           key=["task"])  # fmt: skip
    seeds = read_csv_input(inputs, "advantages_by_seed", SEED_COLUMNS, ranges=SEED_RANGES,
                           key=["task", "model", "seed"])  # fmt: skip
    return table, seeds


def c4b_missing_grid_points(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame,
                            section: Mapping[str, Any]) -> list[str]:  # fmt: skip
    """The points of the run's C4(b) grid the tables lack: a task of ``alignment_benchmarks.tasks``
    without an alignment row (``digits``), and per task a seed of ``alignment_benchmarks.seeds`` without
    a per-seed row of :data:`SEED_MODEL` (``digits s4d seed=2``). Every seed pairs here (the gate
    decides whether a task counts, not whether a seed pairs), so every run seed is expected.
    DataFileError when the per-seed table holds more seeds of a task than its row counts."""
    present_tasks = set(table["task"].astype(str))
    out = [str(task) for task in section["tasks"] if str(task) not in present_tasks]
    model_rows = seeds[seeds["model"] == SEED_MODEL]
    run_seeds = [int(s) for s in section["seeds"]]
    for line, r in table.iterrows():
        here = model_rows[model_rows["task"].astype(str) == str(r["task"])]
        present, counted = sorted(int(s) for s in here["seed"]), int(r["n_seeds_s4d"])
        if len(present) > counted:
            raise DataFileError(
                f"{inputs['advantages_by_seed']} (input 'advantages_by_seed'): {len(present)} {SEED_MODEL} seed(s) for "
                f"task={r['task']} (lines {', '.join(str(i + 2) for i in here.index)}), but {inputs['alignment']} "
                f"(input 'alignment') line {line + 2} counts n_seeds_s4d = {counted}; the tables are not from the "
                "same run (rerun `snakemake alignment_benchmarks`)"
            )  # fmt: skip
        out += [f"{r['task']} {SEED_MODEL} seed={s}" for s in run_seeds if s not in present]
    return out


def c4b_non_finite(inputs: Mapping[str, Path], table: pd.DataFrame, seeds: pd.DataFrame) -> list:
    """Non-finite values beyond those by design (A where no seed paired, its SE below two seeds)."""
    paired = pd.to_numeric(table["n_seeds_s4d"], errors="coerce")
    return [p for p in (
        non_finite(inputs, "alignment", table, "tc"),
        non_finite(inputs, "alignment", table, "n_seeds_s4d"),
        non_finite(inputs, "alignment", table, "advantage_s4d", nan_ok=paired < 1),
        non_finite(inputs, "alignment", table, "advantage_s4d_se", nan_ok=paired < 2),
        non_finite(inputs, "alignment", table, "advantage_s6", nan_ok=pd.Series(True, index=table.index)),
        non_finite(inputs, "advantages_by_seed", seeds, "seed"),
        non_finite(inputs, "advantages_by_seed", seeds, "advantage"),
    ) if p]  # fmt: skip


def usable_tasks(table: pd.DataFrame, min_seeds: int) -> tuple[pd.DataFrame, dict]:
    """(tasks that count, {task: why it is left out}): every run learned and enough paired seeds."""
    table = table.copy()
    table["note"] = table["note"].astype("string").fillna("")
    learned = table["all_learned"].astype(bool)  # read as booleans (read_c4b_inputs)
    enough = pd.to_numeric(table["n_seeds_s4d"]) >= min_seeds
    finite = np.isfinite(table["tc"].astype(float)) & np.isfinite(table["advantage_s4d"].astype(float))
    keep = learned & enough & finite
    excluded = {}
    for r in table[~keep].itertuples():
        reasons = [r.note if not learned[r.Index] else "",
                   "" if enough[r.Index] else f"{int(r.n_seeds_s4d)} paired seed(s), {min_seeds} needed"]
        excluded[r.task] = "; ".join(filter(None, reasons)) or "no finite advantage"
    return table[keep].reset_index(drop=True), excluded


def task_bootstrap(usable: pd.DataFrame, seeds: pd.DataFrame, n_boot: int, alpha: float, seed: int
                   ) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Two-level bootstrap replicates of ρ (tasks, then S4D's seeds within a task) and their α, 1 − α quantiles."""
    s4d = seeds[seeds["model"] == "s4d"]
    per_task = [s4d[s4d["task"] == t]["advantage"].to_numpy(dtype=float) for t in usable["task"]]
    if len(usable) < C4_MIN_N:
        return np.array([]), math.nan, math.nan
    boot = bootstrap_rho(usable["tc"].to_numpy(dtype=float), per_task, n_boot, seed)
    if not len(boot):
        return boot, math.nan, math.nan
    return boot, float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))
