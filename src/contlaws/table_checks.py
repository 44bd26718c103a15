"""Checks of a result table's values, for :func:`contlaws.io.read_result_csv`: impossible numbers,
boolean flags, and rows that repeat a key. Each refusal is a :class:`DataFileError` naming the file,
the CSV line (the header is line 1) and the column; row labels stay CSV row numbers throughout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contlaws.errors import DataFileError

# The largest magnitude a checked result value may have: squares of larger values (a variance, an
# RMS) overflow float64 to inf, and a verdict would then compare inf or NaN.
MAX_RESULT_MAGNITUDE = 1e150
_FLAG_TEXT = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


@dataclass(frozen=True)
class ValueRange:
    """The values a numeric result column can hold: ``low <= v <= high`` (``low < v`` when
    ``low_open``); ``why`` says what makes other values impossible (for the message)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    why: str = ""

    def problem(self, value: float) -> str | None:
        """Why finite ``value`` is impossible, or None."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"{'at or ' if self.low_open else ''}below {self.low:g}" + (f" ({self.why})" if self.why else "")
        if self.high is not None and value > self.high:
            return f"above {self.high:g}" + (f" ({self.why})" if self.why else "")
        if abs(value) > MAX_RESULT_MAGNITUDE:
            return f"too large to compute with (|value| above {MAX_RESULT_MAGNITUDE:g}: its square overflows)"
        return None


def _row_text(df, row, key: Sequence[str]) -> str:
    """``line 5 (system=vdp, seed=0)``: the CSV line of ``row`` (the header is line 1) and its key."""
    shown = ", ".join(f"{k}={df.at[row, k]}" for k in key if k in df.columns and not pd.isna(df.at[row, k]))
    return f"line {row + 2}" + (f" ({shown})" if shown else "")


def check_flags(df, path: Path, what: str, flags: Sequence[str], key: Sequence[str]):
    """Boolean columns read as bools; any other text (``maybe``, empty) refused, naming the line."""
    for column in flags:
        parsed = df[column].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else _FLAG_TEXT.get(str(v).strip().lower()))
        bad = parsed.isna()
        if bad.any():
            row = df.index[bad][0]
            raise DataFileError(
                f"{path}: {what} {_row_text(df, row, key)}: {column} = {df.at[row, column]!r} is not a boolean "
                f"(True/False/true/false/1/0){_more(bad.sum())}; no verdict is computed from the table"
            )
        df[column] = parsed.astype(bool)
    return df


def _more(n_bad: int) -> str:
    return f", and {n_bad - 1} more row(s)" if n_bad > 1 else ""


def check_ranges(df, path: Path, what: str, ranges: Mapping[str, ValueRange], key: Sequence[str]) -> None:
    """Refuse a finite value a column cannot hold (NaN, inf and text are left to the caller)."""
    for column, allowed_range in ranges.items():
        values = pd.to_numeric(df[column], errors="coerce")
        problems = {row: allowed_range.problem(float(v)) for row, v in values.items() if np.isfinite(v)}
        problems = {row: why for row, why in problems.items() if why}
        if problems:
            row, why = next(iter(problems.items()))
            raise DataFileError(
                f"{path}: {what} {_row_text(df, row, key)}: {column} = {df.at[row, column]} is impossible, {why}"
                f"{_more(len(problems))}; no verdict is computed from the table (repair or rerun the job that wrote it)"
            )


def drop_exact_duplicates(df, path: Path, what: str, key: Sequence[str], where=None):
    """``df`` without repeated identical rows; DataFileError naming the key and the lines when rows
    share ``key`` (among the rows ``where``, default all) but differ elsewhere: which one holds the
    result cannot be known, and taking either would change a verdict silently."""
    df = df[~df.duplicated(keep="first")]
    rows = df if where is None else df[where.reindex(df.index, fill_value=False).to_numpy(dtype=bool)]
    clash = rows[rows.duplicated(subset=list(key), keep=False)]
    if len(clash):
        first_group = clash.groupby(list(key), dropna=False, sort=False).ngroup().to_numpy() == 0  # the first clashing key
        lines = [int(r) + 2 for r in clash.index[first_group]]
        shown = ", ".join(f"{k}={clash.iloc[0][k]}" for k in key)
        raise DataFileError(
            f"{path}: {what} has {len(lines)} different rows for the same {shown} (lines "
            f"{', '.join(map(str, lines))}); no verdict is computed from the table (remove the wrong rows or rerun "
            "the job that wrote it)"
        )
    return df
