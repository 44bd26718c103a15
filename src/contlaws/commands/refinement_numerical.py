"""E1 pipeline steps: discretized S4/S6 against an RK4 reference, and its figure and order table (logic in
:mod:`contlaws.experiments.refinement_numerical` and :mod:`contlaws.plots.refinement_numerical`)."""

from __future__ import annotations

import argparse

import numpy as np

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.experiments import refinement_numerical
from contlaws.experiments.refinement_numerical import ERROR_COLUMNS
from contlaws.io import refuse_output_over_input


def cmd_compute(args: argparse.Namespace) -> None:
    refuse_output_over_input(args.out, [args.config], "--out")
    refinement_numerical.write_errors(config_from_args(args), args.out)


def cmd_plot(args: argparse.Namespace) -> None:
    from contlaws.plots.refinement_numerical import write_outputs

    for option, output in (("--out-orders-csv", args.out_orders_csv), ("--out-orders-tex", args.out_orders_tex), ("--out-ratios-csv", args.out_ratios_csv)):
        refuse_output_over_input(output, [args.results], option)
    summary = write_outputs(args.results, args.out_figure, args.out_orders_csv, args.out_orders_tex, args.out_ratios_csv, args.metric)
    if summary is not None:
        for r in summary[np.isclose(summary["tau"], summary["tau"].min())].itertuples():
            print(f"{r.model} {r.discretization}: amplitude ratio at tau {r.tau:g} median {r.median:.3g}, "
                  f"range {r.min:.3g}-{r.max:.3g} over {r.n_systems} systems")  # fmt: skip


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "refinement-numerical-run",
        help="E1: errors of discretized S4/S6 against an RK4 reference (CSV)",
        description=refinement_numerical.__doc__.splitlines()[0],
    )
    add_config_argument(p)
    p.add_argument("--out", required=True, help="tidy error table (CSV; provenance in <out>.meta.json)")
    p.set_defaults(func=cmd_compute)

    p = subparsers.add_parser(
        "refinement-numerical-plot",
        help="E1: figure and convergence-order table from the error CSV",
        description="Render the E1 figure (error vs tau) and the empirical-order table from refinement-numerical-run's CSV.",
    )
    p.add_argument("--results", required=True, help="CSV written by `contlaws refinement-numerical-run`")
    p.add_argument("--out-figure", required=True, help="figure stem; writes STEM.pdf and STEM.png")
    p.add_argument("--out-orders-csv", required=True, help="empirical convergence orders (CSV)")
    p.add_argument("--out-orders-tex", required=True, help="the same orders as a LaTeX table")
    p.add_argument("--out-ratios-csv", help="per-system amplitude error ratios (largest / smallest amplitude) with "
                   "median and range over systems (CSV)")
    p.add_argument(
        "--metric", choices=ERROR_COLUMNS, default="rel_max_error", help="error shown in the figure (default: %(default)s)"
    )
    p.set_defaults(func=cmd_plot)
