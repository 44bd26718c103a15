"""The CLI's command table matches what each topic module registers; errors exit 2 with one line."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from contlaws import commands


def test_command_table_matches_module_registrations():
    registered = {}
    for module in commands.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub)
        for name in sub.choices:
            registered[name] = module
    assert registered == commands.COMMANDS


def test_light_command_does_not_import_torch(tmp_path):
    code = (
        "import sys; from contlaws.commands import main; "
        "rc = main(['claims-table', '--help']) if False else None; "
        "from contlaws.commands import build_parser; build_parser('provenance'); "
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


# Every command that writes files, with one output option pointed at one of its inputs (IN).
# CFG is a valid config, OTHER an unrelated existing file, NEW a path to be created.
OUTPUT_OVER_INPUT = {
    "task-continuity": ["task-continuity", "IN", "--json", "IN"],
    "model-continuity": ["model-continuity", "--checkpoint", "IN", "--data", "1=OTHER", "0.5=OTHER", "--json", "IN"],
    "plot-figure4": ["plot-figure4", "--errors", "IN", "--figure", "NEW", "--table-csv", "IN", "--table-tex", "NEW"],
    "table-model-continuity": ["table-model-continuity", "--continuity", "IN", "--table-csv", "NEW", "--table-tex", "IN"],
    "plot-figure5": ["plot-figure5", "--results", "IN", "--figure", "NEW", "--table-csv", "IN", "--table-tex", "NEW"],
    "provenance": ["provenance", "--config", "IN", "--out", "IN"],
    "claims-table": ["claims-table", "IN", "--out-csv", "NEW", "--out-md", "IN"],
    "claims evaluate": ["claims", "evaluate", "C2", "--config", "CFG", "--inputs", "errors=IN", "--out", "IN"],
    "task-continuity-table": ["task-continuity-table", "--config", "CFG", "--inputs", "IN", "--out-csv", "IN", "--out-tex", "NEW"],
    "alignment": ["alignment", "--config", "CFG", "--task-continuity", "OTHER", "--eta-results", "IN", "--out", "NEW",
                  "--seeds-out", "IN"],
    "eta-evaluate": ["eta-evaluate", "--config", "CFG", "--test", "IN", "--runs", "OTHER", "--out", "IN"],
    "eta-gather": ["eta-gather", "--config", "CFG", "--inputs", "OTHER", "IN", "--out", "IN"],
    "evaluate-refinement": ["evaluate-refinement", "--checkpoint", "OTHER", "--test", "1=IN", "0.5=OTHER", "--out", "IN"],
    "refinement-trained-aggregate": ["refinement-trained-aggregate", "--config", "CFG", "--errors", "IN", "--continuity",
                                     "OTHER", "--errors-out", "NEW", "--continuity-out", "IN"],
    "refine-numerical": ["refine-numerical", "--config", "IN", "--out", "IN"],
    "refine-numerical-plot": ["refine-numerical-plot", "--results", "IN", "--figure", "NEW", "--orders-csv", "IN",
                              "--orders-tex", "NEW"],
    "subsample-plot": ["subsample-plot", "OTHER", "--config", "IN", "--figure", "NEW", "--curves", "IN", "--table-csv",
                       "NEW", "--table-tex", "NEW"],
    "data generate": ["data", "generate", "regression", "--config", "IN", "--system", "vdp", "--tau", "1", "--split",
                      "test", "--out", "IN"],
    "bench prepare": ["bench", "prepare", "digits", "--config", "IN", "--split", "test", "--out", "IN"],
}


def test_no_command_writes_over_its_own_input(tmp_path, capsys):
    """An output option naming an input is refused before anything is read or written."""
    from contlaws.config import REPO_ROOT

    config = (REPO_ROOT / "config" / "quick.yaml").read_text()
    failures = []
    for name, template in OUTPUT_OVER_INPUT.items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "IN").write_text(config)  # a valid config, so commands reading --config IN get that far
        (folder / "OTHER").write_text("other")
        (folder / "CFG").write_text(config)
        argv = [str(folder / word) if word in ("IN", "OTHER", "CFG", "NEW") else
                word.replace("=IN", f"={folder / 'IN'}").replace("=OTHER", f"={folder / 'OTHER'}") for word in template]
        try:
            status = commands.main(argv)
        except Exception as exc:  # noqa: BLE001 - report every command, not only the first that fails
            status = repr(exc)
        err = capsys.readouterr().err
        if status != 2 or f"is the input {folder / 'IN'}; writing it would destroy the input" not in err:
            failures.append(f"{name}: exit {status}, {err.strip()[-300:]!r}")
        elif (folder / "IN").read_text() != config or sorted(p.name for p in folder.iterdir()) != ["CFG", "IN", "OTHER"]:
            failures.append(f"{name}: refused but changed files: {sorted(p.name for p in folder.iterdir())}")
    assert not failures, "\n".join(failures)
