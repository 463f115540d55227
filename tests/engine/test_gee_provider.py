"""The Earth Engine provider through the real earthengine-api client, against the
loopback EE REST server that evaluates our expressions over the bundled sample.

The local backend reads the same scenes, so a composite fetched through Earth
Engine must equal the local composite pixel for pixel.
"""
import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytest.importorskip("ee")
from ee_test_server import TEST_PROJECT, invocations  # noqa: E402 - fixtures come from conftest.py

from rs_embed_qgis.engine import (
    BBox,
    OutputSpec,
    PointBuffer,
    ProviderError,
    SensorSpec,
    SpecError,
    TemporalSpec,
    get_embedding,
)
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.providers.local import LocalProvider

S2 = "COPERNICUS/S2_SR_HARMONIZED"
ROI = PointBuffer(9.02, 47.84, 500)
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


def sensor(**kw):
    d = dict(collection=S2, bands=("B4", "B3", "B2"), scale_m=10, cloudy_pct=30)
    d.update(kw)
    return SensorSpec(**d)


@pytest.fixture(scope="module")
def local():
    return LocalProvider()


def test_median_composite_equals_local_backend(make_gee, local):
    p = make_gee().fetch(ROI, SUMMER, sensor())
    ref = local.fetch(ROI, SUMMER, sensor())
    assert p.backend == "gee" and p.data.dtype == np.float32
    assert p.data.shape == (1, 3, 101, 101) == ref.data.shape
    assert p.grid == roi_grid(ROI, 10)
    np.testing.assert_array_equal(p.data, ref.data)
    f = p.frames[0]
    assert (f["start"], f["end"], f["n_scenes"]) == ("2022-06-01", "2022-09-01", 3)
    assert f["scene_dates"] == ["2022-06-24", "2022-07-15", "2022-08-09"]
    assert f["valid_fraction"] == 1.0
    assert p.meta["cloud_mask"] == "scl" and p.meta["cache"] == "off"


def test_request_carries_collection_filters_mask_reducer_bands_and_grid(make_gee, ee_env):
    make_gee().fetch(ROI, SUMMER, sensor(bands=("B02", "B8")))
    listing = ee_env.requests("value:compute")
    pixels = ee_env.requests("computePixels")
    assert len(listing) == 1 and len(pixels) == 1
    body = pixels[0]["body"]
    assert pixels[0]["path"] == f"/v1/projects/{TEST_PROJECT}/image:computePixels"
    assert body["fileFormat"] == "NPY"
    g = roi_grid(ROI, 10)
    assert body["grid"] == {
        "dimensions": {"width": g.width, "height": g.height},
        "affineTransform": {"scaleX": 10.0, "shearX": 0.0, "translateX": g.left,
                            "shearY": 0.0, "scaleY": -10.0, "translateY": g.top},
        "crsCode": "EPSG:32632"}
    expr = body["expression"]
    assert invocations(expr, "ImageCollection.load") == [{"id": S2}]
    (dr,) = invocations(expr, "DateRange")
    assert (dr["start"], dr["end"]) == ("2022-06-01", "2022-09-01")
    (gt,) = invocations(expr, "Filter.greaterThan")  # lte is not(greaterThan)
    assert gt == {"leftField": "CLOUDY_PIXEL_PERCENTAGE", "rightValue": 30}
    (remap,) = invocations(expr, "Image.remap")  # the SCL mask mapped over the collection
    assert remap["from"] == [0, 1, 3, 8, 9, 10] and set(remap["to"]) == {0}
    assert len(invocations(expr, "reduce.median")) == 1
    assert not invocations(expr, "ImageCollection.mosaic")
    selects = [s["bandSelectors"] for s in invocations(expr, "Image.select")]
    assert ["B2", "B8"] in selects and ["SCL"] in selects  # EE names (B02 -> B2)
    (rect,) = invocations(expr, "GeometryConstructors.Rectangle")
    lon0, lat0, lon1, lat1 = rect["coordinates"]
    assert lon0 < 9.02 < lon1 and lat0 < 47.84 < lat1
    # the scene listing filters the same way
    lexpr = listing[0]["body"]["expression"]
    assert [a["property"] for a in invocations(lexpr, "AggregateFeatureCollection.array")] == [
        "system:index", "system:time_start"]


def test_mosaic_puts_the_latest_scene_on_top(make_gee, local, ee_env):
    s = sensor(composite="mosaic")
    p = make_gee().fetch(ROI, SUMMER, s)
    np.testing.assert_array_equal(p.data, local.fetch(ROI, SUMMER, s).data)
    expr = ee_env.requests("computePixels")[0]["body"]["expression"]
    assert invocations(expr, "Collection.limit")[0]["key"] == "system:time_start"
    assert len(invocations(expr, "ImageCollection.mosaic")) == 1


def test_cloudy_pct_filters_scenes_by_the_collection_property(make_gee):
    prov = make_gee()
    year = TemporalSpec.year(2022)
    ids_all = prov.fetch(ROI, year, sensor(cloudy_pct=100)).frames[0]["scenes"]
    ids_clear = prov.fetch(ROI, year, sensor(cloudy_pct=10)).frames[0]["scenes"]
    assert len(ids_all) == 12
    # 2022-02-24 (38 %), 2022-05-30 (13 %) and 2022-11-22 (33 %) are cloudier than 10 %
    assert sorted(set(ids_all) - set(ids_clear)) == [
        "S2_L2A_20220224_sample", "S2_L2A_20220530_sample", "S2_L2A_20221122_sample"]


def test_time_series_one_composite_per_bin_with_dates(make_gee, local):
    s = sensor()
    p = make_gee().fetch(ROI, TemporalSpec.year(2022), s, frames=4)
    ref = local.fetch(ROI, TemporalSpec.year(2022), s, frames=4)
    assert p.data.shape == (4, 3, 101, 101)
    np.testing.assert_array_equal(p.data, ref.data)
    assert [f["n_scenes"] for f in p.frames] == [f["n_scenes"] for f in ref.frames]
    assert [f["mid"] for f in p.frames] == [f["mid"] for f in ref.frames]
    assert p.frame_dates()[0].isoformat() == p.frames[0]["mid"]


def test_empty_bin_is_filled_and_reported(make_gee, ee_env):
    s = sensor(fill_value=-1.0, cloudy_pct=100)
    p = make_gee().fetch(ROI, TemporalSpec.range("2022-10-01", "2023-01-01"), s, frames=3)
    assert [f["n_scenes"] for f in p.frames] == [1, 1, 0]  # no scene in December
    assert np.all(p.data[2] == -1.0) and p.frames[2]["valid_fraction"] == 0.0
    assert np.all(p.data[0] > 0)
    body = ee_env.requests("computePixels")[0]["body"]
    assert len(invocations(body["expression"], "reduce.median")) == 2  # only non-empty bins


def test_no_image_in_window_is_a_clear_provider_error(make_gee):
    with pytest.raises(ProviderError, match=r"COPERNICUS/S2_SR_HARMONIZED.*2019-01-01.*cloudy"):
        make_gee().fetch(ROI, TemporalSpec.year(2019), sensor())


def test_unknown_collection_names_it(make_gee, ee_env):
    with pytest.raises(ProviderError, match="NOPE/COLLECTION") as ei:
        make_gee().fetch(ROI, SUMMER, sensor(collection="NOPE/COLLECTION"))
    assert "HTTP 404" in str(ei.value)
    assert len(ee_env.requests("value:compute")) == 1  # not retried


def test_large_requests_are_tiled_and_stitched(make_gee, ee_env):
    whole = make_gee().fetch(ROI, SUMMER, sensor())
    ee_env.reset()
    prov = make_gee(max_request_bytes=3000 * 16, max_grid_dim=64)  # 16 B/px: 3 bands + valid
    tiled = prov.fetch(ROI, SUMMER, sensor())
    np.testing.assert_array_equal(tiled.data, whole.data)
    reqs = ee_env.requests("computePixels")
    assert len(reqs) == tiled.meta["pixel_requests"] == 6  # 2 columns x 3 rows of tiles
    for r in reqs:
        d = r["body"]["grid"]["dimensions"]
        assert d["width"] <= 64 and d["height"] <= 64 and d["width"] * d["height"] * 16 <= 3000 * 16
    xs = sorted({r["body"]["grid"]["affineTransform"]["translateX"] for r in reqs})
    assert xs[0] == whole.grid.left and xs[1] == whole.grid.left + 64 * 10


def test_cancel_stops_between_tile_requests(make_gee, ee_env):
    from rs_embed_qgis.engine.errors import Cancelled
    from rs_embed_qgis.engine.progress import Feedback, cancel_scope

    prov = make_gee(max_request_bytes=3000 * 16, max_grid_dim=64, num_workers=1)  # 6 tiles
    with cancel_scope(Feedback(is_cancelled=lambda: len(ee_env.requests("computePixels")) >= 2)):
        with pytest.raises(Cancelled):
            prov.fetch(ROI, SUMMER, sensor())
    assert len(ee_env.requests("computePixels")) == 2


def test_server_size_limit_lower_than_ours_is_split_further(make_gee, ee_env):
    whole = make_gee().fetch(ROI, SUMMER, sensor())
    ee_env.reset()
    ee_env.max_request_bytes = 60 * 60 * 16
    p = make_gee().fetch(ROI, SUMMER, sensor())
    np.testing.assert_array_equal(p.data, whole.data)
    codes = [r for r in ee_env.requests("computePixels")]
    assert len(codes) > 2


def test_cache_serves_a_rerun_and_a_second_provider(make_gee, ee_env, tmp_path):
    cache = tmp_path / "cache"
    first = make_gee(cache_dir=cache).fetch(ROI, SUMMER, sensor())
    n = len(ee_env.log)
    again = make_gee(cache_dir=cache).fetch(ROI, SUMMER, sensor())
    assert len(ee_env.log) == n  # nothing downloaded
    assert again.meta["cache"] == "hit" and first.meta["cache"] == "miss"
    np.testing.assert_array_equal(again.data, first.data)
    assert again.frames == first.frames
    make_gee(cache_dir=cache).fetch(ROI, SUMMER, sensor(cloudy_pct=10))  # another request
    assert len(ee_env.log) > n
    assert len(list(cache.rglob("*.npz"))) == 2


def test_recent_windows_are_not_cached(make_gee, ee_env, tmp_path, monkeypatch):
    from rs_embed_qgis.engine.providers.gee import cache

    monkeypatch.setattr(cache, "CACHE_MIN_AGE_DAYS", 365 * 100)  # 2022 counts as "still ingesting"
    p = make_gee(cache_dir=tmp_path).fetch(ROI, SUMMER, sensor())
    assert p.meta["cache"].startswith("off") and not list(tmp_path.rglob("*.npz"))


def test_api_uses_the_providers_num_workers(gee_options, monkeypatch):
    from rs_embed_qgis.engine import get_embeddings_batch, get_provider

    monkeypatch.delenv("RS_EMBED_FETCH_WORKERS", raising=False)
    opts = dict(gee_options, num_workers=3)
    prov = get_provider("gee", opts)
    seen = []
    real = prov.fetch_many

    def spy(*a, **kw):
        seen.append(kw.get("num_workers"))
        return real(*a, **kw)

    monkeypatch.setattr(prov, "fetch_many", spy)
    embs = get_embeddings_batch("mosaiks", spatials=[ROI, PointBuffer(9.01, 47.835, 200)],
                                temporal=SUMMER, backend="gee", provider_options=opts,
                                model_options={"num_features": 16})
    assert seen == [3] and len(embs) == 2 and embs[0].meta["backend"] == "gee"
    assert embs[0].meta["input"]["collection"] == S2


def test_fetch_many_keeps_order_with_threads(make_gee, local):
    rois = [PointBuffer(9.006 + 0.005 * i, 47.835 + 0.002 * i, 200) for i in range(6)]
    got = make_gee().fetch_many(rois, SUMMER, sensor(), num_workers=3)
    for roi, p in zip(rois, got, strict=True):
        assert p.grid == roi_grid(roi, 10)
        np.testing.assert_array_equal(p.data, local.fetch(roi, SUMMER, sensor()).data)


def test_bbox_roi_and_other_scale(make_gee, local):
    roi = BBox(9.01, 47.835, 9.03, 47.845)
    s = sensor(scale_m=20, bands=("B8", "B11"))
    p = make_gee().fetch(roi, SUMMER, s)
    g = roi_grid(roi, 20)
    assert p.data.shape == (1, 2, g.height, g.width)
    assert p.grid.res == 20
    assert np.all(p.data > 0)


def test_annual_collection_without_year_is_a_spec_error(make_gee):
    from rs_embed_qgis.engine.providers.gee import GSE_COLLECTION

    with pytest.raises(SpecError, match="TemporalSpec.year"):
        make_gee().fetch(ROI, None, SensorSpec(collection=GSE_COLLECTION, bands=("A00",)))


# -- QA60 (Sentinel-2 L1C) masking on scenes the test writes ---------------------------------
def _write_l1c(folder, day, b4, qa):
    h, w = b4.shape
    profile = dict(driver="GTiff", width=w, height=h, count=2, dtype="uint16", crs="EPSG:32632",
                   transform=from_origin(500000, 5300000, 10, 10), nodata=0)
    path = folder / f"S2_L1C_2022{day}_test.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([b4, qa]).astype(np.uint16))
        dst.set_band_description(1, "B4")
        dst.set_band_description(2, "QA60")
    return path


def test_qa60_cloud_mask_for_sentinel2_l1c(make_gee, ee_env, tmp_path):
    h = w = 40
    qa_a = np.zeros((h, w), np.uint16)
    qa_a[:10] = 1 << 10                      # opaque clouds in the top rows of scene A
    qa_b = np.zeros((h, w), np.uint16)
    qa_b[:, :5] = 1 << 11                    # cirrus in the left columns of scene B
    _write_l1c(tmp_path, "0601", np.full((h, w), 1000), qa_a)
    _write_l1c(tmp_path, "0701", np.full((h, w), 3000), qa_b)
    ee_env.catalog.add_folder("COPERNICUS/S2_HARMONIZED", tmp_path)
    roi = BBox(9.0005, 47.8502, 9.0045, 47.8528)
    s = SensorSpec(collection="COPERNICUS/S2_HARMONIZED", bands=("B4",), scale_m=10, cloudy_pct=100,
                   composite="median")
    p = make_gee().fetch(roi, SUMMER, s)
    x = p.data[0, 0]
    g = p.grid
    # pixel rows/cols of the written scene that the ROI grid covers
    r0, c0 = int((5300000 - g.top) / 10), int((g.left - 500000) / 10)
    rows = np.arange(g.height) + r0
    cols = np.arange(g.width) + c0
    cloud_a = (rows < 10)[:, None] & np.ones(g.width, bool)[None]
    cirrus_b = np.ones(g.height, bool)[:, None] & (cols < 5)[None]
    expect = np.where(cloud_a & ~cirrus_b, 3000, np.where(cirrus_b & ~cloud_a, 1000, 2000))
    expect = np.where(cloud_a & cirrus_b, 0, expect)  # both masked: fill_value
    np.testing.assert_array_equal(x, expect)
    expr = ee_env.requests("computePixels")[0]["body"]["expression"]
    assert len(invocations(expr, "Image.bitwiseAnd")) == 2
    consts = [a["value"] for a in invocations(expr, "Image.constant")]
    assert 1 << 10 in consts and 1 << 11 in consts  # opaque-cloud and cirrus bits
    assert p.meta["cloud_mask"] == "qa60"


# -- the Google Satellite Embedding product read through Earth Engine ---------------------------
def _write_gse(folder, year=2022, h=60, w=60):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(64, h, w)).astype(np.float32)
    v /= np.linalg.norm(v, axis=0, keepdims=True)
    v[:, :, 3:7] = 0  # no data in a few columns inside the ROI
    profile = dict(driver="GTiff", width=w, height=h, count=64, dtype="float32", crs="EPSG:32632",
                   transform=from_origin(500000, 5300000, 10, 10), nodata=0)
    path = folder / f"GSE_{year}0101.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(v)
        for i in range(64):
            dst.set_band_description(i + 1, f"A{i:02d}")
    return path, v


@pytest.fixture
def gse_server(ee_env, tmp_path):
    from rs_embed_qgis.engine.providers.gee import GSE_COLLECTION

    path, v = _write_gse(tmp_path)
    ee_env.catalog.add_folder(GSE_COLLECTION, tmp_path)
    yield ee_env, v
    ee_env.catalog.collections.pop(GSE_COLLECTION, None)


def test_gse_pooled_and_grid_from_earth_engine(gse_server, gee_options):
    srv, v = gse_server
    roi = BBox(9.0005, 47.8495, 9.006, 47.8525)
    # a summer window is widened to the annual layer of its year
    emb = get_embedding("gse", spatial=roi, temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                        output=OutputSpec.grid(), backend="gee", provider_options=gee_options)
    g = roi_grid(roi, 10)
    assert emb.array.shape == (64, g.height, g.width)
    r0, c0 = int((5300000 - g.top) / 10), int((g.left - 500000) / 10)
    want = v[:, r0:r0 + g.height, c0:c0 + g.width]
    got = emb.array
    nodata = (want == 0).all(axis=0)
    assert np.isnan(got[:, nodata]).all()
    np.testing.assert_allclose(got[:, ~nodata], want[:, ~nodata], rtol=0, atol=1e-7)
    assert emb.meta["model"] == "gse" and emb.meta["years"] == ["2022"]
    assert emb.meta["crs"] == "EPSG:32632"
    (dr,) = invocations(srv.requests("computePixels")[0]["body"]["expression"], "DateRange")
    assert (dr["start"], dr["end"]) == ("2022-01-01", "2023-01-01")
    pooled = get_embedding("google_satellite_embedding", spatial=roi, temporal=TemporalSpec.year(2022),
                           output=OutputSpec.pooled(), backend="gee", provider_options=gee_options)
    np.testing.assert_allclose(pooled.array, want[:, ~nodata].mean(axis=1), atol=1e-6)
    coarse = get_embedding("gse", spatial=roi, temporal=TemporalSpec.year(2022),
                           output=OutputSpec.grid(scale_m=30), backend="gee", provider_options=gee_options)
    assert coarse.array.shape == (64, -(-g.height // 3), -(-g.width // 3))
    assert coarse.meta["cell_px"] == [3, 3]


def test_gse_year_without_data_names_the_year(gse_server, gee_options):
    with pytest.raises(ProviderError, match="2023"):
        get_embedding("gse", spatial=BBox(9.0005, 47.8495, 9.006, 47.8525),
                      temporal=TemporalSpec.year(2023), backend="gee", provider_options=gee_options)


def test_describe_is_json(make_gee):
    json.dumps(make_gee().describe())


def test_gse_from_local_files(tmp_path):
    _, v = _write_gse(tmp_path)
    roi = BBox(9.0005, 47.8495, 9.006, 47.8525)
    emb = get_embedding("gse", spatial=roi, temporal=TemporalSpec.year(2022), output=OutputSpec.pooled(),
                        backend="local", provider_options={"root": str(tmp_path)})
    g = roi_grid(roi, 10)
    r0, c0 = int((5300000 - g.top) / 10), int((g.left - 500000) / 10)
    want = v[:, r0:r0 + g.height, c0:c0 + g.width]
    ok = ~(want == 0).all(axis=0)
    np.testing.assert_allclose(emb.array, want[:, ok].mean(axis=1), atol=1e-6)
    assert emb.meta["type"] == "precomputed" and emb.meta["valid_fraction"] < 1.0
