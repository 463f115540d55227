"""classFactory -> initGui -> unload leaves nothing behind."""


def test_plugin_loads_and_unloads_cleanly(qgis_app, qgis_iface):
    from qgis.core import QgsApplication

    import rs_embed_qgis

    reg = QgsApplication.processingRegistry()
    before = reg.providerById("rs_embed")
    if before is not None:
        reg.removeProvider(before)
    plugin = rs_embed_qgis.classFactory(qgis_iface)
    plugin.initGui()
    prov = reg.providerById("rs_embed")
    assert prov is not None
    assert "rs_embed:embed_extent" in [a.id() for a in prov.algorithms()]
    plugin.unload()
    assert reg.providerById("rs_embed") is None
    assert plugin.actions == []
