"""Registry, shared wrapper (stride, τ, dropout, pooling), baselines and optimizer groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from contlaws.errors import ConfigError
from contlaws.models import (
    MODEL_NAMES,
    S4D,
    S6,
    ModelUnavailable,
    availability,
    build_model,
    optimizer_param_groups,
    resolve_model_cfg,
)
from contlaws.models.baselines import GPU_LAYERS, causal_linear_attention, elu_feature_map
from contlaws.models.wrapper import mean_pool_time

CPU_MODELS = ("s4d", "s6", "transformer", "linear_attention")
# build_model reads a resolved `model` section: the schema fills what a test does not set.
SMALL_GIVEN = {
    "d_model": 16,
    "n_layers": 2,
    "dropout": 0.1,
    "transformer": {"n_heads": 4, "d_ff": 32},
    "linear_attention": {"n_heads": 4},
}
SMALL = resolve_model_cfg(SMALL_GIVEN)


@pytest.mark.parametrize("name", CPU_MODELS)
def test_cpu_models_build_train_and_rebuild(name):
    torch.manual_seed(0)
    model = build_model(name, d_input=3, d_output=2, model_cfg=SMALL)
    assert model.time_aware == (name in ("s4d", "s6"))
    x = torch.randn(4, 30, 3)
    out = model(x, tau=0.5, stride=2)
    assert out.shape == (4, 2)
    out.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    rebuilt = build_model(**model.build_kwargs)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    torch.testing.assert_close(rebuilt(x, tau=0.5), model(x, tau=0.5))


@pytest.mark.parametrize("name", CPU_MODELS)
def test_token_input(name):
    model = build_model(name, d_input=1, d_output=5, model_cfg=SMALL, input_kind="tokens", vocab_size=11).eval()
    tokens = torch.randint(0, 11, (3, 24))
    assert model(tokens).shape == (3, 5)
    assert model(tokens, stride=4).shape == (3, 5)
    with pytest.raises(ValueError, match="token input"):
        model(torch.randn(3, 24, 1))


def test_unknown_and_unavailable_models():
    with pytest.raises(ValueError, match="valid names: s4d, s6, transformer"):
        build_model("lstm", d_input=1, d_output=1, model_cfg=resolve_model_cfg({}))
    assert set(GPU_LAYERS) | set(CPU_MODELS) == set(MODEL_NAMES)
    for name in CPU_MODELS:
        assert availability(name) == (True, "")
    for name in GPU_LAYERS:
        ok, reason = availability(name)
        if torch.cuda.is_available():
            continue
        assert not ok and "needs CUDA (none available)" in reason
        with pytest.raises(ModelUnavailable) as info:
            build_model(name, d_input=1, d_output=1, model_cfg=resolve_model_cfg({}))
        assert info.value.name == name and info.value.reason == reason


def test_missing_keys_take_schema_defaults(quick_config):
    # config validation fills every default from the schema: resolving a partial `model` section
    # must give exactly the values validation gives for the same partial section
    from contlaws.config import validate_config

    given = {"d_model": quick_config["model"]["d_model"], "n_layers": quick_config["model"]["n_layers"]}
    resolved = resolve_model_cfg(given)
    validated = validate_config({**quick_config, "model": dict(given)})["model"]
    for key, value in validated.items():
        if isinstance(value, dict):
            assert {k: resolved[key][k] for k in value} == value, key
        else:
            assert resolved[key] == value, key
    model = build_model("s4d", d_input=1, d_output=1, model_cfg=resolve_model_cfg({}))
    assert len(model.layers) == 4 and model.layers[0].layer.d_model == 128 and model.layers[0].layer.d_state == 2
    with pytest.raises(ConfigError, match="model.s4d.d_sate"):
        resolve_model_cfg({"s4d": {"d_sate": 4}})


def test_discretization_and_readout_overrides():
    cfg = resolve_model_cfg(dict(SMALL_GIVEN, s4d={"discretization": "zoh"}, s6={"discretization": "zoh", "readout": "c"}))
    s4d = build_model("s4d", d_input=1, d_output=1, model_cfg=cfg, discretization="bilinear")
    assert all(block.layer.discretization == "bilinear" for block in s4d.layers)
    s6 = build_model("s6", d_input=1, d_output=1, model_cfg=cfg, discretization="bilinear", readout="sum")
    assert all(layer.discretization == "bilinear" and layer.readout == "sum" for layer in s6.layers)
    assert build_model("s6", d_input=1, d_output=1, model_cfg=cfg).layers[0].readout == "c"


@pytest.mark.parametrize(("name", "layer_cls"), [("s4d", S4D), ("s6", S6)])
def test_layers_receive_tau_times_stride(monkeypatch, name, layer_cls):
    seen = []
    original = layer_cls.forward

    def spy(self, u, tau=1.0):
        seen.append((tau, u.shape))
        return original(self, u, tau)

    monkeypatch.setattr(layer_cls, "forward", spy)
    model = build_model(name, d_input=2, d_output=1, model_cfg=SMALL)
    model(torch.randn(3, 21, 2), tau=0.5, stride=4)
    assert [tau for tau, _ in seen] == [2.0, 2.0]  # one call per layer
    lengths = {shape[-1] if name == "s4d" else shape[1] for _, shape in seen}
    assert lengths == {6}  # ceil(21 / 4) pooled steps


def test_changing_tau_changes_time_aware_models_only():
    torch.manual_seed(0)
    x = torch.randn(2, 40, 3)
    for name in CPU_MODELS:
        model = build_model(name, d_input=3, d_output=2, model_cfg=SMALL).eval()
        changed = (model(x, tau=1.0) - model(x, tau=0.25)).abs().max() > 1e-5
        assert changed == model.time_aware, name


def test_mean_pool_time_windows_and_short_tail():
    x = torch.arange(2 * 7 * 3, dtype=torch.float64).reshape(2, 7, 3)
    pooled = mean_pool_time(x, 3)
    expected = torch.stack([x[:, 0:3].mean(1), x[:, 3:6].mean(1), x[:, 6:7].mean(1)], 1)
    torch.testing.assert_close(pooled, expected)
    assert mean_pool_time(x, 1) is x
    torch.testing.assert_close(mean_pool_time(x, 7), x.mean(1, keepdim=True))
    torch.testing.assert_close(mean_pool_time(x, 10), x.mean(1, keepdim=True))


def test_pooling_after_the_linear_encoder_equals_pooling_raw_input():
    torch.manual_seed(1)
    model = build_model("s4d", d_input=2, d_output=1, model_cfg=SMALL).double().eval()
    x = torch.randn(2, 23, 2, dtype=torch.float64)
    encoded = mean_pool_time(model.encoder(x), 4)
    torch.testing.assert_close(encoded, model.encoder(mean_pool_time(x, 4)))


def test_dropout_drops_features_not_time_steps():
    model = build_model("s4d", d_input=1, d_output=1, model_cfg=resolve_model_cfg(dict(SMALL_GIVEN, d_model=64, dropout=0.5))).train()
    dropped = model.dropouts[0](torch.ones(8, 200, 64))
    zero_fraction = float((dropped == 0).float().mean())
    assert 0.4 < zero_fraction < 0.6
    whole_steps_dropped = (dropped == 0).all(dim=-1).float().mean()
    assert whole_steps_dropped == 0  # Dropout1d on (B, L, D) would zero half of all time steps


def test_prenorm_option_changes_the_block():
    torch.manual_seed(2)
    post = build_model("s6", d_input=1, d_output=1, model_cfg=SMALL).eval()
    pre = build_model("s6", d_input=1, d_output=1, model_cfg=resolve_model_cfg(dict(SMALL_GIVEN, prenorm=True))).eval()
    pre.load_state_dict(post.state_dict())
    x = torch.randn(2, 15, 1)
    assert (pre(x) - post(x)).abs().max() > 1e-6


def test_transformer_without_positions_is_permutation_invariant():
    """No mask, no position encoding, mean pool: shuffling time steps cannot change the output."""
    torch.manual_seed(3)
    x = torch.randn(2, 12, 3)
    perm = torch.randperm(12)
    model = build_model("transformer", d_input=3, d_output=2, model_cfg=SMALL).eval()
    torch.testing.assert_close(model(x[:, perm]), model(x), rtol=1e-5, atol=1e-5)
    cfg = resolve_model_cfg(dict(SMALL_GIVEN, transformer={"n_heads": 4, "d_ff": 32, "positional_encoding": True}))
    with_positions = build_model("transformer", d_input=3, d_output=2, model_cfg=cfg).eval()
    assert (with_positions(x[:, perm]) - with_positions(x)).abs().max() > 1e-4


@pytest.mark.parametrize("length", [1, 16, 37])
def test_chunked_linear_attention_equals_quadratic_form(length):
    g = torch.Generator().manual_seed(4)
    q, k = (elu_feature_map(torch.randn(2, 3, length, 5, dtype=torch.float64, generator=g)) for _ in range(2))
    v = torch.randn(2, 3, length, 4, dtype=torch.float64, generator=g)
    scores = (q @ k.transpose(-1, -2)).tril()  # (B H L L), causal
    expected = (scores @ v) / (scores.sum(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(causal_linear_attention(q, k, v, chunk=8), expected)


def test_linear_attention_model_is_causal():
    torch.manual_seed(5)
    model = build_model("linear_attention", d_input=2, d_output=1, model_cfg=SMALL).eval()
    layer = model.layers[0]
    x = torch.randn(1, 20, 16)
    x_changed = x.clone()
    x_changed[:, 12:] += 1.0
    torch.testing.assert_close(layer(x)[:, :12], layer(x_changed)[:, :12])


def test_optimizer_groups_follow_the_spec():
    cfg = resolve_model_cfg(dict(SMALL_GIVEN, s4d={"lr_ssm": 1e-3, "lr_a_imag": 0.1}))
    model = build_model("s4d", d_input=1, d_output=1, model_cfg=cfg)
    groups = {g["name"]: g for g in optimizer_param_groups(model, lr=3e-3, weight_decay=0.01, model_cfg=cfg)}
    s4d = model.layers[0].layer
    ids = {name: {id(p) for p in g["params"]} for name, g in groups.items()}
    assert {id(s4d.log_dt), id(s4d.log_A_real)} <= ids["s4d_ssm"]
    assert groups["s4d_ssm"]["lr"] == 1e-3 and groups["s4d_ssm"]["weight_decay"] == 0
    assert id(s4d.A_imag) in ids["s4d_a_imag"] and groups["s4d_a_imag"]["lr"] == 0.1
    assert groups["s4d_a_imag"]["weight_decay"] == 0
    assert id(s4d.C) in ids["default"] and groups["default"]["lr"] == 3e-3 and groups["default"]["weight_decay"] == 0.01
    all_ids = [i for g in ids.values() for i in g]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters())  # every parameter exactly once
    torch.optim.AdamW(list(groups.values()))

    s6_model = build_model("s6", d_input=1, d_output=1, model_cfg=SMALL)
    s6_groups = {g["name"]: g for g in optimizer_param_groups(s6_model, 1e-3, 0.01, SMALL)}
    assert {id(layer.log_A_real) for layer in s6_model.layers} == {id(p) for p in s6_groups["no_decay"]["params"]}
    assert s6_groups["no_decay"]["weight_decay"] == 0


def test_library_no_weight_decay_marks_are_respected():
    model = build_model("transformer", d_input=1, d_output=1, model_cfg=SMALL)
    marked = nn.Parameter(torch.zeros(3))
    marked._no_weight_decay = True
    model.extra = nn.ParameterList([marked])
    groups = {g["name"]: g for g in optimizer_param_groups(model, 1e-3, 0.01, SMALL)}
    assert [id(p) for p in groups["no_decay"]["params"]] == [id(marked)]


# ---------------------------------------------------------------------------------------------
# E3 causal forecaster (build_model(causal=True))
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CPU_MODELS)
@pytest.mark.parametrize("increment", [False, True])
def test_causal_forecaster_outputs_depend_on_the_past_only(name, increment):
    """Perturb the inputs after step t: the outputs at steps <= t do not move, later ones do."""
    torch.manual_seed(11)
    model = build_model(name, d_input=3, d_output=6, model_cfg=SMALL, causal=True, increment=increment).eval()
    x = torch.randn(4, 40, 3)
    changed = x.clone()
    changed[:, 25:] += torch.randn(4, 15, 3)
    out, out_changed = model(x), model(changed)
    assert out.shape == (4, 40, 6)
    torch.testing.assert_close(out_changed[:, :25], out[:, :25], rtol=1e-5, atol=1e-5)
    assert (out_changed[:, 25:] - out[:, 25:]).abs().max() > 1e-3
    # and the other samples of the batch do not matter either
    torch.testing.assert_close(model(x[:1]), out[:1], rtol=1e-5, atol=1e-5)


def test_causal_mode_builds_causal_layers_and_mean_pool_mode_keeps_the_authors():
    causal = build_model("s4d", d_input=2, d_output=2, model_cfg=SMALL, causal=True)
    authors = build_model("s4d", d_input=2, d_output=2, model_cfg=SMALL)
    assert [layer.layer.channel_norm for layer in causal.layers] == [False, False]
    assert [layer.layer.channel_norm for layer in authors.layers] == [True, True]
    assert causal.readout == "causal" and authors.readout == "mean_pool" and causal.build_kwargs["causal"] is True
    assert "causal" not in authors.build_kwargs  # E2/E5 checkpoints keep their build_kwargs
    transformer = build_model("transformer", d_input=2, d_output=2, model_cfg=SMALL, causal=True)
    assert transformer.positional_encoding and all(layer.causal for layer in transformer.layers)
    assert build_model(**causal.build_kwargs).readout == "causal"
    with pytest.raises(ValueError, match="stride 1"):
        causal(torch.randn(1, 8, 2), stride=2)
    with pytest.raises(ValueError, match="increment needs readout 'causal'"):
        build_model("s4d", d_input=2, d_output=2, model_cfg=SMALL, increment=True)


def test_authors_s4d_channel_norm_is_not_causal():
    """The authors' norm divides by a mean over batch and time: future steps and other samples leak."""
    from contlaws.models.s4d import S4D

    torch.manual_seed(12)
    layer = S4D(8, channel_norm=True).eval()
    u = torch.randn(2, 8, 30)
    changed = u.clone()
    changed[:, :, 20:] *= 5.0
    assert (layer(changed)[:, :, :20] - layer(u)[:, :, :20]).abs().max() > 1e-3  # the future changes the past
    assert (layer(u[:1]) - layer(u)[:1]).abs().max() > 1e-4  # another sample changes this one
    layer.channel_norm = False
    torch.testing.assert_close(layer(changed)[:, :, :20], layer(u)[:, :, :20])


def test_causal_transformer_is_not_permutation_invariant():
    torch.manual_seed(13)
    x = torch.randn(2, 12, 3)
    perm = torch.randperm(12)
    model = build_model("transformer", d_input=3, d_output=2, model_cfg=SMALL, causal=True).eval()
    last = model(x)[:, -1]
    assert (model(x[:, perm])[:, -1] - last).abs().max() > 1e-3
    # masked attention without positions would still be order-blind at the last step within a set of
    # equal prefixes; the positions make even a swap of the first two steps visible
    swapped = x.clone()
    swapped[:, [0, 1]] = x[:, [1, 0]]
    assert (model(swapped)[:, -1] - last).abs().max() > 1e-4


def test_transformer_attention_dropout_is_separate_and_defaults_to_the_model_dropout():
    def attention_outputs_vary(model_cfg) -> bool:
        torch.manual_seed(15)
        model = build_model("transformer", d_input=3, d_output=2, model_cfg=model_cfg, causal=True).train()
        for module in model.modules():  # every dropout but the attention probabilities' off
            if isinstance(module, nn.Dropout):
                module.eval()
        x = torch.randn(2, 12, 3)
        return bool((model(x) - model(x)).abs().max() > 1e-6)

    dropout = {**SMALL, "dropout": 0.5}
    assert attention_outputs_vary(resolve_model_cfg(dropout))  # null: the authors' attention dropout = model.dropout
    no_attention_dropout = {**dropout, "transformer": {**SMALL.get("transformer", {}), "attention_dropout": 0.0}}
    assert not attention_outputs_vary(resolve_model_cfg(no_attention_dropout))
    old_checkpoint_cfg = resolve_model_cfg(dropout)
    del old_checkpoint_cfg["transformer"]["attention_dropout"]  # written before the key existed
    assert attention_outputs_vary(old_checkpoint_cfg)
    with pytest.raises(ConfigError, match="attention_dropout"):
        resolve_model_cfg({**dropout, "transformer": {"attention_dropout": 1.0}})


def test_increment_output_is_the_input_plus_the_decoder():
    torch.manual_seed(14)
    model = build_model("s4d", d_input=3, d_output=6, model_cfg=SMALL, causal=True, increment=True).eval()
    plain = build_model("s4d", d_input=3, d_output=6, model_cfg=SMALL, causal=True).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 10, 3)
    torch.testing.assert_close(model(x), plain(x) + torch.cat([x, x], dim=-1))  # horizon 2: x_t repeated
