"""Copernicus-Embed (Wang et al., ICCV 2025; zhu-xlab/Copernicus-FM): one 768-d embedding per
0.25-degree cell of the globe, read from its GeoTIFF onto the cells an ROI touches.

The product is ``embed_map_310k.tif`` of the ``torchgeo/copernicus_embed`` Hugging Face
dataset (torchgeo's ``CopernicusEmbed``): 721 x 1440 cells, 768 float32 bands, EPSG:4326,
transform ``(0.25, 0, -180.125, 0, -0.25, 90.125)`` - cell centres on the 0.25-degree
lattice from -180 to 179.75 and 90 to -90 (ERA5's grid); empty (ocean) cells are all zeros.

Cell semantics: the ROI's lon/lat bounds select every cell they touch (columns wrap
around the antimeridian). The patch is those cells on the product's own grid, so a grid
output is the cells themselves (EPSG:4326, 0.25 degrees), however small the ROI: an ROI
inside one cell gets that cell's vector. Each cell also gets the share of the ROI's area
it holds (areas on the sphere: longitude overlap x difference of sin(latitude)), which the
adapter uses to pool. A batch reads the cells under a group of neighbouring ROIs as one window
(:mod:`.groups`) and cuts each ROI's cells from it.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import budget
from ..errors import ProviderError
from ..geo import RoiGrid, roi_bounds_4326
from ..geoio import Window
from ..specs import SensorSpec, SpatialSpec, TemporalSpec, validate_spatial
from . import groups
from .base import Patch, Provider

DIM = 768
BANDS = tuple(f"C{i:03d}" for i in range(DIM))
COLLECTION = "COPERNICUS_EMBED/0.25DEG"


def _runs(cols: list[int]) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` runs of column indices (two where the ROI wraps at 180)."""
    runs: list[tuple[int, int]] = []
    for c in cols:
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs


class CopernicusEmbedProvider(Provider):
    """The cells of the Copernicus-Embed GeoTIFF under an ROI."""

    name = "copernicus"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._local = threading.local()  # one open dataset per thread: GDAL keeps its decoded blocks

    def _dataset(self):
        """This thread's open reader of the map (opened once; the reads reuse GDAL's block cache)."""
        src = getattr(self._local, "src", None)
        if src is None:
            from ..geoio import open_raster

            src = self._local.src = open_raster(self.path)
        return src

    def _checked_info(self):
        """This thread's reader and the map's grid, checked to be the product's."""
        src = self._dataset()
        info = src.info
        a, b, _, d, e, _ = info.transform
        if info.crs != "EPSG:4326" or b or d or a <= 0 or e >= 0:
            raise ProviderError(f"{str(self.path)!r} is not the Copernicus-Embed map: expected a north-up "
                                f"EPSG:4326 grid, got CRS {info.crs} and transform {info.transform}")
        if info.count != DIM:
            raise ProviderError(f"{str(self.path)!r} has {info.count} bands, Copernicus-Embed has {DIM}")
        return src, info

    def _cells(self, spatial: SpatialSpec, info) -> tuple[tuple[float, ...], RoiGrid]:
        """The ROI's lon/lat bounds and the grid of the cells they touch (columns counted on
        past the antimeridian: the grid's ``left`` may lie beyond -180 or 180)."""
        minlon, minlat, maxlon, maxlat = roi_bounds_4326(spatial)
        a, _, left, _, e, top = info.transform
        xres, yres = a, -e
        c0 = math.floor((minlon - left) / xres)
        c1 = max(c0 + 1, math.ceil((maxlon - left) / xres))
        r0 = max(0, math.floor((top - maxlat) / yres))
        r1 = min(info.height, max(r0 + 1, math.ceil((top - minlat) / yres)))
        if (not self._full_circle(info) and (c0 < 0 or c1 > info.width)) or r0 >= info.height:
            raise ProviderError(f"the ROI ({minlon:.4f}, {minlat:.4f}, {maxlon:.4f}, {maxlat:.4f}) is outside "
                                f"the map in {str(self.path)!r}")
        grid = RoiGrid(crs="EPSG:4326", left=float(left + c0 * xres), top=float(top - r0 * yres), res=float(xres),
                       width=c1 - c0, height=r1 - r0, res_y=float(yres))
        return (minlon, minlat, maxlon, maxlat), grid

    @staticmethod
    def _full_circle(info) -> bool:
        return info.width * info.transform[0] >= 360.0 - 1e-9

    def _read(self, src, info, grid: RoiGrid) -> np.ndarray:
        """The cells of ``grid``, ``(768, h, w)`` (columns wrap around the antimeridian)."""
        r0, c0 = self._origin(info, grid)
        cols = [c % info.width if self._full_circle(info) else c for c in range(c0, c0 + grid.width)]
        parts = [src.read(window=Window(s, r0, t - s, grid.height), dtype="float32") for s, t in _runs(cols)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)

    @staticmethod
    def _origin(info, grid: RoiGrid) -> tuple[int, int]:
        """Row and (unwrapped) column of the grid's first cell in the map."""
        a, _, left, _, e, top = info.transform
        return round((top - grid.top) / -e), round((grid.left - left) / a)

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec, *,
              frames: int | None = None) -> Patch:
        spatial = validate_spatial(spatial)
        src, info = self._checked_info()
        bounds, grid = self._cells(spatial, info)
        return self._patch(bounds, grid, info, self._read(src, info, grid), sensor, temporal)

    def fetch_many(self, spatials: Sequence[SpatialSpec], temporal: TemporalSpec | None, sensor: SensorSpec, *,
                   frames: int | None = None, num_workers: int = 1) -> list[Patch]:
        """Many ROIs, read once per group of neighbours (:mod:`.groups`): the cells under a group
        are one window of the map, read once (768 bands: a read costs milliseconds however few
        its cells), and each ROI's cells are cut from it - the same numbers as ROI by ROI. ROIs
        without neighbours, or outside the map, are fetched one by one."""
        spatials = [validate_spatial(s) for s in spatials]
        if len(spatials) < 2:
            return super().fetch_many(spatials, temporal, sensor, frames=frames, num_workers=num_workers)
        src, info = self._checked_info()
        cells: list[tuple[tuple[float, ...], RoiGrid] | None] = []
        for sp in spatials:
            try:
                cells.append(self._cells(sp, info))
            except ProviderError:
                cells.append(None)  # fetched alone, where its error is raised
        side = (budget.READ_BUFFER / (DIM * 4)) ** 0.5 * info.transform[0]   # degrees: a group's extent

        def cut(data: np.ndarray, union: RoiGrid, k: int) -> Patch:
            bounds, grid = cells[k]
            r0, c0 = groups.offset(union, grid)
            part = data[:, r0:r0 + grid.height, c0:c0 + grid.width].copy()
            return self._patch(bounds, grid, info, part, sensor, temporal)

        def alone(ks: list[int]) -> list[Patch]:
            return Provider.fetch_many(self, [spatials[k] for k in ks], temporal, sensor, frames=frames,
                                       num_workers=num_workers)

        return groups.fetch_by_unions(spatials, [c[1] if c else None for c in cells], side, side,
                                      lambda union: self._read(src, info, union), cut, alone)

    def _patch(self, bounds: tuple[float, ...], grid: RoiGrid, info, data: np.ndarray, sensor: SensorSpec,
               temporal: TemporalSpec | None) -> Patch:
        """The ROI's patch: its cells and the share of its area each holds."""
        minlon, minlat, maxlon, maxlat = bounds
        xres, yres = grid.res, grid.yres
        r0, c0 = self._origin(info, grid)
        h, w = grid.height, grid.width
        left, top = info.transform[2], info.transform[5]
        # share of the ROI's area in each cell: lon overlap x (sin(lat_hi) - sin(lat_lo))
        cell_w = left + np.arange(c0, c0 + w) * xres
        dlon = np.clip(np.minimum(cell_w + xres, maxlon) - np.maximum(cell_w, minlon), 0.0, None)
        cell_n = top - np.arange(r0, r0 + h) * yres
        hi = np.radians(np.minimum(cell_n, maxlat))
        lo = np.radians(np.maximum(cell_n - yres, minlat))
        dlat = np.clip(np.sin(hi) - np.sin(lo), 0.0, None)
        share = dlat[:, None] * dlon[None, :]
        share = share / share.sum()
        centres = [[round(float(top - (r + 0.5) * yres), 6), round(float(left + (c + 0.5) * xres), 6)]
                   for r in range(r0, r0 + h) for c in range(c0, c0 + w)]
        meta: dict[str, Any] = {
            "product": "Copernicus-Embed 0.25 degree", "file": str(self.path),
            "roi_bounds_4326": [minlon, minlat, maxlon, maxlat],
            "cells_hw": [h, w], "cell_centres_latlon": centres,
            "cell_roi_share": share.round(6).tolist(),
            "roi_within_one_cell": h * w == 1,
        }
        frame = {"n_scenes": 1, "scenes": [self.path.name], "valid_fraction": float(np.any(data != 0, axis=0).mean())}
        return Patch(data[None], BANDS, grid, [frame], sensor=sensor, temporal=temporal,
                     backend="local:copernicus", meta=meta)
