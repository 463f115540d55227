"""DOFA, Clay, TerraMind and SatVision end to end on real data (the bundled Sentinel-2
sample; a MOD021KM-like granule for SatVision): each model's own preprocessing and side
inputs, outputs on the ROI grid, batches equal to loops. Tiny architectures and random
weights (marked as such): the numbers, not the embeddings' meaning, are under test."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from modis_util import write_mod021km

from rs_embed_qgis.engine.api import (
    clear_caches,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
)
from rs_embed_qgis.engine.catalog import describe_model
from rs_embed_qgis.engine.catalog.entry import S2_SR
from rs_embed_qgis.engine.catalog.models.clay import NORM as CLAY_NORM
from rs_embed_qgis.engine.catalog.models.dofa import BANDS as DOFA_BANDS
from rs_embed_qgis.engine.catalog.models.dofa import NORM as DOFA_NORM
from rs_embed_qgis.engine.catalog.models.dofa import S2_WAVELENGTHS_UM
from rs_embed_qgis.engine.catalog.models.satvision import EMISSIVE_MAX_K, EMISSIVE_MIN_K
from rs_embed_qgis.engine.embedders.clay import latlon_code, time_code
from rs_embed_qgis.engine.embedders.satvision import scale_toa
from rs_embed_qgis.engine.errors import ModelError, ProviderError, SpecError
from rs_embed_qgis.engine.providers.base import Patch
from rs_embed_qgis.engine.specs import OutputSpec, PointBuffer, SensorSpec, TemporalSpec

YEAR = TemporalSpec.year(2022)
ROI = PointBuffer(9.02, 47.84, 400)
TINY = {
    "dofa": {"embed_dim": 32, "depth": 1, "num_heads": 2},
    "clay": {"dim": 32, "depth": 1, "heads": 2, "dim_head": 16},
    "terramind": {"dim": 32, "depth": 1, "num_heads": 2},
    "satvision": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1]},
}


@pytest.fixture(autouse=True)
def _fresh(one_torch_thread, monkeypatch, tmp_path):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    clear_caches()
    yield
    clear_caches()


def opts(model, **kw):
    return {"allow_random_weights": True, "download": False, "arch": TINY[model], **kw}


def run(model, spatial=ROI, output=OutputSpec.pooled(), **kw):
    mo = opts(model, **kw.pop("model_options", {}))
    return get_embedding(model, spatial=spatial, temporal=kw.pop("temporal", YEAR), backend="local", device="cpu",
                         output=output, model_options=mo, **kw)


@pytest.mark.parametrize("model", ["dofa", "clay", "terramind"])
def test_grid_lands_on_the_roi_and_random_weights_are_marked(model):
    e = run(model, output=OutputSpec.grid())
    d, h, w = e.array.shape
    assert d == 32 and h == w == {"dofa": 14, "clay": 32, "terramind": 14}[model]
    assert e.meta["random_weights"] is True and e.meta["weights"]["status"] == "random"
    assert e.meta["crs"] == "EPSG:32632" and e.meta["bounds"] == pytest.approx(e.meta["roi_bounds"])
    assert np.isfinite(e.array).all()


@pytest.mark.parametrize("model", ["dofa", "clay", "terramind"])
def test_a_batch_gives_the_loop_s_numbers(model):
    rois = [PointBuffer(9.02, 47.84, 400), PointBuffer(9.025, 47.842, 600), PointBuffer(9.015, 47.838, 300)]
    mo = opts(model)
    batch = get_embeddings_batch(model, spatials=rois, temporal=YEAR, backend="local", device="cpu", model_options=mo)
    loop = [get_embedding(model, spatial=r, temporal=YEAR, backend="local", device="cpu", model_options=mo)
            for r in rois]
    for a, b in zip(batch, loop, strict=True):
        np.testing.assert_allclose(a.array, b.array, rtol=1e-4, atol=1e-5)


# -- DOFA ---------------------------------------------------------------------------------
def test_dofa_normalises_each_band_with_its_statistics_and_passes_its_wavelength():
    emb = get_embedder("dofa", device="cpu", model_options=opts("dofa"))
    bands = ("B8", "B4")
    x = np.stack([np.full((5, 5), 5000.0), np.full((5, 5), np.nan)]).astype(np.float32)
    chw = emb.preprocess(Patch(x, bands))
    i8 = DOFA_BANDS.index("B8")
    m8, s8 = DOFA_NORM.mean[i8], DOFA_NORM.std[i8]
    assert chw[0, 0, 0] == pytest.approx((127.5 - m8) / s8, rel=1e-5)   # 5000 -> 0.5 -> 127.5 on the 0..255 scale
    assert chw[1, 0, 0] == 0.0                                          # no-data -> the band mean
    side = emb.side_inputs(Patch(x, bands), 2, "resize")
    np.testing.assert_allclose(side["wavelengths"], [[0.842, 0.665]] * 2)


def test_dofa_runs_any_band_subset_and_records_the_wavelengths():
    sensor = SensorSpec(S2_SR, ("B2", "B8", "B11"), scale_m=10, cloudy_pct=30)
    e = run("dofa", sensor=sensor)
    assert e.meta["wavelengths_um"] == [S2_WAVELENGTHS_UM[b] for b in ("B2", "B8", "B11")]
    assert e.meta["bands"] == ["B2", "B8", "B11"] and e.meta["pooled_from"] == "model image embedding"
    other = run("dofa", sensor=SensorSpec(S2_SR, ("B2", "B8"), scale_m=10, cloudy_pct=30))
    assert not np.allclose(e.array, other.array)


def test_dofa_bands_without_published_statistics_need_them_given():
    sensor = SensorSpec(S2_SR, ("B4", "B8A"), scale_m=10, cloudy_pct=30)
    with pytest.raises(ModelError, match=r"B8A.*norm_mean"):
        run("dofa", sensor=sensor)
    e = run("dofa", sensor=sensor, model_options={"norm_mean": [114.1, 100.0], "norm_std": [77.8, 60.0]})
    assert e.meta["norm_source"] == "model_options norm_mean/norm_std"


def test_dofa_other_sensors_bring_their_wavelengths():
    data = np.random.RandomState(0).uniform(0, 4000, (2, 32, 32)).astype("f4")
    mo = opts("dofa", wavelengths=[0.655, 0.865], norm_mean=[110, 100], norm_std=[70, 60])
    e = get_embedding_from_data("dofa", data, bands=["red", "nir"], device="cpu", model_options=mo)
    assert e.meta["wavelengths_um"] == [0.655, 0.865] and e.array.shape == (32,)
    with pytest.raises(ModelError, match="wavelengths"):
        get_embedding_from_data("dofa", data, bands=["red", "nir"], device="cpu", model_options=opts("dofa"))


# -- Clay ---------------------------------------------------------------------------------
def test_clay_side_inputs_follow_the_clay_recipe():
    e = run("clay", temporal=TemporalSpec.range("2022-06-01", "2022-09-01"))
    m = e.meta
    assert m["time_date"] == "2022-07-17" and m["time_code"] == pytest.approx(time_code(dt.date(2022, 7, 17), 0.0),
                                                                  abs=1e-6)
    week = 28 * 2 * math.pi / 52  # ISO week 28
    assert m["time_code"][:2] == pytest.approx([math.sin(week), math.cos(week)], abs=1e-6)
    lat, lon = m["latlon_center"]
    assert (lat, lon) == pytest.approx((47.84, 9.02), abs=1e-3)
    assert m["latlon_code"] == pytest.approx(latlon_code(lat, lon), abs=1e-6)
    # the ~800 m ROI at 10 m resized to 256 px: ~3.1 m per model pixel
    side = min(m["input"]["shape_tchw"][-2:])
    assert m["gsd_m"] == pytest.approx(side * 10 / 256) and 3.0 < m["gsd_m"] < 3.3
    assert m["pooled_from"] == "model image embedding"


def test_clay_gsd_follows_the_input_and_changes_the_embedding():
    a = run("clay")
    b = run("clay", model_options={"gsd_m": 10.0})
    assert b.meta["gsd_m"] == 10.0 and not np.allclose(a.array, b.array)
    t = run("clay", spatial=PointBuffer(9.02, 47.84, 1500), input_prep="tile", output=OutputSpec.grid())
    assert t.meta["gsd_m"] == 10.0 and t.meta["tiles"] == 4 and t.array.shape[1:] == (38, 38)


def test_clay_normalises_with_its_metadata_statistics():
    emb = get_embedder("clay", device="cpu", model_options=opts("clay"))
    bands = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
    x = np.full((10, 4, 4), 2000.0, np.float32)
    chw = emb.preprocess(Patch(x, bands))
    np.testing.assert_allclose(chw[:, 0, 0], (2000.0 - np.array(CLAY_NORM.mean)) / np.array(CLAY_NORM.std), rtol=1e-6)


def test_clay_bad_options_are_named():
    with pytest.raises(ModelError, match="hour"):
        get_embedder("clay", device="cpu", model_options=opts("clay", hour=25))
    with pytest.raises(ModelError, match="gsd_m"):
        get_embedder("clay", device="cpu", model_options=opts("clay", gsd_m=-3))


# -- TerraMind --------------------------------------------------------------------------------
def test_terramind_reads_the_twelve_band_sample_with_its_statistics():
    e = run("terramind")
    assert e.meta["bands"] == ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
    assert e.meta["terramind_modality"] == "untok_sen2l2a@224" and e.meta["norm_mean"][0] == 1390.458


def test_terramind_sentinel1_needs_a_backend_that_serves_it():
    emb = get_embedder("terramind", device="cpu", model_options=opts("terramind", modality="S1GRD"))
    s = emb.default_sensor()
    assert s.collection == "COPERNICUS/S1_GRD" and s.bands == ("VV", "VH")
    with pytest.raises(ProviderError, match="VV"):  # the local backend has Sentinel-2 scenes only
        run("terramind", model_options={"modality": "S1GRD"})
    db = np.stack([np.full((32, 32), -11.0), np.full((32, 32), -18.0)]).astype("f4")
    e = get_embedding_from_data("terramind", db, bands=["VV", "VH"], device="cpu",
                                model_options=opts("terramind", modality="S1GRD"))
    assert e.meta["modality"] == "S1GRD" and e.array.shape == (32,)


def test_terramind_rtc_has_no_default_sensor_and_bad_modalities_are_named():
    with pytest.raises(SpecError, match="no default sensor"):
        run("terramind", model_options={"modality": "S1RTC"})
    with pytest.raises(ModelError, match="modality"):
        get_embedder("terramind", device="cpu", model_options=opts("terramind", modality="DEM"))


# -- SatVision --------------------------------------------------------------------------------
def test_satvision_scales_reflectance_and_brightness_temperature_as_published():
    x = np.zeros((14, 2, 2), np.float32)
    x[[0, 1, 2, 3, 4, 6]] = 2500.0          # reflectance x 10000
    x[[5, 7, 8, 9, 10, 11, 12, 13]] = 280.0  # kelvin
    x[0, 0, 0] = np.nan
    x[5, 0, 0] = 0.0  # a backend's 0 fill in a thermal band: no-data, not 0 K
    y = scale_toa(x)
    assert y[1, 0, 0] == pytest.approx(0.25) and y[0, 0, 0] == 0.0 and y[5, 0, 0] == 0.0
    for ci, lo, hi in zip((5, 7, 8, 9, 10, 11, 12, 13), EMISSIVE_MIN_K, EMISSIVE_MAX_K, strict=True):
        assert y[ci, 1, 1] == pytest.approx((280.0 - lo) / (hi - lo), rel=1e-6)


def test_satvision_on_a_mod021km_granule(tmp_path):
    write_mod021km(tmp_path / "modis")
    roi = PointBuffer(8.75, 48.10, 6000)
    e = run("satvision", spatial=roi, temporal=TemporalSpec.range("2022-06-01", "2022-06-02"),
            output=OutputSpec.grid(), provider_options={"root": str(tmp_path / "modis")})
    assert e.array.shape == (64, 4, 4) and e.meta["grid_hw"] == [4, 4] and e.meta["random_weights"]
    assert e.meta["input"]["bands"][5] == "21" and e.meta["nodata_fraction"] == 0.0
    assert e.meta["crs"] == "EPSG:32632" and e.meta["bounds"] == pytest.approx(e.meta["roi_bounds"])
    p = run("satvision", spatial=roi, temporal=TemporalSpec.range("2022-06-01", "2022-06-02"),
            provider_options={"root": str(tmp_path / "modis")})
    np.testing.assert_allclose(p.array, e.array.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_new_models_are_in_the_catalog_with_their_contracts():
    for model, dim, bands in (("dofa", 768, 9), ("clay", 1024, 10), ("terramind", 384, 12), ("satvision", 4096, 14)):
        d = describe_model(model)
        assert d["embedding_dim"] == dim and len(d["bands"]) == bands and d["type"] == "on-the-fly"
        assert d["weights"]["status"] == "missing" and d["outputs"] == ["pooled", "grid"]
    assert describe_model("satvision")["default_sensor"]["collection"] == "MODIS/061/MOD021KM"
    assert describe_model("clay_v1_5")["id"] == "clay" and describe_model("satvision_toa")["id"] == "satvision"
