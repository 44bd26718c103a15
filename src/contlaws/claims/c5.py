"""C5: coarse-to-fine subsampled training on continuous tasks (E5)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.claims.power import binomial_difference_se, paired_power, paired_power_text
from contlaws.claims.registry import (
    ACCURACY,
    ACCURACY_DIFFERENCE,
    SECONDS,
    SPEEDUP,
    TC_RANGE,
    VERDICTS,
    claim,
    combine,
    inconclusive_for_non_finite,
    non_finite,
    read_csv_input,
    rounded,
)
from contlaws.io import as_flags
from contlaws.stats import mean_and_stderr

# ---------------------------------------------------------------------------------------------
# C5
# ---------------------------------------------------------------------------------------------
# What each column of the E5 tables can hold (optional columns are checked when present); a
# speed-up of 0 would read as "never reached" (ln 0 = -inf), so it is refused, not computed with.
TABLE_RANGES = {"task_continuity": TC_RANGE, "test_accuracy_difference": ACCURACY_DIFFERENCE,
                "test_accuracy_subsampled": ACCURACY, "test_accuracy_baseline": ACCURACY, "majority_accuracy": ACCURACY,
                "speedup_to_reach_seconds": SPEEDUP, "best_val_accuracy_subsampled": ACCURACY,
                "best_val_accuracy_baseline": ACCURACY, "val_chance_accuracy": ACCURACY, "n_test": SECONDS,
                "n_val": SECONDS, "time_to_reach_subsampled_seconds": SECONDS, "time_to_reach_baseline_seconds": SECONDS,
                "total_subsampled_seconds": SECONDS, "total_baseline_seconds": SECONDS, "speedup_total_seconds": SPEEDUP}  # fmt: skip
CURVE_RANGES = {"epoch_seconds": SECONDS, "cumulative_seconds": SECONDS, "val_accuracy": ACCURACY, "lr": SECONDS}
RUN_MODES = ("subsampled", "baseline")  # the two runs of a (task, seed)


def timing_margin(noise: float) -> float:
    """Relative speed-up margin within which C5 calls wall-clock differences noise.

    Twice the measured relative noise of epoch times (:func:`contlaws.experiments.subsampling.timing_noise`),
    never below ``MIN_TIMING_NOISE``; 0.2 when the runs are too short to measure the noise.
    """
    from contlaws.experiments.subsampling import MIN_TIMING_NOISE

    return max(MIN_TIMING_NOISE, 2.0 * noise) if math.isfinite(noise) else 0.2


def c5_task_verdict(differences: Sequence[float], log_speedups: Sequence[float], tol: float, n_se: float,
                    margin: float) -> tuple[str, str, str, str]:  # fmt: skip
    """(verdict, accuracy part, speed part, reason) of one continuous task from its learned seeds.

    Accuracy (paired by seed, d = subsampled − baseline test accuracy): *worse* when mean(d) + k·SE <
    −tol (below the tolerance beyond k standard errors), *no worse* when mean(d) − k·SE ≥ −tol, else
    unresolved. Speed (log of t_baseline / t_subsampled per seed, −inf when the subsampled run never
    reached the target): *faster* when every seed reached it and mean − k·SE > ln(1 + m), *slower*
    when mean + k·SE < −ln(1 + m) or most seeds never reached it, else unresolved. The task is not
    supported when worse or slower, supported when no worse and faster, inconclusive otherwise.
    """
    mean_d, se_d = mean_and_stderr(differences)
    if mean_d + n_se * se_d < -tol:
        accuracy = "worse"
    elif mean_d - n_se * se_d >= -tol:
        accuracy = "no worse"
    else:
        accuracy = "unresolved"
    logs = np.asarray(log_speedups, dtype=float)
    reached = np.isfinite(logs)
    bound = math.log1p(margin)
    if reached.sum() * 2 < logs.size:
        speed = "slower"
    elif not reached.all():
        speed = "unresolved"
    else:
        mean_s, se_s = mean_and_stderr(logs)
        speed = "faster" if mean_s - n_se * se_s > bound else "slower" if mean_s + n_se * se_s < -bound else "unresolved"
    if accuracy == "worse" or speed == "slower":
        verdict = "not supported"
    elif accuracy == "no worse" and speed == "faster":
        verdict = "supported"
    else:
        verdict = "inconclusive"
    reason = (f"accuracy {accuracy} (mean paired difference {mean_d:+.4f} ± {se_d:.4f} SE, tolerance {tol}), "
              f"speed {speed}")  # fmt: skip
    return verdict, accuracy, speed, reason


@claim(
    "C5",
    "On continuous tasks, coarse-to-fine subsampled training reaches the full-resolution accuracy in less "
    "time and is no less accurate.",
    inputs=("table", "curves"),
)
def evaluate_c5(inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """C5 on the E5 table: per task labelled continuous by its measured TC, paired by seed.

    Only (task, seed) pairs where both runs learned (``learned``: test accuracy above the majority
    class by ``gates.e5_se`` binomial SEs) count; a continuous task with fewer than
    ``claims.paired_min_seeds`` such seeds is inconclusive (reason recorded). Per task,
    :func:`c5_task_verdict` with k = ``claims.paired_se``, tol = ``claims.subsample_accuracy_tol`` and m =
    :func:`timing_margin` of the timing noise measured on the runs' own epoch times. The claim
    combines the tasks (any not supported -> not supported; all supported -> supported); with no
    continuous task it is inconclusive. Tasks labelled discrete are reported for contrast only.
    Wall-clock numbers go to ``timing`` (not ``numbers``), so the claims table stays byte-identical
    across reruns unless a verdict changes.
    """
    from contlaws.experiments.subsampling import timing_noise

    claims_cfg = cfg["claims"]
    tol = float(claims_cfg["subsample_accuracy_tol"])
    min_seeds = int(claims_cfg["paired_min_seeds"])
    n_se = float(claims_cfg["paired_se"])
    table, curves = read_c5_inputs(inputs)
    thresholds = {"subsample_accuracy_tol": tol, "paired_min_seeds": min_seeds, "paired_se": n_se}
    problems = c5_non_finite(inputs, table, curves)
    if problems:
        return inconclusive_for_non_finite(problems, thresholds)
    noise = timing_noise(curves)
    margin = timing_margin(noise)
    learned_col = as_flags(table["learned"])
    missing = c5_missing_grid_points(table, curves, cfg)

    parts, per_task, timing = {}, {}, {}
    for task, rows in table.groupby("task", sort=False):
        per_task[task], timing[task] = c5_task(rows, learned_col[rows.index], min_seeds, tol, n_se, margin)
        lacks = [p for p in missing if p.split(" ", 1)[0] == str(task)]
        if lacks:  # a task judged on some of its seeds is not judged: its part is inconclusive
            per_task[task].update(verdict="inconclusive", reason=f"the tables lack {', '.join(lacks)}; on the rows "
                                  f"present: {per_task[task]['verdict']}, {per_task[task]['reason']}")  # fmt: skip
        if per_task[task]["continuity"] == "continuous":
            parts[task] = per_task[task]["verdict"]
    verdict = combine(list(parts.values())) if parts else "inconclusive"
    if missing:  # a whole task or a run's curves absent: the claim over the run's tasks cannot be decided
        verdict = "inconclusive"
    numbers = {
        "continuous_tasks": len(parts),
        "continuous_task_verdicts": ", ".join(f"{list(parts.values()).count(v)} {v}" for v in VERDICTS),
        "continuous_seeds_learned": {t: per_task[t]["seeds_learned"] for t in parts},
        "test_accuracy_difference_mean": {t: per_task[t]["test_accuracy_difference_mean"] for t in parts},
    }
    power_numbers, power_text = c5_power(parts, per_task, table, tol, n_se, min_seeds)
    numbers.update(power_numbers)
    numbers["missing_grid_points"] = len(missing)
    reasons = "; ".join(f"{t}: {per_task[t]['verdict']} ({per_task[t]['reason']})" for t in parts)
    lacking = (f"Inconclusive: the E5 tables lack {len(missing)} point(s) of the run's grid (subsampling.tasks x "
               f"subsampling.seeds, a subsampled and a baseline run each): {', '.join(missing)}; rerun `snakemake fig6`. "
               "The tasks below use the rows present. ") if missing else ""  # fmt: skip
    explanation = lacking + (
        f"Tasks labelled continuous by their measured TC (>= task_continuity.continuous_min): "
        f"{', '.join(parts) or 'none in this run, so the claim is inconclusive'}. Per task, only seeds where both "
        f"runs learned (test accuracy > majority class + gates.e5_se binomial SEs) count, at least {min_seeds}; "
        f"differences are paired by seed and count only beyond {n_se:g} standard errors: the subsampled run must be "
        f"no worse than the baseline by more than {tol} and reach the baseline's best validation accuracy with a "
        f"speed-up above 1 + m (timing noise {noise:.3f}, m = {margin:.3f}). {reasons}. Verdict: {verdict}.{power_text}"
    )
    return {
        "verdict": verdict,
        "numbers": numbers,
        "details": {"tc_metric": str(cfg["task_continuity"]["metric"]), "parts": parts, "tasks": per_task,
                    "missing_grid_points": missing},
        "timing": {"noise": rounded(noise), "margin": rounded(margin), "tasks": timing},
        "explanation": explanation,
        "thresholds": thresholds,
    }


def c5_power(parts: Mapping[str, str], per_task: Mapping[str, dict], table: pd.DataFrame, tol: float, n_se: float,
             min_seeds: int) -> tuple[dict, str]:  # fmt: skip
    """Power of the accuracy test beside continuous tasks that are not supported (docs/claims.md,
    "Power"): the smallest accuracy difference from the tolerance line −tol that the learned seeds
    resolve, k·SE of the paired differences (with fewer than two seeds, the binomial SE of one seed's
    difference at the test size, sqrt(2 p(1 − p)/n_test), over sqrt(seeds)), and the seeds that would
    decide an unresolved task at its observed mean and spread. Nothing when every task is supported."""
    tasks = [t for t, v in parts.items() if v != "supported"]
    if not tasks:
        return {}, ""
    items = {}
    for task in tasks:
        rec = per_task[task]
        mean, se, n = rec["test_accuracy_difference_mean"], rec["test_accuracy_difference_se"], rec["seeds_learned"]
        if se is None and "n_test" in table and n:
            n_test = int(pd.to_numeric(table.loc[table["task"] == task, "n_test"]).min())
            se = binomial_difference_se(float(rec["test_accuracy_baseline_mean"]), n_test) / math.sqrt(n)
        items[task] = (None if mean is None else mean + tol, se, n)
    power = paired_power(list(items.values()), n_se, max(2, min_seeds))
    by_task = {t: rounded(n_se * se) if se is not None and math.isfinite(se) else None for t, (_, se, _) in items.items()}
    text = (paired_power_text(power, f"an accuracy difference from -{tol:g}", "task")
            + f" (per task: {', '.join(f'{t} {v}' for t, v in by_task.items())}; the speed test is not covered)")  # fmt: skip
    numbers = {"power_accuracy_resolvable": by_task, "power_seeds_needed": power["seeds_needed"], "power": text}
    return numbers, f" Power: {text}."


def read_c5_inputs(inputs: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The E5 table (one row per task and seed) and the learning curves (epoch times)."""
    table = read_csv_input(inputs, "table", ["task", "continuity", "task_continuity", "seed", "learned",
                                             "test_accuracy_difference", "test_accuracy_subsampled",
                                             "test_accuracy_baseline", "majority_accuracy",
                                             "reached_baseline_best", "speedup_to_reach_seconds"],
                           ranges=TABLE_RANGES, flags=["learned"], key=["task", "seed"])  # fmt: skip
    curves = read_csv_input(inputs, "curves", ["task", "mode", "seed", "stage", "epoch", "epoch_seconds"],
                            ranges=CURVE_RANGES, key=["task", "mode", "seed", "epoch"])  # fmt: skip
    return table, curves


def c5_missing_grid_points(table: pd.DataFrame, curves: pd.DataFrame, cfg: Mapping[str, Any]) -> list[str]:
    """The points of the run's E5 grid the tables lack: a (task, seed) of ``subsampling.tasks`` ×
    ``subsampling.seeds`` without its row in the table, as ``digits seed=2``, and a run (task, mode,
    seed) of a row present without its learning curve, as ``digits baseline seed=1 (curves)``."""
    rows = list(dict.fromkeys(zip(table["task"].astype(str), table["seed"].astype(int))))  # in table order
    runs = set(zip(curves["task"].astype(str), curves["mode"].astype(str), curves["seed"].astype(int)))
    sub = cfg["subsampling"]
    out = [f"{task} seed={int(seed)}" for task in sub["tasks"] for seed in sub["seeds"]
           if (str(task), int(seed)) not in rows]  # fmt: skip
    out += [f"{task} {mode} seed={seed} (curves)" for task, seed in rows for mode in RUN_MODES
            if (task, mode, seed) not in runs]  # fmt: skip
    return out


def c5_non_finite(inputs: Mapping[str, Path], table: pd.DataFrame, curves: pd.DataFrame) -> list:
    """The non-finite values of C5's inputs, beyond the text that is there by design."""
    # speedup_to_reach_seconds is text ("not reached") where the subsampled run never reached the target.
    reached_rows = table["reached_baseline_best"].astype(str) == "yes"
    problems = [p for p in (
        non_finite(inputs, "table", table, "seed"),
        non_finite(inputs, "curves", curves, "seed"),
        *(non_finite(inputs, "table", table, c) for c in ("task_continuity", "test_accuracy_difference",
                                                         "test_accuracy_subsampled", "test_accuracy_baseline",
                                                         "majority_accuracy")),
        non_finite(inputs, "table", table, "speedup_to_reach_seconds", where=reached_rows),
        non_finite(inputs, "curves", curves, "epoch_seconds"),
    ) if p]  # fmt: skip
    return problems


def c5_task(rows: pd.DataFrame, learned: pd.Series, min_seeds: int, tol: float, n_se: float, margin: float
            ) -> tuple[dict, dict]:  # fmt: skip
    """(record, timing) of one task from its rows (one per seed) and which of them learned."""
    ok = rows[learned]
    continuity = str(rows["continuity"].iloc[0])
    reached = ok["reached_baseline_best"] == "yes"
    logs = [math.log(float(v)) if r else -math.inf for v, r in zip(ok["speedup_to_reach_seconds"], reached)]
    record = {
        "continuity": continuity,
        "task_continuity": rounded(float(rows["task_continuity"].iloc[0])),
        "seeds": len(rows),
        "seeds_learned": len(ok),
        "test_accuracy_subsampled_mean": rounded(rows["test_accuracy_subsampled"].mean()),
        "test_accuracy_baseline_mean": rounded(rows["test_accuracy_baseline"].mean()),
        "majority_accuracy": rounded(rows["majority_accuracy"].mean()),
    }
    if len(ok) < min_seeds:
        verdict, reason = "inconclusive", f"only {len(ok)} of {len(rows)} seeds learned (both runs); {min_seeds} needed"
        accuracy = speed = "not evaluated"
    else:
        verdict, accuracy, speed, reason = c5_task_verdict(ok["test_accuracy_difference"].tolist(), logs, tol, n_se, margin)
    mean_d, se_d = mean_and_stderr(ok["test_accuracy_difference"].tolist())
    record.update(verdict=verdict, accuracy=accuracy, reason=reason,
                  test_accuracy_difference_mean=rounded(mean_d), test_accuracy_difference_se=rounded(se_d),
                  reached=f"{int(reached.sum())} of {len(ok)}")  # fmt: skip
    timing = {"speed": speed, "speedups": [rounded(math.exp(v)) if math.isfinite(v) else None for v in logs]}
    return record, timing
