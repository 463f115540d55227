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
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
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


# -- what a run keeps in memory per item --------------------------------------------------------
_ITEM_KEYS = ("index", "name", "stem", "status", "files", "timings", "error", "stage", "resumed_without_manifest")
_MODEL_KEYS = ("model", "status", "stage", "error", "error_type")
_weights_seen: dict[str, dict[str, Any]] = {}
_weights_lock = threading.Lock()


def _shared_weights(w: Any) -> Any:
    """One dict per distinct weights record, shared by every item that used those weights."""
    if not isinstance(w, dict):
        return w
    key = to_json(w, sort_keys=True)
    with _weights_lock:
        return _weights_seen.setdefault(key, w)


def slim(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a run keeps of an item while it goes on: status, files, timings, each model's status,
    error and weights identity - not the item's metadata (tens of kB each as Python objects),
    which is in the item's manifest file. So a run's memory does not grow with its ROIs."""
    out = {k: manifest[k] for k in _ITEM_KEYS if k in manifest}
    out["models"] = [dict({k: e[k] for k in _MODEL_KEYS if k in e},
                          weights=_shared_weights((e.get("meta") or {}).get("weights") or e.get("weights")))
                     for e in manifest.get("models") or []]
    return out


class ItemManifests(Sequence):
    """The per-ROI manifests a per-item export returns, in ROI order, read from their files
    when asked for (indexing, iteration): a run of a million ROIs returns them without
    holding them in memory. Where an item has no manifest file (``save_manifest=False``,
    or a ROI never written), its slim record (:func:`slim`) stands in.
    """

    def __init__(self, folder: Path, records: list[dict[str, Any]], on_disk: bool) -> None:
        self.folder, self.records, self.on_disk = Path(folder), records, on_disk

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, rec: dict[str, Any]) -> dict[str, Any]:
        # files are named by the name's safe form (the stem), which older records lack
        man = read_json(self.folder / f"{rec.get('stem', rec['name'])}.json") if self.on_disk else None
        return man if man is not None else rec

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._load(r) for r in self.records[i]]
        return self._load(self.records[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._load(r) for r in self.records)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"ItemManifests({len(self)} items in {str(self.folder)!r})"
