"""E5 result tables (the compute step of Figure 6): per-epoch curves and the speed/accuracy table.

Reads the run folders written by ``contlaws subsampling-train`` (``summary.json``, ``metrics.csv``)
and writes

* ``curves_timing.csv``: every run's per-epoch curve (task, continuity, mode, seed, epoch, stage,
  stride, lr, train_loss, val_accuracy, val_loss, epoch_seconds, cumulative_seconds); "timing" in
  the name marks a wall-clock file;
* the table (CSV + LaTeX), one row per task and seed (:func:`contlaws.experiments.subsampling.speed_table`):
  final test accuracy at stride 1, total training time, time to reach the baseline's best validation
  accuracy, speed-ups, and whether each run learned.

Claim C5 and Figure 6 (:mod:`contlaws.plots.figure6`) read these tables; this module imports no
plotting library. Kept apart from :mod:`contlaws.experiments.subsampling` (training and the table's
maths) so neither module grows past about 400 lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from contlaws.experiments.subsampling import CURVE_COLUMNS, RUN_KEYS, collect_runs, speed_table
from contlaws.io import as_flags, provenance, read_result_csv, write_table
from contlaws.labels import TASK_LABELS
from contlaws.latex import write_latex_table

log = logging.getLogger(__name__)

# The columns Figure 6 reads from the table (speed_table writes more).
TABLE_COLUMNS = ("task", "seed", "task_continuity", "majority_accuracy", "best_val_accuracy_baseline",
                 "speedup_to_reach_seconds", "learned_subsampled", "learned_baseline")  # fmt: skip
TABLE_CAPTION = (
    "Temporal subsampling (paper Figure 6): task continuity TC of the training split, final test "
    "accuracy at stride 1 next to the majority class, training time, time to reach the full-resolution run's "
    "best validation accuracy (target), and whether each run learned (test accuracy more than the configured "
    "number of binomial standard errors above the majority class)."
)


def latex_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The table as formatted text cells for LaTeX (accuracies in %, seconds rounded)."""

    def seconds(v):
        return v if isinstance(v, str) else f"{float(v):.1f}"

    def ratio(v):
        return v if isinstance(v, str) else f"{float(v):.2f}x"

    return pd.DataFrame(
        {
            "task": [TASK_LABELS.get(t, t) for t in table["task"]],
            "seed": table["seed"].astype(str),
            "TC": [f"{float(v):.2f}" for v in table["task_continuity"]],
            "majority (%)": [f"{100 * v:.1f}" for v in table["majority_accuracy"]],
            "test acc. sub. (%)": [f"{100 * v:.1f}" for v in table["test_accuracy_subsampled"]],
            "test acc. full (%)": [f"{100 * v:.1f}" for v in table["test_accuracy_baseline"]],
            "time sub. (s)": [seconds(v) for v in table["total_subsampled_seconds"]],
            "time full (s)": [seconds(v) for v in table["total_baseline_seconds"]],
            "to target sub. (s)": [seconds(v) for v in table["time_to_reach_subsampled_seconds"]],
            "to target full (s)": [seconds(v) for v in table["time_to_reach_baseline_seconds"]],
            "speed-up": [ratio(v) for v in table["speedup_to_reach_seconds"]],
            "learned (sub./full)": [f"{'yes' if a else 'NO'}/{'yes' if b else 'NO'}"
                                    for a, b in zip(table["learned_subsampled"], table["learned_baseline"])],
        }
    )


def write_tables(runs: list[Path], tc_records: list[Path], curves_csv: Path, table_csv: Path, table_tex: Path,
                 continuous_min: float, gate_se: float) -> pd.DataFrame:  # fmt: skip
    """The per-epoch curves and the speed table (CSV, LaTeX) from the run folders; returns the table.

    ``tc_records``: the `contlaws task-continuity --out-json` record of every task, named
    ``<task>.json`` (the TC that labels a task continuous or discrete); ``continuous_min`` is
    task_continuity.continuous_min, ``gate_se`` gates.e5_se.
    """
    from contlaws.experiments.alignment_benchmarks import tc_of_record

    tc = {Path(p).stem: tc_of_record(Path(p))[0] for p in tc_records}
    curves, runs_table = collect_runs(runs, tc, continuous_min=continuous_min, gate_se=gate_se)
    table = speed_table(curves, runs_table)
    meta = provenance(runs=[str(r) for r in runs], task_continuity=sorted(str(p) for p in tc_records))
    write_table(curves_csv, curves, meta=meta)
    write_table(table_csv, table, meta=meta)
    write_latex_table(table_tex, latex_rows(table), caption=TABLE_CAPTION, label="tab:subsampling")
    log.info("wrote %s, %s and %s", curves_csv, table_csv, table_tex)
    return table


def read_tables(curves_csv: Path, table_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves, table) as written by :func:`write_tables`; DataFileError naming a missing or malformed file."""
    hint = "run `contlaws subsampling-gather` first"
    curves = read_result_csv(curves_csv, (*RUN_KEYS, *CURVE_COLUMNS), what="curves table", hint=hint)
    table = read_result_csv(table_csv, TABLE_COLUMNS, what="speed table", hint=hint)
    for column in ("learned_subsampled", "learned_baseline"):
        table[column] = as_flags(table[column])
    return curves, table
