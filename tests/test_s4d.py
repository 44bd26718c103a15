"""S4D: kernel, discretizations and refinement behaviour against independent references (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from contlaws.models.s4d import (
    S4D,
    causal_fft_conv,
    discretize_bilinear,
    discretize_zoh,
    equalize_channel_norm,
    s4d_kernel,
)

DISCRETIZE = {"zoh": discretize_zoh, "bilinear": discretize_bilinear}


def random_system(H=3, M=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.complex(
        -torch.rand(H, M, generator=g, dtype=torch.float64) - 0.1,
        4 * torch.randn(H, M, generator=g, dtype=torch.float64),
    )
    C = torch.complex(
        torch.randn(H, M, generator=g, dtype=torch.float64), torch.randn(H, M, generator=g, dtype=torch.float64)
    )
    dt = 0.01 + 0.2 * torch.rand(H, generator=g, dtype=torch.float64)
    return A, C, dt


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_fft_convolution_equals_diagonal_recurrence(method):
    A, C, dt = random_system()
    L = 37
    u = torch.randn(2, 3, L, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    log_A_bar, B_bar = DISCRETIZE[method](A, dt)
    y = causal_fft_conv(u, s4d_kernel(log_A_bar, B_bar, C, L))

    # h_l = Ā h_{l-1} + B̄ u_l, y_l = 2 Re Σ_m C_m h_l, with Ā written out directly
    dtA = A * dt[:, None]
    A_bar = torch.exp(dtA) if method == "zoh" else (1 + dtA / 2) / (1 - dtA / 2)
    h = torch.zeros(2, 3, A.shape[1], dtype=torch.complex128)
    ref = []
    for l in range(L):
        h = A_bar * h + B_bar * u[:, :, l, None]
        ref.append(2 * (C * h).sum(-1).real)
    torch.testing.assert_close(y, torch.stack(ref, -1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("chunk_elements", [6, 7, 36])  # pieces of 1, 1 and 6 steps (H·M = 6); the last piece short
def test_kernel_in_pieces_equals_one_shot_values_and_gradients(method, chunk_elements):
    A, C, dt = random_system(H=3, M=2, seed=3)
    L = 41
    leaves = [t.clone().requires_grad_(True) for t in (A, C, dt)]
    weights = torch.randn(3, L, dtype=torch.float64, generator=torch.Generator().manual_seed(4))

    def kernel_and_grads(chunk):
        A_, C_, dt_ = leaves
        log_A_bar, B_bar = DISCRETIZE[method](A_, dt_)
        K = s4d_kernel(log_A_bar, B_bar, C_, L, chunk_elements=chunk)
        grads = torch.autograd.grad((K * weights).sum(), leaves)
        return K.detach(), grads

    K_ref, grads_ref = kernel_and_grads(3 * 2 * L)  # one shot
    K, grads = kernel_and_grads(chunk_elements)
    torch.testing.assert_close(K, K_ref, rtol=1e-12, atol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # the evaluation path (pieces, no recomputation) gives the same kernel
        log_A_bar, B_bar = DISCRETIZE[method](A, dt)
        torch.testing.assert_close(s4d_kernel(log_A_bar, B_bar, C, L, chunk_elements=chunk_elements), K_ref)


def test_kernel_in_pieces_stores_no_vandermonde_tensor_for_backward():
    """The reason for the pieces: autograd keeps no (H, M, L) tensor, only the (H, M) inputs."""
    A, C, dt = random_system(H=4, M=8, seed=5)
    A.requires_grad_(True)
    L = 512

    def largest_saved(chunk):
        sizes = []

        def pack(t):
            sizes.append(t.numel())
            return t

        log_A_bar, B_bar = discretize_zoh(A, dt)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            s4d_kernel(log_A_bar, B_bar, C, L, chunk_elements=chunk)
        return max(sizes)

    assert largest_saved(4 * 8 * L) >= 4 * 8 * L  # one shot: the Vandermonde matrix is saved
    assert largest_saved(4 * 8 * 64) <= 4 * 8 * 2  # pieces: the (H, M) inputs, as real views


def real_block_system(A: np.ndarray, C: np.ndarray):
    """One channel's complex modes (with their conjugates) as a real system: state [Re h_m, Im h_m]."""
    M = len(A)
    Ar, Br, Cr = np.zeros((2 * M, 2 * M)), np.zeros((2 * M, 1)), np.zeros((1, 2 * M))
    for m, (a, c) in enumerate(zip(A, C)):
        i = 2 * m
        Ar[i : i + 2, i : i + 2] = [[a.real, -a.imag], [a.imag, a.real]]
        Br[i, 0] = 1.0
        Cr[0, i : i + 2] = [2 * c.real, -2 * c.imag]  # 2 Re(c h)
    return Ar, Br, Cr


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_kernel_equals_scipy_discretization_of_real_system(method):
    A, C, dt = random_system(H=3, M=3, seed=2)
    L = 50
    log_A_bar, B_bar = DISCRETIZE[method](A, dt)
    K = s4d_kernel(log_A_bar, B_bar, C, L).numpy()
    for h in range(3):
        Ar, Br, Cr = real_block_system(A[h].numpy(), C[h].numpy())
        step, n = float(dt[h]), Ar.shape[0]
        if method == "zoh":  # exp of the augmented matrix gives Ā and ∫_0^Δ e^{As} ds B together
            aug = np.zeros((n + 1, n + 1))
            aug[:n, :n], aug[:n, n:] = Ar * step, Br * step
            E = scipy.linalg.expm(aug)
            Ad, Bd = E[:n, :n], E[:n, n:]
        else:  # Tustin
            inv = np.linalg.inv(np.eye(n) - step / 2 * Ar)
            Ad, Bd = inv @ (np.eye(n) + step / 2 * Ar), inv @ Br * step
        ref, x = [], Bd
        for _ in range(L):
            ref.append((Cr @ x).item())
            x = Ad @ x
        np.testing.assert_allclose(K[h], ref, rtol=1e-9, atol=1e-12)


def smooth_input(t: torch.Tensor, T: float) -> torch.Tensor:
    """Smooth test input with u(0) = u'(0) = 0 (so nothing is lost before t = 0)."""
    return torch.sin(math.pi * t / T) ** 2 * torch.cos(0.3 * t) + 0.5 * torch.sin(math.pi * t / T) ** 2


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("sampling, order", [("left", 1.0), ("centre", 2.0)])
def test_refinement_converges_with_expected_order(method, sampling, order):
    """Sample a smooth input at step τ, call the layer with τ, compare at common physical times.

    Sample l stands for the interval [lτ, (l+1)τ] (base-step units) and output l is read at its end,
    (l+1)τ, so coarse and fine outputs meet at every whole base step. With "left" samples
    u(lτ) the input is effectively held at the interval start and the error is O(τ); with "centre"
    samples u((l+1/2)τ) it is O(τ²). Both discretizations share these orders: the bilinear kernel
    C·B̄·Āˡ equals the ZOH kernel up to O(τ³) per entry, so it cannot be more accurate.
    """
    torch.manual_seed(0)
    layer = S4D(4, d_state=4, discretization=method, a_imag_init="lin").double()
    with torch.no_grad():
        layer.log_dt.copy_(torch.log(torch.tensor([0.05, 0.1, 0.2, 0.1])))
    L0 = 64  # base steps

    def sampled_output(tau):
        L, r = round(L0 / tau), round(1 / tau)
        t = (torch.arange(L, dtype=torch.float64) + (0.5 if sampling == "centre" else 0.0)) * tau
        u = smooth_input(t, L0).expand(1, 4, L)
        with torch.no_grad():
            y = layer.convolve(u, tau)  # SSM part, before norm/D/GELU
        return y[0, :, r - 1 :: r]  # outputs at t = 1, 2, ..., L0

    reference = sampled_output(1 / 64)
    taus = [1, 1 / 2, 1 / 4, 1 / 8]
    errors = [float((sampled_output(tau) - reference).abs().max() / reference.abs().max()) for tau in taus]
    slope = np.polyfit(np.log(taus), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.2, f"{method}/{sampling}: errors {errors}, order {slope:.2f}"


def test_tau_enters_only_through_the_step():
    """S4D(τ) with log_dt equals S4D(1) with log_dt + log τ; changing τ changes the output."""
    torch.manual_seed(1)
    layer = S4D(6, d_state=4, a_imag_init="lin").double().eval()
    u = torch.randn(2, 6, 40, dtype=torch.float64)
    y_half = layer(u, tau=0.5)
    assert (y_half - layer(u, tau=1.0)).abs().max() > 1e-3
    with torch.no_grad():
        layer.log_dt += math.log(0.5)
    torch.testing.assert_close(layer(u, tau=1.0), y_half)


def test_authors_initialization():
    torch.manual_seed(2)
    layer = S4D(8, dt_min=1e-3, dt_max=1e-1)
    A = layer.continuous_A()
    assert A.shape == (8, 1)  # d_state 2: one complex mode
    torch.testing.assert_close(A.real, torch.full((8, 1), -0.5))
    assert torch.all(A.imag == 0)  # c·5π·m with m = 0
    dt = torch.exp(layer.log_dt)
    assert torch.all((dt >= 1e-3) & (dt <= 1e-1))
    wide = S4D(4, d_state=8)
    imag = wide.A_imag.detach()
    ratio = imag[:, 1:] / torch.arange(1, 4)
    torch.testing.assert_close(ratio, ratio[0, 0].expand_as(ratio))  # one shared c per layer
    lin = S4D(4, d_state=8, a_imag_init="lin")
    torch.testing.assert_close(lin.A_imag.detach()[0], math.pi * torch.arange(4.0))
    with pytest.raises(ValueError, match="even"):
        S4D(4, d_state=3)
    with pytest.raises(ValueError, match="discretization"):
        S4D(4, discretization="euler")


def test_channel_norm_equalizes_step_norms_and_survives_zeros():
    y = torch.randn(3, 5, 20, dtype=torch.float64)
    y[1, :, 4] = 0.0
    out = equalize_channel_norm(y, eps=1e-6)
    norms = torch.linalg.vector_norm(y, dim=1)
    out_norms = torch.linalg.vector_norm(out, dim=1)
    nonzero = norms > 0
    torch.testing.assert_close(
        out_norms[nonzero], torch.full_like(out_norms[nonzero], float(norms.mean())), rtol=1e-5, atol=0
    )
    assert torch.isfinite(out).all() and torch.all(out[1, :, 4] == 0)
    layer = S4D(4)
    assert torch.isfinite(layer(torch.zeros(2, 4, 16))).all()  # the authors' version divides 0 by 0 here


def test_layer_shapes_gradients_and_switches():
    torch.manual_seed(3)
    u = torch.randn(2, 8, 30)
    for kwargs in ({}, {"discretization": "bilinear"}, {"channel_norm": False}, {"d_state": 16, "dropout": 0.2}):
        layer = S4D(8, **kwargs)
        y = layer(u, tau=0.25)
        assert y.shape == u.shape
        y.square().sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    plain, normed = S4D(8, channel_norm=False), S4D(8)
    normed.load_state_dict(plain.state_dict())
    assert (plain(u) - normed(u)).abs().max() > 1e-4
