"""rs-embed-qgis: remote-sensing foundation-model embeddings in QGIS.

Importing this package imports nothing heavy: QGIS calls ``classFactory`` and
the engine (``rs_embed_qgis.engine``) works without QGIS.
"""


def classFactory(iface):  # noqa: N802 - name required by QGIS
    from .plugin import RsEmbedPlugin

    return RsEmbedPlugin(iface)
