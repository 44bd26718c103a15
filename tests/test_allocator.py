"""glibc malloc thresholds (contlaws.allocator): when they are raised, that they keep freed memory
mapped, that every `contlaws` process raises them and a library caller's does not, and that a
training gives the same weights either way."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch
from test_train import tiny_config, write_splits

from contlaws.train import read_checkpoint

GLIBC = platform.libc_ver()[0] == "glibc"
needs_glibc = pytest.mark.skipif(not GLIBC, reason="mallopt thresholds exist on glibc only")

# Ten 4 MiB blocks allocated, then freed: with glibc's defaults the freed 40 MiB at the heap top
# exceed its (dynamic) trim threshold and go back to the OS, so the next round faults its pages in
# again; with the raised thresholds they stay mapped.
FAULTS_PER_ROUND = """
import resource, sys
import numpy as np
from contlaws.allocator import tune_malloc
print(tune_malloc())
def one_round():
    blocks = [np.ones(2**20, dtype=np.float32) for _ in range(10)]
    del blocks
one_round(); one_round()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    one_round()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def python(code: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("CONTLAWS_MALLOC_TUNING", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.splitlines()


@needs_glibc
@pytest.mark.parametrize(("env", "outcome"), [
    ({}, "tuned"),
    ({"CONTLAWS_MALLOC_TUNING": "0"}, "opted out"),
    ({"CONTLAWS_MALLOC_TUNING": "1"}, "tuned"),
    ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, "user settings"),
    ({"MALLOC_MMAP_THRESHOLD_": "1000000"}, "user settings"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"}, "user settings"),
])
def test_the_thresholds_are_raised_unless_the_user_set_them_or_opted_out(env, outcome):
    assert python("from contlaws.allocator import tune_malloc; print(tune_malloc())", **env) == [outcome]


@needs_glibc
def test_raised_thresholds_keep_freed_blocks_mapped():
    tuned, tuned_faults = python(FAULTS_PER_ROUND)
    default, default_faults = python(FAULTS_PER_ROUND, CONTLAWS_MALLOC_TUNING="0")
    assert (tuned, default) == ("tuned", "opted out")
    # 10 x 1024 pages per round: most of them fault again under the defaults, none when tuned
    assert float(default_faults) > 2000
    assert float(tuned_faults) < 50


@needs_glibc
def test_every_contlaws_process_raises_them_and_a_library_call_does_not():
    run = subprocess.run([sys.executable, "-m", "contlaws", "-v", "claims", "list"], capture_output=True, text=True,
                         timeout=120, check=True)
    assert "glibc malloc thresholds: tuned" in run.stderr
    library = python("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)\n"
                     "from contlaws.commands import main; main(['-v', 'claims', 'list'])")
    assert any(line.startswith("C1") for line in library)  # the listing, and the log, went to this stdout
    assert not any("malloc" in line for line in library)


def test_a_training_gives_the_same_weights_with_and_without_them(tmp_path):
    """Where tensors live must not change their values: S6 and S4D, 2 epochs, each way in its own process."""
    config = tiny_config(tmp_path, epochs=2)
    train, val = write_splits(tmp_path)
    folders = {}
    for way, env in (("tuned", {}), ("glibc", {"CONTLAWS_MALLOC_TUNING": "0"})):
        folders[way] = tmp_path / way
        subprocess.run([sys.executable, "-m", "contlaws", "train", "--config", str(config), "--model", "s4d", "s6",
                        "--seed", "0", "--train", str(train), "--val", str(val),
                        "--out", f"{folders[way]}/{{model}}_seed{{seed}}"],
                       env={**os.environ, "OMP_NUM_THREADS": "1", **env}, capture_output=True, text=True, timeout=300,
                       check=True)  # fmt: skip
    for run in ("s4d_seed0", "s6_seed0"):
        for name in ("best.pt", "last.pt"):
            a = read_checkpoint(folders["tuned"] / run / name)["model_state"]
            b = read_checkpoint(folders["glibc"] / run / name)["model_state"]
            assert a.keys() == b.keys()
            assert all(torch.equal(a[k], b[k]) for k in a), f"{run} {name}"
