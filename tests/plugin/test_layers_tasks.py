"""The files the faces write (engine.io), the styles of the layers made from them
(layers.py), the typed results and QgsTask plumbing (results.py, tasks.py), and the promise that a
cancelled or failed run leaves no file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio


def _grid(d=32, h=12, w=15, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(d, h, w)).astype(np.float32)
    g[:4] *= np.linspace(1, 6, 4)[:, None, None]
    return g


@pytest.mark.parametrize("shape", [(32, 12, 15), (300, 4, 5)])  # D < cells and D > cells
def test_principal_components_match_svd(shape):
    from rs_embed_qgis.engine.io import principal_components

    g = _grid(*shape)
    g[:, 0, 0] = np.nan  # an invalid cell stays NaN and does not disturb the others
    pcs, info = principal_components(g, 3)
    x = g.reshape(shape[0], -1).T.astype(np.float64)
    ok = np.isfinite(x).all(axis=1)
    xc = x[ok] - x[ok].mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    ref = xc @ vt[:3].T
    for i in range(3):
        if vt[i, np.argmax(np.abs(vt[i]))] < 0:
            ref[:, i] = -ref[:, i]
    got = pcs.reshape(3, -1).T
    assert np.isnan(got[0]).all()
    assert np.allclose(got[ok], ref, atol=1e-3)
    assert info["explained_variance_ratio"] == pytest.approx((s[:3] ** 2 / (s ** 2).sum()).tolist(), rel=1e-6)
    for (lo, hi), col in zip(info["stretch"], ref.T, strict=True):
        assert lo == pytest.approx(np.percentile(col, 2), rel=1e-3, abs=1e-3)
        assert hi == pytest.approx(np.percentile(col, 98), rel=1e-3, abs=1e-3)


def test_cosine_similarity_grid():
    from rs_embed_qgis.engine.errors import SpecError
    from rs_embed_qgis.layers import cosine_similarity_grid

    g = _grid()
    sim = cosine_similarity_grid(g, 3, 4)
    assert sim[3, 4] == pytest.approx(1.0)
    a, b = g[:, 3, 4], g[:, 7, 1]
    assert sim[7, 1] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-6)
    assert (sim <= 1 + 1e-6).all() and (sim >= -1 - 1e-6).all()
    with pytest.raises(SpecError, match="row=12"):
        cosine_similarity_grid(g, 12, 0)
    g[:, 2, 2] = np.nan
    with pytest.raises(SpecError, match="no valid embedding"):
        cosine_similarity_grid(g, 2, 2)


def test_float_geotiff_is_georeferenced_and_atomic(tmp_path):
    from rs_embed_qgis.engine.io import write_float_geotiff

    arr = _grid(4, 5, 6)[:3]
    out = write_float_geotiff(arr, "EPSG:32632", [100, 0, 500000, 0, -100, 5300000], tmp_path / "a.tif",
                              band_names=["pc1", "pc2", "pc3"], tags={"K": "v"})
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 32632 and tuple(src.transform)[:6] == (100, 0, 500000, 0, -100, 5300000)
        assert src.descriptions == ("pc1", "pc2", "pc3") and src.tags()["K"] == "v"
        assert np.array_equal(src.read(), arr)
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]


def test_pooled_geopackage(tmp_path, qgis_app):
    from qgis.core import QgsVectorLayer

    from rs_embed_qgis.engine.io import write_pooled_gpkg
    from rs_embed_qgis.layers import style_pooled

    vecs = [np.arange(5, dtype=np.float32), -np.arange(5, dtype=np.float32)]
    wkts = ["POLYGON((9 47,9.01 47,9.01 47.01,9 47.01,9 47))", "POLYGON((9.02 47,9.03 47,9.03 47.01,9.02 47))"]
    meta = {"model": "m", "random_weights": True, "temporal": {"mode": "year", "year": 2022},
            "weights": {"status": "random"}}
    p = write_pooled_gpkg(vecs, wkts, tmp_path / "p.gpkg", meta)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.gpkg"]
    lyr = QgsVectorLayer(f"{p}|layername=embeddings", "p", "ogr")
    assert lyr.isValid() and lyr.featureCount() == 2 and lyr.crs().authid() == "EPSG:4326"
    f = sorted(lyr.getFeatures(), key=lambda f: f["roi"])
    assert [f[1][f"e{i}"] for i in range(5)] == [-0.0, -1.0, -2.0, -3.0, -4.0]
    assert f[0]["start"] == "2022-01-01" and f[0]["end"] == "2023-01-01" and f[0]["random_weights"] == 1
    styled = QgsVectorLayer(f"{p}|layername=embeddings", "run", "ogr")
    style_pooled(styled, meta, "run")
    assert styled.metadata().abstract().startswith("RANDOM WEIGHTS")
    assert "RANDOM WEIGHTS" in styled.metadata().keywords()["rs_embed"]
    with pytest.raises(ValueError, match="2 vectors for 1 geometries"):
        write_pooled_gpkg(vecs, wkts[:1], tmp_path / "q.gpkg", meta)
    assert not (tmp_path / "q.gpkg").exists()


def test_layer_metadata_lists_the_run(qgis_app):
    from rs_embed_qgis.layers import layer_metadata

    meta = {"model": "prithvi", "family": "Prithvi-EO-2.0", "device": "cpu", "random_weights": False,
            "weights": {"status": "found", "path": "/w/prithvi.safetensors"},
            "temporal": {"mode": "range", "start": "2022-06-01", "end": "2022-09-01"},
            "sensor": {"collection": "S2", "bands": ["B2", "B3"], "scale_m": 30, "cloudy_pct": 20,
                       "composite": "median"},
            "output": {"mode": "grid", "scale_m": 60}, "timings": {"fetch_s": 1.5, "embed_s": 2.25}}
    md = layer_metadata(meta, "t")
    a = md.abstract()
    assert "RANDOM" not in a and "/w/prithvi.safetensors" in a and "[2022-06-01, 2022-09-01)" in a
    assert "B2, B3 at 30 m" in a and "grid at 60 m" in a and "embed_s 2.25" in a
    assert '"model": "prithvi"' in md.history()[0]


def test_embed_extent_cancelled_while_writing_removes_every_file(processing, tmp_path, monkeypatch):
    """A cancel arriving while the outputs are written wins: what was written is removed again."""
    from qgis.core import QgsProcessingFeedback

    from rs_embed_qgis.engine import io as engine_io

    feedback = QgsProcessingFeedback()
    real = engine_io.save_grid

    def save_then_cancel(*a, **kw):
        res = real(*a, **kw)
        assert Path(res["geotiff"]).exists() and Path(res["pca"]).exists()
        feedback.cancel()  # the user presses Cancel while the files are being written
        return res

    monkeypatch.setattr("rs_embed_qgis.processing.alg_embed_extent.save_grid", save_then_cancel)
    res = processing.run("rs_embed:embed_extent", {
        "EXTENT": "9.005,9.035,47.83,47.85 [EPSG:4326]", "MODEL": "mosaiks", "GRID_SCALE": 200,
        "MODEL_OPTIONS": '{"num_features": 16}', "OUTPUT": str(tmp_path / "out" / "g.tif"),
        "PCA": str(tmp_path / "out" / "g_pca.tif")}, feedback=feedback)
    assert not res.get("OUTPUT")
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def _similarity(tmp_path, x, y, on_finished):
    from rs_embed_qgis.engine.io import write_float_geotiff
    from rs_embed_qgis.tasks import SimilarityTask

    tif = write_float_geotiff(_grid(8, 4, 5), "EPSG:32632", [100, 0, 500000, 0, -100, 5300000],
                              tmp_path / "emb.tif")
    return SimilarityTask(str(tif), x, y, tmp_path / "out", "t", {"model": "m"}, on_finished=on_finished)


def test_task_results_are_typed_and_a_failing_handler_is_contained(tmp_path, qgis_app, qgis_iface):
    from rs_embed_qgis.engine.errors import SpecError
    from rs_embed_qgis.results import Cancelled, Done, Failed, present

    got = []
    outside = _similarity(tmp_path, 10, 10, got.append)      # far outside the grid
    assert outside.run() is False
    outside.finished(False)
    (failed,) = got
    assert isinstance(failed, Failed) and isinstance(failed.exception, SpecError)
    assert failed.error.startswith("SpecError: the clicked point") and "Traceback" in failed.details
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []

    inside = _similarity(tmp_path, 500150, 5299850, got.append)   # cell row 1, col 1
    assert inside.run() is True
    inside.finished(True)
    done = got[-1]
    assert isinstance(done, Done) and (done.data["row"], done.data["col"]) == (1, 1)
    shown, layers = present(done, qgis_iface)                     # adds the layer on the main thread
    assert shown is done and layers[0].renderer().type() == "singlebandpseudocolor"

    def broken():
        raise RuntimeError("layer could not be added")

    shown, layers = present(Done("similarity", "x", broken), qgis_iface)  # must not raise into QGIS
    assert isinstance(shown, Failed) and "layer could not be added" in shown.error and layers == []

    def handler_raises(_result):
        raise RuntimeError("the dock went away")

    task = _similarity(tmp_path, 500150, 5299850, handler_raises)
    task.cancel()                                                  # cancelled before it ran
    task.finished(False)                                           # logged, not raised
    seen = []
    task = _similarity(tmp_path, 500150, 5299850, seen.append)
    task.cancel()
    task.finished(False)
    assert seen == [Cancelled("similarity")]
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()


def test_pooled_point_feature_is_the_fetched_square(processing, tmp_path):
    """embed_features (the dock's pooled runs) stores each ROI's footprint: a point buffer is the
    square the provider fetched (half-side 200 m in its UTM zone), not a circle."""
    from osgeo import ogr
    from pyproj import Geod
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    from rs_embed_qgis.engine import PointBuffer
    from rs_embed_qgis.engine.embedding import roi_footprint

    from ._layers import engine_vectors

    pts = QgsVectorLayer("Point?crs=EPSG:4326", "p", "memory")
    f = QgsFeature()
    f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(9.025, 47.84)))
    pts.dataProvider().addFeatures([f])
    res = processing.run("rs_embed:embed_features", {
        "INPUT": pts, "BUFFER": 200, "MODEL": "mosaiks", "MODEL_OPTIONS": '{"num_features": 16}',
        "OUTPUT": str(tmp_path / "pool.gpkg")})
    ds = ogr.Open(res["OUTPUT"].split("|")[0])
    (feat,) = list(ds.GetLayer(0))
    geom = feat.GetGeometryRef()
    import shapely.wkt

    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(shapely.wkt.loads(geom.ExportToWkt()))[0])
    assert area == pytest.approx(400 ** 2, rel=0.06)  # the 400 m square, snapped out to whole 10 m pixels
    (emb,) = engine_vectors([PointBuffer(9.025, 47.84, 200)], num_features=16)
    fp = roi_footprint(emb)
    x0, y0, x1, y1 = fp["bounds"]
    assert (x1 - x0, y1 - y0) == pytest.approx((400, 400), abs=20)
    env = geom.GetEnvelope()  # the stored polygon is that footprint, in the layer's CRS
    from pyproj import Transformer

    t = Transformer.from_crs(fp["crs"], "EPSG:4326", always_xy=True)
    lon0, lat0 = t.transform(x0, y0)
    assert env[0] == pytest.approx(lon0, abs=1e-5) and env[2] == pytest.approx(lat0, abs=1e-5)
