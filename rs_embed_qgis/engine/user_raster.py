"""Pixels of a raster the user already has (a QGIS layer's file), ready for a model.

A band map says which layer band is which model band (``B4=3``: the model's B4 is the
layer's band 3); it is parsed from text, or resolved from the layer's band descriptions,
or taken in order when the counts match. :func:`read_raster_for_model` reads the mapped
bands (optionally cropped and warped, through :mod:`.geoio`) as CHW float32 in the model's
units.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError
from .providers.bands import canonical_band


def parse_band_map(text: str) -> dict[str, int]:
    """``"B4=3, B3=2, B2=1"`` -> ``{"B4": 3, "B3": 2, "B2": 1}`` (model band = 1-based layer band)."""
    out: dict[str, int] = {}
    for part in [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]:
        if "=" not in part:
            raise SpecError(f"band mapping entries must look like MODEL_BAND=LAYER_BAND (e.g. B4=3), "
                            f"got {part!r}")
        k, v = (x.strip() for x in part.split("=", 1))
        try:
            idx = int(v)
        except ValueError:
            raise SpecError(f"layer band in {part!r} must be a 1-based band number, got {v!r}") from None
        if idx < 1:
            raise SpecError(f"layer band in {part!r} must be >= 1, got {idx}")
        if not k:
            raise SpecError(f"model band name missing in {part!r}")
        if canonical_band(k) in {canonical_band(x) for x in out}:
            raise SpecError(f"model band {k!r} is mapped twice in {text!r}")
        out[k] = idx
    return out


def resolve_band_map(model_bands: list[str], layer_descriptions: list[str],
                     band_map: dict[str, int] | None = None) -> dict[str, int]:
    """Model band -> 1-based layer band.

    An explicit map wins; else bands are matched by the layer's band descriptions
    (``B04`` matches ``B4``); else a layer with exactly the model's band count is
    taken in order. Anything else is an error that lists both sides.
    """
    n = len(layer_descriptions)
    if band_map:
        for k, v in band_map.items():
            if v > n:
                raise SpecError(f"band mapping {k}={v}: the layer has only {n} band(s)")
        missing = [b for b in model_bands
                   if canonical_band(b) not in {canonical_band(k) for k in band_map}]
        if missing and model_bands:
            raise SpecError(f"band mapping {band_map} leaves model band(s) {missing} unmapped; "
                            f"the model needs {list(model_bands)}")
        return dict(band_map)
    desc = [canonical_band(d or "") for d in layer_descriptions]
    if model_bands and all(canonical_band(b) in desc for b in model_bands):
        return {b: desc.index(canonical_band(b)) + 1 for b in model_bands}
    if model_bands and n == len(model_bands):
        return {b: i + 1 for i, b in enumerate(model_bands)}
    raise SpecError(
        f"cannot tell which layer bands are the model's {list(model_bands)}: the layer has {n} "
        f"band(s) described {layer_descriptions}; give a band mapping such as "
        + ", ".join(f"{b}={i + 1}" for i, b in enumerate(model_bands)))


def read_raster_for_model(path: str | Path, band_map: dict[str, int], *, scale: float = 1.0,
                          bounds: tuple | None = None, bounds_crs: str | None = None,
                          dst_crs: str | None = None, max_pixels: int = 40_000_000,
                          ) -> dict[str, Any]:
    """Read the mapped bands of a raster file as CHW float32 in model units.

    ``bounds`` (in ``bounds_crs``, default the raster's) crops to a window; ``dst_crs``
    warps (bilinear) onto that CRS first, e.g. a metric UTM grid for a raster in degrees.
    No-data pixels become 0 (the engine's ``fill_value``), counted in ``nodata_fraction``.
    Returns ``{"data", "bands", "crs", "transform", "nodata_fraction"}``.
    """
    from . import geoio
    from .geo import RoiGrid

    info = geoio.raster_info(path)
    if info.crs is None:
        raise SpecError(f"raster {str(path)!r} has no CRS; assign one before embedding it")
    crs, transform, width, height = info.crs, info.transform, info.width, info.height
    warped = bool(dst_crs) and not geoio.same_crs(dst_crs, info.crs)
    if warped:  # GDAL's default grid for the raster in dst_crs, as gdalwarp -t_srs would make
        crs, transform, width, height = geoio.suggested_grid(path, dst_crs)
    window = None
    if bounds is not None:
        b = tuple(bounds)
        if bounds_crs and not geoio.same_crs(bounds_crs, crs):
            b = geoio.transform_bounds(b, bounds_crs, crs)
        window = geoio.window_from_bounds(b, transform, width, height)
        if window is None:
            grid_bounds = RoiGrid.from_transform(crs, transform, width, height).bounds
            raise SpecError(f"the extent {tuple(round(v, 6) for v in bounds)} does not overlap "
                            f"the raster {str(path)!r} (bounds {grid_bounds} in {crs})")
    h = window.height if window is not None else height
    w = window.width if window is not None else width
    if h * w * len(band_map) > max_pixels:
        raise SpecError(f"the raster part to embed is {w} x {h} px x {len(band_map)} bands, "
                        f"more than {max_pixels} values; choose a smaller extent")
    idx = list(band_map.values())
    transform = geoio.window_transform(transform, window)
    if warped:
        grid = RoiGrid.from_transform(crs, transform, w, h)
        arr = geoio.warp_read(path, idx, grid, resampling="bilinear", dtype="float32")
        valid = np.isfinite(arr)
    else:
        with geoio.open_raster(path) as src:
            arr = src.read(idx, window, dtype="float32")
            valid = src.masks(idx, window) & np.isfinite(arr)
    mask = ~valid.all(axis=0)
    data = np.where(valid, arr * float(scale), 0.0).astype(np.float32)
    return {"data": data, "bands": list(band_map.keys()), "crs": crs,
            "transform": list(transform)[:6], "nodata_fraction": float(mask.mean()) if mask.size else 0.0}


__all__ = ["parse_band_map", "resolve_band_map", "read_raster_for_model"]
