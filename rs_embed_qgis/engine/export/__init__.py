"""Dataset export: ``export_batch`` (many ROIs x many models, resumable, threads or Dask),
``export_npz`` (one ROI) and ``load_export`` (read any export back, ours or rs-embed's), with
rs-embed 0.3's export types (``config.py``) and the output formats (``formats/``: one module per
format, found through ``register_format`` / ``get_format`` / ``list_formats``). See docs/export.md."""
from .batch import export_batch, export_npz
from .config import (
    BatchExporter,
    ExportConfig,
    ExportLayout,
    ExportModelRequest,
    ExportTarget,
    ModelConfig,
)
from .core import EXECUTORS
from .formats import FORMATS, Format, get_format, list_formats, register_format
from .load import ExportResult, ModelResult, load_export
from .writers import LAYOUTS

__all__ = ["export_batch", "export_npz", "load_export", "ExportResult", "ModelResult", "ExportConfig",
           "ExportLayout", "ExportModelRequest", "ExportTarget", "ModelConfig", "BatchExporter", "FORMATS",
           "LAYOUTS", "EXECUTORS", "Format", "register_format", "get_format", "list_formats"]
