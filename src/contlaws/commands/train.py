"""``contlaws train``: models on one dataset split (spec E2, E3; the engine is :mod:`contlaws.train`).

One run per (model, seed); several run one after another in one process, which pays the interpreter
start and the imports (about 4 CPU s, benchmarks/RESULTS.md) once instead of once per run."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import (
    add_config_argument,
    config_from_args,
    exit_with_parent,
    run_folders,
    set_threads,
    train_runs_in_turn,
)
from contlaws.config import schema


def cli_train(args: argparse.Namespace) -> int:
    if getattr(args, "standalone", False):  # an orphaned trainer would keep writing --out while a rerun starts another
        exit_with_parent()
    cfg = config_from_args(args)
    runs = run_folders(str(args.out), args.model, args.seed)
    set_threads(cfg)
    from contlaws.train import TrainingDiverged, train_run

    prepare = None
    if args.experiment == "eta_performance":  # E3: the causal forecaster trains on every position
        from contlaws.experiments.eta_performance import readout_setup as prepare

    def train_one(model, seed, out):
        train_run(cfg, model, args.train, args.val, out, seed=seed, discretization=args.discretization,
                  experiment=args.experiment, epochs=args.epochs, device=args.device,
                  restart_on_mismatch=args.restart_on_mismatch, prepare=prepare)  # fmt: skip

    return train_runs_in_turn(runs, train_one, TrainingDiverged)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train models on one dataset split (spec E2, E3)",
        description=(
            "Train MODEL on --train, select on --val, write last.pt, best.pt, metrics.csv and summary.json "
            "to --out. Several models or seeds train one after another, each in its own folder (--out a "
            "pattern such as 'runs/{model}_seed{seed}'); a diverging run fails the command after the others "
            "have trained. Resumes from --out/last.pt when present. A model that cannot run here (CUDA-only "
            "baselines on a CPU machine) writes summary.json with status 'not run' and exits 0. One training "
            "per --out folder: a second one is refused while the first runs (lock file --out/.lock). On Linux "
            "the training ends when the process that started it ends (run it inside tmux or screen to "
            "outlive a terminal)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--model", required=True, nargs="+", choices=schema()["$defs"]["model_name"]["enum"],
                        help="model(s); several models or seeds train one after another in this process")
    parser.add_argument("--train", type=Path, required=True, help="training split (.npz)")
    parser.add_argument("--val", type=Path, required=True, help="validation split (.npz)")
    parser.add_argument("--out", required=True,
                        help="output folder; with several runs a pattern naming {model} and {seed}")
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="training seed(s) (default 0)")
    parser.add_argument("--discretization", choices=("zoh", "bilinear"), help="override model.<layer>.discretization")
    parser.add_argument("--experiment", choices=("refinement_trained", "eta_performance"),
                        help="config section whose `epochs` overrides train.epochs")  # fmt: skip
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    parser.add_argument("--restart-on-mismatch", action="store_true",
                        help="if --out/last.pt comes from other settings, start over instead of refusing (pipeline rules)")
    parser.set_defaults(func=cli_train)


