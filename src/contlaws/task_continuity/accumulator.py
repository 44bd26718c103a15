"""The result record :class:`TaskContinuity` and the streaming :class:`TaskContinuityAccumulator`
(one batch in memory, float64 sums per stride), with the row preparation it uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from contlaws.config import schema_default
from contlaws.task_continuity.kernels import onehot_centered_sq, scratch
from contlaws.task_continuity.metrics import get_metric

INPUT_KINDS = ("continuous", "tokens", "image")
STANDARDIZE = ("channels", "none")  # channel scaling before scoring (see TaskContinuityAccumulator)
# Values (rows × time) processed per inner chunk: small enough that the float64 working copy and
# its temporaries stay in cache, large enough that numpy's per-call overhead is small (measured
# best at 2^17–2^18 on a 1 MiB-L2 core).
CHUNK_VALUES = 1 << 17
# The API default of the curve's strides: the schema's task_continuity.strides (the value lives there).
DEFAULT_STRIDES = schema_default("task_continuity.strides")


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
        self._deferred: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

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
        exponents = np.zeros((n, k), dtype=np.int64)  # (n k): the sums are of the values times 2^-e
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            # Overflow of huge values is not warned about: _chunk_sums checks its sums and says so.
            with np.errstate(over="ignore", invalid="ignore"):
                c, num, e = self._chunk_sums(batch[lo:hi], lengths[lo:hi], self.n_seen + lo, per_channel)  # (n' d) ×3
            centered_sq[lo:hi] = c if per_channel else c.sum(-1, keepdims=True)
            numerators[:, lo:hi] = num if per_channel else num.sum(-1, keepdims=True)
            exponents[lo:hi] = e if per_channel else e[:, :1]  # summed: one exponent per sequence
        if per_channel:
            self._deferred.append((centered_sq, numerators, lengths, exponents))
        else:
            self._accumulate(centered_sq[:, 0], numerators[:, :, 0], lengths)
        self.n_seen += n
        self.max_length = max(self.max_length, int(lengths.max()))

    def _chunk_sums(self, batch: np.ndarray, lengths: np.ndarray, first_index: int,
                    per_channel: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Per sequence and channel: ‖x_c − mean‖² (n, d), the metric's numerator at every evaluated
        stride (S, n, d) (one-hot tokens: d = 1, the sums over the vocabulary), and the exponents e
        (n, d) int: the sums are those of the values times 2^-e (see :func:`rescale_tiny_rows`; one
        e per sequence unless ``per_channel``)."""
        metric = self.metric
        n = batch.shape[0]
        if self.input_kind == "tokens" and self.embedding is None:
            tokens = np.where(np.arange(batch.shape[1]) < lengths[:, None], batch, -1).astype(np.int64)  # (n L)
            centered_sq = onehot_centered_sq(tokens, lengths)
            numerators = np.stack([metric.onehot_numerator(tokens, lengths, s) for s in self.evaluated])  # (S n)
            return centered_sq[:, None], numerators[:, :, None], np.zeros((n, 1), dtype=np.int64)
        if self.embedding is not None:
            batch = self.embedding[np.where(np.arange(batch.shape[1]) < lengths[:, None], batch, 0)]  # (n L d)
        rows, row_lengths = continuous_rows(batch, lengths, self._work)  # (n*d L)
        width = rows.shape[0] // n
        exponents = rescale_tiny_rows(rows, n, width, per_channel)  # (n d)
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
        return per_channel, numerators, exponents

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
            top = channel_top_exponents(self._deferred)  # (d,)
            pooled = [np.ldexp(c, 2 * (e - top)) for c, _, _, e in self._deferred]  # (n d) each, one scale per channel
            weights = channel_weights(pooled, [ln for _, _, ln, _ in self._deferred])
            for centered_sq, numerators, lengths, exponents in self._deferred:
                shift = sequence_shifts(centered_sq, exponents, top, weights)  # (n d)
                self._accumulate(np.ldexp(centered_sq, shift) @ weights, np.ldexp(numerators, shift[None]) @ weights,
                                 lengths)  # (n,), (S n)  # fmt: skip
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


# Rows whose largest |value| is below 2^-TINY_EXPONENT are rescaled by a power of two before their
# squares are summed: squares of values near 1e-160 underflow float64 (1e-320 is subnormal, 1e-400
# is 0), which made tiny but non-constant data look constant or drop a channel. 2^-200 ≈ 6e-61
# keeps every square of an unscaled row far above the subnormal range.
TINY_EXPONENT = 200


def rescale_tiny_rows(rows: np.ndarray, n: int, width: int, per_channel: bool) -> np.ndarray:
    """Multiply tiny rows (n*d, L) in place by 2^-e so their largest |value| lies in [0.5, 1); return e (n, d).

    A power of two is exact (no rounding for normal numbers), and every ratio the metrics form
    (numerator over centered sum, both quadratic) is unchanged by it. With ``per_channel`` False the
    channels of a sequence share one e (their sums are added), else each row has its own. Rows of
    ordinary size get e = 0, so their sums are bit-for-bit those of the unscaled values; constant
    rows (all 0 after the first-sample shift) stay exactly 0.
    """
    # max |x| as max(max x, −min x): two reductions, no temporary copy of the chunk
    peak = np.maximum(rows.max(axis=1), -rows.min(axis=1)).reshape(n, width) if rows.shape[1] else np.zeros((n, width))  # (n d)
    exponent = np.frexp(peak)[1].astype(np.int64)  # peak = m·2^e, m in [0.5, 1); 0 for a zero row
    if not per_channel:
        exponent = np.repeat(exponent.max(axis=1, keepdims=True), width, axis=1)  # (n d): one per sequence
    tiny = (peak.max(axis=1, keepdims=True) > 0) & (exponent < -TINY_EXPONENT)  # (n d)
    exponent = np.where(tiny, exponent, 0)
    if tiny.any():
        rows[tiny.reshape(-1)] = np.ldexp(rows[tiny.reshape(-1)], -exponent.reshape(-1)[tiny.reshape(-1), None])
    return exponent


def channel_top_exponents(deferred) -> np.ndarray:
    """E_c (d,): the largest exponent of channel c over the sequences where it varies (0 where it never does).

    Sums kept at scale 2^-e_ic (:func:`rescale_tiny_rows`) are brought to one scale per channel by
    4^(e_ic − E_c) before the channel weights pool them: a sequence far below the largest in its
    channel then adds as little to the pooled variance as it would unscaled.
    """
    floor = np.iinfo(np.int64).min
    top = np.max(np.stack([np.where(c > 0, e, floor).max(axis=0) for c, _, _, e in deferred]), axis=0)  # (d,)
    return np.where(top == floor, 0, top)


def sequence_shifts(centered_sq: np.ndarray, exponents: np.ndarray, top: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Exponents (n, d) that bring the channels of each sequence to one common scale for its ratio.

    r_i = Σ_c w_c·num_ic / Σ_c w_c·den_ic with the true sums num_ic = 4^(e_ic − E_c)·num'_ic (in the
    channel's pooled scale, which the weights w_c refer to). A common factor of a sequence cancels in
    its ratio, so each sequence is scaled by the largest of its 4^(e_ic − E_c) over the channels that
    count (varying here, nonzero weight): a tiny sequence keeps its own TC instead of underflowing.
    Entries that do not count keep shift 0 (they add 0: a constant row, or weight 0).
    """
    counts = (centered_sq > 0) & (weights > 0)  # (n d)
    g = 2 * (exponents - top)  # (n d)
    floor = np.iinfo(np.int64).min
    peak = np.where(counts, g, floor).max(axis=1, keepdims=True)  # (n 1)
    peak = np.where(peak == floor, 0, peak)  # a sequence where nothing counts (constant): no shift
    return np.where(counts, g - peak, 0)


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
