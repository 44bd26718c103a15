"""Speed and memory of the S6 selective scan on CPU (2 threads).

Speed, at B 8, L 1024, D 64, N 16: every method computes y_t = Σ_n C_t h_t + D x_t from
(x, Δ, A, B_t, C_t, D) with Mamba-style ZOH, forward alone and forward+backward to all six inputs:

- contlaws   ``contlaws.models.scan.selective_scan`` (chunked, custom autograd, recomputes in backward)
- indexed    sequential loop indexing ``a[:, t]`` (the style of mamba-ssm's ``selective_scan_ref``)
- unbind     sequential loop over pre-split ``unbind()`` slices, plain autograd
- blelloch   work-efficient odd/even (Blelloch) scan, plain autograd

Goals: ≥100x faster than the indexed loop, within 1.5x of the best alternative (forward+backward).

Memory: peak RSS growth (ru_maxrss − RSS before the call, each case in a fresh process) of the
S6 layer (D 128, N 16, B 64) forward at L 8192 without gradients and forward+backward at L 1024.

Backends (``--backends``): the loop scan (``method="loop"``, what S6 runs on CPU) against the chunked
parallel form (``method="chunked"``, what S6 runs on a GPU without mamba-ssm) at a few shapes and
sub-chunk lengths, forward and forward+backward; prints a markdown table. ``--backends-only`` skips
the rest.

    python benchmarks/bench_scan.py [--quick] [--repeats 3]
    python benchmarks/bench_scan.py --backends-only --shapes 8x1024x64x16 8x1024x128x16 --parallel-chunks 4 8 16

``--quick`` times the indexed loop on L/8 steps and extrapolates linearly; its backward grows
faster than linearly in L, so the extrapolated time and ratio are lower bounds.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # 2 threads, set before torch loads
    os.environ[_var] = "2"

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from contlaws.models.s6 import S6
from contlaws.models.scan import selective_scan

torch.set_num_threads(2)


def discretize(x, delta, A, B):
    """Full (B, L, D, N) Ā and B̄x: what the alternatives need up front."""
    return torch.exp(delta.unsqueeze(-1) * A), (delta * x).unsqueeze(-1) * B.unsqueeze(2)


def scan_indexed(x, delta, A, B, C, D):
    A_bar, Bx = discretize(x, delta, A, B)
    h = x.new_zeros(x.shape[0], x.shape[2], A.shape[1])
    ys = []
    for t in range(x.shape[1]):
        h = A_bar[:, t] * h + Bx[:, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
    return torch.stack(ys, 1) + D * x


def scan_unbind(x, delta, A, B, C, D):
    A_bar, Bx = discretize(x, delta, A, B)
    h = x.new_zeros(x.shape[0], x.shape[2], A.shape[1])
    hs = []
    for a_t, b_t in zip(A_bar.unbind(1), Bx.unbind(1)):
        h = a_t * h + b_t
        hs.append(h)
    return torch.einsum("bldn,bln->bld", torch.stack(hs, 1), C) + D * x


def blelloch(a, b):
    """h_t = a_t h_{t−1} + b_t along dim 1 (h_{−1} = 0): combine pairs, recurse on half, fill in."""
    length = a.shape[1]
    if length == 1:
        return b
    if length % 2:
        a = torch.cat([a, torch.ones_like(a[:, :1])], 1)
        b = torch.cat([b, torch.zeros_like(b[:, :1])], 1)
    a_even, a_odd, b_even, b_odd = a[:, 0::2], a[:, 1::2], b[:, 0::2], b[:, 1::2]
    h_odd = blelloch(a_odd * a_even, a_odd * b_even + b_odd)  # up-sweep: states at odd steps
    h_before = torch.cat([torch.zeros_like(h_odd[:, :1]), h_odd[:, :-1]], 1)
    h_even = a_even * h_before + b_even  # down-sweep: states at even steps
    return torch.stack([h_even, h_odd], 2).flatten(1, 2)[:, :length]


def scan_blelloch(x, delta, A, B, C, D):
    A_bar, Bx = discretize(x, delta, A, B)
    return torch.einsum("bldn,bln->bld", blelloch(A_bar, Bx), C) + D * x


def scan_contlaws(x, delta, A, B, C, D):
    return selective_scan(x, delta, A, B, C, D, "zoh", chunk=256)


METHODS = {"contlaws": scan_contlaws, "indexed": scan_indexed, "unbind": scan_unbind, "blelloch": scan_blelloch}


def make_inputs(batch, length, d, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, length, d, generator=g),
        0.001 + 0.1 * torch.rand(batch, length, d, generator=g),
        -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1),
        torch.randn(batch, length, n, generator=g),
        torch.randn(batch, length, n, generator=g),
        torch.randn(d, generator=g),
    ]


def time_method(fn, inputs, repeats):
    """Best forward (no grad) and forward+backward wall times in seconds."""
    inputs = [t.detach().requires_grad_() for t in inputs]
    fwd = fwd_bwd = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            fn(*inputs)
        fwd = min(fwd, time.perf_counter() - start)
        start = time.perf_counter()
        fn(*inputs).square().sum().backward()
        fwd_bwd = min(fwd_bwd, time.perf_counter() - start)
        for t in inputs:
            t.grad = None
    return fwd, fwd_bwd


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """'8x1024x64x16' -> (B, L, D, N)."""
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape must be BxLxDxN with positive integers, got {text!r}")
    return tuple(int(p) for p in parts)


def compare_backends(shapes, parallel_chunks, repeats) -> list[str]:
    """Markdown table: loop vs chunked scan, forward and forward+backward (ms, best of ``repeats``)."""
    rows = ["| B | L | D | N | backend | forward ms | forward+backward ms | vs loop (fwd+bwd) |", "|---" * 8 + "|"]
    print("\n".join(rows), flush=True)
    for batch, length, d, n in shapes:
        inputs = make_inputs(batch, length, d, n)
        cases = {"loop": {"method": "loop"}}
        cases.update({f"chunked T={t}": {"method": "chunked", "parallel_chunk": t} for t in parallel_chunks})
        ref = selective_scan(*inputs)
        for name, kwargs in cases.items():  # same numbers before timing anything (and a warm-up)
            torch.testing.assert_close(selective_scan(*inputs, **kwargs), ref, rtol=1e-4, atol=1e-4, msg=name)
            time_method(lambda *t, kw=kwargs: selective_scan(*t, **kw), inputs, 1)
        times = {}
        for _ in range(repeats):  # round robin, so background load hits every backend alike
            for name, kwargs in cases.items():
                fwd, fwd_bwd = time_method(lambda *t, kw=kwargs: selective_scan(*t, **kw), inputs, 1)
                old = times.get(name, (float("inf"), float("inf")))
                times[name] = (min(old[0], fwd), min(old[1], fwd_bwd))
        for name, (fwd, fwd_bwd) in times.items():
            ratio = fwd_bwd / times["loop"][1]
            cells = (batch, length, d, n, name, f"{1e3 * fwd:.1f}", f"{1e3 * fwd_bwd:.1f}", f"{ratio:.2f}")
            rows.append("| " + " | ".join(map(str, cells)) + " |")
            print(rows[-1], flush=True)
    return rows


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def memory_child(case: str) -> None:
    """Run one memory case in this (fresh) process and print JSON: peak RSS growth and time."""
    torch.manual_seed(0)
    length, grad = (8192, False) if case == "forward_L8192" else (1024, True)
    layer = S6(128, d_state=16, dt_rank=8, scan_chunk=256, backend="torch")
    x = torch.randn(64, length, 128, requires_grad=grad)
    before = rss_kib()
    start = time.perf_counter()
    if grad:
        layer(x).square().mean().backward()
    else:
        with torch.no_grad():
            layer(x)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"case": case, "peak_growth_mib": (peak - before) / 1024, "seconds": seconds}))


def measure_memory(case: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory-child", case], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="time the indexed loop on L/8 steps and extrapolate")
    p.add_argument("--repeats", type=int, default=7, help="timing repeats; the fastest is reported")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    p.add_argument("--backends", action="store_true", help="also compare the loop and chunked scan backends")
    p.add_argument("--backends-only", action="store_true", help="only compare the loop and chunked backends")
    p.add_argument("--shapes", nargs="+", type=parse_shape, default=[(8, 1024, 64, 16), (8, 1024, 128, 16)],
                   metavar="BxLxDxN", help="shapes of the backend comparison")  # fmt: skip
    p.add_argument("--parallel-chunks", nargs="+", type=int, default=[4, 8, 16], metavar="T",
                   help="sub-chunk lengths of the chunked backend")  # fmt: skip
    args = p.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if args.backends or args.backends_only:
        print(f"Loop vs chunked scan, ZOH, float32, {torch.get_num_threads()} threads, torch {torch.__version__}, "
              f"best of {args.repeats} runs each")  # fmt: skip
        compare_backends(args.shapes, args.parallel_chunks, args.repeats)
        if args.backends_only:
            return
        print()

    batch, length, d, n = 8, 1024, 64, 16
    print(f"S6 selective scan, B {batch}, L {length}, D {d}, N {n}, float32, {torch.get_num_threads()} threads,")
    print(f"torch {torch.__version__}, best of {args.repeats} runs each (indexed: 1 run)")
    inputs = make_inputs(batch, length, d, n)
    ref = scan_unbind(*inputs)
    for name in ("contlaws", "blelloch"):
        torch.testing.assert_close(METHODS[name](*inputs), ref, rtol=1e-4, atol=1e-4)  # same numbers
    times = {}
    for _ in range(args.repeats):  # round robin, so background load hits every method alike
        for name in ("contlaws", "unbind", "blelloch"):
            fwd, fwd_bwd = time_method(METHODS[name], inputs, 1)
            old = times.get(name, (float("inf"), float("inf")))
            times[name] = (min(old[0], fwd), min(old[1], fwd_bwd))
    steps = length // 8 if args.quick else length
    fwd, fwd_bwd = time_method(scan_indexed, make_inputs(batch, steps, d, n), 1)
    times["indexed"] = (fwd * length / steps, fwd_bwd * length / steps)
    for name in METHODS:
        fwd, fwd_bwd = times[name]
        note = (
            f"  (timed on {steps} steps, extrapolated linearly: a lower bound)"
            if name == "indexed" and args.quick
            else ""
        )
        print(f"  {name:9s} forward {1e3 * fwd:9.1f} ms   forward+backward {1e3 * fwd_bwd:9.1f} ms{note}")
    ours = times["contlaws"][1]
    best_alt = min(("unbind", "blelloch"), key=lambda k: times[k][1])
    print(f"forward+backward speed-up over the indexed loop: {times['indexed'][1] / ours:.0f}x (goal >= 100x)")
    print(f"forward+backward time / best alternative ({best_alt}): {ours / times[best_alt][1]:.2f} (goal <= 1.5)")

    full_gib = 64 * 8192 * 128 * 16 * 4 / 2**30
    print(f"\nS6 layer memory, D 128, N 16, B 64 (one full (B, L, D, N) float32 tensor at L 8192: {full_gib:.0f} GiB)")
    for case in ("forward_L8192", "forward_backward_L1024"):
        m = measure_memory(case)
        print(f"  {case:24s} peak RSS growth {m['peak_growth_mib']:8.0f} MiB   time {m['seconds']:6.2f} s")


if __name__ == "__main__":
    main()
