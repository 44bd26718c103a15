"""The compute budget of a config (docs/paper-scale.md), from its settings and the paper-shapes run.

    python benchmarks/compute_budget.py collect [--workdir build/paper_shapes] [--out benchmarks/paper_shapes_measured.csv]
    python benchmarks/compute_budget.py report [--config config/config.yaml] [--measured ...] [--out docs/paper-scale.md] [--check]

``collect`` reads what `make paper-shapes` measured: the Snakemake benchmark file of every job
(logs/<run>/benchmarks/<rule>/*.tsv: wall seconds ``s``, CPU seconds ``cpu_time``, peak resident
memory ``max_rss`` in MB, sampled), each training's exact peak (``peak_rss_mb`` in its summary.json)
and seconds per optimizer step (``step_seconds``, ``step_cpu_seconds`` in its metrics.csv, epochs at
stride 1), and writes one row per rule and key (model for E2/E3, task/mode for E5): jobs, median
seconds and CPU seconds, largest peak memory, median seconds and CPU seconds per step.

``report`` writes the budget tables: per training kind, the optimizer steps at the config's scale
(ceil(n_train / batch) x epochs x runs), the FLOPs per step, the measured CPU seconds and peak
memory per step at paper shapes, the projected seconds per step and GPU hours on one H100-class GPU
(contlaws.budget: formulas and assumptions); the evaluation passes; every rule's cluster request;
totals per figure and for the study. Between the markers ``<!-- budget:begin -->`` and
``<!-- budget:end -->`` of --out it replaces the text; the prose around them stays. With ``--check`` it
writes nothing and exits 1 where that text differs from what the code and measurements give now
(a test runs it on docs/paper-scale.md, so the page cannot drift from the code unnoticed).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from contlaws import budget
from contlaws.config import PAPER_CONFIG, deep_merge, read_config_file, validate_config
from contlaws.io import write_text as atomic_write_text
from contlaws.models.registry import MODEL_NAMES

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- budget:begin -->", "<!-- budget:end -->"
# (rule, benchmark/metrics name) -> key: the model (E2, E3) or task/mode (E5)
KEY_PATTERNS = {
    "train_refinement": re.compile(r"train_[a-z]+_(?P<key>[a-z0-9_]+?)_(zoh|bilinear)_seed\d+"),
    "evaluate_refinement": re.compile(r"evaluate_[a-z]+_(?P<key>[a-z0-9_]+?)_(zoh|bilinear)_seed\d+"),
    "eta_train": re.compile(r"train_[a-z]+_eta[0-9.]+_(?P<key>[a-z0-9_]+?)_seed\d+"),
    "subsample_train": re.compile(r"train_(?P<task>[a-z0-9_]+?)_(?P<mode>subsampled|baseline)_seed\d+"),
    # C4(b): one job per task, model and seed (train_job: run) -> "task/model"; task and model names both
    # hold "_", so the model must be one the registry knows (listops_synth_linear_attention)
    "alignment_benchmarks_train": re.compile(
        rf"train_(?P<task>[a-z0-9_]+?)_(?P<mode>{'|'.join(MODEL_NAMES)})_seed\d+"),
}


def _run_name(metrics: Path) -> str:
    """The run folder's name without its seed: <results>/.../<name>_seed<k>/metrics.csv -> <name>."""
    return metrics.parent.name.rsplit("_seed", 1)[0]


def _task_slash_run(metrics: Path) -> str:
    """E5 and C4(b) runs lie in a folder per task: .../<task>/<name>_seed<k>/metrics.csv -> <task>/<name>."""
    return f"{metrics.parent.parent.name}/{_run_name(metrics)}"


METRICS_GLOBS = {  # where each training rule's metrics.csv lies under results/<run>/, and its key
    "train_refinement": ("refinement_trained/*/*/metrics.csv", lambda p: p.parent.name.split("_")[0]),
    "eta_train": ("eta_performance/*/*/*/metrics.csv", _run_name),
    "subsample_train": ("subsampling/*/*/metrics.csv", _task_slash_run),
    "alignment_benchmarks_train": ("alignment_benchmarks/runs/*/*/metrics.csv", _task_slash_run),
}


def benchmark_key(rule: str, stem: str) -> str:
    pattern = KEY_PATTERNS.get(rule)
    match = pattern.fullmatch(stem) if pattern else None
    if match is None:
        return ""
    groups = match.groupdict()
    return f"{groups['task']}/{groups['mode']}" if "task" in groups else groups["key"]


def read_benchmark(path: Path) -> dict[str, float]:
    """The first row of a Snakemake benchmark file (tab-separated; ``s`` seconds, ``max_rss`` MB)."""
    with path.open(newline="") as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    def number(key):
        value = row.get(key)
        return float(value) if value not in (None, "", "-", "NA") else math.nan

    return {"seconds": number("s"), "cpu_seconds": number("cpu_time"), "max_rss_mb": number("max_rss")}


def collect(workdir: Path, run: str) -> list[dict]:
    """One row per (rule, key) measured in ``workdir`` (see the module docstring)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in sorted((workdir / "logs" / run / "benchmarks").glob("*/*.tsv")):
        rule = path.parent.name
        groups[(rule, benchmark_key(rule, path.stem))].append(read_benchmark(path))
    steps: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu_steps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rule, (pattern, key_of) in METRICS_GLOBS.items():
        for path in sorted((workdir / "results" / run).glob(pattern)):
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("step_seconds") and int(row["stride"]) == 1:
                        steps[(rule, key_of(path))].append(float(row["step_seconds"]))
                        if row.get("step_cpu_seconds"):
                            cpu_steps[(rule, key_of(path))].append(float(row["step_cpu_seconds"]))
    # a training's own peak (summary.json): Snakemake samples max_rss every 0.5 s, then every 30 s
    peaks: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rule, (pattern, key_of) in METRICS_GLOBS.items():
        for path in sorted((workdir / "results" / run).glob(pattern.replace("metrics.csv", "summary.json"))):
            peak = json.loads(path.read_text()).get("peak_rss_mb")
            if peak is not None:
                peaks[(rule, key_of(path))].append(float(peak))
    rows = []
    for (rule, key), items in sorted(groups.items()):
        rss = [i["max_rss_mb"] for i in items if not math.isnan(i["max_rss_mb"])] + peaks.get((rule, key), [])
        cpu = [i["cpu_seconds"] for i in items if not math.isnan(i["cpu_seconds"])]
        step, cpu_step = steps.get((rule, key)), cpu_steps.get((rule, key))
        rows.append({"rule": rule, "key": key, "jobs": len(items),
                     "seconds": round(statistics.median(i["seconds"] for i in items), 2),
                     "cpu_seconds": round(statistics.median(cpu), 2) if cpu else "",
                     "max_rss_mb": round(max(rss), 1) if rss else "",
                     "step_seconds": round(statistics.median(step), 3) if step else "",
                     "step_cpu_seconds": round(statistics.median(cpu_step), 3) if cpu_step else ""})  # fmt: skip
    return rows


def write_measured(rows: list[dict], out: Path) -> None:
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=budget.MEASURED_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def _num(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _first_number(*values) -> float:
    return next((v for v in values if v is not None and not math.isnan(v)), math.nan)


def training_rows(cfg: dict, measured: dict) -> list[dict]:
    rows = []
    for job in budget.training_jobs(cfg):
        m = budget._measured(measured, job.rule, job.key) if (job.rule, job.key) in measured else {}
        train_s = budget.gpu_seconds_per_run(job) * job.runs
        eval_s = budget.gpu_seconds_evaluation(job, cfg) * job.runs
        rows.append({
            "figure": budget.FIGURE_OF_RULE[job.rule], "rule": job.rule, "key": job.key, "runs": job.runs,
            "steps_per_run": job.steps_per_run, "steps": job.steps, "shape": f"{job.batch}x{job.length}x{job.d_model}",
            "gflop_per_step": budget.flops_per_step(job) / 1e9,
            "cpu_s_per_step": _first_number(m.get("step_cpu_seconds"), m.get("step_seconds")),
            "wall_s_per_step": m.get("step_seconds", math.nan), "peak_mb": m.get("max_rss_mb", math.nan),
            "gpu_s_per_step": budget.gpu_seconds_per_step(job), "gpu_hours": train_s / 3600,
            "eval_gpu_hours": eval_s / 3600,
            "cpu_hours": _first_number(m.get("step_cpu_seconds"), m.get("step_seconds")) * job.steps / 3600,
        })  # fmt: skip
    return rows


def report(cfg: dict, measured: dict, job_counts: dict[str, int] | None = None,
           shapes: dict | None = None) -> str:  # fmt: skip
    """The budget tables (markdown) of ``cfg``."""
    rows = training_rows(cfg, measured)
    out = [(f"Config: run `{cfg['run_name']}`. GPU: {budget.GPU['name']}, achieved fraction "
            f"{budget.GPU['achieved_fraction']} of peak, {budget.GPU['launch_seconds'] * 1e6:g} µs per kernel launch."),
           "", "### Trainings", "",
           ("| figure | rule | model / task | runs | steps per run | steps | B x L x D | GFLOP per step | "
            "CPU s per step (paper shapes) | wall s per step (paper shapes) | peak MB (paper shapes) | "
            "GPU s per step (projected) | GPU h training | GPU h evaluation |"),
           "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        out.append(f"| {r['figure']} | {r['rule']} | {r['key']} | {r['runs']} | {r['steps_per_run']:,} | {r['steps']:,} | "
                   f"{r['shape']} | {_num(r['gflop_per_step'])} | {_num(r['cpu_s_per_step'])} | "
                   f"{_num(r['wall_s_per_step'])} | {_num(r['peak_mb'], 4)} | "
                   f"{_num(r['gpu_s_per_step'])} | {_num(r['gpu_hours'])} | {_num(r['eval_gpu_hours'])} |")  # fmt: skip
    per_figure: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        fig = per_figure[r["figure"]]
        fig["steps"] += r["steps"]
        fig["gpu_hours"] += r["gpu_hours"] + r["eval_gpu_hours"]
        fig["cpu_hours"] += r["cpu_hours"] if not math.isnan(r["cpu_hours"]) else 0.0
        fig["unmeasured"] += math.isnan(r["cpu_hours"])
    out += ["", "### Per figure", "",
            "| figure | optimizer steps | GPU hours (projected, one GPU) | CPU hours at the measured CPU s per step (one thread) |",
            "|---|---:|---:|---:|"]  # fmt: skip
    total = defaultdict(float)
    for name, fig in per_figure.items():
        note = f" ({int(fig['unmeasured'])} kind(s) not measured)" if fig["unmeasured"] else ""
        out.append(f"| {name} | {fig['steps']:,.0f} | {_num(fig['gpu_hours'])} | {_num(fig['cpu_hours'])}{note} |")
        for k in ("steps", "gpu_hours", "cpu_hours"):
            total[k] += fig[k]
    out.append(f"| **whole study** | **{total['steps']:,.0f}** | **{_num(total['gpu_hours'])}** | "
               f"**{_num(total['cpu_hours'])}** |")
    if job_counts is not None and shapes is not None:
        costs = budget.RuleCosts(cfg, measured, shapes)
        out += ["", "### Every rule: measured at paper shapes, requested at this scale", "",
                ("| rule | jobs | median s per job (paper shapes) | median CPU s per job | peak MB (paper shapes) "
                 "| runtime min (attempt 1) | mem_mb (attempt 1) |"),
                "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        from contlaws.experiments.refinement_trained import evaluation_mem_mb

        own_mem = {  # rules that keep the memory formula they had (workflow/rules/*.smk), times the attempt
            "bench_prepare_real": "32,000 (Path-X), else 8,000",
            "evaluate_refinement": f"{evaluation_mem_mb(cfg):,}",
            "task_continuity_score": "3 x input MB + 500 (at least 1,000)",
        }
        for rule, n in sorted(job_counts.items()):
            m = budget._measured(measured, rule)
            wildcards = _example_wildcards(rule, cfg)
            minutes, mem = costs.request(rule, wildcards)
            mem = own_mem.get(rule, f"{mem:,}")
            out.append(f"| {rule} | {n} | {_num(m.get('seconds', math.nan))} | {_num(m.get('cpu_seconds', math.nan))} | "
                       f"{_num(m.get('max_rss_mb', math.nan), 4)} | "
                       f"{minutes:,}{' (largest)' if wildcards else ''} | {mem} |")  # fmt: skip
    return "\n".join(out) + "\n"


def _example_wildcards(rule: str, cfg: dict) -> dict:
    """The most expensive job's wildcards of a training rule (the table shows its request)."""
    if rule in ("regression_dataset", "forecasting_dataset"):  # the largest split
        return {"split": "train", "tau": str(min(cfg["regression"]["taus"]))}
    jobs = [j for j in budget.training_jobs(cfg) if j.rule == rule]
    if not jobs:
        return {}
    job = max(jobs, key=budget.gpu_seconds_per_run)
    if rule == "subsample_train":
        task, mode = job.key.split("/")
        return {"task": task, "mode": mode}
    if rule == "alignment_benchmarks_train":
        task, model = job.key.split("/")
        return {"task": task, "model": model, "seed": "0"}
    return {"model": job.key}


def dag_job_counts(configfile: Path | None) -> dict[str, int]:
    """Jobs per rule of the full DAG of a config (a Snakemake dry run from scratch, in a temporary folder)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", tmp,
               "-n", "--quiet", "rules", "--cores", "1"]  # fmt: skip
        cmd += ["--configfile", str(REPO / "config" / "config.yaml")]  # the Snakefile's, outside the repository
        if configfile is not None:
            cmd += ["--configfile", str(Path(configfile).resolve())]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    counts = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        # bench_missing_real: the temporary folder has no benchmark downloads (a real run has them)
        if match and match.group(1) not in ("total", "all", "bench_missing_real"):
            counts[match.group(1)] = int(match.group(2))
    return counts


def load(path: Path | None) -> dict:
    base = read_config_file(PAPER_CONFIG)
    return validate_config(deep_merge(base, read_config_file(path)) if path else base, source=str(path or PAPER_CONFIG))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect", help="paper-shapes benchmark files -> measured CSV")
    p.add_argument("--workdir", type=Path, default=REPO / "build" / "paper_shapes")
    p.add_argument("--run", default="paper_shapes")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "paper_shapes_measured.csv")
    p = sub.add_parser("report", help="budget tables of a config (markdown)")
    p.add_argument("--config", type=Path, help="an overlay of the paper config (default: the paper config)")
    p.add_argument("--measured", type=Path, default=REPO / "benchmarks" / "paper_shapes_measured.csv")
    p.add_argument("--out", type=Path, help="write between the budget markers of this file (default: print)")
    p.add_argument("--no-dag", action="store_true", help="skip the per-rule table (it needs a Snakemake dry run)")
    p.add_argument("--check", action="store_true",
                   help="with --out: exit 1 if the file's budget section differs from the report (writes nothing)")
    args = parser.parse_args(argv)
    if args.command == "collect":
        rows = collect(args.workdir, args.run)
        if not rows:
            print(f"error: no benchmark files under {args.workdir / 'logs' / args.run / 'benchmarks'}", file=sys.stderr)
            return 2
        write_measured(rows, args.out)
        print(f"wrote {args.out}: {len(rows)} rows")
        return 0
    cfg = load(args.config)
    shapes = load(REPO / "config" / "paper_shapes.yaml")
    counts = None if args.no_dag else dag_job_counts(args.config)
    text = report(cfg, budget.read_measured(args.measured), counts, shapes)
    if args.out is None:
        print(text, end="")
        return 0
    doc = args.out.read_text()
    if BEGIN not in doc or END not in doc:
        print(f"error: {args.out} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = doc.split(BEGIN, 1)
    new = f"{head}{BEGIN}\n{text}{END}{rest.split(END, 1)[1]}"
    if args.check:
        if new == doc:
            print(f"{args.out}: budget section matches the code and {args.measured.name}")
            return 0
        old_lines = rest.split(END, 1)[0].splitlines()
        diff = difflib.unified_diff(old_lines[1:], text.splitlines(), "in the file", "from the code", lineterm="", n=0)
        print(f"error: {args.out}'s budget section is stale; rerun without --check to update it:", file=sys.stderr)
        print("\n".join(list(diff)[:40]), file=sys.stderr)
        return 1
    atomic_write_text(args.out, new)
    print(f"updated {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
