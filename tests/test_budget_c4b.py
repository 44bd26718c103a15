"""The C4(b) trainings in the compute budget (rule ``alignment_benchmarks_train``): one kind per task x
model, one run per seed; shapes and split sizes checked against the data readers, steps and requests
against arithmetic done by hand here."""

from __future__ import annotations

import copy
import math

import pytest

from contlaws import budget
from contlaws.config import PAPER_CONFIG, REPO_ROOT, load_config
from contlaws.data.benchmarks import digits, stdlib_text, tasks, ucr

RULE = "alignment_benchmarks_train"
TASKS = ["gunpoint", "japanesevowels", "digits", "stdlib_text", "listops_synth"]


@pytest.fixture()
def cfg():
    """Five tasks (UCR, UEA, two built-in pools, generated ListOps) x two models x three seeds."""
    cfg = load_config(REPO_ROOT / "config" / "quick.yaml")
    cfg["alignment_benchmarks"].update(tasks=TASKS, models=["s4d", "linear_attention"], seeds=[0, 1, 2], epochs=2,
                                       batch_size=8, batch_size_per_task={"japanesevowels": 16}, d_model=16,
                                       n_layers=1, d_state=8, n_heads=2)  # fmt: skip
    cfg["subsampling"].update(n_train=1000, n_val=200, n_test=200, listops_max_length=128)
    return cfg


def c4b_jobs(cfg) -> dict:
    return {j.key: j for j in budget.training_jobs(cfg) if j.rule == RULE}


def test_c4b_trainings_are_counted_tasks_x_models_x_seeds(cfg):
    jobs = c4b_jobs(cfg)
    assert sorted(jobs) == sorted(f"{t}/{m}" for t in TASKS for m in ("s4d", "linear_attention"))
    assert {j.runs for j in jobs.values()} == {3} and sum(j.runs for j in jobs.values()) == 5 * 2 * 3
    assert RULE in budget.TRAINING_RULES and budget.FIGURE_OF_RULE[RULE] == "C4(b) alignment"
    # the run projection counts them with the other trainings (all of them, or those a DAG still needs)
    others = sum(j.runs for j in budget.training_jobs(cfg) if j.rule != RULE)
    assert budget.run_projection(cfg, {}, cfg).trainings == others + 30
    assert budget.run_projection(cfg, {}, cfg, runs={(RULE, "digits/s4d"): 2}).trainings == 2
    no_c4b = copy.deepcopy(cfg)
    del no_c4b["alignment_benchmarks"]
    assert not c4b_jobs(no_c4b)


def test_c4b_steps_and_shapes_by_hand(cfg):
    jobs = c4b_jobs(cfg)
    gun = jobs["gunpoint/s4d"]  # 50 TRAIN series, batch 8: ceil(50/8) = 7 steps x 2 epochs
    assert (gun.n_train, gun.n_val, gun.length, gun.d_input, gun.d_output) == (50, 75, 150, 1, 2)
    assert (gun.steps_per_run, gun.steps, gun.causal) == (14, 42, False)
    vowels = jobs["japanesevowels/linear_attention"]  # 270 series of 12 x 25, batch 16: ceil(270/16) = 17
    assert (vowels.length, vowels.d_input, vowels.d_output, vowels.batch, vowels.steps_per_run) == (25, 12, 9, 16, 34)
    assert (vowels.d_model, vowels.n_layers, vowels.d_state, vowels.n_heads, vowels.d_ff) == (16, 1, 8, 2, 32)
    text, lo = jobs["stdlib_text/s4d"], jobs["listops_synth/s4d"]
    assert (text.length, text.d_output, text.value_bytes, text.n_train) == (128, 3, 8, 1000)  # byte tokens, counts fit
    assert (lo.length, lo.n_train, lo.n_val, lo.value_bytes) == (128, 1000, 200, 8)  # listops_max_length, counts
    assert jobs["digits/s4d"].length == 64 and jobs["digits/s4d"].steps_per_run == math.ceil(1000 / 8) * 2


def test_c4b_ucr_sizes_are_those_the_reader_finds():
    """TRAIN = the archive's, val = the larger half of TEST (split_by_fractions), shape = ucr.SETS."""
    for task in ("gunpoint", "arrowhead", "osuleaf", "acsf1", "basicmotions", "italypowerdemand", "japanesevowels",
                 "pickupgesture", "covid3month"):  # fmt: skip
        s = ucr.SETS[tasks.ucr_set_name(task)]
        assert budget.REAL_TRAIN_SIZES[task] == s.n_train, task
        assert budget.REAL_VAL_SIZES[task] == s.n_test - s.n_test // 2, task
        assert budget.TASK_SHAPES[task] == (s.length, s.n_channels), task
        assert budget.TASK_CLASSES[task] == s.n_classes == tasks.get_task(task).n_classes, task


def test_c4b_builtin_pools_are_those_the_readers_load():
    """digits and stdlib_text: pool sizes and lengths as loaded; counts larger than the pool split it in
    proportion, as contlaws.data.benchmarks.tasks.counted_split does."""
    x, _ = digits.load(digits.NATIVE_SIDE)
    assert (budget.BUILTIN_POOL_SIZES["digits"], budget.TASK_SHAPES["digits"][0]) == (len(x), x.shape[1])
    x, _, _ = stdlib_text.load()
    assert (budget.BUILTIN_POOL_SIZES["stdlib_text"], budget.TASK_SHAPES["stdlib_text"][0]) == x.shape
    paper = load_config(PAPER_CONFIG)  # 4000 + 500 + 500 > either pool
    for task, pool in budget.BUILTIN_POOL_SIZES.items():
        assert task not in paper["subsampling"]["tasks"]  # else counted_split refuses the counts
        want = tuple(len(tasks.counted_split(paper, task, pool, split)) for split in ("train", "val"))
        assert budget.task_split_sizes(task, paper) == want, task
    assert budget.task_split_sizes("digits", paper) == (1797 - 2 * 179, 179)  # floor(0.1 x 1797) = 179


def test_c4b_requests_follow_the_job_of_the_wildcards(cfg):
    """The rule's wildcards (task, model, seed) pick its kind: a long sequence asks more than a short one."""
    costs = budget.RuleCosts(cfg, {}, cfg)
    jobs = c4b_jobs(cfg)
    for key in ("gunpoint/s4d", "japanesevowels/linear_attention"):
        task, model = key.split("/")
        request = costs.request(RULE, {"task": task, "model": model, "seed": "1"})
        assert request == budget.training_request(jobs[key], {})
    assert budget.training_key(RULE, {"task": "digits", "model": "s6", "seed": "0"}) == "digits/s6"
    big = copy.deepcopy(cfg)
    big["alignment_benchmarks"].update(tasks=["acsf1", "italypowerdemand"], models=["s4d", "transformer"], epochs=400,
                                       d_model=128, n_layers=4)  # fmt: skip
    costs = budget.RuleCosts(big, {}, big)
    long_run = costs.runtime(RULE, {"task": "acsf1", "model": "transformer", "seed": "0"})
    short_run = costs.runtime(RULE, {"task": "italypowerdemand", "model": "s4d", "seed": "0"})
    assert long_run > short_run >= budget.RUNTIME_FLOOR_MIN
