"""Build any model of the study by name from the config's ``model`` section; optimizer groups.

    build_model("s4d", d_input=1, d_output=1, model_cfg=cfg["model"])            # E2 regressor
    build_model("s6", ..., discretization="bilinear")                            # a variant
    rebuilt = build_model(**model.build_kwargs)                                  # from a checkpoint

``model_cfg`` is a resolved ``model`` section (every key present): the validated config's, or
:func:`resolve_model_cfg` of a partial one (defaults from ``src/contlaws/config.schema.yaml``, the
one source of defaults, filled by the config's validator). CUDA-only baselines raise :class:`ModelUnavailable` where they cannot run;
:func:`availability` says why without importing anything that would fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from contlaws.config import resolve_section
from contlaws.errors import ConfigError
from contlaws.gpu_packages import absent_packages
from contlaws.models.baselines import GPU_LAYERS, CausalLinearAttention, TransformerLayer, gpu_layer
from contlaws.models.s4d import S4D
from contlaws.models.s6 import S6
from contlaws.models.wrapper import ChannelsFirst, SequenceModel

MODEL_NAMES = ("s4d", "s6", "transformer", "linear_attention", "mamba2", "gla", "fla_linear_attention",
               "gated_deltanet", "mamba3")  # fmt: skip
TIME_AWARE = ("s4d", "s6")
S4D_OPTIM_KEYS = ("lr_ssm", "lr_a_imag")  # consumed by optimizer_param_groups, not by the layer


class ModelUnavailable(RuntimeError):
    """The model cannot be built on this machine (``.name``, ``.reason``)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"model '{name}' is not available here: {reason}")
        self.name, self.reason = name, reason


def availability(name: str) -> tuple[bool, str]:
    """(True, "") when ``name`` can be built here, else (False, reason)."""
    _check_name(name)
    if name not in GPU_LAYERS:
        return True, ""
    missing = [] if torch.cuda.is_available() else ["CUDA (none available)"]
    absent = absent_packages(name)
    if absent:
        missing.append(f"package{'s' * (len(absent) > 1)} {' and '.join(absent)} (not installed)")
    if missing:
        return False, "needs " + " and ".join(missing)
    try:
        from contlaws.models.baselines import import_gpu_layer

        import_gpu_layer(name)
    except Exception as err:  # noqa: BLE001  (a broken install, e.g. a CUDA extension that fails to load)
        return False, f"{GPU_LAYERS[name][1]} does not import: {type(err).__name__}: {err}"
    return True, ""


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")


def resolve_model_cfg(model_cfg: Mapping[str, Any]) -> dict:
    """A partial ``model`` section with every missing key set to its schema default, validated
    (:func:`contlaws.config.resolve_section`); unknown keys and bad values are ConfigErrors."""
    return resolve_section("model", model_cfg)


def build_model(
    name: str,
    *,
    d_input: int,
    d_output: int,
    model_cfg: Mapping[str, Any],
    input_kind: str = "continuous",
    vocab_size: int | None = None,
    discretization: str | None = None,
    readout: str | None = None,
    causal: bool = False,
    increment: bool = False,
) -> SequenceModel:
    """A :class:`SequenceModel` with ``model_cfg["n_layers"]`` layers of type ``name``.

    Args:
        name: one of :data:`MODEL_NAMES`.
        d_input: input features (ignored for tokens); d_output: targets or classes.
        model_cfg: a resolved ``model`` section (the validated config's, or :func:`resolve_model_cfg`).
        input_kind, vocab_size: "continuous" or "tokens" (with the vocabulary size).
        discretization, readout: override model.s4d/s6.discretization and model.s6.readout.
        causal: the E3 causal forecaster: every layer causal and the decoder at every position
            (wrapper readout "causal", output (B, L, d_output)). S4D then runs without the authors'
            channel norm (it divides by a mean over batch and time, so the output at t would depend
            on later steps and on the other samples), the Transformer gets a causal mask and
            sinusoidal positions; S6, linear attention and the CUDA-only baselines (Mamba-2/3, GLA,
            linear attention, Gated DeltaNet: recurrent or causally masked layers) are causal as
            they are.
        increment: (with ``causal``) the decoder predicts the change from the current input (see
            :class:`SequenceModel`).
    Raises:
        ValueError for an unknown name, ModelUnavailable where a CUDA-only baseline cannot run.
    """
    _check_name(name)
    ok, reason = availability(name)
    if not ok:
        raise ModelUnavailable(name, reason)
    cfg = matched_model_cfg(name, model_cfg, d_input=d_input, d_output=d_output, input_kind=input_kind,
                            vocab_size=vocab_size, causal=causal)  # fmt: skip
    d, dropout = cfg["d_model"], cfg["dropout"]
    layers = build_layers(name, cfg, discretization, readout, causal)
    model = SequenceModel(
        layers,
        d_input=d_input,
        d_output=d_output,
        d_model=d,
        dropout=dropout,
        prenorm=cfg["prenorm"],
        input_kind=input_kind,
        vocab_size=vocab_size,
        time_aware=name in TIME_AWARE,
        positional_encoding=name == "transformer" and (causal or cfg["transformer"]["positional_encoding"]),
        readout="causal" if causal else "mean_pool",
        increment=increment,
    )
    model.build_kwargs = build_record(name, d_input, d_output, cfg, input_kind, vocab_size, discretization, readout,
                                      causal, increment)  # fmt: skip
    return model


# ---------------------------------------------------------------------------------------------
# Matched parameter counts (model.param_target)
# ---------------------------------------------------------------------------------------------
PARAM_MATCH_TOL = 0.10  # a matched model's count is within 10 % of the target
PARAM_MATCH_MAX_WIDTH = 2048


def width_step(name: str, model_cfg: Mapping[str, Any]) -> int:
    """Widths of model ``name`` come in multiples of this (attention heads split d_model evenly)."""
    if name in ("transformer", "linear_attention"):
        return int(model_cfg[name]["n_heads"])
    return 1


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model`` (real numbers: a complex value stored as (..., 2) counts twice)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_width(count_at: Callable[[int], int], target: int, step: int = 1, tol: float = PARAM_MATCH_TOL,
                  max_width: int = PARAM_MATCH_MAX_WIDTH) -> int:  # fmt: skip
    """The width w (a multiple of ``step``, at most ``max_width``) whose ``count_at(w)`` is closest to
    ``target``; ValueError when even that one is off by more than ``tol`` (relative).

    ``count_at`` must grow with the width (every layer here does), so a bisection finds the two
    widths around the target in O(log) model builds.
    """
    if target < 1 or step < 1:
        raise ValueError(f"target and step must be positive, got {target}, {step}")
    lo, hi = 1, max_width // step  # in units of step
    if count_at(hi * step) < target:
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_at(mid * step) < target:
            lo = mid
        else:
            hi = mid
    candidates = {w * step: count_at(w * step) for w in {lo, hi}}
    width = min(candidates, key=lambda w: (abs(candidates[w] - target), w))
    if abs(candidates[width] - target) > tol * target:
        raise ValueError(f"no width (multiple of {step}, up to {max_width}) gives {target} parameters within "
                         f"{tol:.0%}: closest {width} with {candidates[width]}")  # fmt: skip
    return width


def matched_model_cfg(name: str, model_cfg: Mapping[str, Any], **build_options: Any) -> Mapping[str, Any]:
    """``model_cfg`` itself when ``param_target`` is unset; else a copy whose ``d_model`` gives model
    ``name`` (with these :func:`build_model` options: input and output sizes, causal) a parameter count
    within :data:`PARAM_MATCH_TOL` of the target, and ``param_target`` cleared, so the checkpoint's
    build record rebuilds the same width directly."""
    target = model_cfg.get("param_target")
    if target is None:
        return model_cfg

    def count_at(width: int) -> int:
        trial = {**model_cfg, "d_model": width, "param_target": None}
        return count_parameters(build_model(name, model_cfg=trial, **build_options))

    try:
        width = matched_width(count_at, int(target), width_step(name, model_cfg))
    except ValueError as err:
        raise ConfigError(f"key 'model.param_target' = {target}: model {name}: {err}") from None
    return {**copy.deepcopy(dict(model_cfg)), "d_model": width, "param_target": None}


def build_layers(name: str, cfg: Mapping[str, Any], discretization: str | None, readout: str | None,
                 causal: bool) -> list[torch.nn.Module]:  # fmt: skip
    """The ``cfg["n_layers"]`` layers of a :func:`build_model` model of type ``name`` (see there)."""
    d, n_layers, dropout = cfg["d_model"], cfg["n_layers"], cfg["dropout"]
    if name == "s4d":
        s4d_cfg = {k: v for k, v in cfg["s4d"].items() if k not in S4D_OPTIM_KEYS}
        s4d_cfg["discretization"] = discretization or s4d_cfg["discretization"]
        if causal:
            s4d_cfg["channel_norm"] = False  # the authors' norm mixes time steps and samples (not causal)
        return [ChannelsFirst(S4D(d, dropout=dropout, **s4d_cfg)) for _ in range(n_layers)]
    if name == "s6":
        s6_cfg = dict(cfg["s6"], discretization=discretization or cfg["s6"]["discretization"])
        s6_cfg["readout"] = readout or s6_cfg["readout"]
        return [S6(d, **s6_cfg) for _ in range(n_layers)]
    if name == "transformer":
        t_cfg = cfg["transformer"]
        # .get: checkpoints written before the key existed lack it; None is also the schema default
        attention_dropout = t_cfg.get("attention_dropout")
        return [TransformerLayer(d, t_cfg["n_heads"], t_cfg["d_ff"], dropout, causal=causal,
                                 attention_dropout=attention_dropout) for _ in range(n_layers)]  # fmt: skip
    if name == "linear_attention":
        return [CausalLinearAttention(d, cfg["linear_attention"]["n_heads"]) for _ in range(n_layers)]
    return [gpu_layer(name, d, i, cfg["mamba2"]) for i in range(n_layers)]


def build_record(name: str, d_input: int, d_output: int, cfg: Mapping[str, Any], input_kind: str,
                 vocab_size: int | None, discretization: str | None, readout: str | None, causal: bool,
                 increment: bool) -> dict:  # fmt: skip
    """The ``build_kwargs`` a checkpoint keeps to rebuild the model (:func:`contlaws.train.load_model`)."""
    record = {
        "name": name,
        "d_input": d_input,
        "d_output": d_output,
        "model_cfg": copy.deepcopy(dict(cfg)),
        "input_kind": input_kind,
        "vocab_size": vocab_size,
        "discretization": discretization,
        "readout": readout,
    }
    if causal:  # only when set, so checkpoints of the other experiments keep their build_kwargs
        record["causal"] = True
    if increment:
        record["increment"] = True
    return record


def optimizer_param_groups(
    model: nn.Module, lr: float, weight_decay: float, model_cfg: Mapping[str, Any],
    ssm_group: Mapping[str, float] | None = None,
) -> list[dict]:
    """AdamW parameter groups, every per-parameter setting of the study in one place (spec E2).

    - S4D log_dt, log_A_real: lr = model.s4d.lr_ssm, wd 0; S4D A_imag: lr = model.s4d.lr_a_imag, wd 0.
    - S6 log_A_real: lr, wd 0.
    - parameters a library marks ``_no_weight_decay`` (Mamba-2/3, Gated DeltaNet): lr, wd 0.
    - everything else: lr, weight_decay.
    With ``ssm_group`` ({lr, weight_decay}; config ``train.ssm_param_group``) the state-space
    parameters instead form one group "ssm" at its lr and weight decay: S4D log_dt, log_A_real,
    A_imag and C (its state-to-output map; B is folded into C), S6 log_A_real and the step
    projection dt_proj (weight and bias; S6's B and C are computed from the input by x_proj, so they
    are not state parameters and stay in "default"). Each group carries a ``name``; empty groups are left out.
    """
    s4d_cfg = model_cfg["s4d"]
    groups = {
        "s4d_ssm": {"lr": s4d_cfg["lr_ssm"], "weight_decay": 0.0},
        "s4d_a_imag": {"lr": s4d_cfg["lr_a_imag"], "weight_decay": 0.0},
        "ssm": {"lr": float(ssm_group["lr"]), "weight_decay": float(ssm_group["weight_decay"])} if ssm_group else {},
        "no_decay": {"lr": lr, "weight_decay": 0.0},
        "default": {"lr": lr, "weight_decay": weight_decay},
    }
    members: dict[str, list] = {key: [] for key in groups}
    special = {}
    for module in model.modules():
        if isinstance(module, S4D):
            if ssm_group:
                special.update({id(p): "ssm" for p in (module.log_dt, module.log_A_real, module.A_imag, module.C)})
            else:
                special.update(
                    {id(module.log_dt): "s4d_ssm", id(module.log_A_real): "s4d_ssm", id(module.A_imag): "s4d_a_imag"}
                )
        elif isinstance(module, S6):
            if ssm_group:
                special.update({id(p): "ssm" for p in (module.log_A_real, *module.dt_proj.parameters())})
            else:
                special[id(module.log_A_real)] = "no_decay"
    for param in model.parameters():
        if not param.requires_grad:
            continue
        key = special.get(id(param), "no_decay" if getattr(param, "_no_weight_decay", False) else "default")
        members[key].append(param)
    return [{"name": key, "params": members[key], **groups[key]} for key in groups if members[key]]
