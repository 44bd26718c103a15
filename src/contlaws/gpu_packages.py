"""The packages the CUDA-only baselines need, and which of them are installed, without importing torch.

Snakemake reads this when it builds the DAG (``workflow/rules/eta_performance.smk``): a baseline
whose package is absent is not trained at all, rather than starting a job per (system, η, seed)
that imports torch only to report it (the evaluation writes its "not run" rows).
``contlaws.models.registry.availability`` adds the checks that need torch (CUDA, the import itself).
"""

from __future__ import annotations

import importlib.util

# model name -> (pip packages it needs, "module:class" to import)
GPU_LAYERS = {
    "mamba2": (("mamba-ssm",), "mamba_ssm.modules.mamba2:Mamba2"),
    "gla": (("flash-linear-attention",), "fla.layers.gla:GatedLinearAttention"),
    "fla_linear_attention": (("flash-linear-attention",), "fla.layers.linear_attn:LinearAttention"),
    "gated_deltanet": (("flash-linear-attention",), "fla.layers.gated_deltanet:GatedDeltaNet"),
    "mamba3": (("flash-linear-attention", "mamba-ssm"), "fla.layers.mamba3:Mamba3"),  # fla wraps mamba-ssm kernels
}
IMPORT_NAMES = {"mamba-ssm": "mamba_ssm", "flash-linear-attention": "fla"}


def absent_packages(name: str) -> list[str]:
    """The pip packages model ``name`` needs that are not installed here ([] for every other model).

    Uses :func:`importlib.util.find_spec` on the top-level module only: nothing is imported.
    """
    packages, _ = GPU_LAYERS.get(name, ((), ""))
    return [p for p in packages if importlib.util.find_spec(IMPORT_NAMES[p]) is None]
