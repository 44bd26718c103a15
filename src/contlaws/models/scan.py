"""Selective scan, the recurrence inside S6, in pure PyTorch with bounded memory (spec E2).

For every batch b, channel d, state n and time step t (h_0 = 0):

    h_t = Ā_t ⊙ h_{t−1} + B̄_t x_t,      y_t = Σ_n C_{t,n} h_{t,n} + D·x_t

with Ā_t, B̄_t x_t from the step Δ_t (B, L, D), A (D, N), B_t (B, L, N), see :func:`discretize_zoh`
and :func:`discretize_bilinear`. The full (B, L, D, N) state history is never held: the sequence is
cut into chunks of ``chunk`` steps, Ā and B̄x are built per chunk, and a custom autograd function
stores only the state at each chunk start and recomputes the chunk in backward (a sequence that fits
in one chunk keeps it from forward instead: the same bytes, without the recomputation).

Speed on CPU comes from looping over pre-split time slices (``unbind``) with one fused ``addcmul``
per step; indexing ``a[:, t]`` inside the loop makes autograd's backward about 100x slower.

Two ways to run the recurrence inside a chunk (``method``), same numbers, same memory bound:

- ``"loop"``: one step at a time (:func:`_scan_forward`). Best on CPU; on a GPU it is one small
  kernel launch per step, thousands per layer at L 1024 to 8192.
- ``"chunked"``: the chunked parallel form of Mamba-2's SSD algorithm (:func:`_scan_forward_chunked`):
  within sub-chunks of ``parallel_chunk`` steps every decay product comes at once from cumulative
  sums of log Ā, and only the states at sub-chunk boundaries run sequentially. It does
  ``parallel_chunk`` times the arithmetic of the loop in a few large kernels: meant for GPUs
  without mamba-ssm's compiled kernel.

``selective_scan_cuda`` calls mamba-ssm's fused kernel (ZOH only) when it is installed; it is
imported lazily because ``import mamba_ssm`` fails on machines without CUDA.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial

import torch
from torch.autograd.function import once_differentiable

DISCRETIZATIONS = ("zoh", "bilinear")
# A chunk holds a few (T, B, D, N) temporaries; large ones are slow on CPU (cache misses, fresh pages
# from the OS). At B 64, D 128, N 16 on 2 cores, 16-step chunks (2^21 elements, 8 MiB in float32)
# ran forward+backward 3-4x faster than 256-step chunks. Smaller bounds (2^19) ran the scan alone
# 1.3-2.3x faster on a loaded machine, but an S6 training step on an idle one was no faster, so the
# bound stays (benchmarks/bench_scan_chunk.py, benchmarks/RESULTS.md).
CHUNK_ELEMENTS = 2**21
SCAN_METHODS = ("loop", "chunked")
# Sub-chunk length of the chunked form: each step costs `parallel_chunk` times the loop's arithmetic,
# and L / parallel_chunk boundary steps stay sequential (see benchmarks/RESULTS.md).
PARALLEL_CHUNK = 8
# The chunked form holds a (T, parallel_chunk, Bt, D, N) decay tensor per chunk of T steps: T is
# chosen so that it has at most this many elements (a GPU has the memory for few, large chunks).
PARALLEL_ELEMENTS = {"cpu": 2**22, "cuda": 2**28}
# A sequence that fits in one chunk keeps that chunk's tensors from forward for backward (same bytes,
# 16-24 % less CPU per S6 training step at the E2 and E3 shapes; see _ChunkedSelectiveScan).
KEEP_SINGLE_CHUNK = True


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


# ------------------------------------------------------------------------------------------------
# The chunked parallel form (Mamba-2's SSD algorithm, for a diagonal Ā per channel and state)
#
#   name        paper symbol                         meaning
#   a[k, t]     Ā_t                                  decay of step t of sub-chunk k (T steps each)
#   b[k, t]     B̄_t x_t                              input of step t
#   S[k, t]     Σ_{r≤t} log|Ā_r|                     cumulative log-decay inside the sub-chunk
#   W[k, t, s]  Π_{s<r≤t} Ā_r = exp(S_t − S_s)       decay from step s to t (s ≤ t; 0 above the
#                                                    diagonal): Mamba-2's mask L = exp(segsum(log Ā))
#   P[k, t]     Π_{r≤t} Ā_r = exp(S_t)               decay from the sub-chunk start to t
#   h_start[k]  h before the first step of sub-chunk k
#
#   h_t = Σ_{s≤t} W[t, s] b_s + P_t h_start            (the recurrence unrolled inside a sub-chunk)
#
# Differences S_t − S_s are masked to s ≤ t before exponentiating, so every exponent is ≤ 0 and
# nothing overflows (the cumulative product trick exp(S_t)·Σ exp(−S_s) b_s would). Bilinear Ā is
# negative when Δ|A| > 2: the sign is carried separately as σ_t = Π_{r≤t} sign Ā_r (exactly ±1), and
# Π_{s<r≤t} sign Ā_r = σ_t σ_s. All shapes are time-major, as in the loop: (K T Bt D N).
# ------------------------------------------------------------------------------------------------
def _split_chunks(t: torch.Tensor, chunk: int, fill: float) -> torch.Tensor:
    """(steps, Bt, D, N) -> (K, chunk, Bt, D, N), the tail padded with ``fill``.

    Padding comes after the last real step, so it changes no real state (Ā = 1, B̄x = 0 there).
    """
    pad = (-t.shape[0]) % chunk
    if pad:
        t = torch.cat([t, t.new_full((pad, *t.shape[1:]), fill)])
    return t.view(-1, chunk, *t.shape[1:])  # (K T Bt D N)


def _cumulative_log_decays(a: torch.Tensor) -> torch.Tensor:
    """S_t = Σ_{r≤t} log|Ā_r| inside each sub-chunk. a: (K T Bt D N) -> (K T Bt D N).

    log|Ā| is floored at 2·log(machine epsilon) (Ā below eps², far below any other contribution,
    counts as eps²): Ā = 0 (bilinear at Δ|A| = 2, or exp underflow) would give −inf, and the floor
    keeps |S| small, so S_t − S_s loses little to cancellation.
    """
    floor = 2.0 * math.log(torch.finfo(a.dtype).eps)
    return a.abs().log_().clamp_(min=floor).cumsum(1)  # (K T Bt D N)


def _decay_signs(a: torch.Tensor) -> torch.Tensor:
    """σ_t = Π_{r≤t} sign Ā_r inside each sub-chunk, exactly ±1. a: (K T Bt D N) -> (K T Bt D N)."""
    return torch.where(a < 0, -1.0, 1.0).to(a.dtype).cumprod(1)


def _segment_decays(S: torch.Tensor) -> torch.Tensor:
    """W[k, t, s] = exp(S_t − S_s) for s ≤ t, else 0. S: (K T Bt D N) -> W: (K T T Bt D N)."""
    T = S.shape[1]
    W = S.unsqueeze(2) - S.unsqueeze(1)  # (K T T Bt D N), [k, t, s] = S_t − S_s
    above = torch.ones(T, T, dtype=torch.bool, device=S.device).triu_(1)  # s > t: no path from s to t
    W.masked_fill_(above.view(1, T, T, *[1] * (S.dim() - 2)), -math.inf)  # before exp: no overflow
    return W.exp_()


def _intra_chunk_states(W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """States reached from h_start = 0: Σ_{s≤t} W[t, s] b_s. W: (K T T Bt D N) (overwritten), b: (K T Bt D N)."""
    return W.mul_(b.unsqueeze(1)).sum(2)  # (K T Bt D N)


def _chunk_start_states(P_last: torch.Tensor, h_last: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_start[0] = h0, h_start[k+1] = P[k, T−1] h_start[k] + h̃[k, T−1]: the only sequential part.

    P_last, h_last: (K Bt D N), the decay over and the zero-start state at the end of each sub-chunk;
    h0: (Bt D N). Returns h_start: (K Bt D N).
    """
    starts = torch.empty_like(h_last)  # (K Bt D N)
    starts[0] = h0
    for k in range(starts.shape[0] - 1):  # one kernel per sub-chunk
        torch.addcmul(h_last[k], P_last[k], starts[k], out=starts[k + 1])  # (Bt D N)
    return starts


def _scan_forward_chunked(
    A_bar: torch.Tensor, Bx_bar: torch.Tensor, h0: torch.Tensor, chunk: int = PARALLEL_CHUNK, signed: bool = True
) -> torch.Tensor:
    """Same as :func:`_scan_forward`, in sub-chunks of ``chunk`` steps computed in parallel.

    Args:
        A_bar, Bx_bar: (steps, Bt, D, N) Ā_t and B̄_t x_t; h0: (Bt, D, N) the state before step 0.
        chunk: sub-chunk length T (the work is T times the loop's; L/T steps stay sequential).
        signed: Ā may be negative (bilinear); False skips the sign bookkeeping (ZOH: Ā = exp > 0).
    Returns:
        (steps, Bt, D, N) the states h_t.
    """
    steps = A_bar.shape[0]
    a = _split_chunks(A_bar, chunk, 1.0)  # (K T Bt D N)
    b = _split_chunks(Bx_bar, chunk, 0.0)  # (K T Bt D N)
    S = _cumulative_log_decays(a)  # (K T Bt D N)
    sigma = _decay_signs(a) if signed else None  # (K T Bt D N)
    h = _intra_chunk_states(_segment_decays(S), b if sigma is None else b * sigma)  # (K T Bt D N), σ_t to come
    P = S.exp_()  # (K T Bt D N): |decay| from the sub-chunk start to t
    if sigma is not None:
        h.mul_(sigma)
        P.mul_(sigma)
    starts = _chunk_start_states(P[:, -1], h[:, -1], h0)  # (K Bt D N)
    h.addcmul_(P, starts.unsqueeze(1))  # (K T Bt D N): + P_t h_start
    return h.flatten(0, 1)[:steps]  # (steps Bt D N)


def _scan_adjoint_chunked(
    A_bar: torch.Tensor, grad_h: torch.Tensor, carry: torch.Tensor, chunk: int = PARALLEL_CHUNK, signed: bool = True
) -> torch.Tensor:
    """Same as :func:`_scan_adjoint` (g_t = grad_h_t + Ā_{t+1} g_{t+1}), as a chunked forward scan in reversed time.

    Reversed, g'_r = g_{T−1−r} obeys g'_r = grad_h'_r + Ā_{T−r} g'_{r−1} with g'_{−1} = ``carry``
    entering through a decay of 1. A_bar, grad_h: (steps, Bt, D, N); carry: (Bt, D, N).
    """
    a_reversed = torch.cat([torch.ones_like(A_bar[:1]), A_bar[1:].flip(0)])  # (steps Bt D N)
    return _scan_forward_chunked(a_reversed, grad_h.flip(0), carry, chunk, signed).flip(0)


def _state_scans(method: str, parallel_chunk: int, discretization: str):
    """(forward scan, adjoint scan) of ``method``, with the signatures of the loop's."""
    if method == "loop":
        return _scan_forward, _scan_adjoint
    signed = discretization != "zoh"  # ZOH: Ā = exp(ΔA) > 0
    return (
        partial(_scan_forward_chunked, chunk=parallel_chunk, signed=signed),
        partial(_scan_adjoint_chunked, chunk=parallel_chunk, signed=signed),
    )


def _time_major(t: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> contiguous (T, B, ...), so per-step slices are contiguous."""
    return t.transpose(0, 1).contiguous()


def _chunked_forward(x, delta, A, B, C, D, discretization: str, chunk: int, keep_starts: bool, scans):
    """y (B, L, D), and the state at each chunk start (n_chunks, B, D, N) when ``keep_starts``.

    ``scans``: (forward scan, adjoint scan) from :func:`_state_scans`.
    """
    batch, length, d_model = x.shape
    discretize, scan_forward = _DISCRETIZE[discretization], scans[0]
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
        hs = scan_forward(A_bar, Bx_bar, h)  # (T Bt D N)
        h.copy_(hs[-1])
        y[:, s : s + chunk] += torch.einsum("tbdn,tbn->btd", hs, part[3])
    return y, starts


def _chunk_graph(x, delta, A, B, discretize, sl: slice):
    """Ā, B̄x of the steps ``sl`` (T Bt D N) with the autograd graph from fresh leaves Δ, B_t, x (T Bt .) and A."""
    with torch.enable_grad():
        leaves = [_time_major(t[:, sl]).detach().requires_grad_() for t in (delta, B, x)]
        A_leaf = A.detach().requires_grad_()
        A_bar, Bx_bar = discretize(leaves[0], A_leaf, leaves[1], leaves[2])  # (T Bt D N)
    return leaves, A_leaf, A_bar, Bx_bar


class _ChunkedSelectiveScan(torch.autograd.Function):
    """y_t = Σ_n C_{t,n} h_{t,n} + D·x_t; saves only chunk start states, recomputes chunks in backward.

    A sequence that fits in one chunk keeps that chunk (Ā, B̄x with their graph, and the states) from
    forward instead: the memory bound is the same (backward would rebuild the same tensors), the
    numbers are the same operations on the same values, and backward skips the recomputation.
    """

    @staticmethod
    def forward(ctx, x, delta, A, B, C, D, discretization: str, chunk: int, scans):
        ctx.discretization, ctx.chunk, ctx.scans = discretization, chunk, scans
        ctx.kept = None
        if x.shape[1] > chunk or not KEEP_SINGLE_CHUNK:
            y, starts = _chunked_forward(x, delta, A, B, C, D, discretization, chunk, keep_starts=True, scans=scans)
        else:  # the steps of _chunked_forward's only chunk, in the same order
            starts = x.new_zeros(1, x.shape[0], x.shape[2], A.shape[-1])  # (1 Bt D N)
            y = x * D  # (Bt L D)
            graph = _chunk_graph(x, delta, A, B, _DISCRETIZE[discretization], slice(0, chunk))
            hs = scans[0](graph[2].detach(), graph[3].detach(), starts[0])  # (T Bt D N)
            y[:, 0:chunk] += torch.einsum("tbdn,tbn->btd", hs, _time_major(C[:, 0:chunk]))
            ctx.kept = (*graph, hs)
        ctx.save_for_backward(x, delta, A, B, C, D, starts)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, delta, A, B, C, D, starts = ctx.saved_tensors
        discretize, chunk = _DISCRETIZE[ctx.discretization], ctx.chunk
        scan_forward, scan_adjoint = ctx.scans
        grad_x, grad_delta = torch.empty_like(x), torch.empty_like(delta)
        grad_B, grad_C = torch.empty_like(B), torch.empty_like(C)
        grad_A = torch.zeros_like(A)
        carry = torch.zeros_like(starts[0])  # Ā_{t+1} g_{t+1} entering from the right
        for k in range(starts.shape[0] - 1, -1, -1):
            sl = slice(k * chunk, (k + 1) * chunk)
            if ctx.kept is not None:  # the only chunk, kept by forward
                leaves, A_leaf, A_bar, Bx_bar, hs = ctx.kept
                ctx.kept = None
            else:
                leaves, A_leaf, A_bar, Bx_bar = _chunk_graph(x, delta, A, B, discretize, sl)
                hs = scan_forward(A_bar.detach(), Bx_bar.detach(), starts[k])  # recompute states
            A_bar_d = A_bar.detach()
            gy, c = _time_major(grad_y[:, sl]), _time_major(C[:, sl])  # (T Bt D), (T Bt N)
            grad_C[:, sl] = torch.einsum("tbdn,tbd->btn", hs, gy)
            g = scan_adjoint(A_bar_d, gy.unsqueeze(-1) * c.unsqueeze(-2), carry)  # (T Bt D N)
            torch.mul(A_bar_d[0], g[0], out=carry)  # in place: see the note on buffers in forward
            grad_A_bar = torch.empty_like(g)
            torch.mul(g[1:], hs[:-1], out=grad_A_bar[1:])  # ∂h_t/∂Ā_t = h_{t−1}
            torch.mul(g[0], starts[k], out=grad_A_bar[0])
            g_delta, g_B, g_x, g_A = torch.autograd.grad((A_bar, Bx_bar), (*leaves, A_leaf), (grad_A_bar, g))
            grad_delta[:, sl], grad_B[:, sl], grad_x[:, sl] = (t.transpose(0, 1) for t in (g_delta, g_B, g_x))
            grad_A += g_A
        grad_x.addcmul_(grad_y, D)  # the D·x term
        grad_D = torch.einsum("bld,bld->d", grad_y, x)
        return grad_x, grad_delta, grad_A, grad_B, grad_C, grad_D, None, None, None


def selective_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor,
    discretization: str = "zoh",
    chunk: int = 256,
    method: str = "loop",
    parallel_chunk: int = PARALLEL_CHUNK,
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
            exceed ``CHUNK_ELEMENTS``, or for ``method="chunked"`` a (chunk, parallel_chunk, B, D, N)
            tensor ``PARALLEL_ELEMENTS``); memory holds a few such tensors plus one state per chunk.
        method: "loop" (one step at a time; fastest on CPU) or "chunked" (the parallel form, for
            GPUs; see the module docstring). Same values up to rounding.
        parallel_chunk: sub-chunk length of ``method="chunked"``.
    Returns:
        y: (B, L, D).
    """
    if discretization not in _DISCRETIZE:
        raise ValueError(f"discretization must be one of {DISCRETIZATIONS}, got {discretization!r}")
    if method not in SCAN_METHODS:
        raise ValueError(f"method must be one of {SCAN_METHODS}, got {method!r}")
    if chunk < 1 or parallel_chunk < 1:
        raise ValueError(f"chunk and parallel_chunk must be positive, got {chunk} and {parallel_chunk}")
    per_step = x.shape[0] * A.numel()  # B·D·N elements per time step
    if method == "loop":
        steps = max(1, min(int(chunk), CHUNK_ELEMENTS // per_step))
    else:
        budget = PARALLEL_ELEMENTS["cuda" if x.is_cuda else "cpu"]
        steps = max(1, min(int(chunk), budget // (per_step * parallel_chunk)))
        parallel_chunk = min(parallel_chunk, steps)
        steps -= steps % parallel_chunk  # whole sub-chunks: only the sequence's last chunk is padded
    scans = _state_scans(method, parallel_chunk, discretization)
    inputs = (x, delta, A, B, C, D)
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return _ChunkedSelectiveScan.apply(*inputs, discretization, steps, scans)
    return _chunked_forward(*inputs, discretization, steps, keep_starts=False, scans=scans)[0]  # no states kept


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
