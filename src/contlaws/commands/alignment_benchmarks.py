"""C4(b) pipeline steps: train one (task, model, seed) classifier, gather the runs and the tasks' task
continuity into the alignment tables, plot TC against the advantage (logic in
:mod:`contlaws.experiments.alignment_benchmarks` and :mod:`contlaws.plots.alignment_benchmarks`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import (
    add_classifier_run_arguments,
    add_config_argument,
    config_from_args,
    exit_with_parent,
    run_folders,
    set_threads,
    train_runs_in_turn,
)
from contlaws.io import refuse_output_over_input


def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "standalone", False):  # an orphaned trainer would keep writing --out while a rerun starts another
        exit_with_parent()
    cfg = config_from_args(args)
    runs = run_folders(str(args.out), args.model, args.seed)
    set_threads(cfg)
    from contlaws.experiments.alignment_benchmarks import run
    from contlaws.train import TrainingDiverged

    def train_one(model, seed, out):
        run(cfg, args.task, model, seed, args.train, args.val, args.test, out,
            restart_on_mismatch=args.restart_on_mismatch)

    return train_runs_in_turn(runs, train_one, TrainingDiverged)


def cmd_gather(args: argparse.Namespace) -> None:
    from contlaws.experiments.alignment_benchmarks import write_tables

    inputs = [args.config, *args.summaries, *args.task_continuity]
    for option, output in (("--out-runs", args.out_runs), ("--out-alignment", args.out_alignment),
                           ("--out-seeds", args.out_seeds)):  # fmt: skip
        refuse_output_over_input(output, inputs, option)
    cfg = config_from_args(args)
    write_tables(cfg, args.summaries, args.task_continuity, args.out_runs, args.out_alignment, args.out_seeds)


def cmd_plot(args: argparse.Namespace) -> None:
    from contlaws.plots.alignment_benchmarks import write_figure

    write_figure(args.alignment, args.claim, args.out_figure)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "alignment-benchmarks-train",
        help="C4(b): train classifiers (task x model x seed) and check each against its learning gate",
        description="Train C4(b) runs of one task (each resumes from OUT/last.pt), test the best-validation "
                    "weights, write OUT/{last.pt,best.pt,metrics.csv,summary.json}. Several models or seeds "
                    "train one after another in this process, OUT a pattern naming {model} and {seed}.",
    )
    add_config_argument(p)
    p.add_argument("--task", required=True, help="benchmark task (one of alignment_benchmarks.tasks)")
    p.add_argument("--model", required=True, nargs="+", help="model(s) (of alignment_benchmarks.models)")
    add_classifier_run_arguments(p, several=True)
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "alignment-benchmarks-gather",
        help="C4(b): the runs table, the advantages per seed and the alignment table",
        description="Gather run summaries and task-continuity records into runs.csv, alignment.csv and "
                    "advantages_by_seed.csv (each with its .meta.json).",
    )
    add_config_argument(p)
    p.add_argument("--summaries", type=Path, nargs="+", required=True, metavar="JSON",
                   help="summary.json of every run (`contlaws alignment-benchmarks-train`)")
    p.add_argument("--task-continuity", type=Path, nargs="+", required=True, metavar="JSON",
                   help="`contlaws task-continuity --out-json` record of every task, named <task>.json")
    p.add_argument("--out-runs", type=Path, required=True, help="one row per run (CSV)")
    p.add_argument("--out-alignment", type=Path, required=True, help="one row per task: TC and the advantage A (CSV)")
    p.add_argument("--out-seeds", type=Path, required=True, help="the advantages per task, model and seed (CSV)")
    p.set_defaults(func=cmd_gather)

    p = subparsers.add_parser(
        "alignment-benchmarks-plot",
        help="C4(b): TC against the advantage of S4D, one point per task (plotting only)",
    )
    p.add_argument("--alignment", type=Path, required=True, help="alignment.csv of `alignment-benchmarks-gather`")
    p.add_argument("--claim", type=Path, required=True, help="the C4b verdict (claims/C4b.json): rho and its interval")
    p.add_argument("--out-figure", type=Path, required=True, help="output stem: writes STEM.pdf and STEM.png")
    p.set_defaults(func=cmd_plot)
