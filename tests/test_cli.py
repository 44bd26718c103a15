"""The CLI's command table matches what each topic module registers; errors exit 2 with one line."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from contlaws import cli


def test_command_table_matches_module_registrations():
    registered = {}
    for module in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub)
        for name in sub.choices:
            registered[name] = module
    assert registered == cli.COMMANDS


def test_light_command_does_not_import_torch(tmp_path):
    code = (
        "import sys; from contlaws.cli import main; "
        "rc = main(['claims-table', '--help']) if False else None; "
        "from contlaws.cli import build_parser; build_parser('provenance'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_config_error_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: x\nregression: {n_train: 0}\n")  # an overlay of the paper config with one bad value
    proc = subprocess.run(
        [sys.executable, "-m", "contlaws", "provenance", "--config", str(bad), "--out", str(tmp_path / "p.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: invalid configuration") and "regression.n_train" in proc.stderr
    assert not (tmp_path / "p.yaml").exists()
