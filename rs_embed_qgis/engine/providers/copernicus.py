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
adapter uses to pool.
"""
from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError
from ..geo import RoiGrid, roi_bounds_4326
from ..specs import SensorSpec, SpatialSpec, TemporalSpec, validate_spatial
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

    def fetch(self, spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec, *,
              frames: int | None = None) -> Patch:
        from ..geoio import Window

        spatial = validate_spatial(spatial)
        minlon, minlat, maxlon, maxlat = roi_bounds_4326(spatial)
        src = self._dataset()
        info = src.info
        a, b, left, d, e, top = info.transform
        if info.crs != "EPSG:4326" or b or d or a <= 0 or e >= 0:
            raise ProviderError(f"{str(self.path)!r} is not the Copernicus-Embed map: expected a north-up "
                                f"EPSG:4326 grid, got CRS {info.crs} and transform {info.transform}")
        if info.count != DIM:
            raise ProviderError(f"{str(self.path)!r} has {info.count} bands, Copernicus-Embed has {DIM}")
        xres, yres = a, -e
        full_circle = info.width * xres >= 360.0 - 1e-9
        c0 = math.floor((minlon - left) / xres)
        c1 = max(c0 + 1, math.ceil((maxlon - left) / xres))
        r0 = max(0, math.floor((top - maxlat) / yres))
        r1 = min(info.height, max(r0 + 1, math.ceil((top - minlat) / yres)))
        cols = [c % info.width if full_circle else c for c in range(c0, c1)]
        if not full_circle and (min(cols) < 0 or max(cols) >= info.width) or r0 >= info.height:
            raise ProviderError(f"the ROI ({minlon:.4f}, {minlat:.4f}, {maxlon:.4f}, {maxlat:.4f}) is outside "
                                f"the map in {str(self.path)!r}")
        h = r1 - r0
        parts = [src.read(window=Window(s, r0, t - s, h), dtype="float32") for s, t in _runs(cols)]
        data = np.concatenate(parts, axis=2)                                    # (768, h, w)
        # share of the ROI's area in each cell: lon overlap x (sin(lat_hi) - sin(lat_lo))
        cell_w = left + np.arange(c0, c1) * xres
        dlon = np.clip(np.minimum(cell_w + xres, maxlon) - np.maximum(cell_w, minlon), 0.0, None)
        cell_n = top - np.arange(r0, r1) * yres
        hi = np.radians(np.minimum(cell_n, maxlat))
        lo = np.radians(np.maximum(cell_n - yres, minlat))
        dlat = np.clip(np.sin(hi) - np.sin(lo), 0.0, None)
        share = dlat[:, None] * dlon[None, :]
        share = share / share.sum()
        grid = RoiGrid(crs="EPSG:4326", left=float(left + c0 * xres), top=float(top - r0 * yres), res=float(xres),
                       width=len(cols), height=h, res_y=float(yres))
        centres = [[round(float(top - (r + 0.5) * yres), 6), round(float(left + (c + 0.5) * xres), 6)]
                   for r in range(r0, r1) for c in range(c0, c1)]
        meta: dict[str, Any] = {
            "product": "Copernicus-Embed 0.25 degree", "file": str(self.path),
            "roi_bounds_4326": [minlon, minlat, maxlon, maxlat],
            "cells_hw": [h, len(cols)], "cell_centres_latlon": centres,
            "cell_roi_share": share.round(6).tolist(),
            "roi_within_one_cell": h * len(cols) == 1,
        }
        frame = {"n_scenes": 1, "scenes": [self.path.name], "valid_fraction": float(np.any(data != 0, axis=0).mean())}
        return Patch(data[None], BANDS, grid, [frame], sensor=sensor, temporal=temporal,
                     backend="local:copernicus", meta=meta)
