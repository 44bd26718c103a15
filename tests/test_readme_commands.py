"""Every command printed in README.md and docs/*.md runs as written.

Commands are taken from fenced code blocks (shell lines; `$ ` prompts in console transcripts) and
from inline code that starts with `snakemake`, `contlaws` or `make`. Each is checked by what it runs:

- `snakemake ...`: parsed by Snakemake's own argument parser (a target written after
  `--configfile`/`--resources` would be read as a config file or a resource: the robustness finding
  "`--resources gpu=2 fig4`"), its targets must be rules or output paths, and it is dry-run (`-n`
  appended) in the repository root, which must exit 0. Identical dry runs are run once.
- `contlaws ...`: parsed by the CLI's parser (subcommand and flags exist, arguments are valid);
  synopses with placeholders (`TASK`, `[--raw DIR]`, `<source>`) are checked down to the subcommand.
- `make TARGET`: the target exists in the Makefile.
- anything else (dvc, git, conda, pip, sudo, python, export): only in PARSED_ONLY below, with the
  reason; a new kind of command in the docs fails this test until someone decides how to check it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# Placeholders the docs use, and a concrete value to check them with.
PLACEHOLDERS = {
    "<target>": "fig4",
    "<SLURM_TARGETS>": "datasets",
    "<config/quick.yaml with smaller sizes>": "config/quick.yaml",
}

# Programs whose commands are only parsed (shlex), never run here, and why.
PARSED_ONLY = {
    "dvc": "downloads benchmark archives or talks to a DVC remote (network); tests/test_dvc.py runs the stages on local fixtures",
    "git": "changes the repository (commits)",
    "sudo": "installs and starts system services (SLURM); tests/test_slurm.py runs them when asked",
    "export": "sets an environment variable",
    "pip": "installs packages (network)",
    "conda": "creates an environment (network)",
    "MAMBA_FORCE_BUILD=TRUE": "builds the CUDA extensions (needs a GPU and network)",
    "bash": "runs benchmarks/gpu_check.sh, which needs a CUDA GPU; tests/test_gpu_check.py runs it as printed with --dry-run",
    "python": "a console transcript that writes mine.npy in the working directory; the same array is scored in tests/test_task_continuity.py",
}

# snakemake options that need something this test does not build: (option, why).
SNAKEMAKE_DRY_RUN_WITHOUT = {
    "--report": "renders the HTML report from a finished run; the dry run checks the DAG it reports on",
}

_COMMANDS = ("snakemake", "contlaws", "make")
_SHELL_LANGS = {"", "bash", "sh", "shell", "console", "text"}


def _logical_lines(block: str) -> list[str]:
    """Lines of a code block with backslash continuations joined."""
    out, pending = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _console_commands(lines: list[str]) -> list[str]:
    """The `$ ` lines of a console transcript (a quoted argument may span lines); output dropped."""
    out, pending = [], None
    for line in lines:
        if pending is not None:
            pending += "\n" + line
        elif line.startswith("$ "):
            pending = line[2:]
        else:
            continue  # program output
        try:
            shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        out.append(pending)
        pending = None
    return out


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every command in the docs, placeholders substituted."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        rel = doc.relative_to(REPO)
        for match in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
            lang, block = match.group(1).strip(), match.group(2)
            if lang not in _SHELL_LANGS:
                continue
            console = any(line.startswith("$ ") for line in block.splitlines())
            lines = _logical_lines(block)
            if console:
                lines = _console_commands(lines)
            for line in lines:
                words = line.split()
                if not words:
                    continue
                if words[0] in _COMMANDS or words[0] in PARSED_ONLY or console or lang in ("bash", "sh", "shell"):
                    found.append((f"{rel}:{text[: match.start()].count(chr(10)) + 1}", line.strip()))
        # inline code that is a command: `snakemake fig4 --configfile ...`
        prose = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
        for match in re.finditer(r"`([^`\n]+)`", prose):
            span = match.group(1).strip()
            if span.split()[0] in _COMMANDS and len(span.split()) > 1:
                found.append((f"{rel} (inline)", span))
    out = []
    for where, command in found:
        for placeholder, value in PLACEHOLDERS.items():
            command = command.replace(placeholder, value)
        out.append((where, command))
    return out


def _words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


def _is_synopsis(words: list[str]) -> bool:
    """A usage line (`contlaws bench prepare TASK --config C [--raw DIR]`), not a runnable command."""
    return any(re.search(r"[\[\]<>|]|\.\.\.", w) or (w.isupper() and len(w) > 1) for w in words)


COMMANDS = documented_commands()

# Commands for a SLURM cluster (the slurm profile, `--slurm-*` flags) need Snakemake's SLURM executor
# plugin, the `cluster` extra, which the default `make venv` leaves out (docs/cluster.md). Without it
# they are checked by their own tests below, which skip and say why; with it (CI installs it after
# running `make test` on the default install) they are parsed and dry-run like every other command.
SLURM_PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
WITHOUT_SLURM_PLUGIN = "needs the `cluster` extra (Snakemake's SLURM executor plugin): make venv EXTRAS=pipeline,test,cluster"


def _needs_slurm_plugin(command: str) -> bool:
    return "profiles/slurm" in command or "--slurm-" in command


def _by_program(program, slurm=False):
    """Documented commands of ``program``; ``slurm`` selects those that need the SLURM plugin."""
    return [
        (w, c) for w, c in COMMANDS if _words(c) and _words(c)[0] == program and _needs_slurm_plugin(c) == slurm
    ]


def test_the_docs_hold_commands_of_every_kind():
    programs = {_words(c)[0] for _, c in COMMANDS if _words(c)}
    assert {"snakemake", "contlaws", "make"} <= programs
    assert len(_by_program("snakemake")) >= 15
    assert len(_by_program("snakemake", slurm=True)) >= 3  # the cluster commands of README and docs/cluster.md


def test_every_command_is_checked_or_listed_as_parsed_only():
    for where, command in COMMANDS:
        words = _words(command)
        if not words:
            continue
        program = words[0]
        assert program in _COMMANDS or program in PARSED_ONLY, (
            f"{where}: `{command}`: no check for `{program}` commands; add one here or list it in PARSED_ONLY with the reason"
        )


# ---------------------------------------------------------------------------------------------
# snakemake
# ---------------------------------------------------------------------------------------------
def _rule_names() -> set[str]:
    names = set()
    for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        names |= set(re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", path.read_text(), flags=re.MULTILINE))
    return names


def _parse_snakemake(words):
    from snakemake.cli import get_argument_parser

    return get_argument_parser().parse_args(words[1:])


def _check_parse(commands):
    rules = _rule_names()
    for where, command in commands:
        args = _parse_snakemake(_words(command))
        for configfile in args.configfile or []:
            assert Path(REPO, configfile).is_file(), f"{where}: `{command}`: --configfile {configfile} is not a file (a target after --configfile?)"
        for target in args.targets or []:
            assert target in rules or "/" in target, f"{where}: `{command}`: target {target!r} is not a rule"
        # `--resources gpu=2 fig4`: Snakemake takes the target as a resource and stops
        # Snakemake parses --resources into {name: Resource} (a word without "=" fails the parse itself);
        # older versions keep the words: each must be NAME=VALUE
        if not isinstance(args.resources, Mapping):
            for resource in args.resources or []:
                assert "=" in resource, f"{where}: `{command}`: resource {resource!r} has no value (a target after --resources?)"
        for entry in args.config or []:
            assert "=" in entry, f"{where}: `{command}`: --config {entry!r} is not KEY=VALUE (a target after --config?)"


def test_snakemake_commands_parse_with_their_targets_where_they_belong():
    _check_parse(_by_program("snakemake"))


@pytest.mark.skipif(not SLURM_PLUGIN, reason=WITHOUT_SLURM_PLUGIN)
def test_slurm_commands_parse_with_their_targets_where_they_belong():
    _check_parse(_by_program("snakemake", slurm=True))


def _dry_runs(slurm=False) -> dict[tuple[str, ...], tuple[list[str], list[str]]]:
    """Documented snakemake commands grouped by their options: options -> (targets, sources).

    Commands that differ only in their targets share one dry run over the union of the targets
    (a dry run of several targets builds the DAG of each); --cores does not change a dry run.
    """
    runs: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
    for where, command in _by_program("snakemake", slurm=slurm):
        words = _words(command)
        targets = list(_parse_snakemake(words).targets or [])
        options, skip = [], 0
        for word in words[1:]:
            if skip:
                skip -= 1
                continue
            option = word.split("=")[0]
            if option in SNAKEMAKE_DRY_RUN_WITHOUT or option in ("--cores", "-c"):
                skip = 0 if "=" in word else 1
                continue
            if word in targets:
                targets.remove(word)  # each target word once; options keep their values
                continue
            options.append(word)
        key = tuple(options)
        runs.setdefault(key, ([], []))
        wanted = list(_parse_snakemake(words).targets or []) or ["all"]  # no target: the default one
        runs[key][0].extend(t for t in wanted if t not in runs[key][0])
        runs[key][1].append(f"{where}: `{command}`")
    return runs


def test_snakemake_commands_dry_run():
    _check_dry_runs(_dry_runs())


@pytest.mark.skipif(not SLURM_PLUGIN, reason=WITHOUT_SLURM_PLUGIN)
def test_slurm_commands_dry_run():
    _check_dry_runs(_dry_runs(slurm=True))


def _check_dry_runs(runs):

    def dry_run(options):
        targets = runs[options][0]
        check = [] if "--lint" in options or "--list-rules" in options else ["-n"]
        return subprocess.run(
            [sys.executable, "-m", "snakemake", *targets, *options, "--cores", "2", *check],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(runs, pool.map(dry_run, runs)))
    failed = [
        f"{sources[0]} (and {len(sources) - 1} more)\n  snakemake {' '.join(targets)} {' '.join(options)} -n -> exit "
        f"{results[options].returncode}\n  {results[options].stderr.strip()[-600:]}"
        for options, (targets, sources) in runs.items()
        if results[options].returncode != 0
    ]
    assert not failed, "\n".join(failed)


# ---------------------------------------------------------------------------------------------
# contlaws
# ---------------------------------------------------------------------------------------------
def _subcommand_parser(parser: argparse.ArgumentParser, words: list[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of the (nested) subcommand that ``words`` name, and the words it names it with."""
    path = []
    for word in words:
        choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if not choices or word not in choices:
            break
        parser = choices[word]
        path.append(word)
    return parser, path


@pytest.mark.parametrize("where,command", _by_program("contlaws"), ids=[c[:60] for _, c in _by_program("contlaws")])
def test_contlaws_commands_parse(where, command):
    """Every command names an existing subcommand and only options it has; a command in a code block
    (not a synopsis such as `contlaws bench prepare TASK [--raw DIR]`) parses completely. Inline code
    in prose often names a command with one option (`contlaws bench fetch --url`): the first check."""
    from contlaws import commands

    words = _words(command)[1:]
    parser = commands.build_parser(commands._command_of(words))
    sub, path = _subcommand_parser(parser, words)
    if words and all(w in parser._option_string_actions for w in words):  # `contlaws --help`, `--version`
        return
    assert path, f"{where}: `{command}`: no such contlaws command"
    for word in words:
        option = word.strip("[]").split("=")[0]
        if option.startswith("-"):
            assert option in sub._option_string_actions, f"{where}: `{command}`: `contlaws {' '.join(path)}` has no option {option}"
    if _is_synopsis(words) or "(inline)" in where:
        return
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"{where}: `{command}` does not parse (exit {exc.code})")
    assert callable(getattr(args, "func", None)), f"{where}: `{command}` names no runnable command"


# ---------------------------------------------------------------------------------------------
# make
# ---------------------------------------------------------------------------------------------
def test_make_targets_exist():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))
    for where, command in _by_program("make"):
        for target in _words(command)[1:]:
            if "=" in target:
                continue  # a variable (`make replicate CORES=4`)
            assert target in targets, f"{where}: `{command}`: no Makefile target {target!r}"
