"""The dock's Super-resolution and Forecast tabs: Run -> QgsProcessingAlgRunnerTask -> layers."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("qgis.core")

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from qgis.core import (  # noqa: E402
    Qgis,
    QgsApplication,
    QgsProject,
    QgsRasterLayer,
    QgsRasterLayerTemporalProperties,
)
from qgis.PyQt.QtCore import Qt  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from rs_embed_qgis.engine.forecast.data import synthetic_minicube  # noqa: E402


@pytest.fixture(autouse=True)
def _clean(qgis_app, qgis_iface, clean_settings, qtbot):
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
    qgis_iface.messageBar().clear_messages()
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=60000)
    torch.set_num_threads(n)
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


def _s2(path, h=20, w=20):
    names = ["B2", "B3", "B4", "B8"]
    data = (np.random.default_rng(3).random((4, h, w)) * 3000 + 100).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint16",
                       crs="EPSG:32632", transform=from_origin(500000, 5300000, 10, 10)) as d:
        d.write(data)
        for i, n in enumerate(names, 1):
            d.set_band_description(i, n)
    return path


def _messages(iface):
    bar = iface.messageBar()
    return [m for lvl in range(4) for m in bar.get_messages(lvl)]


def _rasters():
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsRasterLayer)]


def test_dock_has_both_tabs(qgis_iface):
    from rs_embed_qgis.gui.dock import RsEmbedDock
    from rs_embed_qgis.gui.forecast_tab import ForecastTab
    from rs_embed_qgis.gui.superres_tab import SuperResTab

    d = RsEmbedDock(qgis_iface)
    try:
        titles = [d.ui.tabs.tabText(i) for i in range(d.ui.tabs.count())]
        assert "Super-resolution" in titles and "Forecast" in titles
        assert isinstance(d.tool_tabs["superres"], SuperResTab)
        assert isinstance(d.tool_tabs["forecast"], ForecastTab)
    finally:
        d.cleanup()
        d.deleteLater()


def test_superres_tab_bicubic_adds_a_1m_layer(qgis_iface, qtbot, tmp_path):
    from rs_embed_qgis.gui.superres_tab import SuperResTab

    src = QgsRasterLayer(str(_s2(tmp_path / "s2.tif")), "s2 scene", "gdal")
    assert src.isValid()
    QgsProject.instance().addMapLayer(src)
    tab = SuperResTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.cmbLayer.setLayer(src)
    tab.set_method("bicubic")
    assert not tab.fileWeights.isEnabled() and not tab.lblRandom.isVisibleTo(tab)
    tab.spinTile.setValue(16)
    tab.spinOverlap.setValue(4)
    tab.cmbDevice.setCurrentText("cpu")
    out = tmp_path / "out" / "sr.tif"
    tab.fileOut.setFilePath(str(out))
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
        assert not tab.btnRun.isEnabled() and tab.btnCancel.isEnabled()
    assert sig.args == [True], _messages(qgis_iface)
    qtbot.waitUntil(lambda: len(_rasters()) == 2, timeout=5000)
    lyr = [x for x in _rasters() if x is not src][0]
    assert lyr.source() == str(out) and lyr.name() == "s2 scene 1 m (bicubic)"
    assert lyr.crs().authid() == "EPSG:32632"
    assert lyr.rasterUnitsPerPixelX() == pytest.approx(1.0)
    assert lyr.rasterUnitsPerPixelY() == pytest.approx(1.0)
    assert (lyr.width(), lyr.height(), lyr.bandCount()) == (200, 200, 4)
    assert lyr.extent().xMinimum() == pytest.approx(500000)
    assert lyr.extent().yMaximum() == pytest.approx(5300000)
    assert tab.btnRun.isEnabled() and not tab.btnCancel.isEnabled() and tab.task is None
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("B2", "B3", "B4", "B8")
    # random weights are marked as such in the form
    tab.set_method("s2x10", random_weights=True)
    assert tab.lblRandom.isVisibleTo(tab) and "RANDOM" in tab.cmbMethod.currentText()


def test_superres_tab_cancel_adds_nothing_and_leaves_no_file(qgis_iface, qtbot, tmp_path):
    from rs_embed_qgis.gui.superres_tab import SuperResTab

    src = QgsRasterLayer(str(_s2(tmp_path / "big.tif", 240, 240)), "big", "gdal")
    QgsProject.instance().addMapLayer(src)
    tab = SuperResTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.cmbLayer.setLayer(src)
    tab.set_method("lanczos")
    tab.spinTile.setValue(16)
    tab.spinOverlap.setValue(4)
    out = tmp_path / "out" / "sr_big.tif"
    tab.fileOut.setFilePath(str(out))
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
        qtbot.mouseClick(tab.btnCancel, Qt.LeftButton)
    assert sig.args == [False]
    assert any("cancelled" in m for m in _messages(qgis_iface))
    assert _rasters() == [src]
    assert not out.exists() and not out.parent.exists()  # nor the folder the run had made


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    return synthetic_minicube(tmp_path_factory.mktemp("tabcube") / "cube_t.nc", size=16, seed=5)


def test_forecast_tab_random_weights_adds_20_temporal_layers(qgis_iface, qtbot, tmp_path, cube):
    from rs_embed_qgis.gui.forecast_tab import ForecastTab

    tab = ForecastTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.fileMinicube.setFilePath(str(cube))
    tab.chkNdvi.setChecked(False)
    tab.fileOutDir.setFilePath(str(tmp_path / "fc"))
    assert tab.lblRandom.isVisibleTo(tab)          # no checkpoint: random weights announced
    with qtbot.waitSignal(tab.runFinished, timeout=120000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
    assert sig.args == [True], _messages(qgis_iface)
    layers = _rasters()
    assert len(layers) == 20 and len(tab.added_layers) == 20
    for lyr in layers:
        tp = lyr.temporalProperties()
        assert tp.isActive() and tp.mode() == QgsRasterLayerTemporalProperties.ModeFixedTemporalRange
        assert lyr.bandCount() == 4
    begins = sorted(lyr.temporalProperties().fixedTemporalRange().begin() for lyr in layers)
    assert all(a.daysTo(b) == 5 for a, b in zip(begins, begins[1:], strict=False))
    span = QgsProject.instance().timeSettings().temporalRange()
    assert span.begin() == begins[0] and begins[-1].daysTo(span.end()) == 5
    assert QgsProject.instance().layerTreeRoot().findGroup("cube_t (RANDOM weights) (20 frames)")
    assert tab.last_result.data["RANDOM_WEIGHTS"] is True
    assert any("RANDOM" in m for m in qgis_iface.messageBar().get_messages(Qgis.Warning))


def test_forecast_tab_errors_in_plain_words(qgis_iface, qtbot, tmp_path):
    from rs_embed_qgis.gui.forecast_tab import ForecastTab

    tab = ForecastTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.fileOutDir.setFilePath(str(tmp_path / "fc"))
    assert tab.run() is None                     # refused before any task: no input at all
    assert "either a minicube" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    # an engine error inside the task reaches the message bar, naming the file
    tab.fileMinicube.setFilePath(str(tmp_path / "missing.nc"))
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
    assert sig.args == [False]
    msg = qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    assert "missing.nc" in msg and "ProviderError" in msg
    assert _rasters() == [] and not (tmp_path / "fc").exists()  # a failed forecast leaves no empty folder


def test_tabs_say_an_unwritable_output_folder_plainly_and_leave_no_folder(qgis_iface, qtbot, tmp_path):
    """Issue 17: a folder that cannot be written is one plain sentence naming it (no OSError
    traceback), and a run that fails leaves no folder it made."""
    from rs_embed_qgis.gui.superres_tab import SuperResTab

    src = QgsRasterLayer(str(_s2(tmp_path / "s2.tif", 12, 12)), "s2", "gdal")
    QgsProject.instance().addMapLayer(src)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    tab = SuperResTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.cmbLayer.setLayer(src)
    tab.set_method("bicubic")
    tab.editBands.setText("1,2,3")
    tab.fileOut.setFilePath(str(blocker / "sub" / "sr.tif"))
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        assert tab.run() is not None
    assert sig.args == [False]
    msg = qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    assert "SpecError: cannot write to the output folder" in msg and "a_file" in msg
    assert "Traceback" not in msg and "blending buffer" not in msg
    tab.fileOut.setFilePath(str(tmp_path / "new" / "sr.tif"))
    tab.set_method("s2x10")  # fails in the task (no weights) after the folder could have been made
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        tab.run()
    assert sig.args == [False] and not (tmp_path / "new").exists()


def test_unload_during_a_tab_run_cancels_it_and_adds_nothing(qgis_iface, sample_canvas, qtbot, tmp_path):
    import rs_embed_qgis
    from rs_embed_qgis.gui import alg_tab

    reg = QgsApplication.processingRegistry()
    if reg.providerById("rs_embed") is not None:
        reg.removeProvider(reg.providerById("rs_embed"))
    src = QgsRasterLayer(str(_s2(tmp_path / "big.tif", 240, 240)), "big", "gdal")
    QgsProject.instance().addMapLayer(src)
    plugin = rs_embed_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        tab = plugin.dock.tool_tabs["superres"]
        tab.cmbLayer.setLayer(src)
        tab.set_method("bicubic")
        tab.spinTile.setValue(16)
        tab.spinOverlap.setValue(4)
        out = tmp_path / "out" / "sr.tif"
        tab.fileOut.setFilePath(str(out))
        task = tab.run()
        assert task is not None and tab.is_running()
        from qgis.core import QgsTask

        qtbot.waitUntil(lambda: task.status() == QgsTask.Running, timeout=10000)
    finally:
        plugin.unload()
    assert plugin.dock is None and alg_tab._ORPHANS      # the running task is kept alive until it ends
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=60000)
    qtbot.waitUntil(lambda: not alg_tab._ORPHANS, timeout=5000)
    assert _rasters() == [src]
    assert not out.exists()


def test_superres_tab_band_list_and_learned_model_without_weights(qgis_iface, qtbot, tmp_path):
    from rs_embed_qgis.gui.superres_tab import SuperResTab

    src = QgsRasterLayer(str(_s2(tmp_path / "s2.tif", 12, 12)), "s2", "gdal")
    QgsProject.instance().addMapLayer(src)
    tab = SuperResTab(qgis_iface)
    qtbot.addWidget(tab)
    tab.cmbLayer.setLayer(src)
    tab.fileOut.setFilePath(str(tmp_path / "out" / "sr.tif"))
    tab.editBands.setText("3, 9")
    assert tab.run() is None
    assert "source band 9 does not exist" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    tab.editBands.setText("3,2,1")
    assert tab.parameters()["BANDS"] == [3, 2, 1]
    tab.set_method("s2x10")                       # the learned model, no weights anywhere
    assert tab.fileWeights.isEnabled()
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
    assert sig.args == [False]
    assert "needs weights you provide" in qgis_iface.messageBar().get_messages(Qgis.Critical)[-1]
    assert not (tmp_path / "out" / "sr.tif").exists() and _rasters() == [src]
    tab.set_method("bicubic")
    with qtbot.waitSignal(tab.runFinished, timeout=60000) as sig:
        qtbot.mouseClick(tab.btnRun, Qt.LeftButton)
    assert sig.args == [True]
    with rasterio.open(tmp_path / "out" / "sr.tif") as ds:
        assert ds.count == 3 and ds.descriptions == ("B4", "B3", "B2") and ds.shape == (120, 120)


def test_forecast_tab_stack_parameters(qgis_iface, qtbot, tmp_path):
    from rs_embed_qgis.gui.forecast_tab import ForecastTab

    tab = ForecastTab(qgis_iface)
    qtbot.addWidget(tab)
    files = [str(tmp_path / f"s2_2021-06-{d:02d}.tif") for d in range(1, 31, 5)]
    tab.fileStack.setFilePath(" ".join(f'"{f}"' for f in files))
    tab.fileLandcover.setFilePath(str(tmp_path / "wc.tif"))
    tab.fileWeather.setFilePath(str(tmp_path / "eobs.csv"))
    tab.fileCheckpoint.setFilePath(str(tmp_path / "m.safetensors"))
    assert not tab.lblRandom.isVisibleTo(tab)
    tab.fileOutDir.setFilePath(str(tmp_path / "fc"))
    p = tab.parameters()
    assert p["S2_STACK"] == files and "MINICUBE" not in p
    assert p["LANDCOVER"] == str(tmp_path / "wc.tif") and p["WEATHER"] == str(tmp_path / "eobs.csv")
    assert p["CHECKPOINT"] == str(tmp_path / "m.safetensors") and p["ADD_TO_PROJECT"] is False
    tab.fileMinicube.setFilePath(str(tmp_path / "c.nc"))
    with pytest.raises(ValueError, match="either a minicube"):
        tab.parameters()
