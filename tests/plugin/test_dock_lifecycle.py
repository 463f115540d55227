"""Plugin wiring of the dock: initGui adds, unload removes; settings; optional dependencies."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def _rubber_bands(canvas):
    from qgis.gui import QgsRubberBand

    return [i for i in canvas.scene().items() if isinstance(i, QgsRubberBand)]


def test_init_gui_adds_dock_and_actions_and_unload_removes_everything(qgis_iface, sample_canvas, clean_settings):
    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRectangle
    from qgis.PyQt.QtWidgets import QAction

    import rs_embed_qgis
    from rs_embed_qgis.gui.dock import RsEmbedDock

    reg = QgsApplication.processingRegistry()
    if reg.providerById("rs_embed") is not None:
        reg.removeProvider(reg.providerById("rs_embed"))
    bands_before = len(_rubber_bands(sample_canvas))
    handlers_before = list(logging.getLogger("rs_embed_qgis").handlers)
    qgis_iface.addPluginToRasterMenu.reset_mock()
    qgis_iface.removePluginRasterMenu.reset_mock()

    plugin = rs_embed_qgis.classFactory(qgis_iface)
    plugin.initGui()
    dock = plugin.dock
    assert isinstance(dock, RsEmbedDock)
    assert [a.objectName() for a in plugin.actions] == ["rs_embed_dock_action", "rs_embed_settings_action",
                                                        "rs_embed_deps_action"]
    assert qgis_iface.addPluginToRasterMenu.call_count == 3
    assert len(logging.getLogger("rs_embed_qgis").handlers) == len(handlers_before) + 1
    # the toggle action shows the dock
    plugin.actions[0].setChecked(True)
    assert dock.isUserVisible()
    # a map tool active and an ROI on the map, as a user would leave them
    dock.ui.btnRect.click()
    assert sample_canvas.mapTool() is dock.rect_tool
    dock.set_roi_rectangle(QgsRectangle(9.005, 47.83, 9.035, 47.85), QgsCoordinateReferenceSystem("EPSG:4326"))
    assert len(_rubber_bands(sample_canvas)) > bands_before
    tools = dock.map_tools()
    mw = qgis_iface.mainWindow()

    plugin.unload()
    assert plugin.actions == [] and plugin.dock is None
    assert qgis_iface.removePluginRasterMenu.call_count == 3
    assert sample_canvas.mapTool() not in tools
    assert len(_rubber_bands(sample_canvas)) == bands_before
    assert logging.getLogger("rs_embed_qgis").handlers == handlers_before
    assert reg.providerById("rs_embed") is None
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    assert not [a for a in mw.findChildren(QAction) if a.objectName().startswith("rs_embed")]
    assert not [w for w in mw.findChildren(RsEmbedDock)]


def test_settings_dialog_round_trip(qgis_app, clean_settings, tmp_path):
    from rs_embed_qgis import settings as S
    from rs_embed_qgis.gui.settings_dialog import SettingsDialog

    dlg = SettingsDialog()
    assert dlg.tblWeights.rowCount() >= 1 and dlg.tblWeights.item(0, 0).text()
    dlg.fileLocalData.setFilePath(str(tmp_path / "scenes"))
    dlg.editGeeProject.setText("my-ee-project")
    dlg.cmbDevice.setCurrentText("cpu")
    dlg.fileCache.setFilePath(str(tmp_path / "cache"))
    dlg.tblWeights.item(0, 1).setText(str(tmp_path / "w.safetensors"))
    dlg.accept()
    assert S.get("local_data") == str(tmp_path / "scenes")
    assert S.get("gee_project") == "my-ee-project" and S.get("device") == "cpu"
    model = dlg.tblWeights.item(0, 0).text()
    assert S.weights_path(model) == str(tmp_path / "w.safetensors")
    import os

    assert os.environ["RS_EMBED_CACHE"] == str(tmp_path / "cache")
    # the one place settings become engine options, for the dock and the Processing algorithms alike
    assert S.model_options(model) == {"weights": str(tmp_path / "w.safetensors")}
    assert S.provider_options("gee") == {"project": "my-ee-project"}
    assert S.provider_options("local") == {"root": str(tmp_path / "scenes")}
    again = SettingsDialog()
    assert again.editGeeProject.text() == "my-ee-project"
    assert again.tblWeights.item(0, 1).text() == str(tmp_path / "w.safetensors")


def test_dock_uses_settings_and_model_weights(dock, clean_settings, tmp_path):
    from rs_embed_qgis import settings as S

    S.put("local_data", str(tmp_path))
    S.set_weights_path("mosaiks", str(tmp_path / "x.safetensors"))
    dock.reload_settings()
    assert dock.embed.ui.fileDataFolder.filePath() == str(tmp_path)
    # the request the dock's run makes carries the settings' weights and data folder
    dock.use_canvas_extent()
    req = dock.embed.request()
    assert req.model_options == {"weights": str(tmp_path / "x.safetensors")}
    assert req.provider_options == {"root": str(tmp_path)}


def test_default_data_folder_is_the_bundled_sample(dock, sample_dir):
    e = dock.embed.ui
    assert Path(e.fileDataFolder.filePath()).resolve() == Path(sample_dir).resolve()
    assert e.dateStart.date().toString("yyyy-MM-dd") == "2022-06-01"
    assert e.dateEnd.date().toString("yyyy-MM-dd") == "2022-09-01"


def test_missing_torch_is_reported_and_installable_without_blocking_mosaiks(dock, monkeypatch, tmp_path):
    from rs_embed_qgis.gui import deps

    real = deps.is_importable
    monkeypatch.setattr(deps, "is_importable", lambda m: False if m in ("torch", "ee") else real(m))
    tab, e = dock.embed, dock.embed.ui
    tab._fill_backends("gee")
    assert [e.cmbBackend.itemText(i) for i in range(e.cmbBackend.count())] == ["local", "stac"]
    tab._on_model("mosaiks")
    assert not e.lblDeps.isHidden()
    txt = e.lblDeps.text()
    assert "torch" in txt and "does not need it" in txt
    assert not e.btnInstallDeps.isHidden() and e.btnRun.isEnabled()
    # the button opens the installer (nothing runs until Install is pressed; pip itself is
    # tested in test_deps.py), with the plugin's folder as target and torch ticked
    monkeypatch.setattr(deps, "deps_dir", lambda profile_dir=None: tmp_path / "python" / deps.DEPS_DIRNAME)
    from rs_embed_qgis.gui import install_dialog

    install_dialog.close_installer()  # a window another test opened would keep its own folder
    e.btnInstallDeps.click()
    dlg = install_dialog.current()
    try:
        assert dlg.isVisible() and dlg.state == "idle"
        assert dlg.target == tmp_path / "python" / "rs_embed_qgis_deps"
        assert "torch" in dlg.selected() and "ee" in dlg.selected()
        assert str(tmp_path / "python" / "rs_embed_qgis_deps") in dlg.header.text()
    finally:
        install_dialog.close_installer()


def test_model_needing_a_missing_module_cannot_run(dock, monkeypatch):
    from rs_embed_qgis.gui import deps

    tab = dock.embed
    tab.model_info = dict(tab.model_info, requires=["torch", "numpy"])
    monkeypatch.setattr(deps, "is_importable", lambda m: m != "torch")
    tab._update_deps()
    assert not tab.ui.btnRun.isEnabled() and "torch" in tab.ui.btnRun.toolTip()


def test_deps_folder_goes_on_sys_path(tmp_path, monkeypatch):
    from rs_embed_qgis.gui import deps

    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = deps.deps_dir(str(tmp_path))
    assert folder == tmp_path / "python" / "rs_embed_qgis_deps"
    assert deps.add_to_path(folder) is None  # not created yet: nothing added
    folder.mkdir(parents=True)
    (folder / "rs_embed_fake_dep.py").write_text("VALUE = 42\n")
    assert deps.add_to_path(folder) == str(folder) and str(folder) in sys.path
    import importlib

    importlib.invalidate_caches()
    assert importlib.import_module("rs_embed_fake_dep").VALUE == 42
    sys.modules.pop("rs_embed_fake_dep", None)


def test_gee_backend_without_provider_says_unavailable(dock, monkeypatch):
    from rs_embed_qgis.gui import deps
    from rs_embed_qgis.gui.embed_tab import EmbedTab

    monkeypatch.setattr(deps, "is_importable", lambda m: True)
    monkeypatch.setattr(EmbedTab, "ee_status_function",
                        staticmethod(lambda: (None, "unavailable: the Earth Engine backend could not be loaded")))
    dock.embed._fill_backends("gee")
    e = dock.embed.ui
    assert e.cmbBackend.currentText() == "gee"
    info = e.lblBackendInfo.text()
    assert "not ready" in info and "unavailable" in info and "earthengine authenticate" in info
    assert not e.fileDataFolder.isEnabled()


def test_stac_backend_takes_an_api_url_and_offers_pystac_client(dock, monkeypatch):
    from rs_embed_qgis import settings as S
    from rs_embed_qgis.gui import deps

    tab, e = dock.embed, dock.embed.ui
    tab._fill_backends("stac")
    assert e.cmbBackend.currentText() == "stac" and e.fileDataFolder.isEnabled()
    assert "Earth Search" in e.lblBackendInfo.text()
    pc = "https://planetarycomputer.microsoft.com/api/stac/v1"
    e.fileDataFolder.setFilePath(pc)
    params = tab._time_and_data_parameters()
    assert params["BACKEND"] == "stac" and S.provider_options("stac", params["DATA_FOLDER"]) == {"url": pc}
    e.fileDataFolder.setFilePath("/some/folder")
    assert "DATA_FOLDER" not in tab._time_and_data_parameters() and S.provider_options("stac") == {}
    real = deps.is_importable
    monkeypatch.setattr(deps, "is_importable", lambda m: False if m == "pystac_client" else real(m))
    assert "pystac_client" in tab.missing_dependencies()
    tab._update_deps()
    assert "pystac-client" in e.btnInstallDeps.text()


def test_gee_sign_in_is_checked_in_a_task(dock, monkeypatch, qtbot, clean_settings):
    import threading

    from rs_embed_qgis import settings as S
    from rs_embed_qgis.gui import deps
    from rs_embed_qgis.gui.embed_tab import EmbedTab

    S.put("gee_project", "my-ee-project")
    seen = {}

    def fake_status(project=None):
        seen.update(project=project, thread=threading.current_thread() is threading.main_thread())
        return {"ok": False, "message": "no credentials found", "how_to_sign_in": "Run earthengine authenticate."}

    monkeypatch.setattr(deps, "is_importable", lambda m: True)
    monkeypatch.setattr(EmbedTab, "ee_status_function", staticmethod(lambda: (fake_status, "")))
    with qtbot.waitSignal(dock.taskFinished, timeout=30000) as sig:
        dock.embed._fill_backends("gee")
        assert "checking" in dock.embed.ui.lblBackendInfo.text()
    assert sig.args == ["gee_status", True]
    assert seen == {"project": "my-ee-project", "thread": False}  # off the GUI thread
    info = dock.embed.ui.lblBackendInfo.text()
    assert "not ready" in info and "no credentials found" in info and "earthengine authenticate" in info


def test_unload_while_a_run_is_going_cancels_it_and_adds_nothing(qgis_iface, sample_canvas, clean_settings,
                                                                  qtbot, tmp_path):
    from qgis.core import QgsApplication, QgsProject

    import rs_embed_qgis

    plugin = rs_embed_qgis.classFactory(qgis_iface)
    plugin.initGui()
    plugin.dock.embed.ui.fileOutDir.setFilePath(str(tmp_path / "out"))
    plugin.dock.use_canvas_extent()
    task = plugin.dock.embed.run()
    qtbot.waitUntil(lambda: task.progress() > 0, timeout=60000)
    plugin.unload()
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=60000)
    qtbot.wait(50)
    assert QgsProject.instance().mapLayers() == {}
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
