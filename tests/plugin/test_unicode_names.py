"""Names in any script work the same in every entry point (issue 17): "Zürich", "Köln" as ROI
names in the toolbox's export and embed_features, in the dock's folders and layer names. File
names are made safe (letters of any script kept); the names as typed stay in manifests and
attributes."""
from __future__ import annotations

import json

import rasterio

from ._layers import MOSAIKS_32, points_layer

BASE = {"START": "2022-06-01", "END": "2022-09-01", "MODEL_OPTIONS": MOSAIKS_32}
NAMES = ["Zürich", "Köln", "Köln"]  # a repeat too


def _named_points():
    lyr = points_layer("EPSG:4326")
    for f, name in zip(lyr.getFeatures(), NAMES, strict=True):
        lyr.dataProvider().changeAttributeValues({f.id(): {0: name}})
    return lyr


def test_toolbox_export_batch_keeps_unicode_names(processing, tmp_path):
    out = tmp_path / "Ausgabe für Köln"
    res = processing.run("rs_embed:export_batch", dict(
        BASE, MODELS=["mosaiks"], INPUT=_named_points(), BUFFER=200, NAME_FIELD="label", OUTPUT_FOLDER=str(out)))
    assert res["COUNT"] == 3 and res["FAILED"] == 0
    assert sorted(p.name for p in out.glob("*.npz")) == ["Köln.npz", "Köln_2.npz", "Zürich.npz"]
    run = json.loads((out / "export_run.json").read_text(encoding="utf-8"))
    assert run["names"] == ["Zürich", "Köln", "Köln_2"] and run["status"] == "complete"
    assert json.loads((out / "Zürich.json").read_text(encoding="utf-8"))["name"] == "Zürich"


def test_toolbox_embed_features_keeps_unicode_names(processing, tmp_path):
    grids = tmp_path / "grids"
    res = processing.run("rs_embed:embed_features", dict(
        BASE, MODEL="mosaiks", INPUT=_named_points(), BUFFER=200, NAME_FIELD="label", GRID_SCALE=200,
        GRID_FOLDER=str(grids), OUTPUT="memory:"))
    lyr = res["OUTPUT"]  # processing.run hands back the memory layer itself
    assert [f["name"] for f in lyr.getFeatures()] == NAMES  # the attribute, as typed
    assert sorted(p.name for p in grids.iterdir()) == ["Köln.tif", "Köln_2.tif", "Zürich.tif"]
    with rasterio.open(grids / "Zürich.tif") as src:
        assert json.loads(src.tags()["RS_EMBED_META"])["name"] == "Zürich"


def test_dock_writes_into_a_unicode_folder_and_names_files_from_a_unicode_layer(dock, qtbot, tmp_path):
    from qgis.core import QgsCoordinateReferenceSystem, QgsPointXY, QgsRectangle

    out = tmp_path / "Résultats Zürich"
    dock.embed.ui.fileOutDir.setFilePath(str(out))
    dock.set_roi_rectangle(QgsRectangle(9.008, 47.832, 9.032, 47.848), QgsCoordinateReferenceSystem("EPSG:4326"))
    dock.embed.ui.cmbModel.setCurrentText("mosaiks")
    dock.embed.ui.cmbOutputMode.setCurrentText("grid")
    dock.embed.ui.spinGridScale.setValue(200)
    with qtbot.waitSignal(dock.taskFinished, timeout=90_000) as sig:
        dock.embed.run()
    assert sig.args == ["embed", True]
    pca, emb = dock.added_layers
    for lyr in (pca, emb):  # a user's layer names, with a slash
        lyr.setName("Köln / Süd " + lyr.name()[-3:])
    with qtbot.waitSignal(dock.taskFinished, timeout=90_000) as sig:
        dock.similarity_at(QgsPointXY(9.02, 47.84), QgsCoordinateReferenceSystem("EPSG:4326"))
    assert sig.args == ["similarity", True]
    sims = [p.name for p in out.glob("*_sim_*.tif")]
    assert len(sims) == 1 and sims[0].startswith("Köln_Süd_"), sims
