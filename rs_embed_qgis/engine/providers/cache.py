"""Disk caches of fetched pixels, shared by the backends that download (Earth Engine, STAC).

Arrays and their JSON record are kept as ``<folder>/<key[:2]>/<key>.npz``, written
atomically. A damaged file is read again from the source, a read-only folder only
turns caching off; both are logged, never fatal.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def cache_folder(env_var: str, name: str) -> Path | None:
    """A backend's cache folder: ``$env_var`` (``0``/``off``/``none``: no cache), else
    ``<name>`` in the engine's cache (``RS_EMBED_CACHE``)."""
    base = os.environ.get(env_var)
    if base:
        if base.strip().lower() in ("0", "off", "no", "false", "none"):
            return None
        return Path(base)
    from ..weights import cache_dir

    return cache_dir() / name


class ArrayCache:
    """float32 arrays with a JSON record (stored under ``record``), by key; ``folder=None``: no cache."""

    record = "meta"

    def __init__(self, folder: Path | None, what: str = "cached pixels") -> None:
        self.folder, self.what = folder, what

    def path(self, key: str) -> Path | None:
        return self.folder / key[:2] / f"{key}.npz" if self.folder else None

    def load(self, key: str) -> tuple[np.ndarray, Any] | None:
        p = self.path(key)
        if p is None or not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return z["data"].astype(np.float32), json.loads(str(z[self.record]))
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is fetched again, not fatal
            log.warning("damaged cache file of %s %s is ignored and fetched again: %s", self.what, p, exc)
            return None

    def save(self, key: str, data: np.ndarray, record: Any) -> None:
        p = self.path(key)
        if p is None:
            return
        from ..io import atomic_path

        try:
            with atomic_path(p, suffix=".npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, data=data, **{self.record: np.array(json.dumps(record))})
        except OSError as exc:  # a read-only cache must not fail the fetch
            log.warning("could not write the cache file of %s %s: %s", self.what, p, exc)


__all__ = ["cache_folder", "ArrayCache"]
