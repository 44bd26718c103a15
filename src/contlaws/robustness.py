"""Robustness of the claims table across pre-registered specification variants.

``config/robustness.yaml`` names each variant, why it exists, the config keys it changes and its
overlay on the evidence config. This module

- loads and checks the variants (:func:`load_variants`, :func:`variant_config`): each overlay goes
  through the project's config loader on top of the baseline, and the keys that differ from the
  baseline must be exactly the declared ones;
- writes one overlay file per variant for Snakemake's ``--configfile`` (:func:`write_overlays`);
- gathers the verdicts of the baseline and every variant into the stability table
  (:func:`stability_table`, a pure function of the verdict records), the per-claim summary
  (:func:`stability_summary`) and the specification curve of C4 and C5 (:func:`spec_curve`).

A variant whose verdict files are missing is "not run" in every cell, never dropped. So is a variant
without a completion record (:func:`mark_complete`, written by ``make robustness`` once the variant's
``snakemake claims`` has finished): a variant is seeded with the baseline's verdict files, so until its
own run has finished those files are the baseline's, not its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from contlaws.claims.registry import VERDICTS, file_sha256
from contlaws.config import config_diff, load_config, read_config_file
from contlaws.errors import ConfigError

BASELINE = "baseline"
NOT_RUN = "not run"


# ---------------------------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One pre-registered variant: its name, reason, the dotted keys it changes and its overlay."""

    name: str
    reason: str
    changes: tuple[str, ...]
    overlay: dict

    @property
    def run_name(self) -> str:
        return f"robustness_{self.name}"


def load_variants(path: str | Path) -> tuple[Path, list[Variant]]:
    """(baseline config path, variants in file order) of a robustness file; ConfigError naming the key."""
    raw = read_config_file(path)
    unknown = sorted(set(raw) - {"baseline", "variants"})
    if unknown or not isinstance(raw.get("variants"), Mapping) or not raw["variants"]:
        raise ConfigError(f"{path}: needs 'baseline' and a non-empty mapping 'variants'"
                          + (f"; unknown key(s) {', '.join(unknown)}" if unknown else ""))  # fmt: skip
    baseline = Path(str(raw.get("baseline", "config/evidence.yaml")))
    if not baseline.is_absolute() and not baseline.exists():
        baseline = Path(path).resolve().parent.parent / baseline  # relative to the checkout holding config/
    variants = []
    for name, entry in raw["variants"].items():
        where = f"{path}: variants.{name}"
        if not isinstance(entry, Mapping) or set(entry) != {"reason", "changes", "overlay"}:
            raise ConfigError(f"{where}: needs exactly the keys reason, changes, overlay")
        if not str(name).replace("_", "").isalnum():
            raise ConfigError(f"{where}: a name of letters, digits and underscores")
        if "run_name" in entry["overlay"]:
            raise ConfigError(f"{where}.overlay.run_name: set by the runner (robustness_{name})")
        if not isinstance(entry["changes"], list) or not entry["changes"]:
            raise ConfigError(f"{where}.changes: a non-empty list of dotted config keys")
        variants.append(Variant(str(name), str(entry["reason"]), tuple(map(str, entry["changes"])),
                                copy.deepcopy(dict(entry["overlay"]))))  # fmt: skip
    return baseline, variants


def variant_overlay(variant: Variant) -> dict:
    """The overlay file's content: the variant's overlay with its own run_name."""
    return {"run_name": variant.run_name, **copy.deepcopy(variant.overlay)}


def variant_config(baseline: str | Path, variant: Variant) -> dict:
    """The resolved config of ``variant``: the paper config, the baseline file, then the overlay, merged
    in that order (as Snakemake merges several ``--configfile``) and validated."""
    return load_config(baseline, overrides=variant_overlay(variant))


def under(key: str, prefixes: Sequence[str]) -> bool:
    """Whether dotted ``key`` is one of ``prefixes`` or lies under one of them."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def changed_keys(baseline: str | Path, variant: Variant) -> list[str]:
    """The dotted leaf keys whose value differs between the variant's and the baseline's resolved config
    (run_name left out: every variant has its own)."""
    diff = config_diff(variant_config(baseline, variant), base=load_config(baseline))
    return [key for key in diff if key != "run_name"]


def check_variant(baseline: str | Path, variant: Variant) -> list[str]:
    """Problems of one variant: a changed key outside ``changes``, or a declared key that changes nothing."""
    changed = changed_keys(baseline, variant)
    stray = [k for k in changed if not under(k, variant.changes)]
    idle = [p for p in variant.changes if not any(under(k, [p]) for k in changed)]
    problems = [f"variant {variant.name}: key '{k}' differs from the baseline but is not in its changes" for k in stray]
    problems += [f"variant {variant.name}: declared change '{p}' is the same as in the baseline" for p in idle]
    return problems


def write_overlays(variants_path: str | Path, out_dir: str | Path) -> list[tuple[Variant, Path]]:
    """Check every variant, then write ``out_dir/<name>.yaml`` (its overlay with run_name) for each;
    nothing is written when any variant is invalid."""
    from contlaws.io import write_text

    baseline, variants = load_variants(variants_path)
    problems = [p for v in variants for p in check_variant(baseline, v)]
    if problems:
        raise ConfigError(f"{variants_path}:\n  - " + "\n  - ".join(problems))
    written = []
    for variant in variants:
        path = Path(out_dir) / f"{variant.name}.yaml"
        header = f"# generated from {variants_path} (variant {variant.name}: {variant.reason}); do not edit\n"
        write_text(path, header + yaml.safe_dump(variant_overlay(variant), sort_keys=False))
        written.append((variant, path))
    return written


# ---------------------------------------------------------------------------------------------
# Reading verdict records
# ---------------------------------------------------------------------------------------------
def read_records(claims_dir: str | Path) -> dict[str, dict]:
    """{claim id: verdict record} of the ``C*.json`` files present in ``claims_dir`` (missing: absent)."""
    out = {}
    for claim_id in dict.fromkeys(claim_id for _, claim_id, _ in ROWS):  # every claim a row reads, C4b included
        path = Path(claims_dir) / f"{claim_id}.json"
        if path.is_file():
            try:
                out[claim_id] = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ConfigError(f"{path}: not a valid verdict record ({err})") from None
    return out


# ---------------------------------------------------------------------------------------------
# Cells: verdict and key number of one claim part
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One cell of the stability table: a verdict, its key number with an interval, what they are."""

    verdict: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    what: str = ""

    def text(self) -> str:
        if self.verdict == NOT_RUN or self.value is None:
            return self.verdict + (f" ({self.what})" if self.what and self.verdict != NOT_RUN else "")
        interval = f" [{_fmt(self.low)}, {_fmt(self.high)}]" if self.low is not None and self.high is not None else ""
        return f"{self.verdict}: {self.what} {_fmt(self.value)}{interval}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.3g}"


def _num(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _part(record: Mapping[str, Any], prefix: str) -> str | None:
    """The verdict of the part whose numbers key starts with ``prefix`` (``part_a``), or None."""
    for key, value in record.get("numbers", {}).items():
        if key.startswith(prefix) and value in VERDICTS:
            return value
    return None


def cell_c1(record):
    return Cell(record["verdict"], _num(record["numbers"].get("e2_s4d_order_min")), what="smallest S4D order")


def split_range(text: str) -> tuple[float | None, float | None]:
    """``"0.68-308"`` -> (0.68, 308); ``"1e-05-3"`` -> (1e-05, 3): the split where both sides are numbers."""
    for i, char in enumerate(text):
        if char == "-" and i > 0 and _num(text[:i]) is not None and _num(text[i + 1:]) is not None:
            return _num(text[:i]), _num(text[i + 1:])
    return None, None


def cell_c2a(record):
    numbers = record["numbers"]
    low, high = split_range(str(numbers.get("e1_s6_amplitude_ratio_range") or ""))
    return Cell(_part(record, "part_a") or record["verdict"], _num(numbers.get("e1_s6_amplitude_ratio_median")),
                _num(low), _num(high), what="median S6 ratio (range)")  # fmt: skip


def cell_c2b(record):
    return Cell(_part(record, "part_b") or record["verdict"], _num(record["numbers"].get("e2_s6_amplitude_exponent_min")),
                what="smallest S6 exponent")  # fmt: skip


def cell_c2c(record):
    """The system whose S6 − S4D degradation is least resolved (smallest mean/SE), mean ± k SE."""
    k = float(record.get("thresholds", {}).get("paired_se", 2.0))
    pairs = record.get("details", {}).get("e2_relative_rmse_increase", {})
    scored = [(v["mean"] / v["se"], v) for v in pairs.values() if _num(v.get("mean")) is not None and _num(v.get("se"))]
    verdict = _part(record, "part_c") or record["verdict"]
    if not scored:
        return Cell(verdict, what="no paired seeds")
    _, weakest = min(scored, key=lambda item: item[0])
    mean, se = float(weakest["mean"]), float(weakest["se"])
    return Cell(verdict, mean, mean - k * se, mean + k * se, what="weakest S6-S4D increase")


def cell_c3(record):
    """The part that decides: where the ordering part fails, the weakest per-step TC drop in standard
    errors (the rule asks more than ``c3_se`` at every η step); otherwise the smallest separation."""
    numbers = record["numbers"]
    if numbers.get("part_a_ordering") == "not supported":
        failing = [system for system in record.get("details", {}).get("eta_family", {}).values()
                   if system.get("strictly_decreasing") is False]  # fmt: skip
        drops = [_num(system.get("smallest_drop_in_stderr")) for system in failing]
        if failing and all(d is not None for d in drops):  # a failing system without a number: show separation
            return Cell(record["verdict"], min(drops), what="weakest TC drop per eta step (SE)")
    return Cell(record["verdict"], _num(numbers.get("separation_min")), what="smallest TC(0)-TC(1)")


def cell_c4a(record):
    numbers = record["numbers"]
    return Cell(_part(record, "part_a") or record["verdict"], _num(numbers.get("rho")),
                _num(numbers.get("rho_bootstrap_low")), _num(numbers.get("rho_bootstrap_high")), what="rho")  # fmt: skip


def cell_c4b(record):
    """C4(b), the real-benchmark alignment: its own verdict record (``C4b.json``), rho and its interval."""
    numbers = record["numbers"]
    return Cell(record["verdict"], _num(numbers.get("rho")), _num(numbers.get("rho_bootstrap_low")),
                _num(numbers.get("rho_bootstrap_high")), what="rho")  # fmt: skip


def c5_task_numbers(record) -> list[dict]:
    """Per continuous task of a C5 record: its accuracy difference (mean ± k SE) and speed-ups."""
    k = float(record.get("thresholds", {}).get("paired_se", 2.0))
    tasks = record.get("details", {}).get("tasks", {})
    timing = record.get("timing", {}).get("tasks", {})
    out = []
    for task, entry in tasks.items():
        if entry.get("continuity") != "continuous":
            continue
        mean, se = _num(entry.get("test_accuracy_difference_mean")), _num(entry.get("test_accuracy_difference_se"))
        speedups = [_num(v) for v in timing.get(task, {}).get("speedups", [])]
        reached = [v for v in speedups if v is not None]
        out.append({
            "task": task, "verdict": entry.get("verdict"), "value": mean,
            "low": mean - k * se if mean is not None and se is not None else None,
            "high": mean + k * se if mean is not None and se is not None else None,
            "speedup_geomean": math.exp(sum(map(math.log, reached)) / len(reached)) if reached else None,
            "speedup_reached": f"{len(reached)} of {len(speedups)}",
        })  # fmt: skip
    return out


def cell_c5(record):
    """The continuous task with the smallest accuracy difference (the one that decides 'no worse')."""
    tasks = [t for t in c5_task_numbers(record) if t["value"] is not None]
    if not tasks:
        return Cell(record["verdict"], what="no continuous task")
    worst = min(tasks, key=lambda t: t["value"])
    return Cell(record["verdict"], worst["value"], worst["low"], worst["high"], what=f"{worst['task']} accuracy diff")


# (row label, claim id, cell function)
ROWS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], Cell]], ...] = (
    ("C1", "C1", cell_c1),
    ("C2(a)", "C2", cell_c2a),
    ("C2(b)", "C2", cell_c2b),
    ("C2(c)", "C2", cell_c2c),
    ("C3", "C3", cell_c3),
    ("C4(a)", "C4", cell_c4a),
    ("C4(b)", "C4b", cell_c4b),
    ("C5", "C5", cell_c5),
)


def stability_cells(runs: Mapping[str, Mapping[str, dict]]) -> dict[str, dict[str, Cell]]:
    """{row label: {column: Cell}} for ``runs`` = {column (baseline, then variants): {claim id: record}};
    a claim without a record in a column is "not run" there."""
    table: dict[str, dict[str, Cell]] = {}
    for label, claim_id, cell_of in ROWS:
        table[label] = {column: cell_of(records[claim_id]) if claim_id in records else Cell(NOT_RUN)
                        for column, records in runs.items()}  # fmt: skip
    return table


def stability_table(runs: Mapping[str, Mapping[str, dict]]) -> pd.DataFrame:
    """Long form: one row per (claim part, column) with verdict, key number, interval and cell text."""
    rows = []
    for label, cells in stability_cells(runs).items():
        for column, cell in cells.items():
            rows.append({"claim": label, "column": column, "verdict": cell.verdict, "what": cell.what,
                         "value": cell.value, "low": cell.low, "high": cell.high, "cell": cell.text()})  # fmt: skip
    return pd.DataFrame(rows, columns=["claim", "column", "verdict", "what", "value", "low", "high", "cell"])


def stability_summary(table: pd.DataFrame) -> dict[str, str]:
    """Per claim part: "across N variants: k supported, m not supported, r inconclusive" (+ not run)."""
    out = {}
    for label, rows in table[table["column"] != BASELINE].groupby("claim", sort=False):
        counts = rows["verdict"].value_counts()
        parts = [f"{int(counts.get(v, 0))} {v}" for v in VERDICTS]
        other = len(rows) - sum(int(counts.get(v, 0)) for v in VERDICTS)
        not_run = int(counts.get(NOT_RUN, 0))
        extra = (f", {not_run} not run" if not_run else "") + (f", {other - not_run} n/a" if other - not_run else "")
        out[label] = f"across {len(rows)} variants: {', '.join(parts)}{extra}"
    return out


def stability_markdown(table: pd.DataFrame, summary: Mapping[str, str], reasons: Mapping[str, str]) -> str:
    """The stability table as Markdown: one row per claim part, one column per run, then the summary."""
    wide = table.pivot(index="claim", columns="column", values="cell")
    columns = list(dict.fromkeys(table["column"]))
    labels = list(dict.fromkeys(table["claim"]))
    lines = ["# Robustness of the claims table", "",
             ("Each cell: the verdict, its key number and interval where the record has one. Columns: the baseline "
              "(evidence run) and each pre-registered variant (config/robustness.yaml); \"not run\": no verdict file, or "
              "the variant's run has not finished (see Variants)."), "",
             "| claim | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]  # fmt: skip
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(str(wide.loc[label, c]).replace("|", "/") for c in columns) + " |")
    lines += ["", "## Summary", ""] + [f"- **{label}**: {text}" for label, text in summary.items()]
    lines += ["", "## Variants", ""] + [f"- `{name}`: {reason}" for name, reason in reasons.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Specification curve (C4 and C5)
# ---------------------------------------------------------------------------------------------
SPEC_CURVE_COLUMNS = ["claim", "column", "task", "verdict", "value", "low", "high", "rank"]


def spec_curve(runs: Mapping[str, Mapping[str, dict]]) -> pd.DataFrame:
    """Key number per run for C4 (rho with its bootstrap interval) and C5 (accuracy difference, mean ± k SE,
    one point per continuous task), sorted by value within each claim (rank 0 = smallest); runs without a
    record or a number are left out of the curve (the stability table shows them as not run)."""
    rows = []
    for column, records in runs.items():
        if "C4" in records:
            cell = cell_c4a(records["C4"])
            if cell.value is not None:
                rows.append({"claim": "C4", "column": column, "task": "", "verdict": cell.verdict,
                             "value": cell.value, "low": cell.low, "high": cell.high})  # fmt: skip
        if "C5" in records:
            for task in c5_task_numbers(records["C5"]):
                if task["value"] is not None:
                    rows.append({"claim": "C5", "column": column, "task": task["task"], "verdict": task["verdict"],
                                 "value": task["value"], "low": task["low"], "high": task["high"]})  # fmt: skip
    df = pd.DataFrame(rows, columns=SPEC_CURVE_COLUMNS[:-1])
    df = df.sort_values(["claim", "value", "column", "task"], kind="mergesort").reset_index(drop=True)
    df["rank"] = df.groupby("claim").cumcount()
    return df[SPEC_CURVE_COLUMNS]


# ---------------------------------------------------------------------------------------------
# Gather: read every run's records and write the outputs
# ---------------------------------------------------------------------------------------------
COMPLETE_FILE = "robustness_complete.json"  # results/robustness_<name>/, written by mark_complete


def overlay_digest(variant: Variant) -> str:
    """sha256 of the variant's overlay (canonical JSON): a completion record holds for this overlay only."""
    return hashlib.sha256(json.dumps(variant_overlay(variant), sort_keys=True).encode()).hexdigest()


def _claim_digests(claims_dir: Path) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted(claims_dir.glob("C*.json"))}


def _find_variant(variants_path: str | Path, name: str) -> Variant:
    _, variants = load_variants(variants_path)
    for variant in variants:
        if variant.name == name:
            return variant
    raise ConfigError(f"{variants_path}: no variant named {name!r} (variants: {', '.join(v.name for v in variants)})")


def mark_complete(variants_path: str | Path, name: str, results_dir: str | Path) -> Path:
    """Record that variant ``name``'s run has finished (``make robustness`` calls it after its
    ``snakemake claims`` succeeded): the overlay's digest and the digest of every verdict file, in
    ``results/robustness_<name>/robustness_complete.json``. Returns its path."""
    from contlaws.io import provenance, write_json

    variant = _find_variant(variants_path, name)
    claims_dir = Path(results_dir) / variant.run_name / "claims"
    digests = _claim_digests(claims_dir)
    if not digests:
        raise ConfigError(f"{claims_dir}: no verdict files (C*.json); run the variant's `snakemake claims` first")
    path = Path(results_dir) / variant.run_name / COMPLETE_FILE
    write_json(path, {"variant": name, "overlay_sha256": overlay_digest(variant), "claims_sha256": digests,
                      "provenance": provenance()})  # fmt: skip
    return path


def completion_problem(variant: Variant, results_dir: str | Path) -> str | None:
    """Why the variant's verdict files cannot be read as its own (None: they can): no completion record,
    a record of another overlay, or verdict files changed since the record was written."""
    run_dir = Path(results_dir) / variant.run_name
    path = run_dir / COMPLETE_FILE
    if not path.is_file():
        return f"no completion record ({path}): its run has not finished"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        record = None
    if not isinstance(record, dict):
        return f"{path}: unreadable completion record"
    if record.get("overlay_sha256") != overlay_digest(variant):
        return f"{path}: recorded for another overlay than config/robustness.yaml's"
    if record.get("claims_sha256") != _claim_digests(run_dir / "claims"):
        return f"{path}: verdict files changed since the run finished (a rerun in progress?)"
    return None


def gather_runs(variants_path: str | Path, results_dir: str | Path) -> tuple[dict[str, dict], dict[str, str]]:
    """({column: {claim id: record}}, {variant: reason}) with the baseline first, variants in file order.
    A variant whose run has not finished (:func:`completion_problem`) has no records (every cell "not
    run"), and its reason says why."""
    baseline, variants = load_variants(variants_path)
    base_run = read_config_file(baseline).get("run_name") or load_config(baseline)["run_name"]
    runs = {BASELINE: read_records(Path(results_dir) / str(base_run) / "claims")}
    reasons = {}
    for variant in variants:
        problem = completion_problem(variant, results_dir)
        runs[variant.name] = {} if problem else read_records(Path(results_dir) / variant.run_name / "claims")
        reasons[variant.name] = variant.reason + (f" (not run: {problem})" if problem else "")
    return runs, reasons


def write_stability(runs: Mapping[str, Mapping[str, dict]], reasons: Mapping[str, str], out_dir: str | Path) -> dict:
    """Write stability.csv, stability.md, summary.json and spec_curve.csv under ``out_dir``; return the summary."""
    from contlaws.io import write_json, write_text

    out_dir = Path(out_dir)
    table = stability_table(runs)
    summary = stability_summary(table)
    write_text(out_dir / "stability.csv", table.to_csv(index=False, float_format="%.6g"))
    write_text(out_dir / "stability.md", stability_markdown(table, summary, reasons))
    write_json(out_dir / "summary.json", summary)
    write_text(out_dir / "spec_curve.csv", spec_curve(runs).to_csv(index=False, float_format="%.6g"))
    return summary

