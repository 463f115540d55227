"""The ``rs_embed`` Processing provider: every engine capability in the toolbox."""
from __future__ import annotations

import importlib
import logging

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..i18n import tr
from . import common

log = logging.getLogger(__name__)

#: (module under rs_embed_qgis.processing, class): one algorithm each. A module whose
#: optional dependency is missing is skipped with a log line, not a broken provider.
ALGORITHMS = [
    ("alg_embed_extent", "EmbedExtentAlgorithm"),
    ("alg_embed_features", "EmbedFeaturesAlgorithm"),
    ("alg_embed_raster", "EmbedRasterAlgorithm"),
    ("alg_export_batch", "ExportBatchAlgorithm"),
    ("alg_inspect_patch", "InspectPatchAlgorithm"),
    ("alg_forecast", "ForecastReflectanceAlgorithm"),
    ("alg_superres", "SuperResolveRasterAlgorithm"),
]


def create_algorithm(name: str):
    """A fresh, initialised instance of the algorithm ``name`` (e.g. ``embed_extent``), for a
    caller that finds no registered provider (a dock built before the provider, a test)."""
    for module, cls in ALGORITHMS:
        alg = getattr(importlib.import_module(f"{__package__}.{module}"), cls)()
        if alg.name() == name:
            alg.initAlgorithm()
            return alg
    return None


class RsEmbedProvider(QgsProcessingProvider):
    def id(self):
        return "rs_embed"

    def name(self):
        return tr("RS Embed")

    def longName(self):
        return tr("RS Embed: remote-sensing foundation-model embeddings")

    def icon(self):
        return QIcon(common.icon_path())

    def loadAlgorithms(self):
        for module, cls in ALGORITHMS:
            try:
                mod = importlib.import_module(f"{__package__}.{module}")
                self.addAlgorithm(getattr(mod, cls)())
            except Exception as exc:  # noqa: BLE001 - one broken algorithm must not hide the rest
                log.warning("RS Embed: algorithm %s.%s not loaded: %s", module, cls, exc)
