"""glibc malloc thresholds (contlaws.allocator) on real E3 trainings: step CPU time, peak memory, same bytes.

    python benchmarks/bench_malloc.py [--config config/evidence.yaml] [--models s4d s6 transformer linear_attention]
                                      [--epochs 2] [--repeats 3] [--system dho] [--eta 0.5]

Generates one E3 forecasting set (train and val splits of ``--system`` at ``--eta``, the config's
sizes), then runs ``contlaws train --experiment eta_performance`` for each model ``--epochs`` epochs,
one thread, two ways in turn, ``--repeats`` times (the order swapped every other round, so that
background load falls on both alike):

  default    the thresholds raised in-process (what every ``contlaws`` command does)
  glibc      CONTLAWS_MALLOC_TUNING=0: glibc's defaults (large tensors from fresh mmaps, heap trimmed)

It prints, per model and way, the median optimizer-step CPU time (from the run's metrics.csv), the
process's CPU seconds (user + system) and its peak RSS, and checks that the two ways trained the same
weights (every tensor of best.pt and last.pt equal) and wrote the same metrics.csv (time columns aside).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from contlaws.config import load_config

WAYS = {"default": {}, "glibc": {"CONTLAWS_MALLOC_TUNING": "0"}}
# metrics.csv columns ending in this hold wall-clock or CPU time: they differ between any two runs
TIME_SUFFIX = "seconds"


def contlaws(*args: str, env: dict | None = None) -> tuple[float, float]:
    """Run one ``contlaws`` command; return its own (CPU seconds, peak RSS MiB)."""
    proc = subprocess.Popen([sys.executable, "-m", "contlaws", *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage alone
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"contlaws {' '.join(args)}: exit {proc.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux


def make_inputs(folder: Path, config: Path, system: str, eta: float, epochs: int) -> tuple[Path, Path, Path]:
    cfg = load_config(config)
    cfg["eta_performance"]["epochs"] = epochs
    cfg["eta_performance"]["train"] = {**cfg["eta_performance"].get("train", {}), "early_stopping": None}
    cfg["threads"] = 1
    resolved = folder / "config.json"
    resolved.write_text(json.dumps(cfg))
    splits = {}
    for split in ("train", "val"):
        latent = folder / f"latent_{split}.npz"
        contlaws("data", "generate", "forecasting-latent", "--config", str(resolved), "--system", system,
                 "--split", split, "--out", str(latent))
        splits[split] = folder / f"{split}.npz"
        contlaws("data", "generate", "forecasting", "--latent", str(latent), "--eta", f"{eta:g}", "--out",
                 str(splits[split]))
    return resolved, splits["train"], splits["val"]


def step_cpu_ms(metrics: Path) -> float:
    with metrics.open() as fh:
        rows = list(csv.DictReader(fh))
    column = next(c for c in ("step_cpu_seconds", "step_seconds") if c in rows[0])
    return 1000 * statistics.median(float(r[column]) for r in rows)


def same_results(a: Path, b: Path) -> bool:
    """The same weights (best.pt, last.pt: every tensor equal) and metrics.csv apart from its time columns."""
    import torch

    from contlaws.train import read_checkpoint

    for name in ("best.pt", "last.pt"):
        sa, sb = (read_checkpoint(run / name)["model_state"] for run in (a, b))
        if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
            return False
    rows = []
    for run in (a, b):
        with (run / "metrics.csv").open() as fh:
            rows.append([{k: v for k, v in r.items() if not k.endswith(TIME_SUFFIX)} for r in csv.DictReader(fh)])
    return rows[0] == rows[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "config" / "evidence.yaml")
    parser.add_argument("--models", nargs="+", default=["s4d", "s6", "transformer", "linear_attention"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--system", default="dho")
    parser.add_argument("--eta", type=float, default=0.5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench_malloc_"))
    try:
        config, train, val = make_inputs(folder, args.config, args.system, args.eta, args.epochs)
        results = {(m, w): [] for m in args.models for w in WAYS}
        identical = {m: True for m in args.models}
        for rep in range(args.repeats):
            for model in args.models:
                ways = list(WAYS) if rep % 2 == 0 else list(WAYS)[::-1]
                for way in ways:
                    out = folder / f"{model}_{way}_{rep}"
                    cpu, rss = contlaws("train", "--config", str(config), "--model", model, "--train", str(train),
                                        "--val", str(val), "--out", str(out), "--seed", "0", "--experiment",
                                        "eta_performance", env=WAYS[way])
                    results[model, way].append((step_cpu_ms(out / "metrics.csv"), cpu, rss))
                identical[model] &= same_results(folder / f"{model}_default_{rep}", folder / f"{model}_glibc_{rep}")
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"E3 trainings ({args.system}, eta {args.eta:g}, {args.config.name} sizes), {args.epochs} epoch(s), "
              f"one thread; median of {args.repeats}; load average after {load}")
        print("| model | way | step CPU ms | process CPU s | peak RSS MiB | glibc / default step | same weights and metrics |")
        print("|---|---|---:|---:|---:|---:|---|")
        for model in args.models:
            med = {w: [statistics.median(x[i] for x in results[model, w]) for i in range(3)] for w in WAYS}
            ratio = med["glibc"][0] / med["default"][0]
            for way in WAYS:
                step, cpu, rss = med[way]
                print(f"| {model} | {way} | {step:.1f} | {cpu:.1f} | {rss:.0f} | "
                      f"{f'{ratio:.2f}' if way == 'default' else ''} | {'yes' if identical[model] else 'NO'} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
