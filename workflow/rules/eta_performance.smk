# E3: test error against the continuity level eta of the forecasting data (spec E3, paper Figure 5
# left). One training per system x eta x model x seed. A CUDA-only model whose package is not installed
# (found without importing torch: contlaws.gpu_packages) is not trained at all: eta_evaluate writes its
# rows with status "not run" and the reason. One whose package is installed but that cannot run (no
# CUDA) writes a "not run" summary (engine) that becomes the same kind of row in results.csv.
#
#   snakemake fig5      Figure 5, its table and results/<run>/eta_performance/results.csv

from contlaws.gpu_packages import absent_packages  # noqa: E402  (torch-free)

ETA = CFG["eta_performance"]
ETA_DIR = f"{RESULTS}/eta_performance"
ETA_SPLIT = f"{ETA_DIR}/{{system}}/eta{{eta}}"  # one (system, eta) dataset
ETA_RUN = f"{ETA_SPLIT}/{{model}}_seed{{seed}}"  # one training run
# What a training depends on: not the lists of systems, models and seeds (adding a model must not
# retrain the others), but the data, model and engine settings and the experiment's epochs (not the
# E3-only evaluation batch bound, which only eta_evaluate reads, nor the switch that admits unequal
# budgets: the budgets themselves are in the settings, nor how runs are grouped into jobs).
ETA_TRAIN_SETTINGS = json.dumps(
    {"seed": CFG["seed"], "forecasting": CFG["forecasting"], "model": CFG["model"], "train": CFG["train"],
     "eta_performance": {k: v for k, v in ETA.items()
                         if k not in ("systems", "models", "seeds", "eval_max_elements", "allow_unequal_budgets", "train_job")}},
    sort_keys=True,
)  # fmt: skip
ETA_WILDCARDS = {"model": "|".join(ETA["models"]), "seed": r"\d+"}
ETA_UNTRAINED = [m for m in ETA["models"] if absent_packages(m)]  # CUDA-only, package not installed
ETA_TRAINED = [m for m in ETA["models"] if m not in ETA_UNTRAINED]
ETA_SPLITS = [f"{ETA_DIR}/{system}/eta{eta}" for system in ETA["systems"] for eta in grid(CFG["forecasting"]["etas"])]


# One job per run (eta_performance.train_job: run) or per (system, eta) set (cell: every model and seed of
# the set in one process, paying the interpreter start and imports once). The same rule either way: in a
# cell job the model and seed wildcards are absent and the job's outputs are all the set's summaries.
ETA_CELL_JOBS = ETA["train_job"] == "cell"
if ETA_CELL_JOBS:
    ETA_TRAIN_OUTPUT = expand(f"{ETA_RUN}/summary.json", model=ETA_TRAINED, seed=ETA["seeds"], allow_missing=True)
    ETA_TRAIN_JOB = "{system}_eta{eta}"
else:
    ETA_TRAIN_OUTPUT = [f"{ETA_RUN}/summary.json"]
    ETA_TRAIN_JOB = "{system}_eta{eta}_{model}_seed{seed}"


# best.pt, last.pt and metrics.csv are written next to summary.json but not declared: Snakemake would
# delete them before a rerun, and a resumed run keeps its best.pt. summary.json is written last.
rule eta_train:
    """Train models on one (system, eta) forecasting set: one run, or every run of the set (engine: contlaws train; resumes from last.pt)."""
    input:
        train=lambda wildcards: forecasting_files(wildcards.system, wildcards.eta, ("train",))[0],
        val=lambda wildcards: forecasting_files(wildcards.system, wildcards.eta, ("val",))[0],
    output:
        summaries=ETA_TRAIN_OUTPUT,
    wildcard_constraints:
        **ETA_WILDCARDS,
    benchmark:
        f"{BENCHMARKS}/eta_train/train_{ETA_TRAIN_JOB}.tsv",
    log:
        f"{LOGS}/eta_performance/train_{ETA_TRAIN_JOB}.log",
    params:
        config=RESOLVED,
        settings=ETA_TRAIN_SETTINGS,
        models=lambda wildcards: train_job_runs(wildcards, ETA_CELL_JOBS, ETA_TRAINED, ETA["seeds"], ETA_RUN)[0],
        seeds=lambda wildcards: train_job_runs(wildcards, ETA_CELL_JOBS, ETA_TRAINED, ETA["seeds"], ETA_RUN)[1],
        out=lambda wildcards: train_job_runs(wildcards, ETA_CELL_JOBS, ETA_TRAINED, ETA["seeds"], ETA_RUN)[2],
    threads: CFG["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("eta_train"),
        mem_mb=job_mem_mb("eta_train"),
    conda:
        CONDA_ENV
    shell:
        "contlaws train --config {params.config} --model {params.models} --train {input.train} --val {input.val}"
        " --out {params.out:q} --seed {params.seeds} --experiment eta_performance --restart-on-mismatch > {log} 2>&1"


# Evaluation is split from the learning gate: eta_evaluate runs every model once and keeps every
# per-sample squared error (scores.npz); eta_gate applies gates.e3_* to them. A change of the gate (the
# e3_best_trivial_gate robustness variant, a margin) then reruns eta_gate in seconds, not the models.
rule eta_evaluate:
    """Test RMSE/MAE and per-sample errors of every run trained on one (system, eta) set; not-run and untrained models become rows with their reason."""
    input:
        test=lambda wildcards: forecasting_files(wildcards.system, wildcards.eta, ("test",))[0],
        summaries=lambda wildcards: expand(
            f"{ETA_RUN}/summary.json", system=wildcards.system, eta=wildcards.eta, model=ETA_TRAINED, seed=ETA["seeds"]
        ),
    output:
        scores=f"{ETA_SPLIT}/scores.npz",
        baselines=f"{ETA_SPLIT}/baselines.csv",
    benchmark:
        f"{BENCHMARKS}/eta_evaluate/evaluate_{{system}}_eta{{eta}}.tsv",
    log:
        f"{LOGS}/eta_performance/evaluate_{{system}}_eta{{eta}}.log",
    params:
        config=RESOLVED,
        settings=ETA_TRAIN_SETTINGS,
        eval_max_elements=ETA.get("eval_max_elements", CFG["train"]["eval_max_elements"]),
        runs=lambda wildcards, input: " ".join(str(Path(p).parent) for p in input.summaries),
        not_run=f"--not-run {' '.join(ETA_UNTRAINED)}" if ETA_UNTRAINED else "",
    threads: CFG["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("eta_evaluate"),
        mem_mb=job_mem_mb("eta_evaluate"),
    conda:
        CONDA_ENV
    shell:
        "contlaws eta-performance-evaluate --config {params.config} --test {input.test} --runs {params.runs}"
        " {params.not_run} --out-scores {output.scores} --out-baselines {output.baselines} > {log} 2>&1"


rule eta_gate:
    """The learning gate (gates.e3_*) on one (system, eta) set's scores: its rows of results.csv (no model runs)."""
    input:
        scores=rules.eta_evaluate.output.scores,
    output:
        csv=f"{ETA_SPLIT}/test.csv",
    benchmark:
        f"{BENCHMARKS}/eta_gate/gate_{{system}}_eta{{eta}}.tsv",
    log:
        f"{LOGS}/eta_performance/gate_{{system}}_eta{{eta}}.log",
    params:
        config=RESOLVED,
        gate=json.dumps({k: CFG["gates"][k] for k in ("e3_margin", "e3_se", "e3_reference")}),
    resources:
        runtime=job_runtime("eta_gate"),
        mem_mb=job_mem_mb("eta_gate"),
    conda:
        CONDA_ENV
    shell:
        "contlaws eta-performance-gate --config {params.config} --scores {input.scores} --out {output.csv} > {log} 2>&1"


rule eta_results:
    """All (system, eta) test results in one table (results.csv), and the reference forecasts (baselines.csv)."""
    input:
        csvs=[f"{split}/test.csv" for split in ETA_SPLITS],
        baselines=[f"{split}/baselines.csv" for split in ETA_SPLITS],
    output:
        csv=f"{ETA_DIR}/results.csv",
        baselines=f"{ETA_DIR}/baselines.csv",
    benchmark:
        f"{BENCHMARKS}/eta_results/results.tsv",
    log:
        f"{LOGS}/eta_performance/results.log",
    params:
        config=RESOLVED,
        settings=settings("eta_performance"),
    resources:
        runtime=job_runtime("eta_results"),
        mem_mb=job_mem_mb("eta_results"),
    conda:
        CONDA_ENV
    shell:
        "contlaws eta-performance-gather --config {params.config} --inputs {input.csvs} --out {output.csv}"
        " --baselines {input.baselines} --out-baselines {output.baselines} > {log} 2>&1"


rule figure5_plot:
    """Figure 5 (test RMSE vs eta per system, one line per model) and its table; plotting only."""
    input:
        results=rules.eta_results.output.csv,
        baselines=rules.eta_results.output.baselines,
    output:
        pdf=f"{FIGS}/figure5.pdf",
        png=report(f"{FIGS}/figure5.png", caption="../report/figure5.rst", category="Figure 5: performance vs eta"),
        table_csv=report(
            f"{ETA_DIR}/table_rmse.csv", caption="../report/figure5_table.rst", category="Figure 5: performance vs eta"
        ),
        table_tex=f"{ETA_DIR}/table_rmse.tex",
    benchmark:
        f"{BENCHMARKS}/figure5_plot/figure5.tsv",
    log:
        f"{LOGS}/eta_performance/figure5.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
    resources:
        runtime=job_runtime("figure5_plot"),
        mem_mb=job_mem_mb("figure5_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws eta-performance-plot --results {input.results} --baselines {input.baselines} --out-figure {params.stem}"
        " --out-csv {output.table_csv} --out-tex {output.table_tex} > {log} 2>&1"


FIG5_TARGETS = [*rules.eta_results.output, *rules.figure5_plot.output]


rule fig5:
    """Target: Figure 5, its RMSE table, results.csv and the reference forecasts."""
    input:
        FIG5_TARGETS,


ALL_TARGETS.extend(FIG5_TARGETS)
