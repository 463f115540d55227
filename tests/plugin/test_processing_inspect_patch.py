"""Inspect patch: the fetched input as RGB GeoTIFF + JSON report, no model run."""
import json

import numpy as np
import pytest
import rasterio

from ._layers import to_3857

EXTENT = "9.005,9.035,47.83,47.85 [EPSG:4326]"


def _fetch(bands, temporal=("2022-06-01", "2022-09-01")):
    from rs_embed_qgis.engine import BBox, SensorSpec, TemporalSpec, get_provider
    from rs_embed_qgis.engine.catalog.entry import S2_SR

    sensor = SensorSpec(collection=S2_SR, bands=tuple(bands), scale_m=10, cloudy_pct=30)
    roi = BBox(9.005, 47.83, 9.035, 47.85)
    return get_provider("local").fetch(roi, TemporalSpec.range(*temporal), sensor)


def test_raw_rgb_values_and_report(processing, tmp_path):
    out, rep = tmp_path / "rgb.tif", tmp_path / "report.json"
    res = processing.run("rs_embed:inspect_patch", {
        "EXTENT": EXTENT, "START": "2022-06-01", "END": "2022-09-01", "STRETCH": "raw",
        "OUTPUT": str(out), "REPORT": str(rep)})
    assert res["OK"] is True and res["ISSUES"] == ""
    patch = _fetch(("B2", "B3", "B4", "B8"))
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632 and src.count == 3 and src.dtypes[0] == "float32"
        assert src.descriptions == ("B4", "B3", "B2") and src.res == (10.0, 10.0)
        assert list(src.transform)[:6] == pytest.approx(list(patch.grid.transform))
        np.testing.assert_allclose(src.read(), patch.data[0][[2, 1, 0]])
    report = json.loads(rep.read_text())
    assert report["ok"] is True and report["backend"] == "local"
    b4 = report["report"]["band_stats"]["B4"]
    x = patch.data[0][2]
    assert b4["mean"] == pytest.approx(float(x.mean()), rel=1e-5)
    assert b4["max"] == pytest.approx(float(x.max()))
    assert report["input"]["crs"] == "EPSG:32632"
    assert report["input"]["frames"][0]["n_scenes"] == 3  # 2022-06-24, 07-15, 08-09
    assert report["temporal"]["start"] == "2022-06-01"


def test_percentile_stretch_extent_in_3857_and_value_range(processing, tmp_path):
    (x0, y0), (x1, y1) = to_3857(9.01, 47.835), to_3857(9.02, 47.842)
    out, rep = tmp_path / "s.tif", tmp_path / "s.json"
    res = processing.run("rs_embed:inspect_patch", {
        "EXTENT": f"{x0},{x1},{y0},{y1} [EPSG:3857]", "YEAR": 2022, "RGB_BANDS": "B8,B4,B3",
        "VALUE_RANGE": "0,1000", "OUTPUT": str(out), "REPORT": str(rep)})
    assert res["OK"] is False and "outside [0.0, 1000.0]" in res["ISSUES"]
    with rasterio.open(out) as src:
        a = src.read()
        assert src.dtypes[0] == "uint8" and src.descriptions == ("B8", "B4", "B3")
        assert a.min() >= 1 and a.max() == 255  # 0 is kept for no-data
        assert src.crs.to_epsg() == 32632
        from pyproj import Transformer

        t = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
        ux0, uy0 = t.transform(9.01, 47.835)
        assert abs(src.bounds.left - ux0) < 40 and abs(src.bounds.bottom - uy0) < 40
    report = json.loads(rep.read_text())
    assert report["temporal"]["mode"] == "year"
    assert set(report["report"]["bands"]) == {"B2", "B3", "B4", "B8"}


def test_bad_rgb_bands_fail_clearly(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="B99"):
        processing.run("rs_embed:inspect_patch", {
            "EXTENT": EXTENT, "RGB_BANDS": "B99,B4,B3", "OUTPUT": str(tmp_path / "x.tif"),
            "REPORT": str(tmp_path / "x.json")})
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("data", ["catalog.json", "S2_L2A_20220715_sample/S2_L2A_20220715_sample.json"])
def test_data_field_takes_a_stac_catalog_or_item_file(processing, tmp_path, sample_dir, data):
    rep = tmp_path / "r.json"
    res = processing.run("rs_embed:inspect_patch", {
        "EXTENT": EXTENT, "START": "2022-07-01", "END": "2022-08-01", "DATA_FOLDER": str(sample_dir / data),
        "OUTPUT": str(tmp_path / "x.tif"), "REPORT": str(rep)})
    assert res["OK"] is True
    report = json.loads(rep.read_text())
    assert report["input"]["frames"][0]["scenes"] == ["S2_L2A_20220715_sample"]
    assert report["report"]["input_sanity"]["valid_fraction"] == 1.0
