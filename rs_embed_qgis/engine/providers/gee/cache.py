"""The disk cache of fetched Earth Engine patches, keyed by a hash of the request.

A rerun, or a second model on the same ROI, reads the patch from disk instead of
downloading it again. A damaged file is fetched again and a read-only cache folder
only turns caching off; both are logged, never fatal.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...geo import RoiGrid

log = logging.getLogger(__name__)

#: windows ending less than this many days ago are not cached: Earth Engine is still
#: ingesting their scenes, so a later fetch may find more
CACHE_MIN_AGE_DAYS = 30

Bin = tuple[_dt.date | None, _dt.date | None]


def default_cache_dir() -> Path | None:
    """``RS_EMBED_GEE_CACHE`` (``0``/``off``: no cache), else ``gee_patches`` in the weights cache."""
    base = os.environ.get("RS_EMBED_GEE_CACHE")
    if base:
        if base.strip().lower() in ("0", "off", "no", "false", "none"):
            return None
        return Path(base)
    from ...weights import cache_dir

    return cache_dir() / "gee_patches"


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


class PatchCache:
    """Patches (data + frame records) as ``<dir>/<key[:2]>/<key>.npz``; ``folder=None``: no cache."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def path(self, key: str) -> Path | None:
        return self.folder / key[:2] / f"{key}.npz" if self.folder else None

    def load(self, key: str) -> tuple[np.ndarray, list[dict[str, Any]]] | None:
        p = self.path(key)
        if p is None or not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return z["data"].astype(np.float32), json.loads(str(z["frames"]))
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is refetched, not fatal
            log.warning("damaged Earth Engine cache file %s is ignored and fetched again: %s", p, exc)
            return None

    def save(self, key: str, data: np.ndarray, frames: list[dict[str, Any]]) -> None:
        p = self.path(key)
        if p is None:
            return
        from ...io import atomic_path

        try:
            with atomic_path(p, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, data=data, frames=np.array(json.dumps(frames)))
        except OSError as exc:  # a read-only cache must not fail the fetch
            log.warning("could not write the Earth Engine cache file %s: %s", p, exc)


__all__ = ["CACHE_MIN_AGE_DAYS", "default_cache_dir", "cache_key", "cacheable", "PatchCache"]
