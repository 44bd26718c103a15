"""One place for the look of every figure and for reproducible figure/table bytes.

``save_figure(fig, stem)`` writes ``stem.pdf`` and ``stem.png`` atomically with fixed metadata, so
the same data gives the same files. ``write_latex_table`` writes a booktabs table beside the CSV.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from contlaws.io import atomic_path, write_text

# Fixed PDF metadata and hash salt: matplotlib otherwise embeds the current date.
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
plt.rcParams.update(
    {
        "svg.hashsalt": "contlaws",
        "figure.dpi": 150,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "font.size": 9,
        "axes.titlesize": 9,
        "axes.labelsize": 9,
        "legend.fontsize": 7,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "lines.linewidth": 1.4,
        "lines.markersize": 3.5,
    }
)

# Consistent colours per model across all figures.
MODEL_COLORS = {
    "s4d": "#1f77b4",
    "s6": "#d62728",
    "transformer": "#2ca02c",
    "linear_attention": "#9467bd",
    "mamba2": "#ff7f0e",
    "gla": "#8c564b",
    "fla_linear_attention": "#e377c2",
    "gated_deltanet": "#7f7f7f",
    "mamba3": "#bcbd22",
}
MODEL_LABELS = {
    "s4d": "S4D",
    "s6": "S6",
    "transformer": "Transformer",
    "linear_attention": "Linear attention",
    "mamba2": "Mamba-2",
    "gla": "GLA",
    "fla_linear_attention": "Linear attn. (FLA)",
    "gated_deltanet": "Gated DeltaNet",
    "mamba3": "Mamba-3",
}
SYSTEM_LABELS = {"vdp": "Van der Pol", "duffing": "Forced Duffing", "dho": "Damped oscillator", "ou": "Ornstein–Uhlenbeck"}

_PDF_METADATA = {"Creator": "contlaws", "Producer": "contlaws", "CreationDate": None, "ModDate": None}


def panel_grid(n: int, ncols: int | None = None, width: float = 2.6, height: float = 2.2, **kwargs):
    """A row (or grid) of ``n`` panels; returns ``(fig, axes_list)`` with unused axes removed."""
    ncols = ncols or min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def save_figure(fig, stem: str | os.PathLike, formats=("pdf", "png")) -> list[Path]:
    """Save ``fig`` as ``stem.<fmt>`` for each format, atomically and with fixed metadata; closes it."""
    stem = Path(stem)
    if stem.suffix in {".pdf", ".png"}:
        stem = stem.with_suffix("")
    out = []
    for fmt in formats:
        path = stem.with_suffix("." + fmt)
        meta = _PDF_METADATA if fmt == "pdf" else {"Software": "contlaws"}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta)
        out.append(path)
    plt.close(fig)
    return out


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
