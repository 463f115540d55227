"""Embed raster layer: the user's own pixels, band mapping, georeferenced grid output."""
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ._layers import MOSAIKS_32

SAMPLE_TIF = Path(__file__).resolve().parents[2] / "resources" / "sample_data" / "S2_L2A_20220715_sample.tif"


@pytest.fixture
def scene(tmp_path):
    """A 120 x 100 px crop of a sample scene, bands B2,B3,B4,B8 with no descriptions."""
    with rasterio.open(SAMPLE_TIF) as src:
        win = rasterio.windows.Window(40, 60, 120, 100)
        arr = src.read([1, 2, 3, 7], window=win)
        prof = dict(driver="GTiff", width=120, height=100, count=4, dtype="uint16", crs=src.crs,
                    transform=src.window_transform(win), nodata=0)
    path = tmp_path / "my_scene.tif"
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr)
    return path, arr, prof


def _engine_grid(data, crs, transform, bands=("B4", "B3", "B2"), scale=100):
    from rs_embed_qgis.engine import OutputSpec, get_embedding_from_data

    return get_embedding_from_data("mosaiks", data, bands=list(bands), crs=crs, transform=transform,
                                   output=OutputSpec.grid(scale_m=scale),
                                   model_options={"num_features": 32})


def test_band_mapping_and_values(processing, tmp_path, scene):
    from qgis.core import QgsRasterLayer

    path, arr, prof = scene
    out = tmp_path / "emb.tif"
    res = processing.run("rs_embed:embed_raster", {
        "INPUT": str(path), "MODEL": "mosaiks", "MODEL_OPTIONS": MOSAIKS_32,
        "BAND_MAP": "B4=3, B3=2, B2=1", "GRID_SCALE": 100, "OUTPUT": str(out)})
    lyr = QgsRasterLayer(res["OUTPUT"], "e")
    assert lyr.isValid() and lyr.crs().authid() == "EPSG:32632" and lyr.bandCount() == 32
    ref = _engine_grid(arr[[2, 1, 0]].astype(np.float32), "EPSG:32632", list(prof["transform"])[:6])
    with rasterio.open(out) as src:
        assert src.res == (100.0, 100.0) and src.shape == (10, 12)
        assert src.bounds.left == prof["transform"].c and src.bounds.top == prof["transform"].f
        np.testing.assert_allclose(src.read(), ref.array, rtol=1e-5, atol=1e-7)


def test_automatic_mapping_by_descriptions_and_extent(processing, tmp_path):
    """The sample scene names its bands: no mapping needed; EXTENT (in EPSG:4326) crops it."""
    import shutil

    scene = shutil.copy(SAMPLE_TIF, tmp_path / SAMPLE_TIF.name)  # QGIS may write .aux.xml beside it
    out = tmp_path / "crop.tif"
    res = processing.run("rs_embed:embed_raster", {
        "INPUT": str(scene), "MODEL": "mosaiks", "MODEL_OPTIONS": MOSAIKS_32,
        "EXTENT": "9.01,9.02,47.835,47.842 [EPSG:4326]", "GRID_SCALE": 50, "OUTPUT": str(out)})
    _, _, in_h, in_w = json.loads(res["METADATA"])["input"]["shape_tchw"]
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x0, y0 = t.transform(9.01, 47.835)
    x1, y1 = t.transform(9.02, 47.842)
    with rasterio.open(out) as src, rasterio.open(SAMPLE_TIF) as s2:
        b = src.bounds
        assert src.crs.to_epsg() == 32632 and src.count == 32
        assert b.left <= x0 + 10 and b.right >= x1 - 10 and b.bottom <= y0 + 10 and b.top >= y1 - 10
        assert b.right - b.left < (x1 - x0) + 100  # a crop, not the whole scene
        # values: the same crop through the engine directly (B4, B3, B2 by description)
        col, row = ~s2.transform * (b.left, b.top)
        win = rasterio.windows.Window(round(col), round(row), in_w, in_h)
        data = s2.read([3, 2, 1], window=win).astype(np.float32)
        ref = _engine_grid(data, "EPSG:32632", list(s2.window_transform(win))[:6], scale=50)
        np.testing.assert_allclose(src.read(), ref.array, rtol=1e-5, atol=1e-7)


def test_raster_in_degrees_is_warped_to_utm(processing, tmp_path, scene):
    from rasterio.warp import calculate_default_transform, reproject

    path, arr, prof = scene
    dst_t, w, h = calculate_default_transform(prof["crs"], "EPSG:4326", prof["width"], prof["height"],
                                              *rasterio.transform.array_bounds(prof["height"], prof["width"],
                                                                               prof["transform"]))
    geo = tmp_path / "geo.tif"
    with rasterio.open(geo, "w", **dict(prof, crs="EPSG:4326", transform=dst_t, width=w, height=h)) as dst:
        for i in range(4):
            reproject(arr[i], rasterio.band(dst, i + 1), src_transform=prof["transform"],
                      src_crs=prof["crs"], dst_transform=dst_t, dst_crs="EPSG:4326")
    out = tmp_path / "geo_emb.tif"
    processing.run("rs_embed:embed_raster", {
        "INPUT": str(geo), "MODEL": "mosaiks", "MODEL_OPTIONS": MOSAIKS_32,
        "BAND_MAP": "B4=3,B3=2,B2=1", "GRID_SCALE": 200, "OUTPUT": str(out)})
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632
        assert src.res[0] == pytest.approx(200, rel=0.1)
        a = src.read()
        assert np.isfinite(a).all() and a.std() > 0


def test_bad_band_mapping_names_the_band(processing, tmp_path, scene):
    from qgis.core import QgsProcessingException

    path, _, _ = scene
    with pytest.raises(QgsProcessingException, match=r"B4=9.*only 4 band"):
        processing.run("rs_embed:embed_raster", {
            "INPUT": str(path), "MODEL": "mosaiks", "BAND_MAP": "B4=9,B3=2,B2=1",
            "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match=r"unmapped.*B2"):
        processing.run("rs_embed:embed_raster", {
            "INPUT": str(path), "MODEL": "mosaiks", "BAND_MAP": "B4=3,B3=2",
            "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match=r"cannot tell which layer bands"):
        processing.run("rs_embed:embed_raster", {
            "INPUT": str(path), "MODEL": "mosaiks", "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()
