"""Manifests: the record of what an export holds and how it was made.

One JSON per artifact (per ROI, or one for a combined file) and one per run
(specs, models, options and knobs, weights identity, library versions, timings
and every failure with its error). Item manifests are written *after* their
data files, so a manifest on disk means the item's files are complete.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..io import to_json
from ..provenance import redact  # noqa: F401 - options in manifests, credentials redacted

RUN_MANIFEST = "export_run.json"
MANIFEST_VERSION = 1


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def jsonable(obj: Any) -> Any:
    """A JSON-safe copy (numpy scalars/arrays, tuples, dataclass specs)."""
    return json.loads(to_json(obj))


def sha1_array(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr)
    h = hashlib.sha1(usedforsecurity=False)  # a content fingerprint, not a signature
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def digest(obj: Any) -> str:
    """Stable short hash of a JSON-able object (the job fingerprint)."""
    return hashlib.sha1(to_json(obj, sort_keys=True).encode(), usedforsecurity=False).hexdigest()[:16]


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries whose behaviour shapes the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    from .. import __version__

    out["rs_embed_qgis"] = __version__
    out["numpy"] = np.__version__
    from importlib import metadata

    for dist in ("torch", "rasterio", "pyproj", "scipy", "xarray", "pyarrow", "shapely", "dask",
                 "distributed", "zarr", "netCDF4", "h5netcdf", "earthengine-api"):
        try:  # package metadata: no need to import torch just to name its version
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    from ..geoio import backend_name, gdal_version

    out["gdal"] = gdal_version()
    out["raster_io"] = backend_name() if out["gdal"] else None
    return out


def item_status(model_entries: Iterable[dict[str, Any]]) -> str:
    entries = list(model_entries)
    failed = sum(1 for e in entries if e.get("status") != "ok")
    if failed == 0:
        return "ok"
    return "failed" if failed == len(entries) else "partial"


def failures_of(items: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Every failed (item, model) with its stage and error, for the run manifest."""
    out = []
    for it in items:
        if not it:
            continue
        if it.get("error") and not it.get("models"):
            out.append({"index": it.get("index"), "name": it.get("name"), "model": None,
                        "stage": it.get("stage", "item"), "error": it["error"]})
        for m in it.get("models", []):
            if m.get("status") != "ok":
                out.append({"index": it.get("index"), "name": it.get("name"),
                            "model": m.get("model"), "stage": m.get("stage"),
                            "error": m.get("error")})
    return out


def read_json(path) -> dict[str, Any] | None:
    """A manifest, or None if absent or unreadable (e.g. cut by a crash before atomic mode)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
