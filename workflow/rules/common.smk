# Shared helpers: validated config, output locations, wildcard constraints, target lists.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from contlaws.config import ConfigError, fmt_num, validate_config  # noqa: E402
from contlaws.io import dumps_json, write_text  # noqa: E402

# Validate when the DAG is built: an invalid config stops here, before any job starts.
try:
    CFG = validate_config(config, source="snakemake config (--configfile/--config)")
except ConfigError as err:
    raise WorkflowError(str(err)) from None
config.update(CFG)

RUN = CFG["run_name"]
DATA = f"data/{RUN}"
RESULTS = f"results/{RUN}"
FIGS = f"figures/{RUN}"
LOGS = f"logs/{RUN}"

# The resolved config (defaults filled) is what every job reads. It is rewritten only when its
# content changes. Reruns are triggered per job by its `settings` param (see settings() below), so
# changing one experiment's settings does not rerun the others.
RESOLVED = f"{RESULTS}/config.resolved.json"
_resolved_text = dumps_json(CFG)
if not Path(RESOLVED).exists() or Path(RESOLVED).read_text() != _resolved_text:
    write_text(RESOLVED, _resolved_text)


# The software environment of every job, used only with `--sdm conda`. It is the *named* conda
# environment that `conda env create -f environment.yml` makes (its `name`), not the file itself,
# because Snakemake would copy environment.yml into .snakemake/conda/, where its `-e .` no longer
# points at this checkout. Without `--sdm conda` jobs run in the environment snakemake runs in.
CONDA_ENV = "contlaws"


def settings(*sections):
    """The config sections a rule depends on, as a params value (changing them reruns the rule)."""
    return json.dumps({k: CFG.get(k) for k in ("seed", *sections)}, sort_keys=True)


def grid(values):
    return [fmt_num(v) for v in values]


def regression_files(system, tau, splits=("train", "val", "test")):
    return [f"{DATA}/regression/{system}_tau{fmt_num(tau)}_{s}.npz" for s in splits]


def forecasting_files(system, eta, splits=("train", "val", "test")):
    return [f"{DATA}/forecasting/{system}_eta{fmt_num(eta)}_{s}.npz" for s in splits]


def dataset_targets():
    """Every dynamical-system dataset the config asks for."""
    out = []
    for system in CFG["systems"]:
        for tau in CFG["regression"]["taus"]:
            out += regression_files(system, tau, ("train", "val", "test") if float(tau) == 1 else ("test",))
        for eta in CFG["forecasting"]["etas"]:
            out += forecasting_files(system, eta)
    return out


# Each topic .smk adds its final outputs here (figures, tables, claim verdicts); `rule all` builds them.
ALL_TARGETS = []
# Each topic .smk adds the verdict files of its claims (results/<run>/claims/C*.json) here.
CLAIM_FILES = []
