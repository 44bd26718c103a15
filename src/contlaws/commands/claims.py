"""``contlaws claims evaluate|list``: verdicts on the paper's claims (logic in :mod:`contlaws.claims`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from contlaws.commands.common import add_config_argument, config_from_args
from contlaws.io import provenance, refuse_output_over_input, write_json


def parse_named_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


# contlaws.claims (pandas, numpy) is imported by the actions that use it, so that building this parser
# (`contlaws claims evaluate --help`) stays light.
def cli_evaluate(args: argparse.Namespace) -> None:
    from contlaws.claims import evaluate_claim

    refuse_output_over_input(args.out, [args.config, [path for _, path in args.inputs]], "--out")
    cfg = config_from_args(args)
    record = evaluate_claim(args.claim, dict(args.inputs), cfg)
    record["provenance"] = provenance({"seed": cfg["seed"], "claims": cfg["claims"]}, cfg["seed"], run_name=cfg["run_name"])
    write_json(args.out, record)
    print(f"{record['claim']}: {record['verdict']}\n{record['explanation']}")


def cli_list(args: argparse.Namespace) -> None:
    from contlaws.claims import CLAIMS

    for entry in CLAIMS.values():
        print(f"{entry.claim_id}: {entry.statement}\n    --inputs {' '.join(n + '=PATH' for n in entry.inputs)}")


def register(subparsers) -> None:
    p = subparsers.add_parser("claims", help="verdicts on the paper's claims C1-C5 and C4b (docs/claims.md)")
    actions = p.add_subparsers(dest="claims_action", required=True, metavar="ACTION")
    ev = actions.add_parser("evaluate", help="evaluate one claim from result tables, write its verdict JSON")
    ev.add_argument("claim", help="claim id (see `contlaws claims list`)")
    add_config_argument(ev)
    ev.add_argument("--inputs", type=parse_named_path, nargs="+", required=True, metavar="NAME=PATH",
                    help="the claim's named input files")
    ev.add_argument("--out", type=Path, required=True, help="verdict JSON (results/<run>/claims/<claim>.json)")
    ev.set_defaults(func=cli_evaluate)
    ls = actions.add_parser("list", help="registered claims and the inputs each reads")
    ls.set_defaults(func=cli_list)
