"""Screenshot of the RS Embed dock with a real run on the bundled sample (see screenshot.sh).

A full QGIS main window cannot be built headless from Python, so this assembles
the parts users see: a layers panel, the map canvas and the dock, in the main window of
``gui/standalone.StandaloneIface``. It draws the ROI, runs the algorithms exactly as the Inspect and Run
buttons do, waits for the layers, and grabs the window.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsLayerTreeModel,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView
from qgis.PyQt.QtCore import QEventLoop, Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget


def wait(signal, timeout_ms=120_000):
    loop = QEventLoop()
    signal.connect(lambda *a: loop.quit())
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def main(out: str) -> None:
    app = QgsApplication([], True)
    app.initQgis()
    from rs_embed_qgis.gui.dock import RsEmbedDock
    from rs_embed_qgis.gui.standalone import StandaloneIface

    iface = StandaloneIface()  # the map canvas and the message bar in one main window
    win, canvas = iface.mainWindow(), iface.mapCanvas()
    win.setWindowTitle("QGIS — RS Embed")
    win.resize(1560, 940)
    canvas.setCanvasColor(Qt.GlobalColor.white)
    root = QgsProject.instance().layerTreeRoot()
    model = QgsLayerTreeModel(root, win)
    model.setFlag(QgsLayerTreeModel.Flag.AllowNodeChangeVisibility)
    layers_dock = QDockWidget("Layers", win)
    view = QgsLayerTreeView(layers_dock)
    view.setModel(model)
    QgsLayerTreeMapCanvasBridge(root, canvas, win)
    layers_dock.setWidget(view)
    win.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, layers_dock)
    dock = RsEmbedDock(iface, win)
    iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    win.resizeDocks([layers_dock, dock], [300, 440], Qt.Orientation.Horizontal)
    crs = QgsCoordinateReferenceSystem("EPSG:3857")
    QgsProject.instance().setCrs(crs)
    canvas.setDestinationCrs(crs)
    win.show()
    app.processEvents()
    wgs = QgsCoordinateReferenceSystem("EPSG:4326")
    xf = QgsCoordinateTransform(wgs, crs, QgsProject.instance())
    canvas.setExtent(xf.transformBoundingBox(QgsRectangle(8.998, 47.824, 9.042, 47.855)))

    out_dir = tempfile.mkdtemp(prefix="rs_embed_shot_")
    tab = dock.embed
    tab.ui.fileOutDir.setFilePath(out_dir)
    # the input patch first (true colour), then the embedding of a smaller ROI on top; both run
    # the toolbox's algorithms (inspect_patch, embed_extent) exactly as the buttons do
    dock.set_roi_rectangle(QgsRectangle(9.001, 47.827, 9.039, 47.852), wgs)
    tab.ui.editBands.setText("B4, B3, B2")
    tab.inspect_input()
    wait(dock.taskFinished)
    dock.set_roi_rectangle(QgsRectangle(9.010, 47.833, 9.030, 47.846), wgs)
    tab.ui.cmbModel.setCurrentText("mosaiks")
    tab.ui.spinGridScale.setValue(60)
    tab.run()
    wait(dock.taskFinished)
    canvas.refreshAllLayers()
    wait(canvas.mapCanvasRefreshed, 30_000)
    view.expandAll()
    app.processEvents()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(out)
    print(f"wrote {out}: {tab.ui.txtReport.toPlainText()[:200]}")
    dock.cleanup()
    QgsProject.instance().removeAllMapLayers()
    iface.close()  # every widget belongs to the window: nothing is left for Python after exitQgis()
    app.exitQgis()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots/dock.png")
