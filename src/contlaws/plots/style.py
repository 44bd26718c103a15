"""One place for the look of every figure and for reproducible figure bytes.

``save_figure(fig, stem)`` writes ``stem.pdf`` and ``stem.png`` atomically with fixed metadata, so
the same data gives the same files. The display names (:mod:`contlaws.labels`) and the LaTeX table
writer (:mod:`contlaws.latex`) live outside the plots, so experiments use them without importing
matplotlib; they are re-exported here for the figure modules.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from contlaws.io import atomic_path
from contlaws.labels import MODEL_LABELS, SYSTEM_LABELS  # noqa: F401 (re-exported for the figures)
from contlaws.latex import write_latex_table  # noqa: F401 (re-exported for the figures)

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
