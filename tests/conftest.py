"""Shared test fixtures."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: opens the HTML report in headless Chromium (make report-check)")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture()
def quick_config():
    """The resolved quick config (a fresh copy per test)."""
    from contlaws.config import load_config

    return load_config(REPO / "config" / "quick.yaml")


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz archive (bytes) holding ``members`` (name -> content), for download/unpack fixtures."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
