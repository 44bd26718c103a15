# Dynamical-system datasets (spec E2, E3): generated, deterministic from (config, seed).


rule regression_dataset:
    """Parameter-regression split of one system at refinement factor tau (spec E2)."""
    output:
        npz=f"{DATA}/regression/{{system}}_tau{{tau}}_{{split}}.npz",
    log:
        f"{LOGS}/data/regression_{{system}}_tau{{tau}}_{{split}}.log",
    params:
        config=RESOLVED,
        settings=settings("regression"),
    conda:
        CONDA_ENV
    shell:
        "contlaws data generate regression --config {params.config} --system {wildcards.system}"
        " --tau {wildcards.tau} --split {wildcards.split} --out {output.npz} > {log} 2>&1"


# E3 stores the latent trajectories once per system and split; an eta file holds only eta and the
# latent file's name and checksum (the loader merges them: docs/datasets.md, "E3 forecasting").
rule forecasting_latent:
    """Latent trajectories, symbols, W and Q of one forecasting split, shared by every eta (spec E3)."""
    output:
        npz=f"{DATA}/forecasting/{{system}}_latent_{{split}}.npz",
    log:
        f"{LOGS}/data/forecasting_{{system}}_latent_{{split}}.log",
    params:
        config=RESOLVED,
        settings=json.dumps(
            {"seed": CFG["seed"], "forecasting": {k: v for k, v in CFG["forecasting"].items() if k != "etas"}},
            sort_keys=True,
        ),
    conda:
        CONDA_ENV
    shell:
        "contlaws data generate forecasting-latent --config {params.config} --system {wildcards.system}"
        " --split {wildcards.split} --out {output.npz} > {log} 2>&1"


rule forecasting_dataset:
    """eta-mixed 16-dimensional forecasting split of one system (spec E3): eta and its latent file's name."""
    input:
        latent=rules.forecasting_latent.output.npz,
    output:
        npz=f"{DATA}/forecasting/{{system}}_eta{{eta}}_{{split}}.npz",
    log:
        f"{LOGS}/data/forecasting_{{system}}_eta{{eta}}_{{split}}.log",
    conda:
        CONDA_ENV
    shell:
        "contlaws data generate forecasting --latent {input.latent} --eta {wildcards.eta} --out {output.npz} > {log} 2>&1"


rule datasets:
    """Target: every dataset the config asks for."""
    input:
        dataset_targets(),


ALL_TARGETS.extend(dataset_targets())
