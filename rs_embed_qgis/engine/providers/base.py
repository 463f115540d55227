"""What every data backend returns (a :class:`Patch`) and the provider interface."""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError
from ..geo import RoiGrid
from ..specs import SensorSpec, SpatialSpec, TemporalSpec


@dataclass
class Patch:
    """Pixels of one ROI: ``data`` is float32 ``(T, C, H, W)`` on ``grid``.

    ``frames`` has one dict per time step (``start``, ``end``, ``mid`` ISO dates,
    ``n_scenes``, ``scenes``). ``valid`` is the fraction of pixels that had data
    before ``fill_value`` was used, per frame.
    """

    data: np.ndarray
    bands: tuple[str, ...]
    grid: RoiGrid | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    sensor: SensorSpec | None = None
    temporal: TemporalSpec | None = None
    backend: str = "data"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.data, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ProviderError(f"patch data must be CHW or TCHW, got shape {arr.shape}")
        if arr.shape[1] != len(self.bands):
            raise ProviderError(
                f"patch has {arr.shape[1]} channels but {len(self.bands)} band names {self.bands!r}")
        self.data = arr
        self.bands = tuple(self.bands)

    @property
    def chw(self) -> np.ndarray:
        """The first (or only) frame, ``(C, H, W)``."""
        return self.data[0]

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])

    def frame_dates(self) -> list[_dt.date]:
        return [_dt.date.fromisoformat(f["mid"]) for f in self.frames if f.get("mid")]

    def select_bands(self, bands: Sequence[str]) -> Patch:
        """A patch with only ``bands``, in that order (aliases such as B02/B2 accepted)."""
        from .bands import band_index

        idx = [band_index(self.bands, b) for b in bands]
        return Patch(self.data[:, idx], tuple(bands), self.grid, self.frames, self.sensor,
                     self.temporal, self.backend, dict(self.meta))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary for metadata."""
        d: dict[str, Any] = {
            "shape_tchw": list(self.data.shape), "bands": list(self.bands),
            "backend": self.backend, "frames": self.frames,
        }
        if self.grid is not None:
            d.update(crs=self.grid.crs, transform=list(self.grid.transform),
                     bounds=list(self.grid.bounds))
        d.update({k: v for k, v in self.meta.items() if k not in d})
        return d


class Provider:
    """A data backend: fetches a :class:`Patch` for an ROI, window and sensor."""

    name = "base"

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        """One composite over the window (``frames=None``) or ``frames`` binned composites."""
        raise NotImplementedError

    @staticmethod
    def checked(spatial: SpatialSpec, sensor: SensorSpec):
        """Validated spatial and sensor, and the ROI's grid at the sensor's scale."""
        from ..errors import SpecError
        from ..geo import roi_grid
        from ..specs import validate_spatial

        spatial = validate_spatial(spatial)
        if not isinstance(sensor, SensorSpec):
            raise SpecError(f"sensor must be a SensorSpec, got {sensor!r}")
        sensor = sensor.validate()
        return spatial, sensor, roi_grid(spatial, sensor.scale_m)

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None,
                   sensor: SensorSpec, *, frames: int | None = None,
                   num_workers: int = 1) -> list[Patch]:
        """Fetch many ROIs, ``num_workers`` at a time (threads: fetching is I/O bound)."""
        if num_workers <= 1 or len(spatials) <= 1:
            return [self.fetch(s, temporal, sensor, frames=frames) for s in spatials]
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            return list(pool.map(lambda s: self.fetch(s, temporal, sensor, frames=frames),
                                 spatials))


def cache_dir_for(env_var: str, name: str) -> Path | None:
    """A backend's disk cache folder: ``$env_var`` (``0``/``off``/``none``: no cache), else
    ``<rs-embed cache>/<name>``."""
    base = os.environ.get(env_var)
    if base:
        if base.strip().lower() in ("0", "off", "no", "false", "none"):
            return None
        return Path(base)
    from ..weights import cache_dir

    return cache_dir() / name


class ArrayCache:
    """Arrays and their JSON metadata on disk (one ``.npz`` per key; atomic writes; a damaged
    or unreadable file is a miss, a read-only folder is no error)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def path(self, key: str) -> Path | None:
        return self.folder / key[:2] / f"{key}.npz" if self.folder else None

    def load(self, key: str) -> tuple[np.ndarray, Any] | None:
        p = self.path(key)
        if p is None or not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return z["data"].astype(np.float32), json.loads(str(z["meta"]))
        except Exception:  # noqa: BLE001 - a damaged file (BadZipFile, KeyError ...) is read again
            return None

    def save(self, key: str, data: np.ndarray, meta: Any) -> None:
        p = self.path(key)
        if p is None:
            return
        from ..io import atomic_path

        try:
            with atomic_path(p, suffix=".npz") as tmp, open(tmp, "wb") as fh:
                np.savez(fh, data=data, meta=np.array(json.dumps(meta)))
        except OSError:
            pass
