"""The report's HTML pages (claims, result tables, provenance) and the CLI that writes them."""

from __future__ import annotations

import json

import pandas as pd

from contlaws import commands

VERDICTS = {
    "C1": ("supported", {"order": 0.98765, "pairs": "2 of 2"}),
    "C2": ("not supported", {"ratio": 8.1778, "nested": {"a": 1.23456, "b": [1, 2]}}),
    "C3": ("inconclusive", {"note": "<b>not html</b>"}),
}


def write_verdicts(tmp_path) -> list[str]:
    paths = []
    for claim, (verdict, numbers) in VERDICTS.items():
        path = tmp_path / f"{claim}.json"
        path.write_text(json.dumps({"claim": claim, "statement": f"statement of {claim} & more", "verdict": verdict,
                                    "explanation": f"how {claim} is decided", "numbers": numbers}))  # fmt: skip
        paths.append(str(path))
    return paths


def test_claims_table_writes_the_html_page_and_the_landing_verdicts(tmp_path):
    paths = write_verdicts(tmp_path)
    out = {k: tmp_path / f"claims.{k}" for k in ("csv", "md", "html")}
    verdicts = tmp_path / "verdicts.csv"
    assert commands.main(["claims-table", *paths, "--out-csv", str(out["csv"]), "--out-md", str(out["md"]),
                     "--out-html", str(out["html"]), "--out-verdicts", str(verdicts)]) == 0  # fmt: skip
    page = out["html"].read_text()
    for claim, (verdict, numbers) in VERDICTS.items():
        assert f"statement of {claim} &amp; more" in page and f"how {claim} is decided" in page
        for key in numbers:
            assert f"<li>{key} = " in page
    assert "NOT supported" in page and "order = 0.9877" in page and "nested = a: 1.235, b: [1, 2]" in page
    assert "&lt;b&gt;not html&lt;/b&gt;" in page and "<b>not html</b>" not in page  # escaped
    table = pd.read_csv(verdicts)
    assert list(table.columns) == ["claim", "verdict", "statement"]
    assert table["verdict"].tolist() == ["supported", "NOT supported", "inconclusive"]


def test_report_page_renders_each_table_and_text(tmp_path):
    csv = tmp_path / "t.csv"
    pd.DataFrame({"system": ["vdp", "dho"], "rmse": [0.123456, float("nan")], "n": [3, 4]}).to_csv(csv, index=False)
    record = tmp_path / "prov.yaml"
    record.write_text("git_commit: abc\n")
    page = tmp_path / "page.html"
    assert commands.main(["report-page", "--title", "Key tables", "--table", f"E1: orders={csv}",
                     "--text", f"provenance={record}", "--out", str(page)]) == 0  # fmt: skip
    html = page.read_text()
    assert "<h2>E1: orders</h2>" in html and "<th>system</th><th>rmse</th><th>n</th>" in html
    assert '<td class="num">0.1235</td>' in html and "<td>dho</td><td></td>" in html
    assert "git_commit: abc" in html


def test_report_page_missing_input_names_it_and_writes_nothing(tmp_path, capsys):
    page = tmp_path / "page.html"
    missing = tmp_path / "absent.csv"
    assert commands.main(["report-page", "--title", "T", "--table", f"t={missing}", "--out", str(page)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file" in err and "Traceback" not in err
    assert not page.exists()


def test_report_page_refuses_to_overwrite_its_input(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    assert commands.main(["report-page", "--title", "T", "--table", f"t={csv}", "--out", str(csv)]) == 2
    assert "would overwrite one of its inputs" in capsys.readouterr().err
    assert csv.read_text() == "a\n1\n"
