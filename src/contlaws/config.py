"""Pipeline configuration: load, fill defaults, validate against one schema.

The package carries what it reads: the schema is ``contlaws/config.schema.yaml`` and the paper-scale
config is ``contlaws/paper.yaml`` (``config/config.yaml`` in the repository is a link to it), so a
non-editable install works outside the checkout. The same
function validates the config when Snakemake builds the DAG and in every CLI command, so an invalid
value stops the run before any job starts, with a message naming the key and the bad value.

Size (about 480 lines, above the package's ~400): loading, overlaying, schema validation with
number coercion and the semantic checks are one path every command and the DAG go through;
keeping it in one module keeps one definition of "a valid config".
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from contlaws.errors import ConfigError
from contlaws.snapshot import verify_snapshot, write_snapshot  # noqa: F401 (write_snapshot: imported from here by the workflow)

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout (meaningful only for an editable install)
PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_PATHS = (PACKAGE_DIR / "config.schema.yaml",)
PAPER_CONFIG = PACKAGE_DIR / "paper.yaml"  # the paper-scale settings; config/config.yaml links here


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)

# YAML 1.1 (PyYAML) reads a float only with a dot and a signed exponent, so `lr: 3e-3` or `1e6`
# would load as the *string* "3e-3". Read the YAML 1.2 / JSON forms as floats too.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def read_yaml(text: str) -> Any:
    """YAML without code execution (safe loader) and without silently repeated keys; 3e-3 is a float."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


@lru_cache(maxsize=1)
def schema() -> dict:
    for path in SCHEMA_PATHS:
        if path.exists():
            return read_yaml(path.read_text())
    raise FileNotFoundError(f"config schema not found at any of {[str(p) for p in SCHEMA_PATHS]}")


def schema_default(key: str) -> Any:
    """The schema's default of a dotted key (``"train.eval_max_elements"``), for a reusable
    function's parameter default that mirrors a config value: the value itself lives only in the
    schema. KeyError when the key has no default there."""
    root = schema()
    node: Mapping[str, Any] = root
    for part in key.split("."):
        node = _resolve_ref(node, root)["properties"][part]
    node = _resolve_ref(node, root)
    if "default" not in node:
        raise KeyError(f"config key {key!r} has no default in the schema")
    value = copy.deepcopy(node["default"])
    return tuple(value) if isinstance(value, list) else value


def _with_defaults(validator_class):
    """A validator that fills ``default`` values of missing properties before validating them, and
    refuses NaN and infinity wherever the schema asks for a number."""
    validate_properties = validator_class.VALIDATORS["properties"]
    validate_type = validator_class.VALIDATORS["type"]

    def set_defaults(validator, properties, instance, schema_):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema_)

    def finite_numbers(validator, types, instance, schema_):
        # JSON Schema counts NaN and inf as numbers, and NaN passes every `minimum` (comparisons with
        # NaN are False): YAML's `.nan` would slip through as a gate and decide nothing silently.
        wanted = [types] if isinstance(types, str) else list(types)
        if isinstance(instance, float) and not math.isfinite(instance) and {"number", "integer"} & set(wanted):
            yield jsonschema.ValidationError("must be a finite number (NaN and infinity are not accepted)")
            return
        yield from validate_type(validator, types, instance, schema_)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults, "type": finite_numbers})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def key_path(path) -> str:
    """``['regression', 'taus', 2]`` -> ``regression.taus[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _describe(err: jsonschema.ValidationError) -> str:
    where = key_path(err.absolute_path)
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        prefix = f"{where}." if err.absolute_path else ""
        return f"missing required key '{prefix}{missing}'"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set(err.schema.get("properties", {}))
        unknown = [k for k in err.instance if k not in allowed]
        prefix = f"{where}." if err.absolute_path else ""
        listed = ", ".join(f"'{prefix}{k}' = {_short_text(err.instance[k])}" for k in unknown)
        return f"unknown key {listed} (allowed under '{where}': {', '.join(sorted(allowed))})"
    value = _short_text(err.instance, 80)
    message = err.message if len(err.message) <= 2 * MAX_SHOWN_CHARS else err.message[: 2 * MAX_SHOWN_CHARS - 1] + "…"
    return f"key '{where}' = {value}: {message}"


MAX_SHOWN_CHARS = 200  # the longest echo of a config value in a message


def _short_text(value: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as JSON, cut at ``limit`` characters: a message echoes what the user wrote, never a
    structure of millions of values (the document passed :func:`check_expansion`, so rendering it
    is bounded)."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The most values (mappings, lists and scalars, an alias counted each time it is used) one config
# document may expand to. A complete resolved config holds a few hundred; YAML aliases nested a few
# levels deep (a "billion laughs" document of a few hundred bytes) expand to billions.
MAX_CONFIG_VALUES = 100_000


def check_expansion(doc: Any, source: str) -> None:
    """ConfigError when ``doc`` expands to more than :data:`MAX_CONFIG_VALUES` values (or nests
    deeper than any config does). The walk stops at the limit, so the check itself is quick."""
    count, stack = 0, [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES or depth > 50:
            raise ConfigError(
                f"invalid configuration ({source}): refusing a document that expands to more than {MAX_CONFIG_VALUES} values or "
                "50 levels (YAML aliases repeating a structure?); a pipeline config holds a few hundred values"
            )
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def _resolve_ref(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/pos_int``); sibling keys (description, default) are kept."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
    return node


_INT_TEXT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_TEXT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_BOOL_TEXT = {"true": True, "false": False}


def _coerce_scalar(value: Any, types: list[str]) -> Any:
    """A number-like (or true/false) string where the schema expects a number (or boolean), converted."""
    if isinstance(value, str):
        text = value.strip()
        if ("integer" in types or "number" in types) and _INT_TEXT.match(text):
            return int(text)
        if "number" in types and _FLOAT_TEXT.match(text):
            return float(text)
        if "integer" in types and _FLOAT_TEXT.match(text) and float(text).is_integer():
            return int(float(text))  # 1e6 where a count is expected
        if "boolean" in types and text.lower() in _BOOL_TEXT:
            return _BOOL_TEXT[text.lower()]
    elif isinstance(value, float) and "integer" in types and "number" not in types and value.is_integer():
        return int(value)  # `length: 1e6` (a float in YAML) where a count is expected
    elif isinstance(value, int) and not isinstance(value, bool) and types == ["string"]:
        return str(value)  # Snakemake reads `--config run_name=2024` as an int
    return value


def coerce_to_schema(value: Any, node: Mapping[str, Any] | None = None, root: Mapping[str, Any] | None = None) -> Any:
    """``value`` with number-like strings converted where the schema expects a number.

    Snakemake reads ``--config 'train={lr: 1e-3}'`` with YAML's BaseLoader (every value a string)
    and config files with YAML 1.1 (``3e-3`` a string); the same text through the CLI gives numbers.
    Converting only where the schema asks for a number keeps both routes identical, and a value that
    is not a number (``d_model: wide``) is still refused by the schema, naming the key.
    """
    root = schema() if root is None else root
    node = _resolve_ref(root if node is None else node, root)
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if isinstance(value, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_node = props.get(key, extra if isinstance(extra, Mapping) else None)
            out[key] = sub if sub_node is None else coerce_to_schema(sub, sub_node, root)
        return out
    if isinstance(value, list):
        items = node.get("items")
        return [coerce_to_schema(v, items, root) for v in value] if isinstance(items, Mapping) else value
    return _coerce_scalar(value, types)


# The largest dataset one job may build: generation holds the whole split in memory (float64
# trajectories), so a split over this size would end in a MemoryError (or swap) inside a job.
MAX_DATASET_BYTES = 32 * 2**30


def _gib(n_bytes: float) -> str:
    if math.isinf(n_bytes):
        return "more than any machine has"
    return f"about {n_bytes / 2**30:.3g} GiB" if n_bytes < 2**40 else f"about {n_bytes / 2**40:.3g} TiB"


def _size(*factors: float) -> float:
    """The product of ``factors`` as a float; ``inf`` beyond float range (``length: 1e400``)."""
    try:
        out = 1.0
        for f in factors:
            out *= float(f)
        return out
    except OverflowError:
        return math.inf


def dataset_bytes(cfg: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """Estimated in-memory size (of a validated, default-filled ``cfg``) of the largest split of each generated dataset family (and E1's input).

    Returns ``(key, bytes, what)`` triples: ``key`` is the config key to name in a message. Regression
    sets hold n × L/τ samples of the two-component state and the observation (float64, 24 bytes per
    sample); forecasting sets n × (L + horizon) × (obs_dim + 2 state components) float64 values; E1
    holds its reference input at every RK4 half step.
    """
    reg, fc, e1 = cfg["regression"], cfg["forecasting"], cfg["refinement_numerical"]
    n_max = max(int(reg["n_train"]), int(reg["n_val"]), int(reg["n_test"]))
    length = int(reg["length"])
    out = [("regression.length", _size(n_max, length, 24),
            f"the largest regression split at tau = 1: {n_max} trajectories x {length} samples")]  # fmt: skip
    for i, tau in enumerate(reg["taus"]):
        if float(tau) < 1:  # finer grids: test split only, length / tau samples
            samples = _size(length, 1 / float(tau))
            out.append((
                f"regression.taus[{i}]", _size(reg["n_test"], samples, 24),
                (f"the regression test split at tau = {float(tau):g}: {reg['n_test']} trajectories x "
                 f"{samples:.6g} samples (length / tau)"),
            ))
    n_max = max(int(fc["n_train"]), int(fc["n_val"]), int(fc["n_test"]))
    steps = int(fc["length"]) + int(fc["horizon"])
    values = int(fc["obs_dim"]) + 2
    out.append((
        "forecasting.length", _size(n_max, steps, values, 8),
        f"the largest forecasting split: {n_max} trajectories x {steps} steps x {values} values",
    ))
    # E1's RK4 reference holds its input at 2·2^-reference_log2_step + 1 half steps on [0, 1]
    half_steps = _size(2, 2.0 ** min(-int(e1["reference_log2_step"]), 1000)) + 1
    signals = int(e1["n_systems"]) * len(e1["amplitude_log2"])
    out.append((
        "refinement_numerical.reference_log2_step", _size(half_steps, signals, 8),
        f"the E1 reference input: {half_steps:.6g} half steps x {signals} systems x amplitudes",
    ))
    return out


def _semantic_checks(cfg: Mapping[str, Any]) -> list[str]:
    """Constraints a JSON schema cannot express (each message names the key and the value)."""
    problems = []
    model = cfg["model"]
    # Attention heads split d_model evenly; E3 may override d_model (eta_performance.model.d_model).
    widths = {"model.d_model": model["d_model"]}
    e3_width = cfg["eta_performance"].get("model", {}).get("d_model")  # optional E3 override (no default: absent inherits model)
    if e3_width is not None:
        widths["eta_performance.model.d_model"] = e3_width
    for layer in ("transformer", "linear_attention"):
        heads = model[layer]["n_heads"]
        for width_key, width in widths.items():
            if width % heads:
                problems.append(
                    f"key 'model.{layer}.n_heads' = {heads}: must divide {width_key} = {width} "
                    "(each head gets d_model / n_heads channels)"
                )
    mamba2 = model["mamba2"]
    for width_key, width in widths.items():
        d_inner = int(mamba2["expand"]) * width
        headdim = min(int(mamba2["headdim"]), d_inner)
        if d_inner % headdim:
            problems.append(
                f"key 'model.mamba2.headdim' = {mamba2['headdim']}: must divide expand x {width_key} = {d_inner}"
            )
    too_large = set()
    for key, n_bytes, what in dataset_bytes(cfg):
        if key.startswith("regression.taus") and "regression.length" in too_large:
            continue  # the length is the cause; one message says so
        if not n_bytes <= MAX_DATASET_BYTES:
            too_large.add(key)
            section, _, rest = key.partition(".")
            name, _, index = rest.partition("[")
            value = cfg[section][name] if not index else cfg[section][name][int(index.rstrip("]"))]
            problems.append(
                f"key '{key}' = {value}: {what} would hold {_gib(n_bytes)} in memory, above the "
                f"{MAX_DATASET_BYTES // 2**30} GiB one dataset may take (lower the length or the count, or raise tau or the step)"
            )
    for layer in ("s4d", "s6"):
        sub = model[layer]
        if sub["dt_min"] >= sub["dt_max"]:
            problems.append(
                f"key 'model.{layer}.dt_min' = {sub['dt_min']}: must be smaller than model.{layer}.dt_max = {sub['dt_max']}"
            )
    s4d_state = model["s4d"]["d_state"]
    if s4d_state % 2:
        problems.append(f"key 'model.s4d.d_state' = {s4d_state}: must be even (complex modes come in conjugate pairs)")
    problems += unequal_e3_budgets(cfg)
    for exp in ("refinement_trained", "eta_performance"):
        missing = [s for s in cfg[exp]["systems"] if s not in cfg["systems"]]
        if missing:
            problems.append(
                f"key '{exp}.systems' = {json.dumps(cfg[exp]['systems'])}: {', '.join(map(json.dumps, missing))} "
                f"not listed in top-level 'systems' = {json.dumps(cfg['systems'])} (only listed systems get datasets)"
            )
    return problems


def e3_budgets(cfg: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """{model: (epoch cap, batch size)} of every E3 model, as its training reads them
    (``eta_performance.train`` merged over ``train``; ``epochs_per_model`` over ``epochs``)."""
    exp = cfg["eta_performance"]
    train = {**cfg["train"], **exp.get("train", {})}
    cap = exp.get("epochs", train["epochs"])  # an optional override (no schema default)
    return {model: (int(exp.get("epochs_per_model", {}).get(model, cap)),
                    int(train.get("batch_size_per_model", {}).get(model, train["batch_size"])))
            for model in exp["models"]}  # fmt: skip


def unequal_e3_budgets(cfg: Mapping[str, Any]) -> list[str]:
    """A problem per budget field (epochs, batch size) that differs between the E3 models (compared in
    claim C4), unless ``eta_performance.allow_unequal_budgets``."""
    if cfg["eta_performance"].get("allow_unequal_budgets", False):
        return []
    budgets = e3_budgets(cfg)
    problems = []
    for index, (what, key) in enumerate((("epoch caps", "eta_performance.epochs_per_model"),
                                         ("batch sizes", "eta_performance.train.batch_size_per_model"))):  # fmt: skip
        values = {model: budget[index] for model, budget in budgets.items()}
        if len(set(values.values())) > 1:
            listed = ", ".join(f"{m} {v}" for m, v in values.items())
            problems.append(f"key '{key}': the E3 models compared in claim C4 would train with different {what} "
                            f"({listed}); give every model the same budget (one cap, train.early_stopping) or set "
                            "eta_performance.allow_unequal_budgets: true for a robustness variant")  # fmt: skip
    return problems


def validate_config(cfg: Mapping[str, Any], source: str = "config") -> dict:
    """Return a deep copy of ``cfg`` with defaults filled; raise :class:`ConfigError` if invalid.

    ``source`` (a file name) is included in the error message.
    """
    check_expansion(cfg, source)
    cfg = coerce_to_schema(copy.deepcopy(dict(cfg)))
    validator = _Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _semantic_checks(cfg)
    if problems:
        lines = "\n  - ".join(problems)
        raise ConfigError(f"invalid configuration ({source}):\n  - {lines}")
    return cfg


def resolve_section(name: str, section: Mapping[str, Any]) -> dict:
    """One top-level section (``"model"``) with its schema defaults filled and validated, exactly as
    :func:`validate_config` fills it in a whole config; for a library caller that builds a section of
    its own (E5's classifier, tests). Raises :class:`ConfigError` naming the key."""
    root = schema()
    wrapper = {"type": "object", "properties": {name: root["properties"][name]}}
    instance = {name: coerce_to_schema(copy.deepcopy(dict(section)), root["properties"][name], root)}
    errors = sorted(_Validator(root).evolve(schema=wrapper).iter_errors(instance), key=lambda e: e.message)
    if errors:
        lines = "\n  - ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid configuration (section '{name}'):\n  - {lines}")
    return instance[name]


def read_config_file(path: str | Path) -> dict:
    """The mapping in one YAML (or JSON) config file, as written (no overlay, no defaults)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        verify_snapshot(path, data)
        text = data.decode("utf-8")
        # JSON through json (YAML 1.1 would read 1e-06 as a string); YAML otherwise.
        raw = json.loads(text) if path.suffix == ".json" else read_yaml(text)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start}); is it a config file?") from None
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read: {err.strerror or err}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests too deeply to be a config") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(raw).__name__}")
    check_expansion(raw, f"config file {path}")
    return raw


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict:
    """The config a run uses: the paper config, ``path`` deep-merged over it, then ``overrides``.

    Every config file is an overlay of the paper config (:data:`PAPER_CONFIG`), exactly as Snakemake
    merges ``--configfile`` over ``configfile: config/config.yaml``: mappings merge key by key,
    any other value (lists included) replaces the paper's. A complete file (a resolved config)
    therefore loads unchanged. Defaults are filled from the schema and the result is validated.
    """
    merged = deep_merge(read_config_file(PAPER_CONFIG), read_config_file(path))
    if overrides:
        merged = deep_merge(merged, overrides)
    return validate_config(merged, source=str(path))


def paper_config() -> dict:
    """The resolved paper-scale config (defaults filled)."""
    return validate_config(read_config_file(PAPER_CONFIG), source=str(PAPER_CONFIG))


def config_diff(cfg: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every leaf setting of the resolved ``cfg`` that differs from the resolved paper config.

    Returns ``{"train.lr": {"value": 0.003, "paper": 0.001}, ...}`` in key order; lists compare
    whole; a key the paper config does not set has ``"paper": None``.
    """
    base = paper_config() if base is None else base
    out: dict[str, dict[str, Any]] = {}

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                walk(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        elif a != b:
            out[prefix] = {"value": a, "paper": b}

    walk(cfg, base, "")
    return out


def describe_diff(diff: Mapping[str, Mapping[str, Any]], limit: int = 12) -> str:
    """A short, printable list of the keys that differ from the paper config."""
    if not diff:
        return "the paper config, no key differs"
    shown = [f"{key}={json.dumps(change['value'])}" for key, change in list(diff.items())[:limit]]
    more = f" ... and {len(diff) - limit} more" if len(diff) > limit else ""
    return f"{len(diff)} key(s) differ from the paper config: {', '.join(shown)}{more}"


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def fmt_num(x: float) -> str:
    """Canonical short text for a grid value used in file names: 1, 0.5, 0.125, 2, 0.25.

    ``float(fmt_num(x)) == x`` for every value the grids use (dyadic fractions, eta steps).
    """
    x = float(x)
    if x == int(x):
        return str(int(x))
    return repr(x)


def batch_size_for(cfg: Mapping[str, Any], model: str) -> int:
    train = cfg["train"]
    return int(train["batch_size_per_model"].get(model, train["batch_size"]))  # a per-model override, if any
