"""S6 and its chunked selective scan against a plain sequential float64 reference."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from contlaws.models.s6 import S6
from contlaws.models.scan import selective_scan


def reference_scan(x, delta, A, B, C, D, method):
    """h_t = Ā_t h_{t−1} + B̄_t x_t, y_t = Σ_n C_t h_t + D x_t, one step at a time."""
    batch, length, d = x.shape
    h = x.new_zeros(batch, d, A.shape[1])
    ys = []
    for t in range(length):
        dA = delta[:, t, :, None] * A  # (B D N)
        if method == "zoh":
            A_bar, B_bar = torch.exp(dA), delta[:, t, :, None] * B[:, t, None, :]
        else:
            A_bar, B_bar = (1 + dA / 2) / (1 - dA / 2), delta[:, t, :, None] / (1 - dA / 2) * B[:, t, None, :]
        h = A_bar * h + B_bar * x[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1) + D * x[:, t])
    return torch.stack(ys, 1)


def scan_inputs(batch=2, length=13, d=3, n=4, seed=0, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    kw = {"dtype": torch.float64, "generator": g}
    tensors = (
        torch.randn(batch, length, d, **kw),  # x
        0.05 + torch.rand(batch, length, d, **kw),  # delta
        -(0.2 + 2 * torch.rand(d, n, **kw)),  # A
        torch.randn(batch, length, n, **kw),  # B
        torch.randn(batch, length, n, **kw),  # C
        torch.randn(d, **kw),  # D
    )
    return [t.requires_grad_(requires_grad) for t in tensors]


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("chunk", [1, 4, 13, 64])
def test_scan_outputs_and_all_gradients_match_reference(method, chunk):
    inputs = scan_inputs()
    y = selective_scan(*inputs, discretization=method, chunk=chunk)
    y_ref = reference_scan(*inputs, method)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    weight = torch.randn_like(y)
    grads = torch.autograd.grad((y * weight).sum(), inputs)
    grads_ref = torch.autograd.grad((y_ref * weight).sum(), inputs)
    for name, g, g_ref in zip(("x", "delta", "A", "B", "C", "D"), grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_scan_gradcheck(method):
    inputs = scan_inputs(batch=1, length=7, d=2, n=3, seed=1)
    assert torch.autograd.gradcheck(lambda *t: selective_scan(*t, discretization=method, chunk=3), inputs)


def test_scan_is_independent_of_chunk_size_in_float32():
    inputs = [t.detach().float() for t in scan_inputs(batch=3, length=100, d=5, n=6, seed=2, requires_grad=False)]
    y_one = selective_scan(*inputs, chunk=100)
    for chunk in (1, 7, 32):
        torch.testing.assert_close(selective_scan(*inputs, chunk=chunk), y_one, rtol=1e-5, atol=1e-5)


def test_scan_builds_state_sized_tensors_one_chunk_at_a_time(monkeypatch):
    """Ā and B̄x, the (steps, B, D, N) tensors, exist for at most `chunk` steps at a time."""
    from contlaws.models import scan

    steps_seen = []
    original = scan._DISCRETIZE["zoh"]

    def spy(delta, A, B, x):
        steps_seen.append(delta.shape[0])
        return original(delta, A, B, x)

    monkeypatch.setitem(scan._DISCRETIZE, "zoh", spy)
    inputs = scan_inputs(batch=2, length=50, d=3, n=4)
    selective_scan(*inputs, chunk=8).sum().backward()
    assert max(steps_seen) == 8
    assert sum(steps_seen) == 2 * 50  # every step once in forward, once recomputed in backward
    steps_seen.clear()
    selective_scan(*inputs, chunk=50).sum().backward()
    assert steps_seen == [50]  # one chunk: forward keeps it, backward does not recompute it
    steps_seen.clear()
    monkeypatch.setattr(scan, "CHUNK_ELEMENTS", 2 * 3 * 4 * 5)  # room for 5 steps of (B, D, N)
    selective_scan(*inputs, chunk=8)
    assert max(steps_seen) == 5


@pytest.mark.parametrize("method", ["loop", "chunked"])
@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_a_kept_single_chunk_gives_the_bytes_of_recomputing_it(monkeypatch, discretization, method):
    """Keeping the only chunk from forward is a saving, not a new computation: float32 outputs and every
    gradient are bit-identical to recomputing the chunk in backward, and a second backward (retain_graph),
    which recomputes, gives the same bytes again."""
    from contlaws.models import scan

    base = [t.detach().float() for t in scan_inputs(batch=4, length=40, d=8, n=4, seed=3, requires_grad=False)]
    weight = torch.randn(4, 40, 8, generator=torch.Generator().manual_seed(4))

    def run(keep: bool, backwards: int = 1):
        monkeypatch.setattr(scan, "KEEP_SINGLE_CHUNK", keep)
        inputs = [t.clone().requires_grad_() for t in base]
        y = selective_scan(*inputs, discretization=discretization, chunk=64, method=method)
        out = [y.detach()]
        for _ in range(backwards):
            out += torch.autograd.grad((y * weight).sum(), inputs, retain_graph=True)
        return out

    kept, recomputed = run(True, backwards=2), run(False, backwards=2)
    assert len(kept) == 13
    for i, (a, b) in enumerate(zip(kept, recomputed, strict=True)):
        assert torch.equal(a, b), f"tensor {i} differs"
    for a, b in zip(kept[1:7], kept[7:], strict=True):
        assert torch.equal(a, b)


def make_s6(**kwargs):
    torch.manual_seed(0)
    return S6(6, d_state=4, dt_rank=2, **kwargs).double()


def test_s6_step_is_softplus_then_tau_and_initialization():
    layer = make_s6(dt_min=1e-3, dt_max=1e-1)
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    delta, B, C = layer.selective_params(x, tau=1.0)
    delta_q, B_q, C_q = layer.selective_params(x, tau=0.25)
    torch.testing.assert_close(delta_q, 0.25 * delta)  # τ after the softplus
    torch.testing.assert_close(B_q, B)
    torch.testing.assert_close(C_q, C)
    dt_low_rank = x @ layer.x_proj.weight[:2].T
    torch.testing.assert_close(delta, F.softplus(dt_low_rank @ layer.dt_proj.weight.T + layer.dt_proj.bias))
    dt0 = F.softplus(layer.dt_proj.bias)  # the step at δ̃ = 0
    assert torch.all((dt0 >= 1e-3 - 1e-12) & (dt0 <= 1e-1 + 1e-12))
    torch.testing.assert_close(-torch.exp(layer.log_A_real), -torch.arange(1.0, 5.0, dtype=torch.float64).expand(6, 4))


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
@pytest.mark.parametrize("readout", ["c", "sum"])
def test_s6_layer_equals_reference(method, readout):
    layer = make_s6(discretization=method, readout=readout, scan_chunk=5)
    x = torch.randn(2, 17, 6, dtype=torch.float64)
    delta, B, C = layer.selective_params(x, tau=0.5)
    if readout == "sum":  # the authors' y = Σ_n h_t + D x never uses C_t
        C = torch.ones_like(C)
    expected = reference_scan(x, delta, -torch.exp(layer.log_A_real), B, C, layer.D, method)
    torch.testing.assert_close(layer(x, tau=0.5), expected)


def test_changing_tau_changes_s6_output():
    layer = make_s6()
    x = torch.randn(2, 20, 6, dtype=torch.float64)
    assert (layer(x, tau=1.0) - layer(x, tau=0.5)).abs().max() > 1e-4


def test_s6_rejects_bad_options_and_cuda_backend_without_cuda():
    with pytest.raises(ValueError, match="readout"):
        S6(4, readout="mean")
    with pytest.raises(ValueError, match="discretization"):
        S6(4, discretization="euler")
    if not torch.cuda.is_available():
        layer = S6(4, backend="cuda")
        with pytest.raises(RuntimeError, match="model.s6.backend"):
            layer(torch.randn(1, 5, 4))
        assert S6(4, backend="auto")(torch.randn(1, 5, 4)).shape == (1, 5, 4)  # falls back to torch


def _cuda_kernel_missing() -> str | None:
    from contlaws.models.scan import cuda_scan_unavailable_reason

    return cuda_scan_unavailable_reason()


@pytest.mark.gpu
@pytest.mark.skipif(
    _cuda_kernel_missing() is not None, reason=f"CUDA scan backend unavailable: {_cuda_kernel_missing()}"
)
def test_cuda_kernel_matches_torch_scan():
    torch.manual_seed(0)
    layer = S6(32, backend="cuda").cuda()
    x = torch.randn(4, 300, 32, device="cuda", requires_grad=True)
    y_cuda = layer(x, tau=0.5)
    layer.backend = "torch"
    y_torch = layer(x, tau=0.5)
    torch.testing.assert_close(y_cuda, y_torch, rtol=1e-3, atol=1e-4)
    g_cuda = torch.autograd.grad(y_cuda.square().sum(), [x, layer.log_A_real, layer.D])
    g_torch = torch.autograd.grad(y_torch.square().sum(), [x, layer.log_A_real, layer.D])
    for a, b in zip(g_cuda, g_torch):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    assert math.isfinite(float(y_cuda.sum()))


def test_keep_chunk_benchmark_runs_and_finds_the_same_weights(capsys):
    """benchmarks/bench_s6_keep_chunk.py (the A/B behind RESULTS.md) at a tiny shape: exit 0 only when both ways
    end at bit-identical weights, and it leaves the module switch as it found it."""
    import importlib.util
    from pathlib import Path

    from contlaws.models import scan

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_s6_keep_chunk.py"
    spec = importlib.util.spec_from_file_location("bench_s6_keep_chunk", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--repeats", "1", "--steps", "2", "--shapes", "2x12x4"]) == 0
    finally:
        torch.set_num_threads(threads)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| 2x12x4 |"))
    assert row.endswith("| yes |"), row
    assert scan.KEEP_SINGLE_CHUNK is True
