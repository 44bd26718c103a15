"""E4 pipeline steps: the task-continuity table, TC vs performance alignment and its figure (logic in
:mod:`contlaws.experiments.alignment` and :mod:`contlaws.plots.alignment`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.errors import UserError
from contlaws.io import refuse_output_over_input


def cli_tc_table(args: argparse.Namespace) -> None:
    from contlaws.experiments.alignment import write_tc_table

    for option, output in (("--out-csv", args.out_csv), ("--out-tex", args.out_tex)):
        refuse_output_over_input(output, [args.inputs, args.config], option)
    tc = write_tc_table(config_from_args(args), args.inputs, args.out_csv, args.out_tex)
    print(tc.to_string(index=False))


def cli_alignment(args: argparse.Namespace) -> None:
    from contlaws.experiments.alignment import write_alignment

    for option, output in (("--out", args.out), ("--out-seeds", args.out_seeds), ("--out-continuity", args.out_continuity)):
        refuse_output_over_input(output, [args.task_continuity, args.eta_results, args.model_continuity, args.config], option)
    if (args.model_continuity is None) != (args.out_continuity is None):
        raise UserError("--model-continuity and --out-continuity go together (input and output of the TC vs "
                        "model-continuity table)")  # fmt: skip
    cfg = config_from_args(args)
    table, stats, cont = write_alignment(cfg, args.task_continuity, args.eta_results, args.out, args.out_seeds,
                                         args.model_continuity, args.out_continuity)  # fmt: skip
    print(table.to_string(index=False))
    print(f"Spearman rho(TC, advantage of S4D) = {stats['rho']:.3f} (n {stats['n']}, one-sided p {stats['p_greater']:.3g})")
    if cont is not None:
        print(cont.to_string(index=False))


def cli_plot_alignment(args: argparse.Namespace) -> None:
    from contlaws.plots.alignment import write_alignment_figure

    write_alignment_figure(args.alignment, args.continuity, args.out_figure)


def register(subparsers) -> None:
    p = subparsers.add_parser("task-continuity-gather", help="E4: table of the task continuity of every dataset")
    add_config_argument(p)
    p.add_argument("--inputs", type=Path, nargs="+", required=True, metavar="JSON",
                   help="records of `contlaws task-continuity --out-json`, named <family>/<name>.json")  # fmt: skip
    p.add_argument("--out-csv", type=Path, required=True)
    p.add_argument("--out-tex", type=Path, required=True)
    p.set_defaults(func=cli_tc_table)

    p = subparsers.add_parser("alignment-run", help="E4: task continuity vs the continuous models' relative performance")
    add_config_argument(p)
    p.add_argument("--task-continuity", type=Path, required=True, help="results/<run>/task_continuity/table.csv")
    p.add_argument("--eta-results", type=Path, required=True, help="results/<run>/eta_performance/results.csv")
    p.add_argument("--model-continuity", type=Path, help="results/<run>/refinement_trained/model_continuity.csv")
    p.add_argument("--out", type=Path, required=True, help="alignment table CSV (one row per system and eta)")
    p.add_argument("--out-seeds", type=Path, required=True,
                   help="per-seed advantages CSV (one row per system, eta, model and paired seed; claim C4 reads it)")
    p.add_argument("--out-continuity", type=Path, help="with --model-continuity: TC vs model continuity CSV")
    p.set_defaults(func=cli_alignment)

    p = subparsers.add_parser("alignment-plot", help="E4: alignment figure from the tables of `contlaws alignment-run`")
    p.add_argument("--alignment", type=Path, required=True, help="results/<run>/alignment/alignment.csv")
    p.add_argument("--continuity", type=Path, help="results/<run>/alignment/model_continuity.csv (panel b)")
    p.add_argument("--out-figure", type=Path, required=True, help="figure stem (writes STEM.pdf and STEM.png)")
    p.set_defaults(func=cli_plot_alignment)
