"""Peak memory of one S4D layer's forward+backward at Path-X shapes, kernel in one shot vs in pieces.

E5 at paper shapes runs Path-X (L 16 384) through 6 S4D layers of H 128, d_state 64 (32 complex
modes): the one-shot Vandermonde kernel keeps about six (H, M, L) float tensors per layer for the
backward pass. ``contlaws.models.s4d.s4d_kernel`` builds it in pieces of at most
``KERNEL_CHUNK_ELEMENTS`` and recomputes them in the backward pass. Each variant runs in a fresh
process; the peak resident memory (``ru_maxrss``) and the wall time of one forward+backward are printed.

    python benchmarks/bench_s4d_memory.py [--batch 16] [--length 16384]
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(2)
from contlaws.models import s4d
chunk, batch, length = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
layer = s4d.S4D(128, d_state=64)
u = torch.randn(batch, 128, length)
kernel = s4d.s4d_kernel
s4d.s4d_kernel = lambda *a: kernel(*a, chunk_elements=chunk)  # this run's piece size
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
layer(u).square().mean().backward()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak, "before_mb": base, "seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="batch size (Path-X at paper scale: 16)")
    parser.add_argument("--length", type=int, default=16384, help="sequence length (Path-X: 16384)")
    args = parser.parse_args()
    from contlaws.models.s4d import KERNEL_CHUNK_ELEMENTS

    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    print(f"S4D layer H 128, d_state 64, B {args.batch}, L {args.length}: one forward+backward, 2 threads")
    print(f"{'kernel':<28}{'peak MB':>10}{'layer MB':>10}{'seconds':>10}")
    for name, chunk in (("one shot", 2**62), (f"pieces of {KERNEL_CHUNK_ELEMENTS} elements", KERNEL_CHUNK_ELEMENTS)):
        out = subprocess.run([sys.executable, "-c", CHILD, str(chunk), str(args.batch), str(args.length)],
                             env=env, capture_output=True, text=True, check=True)  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<28}{row['peak_mb']:>10.0f}{row['peak_mb'] - row['before_mb']:>10.0f}{row['seconds']:>10.2f}")


if __name__ == "__main__":
    main()
