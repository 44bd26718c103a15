"""Run-level records for the report: provenance of a run and the claims table (C1-C5, C4b).

``contlaws report-provenance`` writes the resolved config with git commit, package versions and device;
``contlaws claims-gather`` gathers the per-claim verdict JSON files into one CSV + Markdown table
(claim, verdict, the numbers behind it), shown in the report and described in the README, and
optionally an HTML page of the same table with every number (``--out-html``) and a claim/verdict/statement
CSV that the report's landing page shows (``--out-verdicts``);
``contlaws report-page`` renders CSV tables and YAML records as one self-contained HTML page.

Snakemake's report shows an HTML result in its main view (in a frame), but a CSV or YAML result only
as a download link, so every table a reader should see is also written as such a page.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import yaml

from contlaws.errors import UserError
from contlaws.io import provenance, read_json, to_jsonable, write_table, write_text

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


def power_text(rec: dict) -> str:
    """The power line of a verdict that is not supported (``numbers.power``: what the design could have
    detected, and what would decide an inconclusive part); empty for a supported verdict."""
    if rec.get("verdict", "inconclusive") == "supported":
        return ""
    return str((rec.get("numbers") or {}).get("power", ""))


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
                "power": power_text(rec),
                "source": str(path),
            }
        )
    return pd.DataFrame(rows).sort_values("claim", kind="stable").reset_index(drop=True)


def claims_markdown(df: pd.DataFrame) -> str:
    lines = ["| claim | statement | verdict | numbers | power |", "|---|---|---|---|---|"]
    for _, r in df.iterrows():
        lines.append(f"| {r['claim']} | {r['statement']} | **{VERDICT_MARK.get(r['verdict'], r['verdict'])}** | {r['numbers']} "
                     f"| {r['power']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px;
       color: #1f2937; margin: 16px 20px; line-height: 1.4; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 16px; margin: 24px 0 6px; }
p.note { color: #4b5563; margin: 2px 0 8px; max-width: 70em; }
table { border-collapse: collapse; margin: 4px 0 12px; }
th, td { border: 1px solid #d1d5db; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f9fafb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.claims { width: 100%; } td.statement { min-width: 14em; }
td.numbers { font-size: 13px; min-width: 14em; overflow-wrap: anywhere; }
div.explanation { color: #4b5563; font-size: 13px; margin-top: 6px; }
td.numbers ul { margin: 0; padding-left: 1.1em; }
.verdict { font-weight: 600; white-space: nowrap; }
.v-supported { color: #166534; } .v-not-supported { color: #991b1b; } .v-inconclusive { color: #92400e; }
pre { background: #f3f4f6; padding: 8px 10px; font-size: 12px; overflow-x: auto; }
"""


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_esc(title)}</title><style>{PAGE_STYLE}</style></head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _cell_value(value) -> tuple[str, bool]:
    """Text of one table cell and whether it is a number (right-aligned)."""
    if isinstance(value, bool) or value is None:
        return ("" if value is None else str(value)), False
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value), True
        return (f"{value:.4g}" if isinstance(value, float) else str(value)), True
    return str(value), False


def html_table(df: pd.DataFrame) -> str:
    """An HTML table of ``df`` (header row, numbers right-aligned to 4 significant digits)."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.astype(object).where(pd.notna(df), None).itertuples(index=False):
        cells = []
        for value in rec:
            text, numeric = _cell_value(value.item() if hasattr(value, "item") else value)
            cells.append(f"<td class=\"num\">{_esc(text)}</td>" if numeric else f"<td>{_esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def _number_text(value) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_number_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_number_text(v) for v in value) + "]"
    return str(value)


def claims_html(paths: list[Path]) -> str:
    """The claims table as an HTML page: verdict, statement, how it was decided and every number."""
    records = sorted((read_json(p) for p in paths), key=lambda r: str(r.get("claim", "")))
    rows = []
    for rec in records:
        verdict = rec.get("verdict", "inconclusive")
        numbers = "".join(
            f"<li>{_esc(k)} = {_esc(_number_text(v))}</li>" for k, v in (rec.get("numbers") or {}).items()
        )
        rows.append(
            "<tr>"
            f"<td><b>{_esc(rec.get('claim', ''))}</b></td>"
            f"<td class=\"verdict v-{_esc(verdict.replace(' ', '-'))}\">{_esc(VERDICT_MARK.get(verdict, verdict))}</td>"
            f"<td class=\"statement\">{_esc(rec.get('statement', ''))}"
            f"<div class=\"explanation\">{_esc(rec.get('explanation', ''))}</div></td>"
            f"<td class=\"numbers\"><ul>{numbers}</ul></td>"
            "</tr>"
        )
    table = (
        "<table class=\"claims\">\n<thead><tr><th>claim</th><th>verdict</th><th>statement, and how it is decided</th>"
        "<th>numbers behind the verdict</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )
    note = (
        "<p class=\"note\">Verdicts computed from this run's numbers with the thresholds of "
        "<code>config.claims</code> (docs/claims.md). The same table is in claims.csv and claims.md; "
        "each claim's full record is its C*.json file.</p>"
    )
    return _page("Claims C1-C5 and C4b: verdicts", [note, table])


def verdicts_table(df: pd.DataFrame) -> pd.DataFrame:
    """claim, verdict, statement: the short table on the report's landing page."""
    out = df[["claim", "verdict", "statement"]].copy()
    out["verdict"] = [VERDICT_MARK.get(v, v) for v in out["verdict"]]
    return out


def report_page(title: str, tables: list[tuple[str, Path]], records: list[tuple[str, Path]]) -> str:
    """One HTML page with each CSV table (heading, table) and each YAML/text record (heading, text)."""
    body = []
    for _, path in [*tables, *records]:
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file (an input of the report page {title!r})")
    for heading, path in tables:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        body.append(f"<h2>{_esc(heading)}</h2>\n<p class=\"note\">{_esc(path)}: {len(df)} rows</p>")
        body.append(html_table(df))
    for heading, path in records:
        body.append(f"<h2>{_esc(heading)}</h2>\n<p class=\"note\">{_esc(path)}</p>")
        body.append(f"<pre>{_esc(Path(path).read_text(encoding='utf-8'))}</pre>")
    return _page(title, body)


def write_claims_table(inputs: list[Path], out_csv: Path, out_md: Path, out_html: Path | None = None,
                       out_verdicts: Path | None = None) -> str:
    """The claims table of the verdict files ``inputs`` as CSV and Markdown (and optionally HTML and the
    claim/verdict/statement CSV); returns the Markdown."""
    df = claims_table(inputs)
    write_table(out_csv, df, meta=provenance())
    markdown = claims_markdown(df)
    write_text(out_md, markdown)
    if out_html:
        write_text(out_html, claims_html(inputs))
    if out_verdicts:
        write_table(out_verdicts, verdicts_table(df))
    return markdown
