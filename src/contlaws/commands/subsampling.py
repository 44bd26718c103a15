"""E5 pipeline steps: train one subsampled or baseline run, gather the runs into the curves and the speed
table, and plot Figure 6 from those tables (logic in :mod:`contlaws.experiments.subsampling`,
:mod:`contlaws.experiments.subsampling_tables` and :mod:`contlaws.plots.figure6`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import (
    add_classifier_run_arguments,
    add_config_argument,
    config_from_args,
    exit_with_parent,
    set_threads,
)
from contlaws.config import load_config, schema_default
from contlaws.experiments.subsampling import MODES
from contlaws.io import refuse_output_over_input


def cmd_train(args: argparse.Namespace) -> None:
    from contlaws.experiments.subsampling import run

    if getattr(args, "standalone", False):  # an orphaned trainer would keep writing --out while a rerun starts another
        exit_with_parent()
    cfg = config_from_args(args)
    set_threads(cfg)
    run(cfg, args.task, args.mode, args.seed, args.train, args.val, args.test, args.out,
        restart_on_mismatch=args.restart_on_mismatch)


def cmd_gather(args: argparse.Namespace) -> None:
    from contlaws.experiments.subsampling_tables import write_tables

    inputs = [args.config, *args.task_continuity, *(run / name for run in args.runs for name in ("summary.json", "metrics.csv"))]
    for option, output in (("--out-curves", args.out_curves), ("--out-csv", args.out_csv), ("--out-tex", args.out_tex)):
        refuse_output_over_input(output, inputs, option)
    if args.config is not None:
        cfg = load_config(args.config)
        continuous_min = float(cfg["task_continuity"]["continuous_min"])
        gate_se = float(cfg["gates"]["e5_se"])
    else:
        continuous_min = float(schema_default("task_continuity.continuous_min"))
        gate_se = float(schema_default("gates.e5_se"))
    write_tables(args.runs, args.task_continuity, args.out_curves, args.out_csv, args.out_tex, continuous_min, gate_se)


def cmd_plot(args: argparse.Namespace) -> None:
    from contlaws.plots.figure6 import write_figure6

    write_figure6(args.curves_csv, args.speed_table, args.out_figure)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "subsampling-train",
        help="E5: train the S4D classifier coarse to fine (subsampled) or at stride 1 (baseline)",
        description=(
            "Train one E5 run with the training engine (resumes from OUT/last.pt), then test at stride 1. "
            "Writes OUT/{last.pt,best.pt,metrics.csv,summary.json}."
        ),
    )
    add_config_argument(p)
    p.add_argument("--task", required=True, help="benchmark task (one of subsampling.tasks)")
    p.add_argument("--mode", required=True, choices=MODES)
    add_classifier_run_arguments(p)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "subsampling-gather",
        help="E5: per-epoch curves and the speed/accuracy table from the runs' folders",
        description="Gather the E5 run folders into the per-epoch curves (CSV) and the speed table (CSV, LaTeX).",
    )
    p.add_argument("--runs", type=Path, nargs="+", required=True, metavar="DIR",
                   help="run folders written by `contlaws subsampling-train`")
    p.add_argument("--task-continuity", type=Path, nargs="+", required=True, metavar="JSON",
                   help="`contlaws task-continuity --out-json` record of every task, named <task>.json: its TC "
                        "labels the task continuous or discrete")  # fmt: skip
    p.add_argument("--out-curves", type=Path, required=True, help="per-epoch curves of every run (CSV, wall clock)")
    p.add_argument("--out-csv", type=Path, required=True, help="per task and seed: accuracy, time, speed-up (CSV)")
    p.add_argument("--out-tex", type=Path, required=True, help="the same table in LaTeX")
    p.add_argument("--config", type=Path, default=None,
                   help="pipeline config: task_continuity.continuous_min and gates.e5_se (default: the schema's defaults)")
    p.set_defaults(func=cmd_gather)

    p = subparsers.add_parser(
        "subsampling-plot",
        help="E5: Figure 6 from the curves and the speed table of `contlaws subsampling-gather`",
        description="Render Figure 6 (validation accuracy vs wall clock and vs epoch) from the E5 tables.",
    )
    p.add_argument("--curves-csv", type=Path, required=True, help="curves_timing.csv of `contlaws subsampling-gather`")
    p.add_argument("--speed-table", type=Path, required=True, help="table.csv of `contlaws subsampling-gather`")
    p.add_argument("--out-figure", type=Path, required=True, help="figure stem; writes STEM.pdf and STEM.png")
    p.set_defaults(func=cmd_plot)
