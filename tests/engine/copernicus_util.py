"""Small maps in the layout of Copernicus-Embed's ``embed_map_310k.tif`` (tests build them).

The real map: 721 x 1440 cells, 768 float32 bands, EPSG:4326, transform
``(0.25, 0, -180.125, 0, -0.25, 90.125)``, empty (ocean) cells all zeros - as torchgeo's
test data for ``CopernicusEmbed`` writes it. These are windows of that global lattice
(same cell edges), with cell values that say where they are: band 0 = the cell centre's
longitude, band 1 its latitude, bands 2.. a pattern; ``ocean`` cells are all zeros.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LEFT, TOP, RES = -180.125, 90.125, 0.25


def write_map(path: Path, col0: int, row0: int, width: int, height: int,
              ocean: tuple[tuple[int, int], ...] = ()) -> Path:
    """Cells ``[row0, row0 + height) x [col0, col0 + width)`` of the global map (``ocean``: zero
    cells, as (row, col) of the global map)."""
    import rasterio

    rows = row0 + np.arange(height)
    cols = col0 + np.arange(width)
    lat = TOP - (rows + 0.5) * RES
    lon = LEFT + (cols + 0.5) * RES
    data = np.empty((768, height, width), np.float32)
    data[0] = lon[None, :]
    data[1] = lat[:, None]
    data[2:] = (np.arange(2, 768, dtype=np.float32) % 17 / 17.0 - 0.5)[:, None, None]
    for r, c in ocean:
        data[:, r - row0, c - col0] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", dtype="float32", nodata=None, width=width, height=height, count=768,
                   crs="EPSG:4326", transform=rasterio.Affine(RES, 0.0, LEFT + col0 * RES, 0.0, -RES, TOP - row0 * RES),
                   tiled=True, blockxsize=16, blockysize=16, compress="deflate", interleave="pixel")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def cell_of(lon: float, lat: float) -> tuple[int, int]:
    """(row, col) of the global map's cell holding a point."""
    return int(np.floor((TOP - lat) / RES)), int(np.floor((lon - LEFT) / RES)) % 1440
