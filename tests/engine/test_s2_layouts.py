"""The local backend on Sentinel-2 as users download it, built from the bundled sample:
SAFE products (JPEG2000 and GeoTIFF, folder and zip), Earth Search / Planetary Computer /
Copernicus Data Space items with their files, per-band files, stacks, another UTM zone.

The sample holds reflectance x 10000 without offset; every product stores it as its
source does (+1000 for baseline 04.00), so the backend must give the sample back:
exactly where no resampling happens (10 m bands on the ROI's 10 m grid).
"""
import datetime as dt
import shutil
import sys

import numpy as np
import pytest
import rasterio
import s2_products as P

from rs_embed_qgis.engine import PointBuffer, ProviderError, SensorSpec, TemporalSpec
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.input_checks import inspect_provider_patch
from rs_embed_qgis.engine.providers.bands import canonical_band, s2_band
from rs_embed_qgis.engine.providers.local import LocalProvider, RasterReader

S2 = "COPERNICUS/S2_SR_HARMONIZED"
TEN = ("B2", "B3", "B4", "B8")  # stored at 10 m: read without resampling
JULY = TemporalSpec.range("2022-07-01", "2022-08-01")
ROI = PointBuffer(9.02, 47.84, 300)


def source(bands=TEN, roi=ROI, date="20220715") -> np.ndarray:
    """The sample's own pixels on the ROI's grid (C, H, W)."""
    arr, _ = P.sample(date)
    g = roi_grid(roi, 10)
    r0, c0 = int(round((P.UL[1] - g.top) / 10)), int(round((g.left - P.UL[0]) / 10))
    return np.stack([arr[b][r0:r0 + g.height, c0:c0 + g.width] for b in bands]).astype(np.float32)


def fetch(root, bands=TEN, roi=ROI, temporal=JULY, **opts):
    return LocalProvider(root=str(root), **opts).fetch(roi, temporal, SensorSpec(S2, tuple(bands)))


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    """Each layout once per module (JPEG2000 writing and reading are the slow part)."""
    d = tmp_path_factory.mktemp("products")
    return {
        "safe": P.write_safe(d / "safe"),
        "safe_zip": P.write_safe(d / "zip", zipped=True),
        "safe_tif": P.write_safe(d / "tif", fmt="tif"),
        "earth_search": P.write_earth_search(d / "es")[0],
        "planetary_computer": P.write_planetary_computer(d / "pc"),
        "cdse": P.write_cdse(d / "cdse"),
    }


# -- SAFE -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["safe", "safe_zip", "safe_tif"])
def test_safe_gives_the_source_minus_the_04_00_offset(products, kind):
    patch = fetch(products[kind])
    np.testing.assert_array_equal(patch.data[0], source())
    rec = patch.meta["radiometry"][P.product_name("20220715")]
    assert "BOA_ADD_OFFSET -1000" in rec["summary"] and rec["processing_baseline"] == "04.00"
    assert rec["level"] == "L2A" and patch.frames[0]["valid_fraction"] == 1.0


def test_safe_stores_the_offset_in_its_band_files(products):
    b04 = next(products["safe"].rglob("R10m/*_B04_10m.jp2"))
    with rasterio.open(b04) as src:
        assert src.nodata is None and src.transform.c == P.UL[0]  # as ESA's files: no declared nodata
        dn = src.read(1)
    np.testing.assert_array_equal(dn, P.sample()[0]["B4"] + 1000)


def test_safe_metadata_gives_date_tile_baseline_cloud_and_finest_files(products):
    (scene,) = LocalProvider(root=str(products["safe"])).scenes()
    assert scene.date == dt.date(2022, 7, 15) and scene.meta["datetime"].startswith("2022-07-15T10:25:59")
    assert scene.meta["tile"] == "T32TNT" and scene.meta["processing_baseline"] == "04.00"
    assert scene.cloudy_pct == P.cloud("20220715") and scene.meta["level"] == "L2A"
    assert "/R10m/" in scene.bands["B2"][0] and "/R20m/" in scene.bands["B5"][0]
    assert "/R60m/" in scene.bands["B1"][0] and "/R20m/" in scene.bands["SCL"][0]
    assert "TCI" not in " ".join(scene.bands) and set(scene.bands) == set(P.ESA_NAME)
    (zipped,) = LocalProvider(root=str(products["safe_zip"])).scenes()
    assert zipped.bands["B2"][0].startswith("/vsizip/") and zipped.id == scene.id


def test_20_and_60_m_bands_are_resampled_onto_the_roi_grid(products):
    patch = fetch(products["safe"], bands=("B5", "B11", "B1", "SCL"), resampling="nearest")
    g = roi_grid(ROI, 10)
    r0, c0 = int((P.UL[1] - g.top) / 10), int((g.left - P.UL[0]) / 10)
    arr, _ = P.sample()
    for i, (b, res) in enumerate((("B5", 20), ("B11", 20), ("B1", 60), ("SCL", 20))):
        f = res // 10  # nearest: each 10 m pixel takes the value of the coarse pixel it lies in
        up = np.repeat(np.repeat(P.at_resolution(arr[b], res, b), f, 0), f, 1)
        np.testing.assert_array_equal(patch.data[0, i], up[r0:r0 + g.height, c0:c0 + g.width])
    smooth = fetch(products["safe"], bands=("B5",))  # bilinear (default) stays close to the 10 m source
    assert np.abs(smooth.data[0, 0] - source(("B5",))[0]).mean() < 0.05 * source(("B5",)).mean()


def test_l1c_is_read_with_a_top_of_atmosphere_note(tmp_path):
    patch = fetch(P.write_safe(tmp_path, level="L1C"))
    np.testing.assert_array_equal(patch.data[0], source())
    assert any("top-of-atmosphere" in n for n in patch.meta["notes"])
    rec = next(iter(patch.meta["radiometry"].values()))
    assert rec["level"] == "L1C" and "RADIO_ADD_OFFSET -1000" in rec["summary"]


def test_baseline_before_04_00_has_no_offset(tmp_path):
    patch = fetch(P.write_safe(tmp_path, baseline="03.01", offset=0))
    np.testing.assert_array_equal(patch.data[0], source())
    assert "baseline 03.01" in patch.frames[0]["radiometry"][0]


def test_broken_safe_products_say_what_is_wrong(products, tmp_path):
    broken = shutil.copytree(products["safe"], tmp_path / "missing" / products["safe"].name)
    next(broken.rglob("*_B04_10m.jp2")).unlink()
    with pytest.raises(ProviderError, match=r"band 'B4' is missing from .*B4: GRANULE/.*_B04_10m\.jp2.* is missing"):
        fetch(broken.parent)
    assert fetch(broken.parent, bands=("B3",)).data.shape[1] == 1  # the other bands still work

    corrupt = shutil.copytree(products["safe"], tmp_path / "corrupt" / products["safe"].name)
    xml = corrupt / "MTD_MSIL2A.xml"
    xml.write_text(xml.read_text()[:700])
    with pytest.raises(ProviderError, match="cannot parse MTD_MSIL2A.xml .*damaged or truncated"):
        LocalProvider(root=str(corrupt.parent)).scenes()

    undated = P.write_safe(tmp_path / "undated", start=None, folder_name="my_copy")
    with pytest.raises(ProviderError, match="my_copy.SAFE.* has no date: no PRODUCT_START_TIME"):
        LocalProvider(root=str(undated)).scenes()


# -- STAC items -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,rule", [
    ("earth_search", "STAC raster scale 0.0001, offset -0.1"),
    ("planetary_computer", "processing baseline 04.00 >= 04.00 with no offset in the item"),
    ("cdse", "STAC raster scale 0.0001, offset -0.1"),
])
def test_stac_items_of_each_catalogue_give_the_source(products, kind, rule):
    for root in (products[kind], products[kind].parent):  # the item JSON, or the folder holding it
        patch = fetch(root)
        np.testing.assert_array_equal(patch.data[0], source())
        assert rule in patch.frames[0]["radiometry"][0]
    (scene,) = LocalProvider(root=str(products[kind])).scenes()
    assert set(scene.bands) == set(P.ESA_NAME)  # TCI/visual, thumbnails, metadata skipped
    assert scene.cloudy_pct == P.cloud("20220715") and scene.date == dt.date(2022, 7, 15)
    assert scene.meta["tile"] == "T32TNT" and scene.meta["crs"] == "EPSG:32632"


def test_earth_search_items_with_the_offset_already_applied(tmp_path):
    (item,) = P.write_earth_search(tmp_path, offset_applied=True)
    patch = fetch(item)
    np.testing.assert_array_equal(patch.data[0], source())
    assert "already in the pixels (earthsearch:boa_offset_applied)" in patch.frames[0]["radiometry"][0]


def test_item_collection_and_catalog_are_read_without_pystac(products, tmp_path, monkeypatch, sample_dir):
    monkeypatch.setitem(sys.modules, "pystac", None)  # stock QGIS has no pystac
    coll = P.item_collection([products["earth_search"], products["planetary_computer"]], tmp_path / "items.json")
    p = LocalProvider(root=str(coll))
    assert len(p.scenes()) == 2
    np.testing.assert_array_equal(p.fetch(ROI, JULY, SensorSpec(S2, TEN)).data[0], source())
    cat = LocalProvider(root=str(sample_dir / "catalog.json"))
    assert len(cat.scenes()) == 12 and cat.scenes()[0].meta["source"] == "STAC item"


def test_remote_assets_not_downloaded_are_named(products, tmp_path):
    item = shutil.copy(products["earth_search"], tmp_path / "item.json")  # the JSON without its files
    with pytest.raises(ProviderError, match=r"B4: https://sentinel-cogs.*/B04.tif \(remote: not downloaded"):
        fetch(item)


def test_item_without_a_date_is_an_error(products, tmp_path):
    import json

    item = json.loads(products["earth_search"].read_text())
    del item["properties"]["datetime"]
    (tmp_path / "x.json").write_text(json.dumps(item))
    with pytest.raises(ProviderError, match="STAC item 'S2B_32TNT_20220715_0_L2A'.* has no date"):
        LocalProvider(root=str(tmp_path / "x.json")).scenes()


# -- loose files ------------------------------------------------------------------------------------
def test_per_band_files_named_after_their_band_are_one_scene(tmp_path):
    folder = tmp_path / "S2B_32TNT_20220715_0_L2A"
    arr, _ = P.sample()
    for name, b in (("B02", "B2"), ("green", "B3"), ("red", "B4"), ("B08", "B8"), ("SCL", "SCL")):
        P.write_raster(folder / f"{name}.tif", arr[b], 10)
    P.write_raster(folder / "TCI.tif", arr["B4"].astype(np.uint8), 10)  # not an input: skipped
    (scene,) = LocalProvider(root=str(tmp_path)).scenes()
    assert scene.date == dt.date(2022, 7, 15) and set(scene.bands) == {"B2", "B3", "B4", "B8", "SCL"}
    patch = fetch(tmp_path)
    np.testing.assert_array_equal(patch.data[0], source())
    assert "no product metadata" in patch.meta["radiometry"][scene.id]["warning"]


def test_esa_named_band_files_with_their_product_xml(products, tmp_path):
    """Band files taken out of a SAFE (flat, all resolutions) next to MTD_MSIL2A.xml."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in products["safe"].rglob("IMG_DATA/*/*.jp2"):
        shutil.copy(f, flat / f.name)
    shutil.copy(products["safe"] / "MTD_MSIL2A.xml", flat)
    (scene,) = LocalProvider(root=str(flat)).scenes()
    assert scene.id == "T32TNT_20220715T102559" and scene.bands["B5"][0].endswith("_B05_20m.jp2")
    np.testing.assert_array_equal(fetch(flat).data[0], source())
    assert scene.meta["processing_baseline"] == "04.00"


def test_stack_band_descriptions_as_gdal_and_qgis_write_them(tmp_path):
    arr, _ = P.sample()
    names = ["B02 (Blue)", "B03 (Green)", "B04 (Red)", "B08 (NIR)"]
    P.write_raster(tmp_path / "merged_20220715.tif", np.stack([arr[b] for b in TEN]), 10, descriptions=names)
    np.testing.assert_array_equal(fetch(tmp_path).data[0], source())


def test_float_reflectance_0_1_is_detected_and_scaled(tmp_path):
    arr, _ = P.sample()
    refl = np.stack([arr[b] for b in TEN]).astype(np.float32) / 10000
    P.write_raster(tmp_path / "refl_20220715.tif", refl, 10, descriptions=list(TEN))
    patch = fetch(tmp_path)
    np.testing.assert_allclose(patch.data[0], source(), atol=0.01)
    assert "floating-point values within 0-1 detected" in patch.frames[0]["radiometry"][0]


def test_gdal_scale_and_offset_are_applied(tmp_path):
    arr, _ = P.sample()
    path = P.write_raster(tmp_path / "dn_20220715.tif", np.stack([arr[b] + 1000 for b in TEN]).astype(np.uint16),
                          10, descriptions=list(TEN))
    with rasterio.open(path, "r+") as dst:
        dst.scales, dst.offsets = [0.0001] * 4, [-0.1] * 4
    patch = fetch(tmp_path)
    np.testing.assert_allclose(patch.data[0], source(), atol=1e-3)
    assert "GDAL band scale 0.0001, offset -0.1" in patch.frames[0]["radiometry"][0]


def test_unknown_band_names_list_what_was_found_and_what_is_needed(tmp_path):
    arr, _ = P.sample()
    P.write_raster(tmp_path / "x_20220715.tif", np.stack([arr[b] for b in TEN]), 10,
                   descriptions=["Band 1", "Band 2", "Band 3", "Band 4"])
    with pytest.raises(ProviderError) as e:
        fetch(tmp_path)
    msg = str(e.value)
    assert "it has ['BAND 1', 'BAND 2', 'BAND 3', 'BAND 4']" in msg and "needs ['B2', 'B3', 'B4', 'B8']" in msg
    assert "not recognised as Sentinel-2 bands: ['Band 1'" in msg


def test_band_name_resolver():
    for name in ("B4", "B04", "b04", "B04_10m", "B04 (Red)", "B04 - Red", "red", "RED"):
        assert canonical_band(name) == "B4", name
    assert [s2_band(n) for n in ("nir08", "B8A_20m", "rededge2", "swir16", "SCL_20m", "coastal")] == [
        "B8A", "B8A", "B6", "B11", "SCL", "B1"]
    assert s2_band("rededge") is None and canonical_band("A07") == "A07"  # ambiguous / not S2


# -- several tiles and UTM zones ----------------------------------------------------------------------
def _shift_error(a: np.ndarray, b: np.ndarray) -> dict[tuple[int, int], float]:
    """Mean absolute difference of ``a`` against ``b`` moved by -1..1 pixels (borders cut)."""
    out = {}
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out[(dy, dx)] = float(np.abs(a[:, 2:-2, 2:-2] - np.roll(b, (dy, dx), (1, 2))[:, 2:-2, 2:-2]).mean())
    return out


def test_another_utm_zone_lands_within_half_a_pixel(tmp_path):
    P.write_stack(tmp_path / "zone31_20220715.tif", crs="EPSG:32631")
    patch = fetch(tmp_path)
    assert patch.grid.crs == "EPSG:32632"  # the ROI's zone, whatever the scene's
    e = _shift_error(patch.data[0], source())
    assert min(e, key=e.get) == (0, 0)  # no whole-pixel shift; sub-pixel: the parabola's vertex

    def vertex(minus, zero, plus):
        return (minus - plus) / (2 * (minus - 2 * zero + plus))

    assert abs(vertex(e[(-1, 0)], e[(0, 0)], e[(1, 0)])) < 0.1
    assert abs(vertex(e[(0, -1)], e[(0, 0)], e[(0, 1)])) < 0.1


def test_two_tiles_in_two_zones_mosaic_on_the_roi_grid(tmp_path):
    """The west part of the scene as one tile (zone 32), the east part as another (zone 31)."""
    P.write_stack(tmp_path / "west_20220715.tif", cols=slice(0, 152))
    P.write_stack(tmp_path / "east_20220715.tif", crs="EPSG:32631", cols=slice(148, 300))
    roi = PointBuffer(9.02, 47.84, 600)  # straddles the cut (x = 501500 m)
    for composite in ("mosaic", "median"):
        patch = LocalProvider(root=str(tmp_path)).fetch(roi, JULY, SensorSpec(S2, TEN, composite=composite))
        assert patch.frames[0]["n_scenes"] == 2 and patch.frames[0]["valid_fraction"] == 1.0
        ref = source(roi=roi)
        g = roi_grid(roi, 10)
        west = int((501500 - g.left) / 10) - 2  # columns the zone-32 tile holds: exact
        np.testing.assert_array_equal(patch.data[0][..., :west], ref[..., :west])
        assert np.abs(patch.data[0] - ref).mean() < 0.03 * ref.mean()


# -- input sanity -------------------------------------------------------------------------------------
def _cloudy_stack(folder, scl_value=9, scale=1.0, dtype=np.uint16):
    arr, _ = P.sample()
    data = np.stack([arr[b] * scale for b in TEN] + [np.full_like(arr["SCL"], scl_value)]).astype(dtype)
    P.write_raster(folder / "s_20220715.tif", data, 10, descriptions=list(TEN) + ["SCL"])
    return folder


def test_a_fully_masked_composite_is_an_error_naming_roi_window_and_fraction(tmp_path):
    root = _cloudy_stack(tmp_path)  # SCL 9 everywhere: cloud, high probability
    with pytest.raises(ProviderError) as e:
        fetch(root)
    msg = str(e.value)
    assert "only 0.0% of the pixels have valid data" in msg and "window [2022-07-01, 2022-08-01)" in msg
    assert "lon/lat 9.01" in msg and "min_valid_fraction is 0.05" in msg
    rep = inspect_provider_patch(spatial=ROI, temporal=JULY, sensor=SensorSpec(S2, TEN), backend="local",
                                 provider_options={"root": str(root)})
    assert rep["ok"] is False and rep["report"]["input_sanity"]["valid_fraction"] == 0.0
    assert any("valid fraction 0.0%" in i for i in rep["report"]["issues"])
    patch = fetch(root, min_valid_fraction=0)  # asked for explicitly: the fill values come through
    assert patch.meta["input_sanity"]["valid_fraction"] == 0.0 and np.all(patch.data == 0)


def test_implausible_values_raise_by_default_or_warn(tmp_path):
    root = _cloudy_stack(tmp_path, scl_value=4, scale=10.0, dtype=np.float32)  # x 100000: far too bright
    with pytest.raises(ProviderError, match=r"implausible input .*outside \[-1000, 20000\]"):
        fetch(root)
    with pytest.warns(UserWarning, match="implausible input"):
        patch = fetch(root, on_implausible="warn")
    assert patch.meta["input_sanity"]["outside_fraction"] > 0.01
    rep = inspect_provider_patch(spatial=ROI, temporal=JULY, sensor=SensorSpec(S2, TEN), backend="local",
                                 provider_options={"root": str(root)})
    assert rep["ok"] is False and "outside [-1000, 20000]" in " ".join(rep["report"]["issues"])


def test_all_zero_reflectance_is_implausible(tmp_path):
    arr, _ = P.sample()
    P.write_raster(tmp_path / "z_20220715.tif", np.zeros((4,) + arr["B2"].shape, np.uint16), 10,
                   descriptions=list(TEN), nodata=65535)
    with pytest.raises(ProviderError, match="every valid reflectance value is 0"):
        fetch(tmp_path)


# -- batches -----------------------------------------------------------------------------------------
def test_batch_is_read_scene_major_each_file_opened_once(products, monkeypatch):
    rois = [PointBuffer(9.006 + 0.003 * (i % 8), 47.83 + 0.0025 * (i // 8), 60) for i in range(24)]
    prov = LocalProvider(root=str(products["safe"]))
    sensor = SensorSpec(S2, TEN)
    one_by_one = [prov.fetch(r, JULY, sensor) for r in rois]
    opened = []
    orig = RasterReader._raster

    def counting(self, path):
        if path not in self._open:
            opened.append(path)
        return orig(self, path)

    monkeypatch.setattr(RasterReader, "_raster", counting)
    batch = prov.fetch_many(rois, JULY, sensor, num_workers=1)
    for a, b in zip(batch, one_by_one, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert len(opened) == len(set(opened)) == 5  # four band files and SCL, once for the 24 ROIs
    opened.clear()
    prov.fetch_many(rois, JULY, sensor, num_workers=2)
    assert len(opened) == 10  # one reader per worker


def test_radiometry_reaches_the_embedding_geotiff(products, tmp_path):
    import json

    from rs_embed_qgis.engine import OutputSpec, get_embedding
    from rs_embed_qgis.engine.io import write_embedding_geotiff

    emb = get_embedding("mosaiks", spatial=ROI, temporal=JULY, output=OutputSpec.grid(scale_m=100),
                        backend="local", provider_options={"root": str(products["safe_tif"])},
                        model_options={"num_features": 8})
    with rasterio.open(write_embedding_geotiff(emb, tmp_path / "emb.tif")) as src:
        meta = json.loads(src.tags()["RS_EMBED_META"])
    rec = meta["input"]["radiometry"][P.product_name("20220715")]
    assert "BOA_ADD_OFFSET -1000" in rec["summary"] and meta["input"]["input_sanity"]["valid_fraction"] == 1.0


@pytest.mark.parametrize("io", ["gdal", "rasterio"])
def test_both_io_backends_read_every_layout_alike(products, tmp_path, monkeypatch, io):
    """Inside QGIS the reading goes through QGIS's GDAL (geoio's gdal backend): same pixels."""
    monkeypatch.setenv("RS_EMBED_IO_BACKEND", io)
    for kind in ("safe_zip", "earth_search", "cdse"):
        np.testing.assert_array_equal(fetch(products[kind]).data[0], source())
    nearest = fetch(products["safe"], bands=("B5", "SCL"), resampling="nearest")
    monkeypatch.setenv("RS_EMBED_IO_BACKEND", "rasterio" if io == "gdal" else "gdal")
    np.testing.assert_array_equal(nearest.data, fetch(products["safe"], bands=("B5", "SCL"),
                                                      resampling="nearest").data)
    P.write_stack(tmp_path / "zone31_20220715.tif", crs="EPSG:32631")
    warped = fetch(tmp_path)
    monkeypatch.setenv("RS_EMBED_IO_BACKEND", io)
    np.testing.assert_allclose(fetch(tmp_path).data, warped.data, atol=1e-3)
