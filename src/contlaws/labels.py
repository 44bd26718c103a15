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
# E5 benchmark tasks (Figure 6 and its table).
TASK_LABELS = {
    "pathfinder_synth": "Pathfinder (generated)",
    "listops_synth": "ListOps (generated)",
    "digits": "Digits (8x8)",
    "gunpoint": "GunPoint (UCR)",
    "arrowhead": "ArrowHead (UCR)",
    "osuleaf": "OSULeaf (UCR)",
    "acsf1": "ACSF1 (UCR)",
    "basicmotions": "BasicMotions (UEA)",
    "listops": "ListOps",
    "aan": "Retrieval (AAN)",
    "pathfinder32": "Pathfinder",
    "pathx": "Path-X",
    "imdb": "Text (IMDB)",
    "cifar10": "Image (CIFAR-10)",
}
