"""``contlaws train``: one model on one dataset split (spec E2, E3; the engine is :mod:`contlaws.train`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args, exit_with_parent, set_threads
from contlaws.config import schema


def cli_train(args: argparse.Namespace) -> int:
    if getattr(args, "standalone", False):  # an orphaned trainer would keep writing --out while a rerun starts another
        exit_with_parent()
    cfg = config_from_args(args)
    set_threads(cfg)
    from contlaws.train import TrainingDiverged, train_run

    prepare = None
    if args.experiment == "eta_performance":  # E3: the causal forecaster trains on every position
        from contlaws.experiments.eta_performance import readout_setup as prepare
    try:
        train_run(cfg, args.model, args.train, args.val, args.out, seed=args.seed, discretization=args.discretization,
                  experiment=args.experiment, epochs=args.epochs, device=args.device,
                  restart_on_mismatch=args.restart_on_mismatch, prepare=prepare)  # fmt: skip
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one model on one dataset split (spec E2, E3)",
        description=(
            "Train MODEL on --train, select on --val, write last.pt, best.pt, metrics.csv and summary.json "
            "to --out. Resumes from --out/last.pt when present. A model that cannot run here (CUDA-only "
            "baselines on a CPU machine) writes summary.json with status 'not run' and exits 0. One training "
            "per --out folder: a second one is refused while the first runs (lock file --out/.lock). On Linux "
            "the training ends when the process that started it ends (run it inside tmux or screen to "
            "outlive a terminal)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--model", required=True, choices=schema()["$defs"]["model_name"]["enum"])
    parser.add_argument("--train", type=Path, required=True, help="training split (.npz)")
    parser.add_argument("--val", type=Path, required=True, help="validation split (.npz)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--discretization", choices=("zoh", "bilinear"), help="override model.<layer>.discretization")
    parser.add_argument("--experiment", choices=("refinement_trained", "eta_performance"),
                        help="config section whose `epochs` overrides train.epochs")  # fmt: skip
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    parser.add_argument("--restart-on-mismatch", action="store_true",
                        help="if --out/last.pt comes from other settings, start over instead of refusing (pipeline rules)")
    parser.set_defaults(func=cli_train)


