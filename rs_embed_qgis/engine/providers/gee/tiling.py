"""Pixels of a grid from Earth Engine within its request limits: tiles, one ``computePixels``
request per tile (NPY), decoding, and stitching. A tile the server still finds too large is
split in four. Cancel is checked before every tile request.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ...errors import ProviderError
from ...geo import RoiGrid
from ...progress import in_scope
from .faults import TooLarge, TruncatedPixels

#: computePixels limits (https://developers.google.com/earth-engine/reference/rest/v1/projects.image/computePixels)
EE_MAX_REQUEST_BYTES = 48 * 1024 * 1024
EE_MAX_GRID_DIM = 32768
EE_MAX_BANDS = 1024

Tile = tuple[int, int, int, int]  # row, col, height, width


def tiles(grid: RoiGrid, n_bands: int, *, max_request_bytes: int = EE_MAX_REQUEST_BYTES,
          max_grid_dim: int = EE_MAX_GRID_DIM) -> list[Tile]:
    """``(row, col, height, width)`` tiles within the request limits (float32 bands)."""
    bpp = 4 * n_bands
    tw = min(grid.width, max_grid_dim)
    while tw > 1 and tw * bpp > max_request_bytes:
        tw = (tw + 1) // 2
    th = min(grid.height, max_grid_dim, max(1, max_request_bytes // (tw * bpp)))
    return [(r, c, min(th, grid.height - r), min(tw, grid.width - c))
            for r in range(0, grid.height, th) for c in range(0, grid.width, tw)]


def pixel_request(image, grid: RoiGrid, r: int, c: int, h: int, w: int) -> dict[str, Any]:
    """The ``computePixels`` request of one tile of ``grid`` (NPY, the grid's CRS and pixel size)."""
    return {
        "expression": image, "fileFormat": "NPY",
        "grid": {
            "dimensions": {"width": int(w), "height": int(h)},
            "affineTransform": {"scaleX": grid.res, "shearX": 0.0,
                                "translateX": grid.left + c * grid.res,
                                "shearY": 0.0, "scaleY": -grid.yres,
                                "translateY": grid.top - r * grid.yres},
            "crsCode": grid.crs,
        },
    }


def decode_npy(raw: bytes, names: Sequence[str], hw: tuple[int, int]) -> np.ndarray:
    """``(C, H, W)`` float32 from computePixels' NPY (a structured array, one field per band)."""
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - cut bodies raise ValueError/EOFError
        raise TruncatedPixels(f"undecodable NPY body of {len(raw)} bytes: {exc}") from None
    if arr.dtype.names is None:
        raise ProviderError(f"computePixels returned a plain {arr.dtype} array, expected one field per band")
    missing = [n for n in names if n not in arr.dtype.names]
    if missing:
        raise ProviderError(f"computePixels answer lacks bands {missing}; it has {list(arr.dtype.names)}")
    if tuple(arr.shape) != tuple(hw):
        raise TruncatedPixels(f"computePixels returned shape {arr.shape}, expected {hw}")
    return np.stack([arr[n].astype(np.float32) for n in names])


def fetch_grid(fetch_tile: Callable[[int, int, int, int], np.ndarray], n_bands: int, grid: RoiGrid,
               tile_list: Sequence[Tile], num_workers: int) -> tuple[np.ndarray, int]:
    """All tiles of ``grid`` stitched into ``(n_bands, H, W)``, and the number of requests made.

    ``fetch_tile(r, c, h, w)`` returns one tile's ``(n_bands, h, w)`` (it raises
    :class:`TooLarge` when the server refuses the size: the tile is split in four).
    Several tiles are fetched ``num_workers`` at a time.
    """
    out = np.zeros((n_bands, grid.height, grid.width), np.float32)

    def region(t: Tile) -> int:
        r, c, h, w = t
        try:
            out[:, r:r + h, c:c + w] = fetch_tile(r, c, h, w)
            return 1
        except TooLarge as exc:  # the server's limit is lower than ours: split in four
            if h == 1 and w == 1:
                raise ProviderError(f"Earth Engine refused even a 1x1 pixel request: {exc}") from None
            h2, w2 = max(1, (h + 1) // 2), max(1, (w + 1) // 2)
            return sum(region((rr, cc, min(h2, r + h - rr), min(w2, c + w - cc)))
                       for rr in range(r, r + h, h2) for cc in range(c, c + w, w2))

    n = min(num_workers, len(tile_list))
    if n <= 1:
        return out, sum(region(t) for t in tile_list)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="gee-tile") as pool:
        return out, sum(pool.map(in_scope(region), tile_list))


__all__ = ["EE_MAX_REQUEST_BYTES", "EE_MAX_GRID_DIM", "EE_MAX_BANDS", "tiles", "pixel_request", "decode_npy",
           "fetch_grid"]
