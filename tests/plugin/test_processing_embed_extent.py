"""The embed-extent algorithm through processing.run and through qgis_process."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[2]


def test_embed_extent_processing_run(processing, tmp_path):
    from qgis.core import QgsRasterLayer

    out = tmp_path / "grid.tif"
    res = processing.run("rs_embed:embed_extent", {
        "EXTENT": "9.005,9.035,47.83,47.85 [EPSG:4326]",
        "MODEL": "mosaiks", "START": "2022-06-01", "END": "2022-09-01",
        "GRID_SCALE": 100, "MODEL_OPTIONS": '{"num_features": 64}',
        "OUTPUT": str(out), "QUICKLOOK": str(tmp_path / "ql.png"),
    })
    assert Path(res["OUTPUT"]) == out and out.exists()
    assert (tmp_path / "ql.png").exists()
    lyr = QgsRasterLayer(str(out), "emb")
    assert lyr.isValid()
    assert lyr.crs().authid() == "EPSG:32632"
    assert lyr.bandCount() == 64
    with rasterio.open(out) as src:
        assert src.res == (100.0, 100.0)
        arr = src.read()
        assert np.isfinite(arr).all() and arr.std() > 0
        # the grid covers the requested extent (in UTM 32N)
        from pyproj import Transformer

        t = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
        x0, y0 = t.transform(9.005, 47.83)
        x1, y1 = t.transform(9.035, 47.85)
        b = src.bounds
        # within half a cell: a trailing partial cell is kept only if it is half full
        tol = 100 / 2 + 10
        assert b.left <= min(x0, x1) + tol and b.right >= max(x0, x1) - tol
        assert b.bottom <= min(y0, y1) + tol and b.top >= max(y0, y1) - tol
    meta = json.loads(res["METADATA"])
    assert meta["model"] == "mosaiks" and meta["random_weights"] is False


def test_embed_extent_bad_dates_fail_clearly(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="2022-13-01"):
        processing.run("rs_embed:embed_extent", {
            "EXTENT": "9.005,9.035,47.83,47.85 [EPSG:4326]", "MODEL": "mosaiks",
            "START": "2022-13-01", "END": "2022-09-01", "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()


def test_embed_extent_outside_data_names_both_extents(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="outside the local data"):
        processing.run("rs_embed:embed_extent", {
            "EXTENT": "10.5,10.6,48.0,48.1 [EPSG:4326]", "MODEL": "mosaiks",
            "START": "2022-06-01", "END": "2022-09-01", "OUTPUT": str(tmp_path / "x.tif")})


def test_embed_extent_from_qgis_process(tmp_path):
    out = tmp_path / "qp.tif"
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "run", "rs_embed:embed_extent", "--",
         "EXTENT=9.005,9.035,47.83,47.85 [EPSG:4326]", "MODEL=mosaiks", "GRID_SCALE=200",
         'MODEL_OPTIONS={"num_features": 32}', f"OUTPUT={out}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with rasterio.open(out) as src:
        assert src.count == 32 and src.crs.to_epsg() == 32632 and src.res == (200.0, 200.0)


def test_embed_extent_sensor_overrides_and_year(processing, tmp_path):
    """Year window, 20 m input, mosaic compositing and other bands reach the engine."""
    from rs_embed_qgis.engine import BBox, OutputSpec, SensorSpec, TemporalSpec, get_embedding
    from rs_embed_qgis.engine.catalog.entry import S2_SR

    out = tmp_path / "ov.tif"
    res = processing.run("rs_embed:embed_extent", {
        "EXTENT": "9.005,9.035,47.83,47.85 [EPSG:4326]", "MODEL": "mosaiks", "YEAR": 2022,
        "SENSOR_SCALE": 20, "BANDS": "B8,B4,B3", "COMPOSITE": "mosaic", "CLOUDY_PCT": 50,
        "GRID_SCALE": 200, "MODEL_OPTIONS": '{"num_features": 32}', "OUTPUT": str(out)})
    meta = json.loads(res["METADATA"])
    assert meta["temporal"]["mode"] == "year" and meta["temporal"]["year"] == 2022
    assert meta["sensor"]["bands"] == ["B8", "B4", "B3"] and meta["sensor"]["scale_m"] == 20
    assert meta["sensor"]["composite"] == "mosaic" and meta["sensor"]["cloudy_pct"] == 50
    ref = get_embedding(
        "mosaiks", spatial=BBox(9.005, 47.83, 9.035, 47.85), temporal=TemporalSpec.year(2022),
        sensor=SensorSpec(S2_SR, ("B8", "B4", "B3"), scale_m=20, cloudy_pct=50, composite="mosaic"),
        output=OutputSpec.grid(scale_m=200), backend="local", model_options={"num_features": 32})
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(), ref.array, rtol=1e-5, atol=1e-7)
        assert src.res == (200.0, 200.0)


def test_embed_extent_runs_the_fast_path_and_says_so(processing, tmp_path):
    """PRECISION (advanced) picks the arithmetic: int8 linear layers here, named in the metadata."""
    small = {"allow_random_weights": True, "download": False,
             "arch": {"embed_dim": 64, "depth": 2, "num_heads": 4}}
    res = processing.run("rs_embed:embed_extent", {
        "EXTENT": "9.015,9.025,47.836,47.842 [EPSG:4326]", "MODEL": "satmae", "START": "2022-06-01",
        "END": "2022-09-01", "GRID_SCALE": 160, "PRECISION": "int8", "MODEL_OPTIONS": json.dumps(small),
        "DEVICE": "cpu", "OUTPUT": str(tmp_path / "g.tif")})
    meta = json.loads(res["METADATA"])
    assert meta["precision"]["used"] == "int8" and meta["precision"]["exact"] is False
    assert meta["random_weights"] is True
