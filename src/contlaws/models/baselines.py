"""Attention and GPU-only baselines (spec E3). All layers map (B, L, D) -> (B, L, D) and take
``tau`` only to share the interface with S4D/S6: they have no notion of a time step and ignore it.

CPU-capable, pure PyTorch:
- :class:`TransformerLayer`: one encoder layer (8 heads, FF 512, GELU, post-norm). The authors use
  no mask and no positional encoding (order-blind: with a mean readout the model is
  permutation-invariant); ``causal=True`` adds the causal mask (position t attends to s <= t), the E3
  causal forecaster's setting, with sinusoidal positions added by the wrapper.
- :class:`CausalLinearAttention`: softmax replaced by the feature map φ(x) = elu(x) + 1,
  y_t = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t with S_t = Σ_{s≤t} φ(k_s) v_sᵀ, z_t = Σ_{s≤t} φ(k_s), in chunked form.

CUDA only (imported lazily, see :func:`gpu_layer`): Mamba-2 from mamba-ssm and GLA, linear
attention, Gated DeltaNet, Mamba-3 from flash-linear-attention (``fla.layers``), with the authors'
settings.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contlaws.gpu_packages import GPU_LAYERS, IMPORT_NAMES  # noqa: F401  (torch-free tables, also read at DAG time)


class TransformerLayer(nn.Module):
    """Transformer encoder layer (self-attention + GELU feed-forward, post-norm).

    Args:
        causal: mask attention to earlier and current positions (the output at t depends on x_{<=t}
            only); False (the authors') attends everywhere.
        attention_dropout: dropout of the attention probabilities; None: ``dropout`` (the authors').
            With 0, PyTorch's fused attention also runs on a CPU; with dropout a CPU stores the
            (B, heads, L, L) weights for the backward pass.
    """

    def __init__(self, d_model: int, n_heads: int = 8, d_ff: int = 512, dropout: float = 0.1, causal: bool = False,
                 attention_dropout: float | None = None):  # fmt: skip
        super().__init__()
        self.causal = causal
        self.block = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward=d_ff, dropout=dropout, activation="gelu", batch_first=True
        )
        if attention_dropout is not None:  # a plain float of the attention module, not a parameter
            self.block.self_attn.dropout = float(attention_dropout)

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """x: (B, L, D) -> (B, L, D); tau is ignored."""
        if not self.causal:
            return self.block(x)
        # (L L): 0 on and below the diagonal, -inf above (position t attends to s <= t)
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        return self.block(x, src_mask=mask, is_causal=True)


def sinusoidal_positions(length: int, d_model: int, device=None, dtype=None) -> torch.Tensor:
    """Fixed sin/cos position encoding, (L, D)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)  # (L 1)
    freq = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    enc = torch.zeros(length, d_model, device=device)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq[: d_model // 2])
    return enc.to(dtype) if dtype is not None else enc


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """φ(x) = elu(x) + 1 > 0."""
    return F.elu(x) + 1.0


def causal_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = 64, eps: float = 1e-6):
    """Causal linear attention with positive features, chunk by chunk.

    Inside a chunk the masked (chunk × chunk) score matrix is used directly; earlier chunks enter
    through the running sums S = Σ φ(k) vᵀ and z = Σ φ(k) at the chunk start, so memory is
    O(L·chunk + (L/chunk)·dk·dv) instead of the O(L·dk·dv) of a cumulative sum per step.

    Args:
        q, k: (B, H, L, dk) feature-mapped (positive) queries and keys.
        v: (B, H, L, dv) values.
    Returns:
        (B, H, L, dv).
    """
    batch, heads, length, _ = q.shape
    pad = (-length) % chunk  # padded keys sit after every real query, so causality hides them
    q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    n = (length + pad) // chunk
    q, k, v = (t.reshape(batch, heads, n, chunk, t.shape[-1]) for t in (q, k, v))  # (B H n c .)

    kv = torch.einsum("bhncd,bhnce->bhnde", k, v)  # per-chunk Σ φ(k) vᵀ
    S_prev = torch.cumsum(kv, dim=2) - kv  # sums over earlier chunks only
    z_prev = torch.cumsum(k.sum(3), dim=2) - k.sum(3)  # (B H n dk)

    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    scores = torch.einsum("bhncd,bhnmd->bhncm", q, k).masked_fill(~causal, 0.0)  # (B H n c c)
    numerator = torch.einsum("bhncd,bhnde->bhnce", q, S_prev) + scores @ v
    denominator = torch.einsum("bhncd,bhnd->bhnc", q, z_prev) + scores.sum(-1)
    out = numerator / (denominator.unsqueeze(-1) + eps)
    return out.reshape(batch, heads, n * chunk, -1)[:, :, :length]


class CausalLinearAttention(nn.Module):
    """Multi-head causal linear attention (elu + 1 features), a CPU-capable attention baseline."""

    def __init__(self, d_model: int, n_heads: int = 8, chunk: int = 64):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} must be divisible by n_heads {n_heads}")
        self.n_heads, self.chunk = n_heads, chunk
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        """x: (B, L, D) -> (B, L, D); tau is ignored."""
        batch, length, d_model = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # 3 × (B H L dh)
        y = causal_linear_attention(elu_feature_map(q), elu_feature_map(k), v, self.chunk)  # (B H L dh)
        return self.out(y.transpose(1, 2).reshape(batch, length, d_model))


# --- CUDA-only baselines -------------------------------------------------------------------------

FLA_MAX_HEADS = 8  # the authors' setting
FLA_MIN_HEAD_DIM = 16  # the Triton kernels work on tiles of at least 16


def import_gpu_layer(name: str) -> type:
    """The layer class of a CUDA-only baseline (raises ImportError and friends when it cannot load)."""
    import importlib

    module, cls = GPU_LAYERS[name][1].split(":")
    layer_cls = getattr(importlib.import_module(module), cls)
    if name == "mamba3" and not getattr(importlib.import_module(module), "is_fast_path_available", True):
        raise ImportError("fla.layers.mamba3 found no mamba-ssm Mamba-3 kernels (mamba_ssm.ops.triton.mamba3)")
    return layer_cls


class TimeAgnostic(nn.Module):
    """Adapts a library layer (x -> y or (y, ...)) to the (x, tau) -> y interface; tau is ignored."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        out = self.layer(x)
        return out[0] if isinstance(out, tuple) else out


def gpu_layer(name: str, d_model: int, layer_idx: int, mamba2_cfg: dict) -> nn.Module:
    """Build one CUDA-only baseline layer with the authors' settings (call after availability())."""
    layer_cls = import_gpu_layer(name)
    heads = max(1, min(FLA_MAX_HEADS, d_model // FLA_MIN_HEAD_DIM))
    if name == "mamba2":
        d_inner = mamba2_cfg["expand"] * d_model
        headdim = min(mamba2_cfg["headdim"], d_inner)  # one head when the model is narrower (quick scale)
        if d_inner % headdim:
            raise ValueError(f"model.mamba2.headdim = {headdim} must divide expand·d_model = {d_inner}")
        layer = layer_cls(
            d_model=d_model,
            d_state=mamba2_cfg["d_state"],
            d_conv=mamba2_cfg["d_conv"],
            expand=mamba2_cfg["expand"],
            headdim=headdim,
            layer_idx=layer_idx,
        )
    elif name == "gla":
        layer = layer_cls(hidden_size=d_model, num_heads=heads, expand_k=1.0, expand_v=1.0, layer_idx=layer_idx)
    elif name == "fla_linear_attention":  # the authors ran it with one head
        layer = layer_cls(hidden_size=d_model, num_heads=1, expand_k=1.0, expand_v=1.0, layer_idx=layer_idx)
    elif name == "gated_deltanet":
        layer = layer_cls(
            hidden_size=d_model, num_heads=heads, head_dim=d_model // heads, expand_v=1.0, layer_idx=layer_idx
        )
    elif name == "mamba3":
        layer = layer_cls(hidden_size=d_model, state_size=128, head_dim=16, layer_idx=layer_idx)
    else:
        raise ValueError(f"not a CUDA-only baseline: {name!r}")
    return TimeAgnostic(layer)
