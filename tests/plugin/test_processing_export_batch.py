"""Export batch: ROIs x models -> export folder with manifests, resumable."""
import json

import numpy as np
import pytest

from ._layers import (
    MOSAIKS_32,
    POINTS_4326,
    boxes_layer,
    engine_vectors,
    feedback_cancelling_after,
    points_layer,
)

BASE = {"MODELS": ["mosaiks"], "START": "2022-06-01", "END": "2022-09-01", "MODEL_OPTIONS": MOSAIKS_32}


def _emb(npz_path, model="mosaiks"):
    with np.load(npz_path) as z:
        keys = [k for k in z.files if k.startswith("emb") and model in k]
        assert len(keys) == 1, z.files
        return z[keys[0]]


def test_export_folder_values_manifests_and_resume(processing, tmp_path):
    from rs_embed_qgis.engine import PointBuffer

    out = tmp_path / "export"
    params = dict(BASE, INPUT=points_layer("EPSG:4326"), BUFFER=300, BUFFER_FIELD="buf",
                  NAME_FIELD="label", OUTPUT_FOLDER=str(out))
    res = processing.run("rs_embed:export_batch", params)
    assert res["COUNT"] == 3 and res["FAILED"] == 0
    stems = ["field_A", "field_B", "field_A_2"]
    for s in stems:
        assert (out / f"{s}.npz").exists() and (out / f"{s}.json").exists()
    ref = engine_vectors([PointBuffer(lon, lat, buf) for lon, lat, _, buf in POINTS_4326])
    for s, e in zip(stems, ref, strict=True):
        np.testing.assert_allclose(_emb(out / f"{s}.npz"), e.array, rtol=1e-5, atol=1e-7)
    run = json.loads((out / "export_run.json").read_text())
    assert res["MANIFEST"] == str(out / "export_run.json")
    assert run["status"] == "complete" and run["n_items"] == 3
    # resume: a second run finds every ROI done and rewrites nothing
    mtimes = {s: (out / f"{s}.npz").stat().st_mtime_ns for s in stems}
    res2 = processing.run("rs_embed:export_batch", params)
    assert res2["COUNT"] == 3
    assert json.loads((out / "export_run.json").read_text())["summary"]["resumed"] == 3
    assert {s: (out / f"{s}.npz").stat().st_mtime_ns for s in stems} == mtimes


def test_export_polygons_in_3857_grid_mode(processing, tmp_path):
    from rs_embed_qgis.engine import BBox, OutputSpec

    from ._layers import BOXES_4326

    out = tmp_path / "gx"
    res = processing.run("rs_embed:export_batch", dict(
        BASE, INPUT=boxes_layer("EPSG:3857"), NAME_FIELD="label", OUTPUT_MODE="grid", GRID_SCALE=100,
        SAVE_INPUTS=False, OUTPUT_FOLDER=str(out)))
    assert res["COUNT"] == 2
    ref = engine_vectors([BBox(*b[:4]) for b in BOXES_4326], output=OutputSpec.grid(scale_m=100))
    np.testing.assert_allclose(_emb(out / "north_farm.npz"), ref[0].array, rtol=1e-4, atol=1e-6)


def test_cancel_keeps_complete_items_only_then_resume_finishes(processing, tmp_path):
    out = tmp_path / "cx"
    params = dict(BASE, INPUT=points_layer("EPSG:4326"), NAME_FIELD="label", CHUNK_SIZE=1,
                  OUTPUT_FOLDER=str(out))
    fb = feedback_cancelling_after(3)
    processing.run("rs_embed:export_batch", params, feedback=fb)
    assert fb.isCanceled()
    done = sorted(p.name for p in out.glob("*.npz"))
    assert len(done) < 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    res = processing.run("rs_embed:export_batch", params)
    assert res["COUNT"] == 3 and len(list(out.glob("*.npz"))) == 3


def test_export_unknown_name_field_fails(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException):
        processing.run("rs_embed:export_batch", dict(
            BASE, INPUT=points_layer(), NAME_FIELD="nope", OUTPUT_FOLDER=str(tmp_path / "n")))


def test_export_geotiff_grids_and_format_mismatch(processing, tmp_path):
    import rasterio
    from qgis.core import QgsProcessingException

    from rs_embed_qgis.engine import BBox, OutputSpec

    from ._layers import BOXES_4326

    out = tmp_path / "tifs"
    res = processing.run("rs_embed:export_batch", dict(
        BASE, INPUT=boxes_layer("EPSG:3857"), NAME_FIELD="label", OUTPUT_MODE="grid", GRID_SCALE=100,
        FORMAT="geotiff", SAVE_INPUTS=False, OUTPUT_FOLDER=str(out)))
    assert res["COUNT"] == 2
    ref = engine_vectors([BBox(*b[:4]) for b in BOXES_4326], output=OutputSpec.grid(scale_m=100))
    tifs = sorted(out.glob("north_farm*.tif"))
    assert len(tifs) == 1, sorted(p.name for p in out.iterdir())
    with rasterio.open(tifs[0]) as src:
        assert src.crs.to_epsg() == 32632 and src.count == 32
        np.testing.assert_allclose(src.read(), ref[0].array, rtol=1e-4, atol=1e-6)
    with pytest.raises(QgsProcessingException, match="geotiff"):
        processing.run("rs_embed:export_batch", dict(
            BASE, INPUT=points_layer(), FORMAT="geotiff", OUTPUT_FOLDER=str(tmp_path / "bad")))
