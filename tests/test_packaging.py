"""The package as a user installs it: a non-editable wheel works outside the checkout, and the library
and CLI never import the workflow engine (Snakemake, its SLURM plugin, DVC: the `pipeline` extra).

The wheel test builds the wheel from a copy of the sources (offline: --no-index, --no-build-isolation),
installs it into a fresh venv under a temporary folder that is itself a git repository, and runs the
console script from a folder outside the checkout, with neither the checkout's ``src`` nor the
editable install on the path. The venv sees the test environment's packages (torch, numpy, ...) as
plain path entries, so the editable install's ``.pth`` is not processed there, and a finder in the
venv refuses to import the pipeline packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

PIPELINE_MODULES = ("snakemake", "dvc", "snakemake_executor_plugin_slurm")

# Installed into the test venv: any import of a pipeline package fails, as in an install without
# the `pipeline` extra (the test environment itself has them).
BLOCKER = f'''
import importlib.abc, sys

class _NoPipeline(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {PIPELINE_MODULES!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed (the test venv has no pipeline extra)", name=name)
        return None

sys.meta_path.insert(0, _NoPipeline())
'''


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=180, check=False, **kwargs)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory):
    """A venv with the contlaws wheel installed; ``run`` runs one of its commands outside the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    # a git repository around the install: provenance must not report its commit as contlaws'
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", root]
    _ok(_run([*git, "init", "-q"]))
    _ok(_run([*git, "commit", "-q", "--allow-empty", "-m", "unrelated repository"]))

    tree = root / "sources"  # a copy, so the build leaves no build/ or egg-info in the checkout
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    shutil.copytree(REPO / "src" / "contlaws", tree / "src" / "contlaws",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
              tree, "-w", root / "dist"]))  # fmt: skip
    (wheel,) = (root / "dist").glob("contlaws-*.whl")

    venv = root / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv]))
    python = venv / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel]))
    site = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])).stdout.strip())
    (site / "_contlaws_no_pipeline.py").write_text(BLOCKER)
    dependency_dirs = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_contlaws_test_deps.pth").write_text("\n".join([*dependency_dirs, "import _contlaws_no_pipeline", ""]))

    elsewhere = root / "elsewhere"  # the working directory: no config/, src/ or workflow/ here
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(PYTHONNOUSERSITE="1", MPLBACKEND="Agg")
    env.pop("CONTLAWS_GIT_COMMIT", None)

    def run(*args) -> subprocess.CompletedProcess:
        return _run(args, cwd=elsewhere, env=env)

    return {"root": root, "venv": venv, "site": site, "python": python, "bin": venv / "bin", "run": run,
            "elsewhere": elsewhere}  # fmt: skip


def test_wheel_carries_the_schema_and_paper_config(wheel_install):
    package = wheel_install["site"] / "contlaws"
    assert (package / "config.schema.yaml").is_file() and (package / "paper.yaml").is_file()


def test_installed_package_is_the_wheel_not_the_checkout(wheel_install):
    probe = (
        "import json, sys, contlaws;"
        "print(json.dumps({'file': contlaws.__file__, 'path': sys.path}))"
    )
    proc = _ok(wheel_install["run"](wheel_install["python"], "-c", probe))
    info = json.loads(proc.stdout)
    assert Path(info["file"]).resolve().is_relative_to(wheel_install["site"].resolve()), info["file"]
    checkout_src = str(REPO / "src")
    assert not any(Path(p).resolve() == Path(checkout_src).resolve() for p in info["path"] if p), info["path"]
    # the finder really hides the pipeline packages from the installed venv
    blocked = wheel_install["run"](wheel_install["python"], "-c", "import snakemake")
    assert blocked.returncode != 0 and "not installed" in blocked.stderr


def test_help_of_the_installed_command(wheel_install):
    contlaws = wheel_install["bin"] / "contlaws"
    top = _ok(wheel_install["run"](contlaws, "--help")).stdout
    assert "model-continuity" in top and "task-continuity" in top
    assert "--model" in _ok(wheel_install["run"](contlaws, "train", "--help")).stdout


def test_train_and_model_continuity_from_the_wheel(wheel_install):
    """`contlaws train` (config validated against the packaged schema), then `contlaws model-continuity`
    on the checkpoint it wrote, both run from the wheel outside the checkout."""
    from contlaws.config import load_config
    from contlaws.data.regression import make_regression_split
    from contlaws.io import save_npz, write_json

    work = wheel_install["elsewhere"] / "run"
    work.mkdir()
    overrides = {
        "regression": {"n_train": 16, "n_val": 8, "n_test": 6, "length": 32, "dt": 0.32, "taus": [1, 0.5, 0.25, 0.125]},
        "model": {"d_model": 8, "n_layers": 1},
        "train": {"epochs": 1, "batch_size": 8},
    }
    cfg = load_config(REPO / "config" / "quick.yaml", overrides=overrides)
    config = work / "config.json"
    write_json(config, cfg)
    paths = {}
    for tau, split in [(1, "train"), (1, "val"), (1, "test"), (0.5, "test"), (0.25, "test"), (0.125, "test")]:
        arrays, meta = make_regression_split(cfg, "vdp", tau, split)
        paths[(tau, split)] = work / f"vdp_tau{tau}_{split}.npz"
        save_npz(paths[(tau, split)], arrays, meta)

    contlaws = wheel_install["bin"] / "contlaws"
    _ok(wheel_install["run"](contlaws, "train", "--config", config, "--model", "s4d", "--train", paths[(1, "train")],
                             "--val", paths[(1, "val")], "--out", work / "s4d", "--seed", "3",
                             "--experiment", "refinement_trained"))  # fmt: skip
    checkpoint = work / "s4d" / "best.pt"
    assert checkpoint.is_file()
    data = [f"{tau}={path}" for (tau, split), path in paths.items() if split == "test"]
    _ok(wheel_install["run"](contlaws, "model-continuity", "--checkpoint", checkpoint, "--data", *data,
                             "--json", work / "mc.json"))  # fmt: skip
    record = json.loads((work / "mc.json").read_text())
    assert {row["tau"] for row in record["d"]} == {1.0, 0.5, 0.25, 0.125}
    assert all(np.isfinite(row["d"]) for row in record["d"])
    # an installed package is no checkout: no commit, and not the commit of the repository around it
    assert record["provenance"]["git_commit"] == "unknown"


def test_task_continuity_of_an_npy_from_the_wheel(wheel_install):
    t = np.linspace(0, 1, 64)
    sequences = np.stack([np.sin(2 * np.pi * (k + 1) * t) for k in range(4)]).astype(np.float32)
    path = wheel_install["elsewhere"] / "sequences.npy"
    np.save(path, sequences)
    out = wheel_install["elsewhere"] / "tc.json"
    _ok(wheel_install["run"](wheel_install["bin"] / "contlaws", "task-continuity", path, "--json", out))
    result = json.loads(out.read_text())["result"]
    # smooth sines: near 1 at stride 2, falling as the stride grows (tests/test_task_continuity.py
    # checks the numbers; here, that the installed command computes them)
    assert result["n_sequences"] == 4 and result["score"] > 0.9
    assert result["curve"]["2"] > result["curve"]["16"]


def test_library_and_cli_never_import_the_pipeline_packages():
    """Every contlaws module and the full CLI parser, imported in a fresh interpreter where Snakemake,
    its SLURM plugin and DVC are installed: none of them gets imported."""
    code = f"""
import importlib, pkgutil, sys
import contlaws
from contlaws.commands import build_parser
names = [m.name for m in pkgutil.walk_packages(contlaws.__path__, "contlaws.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
build_parser()  # what `contlaws --help` builds: every command registered
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {PIPELINE_MODULES!r})
print(len(names), loaded)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg"}
    proc = _ok(_run([sys.executable, "-c", code], env=env, cwd=REPO))
    count, loaded = proc.stdout.strip().split(" ", 1)
    assert int(count) > 30, proc.stdout  # the walk really found the package's modules
    assert loaded == "[]", f"the library imported pipeline packages: {loaded}"
