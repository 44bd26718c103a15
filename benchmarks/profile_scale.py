"""Where a pipeline run spends its time, per rule; and what each job pays before it starts working.

    python benchmarks/profile_scale.py --workdir . --run quick [--csv OUT] [--sort cpu]
    python benchmarks/profile_scale.py --run-dir logs/quick/benchmarks [--csv OUT]
    python benchmarks/profile_scale.py --schedule .snakemake/log/TIME.snakemake.log [--cores 2]
    python benchmarks/profile_scale.py --startup [--repeats 5] [--only train config ...]
        [--command "claims list" ...] [--src before=/path/to/old/src --src after=src] [--csv OUT]

**Rule table** (default mode). Every rule writes a Snakemake benchmark file per job,
``logs/<run>/benchmarks/<rule>/<job>.tsv``: a header and one row per execution with wall seconds
``s``, peak resident memory ``max_rss`` (MB) and CPU seconds ``cpu_time`` (user + system of the job's
processes). Snakemake writes ``NA`` for memory and CPU when the job ended before its first sample;
such rows count for wall time and are listed as ``unsampled``. Per rule the table gives the number of
jobs (rows), wall and CPU seconds (sum, median, max), the largest peak RSS and the rule's share of
the run's total wall and CPU seconds, sorted by share (largest first). An empty file is skipped with
a warning naming it; a missing folder, a folder without benchmark files or a file that is not a
benchmark table stops with one ``error:`` line and exit status 2.

**Start-up table** (``--startup``). Every job is a fresh ``contlaws <command>`` process, so the
interpreter start and the imports are paid once per job. For each command the workflow rules call
(found in ``workflow/rules/*.smk``), this times ``contlaws <command> --help`` as a new process (the
parser of that command is built, nothing runs): wall seconds, median over ``--repeats`` runs, and which
of torch, scipy, pandas, matplotlib the process had imported. ``--command`` adds full command lines
(run as given, e.g. ``"claims list"``). ``--src LABEL=PATH`` (repeatable) times the same commands
against several source trees, alternating between them run by run so that background load affects
them alike; the first row, ``python -c pass``, is the interpreter alone.

**Schedule** (``--schedule LOG``). Whether a run's wall time can shrink by running its jobs in another
order, or only by doing less work. From one Snakemake log (``.snakemake/log/<time>.snakemake.log``) it
reads every job's start and finish (1 s resolution), its input and output files, and hence which
job waited for which (an input another job of the same log wrote). It prints the makespan, the summed
job wall time, the two lower bounds on the makespan that no scheduler beats (summed wall / ``--cores``
and the critical path, the longest chain of jobs that waited on each other), the core-seconds left
idle, and the jobs on the critical path. Where the makespan sits near summed wall / cores, only less
work per job (or fewer jobs) makes the run shorter. A job that started and never finished (failed,
killed) is left out with a warning. Job wall times include the slowdown of running beside other jobs.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE_COLUMNS = ("rule", "jobs", "wall_sum_s", "wall_median_s", "wall_max_s", "wall_share", "cpu_sum_s",
                "cpu_median_s", "cpu_max_s", "cpu_share", "max_rss_mb", "unsampled")  # fmt: skip
REQUIRED = ("s", "max_rss", "cpu_time")
MISSING = ("NA", "-", "")  # what Snakemake writes for a value it could not sample
HEAVY_MODULES = ("torch", "scipy", "pandas", "matplotlib")
# Runs `contlaws` exactly as the entry point does (python -m contlaws), then reports on stderr which
# heavy modules the process imported; atexit also runs after argparse's sys.exit for --help.
RUNNER = (
    "import atexit, runpy, sys\n"
    f"HEAVY = {HEAVY_MODULES!r}\n"
    "atexit.register(lambda: sys.stderr.write('\\nHEAVY=' + ','.join(m for m in HEAVY if m in sys.modules) + '\\n'))\n"
    "sys.argv = ['contlaws', *sys.argv[1:]]\n"
    "runpy.run_module('contlaws', run_name='__main__', alter_sys=True)\n"
)


class ProfileError(Exception):
    """Bad input: printed as one ``error:`` line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Rule table
# ---------------------------------------------------------------------------------------------
@dataclass
class RuleTimes:
    """The benchmark rows of one rule: wall seconds of every job, CPU seconds and peak RSS where sampled."""

    rule: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    unsampled: int = 0


def _number(text: str, path: Path, line: int, column: str) -> float | None:
    """A benchmark value; None for a value Snakemake could not sample; ProfileError for anything else."""
    text = text.strip()
    if text in MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ProfileError(f"{path}: line {line}: column '{column}' is {text!r}, not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ProfileError(f"{path}: line {line}: column '{column}' is {text!r}, not a non-negative number")
    return value


def read_benchmark_file(path: Path) -> list[dict[str, float | None]]:
    """Rows of one Snakemake benchmark TSV as {s, max_rss, cpu_time}; [] for an empty file."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].split("\t")
    absent = [c for c in REQUIRED if c not in header]
    if absent:
        raise ProfileError(f"{path}: not a Snakemake benchmark file (header lacks {', '.join(absent)})")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        values = line.split("\t")
        if len(values) < len(header):
            raise ProfileError(f"{path}: line {number}: {len(values)} fields, the header has {len(header)}")
        row = {c: _number(values[header.index(c)], path, number, c) for c in REQUIRED}
        if row["s"] is None:
            raise ProfileError(f"{path}: line {number}: no wall time (column 's')")
        rows.append(row)
    return rows


def collect_rules(run_dir: Path, warn=print) -> dict[str, RuleTimes]:
    """{rule: its times} from ``run_dir/<rule>/*.tsv``; empty files are skipped with a warning."""
    if not run_dir.is_dir():
        raise ProfileError(f"{run_dir}: no such folder (Snakemake writes logs/<run>/benchmarks/<rule>/*.tsv)")
    files = sorted(run_dir.glob("*/*.tsv"))
    if not files:
        raise ProfileError(f"{run_dir}: no benchmark files (<rule>/*.tsv) in this folder")
    rules: dict[str, RuleTimes] = {}
    for path in files:
        rows = read_benchmark_file(path)
        if not rows:
            warn(f"warning: {path}: empty benchmark file (job interrupted?), skipped")
            continue
        times = rules.setdefault(path.parent.name, RuleTimes(path.parent.name))
        for row in rows:
            times.wall.append(row["s"])
            if row["cpu_time"] is None:
                times.unsampled += 1
            else:
                times.cpu.append(row["cpu_time"])
            if row["max_rss"] is not None:
                times.rss.append(row["max_rss"])
    if not rules:
        raise ProfileError(f"{run_dir}: every benchmark file is empty")
    return rules


def _summary(values: Sequence[float]) -> tuple[float, float, float]:
    """(sum, median, max); NaN for none."""
    if not values:
        return 0.0, math.nan, math.nan
    return math.fsum(values), statistics.median(values), max(values)


def rule_table(rules: dict[str, RuleTimes], sort_by: str = "wall") -> list[dict]:
    """One row per rule (columns :data:`RULE_COLUMNS`), largest share of ``sort_by`` time first."""
    total_wall = math.fsum(math.fsum(t.wall) for t in rules.values())
    total_cpu = math.fsum(math.fsum(t.cpu) for t in rules.values())
    rows = []
    for times in rules.values():
        wall_sum, wall_median, wall_max = _summary(times.wall)
        cpu_sum, cpu_median, cpu_max = _summary(times.cpu)
        rows.append({
            "rule": times.rule, "jobs": len(times.wall),
            "wall_sum_s": wall_sum, "wall_median_s": wall_median, "wall_max_s": wall_max,
            "wall_share": wall_sum / total_wall if total_wall > 0 else math.nan,
            "cpu_sum_s": cpu_sum, "cpu_median_s": cpu_median, "cpu_max_s": cpu_max,
            "cpu_share": cpu_sum / total_cpu if total_cpu > 0 else math.nan,
            "max_rss_mb": max(times.rss) if times.rss else math.nan, "unsampled": times.unsampled,
        })  # fmt: skip
    key = f"{sort_by}_share"
    rows.sort(key=lambda r: (-(0.0 if math.isnan(r[key]) else r[key]), -r["wall_sum_s"], r["rule"]))
    return rows


def total_row(rows: Sequence[dict]) -> dict:
    """The run as a whole, in the rule table's columns."""
    return {"rule": "total", "jobs": sum(r["jobs"] for r in rows),
            "wall_sum_s": math.fsum(r["wall_sum_s"] for r in rows), "wall_median_s": math.nan,
            "wall_max_s": max(r["wall_max_s"] for r in rows), "wall_share": 1.0,
            "cpu_sum_s": math.fsum(r["cpu_sum_s"] for r in rows), "cpu_median_s": math.nan,
            "cpu_max_s": max((r["cpu_max_s"] for r in rows if not math.isnan(r["cpu_max_s"])), default=math.nan),
            "cpu_share": 1.0 if any(r["cpu_sum_s"] > 0 for r in rows) else math.nan,
            "max_rss_mb": max((r["max_rss_mb"] for r in rows if not math.isnan(r["max_rss_mb"])), default=math.nan),
            "unsampled": sum(r["unsampled"] for r in rows)}  # fmt: skip


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def format_table(columns: Sequence[str], rows: Iterable[dict]) -> str:
    """Rows as a Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _csv_cell(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> None:
    """The table as CSV, written to a temporary file beside ``path`` and renamed onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({c: _csv_cell(v) for c, v in row.items()})
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Start-up table
# ---------------------------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """{name: parser} of a parser's sub-commands ({} when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def rule_commands(rules_dir: Path) -> list[tuple[str, ...]]:
    """The ``contlaws`` commands (as word paths, e.g. ("data", "generate", "regression")) that the
    rule files call, in order of first appearance; words are kept while they name a sub-command."""
    from contlaws.commands import COMMANDS, build_parser

    found: dict[tuple[str, ...], None] = {}
    for path in sorted(rules_dir.glob("*.smk")):
        for match in re.finditer(r"\bcontlaws((?: [a-z][a-z0-9-]*)+)", path.read_text(encoding="utf-8")):
            words = match.group(1).split()
            if words[0] not in COMMANDS:
                continue  # prose such as "contlaws run 'quick'" in a print
            command, parser = [], build_parser(words[0])
            for word in words:
                choices = _subcommands(parser)
                if word not in choices:
                    break
                command.append(word)
                parser = choices[word]
            found[tuple(command)] = None
    return list(found)


def time_process(argv: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, heavy modules imported or "-") of one fresh process running ``argv``."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    heavy = re.findall(r"^HEAVY=(.*)$", done.stderr, flags=re.MULTILINE)
    if done.returncode != 0 or (RUNNER in argv and not heavy):
        said = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("HEAVY=")]
        raise ProfileError(f"`{shlex.join(argv[3:])}` failed (exit {done.returncode}): {(said or ['no output'])[-1]}")
    return seconds, (heavy[-1] or "-") if heavy else "-"


def startup_cases(commands: Sequence[Sequence[str]]) -> list[tuple[str, list[str]]]:
    """(name, python arguments) to time: the bare interpreter, then each ``contlaws`` command line."""
    return [("python -c pass", ["-c", "pass"])] + [(shlex.join(c), ["-c", RUNNER, *c]) for c in commands]


def startup_table(commands: Sequence[Sequence[str]], sources: dict[str, Path], repeats: int,
                  log=print) -> list[dict]:  # fmt: skip
    """One row per command: for each source label the median wall seconds and the heavy modules.

    Runs round robin (every command and source once per repeat, the order of the sources reversed
    every other repeat), so that load from other processes spreads over all of them alike."""
    cases = startup_cases(commands)
    labels = list(sources)
    seconds: dict[tuple[str, str], list[float]] = {}
    heavy: dict[tuple[str, str], str] = {}
    for rep in range(repeats):
        for name, python_args in cases:
            for label in labels if rep % 2 == 0 else labels[::-1]:
                env = {**os.environ, "PYTHONPATH": str(sources[label]), "MPLBACKEND": "Agg"}
                wall, heavy[(name, label)] = time_process([sys.executable, *python_args], env)
                seconds.setdefault((name, label), []).append(wall)
        log(f"repeat {rep + 1}/{repeats} done")
    rows = []
    for name, _ in cases:
        row = {"command": name}
        for label in labels:
            row[f"{label}_median_s"] = statistics.median(seconds[(name, label)])
            row[f"{label}_heavy"] = heavy[(name, label)]
        if len(labels) == 2:
            row[f"{labels[1]}/{labels[0]}"] = row[f"{labels[1]}_median_s"] / row[f"{labels[0]}_median_s"]
        rows.append(row)
    return rows


def startup_columns(labels: Sequence[str]) -> list[str]:
    columns = ["command"]
    for label in labels:
        columns += [f"{label}_median_s", f"{label}_heavy"]
    if len(labels) == 2:
        columns.append(f"{labels[1]}/{labels[0]}")
    return columns


def parse_source(text: str) -> tuple[str, Path]:
    """``LABEL=PATH`` of --src: PATH is a folder holding the ``contlaws`` package."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path or not re.fullmatch(r"[A-Za-z0-9_.-]+", label):
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH (label of letters, digits, _.-), got {text!r}")
    return label, Path(path).resolve()


# ---------------------------------------------------------------------------------------------
# Schedule: makespan against the bounds no job order beats
# ---------------------------------------------------------------------------------------------
LOG_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
LOG_RULE = re.compile(r"^(?:local)?rule (\w+):$")
LOG_FIELD = re.compile(r"^\s+(input|output|jobid): (.*)$")
LOG_FINISHED = re.compile(r"^Finished jobid: (\d+)\b")


@dataclass
class LoggedJob:
    """One job of a Snakemake log: its rule, files, and start and finish in seconds from the first start."""

    jobid: int
    rule: str
    start: float
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    end: float | None = None

    @property
    def wall(self) -> float:
        return self.end - self.start


def _files(text: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in text.split(",") if f.strip())


def read_snakemake_log(path: Path, warn=print) -> list[LoggedJob]:
    """The finished jobs of one Snakemake log, start times relative to the first job's start."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        raise ProfileError(f"{path}: cannot read the Snakemake log ({err.strerror or err})") from err
    stamp, pending, jobs = None, None, {}
    for line in lines:
        if m := LOG_TIME.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := LOG_RULE.match(line):
            pending = {"rule": m.group(1), "start": stamp}
        elif pending is not None and (m := LOG_FIELD.match(line)):
            key, value = m.groups()
            if key == "jobid":
                jobid = int(value)
                jobs[jobid] = LoggedJob(jobid, pending["rule"], pending["start"], pending.get("input", ()),
                                        pending.get("output", ()))  # fmt: skip
                pending = None
            else:
                pending[key] = _files(value)
        elif (m := LOG_FINISHED.match(line)) and int(m.group(1)) in jobs:
            jobs[int(m.group(1))].end = stamp
    if any(job.start is None for job in jobs.values()):
        raise ProfileError(f"{path}: a job line comes before any [time] line: not a Snakemake log")
    unfinished = sorted(j for j, job in jobs.items() if job.end is None)
    if unfinished:
        warn(f"warning: {path}: {len(unfinished)} job(s) started and never finished, left out (jobid {unfinished[:5]}...)")
    done = [job for job in jobs.values() if job.end is not None]
    if not done:
        raise ProfileError(f"{path}: no finished job in this log (is it a Snakemake run's log?)")
    t0 = min(job.start for job in done)
    for job in done:
        job.start, job.end = job.start - t0, job.end - t0
    return sorted(done, key=lambda job: (job.start, job.jobid))


def job_dependencies(jobs: Sequence[LoggedJob]) -> dict[int, set[int]]:
    """jobid -> the jobids whose outputs it read (only jobs of this log; earlier files are no dependency)."""
    writer = {out: job.jobid for job in jobs for out in job.outputs}
    return {job.jobid: {writer[f] for f in job.inputs if f in writer and writer[f] != job.jobid} for job in jobs}


def critical_path(jobs: Sequence[LoggedJob], deps: dict[int, set[int]]) -> tuple[float, list[LoggedJob]]:
    """The longest chain of jobs by summed wall time where each waited on the one before: (seconds, chain)."""
    by_id = {job.jobid: job for job in jobs}
    longest: dict[int, tuple[float, int | None]] = {}  # jobid -> (chain seconds ending here, previous job)

    def chain_to(jobid: int) -> float:  # memoized depth-first: chains are a few jobs deep
        if jobid not in longest:
            best = max(((chain_to(d), d) for d in deps[jobid]), default=(0.0, None))
            longest[jobid] = (best[0] + by_id[jobid].wall, best[1])
        return longest[jobid][0]

    jobid = max(by_id, key=chain_to)
    total, chain = longest[jobid][0], []
    while jobid is not None:
        chain.append(by_id[jobid])
        jobid = longest[jobid][1]
    return total, chain[::-1]


def schedule_summary(jobs: Sequence[LoggedJob], cores: int) -> dict:
    """Makespan, summed job wall, the two lower bounds, idle core-seconds and the critical path."""
    deps = job_dependencies(jobs)
    makespan = max(job.end for job in jobs)
    busy = sum(job.wall for job in jobs)
    path_s, chain = critical_path(jobs, deps)
    bound = max(busy / cores, path_s)
    return {"jobs": len(jobs), "cores": cores, "makespan_s": makespan, "job_wall_sum_s": busy,
            "work_bound_s": busy / cores, "critical_path_s": path_s, "lower_bound_s": bound,
            "makespan_over_bound": makespan / bound if bound else math.nan,
            "idle_core_s": cores * makespan - busy, "critical_path": chain}  # fmt: skip


def main_schedule(args: argparse.Namespace) -> None:
    jobs = read_snakemake_log(args.schedule, warn=lambda text: print(text, file=sys.stderr))
    s = schedule_summary(jobs, args.cores)
    print(f"{args.schedule}: {s['jobs']} finished jobs on {s['cores']} cores")
    print(f"makespan {s['makespan_s']:.0f} s; summed job wall {s['job_wall_sum_s']:.0f} s")
    print(f"lower bounds: work / cores {s['work_bound_s']:.0f} s, critical path {s['critical_path_s']:.0f} s; "
          f"makespan / larger bound {s['makespan_over_bound']:.3f}; idle core-seconds {s['idle_core_s']:.0f}")  # fmt: skip
    bound = "work" if s["work_bound_s"] >= s["critical_path_s"] else "the critical path"
    print(f"the run is bound by {bound}: "
          + ("only less work per job, or fewer jobs, shortens it" if bound == "work"
             else "only a shorter chain of dependent jobs shortens it"))  # fmt: skip
    rows = [{"rule": job.rule, "jobid": job.jobid, "start_s": job.start, "end_s": job.end, "wall_s": job.wall}
            for job in s["critical_path"]]  # fmt: skip
    print("critical path:")
    print(format_table(("rule", "jobid", "start_s", "end_s", "wall_s"), rows))
    if args.csv:
        keys = [k for k in s if k != "critical_path"]
        write_csv(args.csv, keys, [{k: s[k] for k in keys}])



# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--run-dir", type=Path, help="a run's benchmark folder (logs/<run>/benchmarks)")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="the pipeline's working folder (default .)")
    parser.add_argument("--run", help="run name: reads WORKDIR/logs/RUN/benchmarks")
    parser.add_argument("--sort", choices=("wall", "cpu"), default="wall",
                        help="order the rules by this share (default wall)")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--schedule", type=Path, metavar="LOG",
                        help="makespan against its lower bounds, from one Snakemake log (.snakemake/log/*.log)")
    parser.add_argument("--cores", type=int, default=2, help="--schedule: the cores the run had (default 2)")
    parser.add_argument("--startup", action="store_true", help="time the start-up of every command the rules call")
    parser.add_argument("--repeats", type=int, default=5, help="--startup: runs per command and source (default 5)")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="--startup: only rule commands starting with these")
    parser.add_argument("--no-rules", action="store_true", help="--startup: only the --command lines")
    parser.add_argument("--command", action="append", default=[], metavar="LINE",
                        help="--startup: also time this full command line, e.g. 'claims list' (repeatable)")
    parser.add_argument("--src", type=parse_source, action="append", metavar="LABEL=PATH",
                        help="--startup: source tree(s) to compare (default: this checkout's src)")
    parser.add_argument("--rules-dir", type=Path, default=REPO / "workflow" / "rules", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
    elif args.schedule is not None:
        if args.cores < 1:
            parser.error("--cores must be at least 1")
    elif args.run_dir is None and args.run is None:
        parser.error("give --run-dir logs/<run>/benchmarks, or --run NAME (with --workdir), or --schedule LOG, "
                     "or --startup")
    return args


def main_rules(args: argparse.Namespace) -> None:
    run_dir = args.run_dir if args.run_dir is not None else args.workdir / "logs" / args.run / "benchmarks"
    if args.csv and args.csv.resolve() in {p.resolve() for p in run_dir.glob("*/*.tsv")}:
        raise ProfileError(f"--csv {args.csv}: is one of the benchmark files it reads")
    rules = collect_rules(run_dir, warn=lambda text: print(text, file=sys.stderr))
    rows = rule_table(rules, args.sort)
    total = total_row(rows)
    print(f"{run_dir}: {total['jobs']} jobs in {len(rows)} rules, {total['wall_sum_s']:.1f} s wall, "
          f"{total['cpu_sum_s']:.1f} s CPU (sorted by {args.sort} share)")  # fmt: skip
    print(format_table(RULE_COLUMNS, [*rows, total]))
    if args.csv:
        write_csv(args.csv, RULE_COLUMNS, [*rows, total])


def main_startup(args: argparse.Namespace) -> None:
    sources = dict(args.src or [("src", REPO / "src")])
    if len(sources) < len(args.src or ()):
        raise ProfileError("--src: each LABEL may be given once")
    for label, path in sources.items():
        if not (path / "contlaws" / "__init__.py").is_file():
            raise ProfileError(f"--src {label}={path}: no contlaws package there")
    commands = [] if args.no_rules else rule_commands(args.rules_dir)
    if args.only:
        commands = [c for c in commands if c[0] in args.only]
    commands = [[*c, "--help"] for c in commands] + [shlex.split(line) for line in args.command]
    if not commands:
        raise ProfileError("no commands to time (check --only / --command)")
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
          f"python {sys.version.split()[0]}; median of {args.repeats} runs", file=sys.stderr)  # fmt: skip
    rows = startup_table(commands, sources, args.repeats, log=lambda text: print(text, file=sys.stderr))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr)
    columns = startup_columns(list(sources))
    print(format_table(columns, rows))
    if args.csv:
        write_csv(args.csv, columns, rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.startup:
            main_startup(args)
        elif args.schedule is not None:
            main_schedule(args)
        else:
            main_rules(args)
    except ProfileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
