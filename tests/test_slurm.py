"""Cluster execution: the Snakemake profiles, and part of the quick DAG run on a real one-node SLURM.

The SLURM test (marker ``slurm``) installs and starts SLURM with ``.ci/slurm_local.sh`` (root and apt
needed), then runs ``snakemake --workflow-profile profiles/slurm --configfile <quick, smaller>`` for the
files in :data:`SLURM_TARGETS`: every job goes through sbatch, job status through squeue. It changes the
machine (apt packages, daemons, /etc/slurm), so it runs only when asked: ``CONTLAWS_TEST_SLURM=1``
(``.ci/run`` sets it); then it fails if it cannot run (no root, no Debian mirror). Otherwise it is
skipped and says how to enable it. Afterwards it stops the daemons it started and purges the packages
it installed (``slurm_local.sh uninstall``): a SLURM left installed makes every later ``snakemake``
call wait about 9 s on ``scontrol`` where the SLURM plugin is installed (Snakemake imports every
installed executor plugin; this one runs ``scontrol show config`` at import). The plugin is the
``cluster`` extra, not part of a local install; without it the profile tests here are skipped (they
fail instead when the SLURM test is asked for).

Every subprocess runs under ``timeout -k``: a stuck executor ignores SIGTERM.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import yaml
from conftest import REPO

SLURM_SCRIPT = REPO / ".ci" / "slurm_local.sh"
SLURM_PROFILE = REPO / "profiles" / "slurm"
DEFAULT_PROFILE = REPO / "profiles" / "default"
PARTITION = "debug"  # the partition .ci/slurm_local.sh creates

# ---- What the SLURM run builds (paths under the run's working directory) ---------------------------
# One dataset, one training, one figure of the quick DAG; every input they need is built too, each
# job through SLURM. Add a target as one line; its file type picks the check in OUTPUT_CHECKS.
SLURM_TARGETS = [
    "data/quick/regression/vdp_tau1_train.npz",
    "results/quick/refinement_trained/vdp/s4d_zoh_seed0/summary.json",  # a training (resources: gpu=1)
    "figures/quick/refinement_numerical.png",
]

# config/quick.yaml with smaller sizes, so each SLURM job takes seconds (same keys and code paths).
CONFIG_OVERRIDES = {
    "regression": {"n_train": 64, "n_val": 16, "n_test": 16},
    "forecasting": {"n_train": 64, "n_val": 16, "n_test": 16},
    "train": {"epochs": 1},
}

RUN_SLURM_TEST = "CONTLAWS_TEST_SLURM"  # set to 1 to let the test install and start SLURM
SNAKEMAKE_TIMEOUT_S = 600  # the whole SLURM run; a healthy one takes well under a minute per job
SCRIPT_TIMEOUT_S = 900  # install (apt-get) or start


# ---------------------------------------------------------------------------------------------
# Output checks, by file type
# ---------------------------------------------------------------------------------------------
def check_npz(path: Path) -> None:
    from contlaws.io import load_npz

    arrays, meta = load_npz(path)  # verifies the recorded checksum
    assert arrays, f"{path}: no arrays"
    for name, arr in arrays.items():
        assert arr.size > 0, f"{path}: array {name!r} is empty"
        if np.issubdtype(arr.dtype, np.floating):
            assert np.isfinite(arr).all(), f"{path}: array {name!r} has non-finite values"
    assert isinstance(meta, dict) and meta.get("checksum"), f"{path}: no metadata record"


def check_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert min(image.size) >= 50, f"{path}: image is only {image.size}"


def check_pdf(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:], f"{path}: not a complete PDF"


def check_csv(path: Path) -> None:
    import pandas as pd

    assert len(pd.read_csv(path)) > 0, f"{path}: no rows"


def check_json(path: Path) -> None:
    from contlaws.io import read_json

    assert read_json(path) not in (None, {}, []), f"{path}: empty JSON"


def check_torch(path: Path) -> None:
    import torch

    assert torch.load(path, map_location="cpu", weights_only=False), f"{path}: empty checkpoint"


OUTPUT_CHECKS = {
    ".npz": check_npz,
    ".png": check_png,
    ".pdf": check_pdf,
    ".csv": check_csv,
    ".json": check_json,
    ".pt": check_torch,
}


# ---------------------------------------------------------------------------------------------
# Can this machine run SLURM?
# ---------------------------------------------------------------------------------------------
def _apt_mirror_hosts() -> list[tuple[str, int]]:
    """(host, port) of every enabled apt source (one-line .list and deb822 .sources files)."""
    files = [
        Path("/etc/apt/sources.list"),
        *Path("/etc/apt/sources.list.d").glob("*.list"),
        *Path("/etc/apt/sources.list.d").glob("*.sources"),
    ]
    hosts = []
    for file in files:
        if not file.is_file():
            continue
        text = "\n".join(
            line for line in file.read_text(errors="replace").splitlines() if not line.lstrip().startswith("#")
        )
        for url in re.findall(r"(https?://[^\s\]]+)", text):
            parts = urlsplit(url)
            if parts.hostname:
                hosts.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
    return list(dict.fromkeys(hosts))


def _mirror_reachable(timeout_s: float = 5.0) -> bool:
    for host, port in _apt_mirror_hosts():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def _slurm_installed() -> bool:
    return all(shutil.which(c) for c in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun"))


def slurm_opt_in_missing() -> str | None:
    """Why the SLURM test must not change this machine (it was not asked to), or None if it was."""
    if os.environ.get(RUN_SLURM_TEST) == "1":
        return None
    return (f"installs and starts a local SLURM (apt-get as root, daemons, /etc/slurm): "
            f"set {RUN_SLURM_TEST}=1 to run it (.ci/run does); it removes what it installed afterwards")  # fmt: skip


PLUGIN_MISSING = ("the `cluster` extra (snakemake-executor-plugin-slurm) is not installed, as in a local "
                  "`make venv`: make venv EXTRAS=pipeline,test,cluster")


def require_slurm_plugin() -> None:
    """Skip a test of the cluster profile where the SLURM plugin is not installed (a local install),
    fail where the SLURM test was asked for (CI installs the plugin)."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        if slurm_opt_in_missing() is None:
            pytest.fail(f"{RUN_SLURM_TEST}=1 but {PLUGIN_MISSING}")
        pytest.skip(PLUGIN_MISSING)


def slurm_unavailable_reason() -> str | None:
    """Why a local SLURM cannot be installed and started here, or None if it can."""
    if sys.platform != "linux":
        return "a local SLURM needs Linux"
    if os.geteuid() != 0:
        return "a local SLURM needs root (it installs packages and starts daemons)"
    if shutil.which("timeout") is None:
        return "coreutils `timeout` not found"
    # find_spec, not import: importing the plugin runs `scontrol show config` (up to 10 s with no controller)
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed"
    if not _slurm_installed():
        if shutil.which("apt-get") is None:
            return "SLURM is not installed and apt-get is not available"
        if not _mirror_reachable():
            return "SLURM is not installed and no apt mirror (Debian) is reachable"
    return None


def _run(cmd: list[str], timeout_s: int, **kwargs) -> subprocess.CompletedProcess:
    """Run under `timeout -k 10`, which also kills a child that ignores SIGTERM."""
    return subprocess.run(
        ["timeout", "-k", "10", str(timeout_s), *map(str, cmd)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        **kwargs,
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node SLURM (partition `debug`). Afterwards the machine is as before: daemons this
    fixture started are stopped, and packages it installed are purged."""
    not_asked = slurm_opt_in_missing()
    if not_asked:
        pytest.skip(not_asked)
    reason = slurm_unavailable_reason()
    if reason:
        pytest.fail(f"{RUN_SLURM_TEST}=1 but {reason}")
    installed_before = _slurm_installed()
    install = _run(["bash", SLURM_SCRIPT, "install"], SCRIPT_TIMEOUT_S)
    try:
        assert install.returncode == 0, f"slurm_local.sh install failed:\n{install.stdout}\n{install.stderr}"
        already_running = _run(["bash", SLURM_SCRIPT, "status"], 30).returncode == 0
        try:
            start = _run(["bash", SLURM_SCRIPT, "start"], SCRIPT_TIMEOUT_S)
            assert start.returncode == 0, f"slurm_local.sh start failed:\n{start.stdout}\n{start.stderr}"
            yield
        finally:
            if not already_running:  # stops the daemons by their recorded process ids
                _run(["bash", SLURM_SCRIPT, "stop"], 120)
    finally:
        if not installed_before:  # purges exactly the packages `install` added, and its config and state
            removed = _run(["bash", SLURM_SCRIPT, "uninstall"], SCRIPT_TIMEOUT_S)
            assert removed.returncode == 0, f"slurm_local.sh uninstall failed:\n{removed.stdout}\n{removed.stderr}"


@pytest.fixture()
def private_tmp():
    """A temporary directory outside pytest's shared basetemp (other pytest sessions prune old ones)."""
    with tempfile.TemporaryDirectory(prefix="contlaws-test-slurm-") as path:
        yield Path(path)


def log_tails(workdir: Path, lines: int = 30) -> str:
    """The last lines of every rule log and SLURM job log under ``workdir``, for failure messages."""
    logs = sorted(workdir.glob("logs/**/*.log")) + sorted(workdir.glob(".snakemake/slurm_logs/**/*.log"))
    return "\n".join(
        f"--- {p.relative_to(workdir)}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) for p in logs
    )


# ---------------------------------------------------------------------------------------------
# Reading Snakemake's log
# ---------------------------------------------------------------------------------------------
def submitted_jobs(log: str) -> list[dict]:
    """One record per job submitted to SLURM: rule, its resources line, SLURM job id."""
    rules = {}  # Snakemake job id -> (rule, resources); a rule block is its header and indented lines
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)+)", log, re.MULTILINE):
        jobid = re.search(r"^\s*jobid: (\d+)", body, re.MULTILINE)
        resources = re.search(r"^\s*resources: (.*)$", body, re.MULTILINE)
        if jobid:
            rules[jobid.group(1)] = (rule, resources.group(1) if resources else "")
    jobs = []
    for jobid, slurm_id in re.findall(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", log, re.MULTILINE):
        rule, resources = rules.get(jobid, ("?", ""))
        jobs.append({"rule": rule, "id": slurm_id, "resources": resources})
    return jobs


def planned_job_count(log: str) -> int:
    """The `total` row of Snakemake's job table (jobs it will run)."""
    match = re.search(r"^total\s+(\d+)\s*$", log, re.MULTILINE)
    assert match, "no job table in the Snakemake log"
    return int(match.group(1))


def slurm_job_record(job_id: str) -> str:
    """`scontrol show job` (finished jobs stay visible for MinJobAge = 300 s)."""
    return _run(["scontrol", "show", "job", job_id], 30).stdout


def small_quick_config(path: Path) -> Path:
    config = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
    for section, values in CONFIG_OVERRIDES.items():
        config[section] = {**config.get(section, {}), **values}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------
@pytest.mark.slurm
@pytest.mark.slow
def test_quick_dag_part_runs_on_slurm(slurm_cluster, private_tmp):
    tmp_path = private_tmp
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = small_quick_config(tmp_path / "config.yaml")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "DVC_NO_ANALYTICS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        REPO / "Snakefile",
        "--directory",
        workdir,
        "--workflow-profile",
        SLURM_PROFILE,
        "--configfile",
        config,
        # the profile's placeholders filled in for the local cluster; no slurm_account (no accounting
        # here): the plugin then tries to guess one, finds none and submits without -A
        "--default-resources",
        f"slurm_partition={PARTITION}",
        "runtime=20",
        "mem_mb=2000",
        # jobs here take seconds: first status check after 8 s instead of 40 s
        "--slurm-init-seconds-before-status-checks",
        "8",
        *SLURM_TARGETS,
    ]
    started = time.monotonic()
    proc = _run(cmd, SNAKEMAKE_TIMEOUT_S, env=env, cwd=tmp_path)
    seconds = time.monotonic() - started
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"snakemake via SLURM failed (exit {proc.returncode}, {seconds:.0f} s):\n{log[-6000:]}\n{log_tails(workdir)}"
    )

    assert "Falling back to 'sacct'" not in log, "job status must come from squeue (no accounting here)"
    # every planned job was an sbatch job that SLURM reports COMPLETED (nothing ran on the submit host)
    jobs = submitted_jobs(log)
    assert len(jobs) == planned_job_count(log) >= len(SLURM_TARGETS), log[-6000:]
    for job in jobs:
        record = slurm_job_record(job["id"])
        assert "JobState=COMPLETED" in record, f"SLURM job {job['id']} ({job['rule']}):\n{record}"
        assert f"Partition={PARTITION}" in record
        # rules with resources: gpu=1 got a GPU from SLURM (sbatch --gpus=1)
        if re.search(r"\bgpu=1\b", job["resources"]):
            assert "gres:gpu:1" in record, f"GPU job {job['id']} ({job['rule']}) got no GPU:\n{record}"

    for target in SLURM_TARGETS:
        path = workdir / target
        assert path.is_file(), f"{target} was not produced"
        OUTPUT_CHECKS[path.suffix](path)
    gpu_rules = sorted({job["rule"] for job in jobs if re.search(r"\bgpu=1\b", job["resources"])})
    print(f"SLURM run: {len(jobs)} jobs in {seconds:.1f} s; rules given a GPU: {gpu_rules}")


def test_every_target_has_an_output_check():
    assert {Path(t).suffix for t in SLURM_TARGETS} <= set(OUTPUT_CHECKS)


def test_slurm_profile_settings():
    """The cluster profile, as Snakemake reads it, replaces the local one."""
    require_slurm_plugin()
    from snakemake.cli import parse_args

    _, args = parse_args(["--snakefile", str(REPO / "Snakefile"), "--workflow-profile", str(SLURM_PROFILE)])
    assert args.executor == "slurm"
    assert args.jobs >= 1 and args.latency_wait >= 30 and args.rerun_incomplete
    assert args.slurm_status_command == "squeue"
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(args.default_resources)
    assert not args.resources, "profiles/default's local GPU cap must not apply on the cluster"
    # without it the local profile loads and caps GPU jobs at one
    _, local = parse_args(["--snakefile", str(REPO / "Snakefile")])
    assert local.executor in (None, "local") and local.resources["gpu"].value == 1


def test_gpu_resource_becomes_sbatch_gpus():
    """The plugin maps a rule's gpu / gpu_model resources onto sbatch --gpus (what docs/cluster.md says)."""
    require_slurm_plugin()
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.__getitem__

    class Job:
        def __init__(self, **resources):
            self.resources = Resources(resources)

    assert set_gres_string(Job(gpu=1)).split() == ["--gpus=1"]
    assert set_gres_string(Job(gpu=2, gpu_model="a100")).split() == ["--gpus=a100:2"]
    assert set_gres_string(Job()) == ""


GPU_CAP_SNAKEFILE = """
rule all:
    input: "g1.txt", "g2.txt"
rule g:
    output: "{name}.txt"
    resources: gpu=1
    shell: "date +%s.%N > {output}; sleep 1; date +%s.%N >> {output}"
"""


def _gpu_job_intervals(tmp_path: Path, extra: list[str]) -> list[tuple[float, float]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Snakefile").write_text(GPU_CAP_SNAKEFILE)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        tmp_path / "Snakefile",
        "--directory",
        tmp_path,
        "--workflow-profile",
        DEFAULT_PROFILE,
        "--cores",
        "2",
        "--quiet",
        *extra,
    ]
    proc = _run(cmd, 120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sorted(tuple(map(float, (tmp_path / f"g{i}.txt").read_text().split())) for i in (1, 2))


def test_default_profile_runs_one_gpu_job_at_a_time(private_tmp):
    tmp_path = private_tmp
    (_, end1), (start2, _) = _gpu_job_intervals(tmp_path / "capped", [])
    assert start2 >= end1, "two gpu=1 jobs overlapped under profiles/default"
    # control: with two GPUs declared the same jobs do overlap, so the check above can fail
    (_, end1), (start2, _) = _gpu_job_intervals(tmp_path / "two_gpus", ["--resources", "gpu=2"])
    assert start2 < end1


# ---------------------------------------------------------------------------------------------
# slurm_local.sh install/uninstall leave the machine as they found it (stand-in apt-get and dpkg)
# ---------------------------------------------------------------------------------------------
FAKE_APT_GET = """#!/bin/bash
# Stand-in apt-get: `install` adds the packages (and one dependency) to the fake package database and
# creates the SLURM commands; `purge` removes them again. Every call is logged.
set -e
db="$FAKE_ROOT/dpkg-db"
echo "$*" >>"$FAKE_ROOT/apt-get.log"
action="$1"; shift
packages=(); for arg in "$@"; do [[ "$arg" == -* ]] || packages+=("$arg"); done
case "$action" in
  update) ;;
  install)
    for p in "${packages[@]}" libfake-dependency; do grep -qx "$p" "$db" || echo "$p" >>"$db"; done
    mkdir -p "$FAKE_ROOT/slurm-bin"
    for c in munged slurmctld slurmd sbatch squeue sinfo scontrol srun; do
      printf '#!/bin/sh\\necho slurm-fake\\n' >"$FAKE_ROOT/slurm-bin/$c"; chmod +x "$FAKE_ROOT/slurm-bin/$c"
    done ;;
  purge)
    for p in "${packages[@]}"; do grep -vx "$p" "$db" >"$db.new" || true; mv "$db.new" "$db"; done
    rm -rf "$FAKE_ROOT/slurm-bin" ;;
  *) exit 1 ;;
esac
"""
FAKE_DPKG_QUERY = """#!/bin/sh
awk '{print $1 " installed"}' "$FAKE_ROOT/dpkg-db"
"""
SCRIPT_TOOLS = ("bash", "awk", "sort", "comm", "grep", "rm", "rmdir", "mkdir", "mv", "cat", "tr", "chmod", "timeout")


def _fake_debian(root: Path, preinstalled: list[str], slurm_present: bool) -> dict[str, str]:
    """A PATH with the script's tools, a stand-in apt-get/dpkg-query/id, and nothing else, so the
    machine's own SLURM (if any) is invisible; the script's paths all point under ``root``."""
    tools = root / "tools"
    tools.mkdir(parents=True)
    for name in SCRIPT_TOOLS:
        (tools / name).symlink_to(shutil.which(name))
    for name, text in [("apt-get", FAKE_APT_GET), ("dpkg-query", FAKE_DPKG_QUERY), ("id", "#!/bin/sh\necho 0\n")]:
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    (root / "dpkg-db").write_text("".join(f"{p}\n" for p in preinstalled))
    if slurm_present:
        _ok_run(["env", f"PATH={tools}", f"FAKE_ROOT={root}", tools / "apt-get", "install", "slurmctld"])
        (root / "apt-get.log").unlink()
    return {
        "PATH": f"{tools}{os.pathsep}{root / 'slurm-bin'}",
        "FAKE_ROOT": str(root),
        "CONTLAWS_SLURM_DIR": str(root / "state"),
        "CONTLAWS_SLURM_PIDS": str(root / "pids"),
        "CONTLAWS_SLURM_ETC": str(root / "etc"),
        "CONTLAWS_SLURM_POLICY_RC": str(root / "policy-rc.d"),
    }


def _ok_run(cmd, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_slurm_script_uninstall_purges_exactly_what_install_added(tmp_path):
    env = _fake_debian(tmp_path, preinstalled=["bash", "libmunge2"], slurm_present=False)
    _ok_run(["bash", SLURM_SCRIPT, "install"], env)
    db = (tmp_path / "dpkg-db").read_text().split()
    assert {"slurmctld", "slurmd", "munge", "slurm-client", "libfake-dependency"} <= set(db)
    assert not (tmp_path / "policy-rc.d").exists(), "the install-time policy-rc.d must be removed again"
    # a config this script wrote (its marker) and one it did not
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "slurm.conf").write_text("# written by contlaws .ci/slurm_local.sh\nClusterName=x\n")
    (tmp_path / "etc" / "gres.conf").write_text("# the admin's own\n")
    _ok_run(["bash", SLURM_SCRIPT, "uninstall"], env)
    purge = [line.split() for line in (tmp_path / "apt-get.log").read_text().splitlines() if line.startswith("purge")]
    assert len(purge) == 1
    purged = {arg for arg in purge[0][1:] if not arg.startswith("-")}
    assert purged == {"slurmctld", "slurmd", "munge", "slurm-client", "libfake-dependency"}  # not libmunge2, bash
    assert (tmp_path / "dpkg-db").read_text().split() == ["bash", "libmunge2"]
    assert not (tmp_path / "etc" / "slurm.conf").exists() and (tmp_path / "etc" / "gres.conf").exists()
    assert not (tmp_path / "state").exists()
    # idempotent: nothing left to purge
    _ok_run(["bash", SLURM_SCRIPT, "uninstall"], env)
    assert sum(line.startswith("purge") for line in (tmp_path / "apt-get.log").read_text().splitlines()) == 1


def test_slurm_script_never_purges_a_slurm_it_did_not_install(tmp_path):
    env = _fake_debian(tmp_path, preinstalled=["bash"], slurm_present=True)
    before = (tmp_path / "dpkg-db").read_text()
    _ok_run(["bash", SLURM_SCRIPT, "install"], env)  # already installed: nothing to do
    _ok_run(["bash", SLURM_SCRIPT, "uninstall"], env)
    log = tmp_path / "apt-get.log"
    assert not log.exists() or "purge" not in log.read_text()
    assert (tmp_path / "dpkg-db").read_text() == before


def test_slurm_test_is_opt_in(monkeypatch):
    """Without CONTLAWS_TEST_SLURM=1 the SLURM test is skipped before it touches the machine, and says
    how to enable it."""
    monkeypatch.delenv(RUN_SLURM_TEST, raising=False)
    assert f"set {RUN_SLURM_TEST}=1" in slurm_opt_in_missing()
    monkeypatch.setenv(RUN_SLURM_TEST, "0")
    assert slurm_opt_in_missing()
    monkeypatch.setenv(RUN_SLURM_TEST, "1")
    assert slurm_opt_in_missing() is None
