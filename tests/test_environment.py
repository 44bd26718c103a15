"""The conda route (environment.yml) and the pip route (pyproject.toml) install the same dependencies."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import REPO


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {r.strip() for r in project["dependencies"]} | {r.strip() for r in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {r.strip() for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert any(d.startswith("python=3.11") for d in env["dependencies"] if isinstance(d, str))


def test_torch_is_pinned_and_gpu_packages_are_optional():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    torch_reqs = [r for r in project["dependencies"] if _name(r) == "torch"]
    assert torch_reqs == ["torch==2.13.0"]
    core = {_name(r) for r in project["dependencies"]}
    assert not core & {"mamba-ssm", "flash-linear-attention", "causal-conv1d", "triton"}
    assert {"mamba-ssm", "flash-linear-attention"} <= {_name(r) for r in project["optional-dependencies"]["gpu"]}
