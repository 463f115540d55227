"""Small GeoTessera tiles written as geotessera lays them out (tests build them, no download).

A real tile covers its whole 0.1-degree cell at 10 m in the cell's UTM zone; these cover
only a window of the cell around a point of interest (the reader handles any raster
extent), with values that encode where each pixel is:

- dimension 0: ``(lon - ref_lon) / 1e-4`` and dimension 1: ``(lat - ref_lat) / 1e-4`` of
  the pixel centre, quantised to int8 with a scale of 1e-4 (so a sampled vector says
  which ground point it came from, to the quantisation step);
- dimension 2: ``10 * tile_id`` (which tile it came from);
- dimensions 3..127: a fixed int8 pattern.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

EMB = "global_0.1_degree_representation"
MASKS = "global_0.1_degree_tiff_all"
SCALE = 1e-4


def utm_of(lon: float, lat: float) -> str:
    return f"EPSG:{(32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1}"


def write_tile(root: Path, year: int, tile_lon: float, tile_lat: float, ref: tuple[float, float],
               half_deg: float = 0.01, tile_id: int = 1, scales_3d: bool = False,
               fmt: str = "npy") -> dict[str, Path]:
    """One tile (``grid_<tile_lon>_<tile_lat>``) covering ``ref +/- half_deg`` clipped to its cell."""
    import rasterio
    from pyproj import Transformer

    crs = utm_of(tile_lon, tile_lat)
    w = max(tile_lon - 0.05, ref[0] - half_deg)
    e = min(tile_lon + 0.05, ref[0] + half_deg)
    s = max(tile_lat - 0.05, ref[1] - half_deg)
    n = min(tile_lat + 0.05, ref[1] + half_deg)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = to_utm.transform_bounds(w, s, e, n)
    left, top = np.floor(x0 / 10) * 10, np.ceil(y1 / 10) * 10
    width, height = int(np.ceil((x1 - left) / 10)), int(np.ceil((top - y0) / 10))
    transform = rasterio.Affine(10.0, 0.0, left, 0.0, -10.0, top)
    cx = left + (np.arange(width) + 0.5) * 10
    cy = top - (np.arange(height) + 0.5) * 10
    gx, gy = np.meshgrid(cx, cy)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(gx, gy)
    q = np.empty((height, width, 128), np.int8)
    q[..., 0] = np.clip(np.round((lon - ref[0]) / SCALE), -127, 127)
    q[..., 1] = np.clip(np.round((lat - ref[1]) / SCALE), -127, 127)
    q[..., 2] = 10 * tile_id
    q[..., 3:] = ((np.arange(3, 128) * 7) % 200 - 100).astype(np.int8)
    scales = np.full((height, width, 128) if scales_3d else (height, width), SCALE, np.float32)

    name = f"grid_{tile_lon:.2f}_{tile_lat:.2f}"
    folder = root / EMB / str(year) / name
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    profile = dict(driver="GTiff", width=width, height=height, crs=crs, transform=transform)
    if fmt == "npy":
        out["npy"], out["scales"] = folder / f"{name}.npy", folder / f"{name}_scales.npy"
        np.save(out["npy"], q)
        np.save(out["scales"], scales)
        (root / MASKS).mkdir(parents=True, exist_ok=True)
        out["landmask"] = root / MASKS / f"{name}.tiff"
        with rasterio.open(out["landmask"], "w", count=1, dtype="uint8", **profile) as dst:
            dst.write(np.ones((1, height, width), np.uint8))
    else:  # geotessera download --format tiff: dequantised float32, 128 bands
        out["tiff"] = folder / f"{name}_{year}.tiff"
        deq = q.astype(np.float32) * (scales if scales_3d else scales[..., None])
        with rasterio.open(out["tiff"], "w", count=128, dtype="float32", **profile) as dst:
            dst.write(np.moveaxis(deq, -1, 0))
    return out
