"""The dock driven as a user would: draw on the map, pick a model, run, get layers.

The Embeddings tab runs the toolbox's algorithms (embed_extent, embed_features, inspect_patch);
these tests drive it through its widgets and check the files and layers that come back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

WAIT_MS = 90_000


def _pixel(canvas, lon, lat):
    """Screen position of a lon/lat on the canvas."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject
    from qgis.PyQt.QtCore import QPoint

    xf = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"),
                                canvas.mapSettings().destinationCrs(), QgsProject.instance())
    p = canvas.getCoordinateTransform().transform(xf.transform(QgsPointXY(lon, lat)))
    return QPoint(int(round(p.x())), int(round(p.y())))


def drag_rectangle(canvas, lonlat0, lonlat1):
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    vp = canvas.viewport()
    a, b = _pixel(canvas, *lonlat0), _pixel(canvas, *lonlat1)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, a)
    mid = (a + b) / 2
    QTest.mouseMove(vp, mid)
    QTest.mouseMove(vp, b)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, b)
    return a, b


def click(canvas, lon, lat):
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    QTest.mouseClick(canvas.viewport(), Qt.LeftButton, Qt.NoModifier, _pixel(canvas, lon, lat))


def written_files(folder: Path):
    return sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else []


def test_draw_rectangle_shows_roi_in_wgs84(dock, sample_canvas):
    from rs_embed_qgis.engine import BBox

    dock.ui.btnRect.click()
    assert sample_canvas.mapTool() is dock.rect_tool
    drag_rectangle(sample_canvas, (9.008, 47.848), (9.032, 47.832))
    assert len(dock.rois) == 1
    bbox = dock.rois[0][0]
    assert isinstance(bbox, BBox)
    # one screen pixel is ~5 m here: the drawn corners come back within 1e-4 degrees
    assert bbox.minlon == pytest.approx(9.008, abs=1e-4) and bbox.maxlon == pytest.approx(9.032, abs=1e-4)
    assert bbox.minlat == pytest.approx(47.832, abs=1e-4) and bbox.maxlat == pytest.approx(47.848, abs=1e-4)
    assert "EPSG:4326" in dock.ui.lblRoi.text() and "9.00" in dock.ui.lblRoi.text()
    assert dock.roi_band is not None and dock.roi_band.numberOfVertices() >= 4


def by_name(layers, suffix):
    (lyr,) = [lyr for lyr in layers if lyr.name().endswith(suffix)]
    return lyr


def test_run_grid_adds_pca_rgb_layer_on_the_roi(dock, sample_canvas, qtbot, tmp_path):
    import json

    from pyproj import Transformer
    from qgis.core import QgsProject

    e = dock.embed.ui
    dock.ui.btnRect.click()
    drag_rectangle(sample_canvas, (9.008, 47.848), (9.032, 47.832))
    e.cmbModel.setCurrentText("mosaiks")
    assert "not needed" in e.txtModelInfo.toPlainText()
    assert e.editBands.text() == "B4, B3, B2"  # pre-filled from the model's default sensor
    e.cmbOutputMode.setCurrentText("grid")
    e.spinGridScale.setValue(100)
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        e.btnRun.click()
        assert "Embed extent" in dock.embed.task.description()  # the toolbox's algorithm runs
    assert sig.args == ["embed", True]
    pca, emb = by_name(dock.added_layers, "PCA RGB"), by_name(dock.added_layers, "embedding")
    assert pca.crs().authid() == "EPSG:32632" and emb.crs().authid() == "EPSG:32632"
    assert pca.bandCount() == 3 and emb.bandCount() == 1024
    assert pca.renderer().type() == "multibandcolor"
    with rasterio.open(pca.source()) as src:  # the stretch the PCA was written with
        stretch = json.loads(src.tags()["RS_EMBED_PCA"])["stretch"]
    ce = pca.renderer().redContrastEnhancement()
    assert ce.minimumValue() == pytest.approx(stretch[0][0]) and ce.maximumValue() == pytest.approx(stretch[0][1])
    # the grid lands on the ROI (UTM 32N), to within one 100 m cell
    t = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x0, y0 = t.transform(9.008, 47.832)
    x1, y1 = t.transform(9.032, 47.848)
    ext = pca.extent()
    assert abs(ext.xMinimum() - min(x0, t.transform(9.008, 47.848)[0])) < 100
    assert abs(ext.yMaximum() - max(y1, t.transform(9.032, 47.848)[1])) < 100
    assert ext.xMaximum() > max(x1, t.transform(9.032, 47.832)[0]) - 100
    assert ext == emb.extent()
    # the run's metadata travels with the layer
    md = pca.metadata()
    assert "mosaiks" in md.abstract() and "[2022-06-01, 2022-09-01)" in md.abstract()
    assert "RANDOM" not in md.abstract()
    assert any("rs_embed run" in h for h in md.history())
    # both layers are in one group; the PCA one is visible, the 1024-band one hidden
    group = QgsProject.instance().layerTreeRoot().findGroup("RS Embed: mosaiks_2022-06-01_2022-09-01")
    assert group is not None
    assert group.findLayer(pca.id()).isVisible() and not group.findLayer(emb.id()).isVisible()
    with rasterio.open(emb.source()) as src:
        arr = src.read()
        assert np.isfinite(arr).all() and arr.std() > 0
    assert not [p for p in written_files(tmp_path / "out") if p.name.startswith(".")]  # no temp files left

    # similarity: click a cell of the grid with the map tool
    dock.ui.btnSimilarity.click()
    assert sample_canvas.mapTool() is dock.sim_tool
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        click(sample_canvas, 9.02, 47.84)
    assert sig.args == ["similarity", True]
    (sim,) = dock.added_layers
    assert sim.renderer().type() == "singlebandpseudocolor" and sim.bandCount() == 1
    r, c = dock.last_result.data["row"], dock.last_result.data["col"]
    with rasterio.open(sim.source()) as src:
        s = src.read(1)
        assert s[r, c] == pytest.approx(1.0, abs=1e-5)
        assert s.shape == arr.shape[1:] and np.nanmin(s) < 0.999
    x = arr.reshape(arr.shape[0], -1)
    ref = arr[:, r, c]
    expected = (ref @ x) / (np.linalg.norm(ref) * np.linalg.norm(x, axis=0))
    assert np.allclose(s.ravel(), expected, atol=1e-4)


def test_run_pooled_point_gives_geopackage_with_roi_geometry(dock, sample_canvas, qtbot):
    from qgis.core import QgsWkbTypes

    dock.ui.spinBuffer.setValue(300)
    dock.ui.btnPoint.click()
    click(sample_canvas, 9.02, 47.84)
    assert dock.rois[0][0].buffer_m == 300
    dock.embed.ui.cmbOutputMode.setCurrentText("pooled")
    dock.embed.ui.cmbPooling.setCurrentText("max")
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.ui.btnRun.click()
    assert sig.args == ["embed", True]
    (lyr,) = dock.added_layers
    assert lyr.crs().authid() == "EPSG:4326" and lyr.featureCount() == 1
    assert lyr.geometryType() == QgsWkbTypes.PolygonGeometry
    names = lyr.fields().names()
    assert "e0" in names and "e1023" in names and "model" in names
    f = next(lyr.getFeatures())
    assert f["model"] == "mosaiks"
    # the square of half-side 300 m around the point (in its UTM zone), centred on the click
    g = f.geometry()
    c = g.centroid().asPoint()
    assert c.x() == pytest.approx(9.02, abs=2e-4) and c.y() == pytest.approx(47.84, abs=2e-4)
    vec = np.array([f[f"e{i}"] for i in range(1024)])
    assert np.isfinite(vec).all() and vec.std() > 0
    assert "max" in lyr.metadata().abstract() and lyr.source().split("|")[0].endswith(".gpkg")


def test_canvas_extent_and_selected_features_rois(dock, sample_canvas, qgis_iface):
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    dock.ui.btnCanvas.click()
    (bbox, _), = dock.rois
    assert 8.97 < bbox.minlon < 9.0 and 9.04 < bbox.maxlon < 9.07
    vl = QgsVectorLayer("Polygon?crs=EPSG:3857", "fields", "memory")
    feats = []
    for lon in (1002000.0, 1004000.0):
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({lon} 6078000, {lon + 500} 6078000, {lon + 500} 6078500, {lon} 6078500, {lon} 6078000))"))
        feats.append(f)
    vl.dataProvider().addFeatures(feats)
    QgsProject.instance().addMapLayer(vl)
    dock.ui.cmbVectorLayer.setLayer(vl)
    dock.ui.btnSelected.click()  # nothing selected: a warning, ROI unchanged
    assert len(dock.rois) == 1
    assert any("selected" in m for m in qgis_iface.messageBar().get_messages(1))
    vl.selectAll()
    dock.ui.btnSelected.click()
    assert len(dock.rois) == 2
    minlons = sorted(sp.minlon for sp, _ in dock.rois)
    assert minlons == pytest.approx([x / 6378137 * 180 / np.pi for x in (1002000, 1004000)], abs=1e-6)
    assert "2 feature(s) of fields" in dock.ui.lblRoi.text()


def test_cancel_mid_run_leaves_no_file_and_no_layer(dock, sample_canvas, qtbot, tmp_path):
    from qgis.core import QgsProject

    dock.use_canvas_extent()
    dock.embed.ui.spinGridScale.setValue(50)
    n_layers = len(QgsProject.instance().mapLayers())
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        task = dock.embed.run()
        qtbot.waitUntil(lambda: task.progress() > 0, timeout=WAIT_MS)  # running in the worker
        dock.embed.ui.btnCancel.click()
    assert sig.args == ["cancelled", False]
    assert len(QgsProject.instance().mapLayers()) == n_layers
    assert written_files(tmp_path / "out") == []
    assert any("cancelled" in m for m in qgis_iface_messages(dock))


def qgis_iface_messages(dock):
    bar = dock.iface.messageBar()
    return [m for lvl in range(4) for m in bar.get_messages(lvl)]


def test_engine_error_shows_plain_message_and_adds_nothing(dock, sample_canvas, qtbot, tmp_path):
    from qgis.core import Qgis, QgsProject

    dock.use_canvas_extent()
    empty = tmp_path / "no_scenes_here"
    empty.mkdir()
    dock.embed.ui.fileDataFolder.setFilePath(str(empty))
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.run()
    assert sig.args == ["error", False]
    msgs = dock.iface.messageBar().get_messages(Qgis.Critical)
    assert msgs and "no_scenes_here" in msgs[-1] and "Traceback" not in msgs[-1]
    assert "ProviderError" in dock.embed.ui.txtReport.toPlainText()
    assert QgsProject.instance().mapLayers() == {}
    assert written_files(tmp_path / "out") == []


def test_bad_inputs_are_refused_before_any_task(dock, qgis_iface):
    from qgis.core import Qgis, QgsApplication

    e = dock.embed
    assert e.run() is None  # no ROI yet
    assert "no region" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    dock.use_canvas_extent()
    e.ui.dateStart.setDate(e.ui.dateEnd.date())  # empty window: refused by the algorithm's own check
    assert e.run() is None
    assert "2022-09-01" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    e.ui.dateStart.setDate(e.ui.dateStart.date().addMonths(-3))
    e.ui.editBands.setText(" , ")
    assert e.run() is None
    assert "band list is empty" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    assert QgsApplication.taskManager().countActiveTasks() == 0


def test_inspect_input_adds_rgb_layer_with_stats(dock, sample_canvas, qtbot):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    dock.set_roi_rectangle(QgsRectangle(9.005, 47.83, 9.035, 47.85), QgsCoordinateReferenceSystem("EPSG:4326"))
    dock.embed.ui.editBands.setText("B4, B3, B2, B8")
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.ui.btnInspect.click()
    assert sig.args == ["inspect", True]
    (lyr,) = dock.added_layers
    assert lyr.bandCount() == 3 and lyr.crs().authid() == "EPSG:32632"
    assert lyr.renderer().type() == "multibandcolor"
    rep = dock.last_result.data["report"]
    checks = rep["report"]  # the engine's inspect_provider_patch checks
    median = dict(zip(checks["bands"], checks["band_p50"], strict=True))
    assert set(median) == {"B4", "B3", "B2", "B8"}
    # reflectance x 10000: NIR brighter than red over vegetation in summer
    assert 0 < median["B4"] < median["B8"] < 10000
    text = dock.embed.ui.txtReport.toPlainText()
    assert "B8" in text and "median" in text
    assert dock.last_result.data["rgb"]["bands"] == ["B4", "B3", "B2"]
    # the layer is stretched to the 2-98 % range of the values it shows (raw reflectance)
    ce = lyr.renderer().redContrastEnhancement()
    assert [ce.minimumValue(), ce.maximumValue()] == pytest.approx(dock.last_result.data["rgb"]["limits"][0])
    assert isinstance(checks["issues"], list)
    assert ("no issue" in text) == (not checks["issues"])


def test_year_window_and_output_options_reach_the_request(dock):
    from rs_embed_qgis.engine import TemporalSpec

    e = dock.embed.ui
    dock.use_canvas_extent()
    e.rbYear.setChecked(True)
    e.spinYear.setValue(2021)
    assert not e.dateStart.isEnabled() and e.spinYear.isEnabled()
    e.cmbOutputMode.setCurrentText("pooled")
    assert not e.spinGridScale.isEnabled() and e.cmbPooling.isEnabled()
    e.editBands.setText("B8; B4")
    e.spinCloud.setValue(12)
    e.cmbComposite.setCurrentText("mosaic")
    req = dock.embed.request()  # what the algorithm the dock runs will ask the engine for
    assert req.temporal == TemporalSpec.year(2021)
    assert req.sensor.bands == ("B8", "B4") and req.sensor.cloudy_pct == 12 and req.sensor.composite == "mosaic"
    assert req.output.mode == "pooled" and req.backend == "local"
    assert req.device == "cpu"  # MOSAIKS needs no torch: "auto" would import it for nothing


def test_selected_features_run_gives_one_grid_per_feature(dock, qtbot):
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    vl = QgsVectorLayer("Polygon?crs=EPSG:4326", "parcels", "memory")
    feats = []
    for x0 in (9.006, 9.022):
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({x0} 47.832, {x0 + 0.01} 47.832, {x0 + 0.008} 47.842, {x0} 47.84, {x0} 47.832))"))
        feats.append(f)
    vl.dataProvider().addFeatures(feats)
    QgsProject.instance().addMapLayer(vl)
    vl.selectAll()
    dock.ui.cmbVectorLayer.setLayer(vl)
    dock.ui.btnSelected.click()
    dock.embed.ui.spinGridScale.setValue(100)
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.run()
    assert sig.args == ["embed", True]
    assert len(dock.added_layers) == 4
    names = sorted(lyr.name() for lyr in dock.added_layers)
    assert names[0].endswith("ROI 0 PCA RGB") and names[-1].endswith("ROI 1 embedding")
    pcas = [lyr for lyr in dock.added_layers if lyr.name().endswith("PCA RGB")]
    # each grid sits on its own feature (UTM 32N): the two do not overlap
    a, b = sorted((lyr.extent() for lyr in pcas), key=lambda e: e.xMinimum())
    assert a.xMaximum() <= b.xMinimum() + 100


def test_model_without_weights_refuses_then_runs_random_only_when_asked(dock, sample_canvas, qtbot):
    """A pretrained model whose checkpoint is missing fails with a plain message; ticking the
    random-weights box runs it, and the layer says RANDOM WEIGHTS."""
    from qgis.core import Qgis

    dock.ui.spinBuffer.setValue(300)
    dock.ui.btnPoint.click()
    click(sample_canvas, 9.02, 47.84)
    e = dock.embed.ui
    e.cmbModel.setCurrentText("remoteclip")
    e.cmbOutputMode.setCurrentText("pooled")
    assert "missing" in e.txtModelInfo.toPlainText()
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        e.btnRun.click()
    assert sig.args[1] is False
    msg = dock.iface.messageBar().get_messages(Qgis.Critical)[-1]
    assert "remoteclip" in msg.lower() and "Traceback" not in msg

    e.chkRandomWeights.setChecked(True)
    assert "RANDOM" in e.txtModelInfo.toPlainText()
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        e.btnRun.click()
    assert sig.args == ["embed", True]
    (lyr,) = dock.added_layers
    assert "RANDOM WEIGHTS" in lyr.metadata().abstract()
    f = next(lyr.getFeatures())
    assert f["model"] == "remoteclip" and "e511" in lyr.fields().names()


def _tree(project):
    """What a user sees of the project: per layer its group, name, visibility, renderer and bands."""
    from qgis.core import QgsRasterLayer

    rows = []
    for node in project.layerTreeRoot().findLayers():
        lyr = node.layer()
        parent = node.parent().name() if node.parent() is not project.layerTreeRoot() else ""
        rows.append((parent, lyr.name(), node.isVisible(), lyr.renderer().type(),
                     lyr.bandCount() if isinstance(lyr, QgsRasterLayer) else None, lyr.crs().authid()))
    return rows


def test_the_toolbox_and_the_dock_add_the_same_layers(processing, dock, qtbot, tmp_path):
    """One face path: embed_extent run from the toolbox (outputs opened after running) and the same
    region run from the dock end with the same files and the same layers, styled and grouped alike."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRectangle

    project = QgsProject.instance()
    processing.runAndLoadResults("rs_embed:embed_extent", {
        "EXTENT": "9.01,9.03,47.833,47.846 [EPSG:4326]", "MODEL": "mosaiks", "START": "2022-06-01",
        "END": "2022-09-01", "GRID_SCALE": 200, "OUTPUT": str(tmp_path / "tb.tif"),
        "PCA": str(tmp_path / "tb_pca.tif")})
    toolbox = _tree(project)
    ce = project.mapLayersByName(toolbox[0][1])[0].renderer().redContrastEnhancement()
    toolbox_stretch = (ce.minimumValue(), ce.maximumValue())
    project.removeAllMapLayers()
    project.layerTreeRoot().removeAllChildren()

    dock.set_roi_rectangle(QgsRectangle(9.01, 47.833, 9.03, 47.846), QgsCoordinateReferenceSystem("EPSG:4326"))
    dock.embed.ui.spinGridScale.setValue(200)
    with qtbot.waitSignal(dock.taskFinished, timeout=WAIT_MS) as sig:
        dock.embed.run()
    assert sig.args == ["embed", True]
    docked = _tree(project)
    assert docked == toolbox
    assert [g for g, *_ in docked] == ["RS Embed: mosaiks_2022-06-01_2022-09-01"] * 2
    assert [(name.endswith("PCA RGB"), visible) for _, name, visible, *_ in docked] == [(True, True), (False, False)]
    ce = project.mapLayersByName(docked[0][1])[0].renderer().redContrastEnhancement()
    assert (ce.minimumValue(), ce.maximumValue()) == pytest.approx(toolbox_stretch)
    # the same files: the dock's run wrote what the toolbox's did
    files = {p.name.endswith("_pca.tif"): p for p in (tmp_path / "out").glob("*.tif")}
    for is_pca, theirs in ((False, tmp_path / "tb.tif"), (True, tmp_path / "tb_pca.tif")):
        with rasterio.open(files[is_pca]) as a, rasterio.open(theirs) as b:
            assert a.transform == b.transform and a.crs == b.crs
            np.testing.assert_array_equal(a.read(), b.read())


def test_the_arithmetic_choice_reaches_the_models_options(dock):
    """The fast path is opt-in: fp32 adds nothing; another choice becomes the model's
    ``precision`` option (the engine records in each output's metadata what ran)."""
    e = dock.embed.ui
    dock.use_canvas_extent()
    e.cmbModel.setCurrentText("remoteclip")
    e.chkRandomWeights.setChecked(True)
    assert e.cmbPrecision.currentText() == "fp32"
    assert "precision" not in dock.embed.request().model_options
    e.cmbPrecision.setCurrentText("int8")
    req = dock.embed.request()
    assert req.model_options["precision"] == "int8" and req.model_options["allow_random_weights"] is True
