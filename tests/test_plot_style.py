"""Figure and LaTeX-table output: reproducible bytes, escaping outside math only."""

from __future__ import annotations

import pandas as pd

from contlaws.latex import _tex, write_latex_table
from contlaws.plots.style import panel_grid, save_figure


def _figure():
    fig, (ax,) = panel_grid(1)
    ax.plot([1, 2, 3], [3, 1, 2], label="S4D")
    ax.legend()
    return fig


def test_same_figure_gives_same_pdf_and_png_bytes(tmp_path):
    a = save_figure(_figure(), tmp_path / "a")
    b = save_figure(_figure(), tmp_path / "b")
    assert [p.suffix for p in a] == [".pdf", ".png"]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_latex_escapes_text_but_keeps_math(tmp_path):
    assert _tex("s6_zoh 5%") == "s6\\_zoh 5\\%"
    assert _tex("0.17 $\\pm$ 0.01") == "0.17 $\\pm$ 0.01"
    path = tmp_path / "t.tex"
    write_latex_table(path, pd.DataFrame({"model_name": ["s4d"], "rmse": [0.123456]}), caption="c", label="tab:x")
    text = path.read_text()
    assert "model\\_name & rmse \\\\" in text and "s4d & 0.1235 \\\\" in text
