"""E4: task continuity, measured from a dataset's temporal structure alone.

A sequence is "continuous" when its samples can be recovered from a coarser sampling of it. The
primary metric subsamples each sequence by a stride s, reconstructs the dropped samples by linear
interpolation and measures the relative squared error; that is exactly what a model trained on a
stride-s grid (spec E5) cannot see.

Code names -> symbols (spec E4):

    x, rows        x ∈ ℝ^{L×d}   one sequence of L time steps and d channels
    stride         s             keep samples 0, s, 2s, …, ks and always the last one, L − 1
    interpolation  I_s(x)        piecewise-linear reconstruction of the kept samples on the full grid
    residual       r_s           ‖x − I_s(x)‖² / ‖x − mean(x)‖²  (sums over time and channels,
                                 mean over time per channel)
    noise_level    r̄_s(L)        E[r_s] for i.i.d. Gaussian noise of length L (closed form below)
    tc             TC_s          1 − r_s / r̄_s(L) per sequence (``normalize=False``: 1 − r_s)
    score          TC            TC_2 averaged over sequences
    curve          {s: TC_s}     the average at every configured stride

The alternative ``first_difference`` metric is 1 − E‖Δ_s x‖² / (2 Var x) (mean over the L − s lagged
differences, unbiased variance); its score uses lag 1, its curve lags s.

Both metrics are objects in :data:`METRICS` with the same interface (numerator per sequence, ratio,
noise level), so the streaming accumulator, the function API and the CLI serve any registered metric.

Inputs (``input_kind``): ``continuous`` (N, L) or (N, L, d) real values; ``tokens`` (N, L) integer
ids, one-hot by default (computed in closed form, never materialized) or embedded by a given
(V, d) matrix; ``image`` (N, H, W[, C]) scanned row by row into (N, H·W, C). Variable lengths come
as a list of arrays or as a padded array plus ``lengths``. Sequences with zero variance (all
samples equal) are excluded from the averages and counted in ``n_constant``.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from contlaws.io import DataFileError

INPUT_KINDS = ("continuous", "tokens", "image")
STANDARDIZE = ("channels", "none")  # channel scaling before scoring (see TaskContinuityAccumulator)
DEFAULT_STRIDES = (2, 4, 8, 16)
# Values (rows × time) processed per inner chunk: small enough that the float64 working copy and
# its temporaries stay in cache, large enough that numpy's per-call overhead is small (measured
# best at 2^17–2^18 on a 1 MiB-L2 core).
CHUNK_VALUES = 1 << 17


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------
def segment_noise_trace(n: np.ndarray) -> np.ndarray:
    """Σ over the n − 1 interior points of one interpolation segment of n steps of 1 + (1−w)² + w².

    For i.i.d. noise of variance σ², the interior point at w = m/n has E[(x_m − (1−w)x_0 − w x_n)²]
    = σ²(1 + (1−w)² + w²); summed over m = 1..n−1 this is (n − 1)(5n − 1)/(3n). n = 0 or 1 gives 0.
    """
    n = np.asarray(n, dtype=np.float64)
    return np.where(n > 1, (n - 1.0) * (5.0 * n - 1.0) / (3.0 * np.maximum(n, 1.0)), 0.0)


def refinement_noise_level(lengths: np.ndarray, stride: int) -> np.ndarray:
    """r̄_s(L) = E[r_s] for i.i.d. Gaussian noise: ‖I − P_s‖²_F / (L − 1), exactly.

    Why exact: the residual x − I_s(x) = (I − P_s)x vanishes on constants, so r_s is a ratio of
    quadratic forms in the centered vector, which is isotropic in an (L − 1)-dimensional subspace;
    its direction is uniform and independent of its norm, so E[r_s] = tr((I − P_s)ᵀ(I − P_s))/(L − 1).
    (For any other i.i.d. law this is the ratio of the expectations.) Segments: k = ⌊(L−1)/s⌋ full
    ones of s steps and a tail of L − 1 − ks steps.

    Args:
        lengths: (N,) sequence lengths L. stride: s ≥ 2.
    Returns:
        (N,) float64; 0 where L < 3 (no interior point, the residual is undefined).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    full = np.maximum(lengths - 1, 0) // stride
    tail = np.maximum(lengths - 1, 0) - full * stride
    trace = full * segment_noise_trace(stride) + segment_noise_trace(tail)
    return np.where(lengths >= 3, trace / np.maximum(lengths - 1, 1), 0.0)


# ---------------------------------------------------------------------------------------------
# Kernels on one chunk. Continuous rows are (R, Lmax) float64, shifted by their first sample and
# exactly 0 beyond their length; token rows are (R, Lmax) int64 with a constant pad beyond it.
# ---------------------------------------------------------------------------------------------
def _row_index(n: int) -> np.ndarray:
    return np.arange(n)[:, None]


def scratch(work: dict | None, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialized float64 array of ``shape``, reused from ``work`` across calls when given.

    Reuse matters for speed: fresh arrays of this size are new pages from the OS on every call.
    """
    size = math.prod(shape)
    if work is None:
        return np.empty(shape)
    buf = work.get(name)
    if buf is None or buf.size < size:
        buf = work[name] = np.empty(max(size, 1))
    return buf[:size].reshape(shape)


def interpolation_residual_sq(rows: np.ndarray, lengths: np.ndarray, stride: int, work: dict | None = None) -> np.ndarray:
    """‖x − I_s(x)‖² per row for continuous rows (R, Lmax), kept samples 0, s, …, ks and L − 1.

    Full segments [js, (j+1)s] are handled phase by phase on strided views (no gathers): the
    interpolant p is advanced by (b − a)/s per phase. The one segment per row that crosses its end
    (j = k) is zeroed and replaced by the tail segment [ks, L − 1] of t < s steps.

    Returns:
        (R,) float64 sums of squared residuals.
    """
    n_rows, max_len = rows.shape
    uniform = bool(np.all(lengths == max_len))
    last = np.maximum(lengths, 1) - 1  # (R,)
    k = last // stride  # (R,) full segments per row
    n_seg = (max_len - 1) // stride  # full segments of the padded grid
    out = np.zeros(n_rows)
    if n_seg > 0:
        end = n_seg * stride
        # Polyphase copy: phase m of every segment in one contiguous row, (R s K). The strided
        # views it replaces are slower to compute on than the copy costs.
        phases = scratch(work, "phases", (n_rows, stride, n_seg))
        phases[...] = rows[:, :end].reshape(n_rows, n_seg, stride).transpose(0, 2, 1)
        left = phases[:, 0]  # (R K) kept samples js
        step = scratch(work, "step", (n_rows, n_seg))  # (b − a)/s per segment
        np.subtract(left[:, 1:], left[:, :-1], out=step[:, :-1])
        np.subtract(rows[:, end], left[:, -1], out=step[:, -1])
        step *= 1.0 / stride
        interp = scratch(work, "interp", (n_rows, n_seg))
        interp[...] = left
        for m in range(1, stride):
            interp += step
            phases[:, m] -= interp  # residual at js + m, in place
        resid = phases[:, 1:]  # (R s-1 K)
        if not uniform:
            crossing = np.flatnonzero(k < n_seg)  # rows whose segment k runs past their end
            resid[crossing, :, k[crossing]] = 0.0
        out += np.einsum("rmk,rmk->r", resid, resid)
    if stride == 2:  # a tail of t < 2 steps has no interior point
        return out
    if uniform:  # the same tail columns in every row: slices instead of gathers
        start, stop = n_seg * stride, max_len - 1
        if stop - start > 1:
            a, b = rows[:, start : start + 1], rows[:, stop : stop + 1]  # (R 1)
            w = np.arange(1, stop - start) / (stop - start)  # (t-1,)
            r = rows[:, start + 1 : stop] - a - w * (b - a)
            out += np.einsum("rm,rm->r", r, r)
        return out
    start = k * stride
    tail = last - start  # (R,)
    m = np.arange(1, stride - 1)  # (s-2,) possible interior points of a tail
    pos = np.minimum(start[:, None] + m, max_len - 1)  # (R s-2)
    rr = _row_index(n_rows)
    a, b = rows[rr, start[:, None]], rows[rr, last[:, None]]  # (R 1)
    w = m / np.maximum(tail, 1)[:, None]  # (R s-2)
    r = rows[rr, pos] - a - w * (b - a)
    r *= m < tail[:, None]  # only the t − 1 interior points of each row's tail
    out += np.einsum("rm,rm->r", r, r)
    return out


def lagged_difference_sq(rows: np.ndarray, lengths: np.ndarray, lag: int, work: dict | None = None) -> np.ndarray:
    """Σ_{t + s < L} ‖x_{t+s} − x_t‖² per row for continuous rows (R, Lmax). Returns (R,)."""
    n_rows, max_len = rows.shape
    if max_len <= lag:
        return np.zeros(n_rows)
    diff = np.subtract(rows[:, lag:], rows[:, :-lag], out=scratch(work, "diff", (n_rows, max_len - lag)))
    if np.any(lengths != max_len):  # pairs straddling a row's end mix data with padding
        diff *= np.arange(max_len - lag) < (lengths - lag)[:, None]
    return np.einsum("rl,rl->r", diff, diff)


def onehot_interpolation_residual_sq(tokens: np.ndarray, lengths: np.ndarray, stride: int) -> np.ndarray:
    """‖x − I_s(x)‖² per row for one-hot tokens (R, Lmax), from equality counts only.

    For one-hot e_i between kept e_l (weight 1 − w) and e_r (weight w):
    ‖e_i − (1−w)e_l − w e_r‖² = 1 + (1−w)² + w² + 2w(1−w)[l=r] − 2(1−w)[i=l] − 2w[i=r].
    Returns (R,) float64 (exact integer-weighted sums).
    """
    n_rows, max_len = tokens.shape
    last = np.maximum(lengths, 1) - 1
    k = last // stride
    n_seg = (max_len - 1) // stride
    out = np.zeros(n_rows)

    def term(w, same_lr, same_il, same_ir, count):
        return count * (1 + (1 - w) ** 2 + w**2) + 2 * w * (1 - w) * same_lr - 2 * (1 - w) * same_il - 2 * w * same_ir

    if n_seg > 0:
        end = n_seg * stride
        valid = np.arange(n_seg) < k[:, None]  # (R K) full segments inside the row
        left, right = tokens[:, 0:end:stride], tokens[:, stride : end + 1 : stride]  # (R K)
        same_lr = ((left == right) & valid).sum(1)
        for m in range(1, stride):
            mid = tokens[:, m:end:stride]
            same_il = ((mid == left) & valid).sum(1)
            same_ir = ((mid == right) & valid).sum(1)
            out += term(m / stride, same_lr, same_il, same_ir, k)
    if stride > 2:
        start = k * stride
        tail = last - start
        m = np.arange(1, stride - 1)
        inside = m < tail[:, None]  # (R s-2)
        pos = np.minimum(start[:, None] + m, max_len - 1)
        rr = _row_index(n_rows)
        left, right, mid = tokens[rr, start[:, None]], tokens[rr, last[:, None]], tokens[rr, pos]
        w = m / np.maximum(tail, 1)[:, None]
        per_point = term(w, left == right, mid == left, mid == right, 1)
        out += (per_point * inside).sum(1)
    return out


def onehot_lagged_difference_sq(tokens: np.ndarray, lengths: np.ndarray, lag: int) -> np.ndarray:
    """Σ_{t + s < L} ‖e_{x_{t+s}} − e_{x_t}‖² = 2·#{t: x_{t+s} ≠ x_t} per row. Returns (R,)."""
    n_rows, max_len = tokens.shape
    if max_len <= lag:
        return np.zeros(n_rows)
    changed = tokens[:, lag:] != tokens[:, :-lag]
    changed &= np.arange(max_len - lag) < (lengths - lag)[:, None]
    return 2.0 * changed.sum(1)


def onehot_centered_sq(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """‖x − mean(x)‖² = L − Σ_v c_v² / L for one-hot rows, c_v the count of token v. Returns (R,).

    Σ_v c_v² comes from run lengths of each sorted row, so the cost does not depend on the vocabulary.
    Padding positions get distinct negative values, each a run of 1, removed afterwards.
    """
    n_rows, max_len = tokens.shape
    if n_rows == 0 or max_len == 0:
        return np.zeros(n_rows)
    t = np.arange(max_len)
    marked = np.where(t < lengths[:, None], tokens, -1 - t)
    flat = np.sort(marked, axis=1).ravel()
    starts = np.ones(flat.size, dtype=bool)
    starts[1:] = flat[1:] != flat[:-1]
    starts[::max_len] = True  # runs never cross rows
    begin = np.flatnonzero(starts)
    run = np.diff(np.append(begin, flat.size)).astype(np.float64)
    sum_sq = np.bincount(begin // max_len, weights=run * run, minlength=n_rows) - (max_len - lengths)
    length = lengths.astype(np.float64)
    return np.where(lengths > 0, length - sum_sq / np.maximum(length, 1.0), 0.0)


# ---------------------------------------------------------------------------------------------
# Metrics (the pluggable part)
# ---------------------------------------------------------------------------------------------
class Metric:
    """One task-continuity metric. A new metric subclasses this and is added to :data:`METRICS`.

    The accumulator calls, per chunk and stride s: ``continuous_numerator`` or ``onehot_numerator``
    (per-row squared error, summed over channels by the caller; ``work`` is a dict of reusable
    buffers, see :func:`scratch`), then, per batch, ``ratio`` (the metric's raw
    residual from numerator, centered sum of squares ‖x − mean(x)‖² and length) and ``noise_level``
    (the residual's expectation for i.i.d. noise; 0 marks a (sequence, stride) where it is undefined).
    """

    name: str = ""
    score_stride: int = 2
    description: str = ""

    def formula(self, normalized: bool) -> str:
        """How TC is computed, for reports."""
        return self.description

    def continuous_numerator(self, rows: np.ndarray, lengths: np.ndarray, stride: int, work: dict | None = None) -> np.ndarray:
        raise NotImplementedError

    def onehot_numerator(self, tokens: np.ndarray, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError

    def ratio(self, numerator: np.ndarray, centered_sq: np.ndarray, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError

    def noise_level(self, lengths: np.ndarray, stride: int) -> np.ndarray:
        raise NotImplementedError


class RefinementResidual(Metric):
    """r_s = ‖x − I_s(x)‖² / ‖x − mean(x)‖², the variance lost by stride-s subsampling."""

    name = "refinement"
    score_stride = 2
    description = "refinement residual r_s = ‖x − I_s(x)‖²/‖x − mean(x)‖²"

    def formula(self, normalized):
        return "TC_s = 1 − r_s/r̄_s (noise-normalized)" if normalized else "TC_s = 1 − r_s (raw)"

    def continuous_numerator(self, rows, lengths, stride, work=None):
        return interpolation_residual_sq(rows, lengths, stride, work)

    def onehot_numerator(self, tokens, lengths, stride):
        return onehot_interpolation_residual_sq(tokens, lengths, stride)

    def ratio(self, numerator, centered_sq, lengths, stride):
        return numerator / np.where(centered_sq > 0, centered_sq, np.inf)

    def noise_level(self, lengths, stride):
        return refinement_noise_level(lengths, stride)


class FirstDifference(Metric):
    """E‖Δ_s x‖² / (2 Var x): mean of the L − s lagged differences over twice the unbiased variance.

    Its i.i.d.-noise expectation is exactly 1 (the same ratio-of-quadratic-forms argument as
    :func:`refinement_noise_level`: tr(Δ_sᵀΔ_s) = 2(L − s)), so 1 − it is a normalized lag-s
    autocorrelation: 1 smooth, 0 white noise, −1 an alternating sign.
    """

    name = "first_difference"
    score_stride = 1
    description = "TC_s = 1 − E‖x_{t+s} − x_t‖²/(2 Var x)"

    def continuous_numerator(self, rows, lengths, stride, work=None):
        return lagged_difference_sq(rows, lengths, stride, work)

    def onehot_numerator(self, tokens, lengths, stride):
        return onehot_lagged_difference_sq(tokens, lengths, stride)

    def ratio(self, numerator, centered_sq, lengths, stride):
        pairs = np.maximum(lengths - stride, 1)
        variance = centered_sq / np.maximum(lengths - 1, 1)
        return numerator / pairs / (2.0 * np.where(variance > 0, variance, np.inf))

    def noise_level(self, lengths, stride):
        return np.where(lengths > stride, 1.0, 0.0)


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS` under ``metric.name`` (the one place a new metric goes)."""
    METRICS[metric.name] = metric
    return metric


register_metric(RefinementResidual())
register_metric(FirstDifference())


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown task-continuity metric {name!r} (available: {', '.join(sorted(METRICS))})")
    return METRICS[name]


# ---------------------------------------------------------------------------------------------
# Result and streaming accumulator
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskContinuity:
    """Task continuity of a set of sequences.

    Attributes:
        score: mean TC at the metric's score stride (refinement: s = 2; first_difference: lag 1).
        curve: {s: mean TC_s} for the requested strides (lags for first_difference).
        n_sequences: sequences averaged into ``score``.
        n_excluded: sequences left out of ``score``: constant ones plus those too short for it
            (refinement needs L ≥ 3, first_difference L ≥ 2).
        metric: the metric's name.
        stderr: standard error of ``score`` over sequences.
        residual: {s: mean raw residual} (refinement: r_s), so 1 − r_2 is recoverable.
        curve_counts: {s: sequences averaged into curve[s]} (a stride needs enough length).
        n_constant: sequences with zero variance (all samples equal), part of ``n_excluded``.
        normalized: whether TC divides by the i.i.d.-noise level (``1 − r/r̄``) or not (``1 − r``).
        input_kind: how the sequences were read (``continuous``, ``tokens``, ``tokens (embedded)``, ``image``).
    """

    score: float
    curve: dict[int, float]
    n_sequences: int
    n_excluded: int
    metric: str
    stderr: float = float("nan")
    residual: dict[int, float] = field(default_factory=dict)
    curve_counts: dict[int, int] = field(default_factory=dict)
    n_constant: int = 0
    normalized: bool = True
    input_kind: str = "continuous"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_strides(strides: Iterable[int]) -> tuple[int, ...]:
    out = []
    for s in strides:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 2:
            raise ValueError(f"strides must be integers >= 2, got {s!r}")
        out.append(int(s))
    if not out:
        raise ValueError("strides must not be empty")
    return tuple(dict.fromkeys(out))


class TaskContinuityAccumulator:
    """Streaming task continuity: ``update(batch)`` any number of times, then ``result()``.

    Memory is one batch plus a few float64 sums per stride; all arithmetic is float64.

    Args:
        metric: a name in :data:`METRICS`.
        strides: strides s of the curve (lags for first_difference), integers ≥ 2.
        input_kind: ``continuous`` (N, L[, d]) | ``tokens`` (N, L) integer ids | ``image`` (N, H, W[, C]).
        vocab_size: tokens only: ids must lie in [0, vocab_size) (checked when given).
        embedding: tokens only: (V, d) matrix; tokens are embedded instead of one-hot.
        normalize: TC = 1 − r/r̄ (i.i.d. noise → 0) if True, the literal 1 − r if False.
        standardize: ``channels`` (default): every channel of continuous/image input is divided by
            its standard deviation over the dataset (the within-sequence variance pooled over all
            sequences seen, see :func:`channel_weights`), so rescaling one channel does not change
            TC; ``none``: channels are summed as they are (each weighs by its variance). Single-channel
            input and tokens are unaffected. Per-channel sums are kept per sequence until
            :meth:`result` (memory: (strides + 1) × d float64 per multichannel sequence).
    """

    def __init__(
        self,
        metric: str = "refinement",
        strides: Iterable[int] = DEFAULT_STRIDES,
        *,
        input_kind: str = "continuous",
        vocab_size: int | None = None,
        embedding: np.ndarray | None = None,
        normalize: bool = True,
        standardize: str = "channels",
    ):
        self.metric = get_metric(metric)
        if standardize not in STANDARDIZE:
            raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE)}, got {standardize!r}")
        # One-hot (and embedded) tokens are categories of equal weight already: never rescaled.
        self.standardize = standardize if input_kind != "tokens" else "none"
        self.strides = _check_strides(strides)
        self.evaluated = tuple(dict.fromkeys((self.metric.score_stride, *self.strides)))
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {', '.join(INPUT_KINDS)}, got {input_kind!r}")
        self.input_kind = input_kind
        if embedding is not None:
            if input_kind != "tokens":
                raise ValueError("an embedding matrix only applies to input_kind='tokens'")
            embedding = np.asarray(embedding, dtype=np.float64)
            if embedding.ndim != 2:
                raise ValueError(f"embedding must be a (vocab_size, d) matrix, got shape {embedding.shape}")
            if vocab_size is not None and vocab_size != embedding.shape[0]:
                raise ValueError(f"vocab_size={vocab_size} but the embedding has {embedding.shape[0]} rows")
            vocab_size = embedding.shape[0]
        if vocab_size is not None and int(vocab_size) < 1:
            raise ValueError(f"vocab_size must be positive, got {vocab_size}")
        self.vocab_size = None if vocab_size is None else int(vocab_size)
        self.embedding = embedding
        self.normalize = bool(normalize)
        n = len(self.evaluated)
        self._mean_tc = np.zeros(n)
        self._m2_tc = np.zeros(n)
        self._sum_residual = np.zeros(n)
        self._work: dict[str, np.ndarray] = {}
        self._count = np.zeros(n, dtype=np.int64)
        self.n_seen = 0
        self.n_constant = 0
        self.max_length = 0  # longest sequence seen (score_dataset checks the strides against it)
        # Multichannel input under standardize="channels": per-sequence, per-channel sums kept until
        # result() (the channel weights depend on the whole dataset).
        self._deferred: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    # -- input handling --------------------------------------------------------------------------
    def _as_batch(self, batch, lengths) -> tuple[np.ndarray, np.ndarray]:
        """Validate one batch; returns (array (N, Lmax[, d]), lengths (N,) int64)."""
        if isinstance(batch, (list, tuple)):
            if lengths is not None:
                raise ValueError("pass either a list of sequences or a padded array with lengths, not both")
            batch, lengths = pad_sequences(batch)
        batch = np.asarray(batch)
        kind = self.input_kind
        if kind == "image":
            if batch.ndim not in (3, 4):
                raise ValueError(f"image input must be (N, H, W) or (N, H, W, C), got shape {batch.shape}")
            batch = batch.reshape(batch.shape[0], batch.shape[1] * batch.shape[2], -1)  # (N H*W C)
        if kind == "tokens":
            if batch.ndim != 2:
                raise ValueError(f"token input must be (N, L) integer ids, got shape {batch.shape}")
            if not np.issubdtype(batch.dtype, np.integer):
                raise ValueError(f"token input must hold integer ids, got dtype {batch.dtype}")
        elif batch.ndim not in (2, 3):
            raise ValueError(f"continuous input must be (N, L) or (N, L, d), got shape {batch.shape}")
        elif not (np.issubdtype(batch.dtype, np.floating) or np.issubdtype(batch.dtype, np.integer)):
            raise ValueError(f"continuous input must be numeric, got dtype {batch.dtype}")
        n, max_len = batch.shape[:2]
        if lengths is None:
            lengths = np.full(n, max_len, dtype=np.int64)
        else:
            lengths = np.asarray(lengths)
            if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
                raise ValueError(f"lengths must be ({n},) integers, got shape {lengths.shape} dtype {lengths.dtype}")
            if lengths.size and (lengths.min() < 0 or lengths.max() > max_len):
                raise ValueError(f"lengths must lie in [0, {max_len}] (the padded length), got {lengths.min()}..{lengths.max()}")
            lengths = lengths.astype(np.int64)
        if kind == "tokens":
            inside = np.arange(max_len) < lengths[:, None]
            ids = batch[inside]
            if ids.size and ids.min() < 0:
                raise ValueError(f"token ids must be >= 0, found {ids.min()}")
            if self.vocab_size is not None and ids.size and ids.max() >= self.vocab_size:
                raise ValueError(f"token id {ids.max()} is out of range for vocab_size={self.vocab_size}")
        return batch, lengths

    def update(self, batch, lengths: np.ndarray | None = None) -> None:
        """Add one batch: an array (N, L[, d]) (with optional (N,) ``lengths``) or a list of arrays."""
        batch, lengths = self._as_batch(batch, lengths)
        n = batch.shape[0]
        if n == 0:
            return
        if batch.shape[1] == 0:  # sequences without a single sample: nothing to measure, all excluded
            self.n_seen += n
            return
        if self.embedding is not None:
            width = self.embedding.shape[1]
        else:
            width = batch.shape[2] if batch.ndim == 3 else 1
        chunk = max(1, CHUNK_VALUES // max(1, batch.shape[1] * width))
        per_channel = self.standardize == "channels" and width > 1 and self.input_kind != "tokens"
        k = width if per_channel else 1
        centered_sq = np.empty((n, k))  # (n k): k = d channels kept apart, or 1 (summed)
        numerators = np.empty((len(self.evaluated), n, k))  # (S n k)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            # Overflow of huge values is not warned about: _chunk_sums checks its sums and says so.
            with np.errstate(over="ignore", invalid="ignore"):
                c, num = self._chunk_sums(batch[lo:hi], lengths[lo:hi], self.n_seen + lo)  # (n' d), (S n' d)
            centered_sq[lo:hi] = c if per_channel else c.sum(-1, keepdims=True)
            numerators[:, lo:hi] = num if per_channel else num.sum(-1, keepdims=True)
        if per_channel:
            self._deferred.append((centered_sq, numerators, lengths))
        else:
            self._accumulate(centered_sq[:, 0], numerators[:, :, 0], lengths)
        self.n_seen += n
        self.max_length = max(self.max_length, int(lengths.max()))

    def _chunk_sums(self, batch: np.ndarray, lengths: np.ndarray, first_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Per sequence and channel: ‖x_c − mean‖² (n, d) and the metric's numerator at every
        evaluated stride (S, n, d) (one-hot tokens: d = 1, the sums over the vocabulary)."""
        metric = self.metric
        n = batch.shape[0]
        if self.input_kind == "tokens" and self.embedding is None:
            tokens = np.where(np.arange(batch.shape[1]) < lengths[:, None], batch, -1).astype(np.int64)  # (n L)
            centered_sq = onehot_centered_sq(tokens, lengths)
            numerators = np.stack([metric.onehot_numerator(tokens, lengths, s) for s in self.evaluated])  # (S n)
            return centered_sq[:, None], numerators[:, :, None]
        if self.embedding is not None:
            batch = self.embedding[np.where(np.arange(batch.shape[1]) < lengths[:, None], batch, 0)]  # (n L d)
        rows, row_lengths = continuous_rows(batch, lengths, self._work)  # (n*d L)
        width = rows.shape[0] // n
        sum_sq = np.einsum("rl,rl->r", rows, rows)
        total = rows.sum(1)
        # ‖x − mean‖² per channel from the first-sample-shifted values, then summed over channels.
        per_channel = np.maximum(sum_sq - total * total / np.maximum(row_lengths, 1), 0.0).reshape(n, width)  # (n d)
        if not np.all(np.isfinite(per_channel)):
            raise _non_finite_error(batch, lengths, per_channel, first_index)
        # A non-constant channel has a positive centered sum; a value lost in rounding (huge offset,
        # tiny spread) is recomputed with the two-pass formula. Constant rows are exactly 0 here.
        sum_sq = sum_sq.reshape(n, width)
        constant = sum_sq == 0  # (n d)
        suspicious = ((~constant) & (per_channel <= 1e-12 * sum_sq)).any(1)  # (n,)
        if np.any(suspicious):
            per_channel[suspicious] = _two_pass_centered_sq(rows, row_lengths, n, width, suspicious)
        per_channel[constant] = 0.0
        numerators = np.stack(
            [metric.continuous_numerator(rows, row_lengths, s, self._work).reshape(n, width) for s in self.evaluated]
        )  # (S n d)
        if not np.all(np.isfinite(numerators)):  # finite values whose residuals overflow
            raise _non_finite_error(batch, lengths, numerators.transpose(1, 0, 2).reshape(n, -1), first_index)
        return per_channel, numerators

    def _accumulate(self, centered_sq: np.ndarray, numerators: np.ndarray, lengths: np.ndarray) -> None:
        """Fold one batch's per-sequence TC into the running count, mean and sum of squared deviations."""
        metric = self.metric
        self.n_constant += int(((centered_sq <= 0) & (lengths > 0)).sum())
        for i, s in enumerate(self.evaluated):
            level = metric.noise_level(lengths, s)
            ok = (centered_sq > 0) & (level > 0)
            if not ok.any():
                continue
            residual = metric.ratio(numerators[i, ok], centered_sq[ok], lengths[ok], s)
            tc = 1.0 - (residual / level[ok] if self.normalize else residual)
            # Chan et al.'s merge of (count, mean, M2): stable where every TC is close to 1.
            n_b, mean_b = tc.size, tc.mean()
            m2_b = np.sum((tc - mean_b) ** 2)
            n_a, mean_a = self._count[i], self._mean_tc[i]
            n_ab = n_a + n_b
            delta = mean_b - mean_a
            self._mean_tc[i] = mean_a + delta * n_b / n_ab
            self._m2_tc[i] += m2_b + delta * delta * n_a * n_b / n_ab
            self._sum_residual[i] += residual.sum()
            self._count[i] = n_ab

    def result(self) -> TaskContinuity:
        """The averages over every sequence seen so far (NaN where no sequence qualified)."""
        if self._deferred:  # multichannel, standardized: weigh the channels now that the dataset is known
            weights = channel_weights([c for c, _, _ in self._deferred], [ln for _, _, ln in self._deferred])
            for centered_sq, numerators, lengths in self._deferred:
                self._accumulate(centered_sq @ weights, numerators @ weights, lengths)  # (n,), (S n)
            self._deferred = []
        count = self._count.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_tc = np.where(count > 0, self._mean_tc, np.nan)
            mean_residual = self._sum_residual / count
            stderr = np.sqrt(self._m2_tc / np.maximum(count - 1, 1) / count)
        index = {s: i for i, s in enumerate(self.evaluated)}
        score_i = index[self.metric.score_stride]
        return TaskContinuity(
            score=float(mean_tc[score_i]),
            curve={s: float(mean_tc[index[s]]) for s in self.strides},
            n_sequences=int(self._count[score_i]),
            n_excluded=int(self.n_seen - self._count[score_i]),
            metric=self.metric.name,
            stderr=float(stderr[score_i]) if self._count[score_i] > 1 else float("nan"),
            residual={s: float(mean_residual[index[s]]) for s in self.evaluated},
            curve_counts={s: int(self._count[index[s]]) for s in self.strides},
            n_constant=self.n_constant,
            normalized=self.normalize,
            input_kind=self.input_kind + (" (embedded)" if self.embedding is not None else ""),
        )


def _non_finite_error(batch: np.ndarray, lengths: np.ndarray, sums: np.ndarray, first_index: int) -> ValueError:
    """The error for the first sequence whose per-sequence ``sums`` (n, k) are not finite: NaN or
    infinite input values, or finite values so large that their squares overflow float64."""
    i = int(np.flatnonzero(~np.isfinite(sums).all(1))[0])
    values = np.asarray(batch[i, : lengths[i]], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return ValueError(f"sequence {first_index + i} contains NaN or infinite values")
    return ValueError(f"sequence {first_index + i} has values too large to score (largest magnitude "
                      f"{np.abs(values).max():.3g}; sums of their squares overflow float64): rescale the data")


def channel_weights(centered_sq: Sequence[np.ndarray], lengths: Sequence[np.ndarray]) -> np.ndarray:
    """Weights w_c = 1 / σ_c² that standardize channel c over a dataset.

    σ_c² = Σ_i ‖x_ic − mean_t(x_ic)‖² / Σ_i (L_i − 1): the within-sequence variance of channel c
    pooled over all sequences i (the quantity the TC denominator sums). Dividing channel c by σ_c
    is the same as weighting its squared norms by w_c, so r_s = Σ_c w_c‖x_c − I_s x_c‖² /
    Σ_c w_c‖x_c − mean x_c‖². A channel that is constant in every sequence gets weight 0. The
    weights are rescaled to mean 1 (r_s does not depend on their overall scale).

    Args:
        centered_sq: per batch, (n, d) centered squared norms per sequence and channel.
        lengths: per batch, (n,) true sequence lengths.
    Returns:
        (d,) float64 weights.
    """
    total = sum(c.sum(0) for c in centered_sq)  # (d,)
    dof = float(sum(np.maximum(ln - 1, 0).sum() for ln in lengths))
    variance = total / max(dof, 1.0)
    weights = np.zeros_like(variance)
    positive = variance > 0
    weights[positive] = 1.0 / variance[positive]
    return weights / weights[positive].mean() if positive.any() else weights


def continuous_rows(batch: np.ndarray, lengths: np.ndarray, work: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) or (N, L, d) values -> float64 rows (N*d, L), one per (sequence, channel).

    Each row is shifted by its first sample (exact zeros for a constant row; better conditioning for
    large offsets; r_s does not change because interpolation reproduces constants) and set to 0
    beyond its sequence's length (the kernels rely on that padding being exactly constant).

    Returns:
        rows (N*d, L) float64, row_lengths (N*d,) int64.
    """
    if batch.ndim == 2:
        batch = batch[:, :, None]
    n, max_len, width = batch.shape
    rows = scratch(work, "rows", (n, width, max_len))  # (N d L)
    if max_len:
        # One pass: cast and shift. (An in-place rows -= rows[:, :1] overlaps itself, and numpy then
        # buffers the whole operation, about 10x slower.)
        first = batch[:, 0, :].astype(np.float64)  # (N d)
        np.subtract(batch.transpose(0, 2, 1), first[:, :, None], out=rows)
    rows = rows.reshape(n * width, max_len)
    row_lengths = np.repeat(lengths, width)
    if np.any(row_lengths != max_len):
        rows *= np.arange(max_len) < row_lengths[:, None]
    return rows, row_lengths


def _two_pass_centered_sq(rows, row_lengths, n, width, which) -> np.ndarray:
    r = rows.reshape(n, width, -1)[which]  # (n' d L)
    length = row_lengths.reshape(n, width)[which]  # (n' d)
    inside = np.arange(rows.shape[1]) < length[..., None]
    mean = r.sum(-1) / np.maximum(length, 1)
    centered = (r - mean[..., None]) * inside
    return np.einsum("ndl,ndl->nd", centered, centered)  # (n' d)


def pad_sequences(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list of (L_i,) or (L_i, d) arrays -> zero-padded (N, max L_i[, d]) array and (N,) lengths."""
    arrays = [np.asarray(s) for s in sequences]
    if not arrays:
        return np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
    tails = {a.shape[1:] for a in arrays}
    if len(tails) > 1 or any(a.ndim not in (1, 2) for a in arrays):
        raise ValueError(f"sequences must all be (L_i,) or all (L_i, d) with the same d, got shapes {sorted(tails)}")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    out = np.zeros((len(arrays), int(lengths.max()), *arrays[0].shape[1:]), dtype=np.result_type(*arrays))
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


# ---------------------------------------------------------------------------------------------
# One-shot and dataset APIs
# ---------------------------------------------------------------------------------------------
def task_continuity(
    x,
    *,
    metric: str = "refinement",
    strides: Iterable[int] = DEFAULT_STRIDES,
    lengths: np.ndarray | None = None,
    input_kind: str = "continuous",
    vocab_size: int | None = None,
    embedding: np.ndarray | None = None,
    normalize: bool = True,
    batch_size: int = 4096,
    standardize: str = "channels",
) -> TaskContinuity:
    """Task continuity of sequences held in memory (or in a memory-mapped array).

    Args:
        x: (N, L) or (N, L, d) values, (N, L) token ids, (N, H, W[, C]) images, or a list of
            (L_i[, d]) arrays of different lengths.
        metric, strides, input_kind, vocab_size, embedding, normalize, standardize: see
            :class:`TaskContinuityAccumulator`.
        lengths: (N,) true lengths of a padded ``x`` (values past a length are ignored).
        batch_size: sequences per update (bounds memory for memory-mapped ``x``).
    Returns:
        :class:`TaskContinuity`.
    """
    acc = TaskContinuityAccumulator(
        metric, strides, input_kind=input_kind, vocab_size=vocab_size, embedding=embedding, normalize=normalize,
        standardize=standardize,
    )
    if isinstance(x, (list, tuple)):
        if lengths is not None:
            raise ValueError("pass either a list of sequences or a padded array with lengths, not both")
        for lo in range(0, len(x), batch_size):
            acc.update(list(x[lo : lo + batch_size]))
        return acc.result()
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"expected sequences (N, L[, d]), got an array of shape {x.shape}")
    n = len(x)
    if lengths is not None and np.shape(lengths) != (n,):
        raise ValueError(f"lengths must be ({n},) integers, got shape {np.shape(lengths)}")
    for lo in range(0, n, batch_size):
        acc.update(x[lo : lo + batch_size], None if lengths is None else np.asarray(lengths)[lo : lo + batch_size])
    return acc.result()


def open_array(path: str | Path, key: str = "x") -> np.ndarray:
    """A user's array from ``.npy`` (memory-mapped) or ``.npz`` (member ``key``; memory-mapped when
    stored uncompressed, as :func:`contlaws.io.save_npz` and ``np.savez`` do).

    Raises:
        DataFileError naming the file (and the key) if it is missing, unreadable or lacks ``key``.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            with open(path, "rb") as f:
                _read_npy_header(f, path)
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            return _open_npz_member(path, key)
    except DataFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataFileError(f"{path}: cannot read array ({type(err).__name__}: {err})") from None
    raise DataFileError(f"{path}: unsupported file type {suffix!r} (expected .npy or .npz)")


def _read_npy_header(f, path: Path, key: str | None = None) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from the .npy header at the position of ``f`` (a .npy file, or
    member ``key`` of an .npz); DataFileError naming ``path`` (and ``key``) if there is no valid
    header or the array holds Python objects (which are never loaded)."""
    what = "not a valid .npy file" if key is None else f"array {key!r} is not a valid .npy array"
    try:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    except (ValueError, EOFError) as err:
        raise DataFileError(f"{path}: {what} (no readable NumPy header: {err}); "
                            "write arrays with numpy.save or numpy.savez") from None
    if dtype.hasobject:
        holder = "the array" if key is None else f"array {key!r}"
        raise DataFileError(f"{path}: {holder} holds Python objects (dtype {dtype}); only numeric arrays are supported")
    return shape, fortran, dtype


def npz_keys(path: Path) -> list[str]:
    """Names of the arrays in an .npz; DataFileError naming the file if it is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DataFileError(f"{path}: not a readable .npz archive (empty, truncated or corrupt? {type(err).__name__}: {err})") from None


def _open_npz_member(path: Path, key: str) -> np.ndarray:
    keys = npz_keys(path)
    if key not in keys:
        shown = ", ".join(k for k in keys if k != "__meta__") or "none"
        raise DataFileError(f"{path}: no array named {key!r} (arrays in the file: {shown}); choose one with --key")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(key + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            with zf.open(info) as f:
                _read_npy_header(f, path, key)
            with zf.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise DataFileError(f"{path}: corrupt zip entry for {key!r}")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        shape, fortran, dtype = _read_npy_header(f, path, key)
        offset = f.tell()
    if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise DataFileError(f"{path}: array {key!r} of shape {shape} runs past the end of the file (truncated?)")
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _is_contlaws_dataset(path: Path) -> bool:
    return path.suffix.lower() == ".npz" and path.is_file() and "__meta__" in npz_keys(path)


def split_side_by_side(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding k padded sequences side by side (lengths (N, k), e.g. the AAN document pairs)
    -> (N·k, L/k[, d]) sequences and (N·k,) lengths. (N,) lengths pass through unchanged."""
    if lengths.ndim == 1:
        return x, lengths
    n, k = lengths.shape
    if x.shape[1] % k:
        raise ValueError(f"lengths of shape {lengths.shape} split rows of length {x.shape[1]} into {k} equal parts, which is impossible")
    return x.reshape(n * k, x.shape[1] // k, *x.shape[2:]), lengths.reshape(n * k)


def _to_numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def score_dataset(
    path_or_dataset,
    *,
    metric: str = "refinement",
    strides: Iterable[int] = DEFAULT_STRIDES,
    key: str = "x",
    lengths_key: str | None = "lengths",
    input_kind: str | None = None,
    vocab_size: int | None = None,
    embedding: np.ndarray | None = None,
    normalize: bool = True,
    max_sequences: int = 0,
    batch_size: int = 1024,
    progress: bool = False,
    standardize: str = "channels",
    check_strides: bool = False,
) -> TaskContinuity:
    """Task continuity of a dataset, streamed in batches (memory: one batch).

    Args:
        path_or_dataset: a contlaws dataset file (read with :func:`contlaws.data.sets.load_split`),
            a user's ``.npy`` (memory-mapped) or ``.npz``, an object with ``get_batch(idx) -> (x, y)``
            and ``len()`` (a :class:`contlaws.data.sets.SequenceDataset`), or an array.
        key: the array inside a user's ``.npz``.
        lengths_key: true lengths stored next to the inputs in an ``.npz`` (a contlaws benchmark file
            or a user's), used when present; (N,) or (N, k) for k sequences side by side. None: never.
        input_kind: None = the dataset's own ``input_kind``, else ``continuous``.
        max_sequences: score only the first N rows (0 = all).
        batch_size: rows read per batch.
        progress: show a progress bar on stderr.
        check_strides: refuse (ValueError) a stride not below the longest sequence length instead of
            scoring it (see :func:`check_strides_fit`); the CLI sets it.
        metric, strides, vocab_size, embedding, normalize, standardize: see :class:`TaskContinuityAccumulator`.
    Returns:
        :class:`TaskContinuity`.
    Raises:
        DataFileError naming the file (and key) for a missing or unreadable file; ValueError for
        unusable contents.
    """
    if max_sequences < 0:
        raise ValueError(f"max_sequences must be >= 0, got {max_sequences}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    source, lengths, kind, vocab = _resolve_source(path_or_dataset, key, lengths_key)
    input_kind = input_kind or kind or "continuous"
    if vocab_size is None and input_kind == "tokens" and embedding is None:
        vocab_size = vocab
    acc = TaskContinuityAccumulator(
        metric, strides, input_kind=input_kind, vocab_size=vocab_size, embedding=embedding, normalize=normalize,
        standardize=standardize,
    )
    total = len(source)
    limit = total if max_sequences == 0 else min(total, max_sequences)
    read = (lambda idx: _to_numpy(source.get_batch(idx)[0])) if hasattr(source, "get_batch") else (lambda idx: np.asarray(source[idx[0] : idx[-1] + 1]))
    with tqdm(total=limit, disable=not progress, unit="seq", desc="task continuity", leave=False) as bar:
        for lo in range(0, limit, batch_size):
            idx = np.arange(lo, min(lo + batch_size, limit))
            x = read(idx)
            if lengths is None:
                acc.update(x)
            else:
                acc.update(*split_side_by_side(x, np.asarray(lengths[idx])))
            bar.update(len(idx))
    if total == 0:
        raise ValueError(f"no sequences to score (array of shape {tuple(np.shape(source))})" if hasattr(source, "shape")
                         else "no sequences to score (the dataset is empty)")
    if check_strides:
        check_strides_fit(acc.strides, acc.max_length, acc.metric)
    return acc.result()


def check_strides_fit(strides: Iterable[int], max_length: int, metric: Metric) -> None:
    """ValueError unless every stride is below the longest sequence length L.

    Why: refinement keeps samples 0, s, 2s, … and the last, so every s ≥ L − 1 keeps only the first
    and last sample and gives the same TC (a curve of repeated values, not a measurement);
    first_difference has no pair at a lag ≥ L.
    """
    unit = "lag" if metric.name == "first_difference" else "stride"
    if max_length == 0:
        raise ValueError("every sequence is empty (length 0); nothing to score")
    too_long = [s for s in strides if s >= max_length]
    if too_long:
        why = ("no pair of samples is that far apart" if unit == "lag"
               else f"every stride >= L - 1 = {max_length - 1} keeps only the first and last sample and gives the same TC")
        named = f"{unit} {too_long[0]} is" if len(too_long) == 1 else f"{unit}s {', '.join(map(str, too_long))} are"
        raise ValueError(f"{named} not below the sequence length L = {max_length} (the longest sequence): {why}; "
                         f"use {unit}s below {max_length}")


def _read_lengths(path: Path, lengths_key: str | None, n: int) -> np.ndarray | None:
    if not lengths_key or lengths_key not in npz_keys(path):
        return None
    lengths = np.asarray(open_array(path, lengths_key))
    if lengths.ndim not in (1, 2) or len(lengths) != n or not np.issubdtype(lengths.dtype, np.integer):
        raise DataFileError(f"{path}: array {lengths_key!r} of shape {lengths.shape} is not ({n},) or ({n}, k) integer lengths")
    return lengths


def _resolve_source(path_or_dataset, key: str, lengths_key: str | None):
    """-> (indexable source, lengths or None, input kind or None, vocabulary size or None)."""
    obj = path_or_dataset
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if _is_contlaws_dataset(path):
            from contlaws.data.sets import load_split  # imports torch; only needed for contlaws files

            dataset = load_split(path)
            return dataset, _read_lengths(path, lengths_key, len(dataset)), dataset.input_kind, _vocab(dataset)
        array = open_array(path, key)
        if array.ndim < 2:
            raise DataFileError(f"{path}: array {key!r} has shape {array.shape}, expected (N, L[, d]) sequences")
        lengths = _read_lengths(path, lengths_key, len(array)) if path.suffix.lower() == ".npz" and lengths_key != key else None
        return array, lengths, None, None
    if hasattr(obj, "get_batch"):
        return obj, getattr(obj, "lengths", None), getattr(obj, "input_kind", None), _vocab(obj)
    return np.asarray(obj), None, None, None


def _vocab(dataset) -> int | None:
    """Vocabulary size of a token dataset (contlaws datasets store it as ``d_input``)."""
    if getattr(dataset, "input_kind", None) != "tokens":
        return None
    return getattr(dataset, "vocab_size", None) or getattr(dataset, "d_input", None)
