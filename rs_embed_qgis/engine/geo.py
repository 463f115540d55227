"""Geometry helpers: an ROI's UTM grid, transforms, bounds in other CRSs.

Providers fetch a patch on the ROI's UTM grid at ``sensor.scale_m``; grids of
embeddings cover the same ROI bounds, so a grid of any size lands exactly on
the ROI when written as a GeoTIFF.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .errors import SpecError
from .specs import BBox, PointBuffer, SpatialSpec, validate_spatial


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing ``(lon, lat)``."""
    if not -80 <= lat <= 84:
        raise SpecError(f"latitude {lat} is outside the UTM range -80..84 degrees")
    zone = int((lon + 180) // 6) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def transform_bounds(bounds: tuple[float, float, float, float], src: str, dst: str,
                     densify: int = 21) -> tuple[float, float, float, float]:
    """Bounds of a rectangle after reprojection (edges densified)."""
    if src == dst:
        return bounds
    return _transformer(src, dst).transform_bounds(*bounds, densify_pts=densify)


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


def roi_grid(spatial: SpatialSpec, scale_m: float) -> RoiGrid:
    """The ROI's grid in its UTM zone at ``scale_m``, snapped to multiples of ``scale_m``."""
    spatial = validate_spatial(spatial)
    if not scale_m or scale_m <= 0:
        raise SpecError(f"scale_m must be > 0, got {scale_m}")
    lon, lat = spatial.center
    crs = f"EPSG:{utm_epsg(lon, lat)}"
    if isinstance(spatial, PointBuffer):
        x, y = _transformer("EPSG:4326", crs).transform(lon, lat)
        x0, b, r, t = x - spatial.buffer_m, y - spatial.buffer_m, x + spatial.buffer_m, y + spatial.buffer_m
    else:  # a BBox: validate_spatial lets nothing else through
        x0, b, r, t = transform_bounds(
            (spatial.minlon, spatial.minlat, spatial.maxlon, spatial.maxlat), "EPSG:4326", crs)
    left = math.floor(x0 / scale_m) * scale_m
    top = math.ceil(t / scale_m) * scale_m
    width = max(1, int(math.ceil((r - left) / scale_m - 1e-9)))
    height = max(1, int(math.ceil((top - b) / scale_m - 1e-9)))
    return RoiGrid(crs=crs, left=float(left), top=float(top), res=float(scale_m),
                   width=width, height=height)


def roi_bounds_4326(spatial: SpatialSpec) -> tuple[float, float, float, float]:
    """The ROI's lon/lat bounds (for a PointBuffer, of its square in UTM)."""
    spatial = validate_spatial(spatial)
    if isinstance(spatial, BBox):
        return (spatial.minlon, spatial.minlat, spatial.maxlon, spatial.maxlat)
    g = roi_grid(spatial, 1.0)
    return g.bounds_in("EPSG:4326")
