"""AnySat input/output contract (reference rs-embed-anysat-adapter.md): coercion,
normalisation, day-of-year side input, patch size, settings precedence, metadata."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from anysat_util import YEAR, A

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.catalog import get_entry
from rs_embed_qgis.engine.catalog.entry import S2_10
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.providers.base import Patch
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, TemporalSpec

ROI = PointBuffer(lon=9.19, lat=45.46, buffer_m=200)
TINY_RANDOM = {"model_size": "tiny", "pretrained": False, "img": 12}


@pytest.fixture(autouse=True)
def _clean_env(anysat_env, monkeypatch, tmp_path):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))  # tests put files there
    yield


def series(t=3, h=20, w=20, seed=0):
    return np.random.RandomState(seed).uniform(0, 5000, (t, 10, h, w)).astype(np.float32)


# -- default sensor -----------------------------------------------------------------------
def test_default_sensor_is_the_reference_one():
    s = get_entry("anysat").default_sensor
    assert s.collection == "COPERNICUS/S2_SR_HARMONIZED"
    assert s.bands == ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
    assert (s.scale_m, s.cloudy_pct, s.composite, s.fill_value) == (10, 30, "median", 0.0)
    assert get_entry("anysat").side_inputs == ("s2_dates",)


# -- input_chw coercion -----------------------------------------------------------------
def test_chw_is_repeated_to_T_frames():
    chw = series(1)[0]
    out = A.coerce_tchw(chw, 8)
    assert out.shape == (8, 10, 20, 20)
    assert all(np.array_equal(out[i], chw) for i in range(8))


def test_tchw_is_padded_with_its_last_frame_or_truncated():
    x = series(3)
    padded = A.coerce_tchw(x, 5)
    assert padded.shape[0] == 5
    assert np.array_equal(padded[:3], x)
    assert np.array_equal(padded[3], x[2]) and np.array_equal(padded[4], x[2])
    cut = A.coerce_tchw(series(9), 4)
    assert np.array_equal(cut, series(9)[:4])


def test_values_are_clipped_to_raw_reflectance_and_nan_become_zero():
    x = series(2)
    x[0, 0, 0, 0], x[0, 0, 0, 1], x[1, 3, 2, 2] = -50, 25000, np.nan
    out = A.coerce_tchw(x, 2)
    assert out.min() >= 0 and out.max() <= 10000
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 0, 1] == 10000 and out[1, 3, 2, 2] == 0


@pytest.mark.parametrize("shape", [(11, 8, 8), (3, 9, 8, 8), (8, 8), (1, 2, 10, 8, 8)])
def test_wrong_input_shape_is_a_model_error_naming_the_shape(shape):
    with pytest.raises(ModelError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        A.coerce_tchw(np.zeros(shape, np.float32), 8)


def test_api_input_chw_with_wrong_channel_count_names_the_shape():
    with pytest.raises(ModelError, match=r"C=10.*\(11, 16, 16\)"):
        api.get_embedding("anysat", spatial=ROI, temporal=YEAR, backend="local", device="cpu",
                          input_chw=np.zeros((11, 16, 16), np.float32), model_options=TINY_RANDOM)


# -- normalisation --------------------------------------------------------------------------
def test_per_tile_zscore_standardises_each_band_over_time_and_space():
    x = series(4)
    x[:, 5] = 1234.0  # a constant band must not blow up
    z = A.normalize_series(x, "per_tile_zscore")
    m, s = z.mean(axis=(0, 2, 3)), z.std(axis=(0, 2, 3))
    keep = [i for i in range(10) if i != 5]
    assert np.allclose(m[keep], 0, atol=1e-4) and np.allclose(s[keep], 1, atol=1e-3)
    assert np.all(z[:, 5] == 0) and np.isfinite(z).all()


def test_unit_scale_and_raw_modes_and_aliases():
    x = series(2)
    assert np.allclose(A.normalize_series(x, "unit_scale"), x / 10000.0)
    assert np.allclose(A.normalize_series(x, "reflectance"), x / 10000.0)
    assert np.array_equal(A.normalize_series(x, "raw"), x)
    assert np.array_equal(A.normalize_series(x, "none"), x)


def test_unknown_normalisation_is_a_model_error_naming_it():
    with pytest.raises(ModelError, match="'minmax'"):
        A.normalize_series(series(1), "minmax")


# -- day of year -----------------------------------------------------------------------------
def test_doy0_follows_anysat_convention():
    assert A.doy0(dt.date(2022, 1, 1)) == 0
    assert A.doy0(dt.date(2022, 12, 31)) == 364
    assert A.doy0(dt.date(2020, 12, 31)) == 364  # leap year clipped to 0..364
    assert A.doy0(dt.date(2022, 7, 1)) == 181


def test_s2_dates_come_from_the_midpoints_of_T_bins():
    p = Patch(series(1), S2_10, temporal=YEAR)
    doys, mids, source = A.doy0_values(p, 4)
    assert mids == ["2022-02-15", "2022-05-17", "2022-08-17", "2022-11-16"]
    assert doys == [45, 136, 228, 319]
    assert source == "temporal window split into frames"
    # a year is normalised to the same range
    assert A.doy0_values(Patch(series(1), S2_10, temporal=TemporalSpec.year(2022)), 4)[0] == doys


def test_provider_frame_midpoints_win_and_missing_dates_fall_back_to_mid_year():
    frames = [{"mid": "2022-03-01"}, {"mid": "2022-09-01"}]
    p = Patch(series(2), S2_10, frames=frames, temporal=YEAR)
    assert A.doy0_values(p, 2)[0] == [59, 243]
    assert A.doy0_values(p, 3)[0] == [59, 243, 243]  # padded like the frames
    doys, _, source = A.doy0_values(Patch(series(1), S2_10), 3)
    assert doys == [182, 182, 182] and "no temporal" in source


# -- patch size ---------------------------------------------------------------------------------
@pytest.mark.parametrize("good", [10, 20, 30, 240])
def test_patch_size_positive_multiple_of_ten(good):
    assert A.check_patch_size(good) == good


@pytest.mark.parametrize("bad", [0, -10, 15, 25.5, "x"])
def test_patch_size_not_multiple_of_ten_is_a_model_error_naming_it(bad):
    with pytest.raises(ModelError, match=repr(bad).replace(".", r"\.")):
        A.check_patch_size(bad)


def test_api_rejects_output_scale_not_multiple_of_ten():
    with pytest.raises(ModelError, match="got 15"):
        api.get_embedding("anysat", spatial=ROI, temporal=YEAR, output=OutputSpec.grid(scale_m=15),
                          backend="local", device="cpu", input_chw=series(2), model_options=TINY_RANDOM)


def test_patch_larger_than_the_image_is_a_model_error():
    with pytest.raises(ModelError, match="scale_m=250"):
        api.get_embedding("anysat", spatial=ROI, temporal=YEAR, output=OutputSpec.grid(scale_m=250),
                          backend="local", device="cpu", input_chw=series(2), model_options=TINY_RANDOM)


def test_unknown_input_prep_is_refused():
    with pytest.raises(ModelError, match="'crop'"):
        api.get_embedding("anysat", spatial=ROI, temporal=YEAR, backend="local", device="cpu",
                          input_prep="crop", input_chw=series(2), model_options=TINY_RANDOM)


def test_tile_mode_covers_the_native_pixels_with_stitched_patch_grids():
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu",
              model_options={**TINY_RANDOM, "norm": "raw", "frames": 2})
    x = series(2, 30, 30, seed=4)
    e = api.get_embedding("anysat", input_chw=x, input_prep="tile", output=OutputSpec.grid(scale_m=20), **kw)
    m = e.meta
    assert e.array.shape == (256, 15, 15) and m["grid_hw"] == [15, 15]   # 30 px / 2 px patches
    assert m["tiles"] == 9 and m["grid_cell_px"] == 2 and m["input_prep"] == "tile"  # 36 px padded: 3x3
    # the top-left tile is the model run on the top-left img x img pixels alone
    alone = api.get_embedding("anysat", input_chw=x[:, :, :12, :12], input_prep="resize",
                              output=OutputSpec.grid(scale_m=20), **kw)
    assert np.allclose(e.array[:, :6, :6], alone.array, atol=1e-4)


def test_tile_mode_on_an_image_of_model_size_equals_resize_mode():
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu", input_chw=series(2, 12, 12),
              output=OutputSpec.grid(scale_m=10), model_options=TINY_RANDOM)
    a = api.get_embedding("anysat", input_prep="tile", **kw).array
    b = api.get_embedding("anysat", input_prep="resize", **kw).array
    assert np.allclose(a, b, atol=1e-5)


def test_tile_mode_needs_img_a_multiple_of_the_patch():
    with pytest.raises(ModelError, match="img=12"):
        api.get_embedding("anysat", spatial=ROI, temporal=YEAR, backend="local", device="cpu",
                          input_prep="tile", input_chw=series(2), output=OutputSpec.grid(scale_m=50),
                          model_options=TINY_RANDOM)


def test_temporal_encoder_chunks_pixels_without_changing_results():
    import torch

    from rs_embed_qgis.engine.nn.anysat import AnySat

    m = AnySat("tiny").eval()
    x = {"s2": torch.randn(2, 3, 10, 8, 8), "s2_dates": torch.tensor([[5, 100, 200], [30, 60, 90]])}
    with torch.inference_mode():
        whole = m(x, 20)
        m.projector_s2.patch_embed.chunk_pixels = 7
        chunked = m(x, 20)
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_a_batch_gives_each_series_what_it_gives_alone():
    """Chunks that cut across series (pixels, patches, series) change nothing beyond rounding."""
    import torch

    from rs_embed_qgis.engine.nn.anysat import AnySat

    m = AnySat("tiny").eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, 10, 8, 8, generator=g)
    dates = torch.tensor([[5, 100, 200, 300], [30, 60, 90, 120], [0, 1, 2, 364]])
    with torch.inference_mode():
        alone = torch.cat([m({"s2": x[i:i + 1], "s2_dates": dates[i:i + 1]}, 20) for i in range(3)])
        m.projector_s2.patch_embed.chunk_pixels = 50   # 64 pixels per series
        m.spatial_encoder.chunk_tokens = 15            # 3 patches of 1 + 2x2 tokens, 16 per series
        m.chunk_tokens = 40                            # 2 series of 1 + 4x4 tokens
        batch = m({"s2": x, "s2_dates": dates}, 20)
        tile = m({"s2": x, "s2_dates": dates}, 20, output="tile")
    assert batch.shape == (3, 4, 4, 256)
    assert torch.allclose(batch, alone, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)  # the series differ
    with torch.inference_mode():
        tile_alone = m({"s2": x[2:], "s2_dates": dates[2:]}, 20, output="tile")
    assert torch.allclose(tile[2:], tile_alone, atol=1e-5)


def test_batched_api_call_equals_one_call_per_roi_at_the_default_batch():
    rng = np.random.RandomState(5)
    arrays = [rng.uniform(0, 4000, (3, 10, 12, 12)).astype("f4") for _ in range(5)]
    rois = [PointBuffer(lon=9.0 + 0.01 * i, lat=47.84, buffer_m=150) for i in range(5)]
    kw = dict(temporal=YEAR, backend="local", device="cpu", output=OutputSpec.grid(scale_m=10),
              model_options={**TINY_RANDOM, "frames": 3})
    batch = api.get_embeddings_batch("anysat", spatials=rois, input_chws=arrays, **kw)
    assert batch[0].meta["batch_size"] == A.DEFAULT_BATCH["cpu"]
    for b, a, r in zip(batch, arrays, rois, strict=True):
        assert np.allclose(b.array, api.get_embedding("anysat", spatial=r, input_chw=a, **kw).array, atol=1e-5)


def test_group_norm_over_rows_is_torch_group_norm():
    import torch

    from rs_embed_qgis.engine.nn.anysat import GroupNormRows

    ours, ref = GroupNormRows(4, 32), torch.nn.GroupNorm(4, 32)
    torch.nn.init.normal_(ref.weight)
    torch.nn.init.normal_(ref.bias)
    ours.load_state_dict(ref.state_dict())
    rows = torch.randn(50, 32) * 3 + 1
    with torch.inference_mode():
        assert torch.allclose(ours(rows), ref(rows), atol=1e-5)
        planes = torch.randn(2, 32, 5)  # (N, C, L) inputs take torch's own path
        assert torch.equal(ours(planes), ref(planes))


# -- settings: option > env > default -------------------------------------------------------
def test_defaults_match_the_reference_table():
    v, src = A.resolve_settings({}, environ={})
    assert (v["frames"], v["img"], v["norm"], v["model_size"], v["flash_attn"], v["pretrained"]) == \
        (8, 24, "per_tile_zscore", "base", False, True)
    assert "repo_path" not in v and v["fetch_workers"] == 8
    assert v["repo_url"] == "https://github.com/gastruc/AnySat"
    assert v["repo_cache"].endswith("rs_embed/anysat") and v["auto_download_repo"] is True
    assert set(src.values()) == {"default"}


def test_every_env_knob_is_honoured_and_options_override_it():
    env = {"RS_EMBED_ANYSAT_FRAMES": "4", "RS_EMBED_ANYSAT_IMG": "32", "RS_EMBED_ANYSAT_NORM": "unit_scale",
           "RS_EMBED_ANYSAT_MODEL_SIZE": "small", "RS_EMBED_ANYSAT_FLASH_ATTN": "1",
           "RS_EMBED_ANYSAT_PRETRAINED": "0",
           "RS_EMBED_ANYSAT_REPO_URL": "https://example.org/AnySat.git",
           "RS_EMBED_ANYSAT_REPO_CACHE": "/tmp/anysat-cache", "RS_EMBED_ANYSAT_AUTO_DOWNLOAD_REPO": "0",
           "RS_EMBED_ANYSAT_FETCH_WORKERS": "3"}
    v, src = A.resolve_settings({}, environ=env)
    assert (v["frames"], v["img"], v["norm"], v["model_size"], v["flash_attn"], v["pretrained"]) == \
        (4, 32, "unit_scale", "small", True, False)
    assert (v["repo_url"], v["repo_cache"], v["auto_download_repo"], v["fetch_workers"]) == \
        ("https://example.org/AnySat.git", "/tmp/anysat-cache", False, 3)
    assert src["frames"] == "env:RS_EMBED_ANYSAT_FRAMES"
    opts = {"frames": 6, "img": 16, "norm": "raw", "model_size": "tiny", "flash_attn": False,
            "pretrained": True, "fetch_workers": 2}
    v, src = A.resolve_settings(opts, environ=env)
    assert (v["frames"], v["img"], v["norm"], v["model_size"], v["flash_attn"], v["pretrained"]) == \
        (6, 16, "raw", "tiny", False, True)
    assert v["fetch_workers"] == 2
    assert src["frames"] == "option" and src["repo_url"] == "env:RS_EMBED_ANYSAT_REPO_URL"


def test_bad_env_value_names_the_variable_and_value():
    with pytest.raises(ModelError, match="RS_EMBED_ANYSAT_IMG.*'abc'"):
        A.resolve_settings({}, environ={"RS_EMBED_ANYSAT_IMG": "abc"})
    with pytest.raises(ModelError, match="'huge'"):
        A.resolve_settings({"model_size": "huge"}, environ={})


def test_unknown_option_is_refused():
    with pytest.raises(ModelError, match="framez"):
        A.resolve_settings({"framez": 3}, environ={})


def test_api_asks_the_provider_for_the_embedder_frames(monkeypatch):
    monkeypatch.setenv("RS_EMBED_ANYSAT_FRAMES", "5")
    monkeypatch.setenv("RS_EMBED_ANYSAT_FETCH_WORKERS", "3")
    emb = api.get_embedder("anysat", device="cpu", model_options=TINY_RANDOM)
    assert emb.frames == 5 and emb.fetch_workers == 3
    emb2 = api.get_embedder("anysat", device="cpu", model_options={**TINY_RANDOM, "frames": 2})
    assert emb2.frames == 2


# -- outputs and metadata -----------------------------------------------------------------------
def test_grid_is_a_dhw_data_array_with_the_reference_metadata():
    e = api.get_embedding("anysat", spatial=ROI, temporal=YEAR, output=OutputSpec.grid(scale_m=20),
                          backend="local", device="cpu", input_chw=series(3),
                          model_options={**TINY_RANDOM, "frames": 4})
    assert e.data.dims == ("band", "y", "x") and e.array.shape == (256, 6, 6)
    m = e.meta
    assert m["grid_hw"] == [6, 6] and m["grid_shape"] == [256, 6, 6]
    assert m["patch_output_hw"] == [6, 6] and m["patch_size_m"] == 20 and m["feature_dim"] == 256
    assert m["n_frames"] == 4 and m["doy0_values"] == [45, 136, 228, 319]
    assert m["image_size"] == 12 and m["input_hw"] == [20, 20] and m["normalization"] == "per_tile_zscore"
    assert m["start"] == "2022-01-01" and m["end"] == "2023-01-01"
    assert m["random_weights"] is True and m["weights"]["status"] == "random"
    assert m["grid_kind"] == "patch_tokens" and m["crs"].startswith("EPSG:326")
    assert np.isfinite(e.array).all()


def test_pooled_is_the_mean_or_max_of_the_patch_grid():
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu", input_chw=series(3),
              model_options=TINY_RANDOM)
    grid = api.get_embedding("anysat", output=OutputSpec.grid(scale_m=10), **kw).array
    mean = api.get_embedding("anysat", output=OutputSpec.pooled("mean"), **kw)
    mx = api.get_embedding("anysat", output=OutputSpec.pooled("max"), **kw)
    assert mean.array.shape == (256,)
    assert np.allclose(mean.array, grid.mean(axis=(1, 2)), atol=1e-5)
    assert np.allclose(mx.array, grid.max(axis=(1, 2)), atol=1e-6)
    assert mean.meta["pooling"] == "patch_mean" and mx.meta["pooling"] == "patch_max"


def test_dates_reach_the_model():
    kw = dict(spatial=ROI, backend="local", device="cpu", input_chw=series(3), model_options=TINY_RANDOM)
    a = api.get_embedding("anysat", temporal=YEAR, **kw).array
    b = api.get_embedding("anysat", temporal=TemporalSpec.range("2022-06-01", "2022-09-01"), **kw).array
    assert not np.allclose(a, b, atol=1e-4)


def test_normalisation_modes_change_the_input():
    kw = dict(spatial=ROI, temporal=YEAR, backend="local", device="cpu", input_chw=series(3))
    z = api.get_embedding("anysat", model_options=TINY_RANDOM, **kw)
    u = api.get_embedding("anysat", model_options={**TINY_RANDOM, "norm": "unit_scale"}, **kw)
    assert u.meta["normalization"] == "unit_scale"
    assert not np.allclose(z.array, u.array, atol=1e-4)


def test_embedding_from_caller_data_uses_its_dates():
    e = api.get_embedding_from_data("anysat", series(2, 12, 12), dates=["2022-03-01", "2022-09-01"],
                                    crs="EPSG:32632", transform=[10, 0, 500000, 0, -10, 5300000],
                                    output=OutputSpec.grid(scale_m=20), device="cpu",
                                    model_options={**TINY_RANDOM, "frames": 3})
    assert e.meta["doy0_values"] == [59, 243, 243] and e.meta["doy_source"] == "patch frame midpoints"
    assert e.array.shape == (256, 6, 6) and e.meta["crs"] == "EPSG:32632"


def test_catalog_entry_describes_weights_without_importing_the_model():
    from rs_embed_qgis.engine.catalog import describe_model, list_models

    assert "anysat" in list_models()
    d = describe_model("anysat")
    assert d["weights"]["hf_repo"] == "g-astruc/AnySat" and d["weights"]["hf_filename"] == "models/AnySat.pth"
    assert d["weights"]["env_var"] == "RS_EMBED_ANYSAT_CKPT" and d["weights"]["status"] == "missing"
    assert d["side_inputs"] == ["s2_dates"] and d["requires"] == ["torch"]


def test_no_temporal_uses_the_rs_embed_default_window_with_a_warning():
    with pytest.warns(UserWarning, match="2022-06-01..2022-09-01"):
        e = api.get_embedding("anysat", spatial=ROI, backend="local", device="cpu", input_chw=series(2),
                              model_options={**TINY_RANDOM, "frames": 2})
    assert e.meta["temporal"] == {"mode": "range", "year": None, "start": "2022-06-01", "end": "2022-09-01"}
    assert e.meta["start"] == "2022-06-01" and e.meta["doy0_values"] == [174, 220]  # Jun 24, Aug 9
