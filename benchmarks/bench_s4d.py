"""Speed of the S4D layer on CPU (2 threads): forward and forward+backward at H 64, N 64, L 1024, B 8.

N is the real state size (``d_state`` 64 = 32 complex modes). Times are the best of ``--repeats``
runs, both discretizations, channel norm on (the authors' variant); the kernel alone is timed too.

    python benchmarks/bench_s4d.py [--repeats 7]
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # 2 threads, set before torch loads
    os.environ[_var] = "2"

import argparse
import time

import torch

from contlaws.models.s4d import S4D

torch.set_num_threads(2)


def best_times(layer: S4D, u: torch.Tensor, repeats: int) -> tuple[float, float, float]:
    """Best kernel-only, forward (no grad) and forward+backward wall times in seconds."""
    kernel = fwd = fwd_bwd = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            layer.kernel(u.shape[-1])
        kernel = min(kernel, time.perf_counter() - start)
        start = time.perf_counter()
        with torch.no_grad():
            layer(u)
        fwd = min(fwd, time.perf_counter() - start)
        start = time.perf_counter()
        layer(u).square().mean().backward()
        fwd_bwd = min(fwd_bwd, time.perf_counter() - start)
        layer.zero_grad(set_to_none=True)
    return kernel, fwd, fwd_bwd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="timing repeats; the fastest is reported")
    args = p.parse_args()
    H, N, L, B = 64, 64, 1024, 8
    print(
        f"S4D layer, H {H}, N {N} ({N // 2} complex modes), L {L}, B {B}, float32, {torch.get_num_threads()} threads,"
    )
    print(f"torch {torch.__version__}, best of {args.repeats}")
    torch.manual_seed(0)
    u = torch.randn(B, H, L)
    for method in ("zoh", "bilinear"):
        layer = S4D(H, d_state=N, discretization=method).train()
        kernel, fwd, fwd_bwd = best_times(layer, u, args.repeats)
        print(
            f"  {method:8s} kernel {1e3 * kernel:6.1f} ms   forward {1e3 * fwd:6.1f} ms"
            f"   forward+backward {1e3 * fwd_bwd:6.1f} ms"
        )


if __name__ == "__main__":
    main()
