"""What keeping the S6 scan's only chunk from forward saves in a training step (``scan.KEEP_SINGLE_CHUNK``).

    python benchmarks/bench_s6_keep_chunk.py [--repeats 7] [--steps 10] [--shapes 16x128x32 16x256x32 ...]

For each shape B x L x D, a two-layer stack of S6 layers (d_state 16, float32, one thread) takes AdamW
steps on a fixed batch, first with the chunk recomputed in backward, then with it kept, in turn (so
background load falls on both alike). It prints CPU milliseconds per step (best and median of
``--repeats`` rounds of ``--steps`` steps) and checks that both ways end at bit-identical weights.
Malloc is tuned as in every ``contlaws`` process (:mod:`contlaws.allocator`). The default shapes are
the E3 (L 128) and E2 (L 256) trainings of the quick and evidence scales, and the larger_models variant.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from contlaws.allocator import tune_malloc  # before torch allocates

MALLOC = tune_malloc()

import torch

from contlaws.models import scan
from contlaws.models.s6 import S6

SHAPES = ("16x128x32", "16x256x32", "16x128x64")


def rounds(net0: torch.nn.Module, x: torch.Tensor, keep: bool, steps: int) -> tuple[float, list[torch.Tensor]]:
    """CPU seconds per AdamW step over ``steps`` steps from ``net0``'s weights, and the final weights."""
    scan.KEEP_SINGLE_CHUNK = keep
    net = copy.deepcopy(net0)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    start = time.process_time()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
        opt.step()
    return (time.process_time() - start) / steps, [p.detach().clone() for p in net.parameters()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), help="BxLxD")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()
    print(f"S6 x 2 layers, AdamW step, float32, 1 thread, {args.repeats} rounds of {args.steps} steps; "
          f"torch {torch.__version__}; malloc {MALLOC}; load average {load[0]:.1f}")  # fmt: skip
    print("| B x L x D | recompute: best / median ms | keep: best / median ms | keep / recompute (median) | same weights |")
    print("|---|---:|---:|---:|---|")
    default = scan.KEEP_SINGLE_CHUNK
    try:
        for shape in args.shapes:
            batch, length, d = (int(v) for v in shape.split("x"))
            torch.manual_seed(0)
            net0 = torch.nn.Sequential(S6(d, d_state=16), S6(d, d_state=16))
            x = torch.randn(batch, length, d)
            times = {False: [], True: []}
            weights = {}
            for _ in range(args.repeats):
                for keep in (False, True):
                    seconds, weights[keep] = rounds(net0, x, keep, args.steps)
                    times[keep].append(seconds * 1e3)
            same = all(torch.equal(a, b) for a, b in zip(weights[False], weights[True], strict=True))
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"| {shape} | {min(times[False]):.1f} / {med[False]:.1f} | {min(times[True]):.1f} / {med[True]:.1f} | "
                  f"{med[True] / med[False]:.2f} | {'yes' if same else 'NO'} |")  # fmt: skip
            if not same:
                return 1
    finally:
        scan.KEEP_SINGLE_CHUNK = default
    return 0


if __name__ == "__main__":
    sys.exit(main())
