"""Sentinel-1 through the Earth Engine backend (rs-embed 0.3's SensorSpec fields): the orbit
filter, the Interferometric Wide swath filter and its relaxation when it leaves no scene, the
linear or dB product, polarisation bands; on the loopback EE server with small VV/VH scenes.
Other backends read the radar files they have, and refuse a scene filter they cannot apply."""
import datetime as dt

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

pytest.importorskip("ee")
from ee_test_server import Scene, invocations  # noqa: E402 - fixtures come from conftest.py

from rs_embed_qgis.engine import PointBuffer, ProviderError, SensorSpec, TemporalSpec  # noqa: E402
from rs_embed_qgis.engine.providers.local import LocalProvider  # noqa: E402

FLOAT, DB = "COPERNICUS/S1_GRD_FLOAT", "COPERNICUS/S1_GRD"
ROI = PointBuffer(9.02, 47.84, 300)
JULY = TemporalSpec.range("2022-07-01", "2022-08-01")
AUGUST = TemporalSpec.range("2022-08-01", "2022-09-01")
#: scene name -> (date, swath mode, pass, VV value, VH value)
SCENES = {"asc": (dt.date(2022, 7, 3), "IW", "ASCENDING", 0.20, 0.05),
          "desc": (dt.date(2022, 7, 9), "IW", "DESCENDING", 0.40, 0.09),
          "ew": (dt.date(2022, 8, 5), "EW", "DESCENDING", 0.30, 0.07)}


def _scene(folder, name, db: bool):
    date, mode, orbit, vv, vh = SCENES[name]
    vals = np.array([vv, vh], np.float32)[:, None, None] * np.ones((2, 200, 200), np.float32)
    if db:
        vals = 10 * np.log10(vals)
    path = folder / f"{name}_{'db' if db else 'lin'}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=2, dtype="float32",
                       crs="EPSG:32632", transform=from_origin(500000, 5300000, 15, 15)) as dst:
        dst.write(vals)
    return Scene(f"S1A_{name}_{'db' if db else 'lin'}", date, {"VV": (str(path), 1), "VH": (str(path), 2)}, (8.9, 47.7, 9.2, 48.0), 0.0,
                 props={"instrumentMode": mode, "orbitProperties_pass": orbit,
                        "transmitterReceiverPolarisation": ["VV", "VH"]})


@pytest.fixture
def s1(ee_env, tmp_path):
    for coll, db in ((FLOAT, False), (DB, True)):
        ee_env.catalog.collections[coll] = [_scene(tmp_path, n, db) for n in SCENES]
    yield ee_env
    for coll in (FLOAT, DB):
        ee_env.catalog.collections.pop(coll, None)


def sar(**kw):
    return SensorSpec(**{"collection": FLOAT, "bands": ("VV", "VH"), "scale_m": 10, "composite": "median", **kw})


def test_orbit_keeps_one_pass(s1, make_gee):
    gee = make_gee()
    asc = gee.fetch(ROI, JULY, sar(orbit="ascending"))
    desc = gee.fetch(ROI, JULY, sar(orbit="DESCENDING"))
    both = gee.fetch(ROI, JULY, sar())
    np.testing.assert_allclose(asc.chw[:, 0, 0], [0.20, 0.05], rtol=1e-6)
    np.testing.assert_allclose(desc.chw[:, 0, 0], [0.40, 0.09], rtol=1e-6)
    np.testing.assert_allclose(both.chw[:, 0, 0], [0.30, 0.07], rtol=1e-6)  # median of the two passes
    assert asc.frames[0]["scenes"] == ["S1A_asc_lin"] and asc.meta["s1_orbit_requested"] == "ascending"
    assert asc.meta["s1_iw_applied"] and not asc.meta["s1_iw_relaxed_on_empty"]
    expr = s1.requests("computePixels")[0]["body"]["expression"]
    assert invocations(expr, "ImageCollection.load") == [{"id": FLOAT}]
    equals = invocations(expr, "Filter.equals")
    assert {"leftField": "instrumentMode", "rightValue": "IW"} in equals
    assert {"leftField": "orbitProperties_pass", "rightValue": "ASCENDING"} in equals
    pols = [c["rightValue"] for c in invocations(expr, "Filter.listContains")]
    assert pols == ["VV", "VH"] and not invocations(expr, "Filter.greaterThan")  # no cloud filter for radar


def test_iw_filter_is_relaxed_only_when_allowed(s1, make_gee):
    gee = make_gee()
    got = gee.fetch(ROI, AUGUST, sar())  # August has only an EW scene
    assert got.frames[0]["scenes"] == ["S1A_ew_lin"]
    assert got.meta["s1_iw_requested"] and got.meta["s1_iw_relaxed_on_empty"] and not got.meta["s1_iw_applied"]
    with pytest.raises(ProviderError, match="IW swath only"):
        gee.fetch(ROI, AUGUST, sar(s1_relax_iw_on_empty=False))
    anyswath = gee.fetch(ROI, AUGUST, sar(s1_require_iw=False))
    assert anyswath.frames[0]["scenes"] == ["S1A_ew_lin"] and not anyswath.meta["s1_iw_requested"]


def test_linear_or_db_product(s1, make_gee):
    gee = make_gee()
    lin = gee.fetch(ROI, JULY, sar(orbit="ASCENDING"))
    db = gee.fetch(ROI, JULY, sar(orbit="ASCENDING", use_float_linear=False))  # the linear product named: dB read
    named = gee.fetch(ROI, JULY, sar(collection=DB, orbit="ASCENDING"))       # the dB product named: dB read
    assert lin.meta["s1_collection_used"] == FLOAT and db.meta["s1_collection_used"] == DB
    assert named.meta["s1_collection_used"] == DB
    np.testing.assert_allclose(db.chw[:, 0, 0], 10 * np.log10(lin.chw[:, 0, 0]), rtol=1e-5)
    np.testing.assert_array_equal(named.chw, db.chw)


def test_other_backends_refuse_scene_filters_they_cannot_apply():
    local = LocalProvider()
    for insist in ({"orbit": "ASCENDING"}, {"s1_relax_iw_on_empty": False}):
        with pytest.raises(ProviderError, match="backend='gee'"):
            local.fetch(ROI, JULY, sar(**insist))
    with pytest.raises(ProviderError, match="VV"):  # no filter insisted on: the files decide (none here)
        local.fetch(ROI, JULY, sar())
