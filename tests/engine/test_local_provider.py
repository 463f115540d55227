"""The local backend: scenes from a folder of GeoTIFFs or a static STAC catalog."""
import datetime as dt
import shutil

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rs_embed_qgis.engine import BBox, PointBuffer, ProviderError, SensorSpec, TemporalSpec
from rs_embed_qgis.engine.geo import roi_grid
from rs_embed_qgis.engine.providers.local import LocalProvider

S2 = "COPERNICUS/S2_SR_HARMONIZED"


def _write_scene(path, date, bands, values, scl=None, crs="EPSG:32632", left=500000.0,
                 top=5300000.0, size=40, res=10.0, describe=True, cloud=None):
    names = list(bands) + (["SCL"] if scl is not None else [])
    arr = [np.full((size, size), v, np.uint16) for v in values]
    if scl is not None:
        arr.append(np.asarray(scl, np.uint16))
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=len(names),
                       dtype="uint16", crs=crs, transform=from_origin(left, top, res, res),
                       nodata=0) as dst:
        dst.write(np.stack(arr))
        if describe:
            for i, n in enumerate(names, 1):
                dst.set_band_description(i, n)
        tags = {"ACQUISITION_DATE": date}
        if cloud is not None:
            tags["CLOUDY_PIXEL_PERCENTAGE"] = str(cloud)
        dst.update_tags(**tags)


@pytest.fixture
def folder(tmp_path):
    """Three tiny scenes: values 100/200/300 in B2 (and 1000/2000/3000 in B4), June-August."""
    for i, d in enumerate(["2022-06-10", "2022-07-10", "2022-08-10"], 1):
        _write_scene(tmp_path / f"scene_{i}.tif", d, ["B2", "B4"], [100 * i, 1000 * i])
    return tmp_path


def _roi():
    """100 m around the centre of the 400 m test scenes (E 500200 / N 5299800, UTM 32N)."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True).transform(500200, 5299800)
    return PointBuffer(lon=lon, lat=lat, buffer_m=95)


def test_median_and_mosaic_composites(folder):
    p = LocalProvider(root=str(folder))
    t = TemporalSpec.range("2022-06-01", "2022-09-01")
    med = p.fetch(_roi(), t, SensorSpec(S2, ("B4", "B2")))
    assert med.data.shape == (1, 2, 20, 20)
    assert np.allclose(med.data[0, 0], 2000) and np.allclose(med.data[0, 1], 200)  # band order as asked
    mos = p.fetch(_roi(), t, SensorSpec(S2, ("B2",), composite="mosaic"))
    assert np.allclose(mos.data, 300)  # later scenes on top, as in Earth Engine
    assert med.frames[0]["n_scenes"] == 3 and med.grid.crs == "EPSG:32632"


def test_half_open_window_excludes_the_end_day(folder):
    p = LocalProvider(root=str(folder))
    one = p.fetch(_roi(), TemporalSpec.range("2022-06-01", "2022-07-10"), SensorSpec(S2, ("B2",)))
    assert np.allclose(one.data, 100) and one.frames[0]["scene_dates"] == ["2022-06-10"]


def test_time_series_bins_one_composite_each(folder):
    p = LocalProvider(root=str(folder))
    ts = p.fetch(_roi(), TemporalSpec.range("2022-06-01", "2022-09-01"), SensorSpec(S2, ("B2",)),
                 frames=3)
    assert ts.data.shape == (3, 1, 20, 20)
    assert [float(ts.data[i].mean()) for i in range(3)] == [100.0, 200.0, 300.0]
    assert [f["mid"] for f in ts.frames] == ["2022-06-16", "2022-07-17", "2022-08-16"]


def test_scl_cloud_mask_and_fill_value(tmp_path):
    scl = np.full((40, 40), 4)
    scl[:20] = 9  # the top half is cloud
    _write_scene(tmp_path / "a.tif", "2022-06-10", ["B2"], [500], scl=scl)
    p = LocalProvider(root=str(tmp_path))
    patch = p.fetch(_roi(), TemporalSpec.range("2022-06-01", "2022-07-01"),
                    SensorSpec(S2, ("B2",), fill_value=-1.0))
    grid = roi_grid(_roi(), 10)
    # rows of the ROI inside the cloudy half are filled, the rest keep the value
    top_rows = int(round((grid.top - 5299800) / 10))
    assert np.all(patch.data[0, 0, :top_rows] == -1.0)
    assert np.all(patch.data[0, 0, top_rows:] == 500)
    assert 0 < patch.frames[0]["valid_fraction"] < 1


def test_cloudy_pct_filters_scenes(tmp_path):
    _write_scene(tmp_path / "clear.tif", "2022-06-10", ["B2"], [100], cloud=5)
    _write_scene(tmp_path / "cloudy.tif", "2022-06-20", ["B2"], [900], cloud=80)
    p = LocalProvider(root=str(tmp_path))
    t = TemporalSpec.range("2022-06-01", "2022-07-01")
    assert np.allclose(p.fetch(_roi(), t, SensorSpec(S2, ("B2",), cloudy_pct=30)).data, 100)
    assert np.allclose(p.fetch(_roi(), t, SensorSpec(S2, ("B2",), cloudy_pct=100)).data, 500)
    with pytest.raises(ProviderError, match="cloudy_pct=1"):
        p.fetch(_roi(), TemporalSpec.range("2022-06-15", "2022-07-01"), SensorSpec(S2, ("B2",), cloudy_pct=1))


def test_reprojection_from_another_crs(tmp_path):
    # the same 500-valued scene stored in EPSG:4326 lands on the UTM grid
    _write_scene(tmp_path / "geo.tif", "2022-06-10", ["B2"], [500], crs="EPSG:4326", left=8.99,
                 top=47.86, size=200, res=0.0002)
    p = LocalProvider(root=str(tmp_path))
    patch = p.fetch(_roi(), TemporalSpec.range("2022-06-01", "2022-07-01"), SensorSpec(S2, ("B2",)))
    assert patch.grid.crs == "EPSG:32632" and np.allclose(patch.data, 500)


def test_errors_roi_outside_names_both_extents(folder):
    p = LocalProvider(root=str(folder))
    with pytest.raises(ProviderError) as e:
        p.fetch(BBox(10.0, 48.0, 10.1, 48.1), None, SensorSpec(S2, ("B2",)))
    msg = str(e.value)
    assert "outside the local data" in msg and "10.00000" in msg and "9.00000" in msg


def test_errors_no_scene_in_window_lists_dates(folder):
    with pytest.raises(ProviderError, match=r"2021-01-01.*2022-06-10"):
        LocalProvider(root=str(folder)).fetch(_roi(), TemporalSpec.range("2021-01-01", "2021-02-01"),
                                              SensorSpec(S2, ("B2",)))


def test_errors_missing_band_names_band_and_file(folder):
    with pytest.raises(ProviderError) as e:
        LocalProvider(root=str(folder)).fetch(_roi(), None, SensorSpec(S2, ("B2", "B11")))
    assert "'B11'" in str(e.value) and "scene_1.tif" in str(e.value)


def test_errors_unreadable_file_is_named(folder):
    (folder / "broken.tif").write_bytes(b"this is not a tiff")
    with pytest.raises(ProviderError, match="broken.tif"):
        LocalProvider(root=str(folder)).fetch(_roi(), None, SensorSpec(S2, ("B2",)))


def test_errors_undescribed_bands_and_missing_folder(tmp_path):
    _write_scene(tmp_path / "nodesc.tif", "2022-06-10", ["B2"], [1], describe=False)
    with pytest.raises(ProviderError, match="nodesc.tif"):
        LocalProvider(root=str(tmp_path)).scenes()
    with pytest.raises(ProviderError, match="does-not-exist"):
        LocalProvider(root=str(tmp_path / "does-not-exist")).scenes()


def test_stac_catalog_and_folder_give_the_same_pixels(sample_dir, tmp_path, roi, summer):
    stac = LocalProvider(root=str(sample_dir))  # has catalog.json
    for f in sample_dir.glob("*.tif"):
        shutil.copy(f, tmp_path / f.name)
    folder = LocalProvider(root=str(tmp_path))  # plain folder scan
    s = SensorSpec(S2, ("B4", "B3", "B2", "B8"))
    a, b = stac.fetch(roi, summer, s), folder.fetch(roi, summer, s)
    assert stac.describe()["n_scenes"] == folder.describe()["n_scenes"] == 12
    assert np.array_equal(a.data, b.data)
    g = roi_grid(roi, 10)
    assert a.data.shape == (1, 4, g.height, g.width) and a.data.min() > 0


def test_sample_masks_its_synthetic_clouds(sample_dir):
    p = LocalProvider(root=str(sample_dir))
    cloudy_day = TemporalSpec.range("2022-05-30", "2022-05-31")  # the 13 % cloudy scene
    roi = BBox(9.0, 47.8264, 9.0401, 47.8533)
    patch = p.fetch(roi, cloudy_day, SensorSpec(S2, ("B2",)))
    assert 0.5 < patch.frames[0]["valid_fraction"] < 0.99
    assert patch.frames[0]["scene_dates"] == [dt.date(2022, 5, 30).isoformat()]
