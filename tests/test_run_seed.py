"""`contlaws robustness-seed`: a variant run starts from a finished run and Snakemake reruns only what changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from contlaws import commands
from contlaws.errors import UserError
from contlaws.run_seed import record_path, recorded_paths, renamed_record, seed_run

# A two-step workflow in the project's layout: data/<run>/x.txt from setting `alpha`, results/<run>/y.txt from
# x.txt and setting `beta`; each rule carries the setting it reads as a params value, as the project's rules do.
SNAKEFILE = textwrap.dedent(
    """
    RUN = config["run_name"]

    rule all:
        input: f"results/{RUN}/y.txt"

    rule make_x:
        output: f"data/{RUN}/x.txt"
        params: settings=lambda wildcards: str(config["alpha"])
        log: f"logs/{RUN}/x.log"
        shell: "echo {params.settings} > {output}.tmp && mv {output}.tmp {output}; echo x > {log}"

    rule make_y:
        input: f"data/{RUN}/x.txt"
        output: f"results/{RUN}/y.txt"
        params: settings=lambda wildcards: str(config["beta"])
        log: f"logs/{RUN}/y.log"
        shell: "cat {input} > {output}.tmp && echo {params.settings} >> {output}.tmp && mv {output}.tmp {output}; echo y > {log}"
    """
)


def snakemake(workdir, *args):
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=workdir, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def planned_rules(workdir, **config) -> set[str]:
    """Rules a dry run would execute for ``config`` (empty: nothing to do)."""
    out = snakemake(workdir, "-n", "--config", *(f"{k}={v}" for k, v in config.items()))
    return {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("rule ")} - {"all"}


@pytest.fixture()
def finished_run(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    snakemake(tmp_path, "--config", "run_name=base", "alpha=1", "beta=2")
    assert (tmp_path / "results" / "base" / "y.txt").read_text().split() == ["1", "2"]
    assert planned_rules(tmp_path, run_name="base", alpha=1, beta=2) == set()
    return tmp_path


def test_a_seeded_variant_reruns_exactly_the_jobs_whose_settings_changed(finished_run):
    report = seed_run(finished_run, "base", "variant")
    assert report.files == 4 and report.records >= 2 and report.kept == 0
    assert planned_rules(finished_run, run_name="variant", alpha=1, beta=2) == set()  # same settings: nothing to do
    assert planned_rules(finished_run, run_name="variant", alpha=1, beta=3) == {"make_y"}  # only the step that reads b
    assert planned_rules(finished_run, run_name="variant", alpha=5, beta=2) == {"make_x", "make_y"}  # a, and what follows
    # without seeding, the same variant would run everything
    assert planned_rules(finished_run, run_name="unseeded", alpha=1, beta=2) == {"make_x", "make_y"}


def test_a_rerun_in_the_variant_never_writes_into_the_baseline(finished_run):
    seed_run(finished_run, "base", "variant")
    base_y, variant_y = finished_run / "results" / "base" / "y.txt", finished_run / "results" / "variant" / "y.txt"
    assert os.path.samefile(base_y, variant_y)  # linked, not copied
    assert not os.path.samefile(finished_run / "logs/base/y.log", finished_run / "logs/variant/y.log")  # copied
    snakemake(finished_run, "--config", "run_name=variant", "alpha=1", "beta=3")
    assert variant_y.read_text().split() == ["1", "3"]
    assert base_y.read_text().split() == ["1", "2"]  # the baseline's file is untouched
    assert planned_rules(finished_run, run_name="base", alpha=1, beta=2) == set()


def test_seeding_keeps_what_the_variant_has_and_twice_is_a_no_op(finished_run):
    seed_run(finished_run, "base", "variant")
    again = seed_run(finished_run, "base", "variant")
    assert again.files == 0 and again.records == 0 and again.kept == 4


def test_a_variant_seeded_again_after_its_folders_were_deleted_takes_the_new_records(finished_run):
    """The baseline reran (beta 2 -> 4) after a first seeding; the variant's folders were deleted and seeded again:
    the fresh links must come with the baseline's new records, not the stale ones of the first seeding."""
    import shutil

    seed_run(finished_run, "base", "variant")
    snakemake(finished_run, "--config", "run_name=base", "alpha=1", "beta=4")
    for root in ("data", "results", "logs"):
        shutil.rmtree(finished_run / root / "variant")
    seed_run(finished_run, "base", "variant")
    assert planned_rules(finished_run, run_name="variant", alpha=1, beta=4) == set()


def test_record_paths_round_trip_also_for_paths_longer_than_a_file_name(tmp_path):
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    paths = ["results/run/a.csv", "results/run/" + "/".join(["a_long_folder_name_" * 3] * 6) + "/file.json"]
    for path in paths:
        record = record_path(metadata, path)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("{}")
        assert all(len(part) < 256 for part in record.relative_to(metadata).parts)
    assert len(record.relative_to(metadata).parts) > 1  # the long one is cut into folders
    assert sorted(p for p, _ in recorded_paths(metadata)) == sorted(paths)


@pytest.mark.parametrize(("text", "message"), [("{not json", "not a Snakemake metadata record"),
                                                (json.dumps({"record_format_version": 99}), "record format 99")])
def test_an_unreadable_record_is_refused_naming_it(tmp_path, text, message):
    with pytest.raises(UserError, match=message) as err:
        renamed_record(text, tmp_path / "rec", "base", "variant")
    assert str(tmp_path / "rec") in str(err.value)


def test_renaming_touches_run_folders_only():
    text = json.dumps({"record_format_version": 6, "input": ["data/base/x.txt", "results/baseline/z.txt"],
                       "params": ["'results/base/y.txt'", "'base'"]})  # fmt: skip
    renamed = json.loads(renamed_record(text, "rec", "base", "v"))
    assert renamed["input"] == ["data/v/x.txt", "results/baseline/z.txt"]
    assert renamed["params"] == ["'results/v/y.txt'", "'base'"]


@pytest.mark.parametrize(("source", "target", "message"), [("base", "base", "from itself"),
                                                            ("missing", "v", "no such run"),
                                                            ("base", "../x", "a folder name"),
                                                            ("base", "", "a folder name")])
def test_bad_run_names_are_one_line(finished_run, source, target, message, capsys):
    with pytest.raises(UserError, match=message):
        seed_run(finished_run, source, target)
    args = ["robustness-seed", "--from", source, "--to", target, "--workdir", str(finished_run)]
    assert commands.main(args) == 2
    assert message in capsys.readouterr().err
