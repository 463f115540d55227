"""The QGIS plugin: registers the Processing provider, the menu/toolbar and the dock.

``unload()`` removes everything ``initGui()`` added, so reloading the plugin
leaves nothing behind.
"""
from __future__ import annotations

from qgis.core import QgsApplication


class RsEmbedPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.menu = "&RS Embed"

    def initProcessing(self):  # noqa: N802 - called by QGIS (also by qgis_process)
        if self.provider is None:
            from .processing.provider import RsEmbedProvider

            self.provider = RsEmbedProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        for action in self.actions:
            try:
                self.iface.removePluginRasterMenu(self.menu, action)
                self.iface.removeToolBarIcon(action)
            except Exception:  # noqa: BLE001 - iface may be half torn down at exit
                pass
            action.deleteLater()
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
