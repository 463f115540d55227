"""Embed features: points/polygons in any CRS -> vectors as attributes and grid GeoTIFFs."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ._layers import (
    BOXES_4326,
    MOSAIKS_32,
    POINTS_4326,
    boxes_layer,
    engine_vectors,
    feedback_cancelling_after,
    points_layer,
    vector_rows,
    write_gpkg,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = {"MODEL": "mosaiks", "START": "2022-06-01", "END": "2022-09-01", "MODEL_OPTIONS": MOSAIKS_32}


def test_points_give_pooled_vectors_keyed_by_fid(processing, tmp_path):
    from qgis.core import QgsPointXY, QgsVectorLayer

    from rs_embed_qgis.engine import PointBuffer

    lyr = points_layer("EPSG:4326")
    out = tmp_path / "emb.gpkg"
    res = processing.run("rs_embed:embed_features", dict(
        BASE, INPUT=lyr, BUFFER=300, BUFFER_FIELD="buf", NAME_FIELD="label", OUTPUT=str(out)))
    assert res["COUNT"] == 3 and res["SKIPPED"] == 0
    vl = QgsVectorLayer(res["OUTPUT"], "out", "ogr")
    assert vl.isValid() and vl.crs().authid() == "EPSG:4326"
    names = vl.fields().names()
    assert names[names.index("input_fid"):names.index("input_fid") + 3] == ["input_fid", "name", "model"]
    assert [n for n in names if n.startswith("e") and n[1:].isdigit()] == [f"e{i}" for i in range(32)]
    rows = sorted(vector_rows(vl), key=lambda r: r["input_fid"])
    in_fids = sorted(f.id() for f in lyr.getFeatures())
    assert [r["input_fid"] for r in rows] == in_fids
    assert [r["name"] for r in rows] == [p[2] for p in POINTS_4326]
    # values: the engine's own pooled MOSAIKS vectors for the same ROIs (per-point buffers)
    ref = engine_vectors([PointBuffer(lon, lat, buf) for lon, lat, _, buf in POINTS_4326])
    for r, e in zip(rows, ref, strict=True):
        got = np.array([r[f"e{i}"] for i in range(32)])
        np.testing.assert_allclose(got, e.array, rtol=1e-5, atol=1e-7)
        assert r["model"] == "mosaiks"
    # geometry: the ROI footprint (square of ~2 x buffer) around its point, in the layer CRS
    for r, (lon, lat, _, buf) in zip(rows, POINTS_4326, strict=True):
        g = r["_geom"]
        assert g.contains(QgsPointXY(lon, lat))
        w_m = (g.boundingBox().width()) * 111320 * np.cos(np.radians(lat))
        assert 2 * buf - 25 < w_m < 2 * buf + 45


def test_polygons_in_3857_are_reprojected_and_grids_written(processing, tmp_path):
    from qgis.core import QgsVectorLayer

    from rs_embed_qgis.engine import BBox, OutputSpec

    lyr = boxes_layer("EPSG:3857")
    grids = tmp_path / "grids"
    res = processing.run("rs_embed:embed_features", dict(
        BASE, INPUT=lyr, NAME_FIELD="label", POOLING="max", GRID_SCALE=100,
        OUTPUT="TEMPORARY_OUTPUT", GRID_FOLDER=str(grids)))
    vl = res["OUTPUT"]
    if isinstance(vl, str):
        vl = QgsVectorLayer(vl, "o", "ogr")
    assert vl.crs().authid() == "EPSG:3857"  # output geometry in the input layer's CRS
    rows = sorted(vector_rows(vl), key=lambda r: r["input_fid"])
    spatials = [BBox(x0, y0, x1, y1) for x0, y0, x1, y1, _ in BOXES_4326]
    ref = engine_vectors(spatials, pooling="max")
    for r, e in zip(rows, ref, strict=True):
        np.testing.assert_allclose([r[f"e{i}"] for i in range(32)], e.array, rtol=1e-4, atol=1e-6)
    files = sorted(p.name for p in grids.iterdir())
    assert files == ["lake.tif", "north_farm.tif"]  # named after the field, made file-safe
    gref = engine_vectors(spatials, output=OutputSpec.grid(scale_m=100))
    with rasterio.open(grids / "north_farm.tif") as src:
        assert src.crs.to_epsg() == 32632 and src.count == 32 and src.res == (100.0, 100.0)
        np.testing.assert_allclose(src.read(), gref[0].array, rtol=1e-4, atol=1e-6)
        assert list(src.transform)[:6] == pytest.approx(gref[0].meta["transform"])


def test_grid_names_unique_and_no_vector_needed(processing, tmp_path):
    lyr = points_layer("EPSG:4326")
    grids = tmp_path / "g"
    res = processing.run("rs_embed:embed_features", dict(
        BASE, INPUT=lyr, BUFFER=200, NAME_FIELD="label", GRID_SCALE=200, OUTPUT=None,
        GRID_FOLDER=str(grids)))
    assert "OUTPUT" not in res or not res["OUTPUT"]
    assert sorted(p.name for p in grids.iterdir()) == ["field_A.tif", "field_A_2.tif", "field_B.tif"]


def test_invalid_and_empty_geometries_skip_or_fail(processing, tmp_path):
    from qgis.core import QgsProcessingException

    bowtie = "POLYGON((1000000 6080000, 1001000 6081000, 1001000 6080000, 1000000 6081000, 1000000 6080000))"
    lyr = boxes_layer("EPSG:3857", wkt_extra=[(bowtie, "bowtie")])
    res = processing.run("rs_embed:embed_features", dict(BASE, INPUT=lyr, OUTPUT="TEMPORARY_OUTPUT"))
    assert res["COUNT"] == 2 and res["SKIPPED"] == 1
    with pytest.raises(QgsProcessingException, match=r"feature 3: invalid geometry"):
        processing.run("rs_embed:embed_features", dict(
            BASE, INPUT=lyr, INVALID_GEOMETRY="fail", OUTPUT=str(tmp_path / "x.gpkg")))
    assert not (tmp_path / "x.gpkg").exists()
    pts = points_layer("EPSG:4326", extra=[(None, None, "nowhere", 100.0)])
    res = processing.run("rs_embed:embed_features", dict(BASE, INPUT=pts, OUTPUT="TEMPORARY_OUTPUT"))
    assert res["COUNT"] == 3 and res["SKIPPED"] == 1
    with pytest.raises(QgsProcessingException, match="empty geometry"):
        processing.run("rs_embed:embed_features", dict(BASE, INPUT=pts, INVALID_GEOMETRY="fail",
                                                       OUTPUT="TEMPORARY_OUTPUT"))


def test_empty_layer_fails_clearly(processing):
    from qgis.core import QgsProcessingException, QgsVectorLayer

    empty = QgsVectorLayer("Point?crs=EPSG:4326", "nothing here", "memory")
    with pytest.raises(QgsProcessingException, match="no features"):
        processing.run("rs_embed:embed_features", dict(BASE, INPUT=empty, OUTPUT="TEMPORARY_OUTPUT"))


def test_feature_outside_data_skipped_only_when_asked(processing):
    from qgis.core import QgsProcessingException

    pts = points_layer("EPSG:4326", extra=[(10.5, 48.0, "far away", 100.0)])
    with pytest.raises(QgsProcessingException, match="outside the local data"):
        processing.run("rs_embed:embed_features", dict(BASE, INPUT=pts, OUTPUT="TEMPORARY_OUTPUT"))
    res = processing.run("rs_embed:embed_features", dict(BASE, INPUT=pts, SKIP_FAILED=True,
                                                         OUTPUT="TEMPORARY_OUTPUT"))
    assert res["COUNT"] == 3 and res["SKIPPED"] == 1


def test_cancel_leaves_no_outputs(processing, tmp_path):
    lyr = points_layer("EPSG:4326")
    fb = feedback_cancelling_after(2)
    out, grids = tmp_path / "c.gpkg", tmp_path / "cg"
    res = processing.run("rs_embed:embed_features", dict(
        BASE, INPUT=lyr, OUTPUT=str(out), GRID_FOLDER=str(grids)), feedback=fb)
    assert fb.isCanceled()
    assert not out.exists()
    assert not grids.exists()  # made by this run, removed again with the staging folder
    assert not res.get("COUNT")


def test_embed_features_from_qgis_process(tmp_path):
    src = write_gpkg(points_layer("EPSG:4326"), tmp_path / "points.gpkg")
    out = tmp_path / "qp_emb.gpkg"
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "qgis_process.sh"), "run", "rs_embed:embed_features", "--",
         f"INPUT={src}", "BUFFER=300", "NAME_FIELD=label", "MODEL=mosaiks", "START=2022-06-01",
         "END=2022-09-01", f"MODEL_OPTIONS={MOSAIKS_32}", f"OUTPUT={out}",
         f"GRID_FOLDER={tmp_path / 'qp_grids'}", "GRID_SCALE=100"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile")))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    import sqlite3

    con = sqlite3.connect(out)
    table = con.execute("select table_name from gpkg_contents").fetchone()[0]
    cols = [c[1] for c in con.execute(f'pragma table_info("{table}")')]
    rows = con.execute(f'select input_fid, name, model, e0, e31 from "{table}" order by input_fid').fetchall()
    srs = con.execute("select srs_id from gpkg_geometry_columns").fetchone()[0]
    con.close()
    assert {"input_fid", "name", "model", "e0", "e31"} <= set(cols) and "e32" not in cols
    assert [r[1] for r in rows] == [p[2] for p in POINTS_4326] and srs == 4326
    assert all(r[2] == "mosaiks" and np.isfinite(r[3]) for r in rows)
    assert sorted(p.name for p in (tmp_path / "qp_grids").iterdir()) == [
        "field_A.tif", "field_A_2.tif", "field_B.tif"]


def test_wide_vectors_in_geopackage_columns_fail_before_writing(processing, tmp_path):
    """2048 dims do not fit GeoPackage columns: a clear error, and nothing written."""
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="VECTOR_LAYOUT=json"):
        processing.run("rs_embed:embed_features", dict(
            BASE, MODEL_OPTIONS='{"num_features": 2048}', INPUT=points_layer(),
            OUTPUT=str(tmp_path / "w.gpkg")))
    assert not (tmp_path / "w.gpkg").exists()


def test_wide_vectors_as_one_json_field(processing, tmp_path):
    import json as _json

    from qgis.core import QgsVectorLayer

    res = processing.run("rs_embed:embed_features", dict(
        BASE, MODEL_OPTIONS='{"num_features": 2048}', INPUT=points_layer(), VECTOR_LAYOUT="json",
        OUTPUT=str(tmp_path / "j.gpkg")))
    vl = QgsVectorLayer(res["OUTPUT"], "j", "ogr")
    assert vl.isValid() and vl.featureCount() == 3
    rows = vector_rows(vl)
    vec = _json.loads(rows[0]["embedding"])
    assert len(vec) == 2048 and all(np.isfinite(vec))
