"""Speed of the streaming task-continuity metric on one core (spec E4: "a 100k-sequence dataset in seconds").

Measures values per second (sequences × length × channels / wall time) of
TaskContinuityAccumulator.update over a large float32 array fed in batches, for the score alone
(stride 2) and for the default curve (strides 2 4 8 16), then the end-to-end time of
score_dataset on the same array saved as a memory-mapped .npy. Goal: ≥ 100 M values/s.

    python benchmarks/bench_task_continuity.py [--sequences 100000] [--length 1024] [--channels 1]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, set before numpy loads
    os.environ[_var] = "1"

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from contlaws.task_continuity import TaskContinuityAccumulator, score_dataset


def make_data(n: int, length: int, channels: int, seed: int = 0) -> np.ndarray:
    """(n, length, channels) float32: random-phase sinusoids plus noise (content does not affect speed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float32) / length
    x = np.empty((n, length, channels), dtype=np.float32)
    for lo in range(0, n, 4096):
        hi = min(lo + 4096, n)
        phase = rng.uniform(0, 2 * np.pi, size=(hi - lo, 1, channels)).astype(np.float32)
        x[lo:hi] = np.sin(2 * np.pi * 8 * t[None, :, None] + phase)
        x[lo:hi] += 0.1 * rng.standard_normal((hi - lo, length, channels), dtype=np.float32)
    return x


def time_stream(x: np.ndarray, strides, batch_size: int, repeats: int) -> tuple[float, float, float]:
    """Best wall and CPU seconds over ``repeats`` streaming passes, and the score of the last pass.

    CPU time (this process) is reported beside wall time because on a shared machine other jobs
    inflate the wall time of a single-threaded run.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        acc = TaskContinuityAccumulator("refinement", strides)
        wall, cpu = time.perf_counter(), time.process_time()
        for lo in range(0, len(x), batch_size):
            acc.update(x[lo : lo + batch_size])
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, acc.result().score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=100_000)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=2, help="streaming passes per setting; the fastest is reported")
    args = p.parse_args()

    x = make_data(args.sequences, args.length, args.channels)
    n_values = x.size
    print(f"data: {args.sequences} sequences × {args.length} steps × {args.channels} channels float32 "
          f"({x.nbytes / 2**20:.0f} MiB), batches of {args.batch_size}, 1 thread")
    for strides in ((2,), (2, 4, 8, 16)):
        wall, cpu, score = time_stream(x, strides, args.batch_size, args.repeats)
        print(f"streaming, strides {' '.join(map(str, strides)):<9}: wall {wall:6.2f} s = "
              f"{n_values / wall / 1e6:6.1f} M values/s; CPU {cpu:6.2f} s = {n_values / cpu / 1e6:6.1f} M values/s"
              f"  (TC = {score:.4f})")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sequences.npy"
        np.save(path, x)
        del x
        wall, cpu = time.perf_counter(), time.process_time()
        result = score_dataset(path, batch_size=args.batch_size)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"score_dataset on a memory-mapped .npy of {result.n_sequences} sequences (default strides): "
          f"wall {wall:.2f} s, CPU {cpu:.2f} s ({n_values / wall / 1e6:.1f} M values/s wall), TC = {result.score:.4f}")


if __name__ == "__main__":
    main()
