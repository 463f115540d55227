"""The raster I/O layer: both backends (rasterio and osgeo.gdal) give the same pixels and the same
georeference on the same files, and the one writer is atomic, checked and verified.

``both`` runs a function under each backend (``RS_EMBED_IO_BACKEND``) and returns the two
results; the tests compare them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rs_embed_qgis.engine import BBox, PointBuffer, SpecError, geoio
from rs_embed_qgis.engine.errors import OutputError
from rs_embed_qgis.engine.geo import roi_grid

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "resources" / "sample_data" / "S2_L2A_20220715_sample.tif"
UTM = "EPSG:32632"
T = (10.0, 0.0, 500000.0, 0.0, -10.0, 5300000.0)


def both(fn, monkeypatch):
    out = {}
    for name in geoio.BACKENDS:
        monkeypatch.setenv(geoio.ENV_VAR, name)
        assert geoio.backend_name() == name
        out[name] = fn()
    return out["gdal"], out["rasterio"]


@pytest.fixture
def tagged_tif(tmp_path):
    """A 3-band uint16 GeoTIFF with descriptions, tags, per-band tags, nodata, scale/offset,
    written with GDAL directly (not through the layer under test)."""
    from osgeo import gdal, osr

    p = tmp_path / "tagged.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(p), 30, 20, 3, gdal.GDT_UInt16, ["TILED=YES", "BLOCKXSIZE=16",
                                                                                  "BLOCKYSIZE=16"])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetGeoTransform((T[2], T[0], 0.0, T[5], 0.0, T[4]))
    rng = np.random.default_rng(0)
    data = rng.integers(1, 10000, (3, 20, 30)).astype(np.uint16)
    data[:, :2, :3] = 0
    for i, name in enumerate(("B4", "B3", "B2")):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(data[i])
        b.SetDescription(name)
        b.SetNoDataValue(0)
        b.SetScale(0.0001)
        b.SetOffset(-0.1)
        b.SetMetadata({"WAVELENGTH": str(600 - 100 * i)})
    ds.SetMetadata({"ACQUISITION_DATE": "2022-07-15", "CLOUDY_PIXEL_PERCENTAGE": "3.5"})
    ds = None
    return p, data


# -- reading -------------------------------------------------------------------------------------
def test_info_is_the_same_from_both_backends(tagged_tif, monkeypatch):
    p, _ = tagged_tif
    g, r = both(lambda: geoio.raster_info(p), monkeypatch)
    assert g == r
    assert g.crs == UTM and g.transform == T and (g.width, g.height, g.count) == (30, 20, 3)
    assert g.descriptions == ("B4", "B3", "B2") and g.dtypes == ("uint16",) * 3
    assert g.nodata == (0.0,) * 3 and g.masked == (True,) * 3
    assert g.scales == (0.0001,) * 3 and g.offsets == (-0.1,) * 3
    assert g.tags["ACQUISITION_DATE"] == "2022-07-15" and g.band_tags[2] == {"WAVELENGTH": "400"}
    assert g.bounds == (500000.0, 5299800.0, 500300.0, 5300000.0)


def test_windowed_reads_and_masks_are_the_same(tagged_tif, monkeypatch):
    p, data = tagged_tif
    win = geoio.Window(1, 1, 12, 9)

    def read():
        with geoio.open_raster(p) as src:
            return src.read([3, 1], win), src.read(dtype="float32"), src.masks([1], win), src.valid(None, win)

    (ga, gf, gm, gv), (ra, rf, rm, rv) = both(read, monkeypatch)
    np.testing.assert_array_equal(ga, data[[2, 0], 1:10, 1:13])
    assert ga.dtype == ra.dtype == np.uint16 and gf.dtype == rf.dtype == np.float32
    for x, y in ((ga, ra), (gf, rf), (gm, rm), (gv, rv)):
        np.testing.assert_array_equal(x, y)
    assert not gv[0, 0] and gv[1:, 2:].all() and gm.shape == (1, 9, 12)


@pytest.mark.parametrize("spatial,scale", [
    (PointBuffer(9.005, 47.83, 1500), 10),       # the scene's own grid, partly outside it
    (PointBuffer(9.02, 47.84, 700), 20),         # downsampling
    (BBox(9.001, 47.83, 9.03, 47.85), 7.3),      # an odd pixel size
    (BBox(9.01, 47.835, 9.02, 47.84), 3.3),      # upsampling
], ids=["native", "down", "odd", "up"])
def test_warp_onto_a_roi_grid_is_the_same(spatial, scale, monkeypatch):
    grid = roi_grid(spatial, scale)
    for resampling in ("nearest", "bilinear", "cubic", "average"):
        g, r = both(lambda resampling=resampling: geoio.warp_read(
            SCENE, [3, 2, 1], grid, resampling=resampling, nodata_if_unset=0), monkeypatch)
        assert g.shape == r.shape == (3, grid.height, grid.width) and g.dtype == np.float32
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r))
        if resampling == "nearest":
            np.testing.assert_array_equal(g, r)
        else:  # the same GDAL warper: equal up to float rounding in the kernel weights
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-3, equal_nan=True)
        assert np.isfinite(g).mean() > 0.2


def test_warp_nearest_on_the_native_grid_copies_the_pixels():
    with geoio.open_raster(SCENE) as src:
        info = src.info
        native = src.read([4], geoio.Window(10, 20, 50, 40), dtype="float32")[0]
    from rs_embed_qgis.engine.geo import RoiGrid

    t = geoio.window_transform(info.transform, geoio.Window(10, 20, 50, 40))
    grid = RoiGrid.from_transform(info.crs, t, 50, 40)
    for name in geoio.BACKENDS:
        os.environ[geoio.ENV_VAR] = name
        try:
            got = geoio.warp_read(SCENE, [4], grid, resampling="nearest", dst_nodata=None)[0]
        finally:
            del os.environ[geoio.ENV_VAR]
        np.testing.assert_array_equal(got, native)


def test_coordinates_are_the_same_and_match_proj(monkeypatch):
    lon, lat = np.array([9.0, 9.02, 12.5, -3.0]), np.array([47.8, 47.84, 51.0, 40.0])
    g, r = both(lambda: geoio.transform_points(lon, lat, "EPSG:4326", UTM), monkeypatch)
    np.testing.assert_array_equal(g[0], r[0])
    np.testing.assert_array_equal(g[1], r[1])
    b = (9.0, 47.8, 9.1, 47.9)
    gb, rb = both(lambda: geoio.transform_bounds(b, "EPSG:4326", UTM), monkeypatch)
    assert gb == pytest.approx(rb, abs=1e-6)
    back = both(lambda: geoio.transform_bounds(gb, UTM, "EPSG:4326"), monkeypatch)
    assert back[0] == pytest.approx(back[1], abs=1e-12)
    pyproj = pytest.importorskip("pyproj")  # an independent reference where installed
    tr = pyproj.Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    np.testing.assert_allclose(g[0], tr.transform(lon, lat)[0], atol=1e-6)
    assert gb == pytest.approx(tr.transform_bounds(*b, densify_pts=21), abs=1e-6)


def test_crs_names_and_suggested_grid_are_the_same(monkeypatch):
    wkt = geoio.raster_info(SCENE).crs
    g, r = both(lambda: (geoio.crs_to_string("EPSG:4326"), geoio.crs_to_string("+proj=utm +zone=32 +datum=WGS84"),
                         geoio.same_crs(wkt, UTM), geoio.same_crs("EPSG:4326", UTM),
                         geoio.suggested_grid(SCENE, "EPSG:4326")), monkeypatch)
    assert g[:4] == r[:4] == ("EPSG:4326", UTM, True, False)
    assert g[4][0] == r[4][0] and g[4][2:] == r[4][2:]
    assert g[4][1] == pytest.approx(r[4][1], abs=1e-12)
    with pytest.raises(SpecError, match="not-a-crs"):
        geoio.crs_to_string("not-a-crs")


def test_unreadable_raster_is_a_provider_error_naming_it(tmp_path, monkeypatch):
    from rs_embed_qgis.engine import ProviderError

    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    for name in geoio.BACKENDS:
        monkeypatch.setenv(geoio.ENV_VAR, name)
        with pytest.raises(ProviderError, match="broken.tif"):
            geoio.raster_info(bad)


# -- writing -------------------------------------------------------------------------------------
def _write(path, arr, **kw):
    return geoio.write_raster(path, arr, crs=UTM, transform=T, nodata=float("nan"), band_names=["a", "b", "c"],
                              tags={"RS_EMBED_MODEL": "m", "NOTE": "ünïcode"},
                              band_tags=[{"k": str(i)} for i in range(3)], **kw)


@pytest.mark.parametrize("layout", [{}, {"tiled": False}, {"overviews": True}, {"cog": True},
                                    {"compress": None, "interleave": "band"}],
                         ids=["tiled", "strips", "overviews", "cog", "raw-band"])
def test_each_backend_writes_what_the_other_reads(tmp_path, layout, monkeypatch):
    arr = np.random.default_rng(1).random((3, 300, 270)).astype(np.float32)
    arr[1, 5, 7] = np.nan
    paths = both(lambda: _write(tmp_path / f"{geoio.backend_name()}.tif", arr, **layout), monkeypatch)
    for writer_path in paths:
        infos = both(lambda p=writer_path: geoio.raster_info(p), monkeypatch)
        assert repr(infos[0]) == repr(infos[1])  # repr: nodata is NaN, and NaN != NaN
        info = infos[0]
        assert (info.crs, info.transform, info.descriptions) == (UTM, T, ("a", "b", "c"))
        assert info.tags["NOTE"] == "ünïcode" and info.band_tags[1] == {"k": "1"}
        assert np.isnan(info.nodata[0]) and info.dtypes == ("float32",) * 3
        for got in both(lambda p=writer_path: geoio.open_raster(p).read(), monkeypatch):
            np.testing.assert_array_equal(got, arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gdal.tif", "rasterio.tif"]  # no temp left
    if layout.get("cog") or layout.get("overviews"):
        from osgeo import gdal

        ds = gdal.Open(str(paths[0]))
        assert ds.GetRasterBand(1).GetOverviewCount() >= 1
        if layout.get("cog"):
            assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"


def test_block_by_block_equals_whole(tmp_path, monkeypatch):
    arr = (np.arange(2 * 100 * 300, dtype=np.int32).reshape(2, 100, 300) % 5000).astype(np.uint16)

    def streamed():
        p = tmp_path / f"s_{geoio.backend_name()}.tif"
        with geoio.raster_writer(p, width=300, height=100, count=2, dtype="uint16", crs=UTM, transform=T,
                                 nodata=0, blocksize=32, interleave="band", stream=True) as w:
            for r0 in range(0, 100, 32):
                for c0 in range(0, 300, 128):
                    w.write(arr[:, r0:r0 + 32, c0:c0 + 128], row_off=r0, col_off=c0)
            assert not p.exists()  # published only once closed and verified
        return geoio.open_raster(p).read()

    for got in both(streamed, monkeypatch):
        np.testing.assert_array_equal(got, arr)


def test_a_failed_write_publishes_nothing(tmp_path, monkeypatch):
    for name in geoio.BACKENDS:
        monkeypatch.setenv(geoio.ENV_VAR, name)
        p = tmp_path / "new" / "out.tif"
        with pytest.raises(RuntimeError, match="boom"):
            with geoio.raster_writer(p, width=64, height=64, count=1, crs=UTM, transform=T) as w:
                w.write(np.zeros((1, 32, 64), np.float32))
                raise RuntimeError("boom")
        assert not (tmp_path / "new").exists()  # nor the folder it had to create
        with pytest.raises(SpecError, match="does not fit"):
            with geoio.raster_writer(p, width=8, height=8, count=1) as w:
                w.write(np.zeros((1, 9, 8), np.float32))


def test_unsupported_extension_is_refused_naming_it(tmp_path):
    from rs_embed_qgis.engine import Embedding
    from rs_embed_qgis.engine.io import write_embedding_geotiff, write_pca_quicklook

    with pytest.raises(SpecError, match=r"out\.xyz.*'\.xyz'.*\.tif"):
        geoio.write_raster(tmp_path / "out.xyz", np.zeros((1, 4, 4), np.float32))
    emb = Embedding(np.random.default_rng(0).random((8, 4, 4)).astype(np.float32),
                    {"crs": UTM, "transform": list(T)})
    with pytest.raises(SpecError, match=r"grid\.xyz"):  # never silently a GeoTIFF
        write_embedding_geotiff(emb, tmp_path / "grid.xyz")
    with pytest.raises(SpecError, match=r"look\.jpg.*png"):
        write_pca_quicklook(emb, tmp_path / "look.jpg")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_spec_error_naming_it(tmp_path):
    from rs_embed_qgis.engine import OutputSpec, TemporalSpec
    from rs_embed_qgis.engine.export import export_batch

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SpecError, match="a_file.*choose a folder"):
        geoio.write_raster(blocker / "sub" / "out.tif", np.zeros((1, 4, 4), np.float32))
    with pytest.raises(SpecError, match="a_file.*choose a folder"):  # not a raw OSError traceback
        export_batch(spatials=[PointBuffer(9.02, 47.84, 100)], temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                     models=["mosaiks"], out_dir=str(blocker / "export"), backend="local",
                     output=OutputSpec.pooled(), model_options={"mosaiks": {"num_features": 8}}, show_progress=False)
    if os.geteuid() != 0:  # root writes anywhere: only a file in the path blocks it
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(SpecError, match="ro"):
            geoio.write_raster(ro / "out.tif", np.zeros((1, 4, 4), np.float32))


def test_verification_catches_a_cut_file(tmp_path, monkeypatch):
    """What GDAL could not report (a block cut off after the fact) is found before the rename."""
    from rs_embed_qgis.engine.geoio.writer import verify_raster

    arr = np.random.default_rng(2).random((2, 64, 64)).astype(np.float32)
    p = geoio.write_raster(tmp_path / "ok.tif", arr, blocksize=16, compress=None)
    verify_raster(p, (64, 64, 2, "float32"))
    cut = tmp_path / "cut.tif"
    data = p.read_bytes()
    for name in geoio.BACKENDS:
        monkeypatch.setenv(geoio.ENV_VAR, name)
        cut.write_bytes(data[: len(data) - 3000])
        with pytest.raises(OutputError, match="incomplete|does not read back"):
            verify_raster(cut, (64, 64, 2, "float32"))
        with pytest.raises(OutputError, match=r"reads back as .*\(64, 64, 2, 'float32'\).*\(64, 64, 3"):
            verify_raster(p, (64, 64, 3, "float32"))


# -- which backend runs where ---------------------------------------------------------------------
def test_backend_choice(monkeypatch):
    import types

    monkeypatch.setenv(geoio.ENV_VAR, "auto")
    assert geoio.backend_name() == "rasterio"  # headless, Debian's rasterio shares osgeo's GDAL here
    monkeypatch.setitem(sys.modules, "qgis.core", types.ModuleType("qgis.core"))  # as inside QGIS
    assert geoio.inside_qgis() and geoio.backend_name() == "gdal"
    monkeypatch.setenv(geoio.ENV_VAR, "rasterio")  # forced, e.g. by a test
    assert geoio.backend_name() == "rasterio"
    monkeypatch.setenv(geoio.ENV_VAR, "fast")
    with pytest.raises(SpecError, match="RS_EMBED_IO_BACKEND.*'fast'"):
        geoio.backend()


def test_a_rasterio_wheel_with_its_own_gdal_is_not_used_beside_osgeo(tmp_path):
    """A pip wheel's rasterio (its own libgdal in rasterio.libs) would be a second GDAL in the
    process: the gdal backend is chosen, and rasterio is not even imported."""
    fake = tmp_path / "site"
    (fake / "rasterio").mkdir(parents=True)
    (fake / "rasterio" / "__init__.py").write_text("raise ImportError('the fake wheel must not be imported')\n")
    (fake / "rasterio.libs").mkdir()
    (fake / "rasterio.libs" / "libgdal-3f2a9c1b.so.34.3.8.5").write_bytes(b"")
    code = ("import sys; from rs_embed_qgis.engine import geoio\n"
            "print(geoio.rasterio_bundles_gdal(), geoio.backend_name(), 'rasterio' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(ROOT)]))
    env.pop(geoio.ENV_VAR, None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "gdal", "False"]


def test_bounds_on_a_gdal_without_transform_bounds(monkeypatch):
    """GDAL < 3.4 (some QGIS 3.22 builds) has no OCTTransformBounds: the densified edges give
    the same bounds for an ordinary ROI."""
    from rs_embed_qgis.engine.geoio import _gdal

    b = (9.0, 47.8, 9.1, 47.9)
    full = _gdal.transform_bounds(b, "EPSG:4326", UTM, 21)
    real = _gdal._ct

    class OldCT:
        def __init__(self, ct):
            self.TransformPoints = ct.TransformPoints

    monkeypatch.setattr(_gdal, "_ct", lambda src, dst: OldCT(real(src, dst)))
    assert _gdal.transform_bounds(b, "EPSG:4326", UTM, 21) == pytest.approx(full, abs=1e-6)
