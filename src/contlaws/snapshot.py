"""Settings snapshots: the resolved config of a DAG build, in ``<results>/configs/<hash>.json``.

The file name is the first 16 hex digits of the sha256 of its content, so a later build with other
settings writes another file, and a job reads the settings it was scheduled with. A file whose
content no longer hashes to its name was edited or truncated: every reader refuses it and
:func:`write_snapshot` never rewrites it (jobs may already have run with the edited settings).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contlaws.errors import ConfigError


def write_snapshot(cfg: Mapping[str, Any], folder: str | Path) -> Path:
    """Write the resolved ``cfg`` to ``folder/configs/<sha256 prefix>.json`` once; return the path.

    The name is the hash of the content, so a file is never rewritten with other settings: a job
    given this path reads the settings it was scheduled with, whatever later DAG builds (a dry run
    with another config, a second invocation) write beside it.
    """
    from contlaws.io import dumps_json, write_text

    text = dumps_json(cfg)
    path = Path(folder) / "configs" / f"{_content_hash(text.encode('utf-8'))}.json"
    if path.exists():
        # An existing file is never rewritten: if it was edited, jobs may already have run with the
        # edited settings, and putting the content back silently would hide that.
        verify_snapshot(path, path.read_bytes())
    else:
        write_text(path, text)
    return path


# A settings snapshot: <run results>/configs/<first 16 hex digits of the sha256 of the content>.json
_SNAPSHOT_NAME = re.compile(r"^[0-9a-f]{16}\.json$")


def _content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def is_snapshot(path: str | Path) -> bool:
    """Whether ``path`` is named like a settings snapshot of :func:`write_snapshot`."""
    path = Path(path)
    return path.parent.name == "configs" and bool(_SNAPSHOT_NAME.match(path.name))


def verify_snapshot(path: str | Path, data: bytes) -> None:
    """ConfigError when ``path`` is a settings snapshot whose content ``data`` does not hash to its name.

    The name is the hash of the settings the pipeline scheduled its jobs with; a file edited or
    truncated since holds other settings, and a job must not train or evaluate with them.
    """
    path = Path(path)
    if is_snapshot(path) and _content_hash(data) != path.stem:
        raise ConfigError(
            f"config snapshot {path} does not match its name (its content was edited or truncated after the "
            "pipeline wrote it), so its settings are not the ones the jobs were scheduled with and are not used; "
            "delete the file and rerun snakemake, which writes it again from the config (outputs made with the "
            "edited settings should be removed too, e.g. with --forcerun)"
        )
