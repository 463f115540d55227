"""rs_embed_qgis.engine: the rs-embed API, importable and runnable without QGIS.

    from rs_embed_qgis.engine import BBox, PointBuffer, TemporalSpec, SensorSpec, OutputSpec
    from rs_embed_qgis.engine import get_embedding, get_embeddings_batch, list_models

Heavy modules (torch, model code, providers) are imported only when used.
"""
from .. import __version__  # noqa: F401 - the one version (rs_embed_qgis/__init__.py), re-exported
from .api import (
    clear_caches,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
    get_provider,
)
from .catalog import describe_model, list_models
from .embedding import Embedding
from .errors import ModelError, ProviderError, RsEmbedError, SpecError
from .specs import BBox, OutputSpec, PointBuffer, SensorSpec, TemporalSpec


def __getattr__(name):  # lazily exposed parts that pull optional dependencies
    if name in ("write_embedding_geotiff", "pca_rgb", "write_pca_quicklook"):
        from . import io as _io

        return getattr(_io, name)
    if name in ("inspect_provider_patch", "inspect_gee_patch"):
        from . import input_checks

        return getattr(input_checks, name)
    if name == "ee_status":  # for the GUI: can Earth Engine be used, and how to sign in
        from .providers.gee import ee_status

        return ee_status
    if name in ("export_batch", "export_npz", "load_export"):
        from . import export as _export

        return getattr(_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BBox", "PointBuffer", "TemporalSpec", "SensorSpec", "OutputSpec", "Embedding",
    "SpecError", "ProviderError", "ModelError", "RsEmbedError",
    "get_embedding", "get_embeddings_batch", "get_embedding_from_data", "get_embedder",
    "get_provider", "clear_caches", "list_models", "describe_model",
    "write_embedding_geotiff", "pca_rgb", "write_pca_quicklook",
    "inspect_provider_patch", "inspect_gee_patch", "ee_status",
    "export_batch", "export_npz", "load_export",
]
