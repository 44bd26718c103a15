"""Transitional alias of :mod:`contlaws.commands` while the handlers move there (removed at the end)."""

from contlaws.commands import COMMAND_MODULES, COMMANDS, _command_of, build_parser, main  # noqa: F401
from contlaws.commands.common import add_config_argument, config_from_args, set_threads  # noqa: F401
from contlaws.errors import UserError  # noqa: F401
