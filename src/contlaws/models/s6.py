"""S6: the bare selective state space layer of Mamba, as the authors use it (spec E2).

No in_proj, convolution, gate or out_proj: per channel d and state n,

    [δ̃_t, B_t, C_t] = x_proj(x_t)                       (R, N, N numbers per step)
    Δ_t = softplus(dt_proj(δ̃_t)) · τ                    (τ applied after the softplus)
    h_t = Ā_t ⊙ h_{t−1} + B̄_t x_t,   A_{d,n} = −exp(log_A_real) = −n at init
    y_t = C_t · h_t + D·x_t            (readout "c", the real S6)
    y_t = Σ_n h_t + D·x_t              (readout "sum", what the authors' code computes)

Ā, B̄ by Mamba-style ZOH or bilinear, see :mod:`contlaws.models.scan`. Unlike S4D, Δ depends on
the input, so S6 is a continuous-time system only along the trajectories its inputs drive.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contlaws.models.scan import (
    DISCRETIZATIONS,
    PARALLEL_CHUNK,
    cuda_scan_unavailable_reason,
    selective_scan,
    selective_scan_cuda,
)

READOUTS = ("c", "sum")
BACKENDS = ("auto", "torch", "chunked", "cuda")
DT_INIT_FLOOR = 1e-3


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """softplus⁻¹(y) = y + log(1 − e^{−y}), stable for small y."""
    return y + torch.log(-torch.expm1(-y))


class S6(nn.Module):
    """Selective scan layer; input and output (B, L, D).

    Args:
        d_model: channels D.
        d_state: state size N per channel.
        dt_rank: rank R of the step projection.
        discretization: "zoh" (Mamba-style) or "bilinear".
        readout: "c" (y = C_t·h_t + D·x) or "sum" (the authors' y = Σ_n h_t + D·x).
        dt_min, dt_max: initial steps dt0 = exp(U[log dt_min, log dt_max]), at least 1e-3.
        scan_chunk: time steps per scan chunk (bounds memory, see :func:`selective_scan`).
        backend: "torch" (the PyTorch scan, a loop over time steps), "chunked" (the same scan in
            the chunked parallel form, see :mod:`contlaws.models.scan`), "cuda" (mamba-ssm kernel;
            ZOH with readout "c" only), or "auto": on a CUDA input the kernel where it applies and
            imports, else "chunked"; on CPU "torch" (faster there, benchmarks/RESULTS.md).
        parallel_chunk: sub-chunk length of the "chunked" backend.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        dt_rank: int = 8,
        discretization: str = "zoh",
        readout: str = "c",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        scan_chunk: int = 256,
        backend: str = "auto",
        parallel_chunk: int = PARALLEL_CHUNK,
    ):
        super().__init__()
        for name, value, allowed in (
            ("discretization", discretization, DISCRETIZATIONS),
            ("readout", readout, READOUTS),
            ("backend", backend, BACKENDS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.d_model, self.d_state, self.dt_rank = d_model, d_state, dt_rank
        self.discretization, self.readout = discretization, readout
        self.scan_chunk, self.backend, self.parallel_chunk = scan_chunk, backend, parallel_chunk

        self.x_proj = nn.Linear(d_model, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_model, bias=True)
        dt0 = torch.exp(torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inverse_softplus(dt0.clamp(min=DT_INIT_FLOOR)))  # Δ = dt0 at δ̃ = 0
        self.log_A_real = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_model, 1))
        self.D = nn.Parameter(torch.randn(d_model))

    def selective_params(self, x: torch.Tensor, tau: float = 1.0):
        """Input-dependent Δ (B, L, D), B_t (B, L, N), C_t (B, L, N) for input x (B, L, D)."""
        dt_low_rank, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt_low_rank)) * tau  # (B L D)
        return delta, B, C

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """
        Args:
            x: (B, L, D) input sampled at τ times the training step.
            tau: step-size factor (new sampling step / training sampling step).
        Returns:
            (B, L, D).
        """
        delta, B, C = self.selective_params(x, tau)
        A = -torch.exp(self.log_A_real)  # (D N)
        backend = self.scan_backend(x)
        if backend == "cuda":
            return selective_scan_cuda(x, delta, A, B, C, self.D)
        if self.readout == "sum":
            C = C.new_ones(1, 1, self.d_state).expand_as(C)  # Σ_n h_t
        method = "chunked" if backend == "chunked" else "loop"
        return selective_scan(
            x, delta, A, B, C, self.D, self.discretization, self.scan_chunk, method, self.parallel_chunk
        )

    def scan_backend(self, x: torch.Tensor) -> str:
        """The backend that runs the scan for input ``x``: "torch", "chunked" or "cuda"."""
        if self.backend in ("torch", "chunked"):
            return self.backend
        applies = x.is_cuda and self.discretization == "zoh" and self.readout == "c"
        reason = cuda_scan_unavailable_reason() if applies else None
        if self.backend == "cuda" and (not applies or reason):
            why = reason or "it needs a CUDA input, discretization 'zoh' and readout 'c'"
            raise RuntimeError(f"S6 backend 'cuda' (model.s6.backend) cannot be used: {why}")
        if applies and reason is None:
            return "cuda"
        return "chunked" if x.is_cuda else "torch"
