"""The shared sequence model around every layer type (spec E2 "Shared wrapper", E5).

    encoder (Linear d_input -> d_model, or Embedding for tokens)
    [optional temporal subsampling: mean over windows of `stride` steps; layers then see τ·stride]
    n_layers × residual block:  z = layer(norm(x) if prenorm else x, τ); z = dropout(z); x = x + z;
                                x = norm(x) unless prenorm
    readout "mean_pool" (E2, E5, the authors' E3):  mean over time -> decoder -> (B, d_output)
    readout "causal" (E3 default):                   decoder at every position -> (B, L, d_output)
    decoder = Linear(d, d) -> GELU -> Linear(d, d_output)

With readout "causal" the output at position t is a function of x_{<=t} only, provided every layer
is causal (the registry builds them so: S4D without the authors' channel norm, a masked Transformer
with positions); in E3 it is the forecast of obs_{t+1} (horizon 1) or obs_{t+1 .. t+h}.

The mean over time is what makes outputs comparable across τ: it is a time average over a fixed
physical window, whatever the number of samples. Dropout drops features (elementwise), never whole
time steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from contlaws.models.baselines import sinusoidal_positions

INPUT_KINDS = ("continuous", "tokens")
READOUTS = ("mean_pool", "causal")


def mean_pool_time(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Non-overlapping means over windows of ``stride`` steps (spec E5).

    A short last window is averaged over its true samples only (the same as padding the tail with
    the last value repeated and weighting the padding zero).

    Args:
        x: (B, L, D).
    Returns:
        (B, ceil(L / stride), D).
    """
    if stride == 1:
        return x
    batch, length, d = x.shape
    n_windows = -(-length // stride)
    pad = n_windows * stride - length
    sums = torch.cat([x, x.new_zeros(batch, pad, d)], dim=1).view(batch, n_windows, stride, d).sum(2)
    counts = torch.full((n_windows, 1), float(stride), dtype=x.dtype, device=x.device)
    counts[-1] = stride - pad
    return sums / counts  # (B L/s D)


class ChannelsFirst(nn.Module):
    """Runs a (B, H, L) layer such as S4D on (B, L, H) activations."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
        return self.layer(x.transpose(1, 2), tau).transpose(1, 2)


class SequenceModel(nn.Module):
    """Encoder, residual stack of sequence layers, mean pool, MLP decoder.

    Args:
        layers: the sequence layers, each ``layer(x (B, L, D), tau) -> (B, L, D)``.
        d_input: input features (continuous input) - ignored for tokens.
        d_output: regression targets or classes.
        d_model: width D.
        dropout: feature dropout after each layer.
        prenorm: LayerNorm before each layer instead of after the residual sum.
        input_kind: "continuous" (x float (B, L, d_input)) or "tokens" (x int64 (B, L)).
        vocab_size: embedding size for tokens.
        time_aware: whether the layers consume τ (S4D, S6) or ignore it (attention baselines).
        positional_encoding: add a sinusoidal position encoding after the encoder (transformer option).
        readout: "mean_pool" (mean over time, then the decoder: (B, d_output)) or "causal" (the
            decoder at every position: (B, L, d_output); stride must be 1).
        increment: (causal readout, continuous input with d_output a multiple of d_input) the
            decoder predicts the change from the current input: output_t = x_t (repeated over the
            horizon) + decoder(h_t). A model whose decoder outputs 0 is the last-value forecast.

    Attributes set by :func:`contlaws.models.registry.build_model`: ``build_kwargs`` (its exact
    keyword arguments, so ``build_model(**model.build_kwargs)`` rebuilds the architecture).
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        *,
        d_input: int,
        d_output: int,
        d_model: int,
        dropout: float = 0.1,
        prenorm: bool = False,
        input_kind: str = "continuous",
        vocab_size: int | None = None,
        time_aware: bool = True,
        positional_encoding: bool = False,
        readout: str = "mean_pool",
        increment: bool = False,
    ):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if increment and (readout != "causal" or input_kind != "continuous" or d_output % d_input):
            raise ValueError("increment needs readout 'causal', continuous input and d_output a multiple of d_input, "
                             f"got readout {readout!r}, input {input_kind!r}, d_input {d_input}, d_output {d_output}")
        self.readout, self.increment = readout, increment
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
        if input_kind == "tokens":
            if not vocab_size:
                raise ValueError("input_kind 'tokens' needs vocab_size")
            self.encoder = nn.Embedding(vocab_size, d_model)
        else:
            self.encoder = nn.Linear(d_input, d_model)
        self.input_kind, self.d_input, self.d_output = input_kind, d_input, d_output
        self.time_aware, self.prenorm, self.positional_encoding = time_aware, prenorm, positional_encoding
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in layers)
        self.dropouts = nn.ModuleList(nn.Dropout(dropout) for _ in layers)  # elementwise: features, not steps
        self.decoder = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, d_output))
        self.build_kwargs: dict = {}

    def forward(self, x: torch.Tensor, tau: float = 1.0, stride: int = 1) -> torch.Tensor:
        """
        Args:
            x: (B, L, d_input) float for continuous input, (B, L) int64 for tokens, sampled at τ
                times the training step.
            tau: step-size factor passed to every time-aware layer.
            stride: temporal subsampling factor (E5): mean over windows of ``stride`` steps after
                the encoder (for continuous input the same as pooling the raw input, the encoder
                being affine), and the layers see τ·stride.
        Returns:
            (B, d_output) for readout "mean_pool", (B, L, d_output) for readout "causal".
        """
        self._check_input(x)
        inputs = x
        if int(stride) != stride or stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        if self.readout == "causal" and stride != 1:
            raise ValueError(f"readout 'causal' forecasts every input step and needs stride 1, got {stride}")
        x = mean_pool_time(self.encoder(x), int(stride))  # (B L' D)
        if self.positional_encoding:
            x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype)
        step = tau * stride
        for layer, norm, dropout in zip(self.layers, self.norms, self.dropouts):
            z = layer(norm(x) if self.prenorm else x, step)
            x = x + dropout(z)
            if not self.prenorm:
                x = norm(x)
        if self.readout == "causal":
            out = self.decoder(x)  # (B L d_output): position t forecasts from x_{<=t}
            if self.increment:
                out = out + inputs.repeat(1, 1, self.d_output // self.d_input)  # x_t repeated over the horizon
            return out
        return self.decoder(x.mean(dim=1))  # (B d_output)

    def _check_input(self, x: torch.Tensor) -> None:
        if self.input_kind == "tokens":
            if x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"token input must be an integer (B, L) tensor, got {x.dtype} {tuple(x.shape)}")
        elif x.dim() != 3 or x.shape[-1] != self.d_input or not x.is_floating_point():
            raise ValueError(f"continuous input must be float (B, L, {self.d_input}), got {x.dtype} {tuple(x.shape)}")
