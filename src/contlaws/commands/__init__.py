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
import sys
from collections.abc import Sequence

from contlaws import __version__
from contlaws.errors import USER_ERRORS

# Subcommand -> topic module that registers it (in help order). Only the module of the command
# being run is imported, so light commands (data generation, tables) do not pay for importing
# torch; `contlaws --help` imports them all. tests/test_cli.py checks this table against the
# modules' register() functions.
COMMANDS = {
    "data": "contlaws.data.cli",
    "bench": "contlaws.data.benchmarks.cli",
    "train": "contlaws.commands.train",
    "refine-numerical": "contlaws.experiments.refinement_numerical",
    "refine-numerical-plot": "contlaws.experiments.refinement_numerical",
    "evaluate-refinement": "contlaws.experiments.refinement_trained",
    "refinement-trained-aggregate": "contlaws.experiments.refinement_trained",
    "plot-figure4": "contlaws.plots.figure4",
    "table-model-continuity": "contlaws.plots.figure4",
    "model-continuity": "contlaws.model_continuity",
    "task-continuity": "contlaws.commands.task_continuity",
    "eta-evaluate": "contlaws.experiments.eta_performance",
    "eta-gather": "contlaws.experiments.eta_performance",
    "plot-figure5": "contlaws.plots.figure5",
    "task-continuity-table": "contlaws.experiments.alignment",
    "alignment": "contlaws.experiments.alignment",
    "plot-alignment": "contlaws.plots.alignment",
    "subsample-train": "contlaws.experiments.subsampling",
    "subsample-plot": "contlaws.experiments.subsampling",
    "claims": "contlaws.commands.claims",
    "claims-table": "contlaws.report",
    "provenance": "contlaws.report",
    "report-page": "contlaws.report",
    "config": "contlaws.config",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

log = logging.getLogger("contlaws")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with ``command`` only that command's module is imported and registered."""
    parser = argparse.ArgumentParser(prog="contlaws", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"contlaws {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (first word that is not a global option)."""
    for word in argv:
        if word in ("-v", "--verbose"):
            continue
        return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        status = args.func(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
