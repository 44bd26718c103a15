"""The CLI's command table matches what each topic module registers; the help lists user tools first;
one naming scheme for commands and options; errors exit 2 with one line."""

from __future__ import annotations

import argparse
import importlib
import re
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


USER_TOOLS = ["task-continuity", "model-continuity", "train", "claims", "config"]


def test_help_lists_the_user_tools_first_then_pipeline_steps_by_topic():
    text = commands.build_parser().format_help()  # what `contlaws --help` prints
    lines = text.splitlines()
    headings = [i for i, line in enumerate(lines) if line.endswith(":") and not line.startswith(" ")]
    titles = [lines[i] for i in headings]
    first = titles.index("user tools:")
    assert all(not t.startswith("pipeline steps") for t in titles[:first])  # no pipeline group above it
    assert [t for t in titles[first + 1:] if not t.startswith("pipeline steps, ")] == []
    start = headings[first] + 1
    tools = [line.split()[0] for line in lines[start:headings[first + 1]] if line.strip()]
    assert tools == USER_TOOLS
    listed = [line.split()[0] for line in lines[start:] if line.startswith("  ") and line.strip()]
    assert sorted(listed) == sorted(commands.COMMANDS)  # every command once, each with its help line
    assert all(len(line.split()) > 1 for line in lines[start:] if line.startswith("  ") and line.strip())
    # argparse's own list under COMMAND is gone (it would repeat every command)
    assert text.count("refinement-trained-evaluate") == 1


def _all_parsers():
    """(command path, parser) of every command and action."""
    parser = commands.build_parser()
    todo = [((), parser)]
    while todo:
        path, p = todo.pop()
        yield path, p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(((*path, name), sub) for name, sub in action.choices.items())


PIPELINE_STEP = re.compile(r"^(refinement-numerical|refinement-trained|eta-performance|task-continuity|alignment|"
                           r"subsampling|claims|report|robustness)-[a-z]+(-[a-z]+)*$")  # fmt: skip


def test_one_naming_scheme_for_commands_and_options():
    """Pipeline steps are <experiment>-<verb>; outputs are --out or --out-<what>; a TAU=PATH list is --data."""
    groups = commands.GROUPS
    steps = [name for title, names in groups.items() if title != commands.USER_TOOLS for name in names]
    assert [s for s in steps if s not in ("data", "bench") and not PIPELINE_STEP.match(s)] == []
    assert list(groups[commands.USER_TOOLS]) == USER_TOOLS
    bad = []
    for path, parser in _all_parsers():
        for action in parser._actions:
            for option in action.option_strings:
                if re.search(r"[a-z]-out$|^--(table|orders|ratios)-|^--(json|figure|curves|resolved|diff)$", option):
                    bad.append(f"{' '.join(path)} {option}: outputs are --out or --out-<what>")
                if action.metavar == "TAU=PATH" and option != "--data":
                    bad.append(f"{' '.join(path)} {option}: a TAU=PATH list of refined sets is --data")
    assert not bad, "\n".join(bad)


def test_light_command_does_not_import_torch(tmp_path):
    code = (
        "import sys; from contlaws.commands import main; "
        "rc = main(['claims-gather', '--help']) if False else None; "
        "from contlaws.commands import build_parser; build_parser('report-provenance'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_config_error_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: x\nregression: {n_train: 0}\n")  # an overlay of the paper config with one bad value
    proc = subprocess.run(
        [sys.executable, "-m", "contlaws", "report-provenance", "--config", str(bad), "--out", str(tmp_path / "p.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: invalid configuration") and "regression.n_train" in proc.stderr
    assert not (tmp_path / "p.yaml").exists()


# Every command that writes files, with one output option pointed at one of its inputs (IN).
# CFG is a valid config, OTHER an unrelated existing file, NEW a path to be created.
OUTPUT_OVER_INPUT = {
    "task-continuity": ["task-continuity", "IN", "--out-json", "IN"],
    "model-continuity": ["model-continuity", "--checkpoint", "IN", "--data", "1=OTHER", "0.5=OTHER", "--out-json", "IN"],
    "refinement-trained-continuity-table": ["refinement-trained-continuity-table", "--continuity", "IN", "--out-csv", "NEW", "--out-tex", "IN"],
    "eta-performance-plot": ["eta-performance-plot", "--results", "IN", "--out-figure", "NEW", "--out-csv", "IN", "--out-tex", "NEW"],
    "report-provenance": ["report-provenance", "--config", "IN", "--out", "IN"],
    "claims-gather": ["claims-gather", "--inputs", "IN", "--out-csv", "NEW", "--out-md", "IN"],
    "claims evaluate": ["claims", "evaluate", "C2", "--config", "CFG", "--inputs", "errors=IN", "--out", "IN"],
    "task-continuity-gather": ["task-continuity-gather", "--config", "CFG", "--inputs", "IN", "--out-csv", "IN", "--out-tex", "NEW"],
    "alignment-run": ["alignment-run", "--config", "CFG", "--task-continuity", "OTHER", "--eta-results", "IN", "--out", "NEW",
                  "--out-seeds", "IN"],
    "eta-performance-evaluate": ["eta-performance-evaluate", "--config", "CFG", "--test", "IN", "--runs", "OTHER", "--out", "IN"],
    "eta-performance-evaluate (scores)": ["eta-performance-evaluate", "--config", "CFG", "--test", "IN", "--runs", "OTHER",
                                          "--out-scores", "IN"],
    "eta-performance-gate": ["eta-performance-gate", "--config", "CFG", "--scores", "IN", "--out", "IN"],
    "eta-performance-gather": ["eta-performance-gather", "--config", "CFG", "--inputs", "OTHER", "IN", "--out", "IN"],
    "refinement-trained-evaluate": ["refinement-trained-evaluate", "--checkpoint", "OTHER", "--data", "1=IN", "0.5=OTHER", "--out", "IN"],
    "refinement-trained-gather": ["refinement-trained-gather", "--config", "CFG", "--errors", "IN", "--continuity",
                                     "OTHER", "--out-errors", "NEW", "--out-continuity", "IN"],
    "refinement-trained-gather (RMSE table)": ["refinement-trained-gather", "--config", "CFG", "--errors", "IN", "--continuity",
                                               "OTHER", "--out-errors", "NEW", "--out-continuity", "NEW", "--out-rmse-csv",
                                               "NEW", "--out-rmse-tex", "IN"],
    "refinement-numerical-run": ["refinement-numerical-run", "--config", "IN", "--out", "IN"],
    "refinement-numerical-plot": ["refinement-numerical-plot", "--results", "IN", "--out-figure", "NEW", "--out-orders-csv", "IN",
                              "--out-orders-tex", "NEW"],
    "subsampling-gather": ["subsampling-gather", "--runs", "OTHER", "--task-continuity", "OTHER", "--config", "IN",
                           "--out-curves", "IN", "--out-csv", "NEW", "--out-tex", "NEW"],
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


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly():
    """`contlaws claims list | head -1`: the reader is gone before the listing is written. The command
    ends with the shell's SIGPIPE status and no traceback (it printed two before)."""
    proc = subprocess.Popen([sys.executable, "-m", "contlaws", "claims", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader goes away before the first line
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + 13
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
