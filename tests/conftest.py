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


def with_c4_grid_of(cfg: dict, paths: dict) -> dict:
    """A copy of ``cfg`` whose E3 grid is that of a hand-made C4 fixture (input ``paths``): the systems
    and eta values of its alignment table, the seeds of its per-seed table. C4 names each point of the
    config's grid the tables lack, so a fixture on another grid than the config's must bring its own."""
    import copy

    import pandas as pd

    table, seeds = pd.read_csv(paths["alignment"]), pd.read_csv(paths["advantages_by_seed"])
    out = copy.deepcopy(cfg)
    out["eta_performance"]["systems"] = list(dict.fromkeys(table["system"]))
    out["forecasting"]["etas"] = sorted(set(table["eta"].astype(float)))
    out["eta_performance"]["seeds"] = sorted(set(seeds["seed"].astype(int))) or [0]
    return out


def with_c5_grid_of(cfg: dict, paths: dict) -> dict:
    """A copy of ``cfg`` whose E5 grid is that of a hand-made C5 fixture (input ``paths``): the tasks
    and seeds of its table (C5 names each point of the config's grid the tables lack)."""
    import copy

    import pandas as pd

    table = pd.read_csv(paths["table"])
    out = copy.deepcopy(cfg)
    out["subsampling"]["tasks"] = list(dict.fromkeys(table["task"]))
    out["subsampling"]["seeds"] = sorted(set(table["seed"].astype(int)))
    return out
