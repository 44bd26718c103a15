"""Per-chunk kernels of the task-continuity numerators: squared interpolation residuals and lagged
differences of continuous rows, and their one-hot closed forms for token rows (never materialized)."""

from __future__ import annotations

import math

import numpy as np


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
