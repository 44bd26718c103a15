"""benchmarks/gpu_check.sh in its dry mode (every row on CPU at tiny shapes), as README.md prints it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from contlaws.config import paper_config
from contlaws.models.baselines import GPU_LAYERS


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(columns, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "nested" / "gpu-check.md"  # the wrapper makes the folder
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(out), "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    return proc, out


def test_dry_run_prints_one_table_and_writes_it(dry_run):
    proc, out = dry_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text() == proc.stdout
    assert proc.stdout.startswith("GPU check on cpu")
    assert "tiny shapes (dry run)" in proc.stdout.splitlines()[0]
    tables = [block for block in proc.stdout.split("\n\n") if block.startswith("| section |")]
    assert len(tables) == 1
    assert not out.with_name(out.name + ".tmp").exists()


def test_dry_run_runs_every_row_and_every_model_of_the_study(dry_run):
    rows = table_rows(dry_run[0].stdout)
    results = {row["row"]: row["result"] for row in rows}
    assert not [r for r in results.values() if r.startswith(("error", "MISMATCH", "skipped"))], results
    checks = [r for r in rows if r["section"] == "check"]
    assert sum(r["result"].startswith("ok: outputs") for r in checks) == 6  # loop and chunked × 2, S4D × 2
    cfg = paper_config()
    for name in cfg["refinement_trained"]["models"]:
        assert results[f"E2 {name}"].startswith("ok: 1 steps")
    for name in cfg["eta_performance"]["models"]:
        expected = "not importable: needs CUDA" if name in GPU_LAYERS and not torch.cuda.is_available() else "ok"
        assert results[f"E3 {name} (causal)"].startswith(expected), name
    assert results["E5 s4d pathx"].startswith("ok")
    timed = [r for r in rows if r["section"] == "fwd+bwd" and r["result"] == "ok"]
    expected_timed = {"E2 S4D, 2 layers", "E2 S6, 2 layers, loop", "E2 S6, 2 layers, chunked T=8",
                      "E3 transformer (causal), 2 layers", "E3 linear_attention (causal), 2 layers"}  # fmt: skip
    assert expected_timed <= {r["row"] for r in timed}
    assert all(float(r["forward ms"]) > 0 and float(r["fwd+bwd / step ms"]) > 0 for r in timed)
    kernel = [r["result"] for r in rows if "mamba-ssm kernel" in r["row"]]
    assert len(kernel) == 3 and all(r.startswith("not importable: needs CUDA") for r in kernel)


def test_the_check_reports_a_scan_that_disagrees(monkeypatch):
    gpu_check = load_gpu_check()
    shapes = gpu_check.Shapes(tiny=True, cfg=paper_config())
    original = gpu_check.selective_scan

    def off_by_a_little(*args, method="loop", **kwargs):
        y = original(*args, method=method, **kwargs)
        return y * 1.001 if method == "chunked" else y

    monkeypatch.setattr(gpu_check, "selective_scan", off_by_a_little)
    assert gpu_check.check_scan(torch.device("cpu"), shapes, "loop", "zoh")["result"].startswith("ok")
    assert gpu_check.check_scan(torch.device("cpu"), shapes, "chunked", "zoh")["result"].startswith("MISMATCH")


def test_a_failing_row_is_reported_and_the_rest_still_run(tmp_path):
    gpu_check = load_gpu_check()
    table = gpu_check.Table(torch.device("cpu"), budget_s=60, out=tmp_path / "t.md", title="t")
    table.run("train", "broken", "1", lambda: 1 / 0)
    table.run("train", "fine", "1", lambda: {"result": "ok"})
    assert [r["result"] for r in table.rows] == ["error: ZeroDivisionError: division by zero", "ok"]
    late = gpu_check.Table(torch.device("cpu"), budget_s=-1, out=tmp_path / "u.md", title="u")
    late.run("train", "late", "1", lambda: {"result": "ok"})
    assert late.rows[0]["result"].startswith("skipped: time budget")
    assert "| train | late | 1 | skipped" in (tmp_path / "u.md").read_text()  # written after every row


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_the_full_check_refuses_with_a_clear_message(tmp_path, capsys):
    assert load_gpu_check().main(["--out", str(tmp_path / "x.md")]) == 2
    assert "CUDA is not available here (use --dry-run on a CPU)" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_wrapper_without_arguments_prints_its_usage():
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: bash benchmarks/gpu_check.sh OUT.md")
