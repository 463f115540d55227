"""QGIS Processing face of the engine: the ``rs_embed`` provider and its algorithms."""
