"""rs-embed-qgis: remote-sensing foundation-model embeddings in QGIS."""
