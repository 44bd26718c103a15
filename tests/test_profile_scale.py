"""benchmarks/profile_scale.py: per-rule time shares from Snakemake benchmark files written here in
Snakemake's format, its error messages, and the start-up timing of `contlaws` commands."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys

import pytest
from conftest import REPO

SCRIPT = REPO / "benchmarks" / "profile_scale.py"
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


@pytest.fixture(scope="module")
def profile():
    spec = importlib.util.spec_from_file_location("profile_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile_scale"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def row(s, rss, cpu):
    return f"{s}\t0:00:00\t{rss}\t1.0\t1.0\t1.0\t0.0\t0.0\t50.0\t{cpu}\n"


def write_run(root, files: dict[str, str]):
    """``root/logs/quick/benchmarks/<rule>/<job>.tsv`` from {"rule/job": text}; returns the folder."""
    bench = root / "logs" / "quick" / "benchmarks"
    for name, text in files.items():
        path = bench / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return bench


@pytest.fixture()
def run(tmp_path):
    """Three rules. train: 2 jobs (10 s, 30 s wall; 5, 15 s CPU); plot: one job run twice (benchmark
    repeat: 60 s and 20 s wall, 1 and 3 s CPU); config: one job too short to sample (NA)."""
    return write_run(tmp_path, {
        "train/seed0": HEADER + row(10, 500.5, 5),
        "train/seed1": HEADER + row(30, 700.25, 15),
        "plot/figure": HEADER + row(60, 90, 1) + row(20, 95, 3),
        "config/config": HEADER + row(5, "NA", "NA"),
    })  # fmt: skip


def test_shares_sum_to_one_sorted_by_share(profile, run):
    rows = {r["rule"]: r for r in profile.rule_table(profile.collect_rules(run))}
    total_wall, total_cpu = 10 + 30 + 60 + 20 + 5, 5 + 15 + 1 + 3
    assert rows["train"]["wall_share"] == pytest.approx(40 / total_wall)
    assert rows["plot"]["wall_share"] == pytest.approx(80 / total_wall)
    assert rows["config"]["wall_share"] == pytest.approx(5 / total_wall)
    assert math.fsum(r["wall_share"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["train"]["cpu_share"] == pytest.approx(20 / total_cpu)
    assert math.fsum(r["cpu_share"] for r in rows.values()) == pytest.approx(1.0)

    by_wall = [r["rule"] for r in profile.rule_table(profile.collect_rules(run), "wall")]
    by_cpu = [r["rule"] for r in profile.rule_table(profile.collect_rules(run), "cpu")]
    assert by_wall == ["plot", "train", "config"]
    assert by_cpu == ["train", "plot", "config"]


def test_per_rule_statistics(profile, run):
    rows = {r["rule"]: r for r in profile.rule_table(profile.collect_rules(run))}
    train, plot, config = rows["train"], rows["plot"], rows["config"]
    assert (train["jobs"], train["wall_sum_s"], train["wall_median_s"], train["wall_max_s"]) == (2, 40, 20, 30)
    assert (train["cpu_sum_s"], train["cpu_median_s"], train["cpu_max_s"], train["max_rss_mb"]) == (20, 10, 15, 700.25)
    # each row of a benchmark repeat counts as one job
    assert (plot["jobs"], plot["wall_median_s"], plot["cpu_sum_s"], plot["max_rss_mb"]) == (2, 40, 4, 95)
    # NA: the job counts for wall time, not for CPU or memory, and is reported as unsampled
    assert (config["jobs"], config["wall_sum_s"], config["cpu_sum_s"], config["unsampled"]) == (1, 5, 0, 1)
    assert math.isnan(config["cpu_median_s"]) and math.isnan(config["max_rss_mb"])


def test_workdir_form_prints_the_table_and_writes_the_same_csv(profile, run, tmp_path, capsys):
    out = tmp_path / "tables" / "rules.csv"
    assert profile.main(["--workdir", str(tmp_path), "--run", "quick", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 jobs in 3 rules, 125.0 s wall, 24.0 s CPU" in printed
    lines = [line for line in printed.splitlines() if line.startswith("| ") and not line.startswith("| rule")]
    assert [line.split(" | ")[0].strip("| ") for line in lines] == ["plot", "train", "config", "total"]
    with out.open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["rule"] for r in table] == ["plot", "train", "config", "total"]
    assert float(table[0]["wall_share"]) == pytest.approx(80 / 125, rel=1e-5)
    assert table[2]["cpu_median_s"] == "" and table[3]["wall_share"] == "1"
    assert list(table[0]) == list(profile.RULE_COLUMNS)
    assert [p.name for p in out.parent.iterdir()] == ["rules.csv"]  # no temporary file left


def test_empty_file_is_skipped_with_a_warning_naming_it(profile, run, capsys):
    (run / "train" / "seed2.tsv").write_text("")
    assert profile.main(["--run-dir", str(run)]) == 0
    captured = capsys.readouterr()
    assert f"warning: {run / 'train' / 'seed2.tsv'}: empty benchmark file" in captured.err
    assert "| train | 2 |" in captured.out  # the empty job is not counted


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "no such folder"),
        ({}, "no benchmark files (<rule>/*.tsv)"),
        ({"a/x": "", "b/y": "\n"}, "every benchmark file is empty"),
        ({"a/x": "wall\tcpu\n1\t2\n"}, "a/x.tsv: not a Snakemake benchmark file (header lacks s, max_rss, cpu_time)"),
        ({"a/x": HEADER + row(1, 2, "fast")}, "a/x.tsv: line 2: column 'cpu_time' is 'fast', not a number"),
        ({"a/x": HEADER + row(-1, 2, 3)}, "a/x.tsv: line 2: column 's' is '-1', not a non-negative number"),
        ({"a/x": HEADER + "1\t0:00:01\t2\n"}, "a/x.tsv: line 2: 3 fields, the header has 10"),
        ({"a/x": HEADER + row("NA", 2, 3)}, "a/x.tsv: line 2: no wall time"),
    ],
)
def test_bad_input_one_error_line_exit_2_no_csv(profile, tmp_path, capsys, files, message):
    bench = tmp_path / "logs" / "quick" / "benchmarks"
    if files is not None:
        bench.mkdir(parents=True)
        write_run(tmp_path, files)
    out = tmp_path / "rules.csv"
    assert profile.main(["--run-dir", str(bench), "--csv", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not out.exists()


def test_csv_never_replaces_a_benchmark_file(profile, run, capsys):
    target = run / "train" / "seed0.tsv"
    before = target.read_text()
    assert profile.main(["--run-dir", str(run), "--csv", str(target)]) == 2
    assert "is one of the benchmark files it reads" in capsys.readouterr().err
    assert target.read_text() == before


def test_needs_a_run_or_startup(profile, capsys):
    with pytest.raises(SystemExit) as stop:
        profile.main([])
    assert stop.value.code == 2 and "give --run-dir" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Start-up timing
# ---------------------------------------------------------------------------------------------
def test_rule_commands_are_read_from_the_rule_files(profile, tmp_path):
    (tmp_path / "a.smk").write_text(
        'print(f"contlaws run {RUN}: ...")\n'  # prose, not a command
        '    shell: "contlaws data generate regression --config {params.config} > {log} 2>&1"\n'
        '    shell: "contlaws claims evaluate C1 --config {params.config}"\n'
        '    """Train one model (engine: contlaws train; resumes from last.pt)."""\n'
    )
    (tmp_path / "b.smk").write_text('    shell: "contlaws train --config x && contlaws report-page --title t"\n')
    assert profile.rule_commands(tmp_path) == [
        ("data", "generate", "regression"), ("claims", "evaluate"), ("train",), ("report-page",),
    ]  # fmt: skip


def test_the_workflow_calls_known_commands(profile):
    from contlaws.commands import COMMANDS

    found = profile.rule_commands(REPO / "workflow" / "rules")
    assert {c[0] for c in found} <= set(COMMANDS)
    assert {("train",), ("config",), ("task-continuity",), ("claims", "evaluate"), ("bench", "prepare")} <= set(found)


def test_startup_table_times_fresh_processes(profile):
    rows = profile.startup_table([["config", "--help"]], {"here": REPO / "src"}, repeats=1, log=lambda _: None)
    assert [r["command"] for r in rows] == ["python -c pass", "config --help"]
    assert all(r["here_median_s"] > 0 for r in rows)
    assert rows[1]["here_heavy"] == "-"  # the parser of a light command imports none of torch/scipy/pandas/matplotlib


def test_startup_names_a_failing_command(profile):
    failed = r"`no-such-command` failed \(exit 2\): .*invalid choice: 'no-such-command'"
    with pytest.raises(profile.ProfileError, match=failed):
        profile.startup_table([["no-such-command"]], {"here": REPO / "src"}, repeats=1, log=lambda _: None)


# --- schedule: makespan against its lower bounds, from a Snakemake log ---------------------------
def log_text(jobs, unfinished=()):
    """A Snakemake log in its own format: jobs (jobid, rule, start_s, end_s, inputs, outputs), in start order."""
    def stamp(t):
        return f"[Mon Dec  7 10:{t // 60:02d}:{t % 60:02d} 2026]"

    events = []
    for jobid, rule, start, end, inputs, outputs in jobs:
        lines = [stamp(start), f"{'localrule' if rule.startswith('local_') else 'rule'} {rule}:"]
        if inputs:
            lines.append(f"    input: {', '.join(inputs)}")
        lines += [f"    output: {', '.join(outputs)}", f"    log: logs/{rule}.log", f"    jobid: {jobid}",
                  f"    reason: Missing output files: {outputs[0]}", "    resources: tmpdir=/tmp", ""]
        events.append((start, 0, lines))
        if jobid not in unfinished:
            events.append((end, 1, [stamp(end), f"Finished jobid: {jobid} (Rule: {rule})",
                                    f"{jobid} of 9 steps done"]))
    events.sort(key=lambda e: (e[0], e[1]))
    body = ["Building DAG of jobs...", "Job stats:", "job  count", "total 5", "", "Select jobs to execute..."]
    return "\n".join(body + [line for _, _, lines in events for line in lines]) + "\n"


# a (0-10) -> c (10-30) -> e (30-31); b (0-4) -> d (4-6) -> e; the critical path a, c, e is 31 s
DIAMOND = [
    (1, "a", 0, 10, [], ["x/a.npz"]),
    (2, "b", 0, 4, ["data/raw.csv"], ["x/b.npz"]),
    (3, "d", 4, 6, ["x/b.npz"], ["x/d.csv"]),
    (4, "c", 10, 30, ["x/a.npz", "data/raw.csv"], ["x/c.csv", "x/c2.csv"]),
    (5, "e", 30, 31, ["x/c.csv", "x/d.csv"], ["x/e.json"]),
]


def test_schedule_bounds_and_critical_path_of_a_known_dag(profile, tmp_path):
    path = tmp_path / "run.snakemake.log"
    path.write_text(log_text(DIAMOND))
    jobs = profile.read_snakemake_log(path)
    assert [(j.jobid, j.start, j.end) for j in jobs] == [(1, 0, 10), (2, 0, 4), (3, 4, 6), (4, 10, 30), (5, 30, 31)]
    assert profile.job_dependencies(jobs) == {1: set(), 2: set(), 3: {2}, 4: {1}, 5: {4, 3}}
    s = profile.schedule_summary(jobs, cores=2)
    assert s["makespan_s"] == 31 and s["job_wall_sum_s"] == 37
    assert s["work_bound_s"] == 18.5 and s["critical_path_s"] == 31 and s["lower_bound_s"] == 31
    assert [j.rule for j in s["critical_path"]] == ["a", "c", "e"]
    assert s["idle_core_s"] == 2 * 31 - 37
    one_core = profile.schedule_summary(jobs, cores=1)
    assert one_core["lower_bound_s"] == 37 and one_core["makespan_over_bound"] == 31 / 37


def test_schedule_follows_a_dependency_that_ends_in_the_same_second(profile, tmp_path):
    """1 s stamps: a zero-second job and the one reading its output can share start and end."""
    jobs = [(7, "local_make", 5, 5, [], ["x/m.npz"]), (3, "use", 5, 5, ["x/m.npz"], ["x/u.csv"]),
            (9, "train", 5, 65, ["x/u.csv"], ["x/t.pt"])]
    path = tmp_path / "run.snakemake.log"
    path.write_text(log_text(jobs))
    s = profile.schedule_summary(profile.read_snakemake_log(path), cores=2)
    assert [j.jobid for j in s["critical_path"]] == [7, 3, 9] and s["critical_path_s"] == 60


def test_schedule_leaves_out_unfinished_jobs_with_a_warning(profile, tmp_path):
    path = tmp_path / "run.snakemake.log"
    path.write_text(log_text(DIAMOND, unfinished={5}))
    warnings = []
    jobs = profile.read_snakemake_log(path, warn=warnings.append)
    assert [j.jobid for j in jobs] == [1, 2, 3, 4]
    assert len(warnings) == 1 and "1 job(s) started and never finished" in warnings[0] and "[5]" in warnings[0]


def test_schedule_cli_prints_the_bound_and_writes_csv(profile, tmp_path, capsys):
    path, out = tmp_path / "run.snakemake.log", tmp_path / "schedule.csv"
    path.write_text(log_text(DIAMOND))
    assert profile.main(["--schedule", str(path), "--cores", "2", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "makespan 31 s" in text and "critical path 31 s" in text and "bound by the critical path" in text
    row = next(csv.DictReader(out.open()))
    assert float(row["work_bound_s"]) == 18.5 and int(row["jobs"]) == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "cannot read the Snakemake log"), ("Building DAG of jobs...\n", "no finished job in this log"),
     ("rule a:\n    jobid: 1\n", "before any [time] line")],
)
def test_schedule_bad_log_one_error_line_exit_2(profile, tmp_path, capsys, text, message):
    path = tmp_path / "run.snakemake.log"
    if text is not None:
        path.write_text(text)
    assert profile.main(["--schedule", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0] and str(path) in err[0]
