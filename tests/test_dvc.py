"""DVC: a local-remote round trip, the repository's fetch stages, and an LRA-shaped fetch through
`dvc repro` whose archive checksum DVC pins in dvc.lock. Offline; temporary git repositories only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import make_tar_gz

from contlaws import commands
from contlaws.data import fetch
from contlaws.data.benchmarks import listops, sources

REPO = Path(__file__).resolve().parents[1]
BENCH_MODULE = "contlaws.data.benchmarks.cli"


def dvc_env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    if extra_path is not None:
        path.insert(0, str(extra_path))
    env["PATH"] = os.pathsep.join(path)
    return env


def run(cmd: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(shlex.split(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def new_repo(path: Path, env: dict[str, str]) -> Path:
    path.mkdir()
    run("git init -q", path, env)
    run("dvc init -q", path, env)  # analytics: off through DVC_NO_ANALYTICS=1 in env
    return path


def test_local_remote_round_trip(tmp_path):
    env = dvc_env()
    repo = new_repo(tmp_path / "repo", env)
    data = os.urandom(50_000)
    (repo / "blob.bin").write_bytes(data)
    remote = tmp_path / "remote"  # a plain path (file:// URLs misbehave, see docs/benchmarks.md)
    run("dvc add -q blob.bin", repo, env)
    run(f"dvc remote add -d local {remote}", repo, env)
    run("dvc push -q", repo, env)
    assert any(p.is_file() for p in remote.rglob("*"))
    (repo / "blob.bin").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    run("dvc pull -q", repo, env)
    assert (repo / "blob.bin").read_bytes() == data


def test_repository_dvc_setup_and_fetch_stages_are_wired():
    config = (REPO / ".dvc" / "config").read_text()
    assert "analytics = false" in config
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(stages) == {f"fetch_{name}" for name in sources.SOURCES}
    parser = _bench_parser()
    for name, stage in stages.items():
        source = name.removeprefix("fetch_")
        argv = shlex.split(stage["cmd"])
        assert argv[:3] == ["contlaws", "bench", "fetch"]
        args = parser.parse_args(argv[1:])  # the command line is valid for the CLI
        assert args.source == source and args.md5 == sources.SOURCES[source].md5
        raw, archive = stage["outs"]
        assert raw == f"data/benchmarks/raw/{source}" == args.out.as_posix()
        (archive_path, opts), = archive.items()
        assert archive_path == sources.SOURCES[source].archive.as_posix() == args.archive.as_posix()
        assert opts == {"cache": False, "persist": True}
    listed = run("dvc stage list", REPO, dvc_env()).stdout
    assert all(name in listed for name in stages)


def _bench_parser():
    import argparse

    from contlaws.data.benchmarks import cli as bench_cli

    parser = argparse.ArgumentParser(prog="contlaws")
    bench_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_dvc_repro_fetch_lra_pins_archive_and_shares_it_through_a_remote(tmp_path):
    # `contlaws` on PATH for DVC's subprocess, registering only the bench commands
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "contlaws"
    wrapper.write_text(f"#!{sys.executable}\nimport sys\nimport contlaws.commands as c\n"
                       f"c.COMMAND_MODULES = ({BENCH_MODULE!r},)\nsys.exit(c.main())\n")
    wrapper.chmod(0o755)
    assert BENCH_MODULE in commands.COMMAND_MODULES
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    tsv = tmp_path / "basic.tsv"
    listops.write_tsv(tsv, list(listops.generate_examples(4, seed=0, max_length=60)))
    archive = make_tar_gz({f"lra_release/listops-1000/basic_{s}.tsv": tsv.read_bytes() for s in ("train", "val", "test")})
    (mirror / "lra_release.gz").write_bytes(archive)
    env = dvc_env(bin_dir) | {sources.MIRROR_ENV: str(mirror)}

    repo = new_repo(tmp_path / "repo", env)
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["fetch_lra"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"fetch_lra": stage}}))
    run("dvc repro -q fetch_lra", repo, env)
    raw = repo / "data/benchmarks/raw/lra/listops-1000"
    assert sorted(p.name for p in raw.iterdir()) == ["basic_test.tsv", "basic_train.tsv", "basic_val.tsv"]
    pinned = fetch.pinned_md5(repo / "dvc.lock", "data/benchmarks/downloads/lra_release.gz")
    assert pinned == fetch.md5_file(mirror / "lra_release.gz")  # DVC pinned the archive's md5

    # a teammate pulls the same bytes from the remote, without downloading
    run(f"dvc remote add -d team {tmp_path / 'remote'}", repo, env)
    run("dvc push -q", repo, env)
    before = (raw / "basic_train.tsv").read_bytes()
    shutil.rmtree(repo / "data/benchmarks/raw")
    shutil.rmtree(repo / ".dvc" / "cache")
    run("dvc pull -q fetch_lra", repo, env)
    assert (raw / "basic_train.tsv").read_bytes() == before

    # a changed upstream archive is refused against the pinned checksum
    (mirror / "lra_release.gz").write_bytes(make_tar_gz({"lra_release/listops-1000/basic_train.tsv": b"changed"}))
    (repo / "data/benchmarks/downloads/lra_release.gz").unlink()
    failed = run("dvc repro -f -q fetch_lra", repo, env, check=False)
    assert failed.returncode != 0 and "checksum mismatch" in failed.stderr + failed.stdout
    assert not (repo / "data/benchmarks/downloads/lra_release.gz").exists()
    assert not (repo / "data/benchmarks/downloads/lra_release.gz.part").exists()
