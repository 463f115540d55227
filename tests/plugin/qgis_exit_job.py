"""A whole QGIS session in one process, as a user has it: start QGIS, load the plugin, embed
the bundled sample from the dock, super-resolve a raster from its tab, start a second run and
unload the plugin while it works, then ``exitQgis()`` and leave Python. Any widget, map tool,
rubber band, task or message-bar item left without a Qt owner is deleted by Python's teardown
after QGIS is gone, and the process dies with a segfault instead of exit code 0.

    QT_QPA_PLATFORM=offscreen python tests/plugin/qgis_exit_job.py OUT_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def wait_for(signal, timeout_ms: int = 120_000) -> list:
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    got: list = []
    loop = QEventLoop()

    def done(*args):
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec_()
    signal.disconnect(done)
    return got


#: what QGIS keeps of a loaded plugin until Python ends (``qgis.utils.plugins``)
plugins: dict = {}


def main(out_dir: str) -> None:
    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle

    app = QgsApplication([], True)
    app.initQgis()
    import rs_embed_qgis
    from rs_embed_qgis.gui.standalone import StandaloneIface

    iface = StandaloneIface()
    plugin = plugins["rs_embed_qgis"] = rs_embed_qgis.classFactory(iface)
    plugins["iface"] = iface
    plugin.initGui()
    plugin.actions[0].setChecked(True)  # show the dock
    dock = plugin.dock
    dock.embed.ui.fileOutDir.setFilePath(out_dir)
    dock.embed.ui.spinGridScale.setValue(100)
    dock.ui.btnRect.click()  # a map tool left active
    dock.set_roi_rectangle(QgsRectangle(9.005, 47.83, 9.035, 47.85), QgsCoordinateReferenceSystem("EPSG:4326"))
    dock.embed.run()
    (kind, ok), = wait_for(dock.taskFinished)
    assert ok and kind == "embed", dock.embed.ui.txtReport.toPlainText()

    tab = dock.tool_tabs["superres"]  # a Processing algorithm in QGIS's task manager
    sample = ROOT / "resources" / "sample_data" / "S2_L2A_20220715_sample.tif"
    layer = QgsRasterLayer(str(sample), "sample", "gdal")
    QgsProject.instance().addMapLayer(layer)
    tab.cmbLayer.setLayer(layer)
    tab.set_method("bicubic")
    tab.editBands.setText("1,2,3")
    tab.spinTile.setValue(32)
    tab.spinOverlap.setValue(4)
    tab.fileOut.setFilePath(str(Path(out_dir) / "sr.tif"))
    tab.run()
    (ok,), = wait_for(tab.runFinished)
    assert ok, tab.lblStatus.text()

    dock.embed.run()  # a second run, still working when the plugin goes away
    plugin.unload()
    QgsApplication.taskManager().cancelAll()
    while QgsApplication.taskManager().countActiveTasks():
        app.processEvents()
    QgsProject.instance().removeAllMapLayers()
    iface.close()  # QGIS deletes its main window, and what it owns, before exitQgis()
    left = survivors()
    app.exitQgis()
    print(f"session ended; plugin objects left for Python to delete after exitQgis(): {left}")


def survivors() -> list[str]:
    """Qt objects of the plugin's own classes still alive that Python owns, or that have no Qt
    parent: Python would delete them at its exit, after QGIS is gone, or nothing ever would."""
    import gc

    from qgis.PyQt import sip
    from qgis.PyQt.QtCore import QObject

    gc.collect()
    out = []
    for o in gc.get_objects():
        t = type(o)
        if not (issubclass(t, sip.simplewrapper) and t.__module__.startswith("rs_embed_qgis")):
            continue
        if sip.isdeleted(o):
            continue
        if sip.ispyowned(o) or (isinstance(o, QObject) and o.parent() is None):
            out.append(t.__name__)
    return sorted(out)


if __name__ == "__main__":
    main(sys.argv[1])
