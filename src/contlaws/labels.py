"""Display names of the models and systems, shared by figures and tables (no plotting imports)."""

from __future__ import annotations

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
