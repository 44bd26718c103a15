"""One place for the look of every figure and for reproducible figure bytes.

``apply_theme()`` sets the shared look (seaborn's paper theme, colourblind palette, font sizes);
every plot function calls it first. ``save_figure(fig, stem)`` writes ``stem.pdf`` and ``stem.png``
atomically with fixed metadata, so the same data gives the same files. The display names
(:mod:`contlaws.labels`) and the LaTeX table writer (:mod:`contlaws.latex`) live outside the plots,
so experiments use them without importing matplotlib; they are re-exported here for the figure
modules.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import seaborn as sns

from contlaws.io import atomic_path
from contlaws.labels import MODEL_LABELS, SYSTEM_LABELS  # noqa: F401 (re-exported for the figures)
from contlaws.latex import write_latex_table  # noqa: F401 (re-exported for the figures)

# Fixed PDF metadata and hash salt: matplotlib otherwise embeds the current date.
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
# The project's settings on top of seaborn's "paper" context and "ticks" style. The font is the one
# matplotlib ships (not seaborn's first choice, Arial, where installed), so the bytes of a figure do
# not depend on the fonts of the machine.
THEME_RC = {
    "svg.hashsalt": "contlaws",
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 3.5,
}
# Seed-to-seed spread in every figure with curves over seeds: mean ± 2 standard errors (sample std
# / sqrt(n)), the interval the claims use for "resolved". No bootstrap, so no random state in a figure.
SEED_ERRORBAR = ("se", 2)
SEED_BAND_TEXT = "mean ± 2 SE"  # how captions and titles name the band


def band_edges(frame, keys: list[str], column: str):
    """(lower, upper) edge of the seed band that seaborn draws with :data:`SEED_ERRORBAR`, per ``keys``:
    the mean of ``column`` ∓ its multiple of the standard error (the mean itself for one seed); for
    axis limits that keep the whole band in view."""
    groups = frame.groupby(keys)[column]
    mean, width = groups.mean(), SEED_ERRORBAR[1] * groups.sem().fillna(0.0)
    return mean - width, mean + width


def apply_theme() -> None:
    """Set the look every figure shares: seaborn's paper context and ticks style, the colourblind
    palette, the project's font sizes and fixed-output settings (:data:`THEME_RC`).

    Global (matplotlib rcParams); every plot function calls it before drawing, so a figure looks the
    same whatever ran before it. Idempotent.
    """
    sns.set_theme(context="paper", style="ticks", palette="colorblind", rc=THEME_RC)


apply_theme()

# Consistent colours per model across all figures: the colourblind-safe counterparts (seaborn's
# "colorblind" palette, same hue order as matplotlib's default cycle) of the hues each model had.
_CB = sns.color_palette("colorblind").as_hex()  # blue, orange, green, red, purple, brown, pink, grey, yellow, cyan
MODEL_COLORS = {
    "s4d": _CB[0],
    "s6": _CB[3],
    "transformer": _CB[2],
    "linear_attention": _CB[4],
    "mamba2": _CB[1],
    "gla": _CB[5],
    "fla_linear_attention": _CB[6],
    "gated_deltanet": _CB[7],
    "mamba3": _CB[8],
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
