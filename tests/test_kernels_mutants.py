"""Numerical kernels checked against what they promise beyond their values: the S4D kernel's pieces
stay within their element budget, and task continuity's standard error is the sample standard
error of the per-sequence scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from contlaws.models import s4d as s4d_module
from contlaws.task_continuity.scoring import task_continuity


# ---------------------------------------------------------------------------------------------
# S4D kernel in pieces
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_grad", [False, True])
def test_s4d_kernel_pieces_stay_within_the_element_budget(monkeypatch, with_grad):
    # Guards against: pieces sized by H alone (M times the budget), which values and gradients cannot show.
    H, M, L, budget = 3, 2, 50, 36  # H·M = 6: pieces of 6 steps, the last one 2
    g = torch.Generator().manual_seed(0)
    log_A_bar = torch.complex(-0.1 * torch.rand(H, M, generator=g, dtype=torch.float64),
                              torch.rand(H, M, generator=g, dtype=torch.float64))  # fmt: skip
    B_bar = torch.randn(H, M, generator=g, dtype=torch.complex128)
    C = torch.randn(H, M, generator=g, dtype=torch.complex128).requires_grad_(with_grad)
    reference = s4d_module.vandermonde_kernel(log_A_bar, C.detach() * B_bar, 0, L)

    pieces = []
    original = s4d_module.vandermonde_kernel

    def recording_kernel(log_A, W, start, stop):
        pieces.append((log_A.shape[0] * log_A.shape[1], start, stop))  # (H·M, start, stop)
        return original(log_A, W, start, stop)

    monkeypatch.setattr(s4d_module, "vandermonde_kernel", recording_kernel)
    with torch.set_grad_enabled(with_grad):
        K = s4d_module.s4d_kernel(log_A_bar, B_bar, C, L, chunk_elements=budget)
    if with_grad:
        K.sum().backward()  # recomputes every piece
    torch.testing.assert_close(K.detach(), reference)
    assert pieces and all(hm * (stop - start) <= budget for hm, start, stop in pieces), pieces
    forward = pieces[: len(pieces) // 2] if with_grad else pieces
    assert [(start, stop) for _, start, stop in forward] == [(s, min(s + 6, L)) for s in range(0, L, 6)]


# ---------------------------------------------------------------------------------------------
# Task continuity's standard error
# ---------------------------------------------------------------------------------------------
def test_task_continuity_stderr_is_the_sample_standard_error_of_per_sequence_scores():
    # Guards against: the standard error computed with the population std (ddof 0) instead of ddof 1.
    rng = np.random.default_rng(3)
    t = np.linspace(0, 4 * np.pi, 64)
    x = np.stack([np.sin((1 + 0.3 * i) * t) + s * rng.standard_normal(t.size)
                  for i, s in enumerate((0.05, 0.3, 0.1, 0.6, 0.2))])  # (5, 64): five sequences of different smoothness
    per_sequence = np.array([task_continuity(x[i : i + 1]).score for i in range(len(x))])
    res = task_continuity(x, batch_size=2)  # several batches: the streamed merge is used
    assert res.n_sequences == 5 and np.ptp(per_sequence) > 0.05
    assert res.score == pytest.approx(per_sequence.mean(), rel=1e-9)
    assert res.stderr == pytest.approx(scipy.stats.sem(per_sequence), rel=1e-9)
