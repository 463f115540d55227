"""The forecaster's architecture: named inputs, shapes, channel mapping, decoder parts."""
from __future__ import annotations

import math

import pytest
import torch

from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.forecast.model import (
    INPUT_NAMES,
    ConvLSTM,
    ForecastConfig,
    FourierSynthesis,
    ReflectanceForecaster,
    inputs_from_channels_last,
    output_to_channels_last,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_inputs(cfg: ForecastConfig, b: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.height, cfg.width
    return {
        "sentinel2_sequence": torch.rand(b, cfg.context_frames, cfg.s2_bands, h, w, generator=g),
        "landcover_map": torch.nn.functional.one_hot(torch.randint(0, 10, (b, h, w), generator=g), 10)
        .permute(0, 3, 1, 2).float(),
        "temporal_metadata": torch.rand(b, 3, generator=g),
        "weather_sequence": torch.randn(b, cfg.target_frames, cfg.weather_features, generator=g),
        "target_start_doy": torch.rand(b, 1, generator=g),
    }


def test_full_reference_config_shapes():
    """The reference configuration: 10x128x128x4 in, 20x128x128x4 deltas out (channels-first here)."""
    cfg = ForecastConfig()
    assert cfg.filters == (32, 48, 64) and cfg.context_frames == 10 and cfg.target_frames == 20
    torch.manual_seed(0)
    model = ReflectanceForecaster(cfg).eval()
    with torch.no_grad():
        y = model(make_inputs(cfg))
    assert y.shape == (1, 20, 4, 128, 128)
    assert torch.isfinite(y).all()
    enc = model.encoder
    assert [m.cell.hidden for m in (enc.lstm1, enc.lstm2, enc.lstm3)] == [32, 48, 64]


def test_channels_last_mapping_matches_reference_layout():
    cfg = ForecastConfig.small(height=16, width=16)
    model = ReflectanceForecaster(cfg).eval()
    x = make_inputs(cfg, b=2)
    keras_like = {
        "sentinel2_sequence": x["sentinel2_sequence"].permute(0, 1, 3, 4, 2).numpy(),   # (B,10,H,W,4)
        "landcover_map": x["landcover_map"].permute(0, 2, 3, 1).numpy(),                # (B,H,W,10)
        "temporal_metadata": x["temporal_metadata"].numpy(),
        "weather_sequence": x["weather_sequence"].numpy(),
        "target_start_doy": x["target_start_doy"].numpy(),
    }
    assert keras_like["sentinel2_sequence"].shape == (2, 10, 16, 16, 4)
    with torch.no_grad():
        a = model(x)
        b = model(inputs_from_channels_last(keras_like))
    assert torch.allclose(a, b)
    assert output_to_channels_last(a).shape == (2, 20, 16, 16, 4)


def test_coeff_scale_is_learnable_and_starts_at_0_1():
    model = ReflectanceForecaster(ForecastConfig.small())
    cs = model.coeff_head.coeff_scale
    assert isinstance(cs, torch.nn.Parameter) and cs.requires_grad
    assert float(cs.detach()) == pytest.approx(0.1)


def test_fourier_synthesis_follows_target_start_doy():
    syn = FourierSynthesis(target_frames=20, n_harmonics=2, step_days=5.0)
    coeff = torch.zeros(1, 1, 2, 2, 1, 1)
    coeff[0, 0, 0, 0] = 1.0      # a_1 = 1: cos(2 pi t)
    coeff[0, 0, 1, 1] = 0.5      # b_2 = 0.5: 0.5 sin(4 pi t)
    start = torch.tensor([[0.3]])
    out = syn(coeff, start)[0, :, 0, 0, 0]
    t = 0.3 + torch.arange(20) * 5 / 365.25
    expect = torch.cos(2 * math.pi * t) + 0.5 * torch.sin(4 * math.pi * t)
    assert torch.allclose(out, expect, atol=1e-5)
    other = syn(coeff, torch.tensor([[0.6]]))[0, :, 0, 0, 0]
    assert not torch.allclose(out, other)


def test_dc_offset_is_constant_in_time_and_weather_residual_constant_in_space():
    cfg = ForecastConfig.small(height=8, width=8)
    model = ReflectanceForecaster(cfg).eval()
    x = make_inputs(cfg)
    with torch.no_grad():
        model.coeff_head.coeff_scale.zero_()           # no harmonics
        model.weather_residual.weight.zero_()
        model.weather_residual.bias.zero_()
        dc_only = model(x)
        assert torch.allclose(dc_only, dc_only[:, :1].expand_as(dc_only))   # same every frame
        assert dc_only.std() > 0                                            # but varies in space
        model.dc_offset.weight.zero_()
        model.dc_offset.bias.zero_()
        model.weather_residual.weight.normal_()
        w_only = model(x)
        assert torch.allclose(w_only, w_only[..., :1, :1].expand_as(w_only))  # same at every pixel
        assert w_only[0, :, 0, 0, 0].std() > 0                                # but varies in time


def test_bad_inputs_are_named():
    cfg = ForecastConfig.small(height=8, width=8)
    model = ReflectanceForecaster(cfg)
    x = make_inputs(cfg)
    x["weather_sequence"] = torch.zeros(1, 20, 20)
    with pytest.raises(ModelError, match="weather_sequence"):
        model(x)
    x = make_inputs(cfg)
    del x["target_start_doy"]
    with pytest.raises(ModelError, match="target_start_doy"):
        model(x)
    x = make_inputs(cfg)
    x["sentinel2_sequence"] = x["sentinel2_sequence"].permute(0, 1, 3, 4, 2)   # channels-last by mistake
    with pytest.raises(ModelError, match="sentinel2_sequence"):
        model(x)
    assert set(INPUT_NAMES) == {"sentinel2_sequence", "landcover_map", "temporal_metadata",
                                "weather_sequence", "target_start_doy"}


def test_config_validation_names_value():
    with pytest.raises(ModelError, match="gn_groups=5"):
        ForecastConfig(gn_groups=5)
    with pytest.raises(ModelError, match="unknown forecast config keys"):
        ForecastConfig.from_dict({"filters": [8, 12, 16], "bogus": 1})
    cfg = ForecastConfig.small()
    assert ForecastConfig.from_dict(cfg.to_dict()) == cfg


def _convlstm_by_definition(layer: ConvLSTM, x: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """Shi et al.'s ConvLSTM step by step: one convolution of ``[frame, static, hidden]``."""
    conv, n = layer.cell.conv, layer.cell.hidden
    b, t, _, hgt, wid = x.shape
    h = c = torch.zeros(b, n, hgt, wid)
    out = []
    for step in range(t):
        i, f, g, o = torch.chunk(conv(torch.cat([x[:, step], static, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, dim=1)


def test_convlstm_equals_its_step_by_step_definition_forward_and_backward():
    """The layer batches the frames' and the static channels' convolutions; the result and its
    gradients are those of the plain recurrence over the concatenated input."""
    torch.manual_seed(0)
    layer = ConvLSTM(3 + 2, 8)
    x = torch.randn(2, 5, 3, 12, 10, requires_grad=True)
    static = torch.randn(2, 2, 12, 10)
    ref = _convlstm_by_definition(layer, x, static)
    frames = x.transpose(0, 1).flatten(0, 1)                      # time-major
    got = layer(frames, 5, static).unflatten(0, (5, 2)).transpose(0, 1)
    assert torch.allclose(got, ref, atol=1e-5)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, layer.cell.conv.weight])
    g_got = torch.autograd.grad(got.square().sum(), [x, layer.cell.conv.weight])
    for a, b in zip(g_ref, g_got, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
