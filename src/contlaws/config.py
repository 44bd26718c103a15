"""Pipeline configuration: load, fill defaults, validate against one schema.

The package carries what it reads: the schema is ``contlaws/config.schema.yaml`` and the paper-scale
config is ``contlaws/paper.yaml`` (``config/config.yaml`` in the repository is a link to it), so a
non-editable install works outside the checkout. The same
function validates the config when Snakemake builds the DAG and in every CLI command, so an invalid
value stops the run before any job starts, with a message naming the key and the bad value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout (meaningful only for an editable install)
PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_PATHS = (PACKAGE_DIR / "config.schema.yaml",)
PAPER_CONFIG = PACKAGE_DIR / "paper.yaml"  # the paper-scale settings; config/config.yaml links here


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the offending value."""


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


def read_yaml(text: str) -> Any:
    """YAML without code execution (safe loader) and without silently repeated keys."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


@lru_cache(maxsize=1)
def schema() -> dict:
    for path in SCHEMA_PATHS:
        if path.exists():
            return read_yaml(path.read_text())
    raise FileNotFoundError(f"config schema not found at any of {[str(p) for p in SCHEMA_PATHS]}")


def _with_defaults(validator_class):
    """A validator that fills ``default`` values of missing properties before validating them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema_):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema_)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


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
        listed = ", ".join(f"'{prefix}{k}' = {json.dumps(err.instance[k])}" for k in unknown)
        return f"unknown key {listed} (allowed under '{where}': {', '.join(sorted(allowed))})"
    value = json.dumps(err.instance) if not isinstance(err.instance, (dict, list)) or len(str(err.instance)) < 80 else "…"
    return f"key '{where}' = {value}: {err.message}"


def _semantic_checks(cfg: Mapping[str, Any]) -> list[str]:
    """Constraints a JSON schema cannot express."""
    problems = []
    for layer in ("s4d", "s6"):
        sub = cfg.get("model", {}).get(layer, {})
        if sub.get("dt_min", 0) >= sub.get("dt_max", 1):
            problems.append(
                f"key 'model.{layer}.dt_min' = {sub['dt_min']}: must be smaller than model.{layer}.dt_max = {sub['dt_max']}"
            )
    s4d_state = cfg.get("model", {}).get("s4d", {}).get("d_state", 2)
    if s4d_state % 2:
        problems.append(f"key 'model.s4d.d_state' = {s4d_state}: must be even (complex modes come in conjugate pairs)")
    for exp in ("refinement_trained", "eta_performance"):
        missing = [s for s in cfg.get(exp, {}).get("systems", []) if s not in cfg.get("systems", [])]
        if missing:
            problems.append(f"key '{exp}.systems' = {json.dumps(missing)}: not listed in top-level 'systems'")
    return problems


def validate_config(cfg: Mapping[str, Any], source: str = "config") -> dict:
    """Return a deep copy of ``cfg`` with defaults filled; raise :class:`ConfigError` if invalid.

    ``source`` (a file name) is included in the error message.
    """
    cfg = copy.deepcopy(dict(cfg))
    validator = _Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _semantic_checks(cfg)
    if problems:
        lines = "\n  - ".join(problems)
        raise ConfigError(f"invalid configuration ({source}):\n  - {lines}")
    return cfg


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict:
    """Load a YAML (or JSON) config file, apply nested ``overrides``, fill defaults and validate."""
    path = Path(path)
    try:
        text = path.read_text()
        # JSON through json (YAML 1.1 would read 1e-06 as a string); YAML otherwise.
        raw = json.loads(text) if path.suffix == ".json" else read_yaml(text)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(raw).__name__}")
    if overrides:
        raw = deep_merge(raw, overrides)
    return validate_config(raw, source=str(path))


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
    return int(train.get("batch_size_per_model", {}).get(model, train["batch_size"]))
