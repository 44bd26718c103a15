"""``contlaws report-provenance``, ``claims-gather`` and ``report-page``: run-level records (logic in
:mod:`contlaws.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.errors import UserError
from contlaws.io import refuse_output_over_input, write_text

# contlaws.report (pandas) is imported by the command that runs, not when the parser is built.


def _titled_path(text: str) -> tuple[str, Path]:
    title, sep, path = text.rpartition("=")
    if not sep or not title or not path:
        raise argparse.ArgumentTypeError(f"expected TITLE=PATH, got {text!r}")
    return title, Path(path)


def _cmd_report_page(args: argparse.Namespace) -> None:
    from contlaws.report import report_page

    inputs = {Path(p).resolve() for _, p in [*args.table, *args.text]}
    if Path(args.out).resolve() in inputs:
        raise UserError(f"{args.out}: the output page would overwrite one of its inputs")
    write_text(args.out, report_page(args.title, args.table, args.text))


def _cmd_provenance(args: argparse.Namespace) -> None:
    from contlaws.report import write_provenance

    refuse_output_over_input(args.out, [args.config], "--out")
    write_provenance(config_from_args(args), args.out)


def _cmd_claims_table(args: argparse.Namespace) -> None:
    from contlaws.report import write_claims_table

    outputs = (("--out-csv", args.out_csv), ("--out-md", args.out_md), ("--out-html", args.out_html),
               ("--out-verdicts", args.out_verdicts))
    for option, output in outputs:
        refuse_output_over_input(output, [args.inputs], option)
    print(write_claims_table(args.inputs, args.out_csv, args.out_md, args.out_html, args.out_verdicts))


def register(sub) -> None:
    p = sub.add_parser("report-provenance", help="write the resolved config with git commit, package versions, device")
    add_config_argument(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_provenance)

    p = sub.add_parser("claims-gather", help="gather claim verdict JSON files into one table")
    p.add_argument("--inputs", type=Path, nargs="+", required=True, metavar="JSON",
                   help="claim verdict JSON files (results/<run>/claims/C*.json)")
    p.add_argument("--out-csv", type=Path, required=True)
    p.add_argument("--out-md", type=Path, required=True)
    p.add_argument("--out-html", type=Path, help="the same table as an HTML page, with every number")
    p.add_argument("--out-verdicts", type=Path, help="claim, verdict, statement CSV (the report's landing page)")
    p.set_defaults(func=_cmd_claims_table)

    p = sub.add_parser("report-page", help="render CSV tables and text records as one HTML page (for the report)")
    p.add_argument("--title", required=True)
    p.add_argument("--table", type=_titled_path, action="append", default=[], metavar="TITLE=CSV")
    p.add_argument("--text", type=_titled_path, action="append", default=[], metavar="TITLE=FILE")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_report_page)
