"""``contlaws task-continuity``: score a dataset file (spec E4; the maths is :mod:`contlaws.task_continuity`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.config import resolve_section
from contlaws.errors import UserError
from contlaws.io import provenance, refuse_output_over_input, write_json
from contlaws.task_continuity import (
    INPUT_KINDS,
    METRICS,
    STANDARDIZE,
    TaskContinuity,
    get_metric,
    score_dataset,
)


def format_summary(result: TaskContinuity, source: str) -> str:
    """A short human-readable report: score, counts and the curve."""
    metric = get_metric(result.metric)
    unit = "lag" if metric.name == "first_difference" else "stride"
    lines = [
        f"task continuity of {source}: {metric.name}, {result.input_kind} input, {metric.formula(result.normalized)}",
        f"  sequences scored: {result.n_sequences}   excluded: {result.n_excluded} ({result.n_constant} constant)",
        f"  TC ({unit} {metric.score_stride}): {result.score:.4f} ± {result.stderr:.1g} (standard error)",
        f"  {unit:>6}  {'TC':>8}  {'residual':>9}  {'n':>8}",
    ]
    for s, tc in result.curve.items():
        lines.append(f"  {s:>6}  {tc:>8.4f}  {result.residual[s]:>9.4g}  {result.curve_counts[s]:>8}")
    return "\n".join(lines)


def cmd_task_continuity(args: argparse.Namespace) -> int:
    refuse_output_over_input(args.out_json, [args.path, args.config], "--out-json")
    cfg = None
    if args.config is not None:
        cfg = config_from_args(args)
        settings: Mapping[str, Any] = cfg["task_continuity"]
    else:  # a user's own file without a pipeline config: the schema's defaults of the section
        settings = resolve_section("task_continuity", {})
    metric = args.metric or settings["metric"]
    strides = args.strides or settings["strides"]
    # Without a config every sequence is scored (0): the schema's max_sequences (a cap that keeps
    # pipeline jobs short) is for pipeline runs, not for a user scoring their own dataset.
    if args.max_sequences is not None:
        max_sequences = args.max_sequences
    else:
        max_sequences = settings["max_sequences"] if cfg is not None else 0
    normalize = not args.raw and bool(settings["normalize"])
    try:
        result = score_dataset(
            args.path,
            metric=metric,
            strides=strides,
            key=args.key,
            input_kind=args.input_kind,
            vocab_size=args.vocab_size,
            normalize=normalize,
            max_sequences=max_sequences,
            batch_size=args.batch_size,
            progress=True,
            standardize=args.standardize or settings["standardize"],
            check_strides=True,
        )
    except ValueError as err:
        raise UserError(f"{args.path} (array {args.key!r}): {err}") from None
    print(format_summary(result, str(args.path)))
    if args.out_json is not None:
        record = {
            "source": str(args.path),
            "key": args.key,
            "input_kind": result.input_kind,
            "max_sequences": max_sequences,
            "result": result.to_dict(),
            "provenance": provenance(cfg),
        }
        write_json(args.out_json, record)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "task-continuity",
        help="E4: task continuity of a dataset file (contlaws dataset, .npy or .npz)",
        description="Task continuity TC = 1 − r_2/r̄_2 (refinement residual) of every sequence in a file, and its curve over strides.",
    )
    p.add_argument("path", type=Path, help="contlaws dataset .npz, or your own .npy / .npz of (N, L[, d]) sequences")
    p.add_argument("--metric", choices=sorted(METRICS), default=None, help="default: refinement (or the config's)")
    p.add_argument("--strides", type=int, nargs="+", default=None, metavar="S", help="curve strides (default 2 4 8 16)")
    p.add_argument("--key", default="x", help="array inside an .npz (default: %(default)s)")
    p.add_argument("--input-kind", choices=INPUT_KINDS, default=None, help="default: the dataset's own, else continuous")
    p.add_argument("--vocab-size", type=int, default=None, help="tokens: check ids are below this")
    p.add_argument("--max-sequences", type=int, default=None, metavar="N", help="score the first N sequences (0 = all)")
    p.add_argument("--batch-size", type=int, default=1024, help="sequences read per batch (default: %(default)s)")
    p.add_argument("--standardize", choices=STANDARDIZE, default=None,
                   help="channels: divide each channel by its dataset standard deviation (default, or the config's); none: sum as is")
    p.add_argument("--raw", action="store_true", help="refinement: report 1 − r instead of the noise-normalized 1 − r/r̄")
    p.add_argument("--out-json", type=Path, default=None, metavar="OUT", help="also write the result with provenance as JSON")
    add_config_argument(p, required=False)
    p.set_defaults(func=cmd_task_continuity)
