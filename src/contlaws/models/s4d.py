"""S4D: a diagonal state space layer computed as a causal FFT convolution (spec E2).

Per channel h and complex mode m (M = d_state/2 modes; each stands for a conjugate pair):

    x'(t) = A_m x(t) + u(t),   y(t) = 2·Re Σ_m C_m x_m(t)        (continuous time, B = 1)

Discretized with step Δ = exp(log_dt)·τ (τ is given at call time, so one set of trained weights
serves every sampling step):

    ZOH        Ā = exp(ΔA),                  B̄ = (exp(ΔA) − 1)/A
    bilinear   Ā = (1 + ΔA/2)/(1 − ΔA/2),    B̄ = Δ/(1 − ΔA/2)

and the recurrence h_l = Ā h_{l−1} + B̄ u_l, y_l = 2·Re Σ_m C_m h_l, is unrolled into the kernel
K_l = 2·Re Σ_m C_m B̄_m Ā_m^l and applied as y = K * u (FFT of length 2L, first L kept).

Why refinement works: B̄ ≈ Δ, so Σ_j K_{l−j} u_j is a Riemann sum of the continuous convolution
∫ C e^{A(t−s)} u(s) ds and needs no rescaling when τ changes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

DISCRETIZATIONS = ("zoh", "bilinear")
A_IMAG_INITS = ("authors", "lin")


def discretize_zoh(A: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold of x' = A x + u over one step.

    Args:
        A: (H, M) complex continuous-time eigenvalues.
        dt: (H,) real step sizes Δ.
    Returns:
        log_A_bar: (H, M) complex, log Ā = ΔA (the kernel takes powers as exp(l·log Ā)).
        B_bar: (H, M) complex, (exp(ΔA) − 1)/A.
    """
    dtA = A * dt.unsqueeze(-1)  # (H M)
    return dtA, torch.expm1(dtA) / A  # expm1: exp(ΔA) − 1 loses all digits when ΔA is tiny (fine τ)


def discretize_bilinear(A: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear (Tustin) discretization of x' = A x + u.

    Args/Returns as :func:`discretize_zoh`; log Ā = log(1 + ΔA/2) − log(1 − ΔA/2), B̄ = Δ/(1 − ΔA/2).
    """
    half_dtA = 0.5 * A * dt.unsqueeze(-1)  # (H M)
    log_A_bar = torch.log1p(half_dtA) - torch.log1p(-half_dtA)
    return log_A_bar, dt.unsqueeze(-1) / (1.0 - half_dtA)


# Above this many (H·M·L) Vandermonde elements the kernel is built in pieces of L, each recomputed in
# the backward pass instead of stored: the one-shot form keeps about six (H, M, L) float tensors per
# layer for autograd, 1.6 GB per layer at Path-X's H 128, M 32, L 16 384 (E5 at paper shapes).
KERNEL_CHUNK_ELEMENTS = 2**22


def vandermonde_kernel(log_A_bar: torch.Tensor, W: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """K_l = 2·Re Σ_m W_m Ā_m^l for l = start..stop−1 (W = C·B̄).

    Args:
        log_A_bar, W: (H, M) complex.
    Returns:
        (H, stop − start) real.
    """
    steps = torch.arange(start, stop, device=log_A_bar.device, dtype=log_A_bar.real.dtype)  # (l)
    # Ā^l = e^{l·Re log Ā}·(cos + i·sin)(l·Im log Ā), in real arithmetic: 2-3x faster than a complex
    # exp on CPU. Re(W·Ā^l) = Re W·Re Ā^l − Im W·Im Ā^l.
    decay = torch.exp(log_A_bar.real.unsqueeze(-1) * steps)  # (H M l)
    angle = log_A_bar.imag.unsqueeze(-1) * steps  # (H M l)
    K = torch.einsum("hm,hml->hl", W.real, decay * torch.cos(angle))  # (H l)
    K = K - torch.einsum("hm,hml->hl", W.imag, decay * torch.sin(angle))  # (H l)
    return 2.0 * K


def _vandermonde_piece(log_A_bar_ri: torch.Tensor, W_ri: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    # checkpoint passes real tensors through (complex views are rebuilt inside)
    return vandermonde_kernel(torch.view_as_complex(log_A_bar_ri), torch.view_as_complex(W_ri), start, stop)


def s4d_kernel(
    log_A_bar: torch.Tensor, B_bar: torch.Tensor, C: torch.Tensor, L: int, chunk_elements: int = KERNEL_CHUNK_ELEMENTS
) -> torch.Tensor:
    """Convolution kernel K_l = 2·Re Σ_m C_m B̄_m Ā_m^l for l = 0..L−1.

    Args:
        log_A_bar, B_bar, C: (H, M) complex.
        L: kernel length.
        chunk_elements: when H·M·L exceeds it, the kernel is built in pieces of L with at most this
            many elements each (same values and gradients); with gradients on, each piece is
            recomputed in the backward pass, so autograd keeps O(H·M) instead of O(H·M·L).
    Returns:
        K: (H, L) real.
    """
    H, M = log_A_bar.shape
    W = C * B_bar  # (H M)
    if H * M * L <= chunk_elements:
        return vandermonde_kernel(log_A_bar, W, 0, L)
    piece = max(1, chunk_elements // (H * M))
    bounds = [(start, min(start + piece, L)) for start in range(0, L, piece)]
    if not torch.is_grad_enabled():  # evaluation: pieces bound the temporaries, nothing to recompute
        return torch.cat([vandermonde_kernel(log_A_bar, W, start, stop) for start, stop in bounds], dim=-1)
    log_A_bar_ri, W_ri = torch.view_as_real(log_A_bar), torch.view_as_real(W)  # (H M 2)
    pieces = [checkpoint(_vandermonde_piece, log_A_bar_ri, W_ri, start, stop, use_reentrant=False)
              for start, stop in bounds]  # each (H piece)  # fmt: skip
    return torch.cat(pieces, dim=-1)  # (H L)


def causal_fft_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """y_l = Σ_{j≤l} K_{l−j} u_j, per channel, via FFT of length 2L (no wrap-around).

    Args:
        u: (B, H, L) input.
        K: (H, L) kernel.
    Returns:
        y: (B, H, L).
    """
    L = u.shape[-1]
    u_f = torch.fft.rfft(u, n=2 * L)  # (B H L+1)
    K_f = torch.fft.rfft(K, n=2 * L)  # (H L+1)
    return torch.fft.irfft(u_f * K_f, n=2 * L)[..., :L]


def equalize_channel_norm(y: torch.Tensor, eps: float) -> torch.Tensor:
    """The authors' normalization: rescale each time step's channel vector to the mean norm.

    y[b, :, l] ← y[b, :, l] / (‖y[b, :, l]‖ + eps) · mean_{b,l} ‖y[b, :, l]‖ (their code has no eps).

    Args:
        y: (B, H, L).
    """
    norms = torch.linalg.vector_norm(y, dim=1, keepdim=True)  # (B 1 L)
    return y / (norms + eps) * norms.mean()


class S4D(nn.Module):
    """Diagonal S4 layer, the authors' variant by default (spec E2).

    Args:
        d_model: channels H.
        d_state: real state size; M = d_state/2 complex modes (default 2: one mode).
        dropout: channel dropout after the GELU (a channel is dropped for all time steps).
        discretization: "zoh" or "bilinear".
        a_imag_init: "authors" (A_imag = c·5π·m with one c ~ N(0, 1) per layer, so 0 for one mode)
            or "lin" (S4D-Lin, π·m).
        channel_norm: apply :func:`equalize_channel_norm` (authors: on).
        channel_norm_eps: its epsilon.
        dt_min, dt_max: log_dt ~ U[log dt_min, log dt_max].

    The learning rates of log_dt, log_A_real, A_imag are set in
    :func:`contlaws.models.registry.optimizer_param_groups` (config keys model.s4d.lr_ssm, lr_a_imag).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 2,
        dropout: float = 0.0,
        discretization: str = "zoh",
        a_imag_init: str = "authors",
        channel_norm: bool = True,
        channel_norm_eps: float = 1e-6,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
    ):
        super().__init__()
        if discretization not in DISCRETIZATIONS:
            raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
        if a_imag_init not in A_IMAG_INITS:
            raise ValueError(f"a_imag_init must be one of {A_IMAG_INITS}, got {a_imag_init!r}")
        if d_state % 2:
            raise ValueError(f"d_state must be even (conjugate pairs), got {d_state}")
        H, M = d_model, d_state // 2
        self.d_model, self.d_state = H, d_state
        self.discretization = discretization
        self.channel_norm, self.channel_norm_eps = channel_norm, channel_norm_eps

        self.log_dt = nn.Parameter(torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))  # (H)
        self.log_A_real = nn.Parameter(torch.full((H, M), math.log(0.5)))  # Re A = −0.5
        scale = torch.randn(1) * 5 * math.pi if a_imag_init == "authors" else torch.tensor([math.pi])
        self.A_imag = nn.Parameter(scale * torch.arange(M, dtype=torch.float32).expand(H, M).clone())  # (H M)
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, M, dtype=torch.cfloat)))  # (H M 2)
        self.D = nn.Parameter(torch.randn(H))

        self.activation = nn.GELU()
        self.dropout = nn.Dropout1d(dropout) if dropout > 0 else nn.Identity()  # (B H L): drops channels H
        self.output_linear = nn.Sequential(nn.Conv1d(H, 2 * H, kernel_size=1), nn.GLU(dim=-2))

    def continuous_A(self) -> torch.Tensor:
        """A = −exp(log_A_real) + i·A_imag, (H, M) complex."""
        return torch.complex(-torch.exp(self.log_A_real), self.A_imag)

    def kernel(self, L: int, tau: float = 1.0) -> torch.Tensor:
        """(H, L) convolution kernel at step Δ = exp(log_dt)·τ."""
        dt = torch.exp(self.log_dt) * tau  # (H)
        discretize = discretize_zoh if self.discretization == "zoh" else discretize_bilinear
        log_A_bar, B_bar = discretize(self.continuous_A(), dt)
        return s4d_kernel(log_A_bar, B_bar, torch.view_as_complex(self.C), L)

    def convolve(self, u: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """The SSM part alone, y = K * u (no norm, D, nonlinearity). u, y: (B, H, L)."""
        return causal_fft_conv(u, self.kernel(u.shape[-1], tau))

    def forward(self, u: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """
        Args:
            u: (B, H, L) input sampled at τ times the training step.
            tau: step-size factor (new sampling step / training sampling step).
        Returns:
            (B, H, L).
        """
        y = self.convolve(u, tau)  # (B H L)
        if self.channel_norm:
            y = equalize_channel_norm(y, self.channel_norm_eps)
        y = y + u * self.D.unsqueeze(-1)
        y = self.dropout(self.activation(y))
        return self.output_linear(y)  # (B H L)
