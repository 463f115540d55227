"""What every data backend returns (a :class:`Patch`) and the provider interface."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ProviderError
from ..geo import RoiGrid
from ..progress import check_cancelled, in_scope
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
    #: whether this backend filters Sentinel-1 scenes by pass and swath mode (``SensorSpec.orbit``,
    #: ``s1_require_iw``): it needs scene metadata, which today only Earth Engine has
    filters_sentinel1_scenes = False
    #: fetching is CPU work (decoding local files), not waiting on a server: a worker's readers
    #: then stay within its cores (``pipeline.fetch(reader_budget=...)``)
    cpu_bound = False

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None,
              sensor: SensorSpec, *, frames: int | None = None) -> Patch:
        """One composite over the window (``frames=None``) or ``frames`` binned composites."""
        raise NotImplementedError

    def session(self):
        """A context manager under which this thread's fetches share what the provider keeps
        open between ROIs (the local backend: its open files), so a worker that fetches many
        batches in turn opens them once, not once per batch. Default: nothing to share."""
        import contextlib

        return contextlib.nullcontext()

    def checked(self, spatial: SpatialSpec, sensor: SensorSpec):
        """Validated spatial and sensor, and the ROI's grid at the sensor's scale.

        A backend that cannot filter Sentinel-1 scenes reads the radar files it has as they
        are; a sensor that insists on a filter (``orbit``, or ``s1_require_iw`` without
        ``s1_relax_iw_on_empty``) is a :class:`ProviderError` naming the backend that can.
        """
        from ..errors import SpecError
        from ..geo import roi_grid
        from ..specs import validate_spatial

        spatial = validate_spatial(spatial)
        if not isinstance(sensor, SensorSpec):
            raise SpecError(f"sensor must be a SensorSpec, got {sensor!r}")
        sensor = sensor.validate()
        insists = [f for f, on in (("orbit", sensor.orbit is not None),
                                   ("s1_require_iw without s1_relax_iw_on_empty",
                                    sensor.s1_require_iw and not sensor.s1_relax_iw_on_empty)) if on]
        if sensor.is_sentinel1 and insists and not self.filters_sentinel1_scenes:
            raise ProviderError(
                f"backend {self.name!r} cannot filter Sentinel-1 scenes by pass or swath mode (asked: "
                f"{', '.join(insists)}; orbit={sensor.orbit!r}); the Earth Engine backend can: use backend='gee'")
        return spatial, sensor, roi_grid(spatial, sensor.scale_m)

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None,
                   sensor: SensorSpec, *, frames: int | None = None,
                   num_workers: int = 1) -> list[Patch]:
        """Fetch many ROIs, ``num_workers`` at a time (threads: fetching is I/O bound).

        The pipeline fetches a batch through this method, so a provider that can do
        better than one ROI after the other (read each scene file once for every ROI
        it touches) overrides it. A cancel point before each ROI.
        """
        def one(s: SpatialSpec) -> Patch:
            check_cancelled()
            return self.fetch(s, temporal, sensor, frames=frames)

        if num_workers <= 1 or len(spatials) <= 1:
            return [one(s) for s in spatials]
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            return list(pool.map(in_scope(one), spatials))
