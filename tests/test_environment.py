"""Install routes: pip (pyproject.toml, the Makefile's venv) and conda (environment.yml) install the same
dependencies; the workflow engine is an extra; the torch index is explicit; `--sdm conda` runs every job
in the environment that environment.yml creates."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from conftest import REPO

PIPELINE_PACKAGES = {"snakemake", "dvc"}
CLUSTER_PACKAGES = {"snakemake-executor-plugin-slurm"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {r.strip() for r in [*project["dependencies"], *extras["pipeline"], *extras["test"]]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {r.strip() for r in pip_section if not r.startswith("-")}  # not pip options such as `-e .`
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert any(d.startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str))


def test_torch_is_pinned_and_gpu_packages_are_optional():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch_reqs = [r for r in project["dependencies"] if _name(r) == "torch"]
    assert torch_reqs == ["torch==2.13.0"]
    core = {_name(r) for r in project["dependencies"]}
    assert not core & {"mamba-ssm", "flash-linear-attention", "causal-conv1d", "triton"}
    assert {"mamba-ssm", "flash-linear-attention"} <= {_name(r) for r in project["optional-dependencies"]["gpu"]}


def test_workflow_engine_is_an_extra_not_a_dependency():
    """`pip install contlaws` gives the library and CLI; Snakemake and DVC come with the `pipeline`
    extra, the SLURM executor plugin with the `cluster` extra only (tests/test_packaging.py checks the
    library never imports them). A local install has no SLURM plugin: Snakemake imports every
    installed executor plugin on every call, and this one runs `scontrol show config` at import."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not {_name(r) for r in project["dependencies"]} & (PIPELINE_PACKAGES | CLUSTER_PACKAGES)
    assert {_name(r) for r in extras["pipeline"]} == PIPELINE_PACKAGES
    assert {_name(r) for r in extras["cluster"]} == CLUSTER_PACKAGES
    assert not {_name(r) for r in extras["test"]} & CLUSTER_PACKAGES
    makefile = (REPO / "Makefile").read_text()
    assert "EXTRAS ?= pipeline,test\n" in makefile and "-e '.[$(EXTRAS)]'" in makefile, (
        "make venv must install the pipeline and test extras, and no SLURM plugin unless asked")
    ci = (REPO / ".ci" / "run").read_text()
    # CI first runs the README's commands as printed (make venv, make test: the default extras), and only
    # then installs the cluster extra for tests/test_slurm.py and the documented SLURM commands
    assert "\nmake venv\n" in ci and "\nmake test\n" in ci and "'.[pipeline,test,cluster]'" in ci, (
        "CI runs the README's make venv / make test, then the SLURM tests, which need the cluster extra")
    assert ci.index("\nmake venv\n") < ci.index("\nmake test\n") < ci.index("'.[pipeline,test,cluster]'")


# ---------------------------------------------------------------------------------------------
# Where torch comes from: `make venv TORCH_INDEX=...` (checked with `make -n`, nothing is installed)
# ---------------------------------------------------------------------------------------------
def _make_venv_commands(tmp_path: Path, *variables: str) -> list[str]:
    venv = tmp_path / "venv"  # does not exist, so make plans the whole install
    proc = subprocess.run(
        ["make", "-n", "-C", str(REPO), "venv", f"VENV={venv}", "PYTHON=python3", *variables],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _torch_install(commands: list[str]) -> str:
    lines = [c for c in commands if re.search(r"pip install .*torch==2\.13\.0", c)]
    assert len(lines) == 1, commands
    return lines[0]


def test_make_venv_takes_torch_from_the_default_index_unless_told(tmp_path):
    line = _torch_install(_make_venv_commands(tmp_path))
    assert "--index-url" not in line and "--extra-index-url" not in line
    commands = _make_venv_commands(tmp_path)
    # torch first, so the editable install finds it satisfied and never resolves another build
    assert commands.index(line) < next(i for i, c in enumerate(commands) if "-e '.[pipeline,test]'" in c)


def test_make_venv_cpu_route_uses_the_torch_index_given(tmp_path):
    cpu = "https://download.pytorch.org/whl/cpu"
    line = _torch_install(_make_venv_commands(tmp_path, f"TORCH_INDEX={cpu}"))
    assert f"--index-url {cpu}" in line
    readme = (REPO / "README.md").read_text()
    assert f"make venv TORCH_INDEX={cpu}" in readme, "the README must document the CPU route"


# ---------------------------------------------------------------------------------------------
# The conda route: rules name environment.yml; `--sdm conda` creates it and its post-deploy script
# installs this checkout into it (environment.yml itself lists only dependencies, because Snakemake
# creates the environment from a copy under .snakemake/conda/, where a `-e .` would not be this checkout).
# ---------------------------------------------------------------------------------------------
FAKE_CONDA = """#!/bin/sh
# Stand-in for conda: answers what Snakemake asks, and `env create` makes a prefix whose bin holds a
# recording `python` (the post-deploy script's pip) and the environment's `contlaws`.
echo "$*" >> "{root}/conda.log"
case "$1" in
  --version) echo "conda 24.7.1" ;;
  info) echo '{{"conda_prefix": "{root}", "platform": "linux-64"}}' ;;
  config) echo '{{"get": {{"channel_priority": "strict"}}}}' ;;
  clean) ;;
  env)
    while [ $# -gt 0 ]; do [ "$1" = "--prefix" ] && prefix="$2"; shift; done
    mkdir -p "$prefix/bin" "$prefix/conda-meta"
    printf '#!/bin/sh\necho "$*" >> "{root}/pip.log"\n' > "$prefix/bin/python"
    printf '#!/bin/sh\necho "$*" >> "{root}/calls.log"\nexec "{python}" -m contlaws "$@"\n' > "$prefix/bin/contlaws"
    chmod +x "$prefix/bin/python" "$prefix/bin/contlaws" ;;
  *) echo "fake conda: unexpected arguments: $*" >&2; exit 1 ;;
esac
"""
# `source <root>/bin/activate PREFIX`, as conda's: puts the environment's bin first on PATH
FAKE_ACTIVATE = """echo "$1" >> "{root}/activations.log"
export PATH="$1/bin:$PATH"
"""


def test_rules_name_environment_yml_which_lists_dependencies_only():
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    match = re.search(r'^CONDA_ENV = "([^"]+)"', common, re.MULTILINE)
    assert match, "workflow/rules/common.smk must set CONDA_ENV"
    assert (REPO / "workflow" / "rules" / match.group(1)).resolve() == (REPO / "environment.yml").resolve()
    pip = next(d for d in yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"] if isinstance(d, dict))
    assert not [line for line in pip["pip"] if line.startswith("-e")], "the checkout is installed by the post-deploy script"
    assert (REPO / "environment.post-deploy.sh").is_file()
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        assert not re.search(r"conda:\s*\n\s*[\"']", rules.read_text()), f"{rules.name}: use CONDA_ENV"


def _tiny_config(tmp_path):
    config = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
    config["regression"] = {**config.get("regression", {}), "n_train": 8, "n_val": 4, "n_test": 4}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"data/{config['run_name']}/regression/vdp_tau1_val.npz"


def _snakemake(tmp_path, target, *extra, env):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", target, "--snakefile", REPO / "Snakefile", "--directory", tmp_path / "work",
         "--cores", "1", "--configfile", tmp_path / "config.yaml", *extra],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


def test_sdm_conda_creates_environment_yml_and_installs_this_checkout(tmp_path):
    root = tmp_path / "conda"
    (root / "bin").mkdir(parents=True)
    for path, text in [(root / "bin" / "conda", FAKE_CONDA), (root / "bin" / "activate", FAKE_ACTIVATE)]:
        path.write_text(text.format(root=root, python=sys.executable))
        path.chmod(0o755)
    target = _tiny_config(tmp_path)
    env = {**os.environ, "PATH": f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = _snakemake(tmp_path, target, "--sdm", "conda", env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    created = [line for line in (root / "conda.log").read_text().splitlines() if line.startswith("env create")]
    assert len(created) == 1 and "--file" in created[0], created
    # the post-deploy script installed the checkout that holds the Snakefile, without touching its deps
    pip = (root / "pip.log").read_text().split()
    assert pip[:3] == ["-m", "pip", "install"] and "--no-deps" in pip and pip[-1] == str(REPO)
    calls = (root / "calls.log").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("data generate regression"), calls
    assert (tmp_path / "work" / target).is_file()


def test_without_sdm_conda_jobs_run_where_conda_is_absent(tmp_path):
    """The conda directive must cost nothing without --sdm conda (a *named* environment made
    Snakemake call `conda env export` after every job, failing where conda is not installed)."""
    target = _tiny_config(tmp_path)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "conda").exists())
    proc = _snakemake(tmp_path, target, env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{path}"})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert (tmp_path / "work" / target).is_file()
