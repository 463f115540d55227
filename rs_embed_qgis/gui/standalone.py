"""A stand-in for QGIS's main window, to run the plugin in a plain ``QgsApplication``
(benchmarks, screenshots, the exit test): what the plugin asks of ``iface``.

Every widget it makes is a child of one ``QMainWindow``, and :meth:`StandaloneIface.close`
deletes that window (and so all of them) at once. Call it, and unload the plugin, before
``exitQgis()``: a widget still alive then is deleted by Python's own teardown, after Qt's
application object is gone, and QGIS crashes at exit (``QWidget::~QWidget`` from a sip
dealloc in ``Py_FinalizeEx``).

    app = QgsApplication([], True); app.initQgis()
    iface = StandaloneIface()
    plugin = rs_embed_qgis.classFactory(iface); plugin.initGui()
    ...
    plugin.unload(); iface.close(); app.exitQgis()
"""
from __future__ import annotations

from qgis.gui import QgsMapCanvas, QgsMessageBar
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMainWindow, QMenu, QToolBar, QVBoxLayout, QWidget


class StandaloneIface:
    """The parts of ``QgisInterface`` the plugin uses, on one main window."""

    def __init__(self) -> None:
        self.window = QMainWindow()
        central = QWidget(self.window)
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        self.bar = QgsMessageBar(central)
        self.canvas = QgsMapCanvas(central)
        lay.addWidget(self.bar)
        lay.addWidget(self.canvas)
        self.window.setCentralWidget(central)
        self.toolbar = QToolBar("Plugins", self.window)
        self.window.addToolBar(self.toolbar)
        self.menus: dict[str, QMenu] = {}
        self._active = None

    # -- what the plugin calls ---------------------------------------------------------------
    def mainWindow(self):  # noqa: N802 - QgisInterface's names
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def messageBar(self):  # noqa: N802
        return self.bar

    def activeLayer(self):  # noqa: N802
        return self._active

    def setActiveLayer(self, layer) -> None:  # noqa: N802
        self._active = layer

    def addDockWidget(self, area, dock) -> None:  # noqa: N802
        self.window.addDockWidget(area or Qt.DockWidgetArea.RightDockWidgetArea, dock)

    def removeDockWidget(self, dock) -> None:  # noqa: N802
        self.window.removeDockWidget(dock)

    def addPluginToRasterMenu(self, name: str, action) -> None:  # noqa: N802
        menu = self.menus.get(name)
        if menu is None:
            menu = self.menus[name] = self.window.menuBar().addMenu(name)
        menu.addAction(action)

    def removePluginRasterMenu(self, name: str, action) -> None:  # noqa: N802
        menu = self.menus.get(name)
        if menu is not None:
            menu.removeAction(action)

    def addToolBarIcon(self, action) -> None:  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action) -> None:  # noqa: N802
        self.toolbar.removeAction(action)

    # -- teardown ------------------------------------------------------------------------------
    def close(self) -> None:
        """Delete the window and everything in it now, as QGIS deletes its main window at exit
        (no event loop runs after it: what waits for ``deleteLater`` is not deleted)."""
        if self.window is not None and not sip.isdeleted(self.window):
            sip.delete(self.window)
        self.window = self.canvas = self.bar = self.toolbar = None
        self.menus = {}
        self._active = None
