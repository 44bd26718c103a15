"""The README's evidence claims table says what the shipped result files say.

The table is written by hand from docs/evidence-run/ (claims.csv: the evidence run's verdicts;
stability.csv: every robustness variant's verdict). A verdict or a variant count copied wrong, or
left behind when a variant finishes, fails here with the row and both values.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import REPO

README = REPO / "README.md"
RUN = REPO / "docs" / "evidence-run"
# README row label -> (claims.csv id, stability.csv parts)
ROWS = {
    "C1": ("C1", ["C1"]),
    "C2": ("C2", ["C2(a)", "C2(b)", "C2(c)"]),
    "C3": ("C3", ["C3"]),
    "C4(a)": ("C4", ["C4(a)"]),
    "C4(b)": ("C4b", ["C4(b)"]),
    "C5": ("C5", ["C5"]),
}
VERDICT_WORDS = r"not supported|supported|inconclusive"  # "not supported" first: it contains "supported"
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def evidence_rows(text: str) -> dict[str, list[str]]:
    """{row label: cells} of the README table with the 'across 10 variants' column."""
    section = text.split("**Evidence scale, under equal training budgets**", 1)[1]
    header = next(line for line in section.splitlines() if line.startswith("| claim |"))
    assert "across 10 variants" in header, header
    rows = {}
    for line in section.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("| C"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].split()[0]] = cells
    return rows


def stated_counts(cell: str) -> tuple[int, int, list[tuple[int, str]]]:
    """(variants run, variants not run, [(count, verdict)]) of an 'across 10 variants' cell."""
    plain = cell.replace("**", "")
    while re.search(r"\([^()]*\)", plain):  # drop the asides, which hold other numbers
        plain = re.sub(r"\([^()]*\)", "", plain)
    run = re.match(r"(\d+) run:", plain)
    not_run = re.search(r"(\d+) not run\b", plain)
    assert run and not_run, cell
    body = plain[run.end() : not_run.start()]
    return int(run.group(1)), int(not_run.group(1)), [(int(n), v) for n, v in re.findall(rf"(\d+) ({VERDICT_WORDS})", body)]


@pytest.fixture(scope="module")
def shipped():
    claims = pd.read_csv(RUN / "claims.csv").set_index("claim")["verdict"]
    stability = pd.read_csv(RUN / "stability.csv", keep_default_na=False)
    variants = stability[stability["column"] != "baseline"]
    counts = {part: rows["verdict"].value_counts().to_dict() for part, rows in variants.groupby("claim")}
    return claims, counts


def test_every_claim_has_a_row():
    assert set(evidence_rows(README.read_text())) == set(ROWS)


@pytest.mark.parametrize("label", list(ROWS))
def test_the_verdict_column_is_the_evidence_runs(label, shipped):
    claims, _ = shipped
    claim_id, _ = ROWS[label]
    verdict = evidence_rows(README.read_text())[label][1].replace("**", "")
    assert verdict == claims[claim_id], f"README {label}: {verdict!r}, docs/evidence-run/claims.csv: {claims[claim_id]!r}"


@pytest.mark.parametrize("label", list(ROWS))
def test_the_variant_column_counts_what_stability_csv_holds(label, shipped):
    _, counts = shipped
    run, not_run, stated = stated_counts(evidence_rows(README.read_text())[label][3])
    for part in ROWS[label][1]:
        c = counts[part]
        assert not_run == c.get("not run", 0), f"README {label}: {not_run} not run, stability.csv {part}: {c}"
        assert run == sum(c.values()) - c.get("not run", 0), f"README {label}: {run} run, stability.csv {part}: {c}"
    parts = [counts[p] for p in ROWS[label][1]]
    for n, verdict in stated:  # every count the README states is some part's count
        assert any(c.get(verdict, 0) == n for c in parts), f"README {label}: '{n} {verdict}', stability.csv: {parts}"
    for part, c in zip(ROWS[label][1], parts, strict=True):  # and every verdict a part has is stated
        for verdict in ("supported", "not supported", "inconclusive"):
            if c.get(verdict, 0):
                assert (c[verdict], verdict) in stated, f"README {label} omits {part}'s {c[verdict]} {verdict}"


def test_the_prose_counts_the_variants_that_ran(shipped):
    _, counts = shipped
    ran = sum(counts["C1"].values()) - counts["C1"].get("not run", 0)
    word = re.search(r"(\w+) of the ten have run", README.read_text().replace("\n", " "))
    assert word and word.group(1) == NUMBER_WORDS[ran], (word and word.group(1), ran)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("6 run: 6 supported; 4 not run", (6, 4, [(6, "supported")])),
        ("6 run: 3 supported (rho 0.5, 2 supported elsewhere), 1 not supported (**x**); 4 not run",
         (6, 4, [(3, "supported"), (1, "not supported")])),
        ("6 run: (a) 6 supported, (b) and (c) 6 inconclusive; 4 not run", (6, 4, [(6, "supported"), (6, "inconclusive")])),
    ],
)
def test_cells_are_read_without_their_asides(cell, expected):
    assert stated_counts(cell) == expected
