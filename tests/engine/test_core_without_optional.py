"""The core path runs on what a stock QGIS ships: ``import rs_embed_qgis.engine``, MOSAIKS on
the bundled sample with the local backend, and the grid GeoTIFF, with rasterio, pyproj, shapely,
scipy, pystac, xarray, pandas and torch absent. The result equals a run in this (full) process,
which reads through rasterio: the two raster backends agree end to end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import core_without_optional_job as job  # noqa: E402

from rs_embed_qgis.engine import geoio  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample_data"


def _stock_qgis_run(out: Path, data: str) -> dict:
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(geoio.ENV_VAR, None)
    r = subprocess.run([sys.executable, str(Path(job.__file__)), str(out), data], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _compare_with_full_run(out: Path, ref: Path, root: str | None) -> None:
    job.run(str(ref), root)  # this process: every optional package there, rasterio reading
    np.testing.assert_array_equal(np.load(out / "embedding.npy"), np.load(ref / "embedding.npy"))
    a, b = geoio.raster_info(out / "embedding.tif"), geoio.raster_info(ref / "embedding.tif")
    assert (a.crs, a.transform, a.width, a.height, a.count, a.descriptions) == (
        b.crs, b.transform, b.width, b.height, b.count, b.descriptions)
    for tag in ("RS_EMBED_MODEL", "RS_EMBED_SENSOR", "RS_EMBED_OUTPUT", "RS_EMBED_TEMPORAL"):
        assert a.tags[tag] == b.tags[tag]
    with geoio.open_raster(out / "embedding.tif") as x, geoio.open_raster(ref / "embedding.tif") as y:
        np.testing.assert_array_equal(x.read(), y.read())


def test_sample_geotiffs_without_optional_packages(tmp_path):
    """The sample's GeoTIFFs as a plain folder (the local backend's folder indexing)."""
    data = tmp_path / "data"
    data.mkdir()
    for tif in SAMPLE.glob("*.tif"):
        (data / tif.name).symlink_to(tif)
    res = _stock_qgis_run(tmp_path / "stock", str(data))
    assert res["ok"], res
    assert res["io_backend"] == "gdal" and res["loaded"] == []
    _compare_with_full_run(tmp_path / "stock", tmp_path / "full", str(data))


def test_bundled_sample_without_optional_packages(tmp_path):
    """The bundled sample as shipped, through its static STAC catalog."""
    res = _stock_qgis_run(tmp_path / "stock", "bundled")
    if not res["ok"] and "needs pystac" in res.get("error", ""):
        pytest.skip("reading a static STAC catalog without pystac comes with the s2data branch: "
                    + res["error"])
    assert res["ok"], res
    assert res["io_backend"] == "gdal" and res["loaded"] == []
    _compare_with_full_run(tmp_path / "stock", tmp_path / "full", None)
