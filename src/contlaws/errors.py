"""The errors a user can cause, in one place.

The library raises these; only :mod:`contlaws.commands` turns them into one ``error: ...`` line on
stderr and exit status 2. Anything else escaping a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(RuntimeError):
    """A failure caused by the user's input (bad arguments, missing files); exit status 2."""


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the offending value."""


class DataFileError(RuntimeError):
    """A data or result file is missing, truncated, corrupt or fails its checksum."""


class OutputFileError(DataFileError):
    """An output cannot be written where asked: the path is one of the command's own inputs, or the
    folder is read-only, the disk is full, a parent is not a folder, ... (reported like any
    :class:`DataFileError`: one line naming the path, exit status 2)."""


class RunFolderBusy(UserError):
    """Another process is training in the same run folder (it holds the folder's lock)."""


class ResumeMismatch(UserError):
    """``last.pt`` in the output folder was made by a different run (settings, model or data)."""


# What the command line reports as one line and exit status 2.
USER_ERRORS = (ConfigError, DataFileError, UserError)
