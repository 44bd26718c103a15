"""Every pipeline job is a fresh ``contlaws`` process: building the command line, and the library
modules that light jobs import, must not load torch, scipy, pandas or matplotlib unless the work needs
them. Each check runs in a fresh interpreter and reads ``sys.modules`` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "scipy", "pandas", "matplotlib")


def heavy_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter on this checkout's sources; then, for each step it records in
    ``steps`` (a list of labels), the heavy modules loaded by the end of that step."""
    script = (
        "import json, sys\n"
        f"HEAVY = {HEAVY!r}\n"
        "loaded = {}\n"
        "def mark(label): loaded[label] = [m for m in HEAVY if m in sys.modules]\n"
        f"{code}\n"
        "print(json.dumps(loaded))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_every_parser_imports_no_heavy_library():
    """`contlaws --help` (every command module registered), then each command's own parser alone."""
    loaded = heavy_after(
        "from contlaws.commands import COMMANDS, build_parser\n"
        "for name in COMMANDS:\n"
        "    build_parser(name)\n"
        "    mark(name)\n"
        "build_parser()\n"
        "mark('all')\n"
    )
    from contlaws.commands import COMMANDS

    assert set(loaded) == {*COMMANDS, "all"}
    assert {name: mods for name, mods in loaded.items() if mods} == {}


def test_help_of_a_pipeline_step_runs_without_heavy_imports():
    """The entry point itself, as a rule calls it, with --help (argparse exits 0 after printing)."""
    loaded = heavy_after(
        "from contlaws.commands import main\n"
        "for argv in (['claims', 'evaluate', '--help'], ['model-continuity', '--help'], ['report-page', '--help'],\n"
        "             ['refinement-numerical-plot', '--help'], ['bench', 'prepare', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, argv\n"
        "    mark(' '.join(argv))\n"
    )
    assert len(loaded) == 5
    assert {name: mods for name, mods in loaded.items() if mods} == {}


@pytest.mark.parametrize(
    ("modules", "allowed"),
    [
        # E3 training: the engine and the causal readout it is given (torch and pandas are the work)
        (("contlaws.train", "contlaws.experiments.eta_performance"), {"torch", "pandas"}),
        (("contlaws.claims",), {"pandas"}),  # claims evaluate C1, C2, C3, C5 need no scipy
        (("contlaws.data.benchmarks.tasks",), set()),  # every `bench` job
        (("contlaws.stats",), set()),
        (("contlaws.experiments.refinement_numerical",), set()),
        (("contlaws.task_continuity", "contlaws.data.regression", "contlaws.data.forecasting"), set()),
        (("contlaws.data.sets",), set()),  # every task-continuity job on a contlaws file reads it
    ],
)
def test_library_modules_defer_what_only_some_functions_need(modules, allowed):
    loaded = heavy_after("".join(f"import {m}\n" for m in modules) + "mark('import')\n")
    assert set(loaded["import"]) <= allowed, loaded


def test_the_deferred_imports_still_happen_when_the_function_runs():
    """The check sees a deferred import: calling the functions loads scipy (and gives scipy's numbers)."""
    loaded = heavy_after(
        "import numpy as np\n"
        "from contlaws import stats\n"
        "mark('import')\n"
        "result = stats.spearman([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 1.0, 4.0, 3.0, 6.0, 5.0])\n"
        "assert abs(result['rho'] - 0.8285714285714286) < 1e-12, result\n"
        "mark('spearman')\n"
        "from contlaws.experiments import refinement_numerical as e1\n"
        "a_bar, forcing = e1.zoh_pair(np.array([[-1.0]]), np.array(0.5), np.array([1.0]))\n"
        "assert abs(a_bar[0, 0] - np.exp(-0.5)) < 1e-12 and abs(forcing[0] - (1 - np.exp(-0.5))) < 1e-12\n"
        "mark('zoh')\n"
    )
    assert loaded["import"] == []
    assert "scipy" in loaded["spearman"] and "scipy" in loaded["zoh"]


def test_task_continuity_of_a_dataset_file_never_imports_torch_but_get_batch_does(tmp_path):
    """A task-continuity job scores a contlaws split as numpy arrays (torch's import was most of such a
    job's 2 s); the training engine's get_batch still gives tensors holding the same values."""
    loaded = heavy_after(
        "import numpy as np\n"
        "from contlaws.io import save_npz\n"
        "from contlaws.data.sets import load_split\n"
        "from contlaws.task_continuity.scoring import score_dataset\n"
        "t = np.linspace(0, 6, 64, dtype=np.float32)\n"
        "x = np.sin(t[None, :, None] + np.arange(8, dtype=np.float32)[:, None, None])  # (8 64 1) smooth\n"
        f"path = {str(tmp_path / 'smooth.npz')!r}\n"
        "save_npz(path, {'x': x, 'y': np.arange(8) % 2}, {'kind': 'classification', 'task': 'classification',\n"
        "         'input_kind': 'continuous', 'n_classes': 2})\n"
        "result = score_dataset(path, strides=(2, 4), progress=False)\n"
        "assert result.score > 0.9 and result.n_sequences == 8, result\n"
        "mark('scored')\n"
        "ds = load_split(path)\n"
        "x, y = ds.get_arrays(np.arange(5))\n"
        "tx, ty = ds.get_batch(np.arange(5))\n"
        "assert np.array_equal(tx.numpy(), x) and np.array_equal(ty.numpy(), y) and ds[2][0].shape == tx[2].shape\n"
        "mark('batch')\n"
    )
    assert "torch" not in loaded["scored"], loaded
    assert "torch" in loaded["batch"]
