"""A dry run never changes a run: a job uses the settings of the DAG build that scheduled it.

Two processes: a real (tiny) dataset job is held at its start by a `contlaws` shim on PATH, a
`snakemake -n` with another config runs meanwhile, then the job goes on. Before the fix every DAG
build rewrote results/<run>/config.resolved.json, which the job read when it started, so the job
generated the dry run's dataset (the robustness finding "snakemake -n with another config during a
run"). Now each job is given a content-addressed snapshot (results/<run>/configs/<sha>.json) that is
never rewritten.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
from conftest import REPO

TARGET = "data/tiny/regression/vdp_tau1_test.npz"
OVERLAY = """run_name: tiny
threads: 1
systems: [vdp]
regression: {{n_train: 4, n_val: 4, n_test: {n_test}, length: 16, dt: 0.04}}
refinement_trained: {{systems: [vdp]}}
eta_performance: {{systems: [vdp]}}
"""

# Stands in for `contlaws`: says it started, waits for the test's go-ahead, then runs the real CLI.
SHIM = """#!/bin/sh
touch "{gate}/started"
i=0
while [ ! -e "{gate}/go" ]; do
  sleep 0.1; i=$((i + 1)); [ "$i" -gt 900 ] && exit 3
done
exec "{python}" -m contlaws "$@"
"""


def _wait_for(path, proc, timeout):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"snakemake ended before its job started (rc {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)


def test_dry_run_with_another_config_does_not_change_a_running_job(tmp_path):
    work, gate, shim_dir = tmp_path / "work", tmp_path / "gate", tmp_path / "bin"
    for folder in (work, gate, shim_dir):
        folder.mkdir()
    (work / "first.yaml").write_text(OVERLAY.format(n_test=6))
    (work / "second.yaml").write_text(OVERLAY.format(n_test=11))
    shim = shim_dir / "contlaws"
    shim.write_text(SHIM.format(gate=gate, python=sys.executable))
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
    }
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work), TARGET]

    run = subprocess.Popen(
        [*snakemake, "--configfile", "first.yaml", "--cores", "1"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(gate / "started", run, timeout=120)  # the job is scheduled, its command formatted
        dry = subprocess.run(
            [*snakemake, "--configfile", "second.yaml", "--cores", "1", "-n"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        assert dry.returncode == 0, dry.stderr
    finally:
        (gate / "go").touch()
        out, err = run.communicate(timeout=180)
    assert run.returncode == 0, f"{out}\n{err}"

    with np.load(work / TARGET) as npz:
        assert npz["x"].shape[0] == 6  # the first config's n_test, not the dry run's 11
    snapshots = sorted((work / "results" / "tiny" / "configs").glob("*.json"))
    assert len(snapshots) == 2  # one per config; neither was rewritten with the other's settings
    # the job's output is up to date for the first config: nothing reruns
    again = subprocess.run(
        [*snakemake, "--configfile", "first.yaml", "--cores", "1", "-n"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
