"""A run folder is trained by one process at a time, and a trainer does not outlive the process
that started it: after Snakemake was killed with SIGKILL its trainer kept running as an orphan, and
a rerun trained the same folder a second time at once (both writing last.pt, best.pt, metrics.csv)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")

SRC = Path(__file__).resolve().parents[1] / "src"


def long_training(tmp_path) -> list[str]:
    """argv (after `python -m contlaws`) of a tiny S4D training of 100000 epochs: it runs until killed."""
    from test_train import cli_args, tiny_config, write_splits

    return cli_args(tiny_config(tmp_path, epochs=100_000), *write_splits(tmp_path), tmp_path / "run")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


def lock_holder(run: Path) -> int | None:
    """The PID a trainer wrote into ``run/.lock`` once it holds the folder."""
    try:
        text = (run / ".lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def stop(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path):
    argv = long_training(tmp_path)
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "contlaws", *argv], env=env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: lock_holder(run) == first.pid, 120, "the first trainer to hold the folder")
        second = subprocess.run([sys.executable, "-m", "contlaws", *argv], env=env(), capture_output=True, text=True, check=False,
                                timeout=120)  # fmt: skip
        errors = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert errors == [(f"error: {run}: another training (PID {first.pid}) is writing this run folder; wait for it "
                           "to end or stop it, then rerun")]
        assert first.poll() is None  # the first one trains on
    finally:
        first.kill()
        first.wait()
    # the lock ends with its holder, however it ended: a rerun after the SIGKILL trains
    from contlaws.errors import RunFolderBusy
    from contlaws.run_folder import hold_run_folder

    with hold_run_folder(run):
        assert lock_holder(run) == os.getpid()
        with pytest.raises(RunFolderBusy, match=rf"\(PID {os.getpid()}\)"), hold_run_folder(run):
            pass


LAUNCHER = """
import subprocess, sys
child = subprocess.Popen({command!r}, shell={shell}, executable={executable!r}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env={env!r})
print(child.pid, flush=True)
child.wait()
"""


def launch(tmp_path, command, shell: bool) -> subprocess.Popen:
    """A Python parent that starts ``command`` (a list, or a shell line run by bash as Snakemake does)."""
    script = tmp_path / "launcher.py"
    script.write_text(textwrap.dedent(LAUNCHER.format(command=command, shell=shell,
                                                      executable="/bin/bash" if shell else None, env=env())))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)


def test_a_trainer_ends_when_its_parent_is_killed(tmp_path):
    launcher = launch(tmp_path, [sys.executable, "-m", "contlaws", *long_training(tmp_path)], shell=False)
    trainer = int(launcher.stdout.readline())
    try:
        wait_for(lambda: lock_holder(tmp_path / "run") == trainer, 120, "the trainer to start training")
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait()
        wait_for(lambda: not alive(trainer), 10, f"the trainer {trainer} to end after its parent was killed")
    finally:
        stop(trainer)


def test_a_trainer_behind_a_shell_ends_when_the_launcher_is_killed(tmp_path):
    """Snakemake runs `bash -c "...; contlaws train ... 2> log"`: the shell outlives a killed Snakemake."""
    argv = " ".join(f"'{a}'" for a in long_training(tmp_path))
    line = f"set -euo pipefail; {sys.executable} -m contlaws {argv} 2> {tmp_path / 'train.log'}"
    launcher = launch(tmp_path, line, shell=True)
    shell = int(launcher.stdout.readline())
    run = tmp_path / "run"
    try:
        wait_for(lambda: lock_holder(run) is not None, 120, "the trainer to start training")
        trainer = lock_holder(run)
        assert trainer != shell and alive(shell)
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait()
        wait_for(lambda: not alive(trainer), 10, f"the trainer {trainer} to end after its launcher was killed")
        wait_for(lambda: not alive(shell), 10, "the shell to end after its trainer")
    finally:
        for pid in children(shell):  # a failed test leaves no trainer behind
            stop(pid)
        stop(shell)


def test_in_process_calls_do_not_tie_the_caller_to_its_parent(tmp_path, monkeypatch):
    """main([...]) from Python (tests, notebooks) must not arm the parent-death signal on the caller."""
    from contlaws import commands
    from contlaws.commands import train as train_command

    armed = []
    monkeypatch.setattr(train_command, "exit_with_parent", lambda: armed.append(True))
    monkeypatch.setattr(commands, "COMMAND_MODULES", ("contlaws.commands.train",))
    from test_train import cli_args, tiny_config, write_splits

    assert commands.main(cli_args(tiny_config(tmp_path, epochs=1), *write_splits(tmp_path), tmp_path / "run")) == 0
    assert armed == []


def test_every_training_command_ends_with_its_launcher(monkeypatch):
    """Every `*train` command a rule runs arms the parent-death handling before any work (the C4(b)
    trainer once did not: killing Snakemake left it writing its run folder)."""
    import importlib

    from contlaws import commands

    class Armed(Exception):
        pass

    def arm():
        raise Armed  # stop before the command reads its (absent) config

    trainers = sorted(name for name in commands.COMMANDS if name == "train" or name.endswith("-train"))
    assert {"train", "subsampling-train", "alignment-benchmarks-train"} <= set(trainers)
    for name in trainers:
        module = importlib.import_module(commands.COMMANDS[name])
        monkeypatch.setattr(module, "exit_with_parent", arm)
        handlers = [getattr(module, f) for f in dir(module) if f.startswith(("cli_", "cmd_")) and "train" in f]
        assert handlers, name
        for handler in handlers:
            with pytest.raises(Armed):
                handler(type("Args", (), {"standalone": True})())
