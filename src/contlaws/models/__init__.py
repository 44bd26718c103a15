"""Sequence models: S4D, S6 (+ its scan), attention and GPU baselines, the shared wrapper, a registry.

Glossary (paper symbol -> code name):

| paper | code | meaning |
|---|---|---|
| u, x | ``u`` (S4D, (B, H, L)), ``x`` (S6, wrapper, (B, L, D)) | input sequence |
| A | ``S4D.continuous_A()`` = −exp(``log_A_real``) + i·``A_imag``; S6: −exp(``log_A_real``) | continuous-time diagonal state matrix |
| B | S4D: 1 (absorbed into C); S6: ``B`` = B_t from ``x_proj`` | input vector |
| C | S4D: ``C`` (complex, stored as real pairs); S6: ``C`` = C_t from ``x_proj`` | output vector |
| D | ``D`` | skip connection y += D·u |
| N | ``d_state`` (S4D: real size, N/2 complex modes) | state size |
| Δ | S4D: exp(``log_dt``)·τ; S6: ``delta`` = softplus(``dt_proj``(δ̃))·τ | step size |
| Ā, B̄ | ``A_bar``/``log_A_bar``, ``B_bar``/``Bx_bar`` (``discretize_zoh``, ``discretize_bilinear``) | discrete-time system |
| K | ``s4d_kernel`` | S4D convolution kernel K_l = C B̄ Āˡ |
| τ | ``tau`` (the reference's ``scale_dt``) | new sampling step / training step |
| η | (data side, not used here) | task continuity level of the E3 datasets |
| s | ``stride`` | temporal subsampling factor (E5); layers then see τ·s |

Modules: :mod:`.s4d`, :mod:`.s6`, :mod:`.scan`, :mod:`.baselines`, :mod:`.wrapper`, :mod:`.registry`.
Nothing here imports mamba-ssm or flash-linear-attention at import time.
"""

from contlaws.models.registry import (
    MODEL_NAMES,
    ModelUnavailable,
    availability,
    build_model,
    optimizer_param_groups,
    resolve_model_cfg,
)
from contlaws.models.s4d import S4D
from contlaws.models.s6 import S6
from contlaws.models.wrapper import SequenceModel

__all__ = [
    "MODEL_NAMES",
    "S4D",
    "S6",
    "ModelUnavailable",
    "SequenceModel",
    "availability",
    "build_model",
    "optimizer_param_groups",
    "resolve_model_cfg",
]
