"""rs-embed-qgis: remote-sensing foundation-model embeddings in QGIS.

Importing this package imports nothing heavy: QGIS calls ``classFactory`` and
the engine (``rs_embed_qgis.engine``) works without QGIS.
"""
import sys

#: the oldest Python the code runs on (pyproject.toml's requires-python); QGIS builds that bundle
#: an older one (the Windows and macOS installers of QGIS 3.22-3.28: Python 3.9) cannot run it
MIN_PYTHON = (3, 10)

# The one place the version is written: metadata.txt (by scripts/package.py), pyproject.toml
# (setuptools reads it) and the engine's manifests all take it from here.
__version__ = "0.1.0"


def classFactory(iface):  # noqa: N802 - name required by QGIS
    if sys.version_info < MIN_PYTHON:
        raise RuntimeError(
            "RS Embed needs Python {}.{} or newer; this QGIS runs Python {}.{}. Use a QGIS build whose "
            "Python is newer (QGIS's Python console shows it: import sys; sys.version)"
            .format(*MIN_PYTHON, *sys.version_info[:2]))
    from .plugin import RsEmbedPlugin

    return RsEmbedPlugin(iface)
