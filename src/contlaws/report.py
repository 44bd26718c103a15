"""Run-level records for the report: provenance of a run and the claims table (C1-C5).

``contlaws provenance`` writes the resolved config with git commit, package versions and device;
``contlaws claims-table`` gathers the per-claim verdict JSON files into one CSV + Markdown table
(claim, verdict, the numbers behind it), shown in the report and described in the README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from contlaws.cli import add_config_argument, config_from_args
from contlaws.io import provenance, read_json, refuse_output_over_input, to_jsonable, write_table, write_text

VERDICT_MARK = {"supported": "supported", "not supported": "NOT supported", "inconclusive": "inconclusive"}


def write_provenance(cfg: dict, out: Path) -> None:
    record = provenance(cfg, seed=cfg.get("seed"))
    write_text(out, yaml.safe_dump(to_jsonable(record), sort_keys=True, allow_unicode=True))


def _numbers_text(numbers: dict, limit: int = 8) -> str:
    items = []
    for key, value in list(numbers.items())[:limit]:
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, dict)):
            value = str(to_jsonable(value))
            value = value if len(value) <= 60 else value[:57] + "..."
        items.append(f"{key}={value}")
    if len(numbers) > limit:
        items.append(f"(+{len(numbers) - limit} more in the JSON)")
    return "; ".join(items)


def claims_table(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        rec = read_json(path)
        rows.append(
            {
                "claim": rec.get("claim", Path(path).stem),
                "statement": rec.get("statement", ""),
                "verdict": rec.get("verdict", "inconclusive"),
                "numbers": _numbers_text(rec.get("numbers", {})),
                "source": str(path),
            }
        )
    return pd.DataFrame(rows).sort_values("claim", kind="stable").reset_index(drop=True)


def claims_markdown(df: pd.DataFrame) -> str:
    lines = ["| claim | statement | verdict | numbers |", "|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r['claim']} | {r['statement']} | **{VERDICT_MARK.get(r['verdict'], r['verdict'])}** | {r['numbers']} |")
    return "\n".join(lines) + "\n"


def _cmd_provenance(args: argparse.Namespace) -> None:
    refuse_output_over_input(args.out, [args.config], "--out")
    write_provenance(config_from_args(args), args.out)


def _cmd_claims_table(args: argparse.Namespace) -> None:
    for option, output in (("--out-csv", args.out_csv), ("--out-md", args.out_md)):
        refuse_output_over_input(output, [args.inputs], option)
    df = claims_table(args.inputs)
    write_table(args.out_csv, df, meta=provenance())
    write_text(args.out_md, claims_markdown(df))
    print(claims_markdown(df))


def register(sub) -> None:
    p = sub.add_parser("provenance", help="write the resolved config with git commit, package versions, device")
    add_config_argument(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_provenance)

    p = sub.add_parser("claims-table", help="gather claim verdict JSON files into one table")
    p.add_argument("inputs", type=Path, nargs="+", help="claim verdict JSON files (results/<run>/claims/C*.json)")
    p.add_argument("--out-csv", type=Path, required=True)
    p.add_argument("--out-md", type=Path, required=True)
    p.set_defaults(func=_cmd_claims_table)
