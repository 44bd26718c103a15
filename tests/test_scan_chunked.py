"""The chunked parallel scan (method "chunked") against the loop scan and a step-by-step reference.

Everything in float64, where the two forms must agree to rounding: values and the gradients with
respect to every input (x, Δ, A, B, C, D), for ZOH and bilinear, sub-chunks that do and do not
divide L, L = 1, and steps Δ so small that Ā ≈ 1 or so large that Ā ≈ 0 (ZOH) or Ā ≈ −1 (bilinear).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from test_s6 import reference_scan, scan_inputs

from contlaws.models import s6 as s6_module
from contlaws.models import scan
from contlaws.models.s6 import S6
from contlaws.models.scan import selective_scan

NAMES = ("x", "delta", "A", "B", "C", "D")


def values_and_grads(inputs, weight=None, **kwargs):
    y = selective_scan(*inputs, **kwargs)
    weight = torch.randn_like(y, generator=torch.Generator().manual_seed(9)) if weight is None else weight
    return y, torch.autograd.grad((y * weight).sum(), inputs)


def assert_same(inputs, discretization, rtol=1e-12, grad_rtol=1e-10, **chunked_kwargs):
    """Chunked == loop == reference (values), chunked == loop (all six gradients)."""
    y_loop, g_loop = values_and_grads(inputs, discretization=discretization)
    y_chunked, g_chunked = values_and_grads(inputs, discretization=discretization, method="chunked", **chunked_kwargs)
    torch.testing.assert_close(y_chunked, y_loop, rtol=rtol, atol=1e-12)
    torch.testing.assert_close(y_chunked, reference_scan(*inputs, discretization), rtol=rtol, atol=1e-12)
    for name, g, g_ref in zip(NAMES, g_chunked, g_loop):
        torch.testing.assert_close(g, g_ref, rtol=grad_rtol, atol=1e-12, msg=f"gradient of {name}")


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("parallel_chunk", [1, 4, 5, 12, 16])  # 4, 12 divide L = 12; 5 does not; 16 > L
@pytest.mark.parametrize("chunk", [5, 64])  # outer chunks: 5 steps (cut to whole sub-chunks) or all of L
def test_chunked_scan_equals_loop_scan_values_and_gradients(discretization, parallel_chunk, chunk):
    assert_same(scan_inputs(length=12), discretization, chunk=chunk, parallel_chunk=parallel_chunk)


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_chunked_scan_of_length_one(discretization):
    assert_same(scan_inputs(length=1), discretization, parallel_chunk=4)


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("scale", [1e-8, 1e4])
def test_chunked_scan_with_decays_near_one_and_near_zero(discretization, scale):
    """Δ·1e-8: Ā within 1e-7 of 1. Δ·1e4: ZOH Ā = exp(ΔA) underflows to 0 (log −inf, floored);
    bilinear Ā = (1 + ΔA/2)/(1 − ΔA/2) is near −1, so the sign alternates along the sequence."""
    inputs = [t.detach() for t in scan_inputs(length=23, seed=3)]
    inputs[1] = inputs[1] * scale
    dA = inputs[1].unsqueeze(-1) * inputs[2]  # (B L D N)
    if scale > 1:
        assert (torch.exp(dA) == 0).any() and (1 + dA / 2 < 0).all()  # the extremes are really reached
    else:
        assert (dA.abs() < 1e-7).all()
    assert_same([t.requires_grad_() for t in inputs], discretization, grad_rtol=1e-9, parallel_chunk=6)


def test_chunked_scan_gradcheck():
    inputs = scan_inputs(batch=1, length=7, d=2, n=3, seed=1)
    for discretization in ("zoh", "bilinear"):
        assert torch.autograd.gradcheck(
            lambda *t, d=discretization: selective_scan(*t, discretization=d, method="chunked", parallel_chunk=3), inputs
        )


def test_chunked_scan_in_float32_is_as_close_to_float64_as_the_loop():
    inputs = [t.detach() for t in scan_inputs(batch=3, length=200, d=5, n=6, seed=2, requires_grad=False)]
    y_ref = reference_scan(*inputs, "zoh")
    single = [t.float() for t in inputs]
    err_loop = (selective_scan(*single).double() - y_ref).abs().max()
    err_chunked = (selective_scan(*single, method="chunked", parallel_chunk=16).double() - y_ref).abs().max()
    assert err_chunked < max(5 * err_loop, 1e-5 * y_ref.abs().max())


def test_segment_decays_are_masked_before_the_exponential():
    """Steps with log Ā = −80: exp(S_t − S_s) for s > t would be e^{+80·k} (inf in float32)."""
    log_a = torch.full((1, 6, 1, 1, 1), -80.0)
    S = log_a.cumsum(1)  # (K T Bt D N)
    W = scan._segment_decays(S.clone())[0, :, :, 0, 0, 0]  # (T T)
    assert torch.isfinite(W).all()
    assert torch.equal(W.triu(1), torch.zeros(6, 6))
    assert torch.equal(W.diagonal(), torch.ones(6))
    assert W[1, 0] == pytest.approx(math.exp(-80), rel=1e-5)
    assert torch.isinf(torch.exp(S[0, 0, 0, 0, 0] - S[0, -1, 0, 0, 0]))  # what the unmasked form would give


def test_chunked_adjoint_equals_loop_adjoint():
    g = torch.Generator().manual_seed(4)
    A_bar = torch.rand(11, 2, 3, 4, dtype=torch.float64, generator=g) * 2 - 1  # signs of both kinds
    grad_h = torch.randn(11, 2, 3, 4, dtype=torch.float64, generator=g)
    carry = torch.randn(2, 3, 4, dtype=torch.float64, generator=g)
    expected = scan._scan_adjoint(A_bar, grad_h.clone(), carry)
    torch.testing.assert_close(scan._scan_adjoint_chunked(A_bar, grad_h, carry, chunk=4), expected)


def test_chunked_scan_decay_tensor_stays_within_its_element_budget(monkeypatch):
    seen = []
    original = scan._segment_decays

    def spy(S):
        seen.append(S.numel() * S.shape[1])  # the (K T T Bt D N) tensor it builds
        return original(S)

    monkeypatch.setattr(scan, "_segment_decays", spy)
    monkeypatch.setitem(scan.PARALLEL_ELEMENTS, "cpu", 2 * 3 * 4 * 4 * 10)  # B·D·N = 24: 10 steps of T = 4
    inputs = scan_inputs(batch=2, length=50, d=3, n=4)
    selective_scan(*inputs, method="chunked", parallel_chunk=4).sum().backward()
    assert max(seen) <= 2 * 3 * 4 * 4 * 10
    assert len(seen) == 3 * math.ceil(50 / 8)  # 8-step chunks (whole sub-chunks): forward, recompute, adjoint


def test_selective_scan_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        selective_scan(*scan_inputs(requires_grad=False), method="parallel")


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("readout", ["c", "sum"])
def test_s6_layer_gives_the_same_output_and_gradients_with_either_backend(discretization, readout):
    torch.manual_seed(0)
    layer = S6(6, d_state=4, dt_rank=2, discretization=discretization, readout=readout, scan_chunk=7).double()
    x = torch.randn(2, 19, 6, dtype=torch.float64, requires_grad=True)
    results = {}
    for backend in ("torch", "chunked"):
        layer.backend = backend
        y = layer(x, tau=0.5)
        results[backend] = (y, torch.autograd.grad(y.square().sum(), [x, *layer.parameters()]))
    torch.testing.assert_close(results["chunked"][0], results["torch"][0], rtol=1e-12, atol=1e-12)
    for g, g_ref in zip(results["chunked"][1], results["torch"][1]):
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


def test_auto_backend_is_torch_on_cpu_and_chunked_on_cuda_without_the_kernel(monkeypatch):
    cpu_input, cuda_input = torch.zeros(1, 3, 4), SimpleNamespace(is_cuda=True)  # only .is_cuda is read
    assert S6(4).scan_backend(cpu_input) == "torch"
    missing = "mamba-ssm selective_scan_fn does not import"
    monkeypatch.setattr(s6_module, "cuda_scan_unavailable_reason", lambda: missing)
    assert S6(4).scan_backend(cuda_input) == "chunked"
    with pytest.raises(RuntimeError, match="model.s6.backend.*does not import"):
        S6(4, backend="cuda").scan_backend(cuda_input)
    monkeypatch.setattr(s6_module, "cuda_scan_unavailable_reason", lambda: None)  # the kernel imports
    assert S6(4).scan_backend(cuda_input) == "cuda"
    assert S6(4, discretization="bilinear").scan_backend(cuda_input) == "chunked"  # the kernel is ZOH only
    assert S6(4, readout="sum").scan_backend(cuda_input) == "chunked"
    assert S6(4, backend="torch").scan_backend(cuda_input) == "torch"  # an explicit choice wins
    assert S6(4, backend="chunked").scan_backend(cpu_input) == "chunked"
