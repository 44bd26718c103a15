# E2: S4D/S6 regressors trained at tau = 1, evaluated at every tau of regression.taus (spec E2,
# paper Figure 4); model continuity d(tau); verdicts of claims C1 and C2.
#
#   snakemake fig4                Figure 4 and the RMSE table
#   snakemake model_continuity    model-continuity table
from functools import partial

from contlaws.experiments.refinement_trained import (  # noqa: E402
    evaluation_mem_mb,
    run_files,
    refined_test_arguments,
    refined_test_inputs,
)

RT_DIR = f"{RESULTS}/refinement_trained"
RT_RUN = f"{RT_DIR}/{{system}}/{{model}}_{{disc}}_seed{{seed}}"  # one trained model
RT_SETTINGS = settings("refinement_trained", "regression", "model", "train")
RT_TAUS = CFG["regression"]["taus"]
# Rule-level constraints (other topics use {model} for more model names).
RT_WILDCARDS = {"model": "s4d|s6", "disc": "zoh|bilinear", "seed": r"\d+"}


# best.pt is declared, so deleting it reruns the training job (the evaluation reads it). Snakemake
# deletes declared outputs before a rerun; the trainer then restores best.pt from the copy last.pt
# keeps and resumes (last.pt and metrics.csv stay undeclared, so a killed run resumes from them).
# summary.json is written last and marks a finished run.
rule train_refinement:
    """Train one S4D/S6 regressor at tau = 1 (engine: contlaws train; resumes from last.pt)."""
    input:
        train=regression_files("{system}", 1, ("train",))[0],
        val=regression_files("{system}", 1, ("val",))[0],
    output:
        summary=f"{RT_RUN}/summary.json",
        best=f"{RT_RUN}/best.pt",
    wildcard_constraints:
        **RT_WILDCARDS,
    benchmark:
        f"{BENCHMARKS}/train_refinement/train_{{system}}_{{model}}_{{disc}}_seed{{seed}}.tsv",
    log:
        f"{LOGS}/refinement_trained/train_{{system}}_{{model}}_{{disc}}_seed{{seed}}.log",
    params:
        config=RESOLVED,
        settings=RT_SETTINGS,
        out_dir=lambda wildcards, output: str(Path(output.summary).parent),
    threads: CFG["threads"]
    resources:
        gpu=1,
        runtime=job_runtime("train_refinement"),
        mem_mb=job_mem_mb("train_refinement"),
    conda:
        CONDA_ENV
    shell:
        "contlaws train --config {params.config} --model {wildcards.model} --train {input.train} --val {input.val}"
        " --out {params.out_dir} --seed {wildcards.seed} --discretization {wildcards.disc}"
        " --experiment refinement_trained --restart-on-mismatch > {log} 2>&1"


rule evaluate_refinement:
    """Test RMSE/MAE (per label, standardized, beside the train-mean predictor's), the learning gate, and
    model continuity d(tau) of one trained model at every tau and input amplitude a."""
    input:
        unpack(partial(refined_test_inputs, RT_TAUS, regression_files)),
        summary=rules.train_refinement.output.summary,
        checkpoint=rules.train_refinement.output.best,
    output:
        errors=f"{RT_RUN}/errors.csv",
        continuity=f"{RT_RUN}/model_continuity.csv",
        sweep=f"{RT_RUN}/amplitude_sweep.csv",
    wildcard_constraints:
        **RT_WILDCARDS,
    benchmark:
        f"{BENCHMARKS}/evaluate_refinement/evaluate_{{system}}_{{model}}_{{disc}}_seed{{seed}}.tsv",
    log:
        f"{LOGS}/refinement_trained/evaluate_{{system}}_{{model}}_{{disc}}_seed{{seed}}.log",
    params:
        config=RESOLVED,
        settings=settings("refinement_trained", "regression", "model", "train", "gates.e2_rmse_ratio"),
        tests=lambda wildcards, input: refined_test_arguments(RT_TAUS, input),
    threads: CFG["threads"]
    resources:
        gpu=1,
        # The refined test sets grow with 1/tau_min; the batch working memory is capped by
        # train.eval_max_elements (see contlaws.experiments.refinement_trained.evaluation_mem_mb).
        mem_mb=lambda wildcards, attempt: evaluation_mem_mb(CFG) * attempt,
        runtime=job_runtime("evaluate_refinement"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-trained-evaluate --config {params.config} --checkpoint {input.checkpoint}"
        " --data {params.tests} --out {output.errors} --out-continuity {output.continuity}"
        " --out-sweep {output.sweep} > {log} 2>&1"


rule refinement_trained_tables:
    """All runs' errors, model continuity and amplitude sweep in three tables, and the RMSE table of Figure 4."""
    input:
        errors=run_files(CFG, RT_DIR, "errors.csv"),
        continuity=run_files(CFG, RT_DIR, "model_continuity.csv"),
        sweep=run_files(CFG, RT_DIR, "amplitude_sweep.csv"),
    output:
        errors=f"{RT_DIR}/errors.csv",
        continuity=f"{RT_DIR}/model_continuity.csv",
        sweep=f"{RT_DIR}/amplitude_sweep.csv",
        rmse_csv=report(
            f"{RT_DIR}/table_rmse.csv",
            caption="../report/figure4_table.rst",
            category="Figure 4: trained models under refinement",
        ),
        rmse_tex=f"{RT_DIR}/table_rmse.tex",
    benchmark:
        f"{BENCHMARKS}/refinement_trained_tables/tables.tsv",
    log:
        f"{LOGS}/refinement_trained/tables.log",
    params:
        config=RESOLVED,
        settings=settings("refinement_trained", "regression", "model", "train", "gates.e2_rmse_ratio"),
    resources:
        runtime=job_runtime("refinement_trained_tables"),
        mem_mb=job_mem_mb("refinement_trained_tables"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-trained-gather --config {params.config} --errors {input.errors}"
        " --continuity {input.continuity} --sweep {input.sweep} --out-errors {output.errors}"
        " --out-continuity {output.continuity} --out-sweep {output.sweep} --out-rmse-csv {output.rmse_csv}"
        " --out-rmse-tex {output.rmse_tex} > {log} 2>&1"


rule figure4_plot:
    """Figure 4 (test RMSE vs tau per system, S4D vs S6); plotting only."""
    input:
        errors=rules.refinement_trained_tables.output.errors,
    output:
        pdf=f"{FIGS}/figure4.pdf",
        png=report(f"{FIGS}/figure4.png", caption="../report/figure4.rst", category="Figure 4: trained models under refinement"),
    benchmark:
        f"{BENCHMARKS}/figure4_plot/figure4.tsv",
    log:
        f"{LOGS}/refinement_trained/figure4.log",
    params:
        stem=lambda wildcards, output: output.pdf.removesuffix(".pdf"),
        gate=CFG["gates"]["e2_rmse_ratio"],
    resources:
        runtime=job_runtime("figure4_plot"),
        mem_mb=job_mem_mb("figure4_plot"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-trained-plot --errors {input.errors} --out-figure {params.stem} --gate-ratio {params.gate}"
        " > {log} 2>&1"


rule model_continuity_table:
    """Model-continuity table: d(tau) and its order p per system, model and discretization."""
    input:
        continuity=rules.refinement_trained_tables.output.continuity,
    output:
        table_csv=report(
            f"{RT_DIR}/table_model_continuity.csv",
            caption="../report/model_continuity.rst",
            category="Figure 4: trained models under refinement",
        ),
        table_tex=f"{RT_DIR}/table_model_continuity.tex",
    benchmark:
        f"{BENCHMARKS}/model_continuity_table/table_model_continuity.tsv",
    log:
        f"{LOGS}/refinement_trained/table_model_continuity.log",
    resources:
        runtime=job_runtime("model_continuity_table"),
        mem_mb=job_mem_mb("model_continuity_table"),
    conda:
        CONDA_ENV
    shell:
        "contlaws refinement-trained-continuity-table --continuity {input.continuity}"
        " --out-csv {output.table_csv} --out-tex {output.table_tex} > {log} 2>&1"


rule claim_c1:
    """C1: model continuity = convergence under refinement; S4 is continuous (docs/claims.md)."""
    input:
        model_continuity=rules.refinement_trained_tables.output.continuity,
        amplitude_sweep=rules.refinement_trained_tables.output.sweep,
        numerical_orders=f"{RESULTS}/refinement_numerical/orders.csv",
    output:
        f"{RESULTS}/claims/C1.json",
    benchmark:
        f"{BENCHMARKS}/claim_c1/C1.tsv",
    log:
        f"{LOGS}/claims/C1.log",
    params:
        config=RESOLVED,
        settings=settings("claims", "refinement_numerical"),
    resources:
        runtime=job_runtime("claim_c1"),
        mem_mb=job_mem_mb("claim_c1"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C1 --config {params.config} --inputs model_continuity={input.model_continuity}"
        " amplitude_sweep={input.amplitude_sweep} numerical_orders={input.numerical_orders} --out {output} > {log} 2>&1"


rule claim_c2:
    """C2: S6 is not reliably continuous (amplitude and selective-step sensitivity; docs/claims.md)."""
    input:
        numerical_errors=f"{RESULTS}/refinement_numerical/errors.csv",
        errors=rules.refinement_trained_tables.output.errors,
        amplitude_sweep=rules.refinement_trained_tables.output.sweep,
    output:
        f"{RESULTS}/claims/C2.json",
    benchmark:
        f"{BENCHMARKS}/claim_c2/C2.tsv",
    log:
        f"{LOGS}/claims/C2.log",
    params:
        config=RESOLVED,
        settings=settings("claims"),
    resources:
        runtime=job_runtime("claim_c2"),
        mem_mb=job_mem_mb("claim_c2"),
    conda:
        CONDA_ENV
    shell:
        "contlaws claims evaluate C2 --config {params.config} --inputs numerical_errors={input.numerical_errors}"
        " errors={input.errors} amplitude_sweep={input.amplitude_sweep} --out {output} > {log} 2>&1"


FIG4_TARGETS = [
    *rules.figure4_plot.output,
    rules.refinement_trained_tables.output.rmse_csv,
    rules.refinement_trained_tables.output.rmse_tex,
]
MODEL_CONTINUITY_TARGETS = [
    rules.refinement_trained_tables.output.continuity,
    rules.refinement_trained_tables.output.sweep,
    *rules.model_continuity_table.output,
]


rule fig4:
    """Target: Figure 4 and its RMSE table."""
    input:
        FIG4_TARGETS,


rule model_continuity:
    """Target: model continuity d(tau) of every trained run and its table."""
    input:
        MODEL_CONTINUITY_TARGETS,


RT_CLAIM_FILES = [*rules.claim_c1.output, *rules.claim_c2.output]
CLAIM_FILES.extend(RT_CLAIM_FILES)
ALL_TARGETS.extend(FIG4_TARGETS + MODEL_CONTINUITY_TARGETS + RT_CLAIM_FILES)
