"""Plugin tests: run inside QGIS (pytest-qgis, headless) with the plugin importable."""
from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_garbage():
    """Free QGIS objects caught in reference cycles (e.g. a test frame kept alive by a caught
    exception's traceback) while QGIS is still running: freed after exit, they crash QGIS 3.22."""
    yield
    gc.collect()


@pytest.fixture
def processing_provider(qgis_app):
    """The real rs_embed provider registered in the test QGIS (and removed after)."""
    from qgis.core import QgsApplication

    from rs_embed_qgis.processing.provider import RsEmbedProvider

    reg = QgsApplication.processingRegistry()
    existing = reg.providerById("rs_embed")
    if existing is not None:
        yield existing
        return
    provider = RsEmbedProvider()
    reg.addProvider(provider)
    yield provider
    reg.removeProvider(provider)


@pytest.fixture
def processing(qgis_app, processing_provider):
    """``processing.run`` ready to use."""
    import processing as qgis_processing  # noqa: F401 - QGIS's own module
    from processing.core.Processing import Processing

    Processing.initialize()
    return qgis_processing


# --------------------------------------------------------------------------- the dock

@pytest.fixture
def clean_settings(qgis_app):
    """No rs_embed/* settings leak between tests."""
    from qgis.core import QgsSettings

    s = QgsSettings()
    s.remove("rs_embed")
    yield s
    s.remove("rs_embed")


@pytest.fixture
def sample_canvas(qgis_canvas, qtbot):
    """The test canvas in EPSG:3857, looking at the bundled sample (lon 9.00-9.04, lat 47.826-47.853)."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsProject,
        QgsRectangle,
    )

    qgis_canvas.resize(600, 400)
    qgis_canvas.window().resize(600, 400)
    qgis_canvas.window().show()  # a hidden canvas keeps a tiny viewport, and clicks land elsewhere
    qgis_canvas.show()
    qtbot.waitUntil(lambda: qgis_canvas.viewport().width() >= 580, timeout=5000)
    crs = QgsCoordinateReferenceSystem("EPSG:3857")
    qgis_canvas.setDestinationCrs(crs)
    QgsProject.instance().setCrs(crs)
    xf = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), crs, QgsProject.instance())
    qgis_canvas.setExtent(xf.transformBoundingBox(QgsRectangle(8.995, 47.822, 9.045, 47.857)))
    qgis_canvas.refresh()
    return qgis_canvas


@pytest.fixture
def dock(qgis_iface, sample_canvas, clean_settings, tmp_path, qtbot):
    """The RS Embed dock on the sample, writing into a temp folder; project emptied after."""
    from qgis.core import QgsApplication, QgsProject

    from rs_embed_qgis.gui.dock import RsEmbedDock

    d = RsEmbedDock(qgis_iface)
    d.embed.ui.fileOutDir.setFilePath(str(tmp_path / "out"))
    d.show()
    qgis_iface.messageBar().clear_messages()
    yield d
    for tab in d.tool_tabs.values():
        tab.cancel()
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=60000)
    d.cleanup()
    d.deleteLater()
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
