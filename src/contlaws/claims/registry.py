"""Registering, running and reading inputs of the claims: the :func:`claim` decorator, the
verdict combinators, the non-finite input check and :func:`evaluate_claim`."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contlaws.errors import DataFileError, UserError
from contlaws.io import read_result_csv
from contlaws.table_checks import ValueRange

VERDICTS = ("supported", "not supported", "inconclusive")


@dataclass(frozen=True)
class Claim:
    """A registered claim: id, statement, the named inputs its evaluator reads, the evaluator."""

    claim_id: str
    statement: str
    inputs: tuple[str, ...]
    evaluate: Callable[[Mapping[str, Path], Mapping[str, Any]], dict]


CLAIMS: dict[str, Claim] = {}


def claim(claim_id: str, statement: str, inputs: Sequence[str]):
    """Decorator: register ``fn(inputs, cfg) -> {verdict, numbers, thresholds, explanation}`` as ``claim_id``."""

    def register_fn(fn):
        CLAIMS[claim_id] = Claim(claim_id, statement, tuple(inputs), fn)
        return fn

    return register_fn


def combine(parts: Sequence[str]) -> str:
    """Verdict of a claim that needs every part: any part not supported -> not supported; else any
    part inconclusive (or no parts) -> inconclusive; else supported."""
    if "not supported" in parts:
        return "not supported"
    if not parts or "inconclusive" in parts:
        return "inconclusive"
    return "supported"


# What a value of a result column can be; a finite value outside is impossible and refused (reading
# it as a number would change a verdict silently). Every range also refuses |value| > 1e150.
NONNEGATIVE = ValueRange(low=0, why="an error or a distance is never negative")
POSITIVE = ValueRange(low=0, low_open=True, why="a refinement factor or an amplitude is positive")
ANY_SIZE = ValueRange()  # any sign; only a value whose square overflows is refused
# TC = 1 − (refinement residual / its value for i.i.d. noise): at most 1 (a residual is never
# negative); below 0 for data rougher than noise, so there is no lower bound.
TC_RANGE = ValueRange(high=1, why="task continuity is at most 1")
ETA_RANGE = ValueRange(low=0, high=1, why="eta is a mixing weight in [0, 1]")
ACCURACY = ValueRange(low=0, high=1, why="an accuracy is a fraction in [0, 1]")
ACCURACY_DIFFERENCE = ValueRange(low=-1, high=1, why="a difference of two accuracies lies in [-1, 1]")
SECONDS = ValueRange(low=0, why="a time or a count is never negative")
SPEEDUP = ValueRange(low=0, low_open=True, why="a speed-up is a ratio of two positive times")


def read_csv_input(inputs: Mapping[str, Path], name: str, columns: Sequence[str], *,
                   ranges: Mapping[str, ValueRange] | None = None, flags: Sequence[str] = (),
                   key: Sequence[str] = ()) -> pd.DataFrame:  # fmt: skip
    """The CSV given as ``name``; DataFileError naming the file (and line and column) when it is
    unreadable, lacks columns, holds an impossible value in ``ranges``, a non-boolean in ``flags``, or
    two different rows with the same ``key`` (identical repeated rows are dropped). NaN and inf are
    left to :func:`non_finite` (inconclusive, not refused: a failed job may write them)."""
    return read_result_csv(Path(inputs[name]), columns, what=f"input '{name}'", allow_empty=True, ranges=ranges,
                           flags=flags, key=key)  # fmt: skip


RUN_KEY = ("system", "model", "discretization", "seed")  # one trained E2 model


def read_sweep(inputs: Mapping[str, Path]) -> pd.DataFrame:
    """The E2 amplitude sweep (input ``amplitude_sweep`` of C1 and C2), checked: d per run, amplitude and τ."""
    return read_csv_input(inputs, "amplitude_sweep", [*RUN_KEY, "amplitude", "tau", "d", "learned"],
                          ranges={"amplitude": POSITIVE, "tau": POSITIVE, "d": NONNEGATIVE}, flags=["learned"],
                          key=[*RUN_KEY, "amplitude", "tau"])  # fmt: skip


# Columns that name a row of a result table, in the order they are shown in a non-finite report.
ROW_KEYS = ("task", "family", "dataset", "system", "model", "discretization", "mode", "seed", "eta", "amplitude", "tau",
            "label", "stage", "epoch")  # fmt: skip
MAX_ROWS_SHOWN = 5


def non_finite(inputs: Mapping[str, Path], name: str, df: pd.DataFrame, column: str,
               where: pd.Series | None = None, nan_ok: pd.Series | None = None) -> str | None:  # fmt: skip
    """Why ``column`` of input ``name`` is unusable, or None: the rows (of ``where``, default all) whose
    value is NaN, infinite or not a number, naming the file and the rows.

    A claim must not turn such a value into a number: pandas means skip NaN, and comparisons with
    NaN are False, so one NaN would silently change a verdict. ``nan_ok`` marks rows whose NaN is
    part of the table's meaning (e.g. an order that could not be fitted, with its reason); an
    infinite value is never accepted.
    """
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if nan_ok is not None:
        # Only a real NaN (empty cell or "nan") is accepted there, not text that is no number at all.
        is_nan = df[column].map(lambda v: (isinstance(v, float) and math.isnan(v)) or str(v).strip().lower() in ("nan", "", "<na>"))
        bad &= ~(is_nan.to_numpy(dtype=bool) & nan_ok.to_numpy(dtype=bool))
    if where is not None:
        bad &= where.to_numpy(dtype=bool)
    if not bad.any():
        return None
    keys = [k for k in ROW_KEYS if k in df.columns and k != column]
    rows = df[bad].head(MAX_ROWS_SHOWN)
    # CSV line numbers count the header as line 1.
    shown = [f"line {i + 2} ({', '.join(f'{k}={r[k]}' for k in keys if not pd.isna(r[k]) and str(r[k]) != '')}: "
             f"{r[column]})" for i, r in rows.iterrows()]  # fmt: skip
    more = f" and {bad.sum() - len(rows)} more" if bad.sum() > len(rows) else ""
    return f"{inputs[name]} (input '{name}'): {column} is NaN, inf or not a number on {'; '.join(shown)}{more}"


def inconclusive_for_non_finite(problems: Sequence[str], thresholds: Mapping[str, Any]) -> dict:
    """The verdict record of a claim whose inputs hold NaN or infinite metrics: inconclusive, the reason
    naming each file, column and row (nothing is computed from the other rows)."""
    return {
        "verdict": "inconclusive",
        "numbers": {"non_finite_inputs": len(problems)},
        "details": {"non_finite": list(problems)},
        "explanation": ("Inconclusive: an input holds NaN or infinite values where the claim needs numbers, so no "
                        "verdict is computed (a mean would skip them silently). " + " ".join(problems)
                        + ". Rerun or repair the job that wrote the table."),
        "thresholds": dict(thresholds),
    }


def rounded(x: float, digits: int = 4) -> float | None:
    """Round for the verdict record (None for NaN)."""
    return None if x is None or not math.isfinite(float(x)) else round(float(x), digits)


def pair_key(*parts) -> str:
    return "/".join(str(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# Running a claim
# ---------------------------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def evaluate_claim(claim_id: str, inputs: Mapping[str, Path], cfg: Mapping[str, Any]) -> dict:
    """Run a registered claim on named input files; the verdict record (see the module docstring)."""
    if claim_id not in CLAIMS:
        raise UserError(f"unknown claim {claim_id!r}; registered: {', '.join(sorted(CLAIMS))}")
    entry = CLAIMS[claim_id]
    missing = [name for name in entry.inputs if name not in inputs]
    unknown = [name for name in inputs if name not in entry.inputs]
    if missing or unknown:
        raise UserError(f"claim {claim_id} reads --inputs {' '.join(n + '=PATH' for n in entry.inputs)}"
                        + (f"; missing: {', '.join(missing)}" if missing else "")
                        + (f"; unknown: {', '.join(unknown)}" if unknown else ""))  # fmt: skip
    for name, path in inputs.items():
        if not Path(path).is_file():
            raise DataFileError(f"{path}: input '{name}' of claim {claim_id} not found")
    result = entry.evaluate(inputs, cfg)
    if result.get("verdict") not in VERDICTS:
        raise ValueError(f"claim {claim_id} returned verdict {result.get('verdict')!r}, not one of {VERDICTS}")
    return {
        "claim": claim_id,
        "statement": entry.statement,
        **result,
        "inputs": {name: {"path": str(path), "sha256": file_sha256(Path(path))} for name, path in sorted(inputs.items())},
    }
