"""The ``contlaws`` command line: one entry point, one subcommand per topic.

This package is the only place that parses arguments, prints for the user and chooses exit
statuses; the library below it takes explicit arguments and raises :mod:`contlaws.errors`.
Each topic module listed in :data:`COMMANDS` exposes ``register(subparsers)``, which adds its
subcommand(s) with ``parser.set_defaults(func=...)``; ``func(args)`` returns an exit status (or
None for success). Snakemake rules call these commands, so every rule's logic is importable and
testable. Known failures (invalid config, bad data file) print one clear ``error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from contlaws import __version__
from contlaws.errors import USER_ERRORS

# The commands in help order: user tools first, then the pipeline steps the Snakemake rules call, by
# topic (named as the rule files). Pipeline steps are named <experiment>-<verb> (docs/development.md,
# "Command and option names"). Each command names the topic module that registers it; only the module
# of the command being run is imported, so light commands (data generation, tables) do not pay for
# importing torch; `contlaws --help` imports them all. tests/test_cli.py checks this table against
# the modules' register() functions.
USER_TOOLS = "user tools"
GROUPS: dict[str, dict[str, str]] = {
    USER_TOOLS: {
        "task-continuity": "contlaws.commands.task_continuity",
        "model-continuity": "contlaws.commands.model_continuity",
        "train": "contlaws.commands.train",
        "claims": "contlaws.commands.claims",
        "config": "contlaws.commands.config",
    },
    "datasets (data.smk, benchmarks.smk, dvc.yaml)": {
        "data": "contlaws.commands.data",
        "bench": "contlaws.commands.benchmarks",
    },
    "E1 numerical refinement (refinement_numerical.smk)": {
        "refinement-numerical-run": "contlaws.commands.refinement_numerical",
        "refinement-numerical-plot": "contlaws.commands.refinement_numerical",
    },
    "E2 trained refinement, Figure 4 (refinement_trained.smk)": {
        "refinement-trained-evaluate": "contlaws.commands.refinement_trained",
        "refinement-trained-gather": "contlaws.commands.refinement_trained",
        "refinement-trained-plot": "contlaws.commands.refinement_trained",
        "refinement-trained-continuity-table": "contlaws.commands.refinement_trained",
    },
    "E3 performance vs eta, Figure 5 (eta_performance.smk)": {
        "eta-performance-evaluate": "contlaws.commands.eta_performance",
        "eta-performance-gate": "contlaws.commands.eta_performance",
        "eta-performance-gather": "contlaws.commands.eta_performance",
        "eta-performance-plot": "contlaws.commands.eta_performance",
    },
    "E4 task continuity and alignment (task_continuity.smk)": {
        "task-continuity-gather": "contlaws.commands.alignment",
        "alignment-run": "contlaws.commands.alignment",
        "alignment-plot": "contlaws.commands.alignment",
    },
    "C4(b) alignment across real benchmarks (alignment_benchmarks.smk)": {
        "alignment-benchmarks-train": "contlaws.commands.alignment_benchmarks",
        "alignment-benchmarks-gather": "contlaws.commands.alignment_benchmarks",
        "alignment-benchmarks-plot": "contlaws.commands.alignment_benchmarks",
    },
    "E5 temporal subsampling, Figure 6 (subsampling.smk)": {
        "subsampling-train": "contlaws.commands.subsampling",
        "subsampling-gather": "contlaws.commands.subsampling",
        "subsampling-plot": "contlaws.commands.subsampling",
    },
    "claims and report (report.smk)": {
        "claims-gather": "contlaws.commands.report",
        "report-provenance": "contlaws.commands.report",
        "report-page": "contlaws.commands.report",
    },
    "robustness variants (Makefile: make robustness)": {
        "robustness-plan": "contlaws.commands.robustness",
        "robustness-gather": "contlaws.commands.robustness",
        "robustness-complete": "contlaws.commands.robustness",
        "robustness-seed": "contlaws.commands.robustness",
        "robustness-plot": "contlaws.commands.robustness",
    },
}
COMMANDS = {name: module for group in GROUPS.values() for name, module in group.items()}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

log = logging.getLogger("contlaws")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with ``command`` only that command's module is imported and registered."""
    parser = argparse.ArgumentParser(prog="contlaws", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"contlaws {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of the commands below; `contlaws COMMAND --help` shows its options")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    if command not in COMMANDS:
        parser.epilog = grouped_command_list(sub)
    return parser


def grouped_command_list(sub) -> str:
    """The registered commands with their one-line help, in the groups of :data:`GROUPS`.

    Replaces argparse's single alphabetical-by-registration list under COMMAND (the help lines are
    read from, then removed from, the subparsers action), so user tools come first.
    """
    helps = {action.dest: action.help or "" for action in sub._choices_actions}
    sub._choices_actions.clear()
    width = max(map(len, COMMANDS)) + 2
    blocks = []
    for title, names in GROUPS.items():
        heading = title + ":" if title == USER_TOOLS else f"pipeline steps, {title}:"
        blocks.append("\n".join([heading, *(f"  {name:<{width}}{helps.get(name, '')}" for name in names)]))
    return "\n\n".join(blocks)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (first word that is not a global option)."""
    for word in argv:
        if word in ("-v", "--verbose"):
            continue
        return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    standalone = argv is None  # the `contlaws` process itself, not a call from Python code or a test
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    args.standalone = standalone
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if standalone:  # the process's own allocator; a library caller keeps theirs
        from contlaws.allocator import tune_malloc

        logging.getLogger(__name__).debug("glibc malloc thresholds: %s", tune_malloc())
    try:
        status = args.func(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        if not standalone:
            raise
        return _reader_went_away()
    return int(status or 0)


def _reader_went_away() -> int:
    """``contlaws ... | head``: the reader closed the pipe. End quietly with the shell's SIGPIPE status (128 + 13).

    Python would otherwise print a traceback here, and another one when it flushes stdout at exit, so
    stdout is pointed at /dev/null first.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
