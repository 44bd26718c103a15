"""What a training job pays before it trains: N runs in one `contlaws train` process against one process per run.

    python benchmarks/bench_runs_per_process.py [--runs 4] [--repeats 3] [--models s4d s6] [--epochs 1]

The same N trainings (models x seeds on one small regression split, ``--epochs`` epochs each, one
thread) are run two ways, in turn, ``--repeats`` times, the order swapped every other round so that
background load falls on both alike:

  one process   contlaws train --model M1 M2 --seed 0 1 ... --out DIR/{model}_seed{seed}
                (what eta_performance.train_job: cell and alignment_benchmarks.train_job: task run)
  per run       one `contlaws train --model M --seed S --out DIR/M_seedS` process per run
                (train_job: run, one Snakemake job per run)

and the script prints wall and CPU seconds (the children's user + system time) of each way, median over
the repeats, and the difference per run: the interpreter start, the imports (torch, pandas, the
config schema) and the data loading that grouping pays once instead of N times. Snakemake's own
per-job overhead (scheduling, the job's shell, its benchmark file) comes on top and is not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from contlaws.config import load_config
from contlaws.io import save_npz


def write_inputs(folder: Path, epochs: int, n_train: int = 256, length: int = 128) -> tuple[Path, Path, Path]:
    """(config, train, val): the quick config with ``epochs`` and a sine-frequency regression split."""
    cfg = load_config(REPO / "config" / "quick.yaml")
    cfg["train"].update(epochs=epochs)
    cfg["threads"] = 1
    config = folder / "config.json"
    config.write_text(json.dumps(cfg))
    paths = []
    for name, n, seed in (("train", n_train, 0), ("val", n_train // 4, 1)):
        rng = np.random.default_rng(seed)
        omega = rng.uniform(0.5, 2.0, (n, 1)).astype(np.float32)
        t = np.arange(length, dtype=np.float32) * 0.1
        x = np.sin(omega * t + rng.uniform(0, 2 * np.pi, (n, 1)))[..., None].astype(np.float32)
        path = folder / f"{name}.npz"
        save_npz(path, {"x": x, "y": omega}, {"kind": "regression"})
        paths.append(path)
    return config, paths[0], paths[1]


def timed(commands: list[list[str]]) -> tuple[float, float]:
    """(wall, CPU) seconds of running ``commands`` one after another (CPU: the children's user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for command in commands:
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="trainings per way (models x seeds), default 4")
    parser.add_argument("--models", nargs="+", default=["s4d", "s6"], help="models (default s4d s6)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per training (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both ways (default 3)")
    args = parser.parse_args(argv)
    seeds = list(range(max(1, args.runs // len(args.models))))
    runs = [(m, s) for m in args.models for s in seeds]
    contlaws = shutil.which("contlaws") or sys.exit("error: the `contlaws` command is not on PATH (make venv)")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config, train, val = write_inputs(folder, args.epochs)
        base = [contlaws, "train", "--config", str(config), "--train", str(train), "--val", str(val)]
        results: dict[str, list[tuple[float, float]]] = {"one process": [], "per run": []}
        for repeat in range(args.repeats):
            ways = ["one process", "per run"] if repeat % 2 == 0 else ["per run", "one process"]
            for way in ways:
                out = folder / f"r{repeat}_{way.replace(' ', '_')}"
                if way == "one process":
                    commands = [[*base, "--model", *args.models, "--seed", *map(str, seeds),
                                 "--out", f"{out}/{{model}}_seed{{seed}}"]]  # fmt: skip
                else:
                    commands = [[*base, "--model", m, "--seed", str(s), "--out", f"{out}/{m}_seed{s}"] for m, s in runs]
                results[way].append(timed(commands))
    print(f"{len(runs)} trainings ({', '.join(args.models)} x seeds {seeds}), {args.epochs} epoch(s) each, one thread; "
          f"median of {args.repeats}; load average before {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print("| way | processes | wall s | CPU s |")
    print("|---|---:|---:|---:|")
    med = {}
    for way, rows in results.items():
        med[way] = (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))
        print(f"| {way} | {1 if way == 'one process' else len(runs)} | {med[way][0]:.2f} | {med[way][1]:.2f} |")
    saved_wall = (med["per run"][0] - med["one process"][0]) / max(1, len(runs) - 1)
    saved_cpu = (med["per run"][1] - med["one process"][1]) / max(1, len(runs) - 1)
    print(f"saved per run beyond the first: {saved_wall:.2f} s wall, {saved_cpu:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
