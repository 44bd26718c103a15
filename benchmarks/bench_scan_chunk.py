"""How many elements one chunk of the S6 loop scan should hold on this CPU (``scan.CHUNK_ELEMENTS``).

    python benchmarks/bench_scan_chunk.py [--repeats 3] [--shapes 16x128x32x16 64x256x128x16 ...]

For each shape B x L x D x N, one forward+backward of :func:`contlaws.models.scan.selective_scan`
(float32, one thread) with chunks bounded at 2^21, 2^20, 2^19 and 2^18 elements, timed in turn, best
of ``--repeats``. A chunk holds a few (T, B, D, N) temporaries; whether they stay in cache decides
the speed, and each chunk costs a few Python-level calls, so the best bound depends on the cache size.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch

from contlaws.models import scan

SHAPES = ("16x128x32x16", "16x128x64x16", "8x1024x64x16", "32x512x64x16", "64x256x128x16")
BOUNDS = (2**21, 2**20, 2**19, 2**18)


def inputs(batch, length, d, n):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(batch, length, d, generator=g).requires_grad_(),  # x
            (0.05 + torch.rand(batch, length, d, generator=g)).requires_grad_(),  # delta
            (-(0.2 + torch.rand(d, n, generator=g))).requires_grad_(),  # A
            torch.randn(batch, length, n, generator=g).requires_grad_(),  # B
            torch.randn(batch, length, n, generator=g).requires_grad_(),  # C
            torch.randn(d, generator=g).requires_grad_()]  # D  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), help="BxLxDxN")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    default = scan.CHUNK_ELEMENTS
    load = os.getloadavg()
    print(f"S6 loop scan forward+backward, float32, 1 thread, best of {args.repeats}; torch {torch.__version__}; "
          f"load average {load[0]:.1f}; default CHUNK_ELEMENTS 2^{default.bit_length() - 1}")  # fmt: skip
    print("| B | L | D | N | " + " | ".join(f"2^{b.bit_length() - 1} ms" for b in BOUNDS) + " | 2^21 / best |")
    print("|---|---|---|---|" + "---:|" * (len(BOUNDS) + 1))
    for shape in args.shapes:
        batch, length, d, n = (int(v) for v in shape.split("x"))
        ins = inputs(batch, length, d, n)
        best = dict.fromkeys(BOUNDS, float("inf"))
        for _ in range(args.repeats):
            for bound in BOUNDS:  # in turn, so that background load falls on every bound alike
                scan.CHUNK_ELEMENTS = bound
                start = time.perf_counter()
                scan.selective_scan(*ins).sum().backward()
                best[bound] = min(best[bound], time.perf_counter() - start)
        scan.CHUNK_ELEMENTS = default
        cells = " | ".join(f"{best[b] * 1e3:.0f}" for b in BOUNDS)
        print(f"| {batch} | {length} | {d} | {n} | {cells} | {best[2**21] / min(best.values()):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
