"""The QGIS plugin: registers the Processing provider, the menu/toolbar and the dock.

``unload()`` removes everything ``initGui()`` added (actions, dock, map tools,
rubber bands, log handler), so reloading the plugin leaves nothing behind. Every Qt object
the plugin makes has a Qt parent or is deleted explicitly, so none is left for Python to
delete after ``exitQgis()`` (``tests/plugin/test_qgis_exit.py``).
"""
from __future__ import annotations

import logging

from qgis.core import Qgis, QgsApplication, QgsMessageLog
from qgis.PyQt.QtCore import Qt

log = logging.getLogger(__name__)


class _QgsLogHandler(logging.Handler):
    """Engine log records -> the "RS Embed" tab of QGIS's log panel."""

    LEVELS = {logging.DEBUG: Qgis.MessageLevel.Info, logging.INFO: Qgis.MessageLevel.Info,
              logging.WARNING: Qgis.MessageLevel.Warning, logging.ERROR: Qgis.MessageLevel.Critical,
              logging.CRITICAL: Qgis.MessageLevel.Critical}

    def emit(self, record):
        try:
            QgsMessageLog.logMessage(self.format(record), "RS Embed",
                                     self.LEVELS.get(record.levelno, Qgis.MessageLevel.Info))
        except Exception:  # noqa: BLE001 - logging must never raise: the standard fallback (stderr)
            self.handleError(record)


class RsEmbedPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.menu = "&RS Embed"
        self.dock = None
        self.log_handler = None
        self.deps_path = None
        from .i18n import install_translator

        self.translator = install_translator()  # the user's language, when the plugin ships it

    def initProcessing(self):  # noqa: N802 - called by QGIS (also by qgis_process)
        if self.provider is None:
            from .processing.provider import RsEmbedProvider

            self.provider = RsEmbedProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        from . import settings as S
        from .gui import deps

        try:  # packages the user installed from the dock live in a folder the plugin owns
            self.deps_path = deps.add_to_path()
        except Exception as exc:  # noqa: BLE001 - a broken folder must not stop the plugin
            log.warning("the folder of packages installed from the dock is not usable: %s", exc)
            self.deps_path = None
        S.apply_environment()
        self.log_handler = _QgsLogHandler()
        self.log_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger("rs_embed_qgis").addHandler(self.log_handler)

        self.initProcessing()

        from qgis.PyQt.QtWidgets import QAction

        from .gui import icon
        from .gui.dock import RsEmbedDock
        from .i18n import tr

        self.dock = RsEmbedDock(self.iface, self.iface.mainWindow())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        action = QAction(icon("rs_embed.svg"), tr("RS Embed"), self.iface.mainWindow())
        action.setObjectName("rs_embed_dock_action")
        action.setCheckable(True)
        action.setToolTip(tr("Embed a region with a remote-sensing foundation model"))
        action.toggled.connect(self.dock.setUserVisible)
        self.dock.visibilityChanged.connect(action.setChecked)
        self.iface.addPluginToRasterMenu(self.menu, action)
        self.iface.addToolBarIcon(action)
        self.actions.append(action)
        settings_action = QAction(icon("settings.svg"), tr("RS Embed settings…"), self.iface.mainWindow())
        settings_action.setObjectName("rs_embed_settings_action")
        settings_action.triggered.connect(self.dock.open_settings)
        self.iface.addPluginToRasterMenu(self.menu, settings_action)
        self.actions.append(settings_action)
        deps_action = QAction(tr("Optional Python packages…"), self.iface.mainWindow())
        deps_action.setObjectName("rs_embed_deps_action")
        deps_action.setToolTip(tr("Install torch, earthengine-api, ... into a folder this plugin owns"))
        deps_action.triggered.connect(lambda _checked=False: self.dock.embed.install_missing())
        self.iface.addPluginToRasterMenu(self.menu, deps_action)
        self.actions.append(deps_action)

    def unload(self):
        for action in self.actions:
            try:
                self.iface.removePluginRasterMenu(self.menu, action)
                self.iface.removeToolBarIcon(action)
            except Exception as exc:  # noqa: BLE001 - iface may be half torn down at exit
                log.debug("unload: could not remove the action %r: %s", action.objectName(), exc)
            action.deleteLater()
        self.actions = []
        from .gui.install_dialog import close_installer

        close_installer()
        if self.dock is not None:
            try:
                self.dock.cleanup()
                self.iface.removeDockWidget(self.dock)
            except Exception as exc:  # noqa: BLE001 - iface may be half torn down at exit
                log.debug("unload: could not clean up and remove the dock: %s", exc)
            # it keeps its parent (the main window): deleted by the event loop, or with the window
            # when QGIS exits, and never by Python after QGIS is gone (a crash at exit)
            self.dock.deleteLater()
            self.dock = None
        if self.log_handler is not None:
            logging.getLogger("rs_embed_qgis").removeHandler(self.log_handler)
            self.log_handler = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        from .i18n import remove_translator

        remove_translator(self.translator)
        self.translator = None
