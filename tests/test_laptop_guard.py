"""The laptop guard: `snakemake --cores all` (the paper scale) on a CPU-only machine stops before any job.

The decision is `contlaws.budget.long_cpu_run_refusal` (walked across each condition below); the
workflow's onstart handler calls it with the trainings the DAG still has to run. The projection is
printed when the DAG is built, dry runs included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from contlaws import budget
from contlaws.config import PAPER_CONFIG, deep_merge, load_config, read_config_file, validate_config

MEASURED = budget.read_measured(REPO / "benchmarks" / "paper_shapes_measured.csv")
SHAPES = validate_config(
    deep_merge(read_config_file(PAPER_CONFIG), read_config_file(REPO / "config" / "paper_shapes.yaml")), source="shapes"
)


def _projection(days_on_two_cores: float) -> budget.RunProjection:
    return budget.RunProjection(gpu_hours=1.0, cpu_hours=days_on_two_cores * 2 * 24, trainings=10)


# (days on 2 cores, gpus, local_exec, confirmed) -> refused?
GUARD_TABLE = [
    (1.0, 0, True, False, False),  # exactly a day: may start
    (1.0001, 0, True, False, True),  # just above a day: refused
    (0.5, 0, True, False, False),
    (30.0, 0, True, False, True),
    (30.0, 1, True, False, False),  # a GPU machine: only the projection
    (30.0, 0, False, False, False),  # a cluster executor: only the projection
    (30.0, 0, True, True, False),  # confirm_long_cpu_run: true
]


@pytest.mark.parametrize("days,gpus,local_exec,confirmed,refused", GUARD_TABLE)
def test_the_guard_refuses_exactly_a_long_local_cpu_run_that_is_not_confirmed(days, gpus, local_exec, confirmed, refused):
    message = budget.long_cpu_run_refusal(_projection(days), "paper", cores=2, gpus=gpus, local_exec=local_exec,
                                          confirmed=confirmed)  # fmt: skip
    assert (message is not None) == refused
    if refused:
        assert "make evidence" in message and "confirm_long_cpu_run=true" in message and "\n" not in message


def test_cpu_days_divide_by_the_cores():
    p = budget.RunProjection(gpu_hours=0, cpu_hours=96, trainings=1)
    assert p.cpu_days(1) == pytest.approx(4.0) and p.cpu_days(4) == pytest.approx(1.0)


def test_the_paper_scale_projects_to_weeks_on_a_laptop_and_the_evidence_scale_to_hours():
    paper = budget.run_projection(load_config(REPO / "config" / "config.yaml"), MEASURED, SHAPES)
    evidence = budget.run_projection(load_config(REPO / "config" / "evidence.yaml"), MEASURED, SHAPES)
    assert paper.cpu_days(2) > 30, paper
    assert evidence.cpu_days(2) < budget.LONG_CPU_RUN_DAYS, evidence  # `make evidence` is never refused
    # `make paper-shapes` (2 optimizer steps per epoch at the paper's shapes) is never refused either
    shapes = budget.run_projection(SHAPES, MEASURED, SHAPES)
    assert shapes.cpu_days(2) < budget.LONG_CPU_RUN_DAYS, shapes
    uncapped = budget.run_projection({**SHAPES, "train": {**SHAPES["train"], "max_steps_per_epoch": None}}, MEASURED, SHAPES)
    assert uncapped.cpu_hours > 10 * shapes.cpu_hours
    assert 100 < paper.gpu_hours < 400  # docs/paper-scale.md: about 207 GPU hours
    # counting only some runs of one kind scales that kind's share
    job = budget.training_jobs(load_config(REPO / "config" / "evidence.yaml"))[0]
    one = budget.run_projection(load_config(REPO / "config" / "evidence.yaml"), MEASURED, SHAPES, {(job.rule, job.key): 1})
    two = budget.run_projection(load_config(REPO / "config" / "evidence.yaml"), MEASURED, SHAPES, {(job.rule, job.key): 2})
    assert one.trainings == 1 and two.cpu_hours == pytest.approx(2 * one.cpu_hours)


def _paper_workdir(tmp_path: Path, gpu: bool) -> tuple[Path, dict]:
    """A folder holding only the paper config, and a PATH whose nvidia-smi lists one GPU or fails."""
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    shutil.copyfile(REPO / "config" / "config.yaml", work / "config" / "config.yaml")
    stub = tmp_path / "bin"
    stub.mkdir()
    script = 'echo "GPU 0: NVIDIA H100 (UUID: GPU-0)"' if gpu else "exit 9"
    (stub / "nvidia-smi").write_text(f"#!/bin/sh\n{script}\n")
    (stub / "nvidia-smi").chmod(0o755)
    env = {"PATH": f"{stub}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    return work, env


def _snakemake(work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(work), "--cores", "2", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip


def test_the_paper_scale_on_a_cpu_stops_before_any_job_with_one_line(tmp_path):
    work, env = _paper_workdir(tmp_path, gpu=False)
    run = _snakemake(work, env)
    assert run.returncode == 1, run.stderr[-2000:]
    refusals = [line for line in run.stderr.splitlines() if line.startswith("error: run 'paper' is projected")]
    assert len(refusals) == 1, run.stderr[-2000:]
    assert "make evidence" in refusals[0] and "confirm_long_cpu_run=true" in refusals[0]
    assert "Traceback" not in run.stderr
    assert not (work / "data").exists() and not list((work / "logs").rglob("*.log"))  # no job ran


def test_a_dry_run_only_prints_the_projection(tmp_path):
    for gpu, unit in ((False, "CPU core(s)"), (True, "GPU hours on one GPU")):
        work, env = _paper_workdir(tmp_path / str(gpu), gpu=gpu)
        run = _snakemake(work, env, "-n", "--quiet")
        assert run.returncode == 0, run.stderr[-2000:]
        projected = [line for line in run.stderr.splitlines() if line.startswith("contlaws run 'paper'") and "projected" in line]
        assert projected and unit in projected[0], run.stderr[-2000:]


def test_snakemake_run_from_the_venv_without_activating_it_finds_the_contlaws_command(tmp_path):
    """`.venv/bin/snakemake ...` with the venv not on PATH: jobs still find `contlaws` (beside the Python)."""
    assert shutil.which("contlaws", path=str(Path(sys.executable).parent)), "test needs the installed contlaws command"
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    shutil.copyfile(REPO / "config" / "config.yaml", work / "config" / "config.yaml")
    shutil.copyfile(REPO / "config" / "quick.yaml", work / "config" / "quick.yaml")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                          str(work), "--configfile", "config/quick.yaml", "--cores", "1",
                          "results/quick/config.resolved.json"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=180, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert (work / "results" / "quick" / "config.resolved.json").is_file()
