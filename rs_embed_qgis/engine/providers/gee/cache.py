"""The disk cache of fetched Earth Engine patches, keyed by a hash of the request.

A rerun, or a second model on the same ROI, reads the patch from disk instead of
downloading it again (:class:`~..cache.ArrayCache`: a damaged file is fetched again and a
read-only cache folder only turns caching off; both are logged, never fatal).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...geo import RoiGrid
from ..cache import ArrayCache, cache_folder

#: windows ending less than this many days ago are not cached: Earth Engine is still
#: ingesting their scenes, so a later fetch may find more
CACHE_MIN_AGE_DAYS = 30

Bin = tuple[_dt.date | None, _dt.date | None]


def default_cache_dir() -> Path | None:
    """``RS_EMBED_GEE_CACHE`` (``0``/``off``: no cache), else ``gee_patches`` in the engine's cache."""
    return cache_folder("RS_EMBED_GEE_CACHE", "gee_patches")


def cache_key(request: dict[str, Any], grid: RoiGrid, bins: Sequence[Bin]) -> str:
    """A stable hash of what determines the pixels: ``request`` (collection, bands, masks...),
    the time bins and the grid."""
    req = dict(request, v=1,
               bins=[[s.isoformat() if s else None, e.isoformat() if e else None] for s, e in bins],
               grid=[grid.crs, grid.left, grid.top, grid.res, grid.yres, grid.width, grid.height])
    return hashlib.sha256(json.dumps(req, sort_keys=True).encode()).hexdigest()[:32]


def cacheable(bins: Sequence[Bin], annual: bool) -> bool:
    """Whether a fetch over ``bins`` may be kept: annual products, or windows old enough."""
    end = bins[-1][1]
    return annual or (end is not None and end <= _dt.date.today() - _dt.timedelta(days=CACHE_MIN_AGE_DAYS))


class PatchCache(ArrayCache):
    """Patches (data + frame records) as ``<dir>/<key[:2]>/<key>.npz``; ``folder=None``: no cache."""

    record = "frames"

    def __init__(self, folder: Path | None) -> None:
        super().__init__(folder, "Earth Engine patches")


__all__ = ["CACHE_MIN_AGE_DAYS", "default_cache_dir", "cache_key", "cacheable", "PatchCache"]
