"""LaTeX tables beside the result CSVs: booktabs, written atomically, same rows -> same bytes."""

from __future__ import annotations

import os

from contlaws.io import write_text


def write_latex_table(path: str | os.PathLike, df, caption: str, label: str, float_format: str = "%.4g") -> None:
    """A booktabs LaTeX table of ``df`` (atomically)."""
    cols = list(df.columns)
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        "\\begin{tabular}{" + "l" * len(cols) + "}",
        "\\toprule",
        " & ".join(_tex(c) for c in cols) + " \\\\",
        "\\midrule",
    ]
    for _, row in df.iterrows():
        cells = [(float_format % v) if isinstance(v, float) else _tex(v) for v in row]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    write_text(path, "\n".join(lines))


def _tex(value) -> str:
    """Escape LaTeX specials outside math mode; ``$...$`` segments (e.g. ``$\\pm$``) pass through."""
    parts = str(value).split("$")
    for i in range(0, len(parts), 2):  # even parts are outside $...$
        for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#")):
            parts[i] = parts[i].replace(a, b)
    return "$".join(parts)
