"""Dataset export: ``export_batch`` (many ROIs x many models, resumable, threads or Dask),
``export_npz`` (one ROI) and ``load_export`` (read any export back). See docs/export.md."""
from .batch import export_batch, export_npz
from .core import EXECUTORS
from .load import load_export
from .writers import FORMATS, LAYOUTS

__all__ = ["export_batch", "export_npz", "load_export", "FORMATS", "LAYOUTS", "EXECUTORS"]
