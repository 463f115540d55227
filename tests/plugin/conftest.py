"""Plugin tests: run inside QGIS (pytest-qgis, headless) with the plugin importable."""
from __future__ import annotations

import pytest


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
