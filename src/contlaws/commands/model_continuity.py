"""``contlaws model-continuity``: d(τ) and its order for a trained checkpoint (maths in
:mod:`contlaws.model_continuity`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from contlaws.commands.common import parse_tau_path, positive_int, set_threads, tau_path_map
from contlaws.io import refuse_output_over_input, write_json

if TYPE_CHECKING:  # contlaws.model_continuity imports torch: only the command itself loads it
    from contlaws.model_continuity import ModelContinuity


def format_table(result: ModelContinuity) -> str:
    lines = [f"{'tau':>10}  {'d(tau)':>12}"]
    lines += [f"{t:>10.6g}  {v:>12.6g}" + ("  (reference)" if t == result.tau_ref else "") for t, v in result.d.items()]
    lines[0] += f"  {'delta(tau)':>12}"
    lines[1:] = [line + (f"  {result.delta[t]:>12.6g}" if t in result.delta else "") for line, t in zip(lines[1:], result.d)]
    fit = f"{result.order:.4g}" if math.isfinite(result.order) else f"n/a ({result.order_note})"
    lines.append(f"order p = {fit} (log-log fit of delta over tau <= 1), spread s = {result.spread:.4g}, n = {result.n}")
    return "\n".join(lines)


def cli_model_continuity(args: argparse.Namespace) -> None:
    from contlaws.model_continuity import checkpoint_continuity

    refuse_output_over_input(args.out_json, [args.checkpoint, *(path for _, path in args.data)], "--out-json")
    set_threads(args.threads)
    paths = tau_path_map(args.data, "--data")
    result, record = checkpoint_continuity(args.checkpoint, paths, device=args.device, batch_size=args.batch_size,
                                           max_samples=args.max_samples)  # fmt: skip
    print(format_table(result))
    if args.out_json:
        write_json(args.out_json, record)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "model-continuity",
        help="model continuity d(tau) and its order for a trained checkpoint on refined test sets",
        description=(
            "d(tau) = RMS(f_tau(x_tau) - f_taumin(x_taumin)) / s, s the RMS spread of f_taumin(x_taumin) over "
            "samples, for a checkpoint written by `contlaws train`, on test sets of the same trajectories "
            "sampled at several tau; and the order p, the log-log slope of the differences between "
            "neighbouring tau <= 1 (needs four tau <= 1). Outputs are in the model's label units "
            "(standardized labels for E2 checkpoints)."
        ),
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt / last.pt written by `contlaws train`")
    p.add_argument("--data", type=parse_tau_path, nargs="+", required=True, metavar="TAU=PATH",
                   help="refined sets of the same trajectories, e.g. 1=vdp_tau1_test.npz 0.5=vdp_tau0.5_test.npz")
    p.add_argument("--out-json", type=Path, metavar="OUT", help="also write the result with provenance as JSON")
    p.add_argument("--batch-size", type=positive_int,
                   help="rows per call, the same at every tau (default: the batch the pipeline's evaluation uses, "
                        "from the checkpoint's train.eval_max_elements). S4D models with the authors' channel norm "
                        "(E2) average that norm over the rows and time steps of a batch, so their d(tau) and "
                        "order change with the batch size: keep the default to reproduce the pipeline's numbers. "
                        "S6 and the other models do not depend on it.")  # fmt: skip
    p.add_argument("--max-samples", type=positive_int, help="compare only the first N trajectories")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=cli_model_continuity)
