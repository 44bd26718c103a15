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

Modules: :mod:`.noise` (closed forms of the noise level), :mod:`.kernels` (per-chunk numerators),
:mod:`.metrics` (the metric classes and their registry), :mod:`.accumulator` (the streaming
accumulator and its result), :mod:`.arrays` (reading .npy/.npz, memory-mapped) and
:mod:`.scoring` (the function API). Every public name is importable from this package.
"""

from __future__ import annotations

from contlaws.task_continuity.accumulator import (
    CHUNK_VALUES,
    DEFAULT_STRIDES,
    INPUT_KINDS,
    STANDARDIZE,
    TaskContinuity,
    TaskContinuityAccumulator,
    channel_weights,
    continuous_rows,
    pad_sequences,
)
from contlaws.task_continuity.arrays import npz_keys, open_array
from contlaws.task_continuity.kernels import (
    interpolation_residual_sq,
    lagged_difference_sq,
    onehot_centered_sq,
    onehot_interpolation_residual_sq,
    onehot_lagged_difference_sq,
    scratch,
)
from contlaws.task_continuity.metrics import (
    METRICS,
    FirstDifference,
    Metric,
    RefinementResidual,
    get_metric,
    register_metric,
)
from contlaws.task_continuity.noise import refinement_noise_level, segment_noise_trace
from contlaws.task_continuity.scoring import check_strides_fit, score_dataset, split_side_by_side, task_continuity

__all__ = [
    "CHUNK_VALUES",
    "DEFAULT_STRIDES",
    "INPUT_KINDS",
    "METRICS",
    "STANDARDIZE",
    "FirstDifference",
    "Metric",
    "RefinementResidual",
    "TaskContinuity",
    "TaskContinuityAccumulator",
    "channel_weights",
    "check_strides_fit",
    "continuous_rows",
    "get_metric",
    "interpolation_residual_sq",
    "lagged_difference_sq",
    "npz_keys",
    "onehot_centered_sq",
    "onehot_interpolation_residual_sq",
    "onehot_lagged_difference_sq",
    "open_array",
    "pad_sequences",
    "refinement_noise_level",
    "register_metric",
    "score_dataset",
    "scratch",
    "segment_noise_trace",
    "split_side_by_side",
    "task_continuity",
]
