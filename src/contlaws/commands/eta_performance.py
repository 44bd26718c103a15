"""E3 pipeline steps: evaluate the runs of one (system, η) split, gate them, gather the splits, Figure 5 (logic in
:mod:`contlaws.experiments.eta_performance` and :mod:`contlaws.plots.figure5`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args, set_threads
from contlaws.errors import UserError
from contlaws.gpu_packages import GPU_LAYERS
from contlaws.io import refuse_output_over_input


def cli_evaluate(args: argparse.Namespace) -> None:
    from contlaws.experiments.eta_performance import evaluate_split

    outputs = (("--out", args.out), ("--out-baselines", args.out_baselines), ("--out-scores", args.out_scores))
    for option, output in outputs:
        refuse_output_over_input(output, [args.test, args.config], option)
    cfg = config_from_args(args)
    set_threads(cfg)
    rows, baselines = evaluate_split(cfg, args.test, args.runs, args.out, args.out_baselines, device=args.device,
                                     not_run=args.not_run, scores_out=args.out_scores)  # fmt: skip
    print(rows.to_string(index=False))
    if args.out_baselines is not None:
        print(baselines.to_string(index=False))


def cli_gate(args: argparse.Namespace) -> None:
    from contlaws.experiments.eta_performance import gate_split

    refuse_output_over_input(args.out, [args.scores, args.config], "--out")
    cfg = config_from_args(args)
    print(gate_split(cfg, args.scores, args.out).to_string(index=False))


def cli_gather(args: argparse.Namespace) -> None:
    from contlaws.experiments.eta_performance import write_results

    for option, output in (("--out", args.out), ("--out-baselines", args.out_baselines)):
        refuse_output_over_input(output, [args.inputs, args.baselines, args.config], option)
    cfg = config_from_args(args)
    if (args.baselines is None) != (args.out_baselines is None):
        raise UserError("--baselines and --out-baselines go together (per-split reference forecasts in, table out)")
    write_results(cfg, args.inputs, args.out, args.baselines, args.out_baselines)


def cli_figure5(args: argparse.Namespace) -> None:
    from contlaws.plots.figure5 import write_figure5

    for option, output in (("--out-csv", args.out_csv), ("--out-tex", args.out_tex)):
        refuse_output_over_input(output, [args.results, args.baselines], option)
    wide = write_figure5(args.results, args.baselines, args.out_figure, args.out_csv, args.out_tex)
    print(wide.to_string(index=False))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eta-performance-evaluate",
        help="E3: test RMSE/MAE of the runs trained on one (system, eta) forecasting split",
        description=("Evaluate every run folder (`contlaws train` output) on the forecasting test split; runs "
                     "whose summary says 'not run' become rows with that status and reason."),
    )  # fmt: skip
    add_config_argument(p)
    p.add_argument("--test", type=Path, required=True, help="forecasting test split (.npz)")
    p.add_argument("--runs", type=Path, nargs="*", default=[], metavar="DIR", help="training output folders")
    p.add_argument("--not-run", nargs="+", default=[], metavar="MODEL", choices=list(GPU_LAYERS),
                   help="models not trained (a package they need is absent): 'not run' rows with the reason")  # fmt: skip
    p.add_argument("--out", type=Path, help="per-split results CSV (rows with the learning gate of the config)")
    p.add_argument("--out-baselines", type=Path,
                   help="also write the reference forecasts (last value, linear extrapolation, window mean)")  # fmt: skip
    p.add_argument("--out-scores", type=Path, metavar="NPZ",
                   help="also write the rows before the gate and every per-sample squared error "
                        "(`eta-performance-gate` gates them under any gates.* settings without running a model)")  # fmt: skip
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    p.set_defaults(func=cli_evaluate)

    p = subparsers.add_parser(
        "eta-performance-gate",
        help="E3: apply the config's learning gate (gates.e3_*) to one split's scores (no model is run)",
        description=("Read the scores file of `eta-performance-evaluate --out-scores` and write the split's "
                     "results CSV under the config's gates.e3_margin, gates.e3_se and gates.e3_reference: the "
                     "bytes `eta-performance-evaluate --out` writes with the same config."),
    )  # fmt: skip
    add_config_argument(p)
    p.add_argument("--scores", type=Path, required=True, metavar="NPZ", help="scores.npz of eta-performance-evaluate")
    p.add_argument("--out", type=Path, required=True, help="per-split results CSV")
    p.set_defaults(func=cli_gate)

    p = subparsers.add_parser("eta-performance-gather", help="E3: concatenate per-split results into results.csv")
    add_config_argument(p)
    p.add_argument("--inputs", type=Path, nargs="+", required=True, metavar="CSV", help="per-split results CSVs")
    p.add_argument("--out", type=Path, required=True, help="results/<run>/eta_performance/results.csv")
    p.add_argument("--baselines", type=Path, nargs="+", metavar="CSV", help="per-split reference-forecast CSVs")
    p.add_argument("--out-baselines", type=Path, help="results/<run>/eta_performance/baselines.csv")
    p.set_defaults(func=cli_gather)

    p = subparsers.add_parser("eta-performance-plot", help="E3: Figure 5 (test RMSE vs eta) and its table from results.csv")
    p.add_argument("--results", type=Path, required=True, help="results/<run>/eta_performance/results.csv")
    p.add_argument("--baselines", type=Path, help="results/<run>/eta_performance/baselines.csv (grey reference lines)")
    p.add_argument("--out-figure", type=Path, required=True, help="figure stem (writes STEM.pdf and STEM.png)")
    p.add_argument("--out-csv", type=Path, required=True)
    p.add_argument("--out-tex", type=Path, required=True)
    p.set_defaults(func=cli_figure5)
