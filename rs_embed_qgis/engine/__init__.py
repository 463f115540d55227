"""rs_embed_qgis.engine: the rs-embed API, importable and runnable without QGIS.

    from rs_embed_qgis.engine import BBox, PointBuffer, TemporalSpec, SensorSpec, OutputSpec
    from rs_embed_qgis.engine import get_embedding, get_embeddings_batch, list_models

Every public name of rs-embed 0.3's top level is here too (``import rs_embed_qgis.engine as
rs_embed`` runs a 0.3 script; docs/rs-embed-compat.md). Heavy modules (torch, model code,
providers, the export) are imported only when used.
"""
from .. import __version__  # noqa: F401 - the one version (rs_embed_qgis/__init__.py), re-exported
from .api import (
    clear_caches,
    get_embedder,
    get_embedding,
    get_embedding_from_data,
    get_embeddings_batch,
    get_embeddings_batch_from_data,
    get_provider,
    inspect_model_input,
    list_models_for_data,
    reset_runtime,
)
from .catalog import describe_model, list_models
from .embedding import Embedding
from .errors import ModelError, ProviderError, RequestError, RSEmbedError, RsEmbedError, SpecError
from .model import Model
from .pretty_warnings import disable_pretty_warnings, enable_pretty_warnings
from .specs import BBox, FetchSpec, InputPrepSpec, OutputSpec, PointBuffer, SensorSpec, TemporalSpec
from .userdata import UserData

_EXPORT_NAMES = ("export_batch", "export_npz", "load_export", "ExportResult", "ModelResult", "ExportConfig",
                 "ExportLayout", "ExportModelRequest", "ExportTarget", "ModelConfig", "BatchExporter")


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
    if name in _EXPORT_NAMES:
        from . import export as _export

        return getattr(_export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BBox", "PointBuffer", "TemporalSpec", "SensorSpec", "OutputSpec", "FetchSpec", "InputPrepSpec", "Embedding",
    "SpecError", "ProviderError", "ModelError", "RsEmbedError", "RSEmbedError", "RequestError",
    "get_embedding", "get_embeddings_batch", "get_embedding_from_data", "get_embeddings_batch_from_data",
    "get_embedder", "get_provider", "clear_caches", "reset_runtime", "list_models", "describe_model",
    "list_models_for_data", "inspect_model_input", "Model", "UserData",
    "enable_pretty_warnings", "disable_pretty_warnings",
    "write_embedding_geotiff", "pca_rgb", "write_pca_quicklook",
    "inspect_provider_patch", "inspect_gee_patch", "ee_status", *_EXPORT_NAMES,
]
