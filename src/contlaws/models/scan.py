"""Selective scan, the recurrence inside S6, in pure PyTorch with bounded memory (spec E2).

For every batch b, channel d, state n and time step t (h_0 = 0):

    h_t = Ā_t ⊙ h_{t−1} + B̄_t x_t,      y_t = Σ_n C_{t,n} h_{t,n} + D·x_t

with Ā_t, B̄_t x_t from the step Δ_t (B, L, D), A (D, N), B_t (B, L, N), see :func:`discretize_zoh`
and :func:`discretize_bilinear`. The full (B, L, D, N) state history is never held: the sequence is
cut into chunks of ``chunk`` steps, Ā and B̄x are built per chunk, and a custom autograd function
stores only the state at each chunk start and recomputes the chunk in backward.

Speed on CPU comes from looping over pre-split time slices (``unbind``) with one fused ``addcmul``
per step; indexing ``a[:, t]`` inside the loop makes autograd's backward about 100x slower.

``selective_scan_cuda`` calls mamba-ssm's fused kernel (ZOH only) when it is installed; it is
imported lazily because ``import mamba_ssm`` fails on machines without CUDA.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.autograd.function import once_differentiable

DISCRETIZATIONS = ("zoh", "bilinear")
# A chunk holds a few (T, B, D, N) temporaries; large ones are slow on CPU (cache misses, fresh pages
# from the OS). At B 64, D 128, N 16 on 2 cores, 16-step chunks (2^21 elements, 8 MiB in float32)
# ran forward+backward 3-4x faster than 256-step chunks; at B 8, D 64 the two were equally fast.
CHUNK_ELEMENTS = 2**21


def discretize_zoh(delta, A, B, x):
    """Mamba-style ZOH: Ā = exp(ΔA), B̄x = Δ·B_t·x (the exact ZOH B̄ = A⁻¹(Ā − 1)B ≈ ΔB).

    Args:
        delta, x: (T, Bt, D) time-major chunk.
        A: (D, N).
        B: (T, Bt, N).
    Returns:
        A_bar, Bx_bar: (T, Bt, D, N).
    """
    A_bar = torch.exp(delta.unsqueeze(-1) * A)  # (T Bt D N)
    return A_bar, (delta * x).unsqueeze(-1) * B.unsqueeze(-2)


def discretize_bilinear(delta, A, B, x):
    """Bilinear: Ā = (1 + ΔA/2)/(1 − ΔA/2), B̄x = Δ/(1 − ΔA/2)·B_t·x. Shapes as :func:`discretize_zoh`."""
    half_dA = 0.5 * delta.unsqueeze(-1) * A  # (T Bt D N)
    inv_denom = 1.0 / (1.0 - half_dA)
    return (1.0 + half_dA) * inv_denom, (delta * x).unsqueeze(-1) * B.unsqueeze(-2) * inv_denom


_DISCRETIZE = {"zoh": discretize_zoh, "bilinear": discretize_bilinear}


def _scan_forward(A_bar: torch.Tensor, Bx_bar: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """States h_t = Ā_t h_{t−1} + B̄x_t for one chunk. A_bar, Bx_bar: (T, ...); h0: (...). Returns (T, ...)."""
    hs = torch.empty_like(Bx_bar)
    h = h0
    for a_t, bx_t, h_t in zip(A_bar.unbind(0), Bx_bar.unbind(0), hs.unbind(0)):
        h = torch.addcmul(bx_t, a_t, h, out=h_t)
    return hs


def _scan_adjoint(A_bar: torch.Tensor, grad_h: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
    """Total gradients g_t = ∂loss/∂h_t of one chunk, in place in ``grad_h`` (T, ...).

    g_t = (direct gradient)_t + Ā_{t+1} g_{t+1}; ``carry`` = Ā_{t+1} g_{t+1} from the following chunk.
    """
    g, a = grad_h.unbind(0), A_bar.unbind(0)
    g[-1].add_(carry)
    for t in range(len(g) - 2, -1, -1):
        g[t].addcmul_(a[t + 1], g[t + 1])
    return grad_h


def _time_major(t: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> contiguous (T, B, ...), so per-step slices are contiguous."""
    return t.transpose(0, 1).contiguous()


def _chunked_forward(x, delta, A, B, C, D, discretization: str, chunk: int, keep_starts: bool):
    """y (B, L, D), and the state at each chunk start (n_chunks, B, D, N) when ``keep_starts``."""
    batch, length, d_model = x.shape
    discretize = _DISCRETIZE[discretization]
    # Buffers that outlive a chunk are allocated once, up front: small blocks left alive between
    # the large per-chunk temporaries fragment the heap and RSS grows chunk after chunk.
    n_chunks = -(-length // chunk)
    starts = x.new_empty(n_chunks if keep_starts else 0, batch, d_model, A.shape[-1])  # (n_chunks Bt D N)
    h = x.new_zeros(batch, d_model, A.shape[-1])  # (Bt D N)
    y = x * D  # (Bt L D), the D·x term; the scan output is added chunk by chunk
    for k, s in enumerate(range(0, length, chunk)):
        part = [_time_major(t[:, s : s + chunk]) for t in (delta, B, x, C)]  # (T Bt .)
        A_bar, Bx_bar = discretize(part[0], A, part[1], part[2])  # (T Bt D N)
        if keep_starts:
            starts[k] = h
        hs = _scan_forward(A_bar, Bx_bar, h)  # (T Bt D N)
        h.copy_(hs[-1])
        y[:, s : s + chunk] += torch.einsum("tbdn,tbn->btd", hs, part[3])
    return y, starts


class _ChunkedSelectiveScan(torch.autograd.Function):
    """y_t = Σ_n C_{t,n} h_{t,n} + D·x_t; saves only chunk start states, recomputes chunks in backward."""

    @staticmethod
    def forward(ctx, x, delta, A, B, C, D, discretization: str, chunk: int):
        y, starts = _chunked_forward(x, delta, A, B, C, D, discretization, chunk, keep_starts=True)
        ctx.discretization, ctx.chunk = discretization, chunk
        ctx.save_for_backward(x, delta, A, B, C, D, starts)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, delta, A, B, C, D, starts = ctx.saved_tensors
        discretize, chunk = _DISCRETIZE[ctx.discretization], ctx.chunk
        grad_x, grad_delta = torch.empty_like(x), torch.empty_like(delta)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_A = torch.zeros_like(A)
        carry = torch.zeros_like(starts[0])  # Ā_{t+1} g_{t+1} entering from the right
        for k in range(starts.shape[0] - 1, -1, -1):
            sl = slice(k * chunk, (k + 1) * chunk)
            with torch.enable_grad():
                leaves = [_time_major(t[:, sl]).detach().requires_grad_() for t in (delta, B, x)]
                A_leaf = A.detach().requires_grad_()
                A_bar, Bx_bar = discretize(leaves[0], A_leaf, leaves[1], leaves[2])  # (T Bt D N)
            A_bar_d = A_bar.detach()
            hs = _scan_forward(A_bar_d, Bx_bar.detach(), starts[k])  # recompute states
            gy, c = _time_major(grad_y[:, sl]), _time_major(C[:, sl])  # (T Bt D), (T Bt N)
            grad_C[:, sl] = torch.einsum("tbdn,tbd->btn", hs, gy)
            g = _scan_adjoint(A_bar_d, gy.unsqueeze(-1) * c.unsqueeze(-2), carry)  # (T Bt D N)
            torch.mul(A_bar_d[0], g[0], out=carry)  # in place: see the note on buffers in forward
            grad_A_bar = torch.empty_like(g)
            torch.mul(g[1:], hs[:-1], out=grad_A_bar[1:])  # ∂h_t/∂Ā_t = h_{t−1}
            torch.mul(g[0], starts[k], out=grad_A_bar[0])
            g_delta, g_B, g_x, g_A = torch.autograd.grad((A_bar, Bx_bar), (*leaves, A_leaf), (grad_A_bar, g))
            grad_delta[:, sl], grad_B[:, sl], grad_x[:, sl] = (t.transpose(0, 1) for t in (g_delta, g_B, g_x))
            grad_A += g_A
        grad_x.addcmul_(grad_y, D)  # the D·x term
        grad_D = torch.einsum("bld,bld->d", grad_y, x)
        return grad_x, grad_delta, grad_A, grad_B, grad_C, grad_D, None, None


def selective_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    discretization: str = "zoh",
    chunk: int = 256,
) -> torch.Tensor:
    """Selective scan y_t = Σ_n C_{t,n} h_{t,n} + D·x_t (see module docstring).

    Args:
        x: (B, L, D) input.
        delta: (B, L, D) positive steps Δ (already multiplied by τ).
        A: (D, N) continuous-time diagonal (negative real).
        B, C: (B, L, N) input-dependent input and output vectors.
        D: (D,) skip weight.
        discretization: "zoh" or "bilinear".
        chunk: at most this many time steps per chunk (fewer when a (chunk, B, D, N) tensor would
            exceed ``CHUNK_ELEMENTS``); memory holds a few such tensors plus one state per chunk.
    Returns:
        y: (B, L, D).
    """
    if discretization not in _DISCRETIZE:
        raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    per_step = x.shape[0] * A.numel()  # B·D·N elements per time step
    steps = max(1, min(int(chunk), CHUNK_ELEMENTS // per_step))
    inputs = (x, delta, A, B, C, D)
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return _ChunkedSelectiveScan.apply(*inputs, discretization, steps)
    return _chunked_forward(*inputs, discretization, steps, keep_starts=False)[0]  # inference: no states kept


@lru_cache(maxsize=1)
def cuda_scan_unavailable_reason() -> str | None:
    """None when mamba-ssm's CUDA selective scan can be used here, else why not."""
    if not torch.cuda.is_available():
        return "needs CUDA (none available)"
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception as err:  # noqa: BLE001  (ImportError, or the CUDA extension failing to load)
        return f"mamba-ssm selective_scan_fn does not import ({type(err).__name__}: {err})"
    return None


def selective_scan_cuda(x, delta, A, B, C, D) -> torch.Tensor:
    """The same ZOH scan through mamba-ssm's fused CUDA kernel. Shapes as :func:`selective_scan`.

    Δ is passed precomputed (τ already applied) with ``delta_softplus=False``: the kernel would
    otherwise apply the softplus itself, before τ could be applied.
    """
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    y = selective_scan_fn(
        x.transpose(1, 2).contiguous(),  # (B D L)
        delta.transpose(1, 2).contiguous(),
        A.contiguous(),
        B.transpose(1, 2).contiguous(),  # (B N L)
        C.transpose(1, 2).contiguous(),
        D.float(),
        delta_softplus=False,
    )
    return y.transpose(1, 2)  # (B L D)
