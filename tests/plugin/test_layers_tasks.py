"""The files the tasks write (engine.io) and the QGIS layers made from them (layers.py), and the
QgsTask plumbing in tasks.py."""
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
    from rs_embed_qgis.layers import pooled_layer

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
    styled = pooled_layer(str(p), meta, "run")
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


def _request(tmp_sample, spatials, mode="grid"):
    from rs_embed_qgis.engine import OutputSpec, TemporalSpec
    from rs_embed_qgis.engine.pipeline import EmbedRequest

    return EmbedRequest(model="mosaiks", spatials=spatials, temporal=TemporalSpec.range("2022-06-01", "2022-09-01"),
                        output=OutputSpec.grid(scale_m=100) if mode == "grid" else OutputSpec.pooled(),
                        backend="local", device="cpu", model_options={"num_features": 16},
                        provider_options={"root": str(tmp_sample)})


def test_task_cancelled_after_writing_removes_every_file(tmp_path, sample_dir, qgis_app):
    """Cancel arriving while outputs are written: the files already written are deleted."""
    from rs_embed_qgis.engine import BBox
    from rs_embed_qgis.tasks import EmbedTask

    rois = [BBox(9.005, 47.83, 9.015, 47.838), BBox(9.02, 47.835, 9.03, 47.845)]
    calls = {}
    task = EmbedTask(_request(sample_dir, rois), tmp_path / "out", "t",
                     on_done=lambda t: calls.setdefault("done", 1), on_error=lambda t, e: calls.setdefault("err", e),
                     on_cancel=lambda t: calls.setdefault("cancel", 1))
    real = task._check_cancel
    n = {"k": 0}

    def cancel_on_second_roi():
        n["k"] += 1
        if (tmp_path / "out").exists() and any((tmp_path / "out").glob("*_roi0.tif")):
            task.cancel()
        real()

    task._check_cancel = cancel_on_second_roi
    assert task.run() is False
    assert n["k"] >= 2 and task.exception is None
    assert list((tmp_path / "out").iterdir()) == []
    task.finished(False)
    assert calls == {"cancel": 1}


def test_task_errors_reach_the_callback_and_a_failing_callback_is_contained(tmp_path, qgis_app):
    from rs_embed_qgis.engine import BBox
    from rs_embed_qgis.engine.errors import ProviderError
    from rs_embed_qgis.tasks import EmbedTask

    empty = tmp_path / "empty"
    empty.mkdir()
    errors = []
    task = EmbedTask(_request(empty, [BBox(9.005, 47.83, 9.015, 47.838)]), tmp_path / "out", "t",
                     on_done=lambda t: None, on_error=lambda t, e: errors.append(e))
    assert task.run() is False
    assert isinstance(task.exception, ProviderError) and "Traceback" in task.details
    task.finished(False)
    assert errors == [task.exception]

    def broken(_t):
        raise RuntimeError("layer could not be added")

    ok_task = EmbedTask(_request(empty, [BBox(9.005, 47.83, 9.015, 47.838)]), tmp_path / "out", "t",
                        on_done=broken, on_error=lambda t, e: errors.append(e))
    ok_task.finished(True)  # must not raise into QGIS
    assert isinstance(errors[-1], RuntimeError)


def test_pooled_task_writes_one_feature_per_roi(tmp_path, sample_dir, qgis_app):
    from rs_embed_qgis.engine import BBox, PointBuffer
    from rs_embed_qgis.tasks import EmbedTask

    rois = [BBox(9.005, 47.83, 9.015, 47.838), PointBuffer(9.025, 47.84, 200)]
    task = EmbedTask(_request(sample_dir, rois, "pooled"), tmp_path / "out", "pool",
                     on_done=lambda t: None, on_error=lambda t, e: None)
    assert task.run() is True, task.details
    (item,) = task.result["items"]
    assert item["n"] == 2 and Path(item["gpkg"]).exists()
    from osgeo import ogr

    ds = ogr.Open(item["gpkg"])
    lyr = ds.GetLayer(0)
    assert lyr.GetFeatureCount() == 2
    geoms = [f.GetGeometryRef().Clone() for f in lyr]
    assert geoms[0].GetEnvelope() == pytest.approx((9.005, 9.015, 47.83, 47.838))
    # the point buffer is the square the provider fetched (half-side 200 m in its UTM zone), not a circle
    from pyproj import Geod

    from rs_embed_qgis.engine.geo import roi_footprint

    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(__import__("shapely.wkt").wkt.loads(geoms[1].ExportToWkt()))[0])
    assert area == pytest.approx(400 ** 2, rel=0.02)
    assert geoms[1].Equals(ogr.CreateGeometryFromWkb(roi_footprint(rois[1]).wkb()))
