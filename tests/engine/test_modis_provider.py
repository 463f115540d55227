"""MODIS L1B input: MOD021KM granules (HDF4 through GDAL) and calibrated GeoTIFF stacks are
read onto the ROI grid with the published calibration and the granule's geolocation."""
from __future__ import annotations

import numpy as np
import pytest
from modis_util import (
    geolocation,
    nearest_pixel,
    rad_scale,
    reflectance_field,
    temperature_field,
    write_mod021km,
)
from pyproj import Transformer

from rs_embed_qgis.engine.catalog.models.satvision import BANDS as SATVISION_BANDS
from rs_embed_qgis.engine.errors import ProviderError
from rs_embed_qgis.engine.providers import modis
from rs_embed_qgis.engine.providers.local import LocalProvider
from rs_embed_qgis.engine.providers.modis import (
    MOD021KM,
    ModisProvider,
    brightness_temperature,
    calibrate,
    granule_time,
    modis_band,
    radiance_from_temperature,
)
from rs_embed_qgis.engine.specs import PointBuffer, SensorSpec, TemporalSpec

DAY = TemporalSpec.range("2022-06-01", "2022-06-02")
ROI = PointBuffer(8.75, 48.10, 6000)


def sensor(bands=SATVISION_BANDS, **kw):
    return SensorSpec(MOD021KM, tuple(bands), scale_m=1000, cloudy_pct=100, fill_value=float("nan"),
                      composite="mosaic", **kw)


def cell_lonlat(patch, row, col):
    g = patch.grid
    t = Transformer.from_crs(g.crs, "EPSG:4326", always_xy=True)
    return t.transform(g.left + (col + 0.5) * g.res, g.top - (row + 0.5) * g.yres)


def test_band_names_and_granule_times():
    assert [modis_band(n) for n in ("1", "B01", "band_26", "13LO", "b36")] == ["1", "1", "26", "13lo", "36"]
    assert modis_band("B8A") is None and modis_band("37") is None and modis_band("SCL") is None
    t = granule_time("MOD021KM.A2022152.1030.061.2022152190155.hdf")
    assert t.isoformat() == "2022-06-01T10:30:00"
    assert granule_time("MYD021KM.A2020366.2355.061.x.hdf").isoformat() == "2020-12-31T23:55:00"
    assert granule_time("S2_L2A_20221122_sample.tif") is None


@pytest.mark.parametrize("band", ["20", "21", "27", "31", "33", "36"])
def test_brightness_temperature_inverts_planck(band):
    t = np.array([200.0, 250.0, 300.0, 330.0])
    rad = np.array([radiance_from_temperature(band, v) for v in t])
    np.testing.assert_allclose(brightness_temperature(rad, band), t, atol=1e-3)


def test_band_31_brightness_temperature_matches_planck_at_11um():
    # 10 W m-2 sr-1 um-1 at 11.03 um is a ~308 K black body (Planck's law, written out here)
    h, c, k = 6.62607015e-34, 2.99792458e8, 1.380649e-23
    wl = 11.03e-6
    t_planck = h * c / (wl * k * np.log(2 * h * c ** 2 / (wl ** 5 * 10.0e6) + 1))
    assert brightness_temperature(np.array([10.0]), "31")[0] == pytest.approx(t_planck, abs=0.5)


def test_calibration_of_reflective_and_emissive_counts():
    dn = np.array([1000, 32767, 32768, 65535], np.float64)
    refl = calibrate(dn, "1", 5e-5, 10.0)
    np.testing.assert_allclose(refl[:2], (dn[:2] - 10) * 5e-5 * 10000, rtol=1e-6)
    assert np.isnan(refl[2:]).all()  # L1B flags above 32767 and the fill are no-data
    bt = calibrate(np.array([3000.0]), "31", 8e-4, 1500.0)
    assert bt[0] == pytest.approx(float(brightness_temperature(np.array([(3000 - 1500) * 8e-4]), "31")[0]))


def test_granule_is_resampled_through_its_geolocation_and_calibrated(tmp_path):
    write_mod021km(tmp_path)
    prov = ModisProvider(str(tmp_path))
    (scene,) = prov.scenes()
    assert scene.date.isoformat() == "2022-06-01" and scene.meta["time_utc"] == "2022-06-01T10:30:00"
    assert len(scene.bands) == 38 and scene.meta["tie"] == (2, 5)
    patch = prov.fetch(ROI, DAY, sensor())
    assert patch.data.shape == (1, 14, 13, 13) and patch.grid.crs == "EPSG:32632" and patch.grid.res == 1000
    assert patch.frames[0]["scenes"] == [scene.id]
    lon, lat = geolocation(60, 50)
    hits = 0
    for row, col in [(0, 0), (3, 7), (11, 11), (6, 2)]:
        r, c = nearest_pixel(*cell_lonlat(patch, row, col))
        # band "1" (reflective, index 0 of its SDS) and band "31" (emissive, index 10)
        expect_r = reflectance_field(lon[r, c], 0) * 10000
        expect_t = temperature_field(lat[r, c], 10)
        got_r = patch.data[0, 0, row, col]
        got_t = patch.data[0, SATVISION_BANDS.index("31"), row, col]
        hits += abs(got_r - expect_r) < 0.5
        # the nearest swath pixel or its neighbour (a cell centre can fall half-way between two)
        assert abs(got_r - expect_r) < 0.5 + 0.4 * 10000 * 0.0135
        assert abs(got_t - expect_t) < 0.05 + 40 * 0.009
    assert hits >= 3  # nearly always exactly the nearest pixel
    # every reflective band is x 10000 and every emissive band in kelvin
    assert 300 < np.nanmean(patch.data[0, :5]) < 3000 and 240 < np.nanmean(patch.data[0, 7:]) < 320


def test_calibration_of_every_satvision_band_at_one_place(tmp_path):
    write_mod021km(tmp_path)
    patch = ModisProvider(str(tmp_path)).fetch(ROI, DAY, sensor())
    lon, lat = geolocation(60, 50)
    r, c = nearest_pixel(*cell_lonlat(patch, 5, 5))
    for ci, band in enumerate(SATVISION_BANDS):
        for sds, names in modis.SDS_BANDS.items():
            if band in names:
                i = names.index(band)
                expect = (temperature_field(lat[r, c], i) if sds == "EV_1KM_Emissive"
                          else reflectance_field(lon[r, c], i) * 10000)
                assert patch.data[0, ci, 5, 5] == pytest.approx(expect, abs=0.5), band


def test_fill_counts_are_no_data_and_outside_the_swath_is_fill_value(tmp_path):
    write_mod021km(tmp_path, fill_rows=slice(0, 20))
    patch = ModisProvider(str(tmp_path)).fetch(PointBuffer(8.75, 48.05, 25000), DAY, sensor())
    data = patch.data[0, 0]
    assert np.isnan(data).any() and np.isfinite(data).any()
    assert patch.frames[0]["valid_fraction"] < 1.0
    # northern rows (swath rows 0..19, lat > ~48.07) are fill
    lon_c, lat_c = cell_lonlat(patch, 0, data.shape[1] // 2)
    assert lat_c > 48.1 and np.isnan(data[0, data.shape[1] // 2])


def test_geotiff_stack_with_scale_and_offset(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    from rs_embed_qgis.engine.geo import roi_grid

    grid = roi_grid(ROI, 1000)
    path = tmp_path / "MOD021KM.A2022152.1030.061.toa.tif"
    bands = ("B01", "B31")
    with rasterio.open(path, "w", driver="GTiff", width=grid.width + 4, height=grid.height + 4, count=2,
                       dtype="uint16", crs=grid.crs, nodata=0,
                       transform=from_origin(grid.left - 2000, grid.top + 2000, 1000, 1000)) as dst:
        dst.write(np.full((grid.height + 4, grid.width + 4), 2500, np.uint16), 1)   # reflectance 0.25
        dst.write(np.full((grid.height + 4, grid.width + 4), 28500, np.uint16), 2)  # 285.0 K
        dst.descriptions = bands
        dst.scales = (1e-4, 0.01)
        dst.offsets = (0.0, 0.0)
    prov = ModisProvider(str(tmp_path))
    (scene,) = prov.scenes()
    assert scene.meta["kind"] == "tif" and scene.date.isoformat() == "2022-06-01"
    patch = prov.fetch(ROI, DAY, sensor(bands=("1", "31")))
    np.testing.assert_allclose(patch.data[0, 0], 2500.0, rtol=1e-5)   # reflectance x 10000
    np.testing.assert_allclose(patch.data[0, 1], 285.0, rtol=1e-5)    # kelvin


def test_local_backend_hands_modis_collections_to_the_modis_reader(tmp_path):
    write_mod021km(tmp_path)
    local = LocalProvider(str(tmp_path))
    patch = local.fetch(ROI, DAY, sensor(bands=("1", "2")))
    assert patch.data.shape[:2] == (1, 2) and patch.backend == "local"
    # Sentinel-2 sensors are not affected: this folder holds no Sentinel-2 scene
    with pytest.raises(ProviderError):
        local.fetch(ROI, DAY, SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B4",)))


def test_missing_data_and_bands_are_clear_errors(tmp_path):
    with pytest.raises(ProviderError, match="no MODIS data"):
        ModisProvider(str(tmp_path)).fetch(ROI, DAY, sensor())
    write_mod021km(tmp_path)
    with pytest.raises(ProviderError, match="band '37' is missing"):
        ModisProvider(str(tmp_path)).fetch(ROI, DAY, sensor(bands=("1", "37")))
    with pytest.raises(ProviderError, match="no scene in the window"):
        ModisProvider(str(tmp_path)).fetch(ROI, TemporalSpec.range("2022-07-01", "2022-07-02"), sensor())


def test_granule_without_calibration_attributes_is_refused(tmp_path):
    from pyhdf.SD import SD, SDC

    path = tmp_path / "MOD021KM.A2022152.1030.061.bad.hdf"
    sd = SD(str(path), SDC.WRITE | SDC.CREATE)
    for name, shape in (("EV_250_Aggr1km_RefSB", (2, 10, 10)), ("Latitude", (2, 2)), ("Longitude", (2, 2))):
        s = sd.create(name, SDC.FLOAT32, shape)
        s[:] = np.full(shape, 48.0 if name == "Latitude" else 9.0, np.float32)
        s.endaccess()
    sd.end()
    with pytest.raises(ProviderError, match="calibration attributes"):
        ModisProvider(str(tmp_path)).scenes()


def test_earth_engine_knows_the_collection():
    from rs_embed_qgis.engine.providers.gee import collection_info

    info = collection_info(MOD021KM)
    assert info.cloud_property is None and info.cloud_mask == "none" and not info.canonical_s2_bands


def test_radiance_of_emissive_bands_scales_as_written(tmp_path):
    """The helper's DNs reproduce the temperature field (the test data are what they claim)."""
    scale, offset = rad_scale(10)
    rad = radiance_from_temperature("31", 290.0)
    assert brightness_temperature(np.array([(round(rad / scale + offset) - offset) * scale]), "31")[0] == \
        pytest.approx(290.0, abs=0.05)
