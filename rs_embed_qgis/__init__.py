"""rs-embed-qgis: remote-sensing foundation-model embeddings in QGIS.

Importing this package imports nothing heavy: QGIS calls ``classFactory`` and
the engine (``rs_embed_qgis.engine``) works without QGIS.
"""

# The one place the version is written: metadata.txt (by scripts/package.py), pyproject.toml
# (setuptools reads it) and the engine's manifests all take it from here.
__version__ = "0.1.0"


def classFactory(iface):  # noqa: N802 - name required by QGIS
    from .plugin import RsEmbedPlugin

    return RsEmbedPlugin(iface)
