"""Geometry helpers: an ROI's footprint and UTM grid, bounds in other CRSs.

Providers fetch a patch on the ROI's UTM grid at ``sensor.scale_m``; grids of
embeddings cover the same ROI bounds, so a grid of any size lands exactly on
the ROI when written as a GeoTIFF. :func:`roi_footprint` is the one polygon of an
ROI that the dock draws, the provider fetches and the exports store.
Coordinates are transformed by :mod:`.geoio` (QGIS's own PROJ inside QGIS).
"""
from __future__ import annotations

import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SpecError
from .geoio import transform_bounds, transform_points
from .specs import BBox, PointBuffer, SpatialSpec, validate_spatial


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing ``(lon, lat)``."""
    if not -80 <= lat <= 84:
        raise SpecError(f"latitude {lat} is outside the UTM range -80..84 degrees")
    zone = int((lon + 180) // 6) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class RoiGrid:
    """A north-up pixel grid over an ROI: CRS, origin, pixel size and shape."""

    crs: str
    left: float
    top: float
    res: float
    width: int
    height: int
    res_y: float = 0.0  # 0: square pixels (res); set for rasters with other pixel heights

    @property
    def yres(self) -> float:
        return self.res_y or self.res

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine in rasterio order ``(a, b, c, d, e, f)``."""
        return (self.res, 0.0, self.left, 0.0, -self.yres, self.top)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.left, self.top - self.height * self.yres,
                self.left + self.width * self.res, self.top)

    @classmethod
    def from_transform(cls, crs: str, transform, width: int, height: int) -> RoiGrid:
        """A grid from a north-up affine transform (rasterio order)."""
        a, b, c, d, e, f = tuple(transform)[:6]
        if b != 0 or d != 0 or a <= 0 or e >= 0:
            raise SpecError(
                f"transform must be north-up (no rotation, a > 0, e < 0), got {tuple(transform)[:6]}")
        return cls(crs=str(crs), left=float(c), top=float(f), res=float(a),
                   width=int(width), height=int(height), res_y=float(-e))

    def bounds_in(self, crs: str) -> tuple[float, float, float, float]:
        return transform_bounds(self.bounds, self.crs, crs)

    def coarsen(self, height: int, width: int) -> tuple[float, float, float, float, float, float]:
        """Transform of a ``height x width`` grid covering the same bounds."""
        x0, b, r, t = self.bounds
        return ((r - x0) / width, 0.0, x0, 0.0, -(t - b) / height, t)


def _roi_utm(spatial: SpatialSpec) -> tuple[str, tuple[float, float, float, float]]:
    """The ROI's UTM zone and its bounds there: a PointBuffer's square of half-side
    ``buffer_m`` around the point, a BBox's lon/lat rectangle reprojected (edges densified)."""
    return _rois_utm([spatial])[0]


def _rois_utm(spatials: Sequence[SpatialSpec]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """:func:`_roi_utm` of many ROIs: the points of each UTM zone transformed in one call."""
    out: list[tuple[str, tuple[float, float, float, float]] | None] = [None] * len(spatials)
    points: dict[str, list[int]] = {}
    for i, spatial in enumerate(spatials):
        lon, lat = spatial.center
        crs = f"EPSG:{utm_epsg(lon, lat)}"
        if isinstance(spatial, PointBuffer):
            points.setdefault(crs, []).append(i)
        elif isinstance(spatial, BBox):
            out[i] = (crs, transform_bounds((spatial.minlon, spatial.minlat, spatial.maxlon, spatial.maxlat),
                                            "EPSG:4326", crs))
        else:
            raise SpecError(f"spatial must be a BBox or a PointBuffer, got {type(spatial).__name__}")
    for crs, idx in points.items():
        xs, ys = transform_points([spatials[i].lon for i in idx], [spatials[i].lat for i in idx], "EPSG:4326", crs)
        for i, x, y in zip(idx, xs.tolist(), ys.tolist(), strict=True):
            b = spatials[i].buffer_m
            out[i] = (crs, (x - b, y - b, x + b, y + b))
    return out  # type: ignore[return-value]


_grids: OrderedDict[tuple[SpatialSpec, float], RoiGrid] = OrderedDict()
_grids_lock = threading.Lock()
_GRIDS_KEPT = 8192  # one ROI's grid is asked for by the plan, the size estimate, the fetch: kept for a while


def roi_grid(spatial: SpatialSpec, scale_m: float) -> RoiGrid:
    """The ROI's grid in its UTM zone at ``scale_m``, snapped to multiples of ``scale_m``."""
    return roi_grids([spatial], scale_m)[0]


def roi_grids(spatials: Sequence[SpatialSpec], scale_m: float) -> list[RoiGrid]:
    """:func:`roi_grid` of many ROIs (a batch's points transformed together)."""
    spatials = [validate_spatial(s) for s in spatials]
    if not scale_m or scale_m <= 0:
        raise SpecError(f"scale_m must be > 0, got {scale_m}")
    scale_m = float(scale_m)
    with _grids_lock:
        got = [_grids.get((s, scale_m)) for s in spatials]
    todo = list({s: None for s, g in zip(spatials, got, strict=True) if g is None})
    if todo:
        new = {s: _snapped(crs, bounds, scale_m) for s, (crs, bounds) in zip(todo, _rois_utm(todo), strict=True)}
        with _grids_lock:
            for s, g in new.items():
                _grids[(s, scale_m)] = g
            while len(_grids) > _GRIDS_KEPT:
                _grids.popitem(last=False)
        got = [g if g is not None else new[s] for s, g in zip(spatials, got, strict=True)]
    return got  # type: ignore[return-value]


def _snapped(crs: str, bounds: tuple[float, float, float, float], scale_m: float) -> RoiGrid:
    x0, b, r, t = bounds
    left = math.floor(x0 / scale_m) * scale_m
    top = math.ceil(t / scale_m) * scale_m
    width = max(1, int(math.ceil((r - left) / scale_m - 1e-9)))
    height = max(1, int(math.ceil((top - b) / scale_m - 1e-9)))
    return RoiGrid(crs=crs, left=float(left), top=float(top), res=float(scale_m),
                   width=width, height=height)


Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Footprint:
    """The exact area of an ROI, in its UTM zone (``crs``) and in EPSG:4326.

    A ``PointBuffer`` is the square of half-side ``buffer_m`` around the point in its UTM
    zone; a ``BBox`` is its lon/lat rectangle. ``ring`` (UTM) and ``ring_4326`` are closed
    rings with the same vertices: the rectangle's edges densified in the CRS where the ROI is a
    rectangle, every vertex transformed to the other. ``bounds`` are the UTM bounds the
    provider's grid covers (:func:`roi_grid` snaps them outwards to whole pixels).
    """

    crs: str
    ring: Ring
    ring_4326: Ring
    bounds: tuple[float, float, float, float]

    @property
    def bounds_4326(self) -> tuple[float, float, float, float]:
        xs, ys = zip(*self.ring_4326, strict=True)
        return (min(xs), min(ys), max(xs), max(ys))

    def _ring(self, crs: str) -> Ring:
        if crs == "EPSG:4326":
            return self.ring_4326
        if crs == self.crs:
            return self.ring
        raise SpecError(f"a footprint is in {self.crs} or EPSG:4326, got crs={crs!r}")

    def wkt(self, crs: str = "EPSG:4326") -> str:
        """``POLYGON ((x y, ...))`` in ``crs`` (x = longitude / easting)."""
        return "POLYGON ((" + ", ".join(f"{x!r} {y!r}" for x, y in self._ring(crs)) + "))"

    def wkb(self, crs: str = "EPSG:4326") -> bytes:
        """ISO WKB (little endian) of the polygon in ``crs``."""
        ring = self._ring(crs)
        return struct.pack(f"<BIII{2 * len(ring)}d", 1, 3, 1, len(ring), *[v for p in ring for v in p])


def _edges(x0: float, y0: float, x1: float, y1: float, n: int) -> list[tuple[float, float]]:
    """A closed rectangle ring, counter-clockwise from the lower left, ``n`` segments per edge."""
    x0, y0, x1, y1 = float(x0), float(y0), float(x1), float(y1)
    t = [i / n for i in range(n)]
    ring = ([(x0 + (x1 - x0) * u, y0) for u in t] + [(x1, y0 + (y1 - y0) * u) for u in t]
            + [(x1 - (x1 - x0) * u, y1) for u in t] + [(x0, y1 - (y1 - y0) * u) for u in t])
    return ring + [ring[0]]


def roi_footprint(spatial: SpatialSpec, densify: int = 16) -> Footprint:
    """The ROI as the provider fetches it, as a polygon in UTM and EPSG:4326 (see
    :class:`Footprint`); ``densify`` segments per edge of the rectangle."""
    spatial = validate_spatial(spatial)
    crs, bounds = _roi_utm(spatial)
    if isinstance(spatial, PointBuffer):
        native, src, dst = _edges(*bounds, densify), crs, "EPSG:4326"
    else:
        native = _edges(spatial.minlon, spatial.minlat, spatial.maxlon, spatial.maxlat, densify)
        src, dst = "EPSG:4326", crs
    xs, ys = transform_points([p[0] for p in native], [p[1] for p in native], src, dst)
    other = tuple(zip(xs.tolist(), ys.tolist(), strict=True))
    native = tuple(native)
    ring, ring_4326 = (native, other) if src == crs else (other, native)
    return Footprint(crs=crs, ring=ring, ring_4326=ring_4326, bounds=tuple(float(v) for v in bounds))


def roi_bounds_4326(spatial: SpatialSpec) -> tuple[float, float, float, float]:
    """The ROI's lon/lat bounds (for a PointBuffer, of its square in UTM)."""
    spatial = validate_spatial(spatial)
    if isinstance(spatial, BBox):
        return (spatial.minlon, spatial.minlat, spatial.maxlon, spatial.maxlat)
    crs, bounds = _roi_utm(spatial)
    return transform_bounds(bounds, crs, "EPSG:4326")
