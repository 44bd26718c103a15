"""E2 pipeline steps: evaluate a trained regressor under refinement, gather the runs (and the RMSE table),
the model-continuity table, and Figure 4 (logic in :mod:`contlaws.experiments.refinement_trained`,
:mod:`contlaws.experiments.refinement_trained_tables` and :mod:`contlaws.plots.figure4`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args, parse_tau_path, set_threads, tau_path_map
from contlaws.errors import UserError
from contlaws.io import refuse_output_over_input, write_table


def cli_evaluate(args: argparse.Namespace) -> None:
    from contlaws.experiments.refinement_trained import evaluate_checkpoint

    for option, output in (("--out", args.out), ("--out-continuity", args.out_continuity), ("--out-sweep", args.out_sweep)):
        refuse_output_over_input(output, [args.checkpoint, [path for _, path in args.data], args.config], option)

    cfg = config_from_args(args) if args.config else None
    set_threads(cfg if cfg else args.threads)
    paths = tau_path_map(args.data, "--data")
    run = evaluate_checkpoint(args.checkpoint, paths, cfg, device=args.device, amplitudes=args.amplitudes,
                              gate_ratio=args.gate_ratio)  # fmt: skip
    write_table(args.out, run.errors, meta=run.record)
    if args.out_continuity:
        write_table(args.out_continuity, run.continuity, meta=run.record)
    if args.out_sweep:
        write_table(args.out_sweep, run.sweep, meta=run.record)
    print(run.errors.to_string(index=False))
    print(run.sweep.to_string(index=False))
    print(f"learned (pooled RMSE at tau = 1 <= {run.gate_ratio} x train-mean RMSE): {run.learned}")


def cli_aggregate(args: argparse.Namespace) -> None:
    from contlaws.experiments.refinement_trained import (
        CONTINUITY_COLUMNS,
        ERROR_COLUMNS,
        SWEEP_COLUMNS,
        write_aggregates,
    )
    from contlaws.experiments.refinement_trained_tables import write_rmse_table

    outputs = (("--out-errors", args.out_errors), ("--out-continuity", args.out_continuity), ("--out-sweep", args.out_sweep),
               ("--out-rmse-csv", args.out_rmse_csv), ("--out-rmse-tex", args.out_rmse_tex))  # fmt: skip
    for option, output in outputs:
        refuse_output_over_input(output, [args.errors, args.continuity, args.sweep, args.config], option)
    if (args.out_rmse_csv is None) != (args.out_rmse_tex is None):
        raise UserError("--out-rmse-csv and --out-rmse-tex go together")
    cfg = config_from_args(args)
    tables = [(args.errors, ERROR_COLUMNS, args.out_errors), (args.continuity, CONTINUITY_COLUMNS, args.out_continuity)]
    if args.sweep:
        tables.append((args.sweep, SWEEP_COLUMNS, args.out_sweep))
    write_aggregates(cfg, tables)
    if args.out_rmse_csv:  # from the errors table as written, so the RMSE table reads the same bytes as Figure 4
        write_rmse_table(args.out_errors, args.out_rmse_csv, args.out_rmse_tex)


def cli_figure4(args: argparse.Namespace) -> None:
    from contlaws.plots.figure4 import write_figure4

    write_figure4(args.errors, args.out_figure, args.gate_ratio)


def cli_continuity_table(args: argparse.Namespace) -> None:
    from contlaws.experiments.refinement_trained_tables import write_model_continuity_table

    for option, output in (("--out-csv", args.out_csv), ("--out-tex", args.out_tex)):
        refuse_output_over_input(output, [args.continuity], option)
    tidy = write_model_continuity_table(args.continuity, args.out_csv, args.out_tex)
    print(tidy.to_string(index=False))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "refinement-trained-evaluate",
        help="E2: test errors and model continuity of a trained S4D/S6 at every refinement factor tau",
        description=(
            "Call the checkpoint's model with each tau on the test set regenerated at that tau; write one "
            "row per tau and label component (plus 'pooled') with RMSE/MAE in standardized label units and the "
            "train-mean predictor's RMSE beside them to --out; with --out-continuity d(tau) and its order; with "
            "--out-sweep the same with the inputs scaled by each amplitude a."
        ),
    )
    add_config_argument(p, required=False)
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt written by `contlaws train`")
    p.add_argument("--data", type=parse_tau_path, nargs="+", required=True, metavar="TAU=PATH",
                   help="refined test sets of the same trajectories, e.g. 1=vdp_tau1_test.npz 0.5=vdp_tau0.5_test.npz")
    p.add_argument("--out", type=Path, required=True, help="per-tau errors CSV")
    p.add_argument("--out-continuity", type=Path, help="per-tau model continuity CSV")
    p.add_argument("--out-sweep", type=Path, help="per-(amplitude, tau) model continuity CSV (amplitude sweep)")
    p.add_argument("--amplitudes", type=float, nargs="+",
                   help="input scale factors a of the sweep (default: refinement_trained.amplitudes, else 1 4 16)")
    p.add_argument("--gate-ratio", type=float,
                   help="learned when RMSE(tau=1) <= this x train-mean RMSE (default: gates.e2_rmse_ratio, else 0.5)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: train.device of --config, else cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads without --config (default 1)")
    p.set_defaults(func=cli_evaluate)

    p = subparsers.add_parser(
        "refinement-trained-gather",
        help="E2: gather per-run refinement errors and model continuity into the experiment's tables",
    )
    add_config_argument(p)
    p.add_argument("--errors", type=Path, nargs="+", required=True, help="per-run errors CSVs")
    p.add_argument("--continuity", type=Path, nargs="+", required=True, help="per-run model continuity CSVs")
    p.add_argument("--out-errors", type=Path, required=True)
    p.add_argument("--out-continuity", type=Path, required=True)
    p.add_argument("--sweep", type=Path, nargs="+", help="per-run amplitude-sweep CSVs")
    p.add_argument("--out-sweep", type=Path)
    p.add_argument("--out-rmse-csv", type=Path, help="the RMSE table per system, model, discretization, tau and label (CSV)")
    p.add_argument("--out-rmse-tex", type=Path, help="the pooled RMSE table in LaTeX (with --out-rmse-csv)")
    p.set_defaults(func=cli_aggregate)

    p = subparsers.add_parser("refinement-trained-plot", help="E2: Figure 4 (test RMSE vs tau) from errors.csv")
    p.add_argument("--errors", type=Path, required=True, help="results/<run>/refinement_trained/errors.csv")
    p.add_argument("--out-figure", type=Path, required=True, help="figure stem (writes STEM.pdf and STEM.png)")
    p.add_argument("--gate-ratio", type=float, help="draw the learning gate at this times the train-mean RMSE (gates.e2_rmse_ratio)")
    p.set_defaults(func=cli_figure4)

    p = subparsers.add_parser("refinement-trained-continuity-table", help="E2: model-continuity table from model_continuity.csv")
    p.add_argument("--continuity", type=Path, required=True, help="results/<run>/refinement_trained/model_continuity.csv")
    p.add_argument("--out-csv", type=Path, required=True)
    p.add_argument("--out-tex", type=Path, required=True)
    p.set_defaults(func=cli_continuity_table)
