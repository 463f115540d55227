"""Every rs_embed algorithm is loaded, documented, grouped and offers the catalog's models."""
import pytest

ALGS = ["embed_extent", "embed_features", "embed_raster", "export_batch", "inspect_patch"]


@pytest.mark.parametrize("name", ALGS)
def test_algorithm_is_complete(processing_provider, name):
    from qgis.core import QgsProcessingParameterEnum

    from rs_embed_qgis.engine import list_models

    alg = processing_provider.algorithm(name)
    assert alg is not None, [a.id() for a in processing_provider.algorithms()]
    assert alg.group() == "Embeddings" and not alg.icon().isNull()
    help_text = alg.shortHelpString()
    assert "Example" in help_text and f"rs_embed:{name}" in help_text
    for p in alg.parameterDefinitions():
        if p.name() in ("MODEL", "MODELS", "SENSOR_OF"):
            assert isinstance(p, QgsProcessingParameterEnum) and p.usesStaticStrings()
            assert list(p.options()) == list_models()
    assert alg.outputDefinitions(), "outputs must be typed for the modeller"


def test_settings_are_read_on_the_main_thread_only(qgis_app):
    """QgsSettings is not safe in worker threads (a dock-tab run crashed QGIS): algorithms
    snapshot the settings in prepareAlgorithm and worker threads read the snapshot."""
    import threading

    from qgis.core import QgsSettings

    from rs_embed_qgis import settings as S

    QgsSettings().setValue("rs_embed/weights/s2x10", "/data/s2x10.safetensors")
    try:
        S.snapshot()
        got = {}
        t = threading.Thread(target=lambda: got.update(
            w=S.get("weights/s2x10"), missing=S.get("nope", "dflt"),
            options=S.model_options("s2x10", {"tile": 64})))
        t.start()
        t.join()
        assert got == {"w": "/data/s2x10.safetensors", "missing": "dflt",
                       "options": {"weights": "/data/s2x10.safetensors", "tile": 64}}
    finally:
        QgsSettings().remove("rs_embed/weights/s2x10")
        S.snapshot()
