"""Files the QGIS faces write from engine results (no qgis import): a grid embedding as
GeoTIFF (+ its PCA as GeoTIFF and/or PNG), an input patch as an RGB GeoTIFF.

Running the engine is the engine's: requests and runs are ``engine.pipeline``
(``EmbedRequest``, ``run_embed``), raster pixels for a model ``engine.user_raster``,
input inspection ``engine.input_checks.inspect_patch``, batch export ``engine.export``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .engine import Embedding
from .engine.errors import Cancelled

#: the name the faces used before the engine had one cancel exception
JobCancelled = Cancelled


def save_grid(emb: Embedding, path: str | Path, pca: str | Path | None = None,
              quicklook: str | Path | None = None) -> dict[str, Any]:
    """Write a grid embedding as GeoTIFF and, when asked, its PCA: a 3-band GeoTIFF on the same
    grid (``pca``, with the 2-98 % stretch in ``pca_info``) and/or a PNG picture (``quicklook``).

    All or nothing: if one file cannot be written, those already written are removed."""
    from .engine.io import write_embedding_geotiff, write_pca_geotiff, write_pca_quicklook

    t0 = time.perf_counter()
    written: list[Path] = []
    try:
        res: dict[str, Any] = {"geotiff": str(write_embedding_geotiff(emb, path))}
        written.append(Path(path))
        if pca:
            res["pca_info"] = write_pca_geotiff(emb, pca)
            res["pca"] = str(pca)
            written.append(Path(pca))
        if quicklook:
            upscale = max(1, 256 // max(emb.array.shape[1:]))
            res["quicklook"] = str(write_pca_quicklook(emb, quicklook, upscale=upscale))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    res["write_s"] = time.perf_counter() - t0
    return res


def save_rgb(patch: Any, rgb_bands: list[str], path: str | Path, stretch: str = "percentile",
             clip_pct: tuple = (2.0, 98.0)) -> dict[str, Any]:
    """Write three bands of a patch as a GeoTIFF on its grid.

    ``stretch="percentile"``: uint8 0..255 stretched per band between the ``clip_pct``
    percentiles (0 = no data); ``"raw"``: float32 values as fetched (e.g. reflectance
    x 10000), band descriptions naming the bands. Multi-frame patches: median over time.
    Returns the bands, the percentiles (``limits``) and the min/max a renderer stretches each
    written band to (``display``).
    """
    import warnings

    import numpy as np

    from .engine.errors import SpecError
    from .engine.geoio import write_raster

    if len(rgb_bands) != 3:
        raise SpecError(f"RGB needs exactly 3 bands, got {list(rgb_bands)}")
    if stretch not in ("percentile", "raw"):
        raise SpecError(f"stretch must be 'percentile' or 'raw', got {stretch!r}")
    if patch.grid is None:
        raise SpecError("this patch has no grid (crs/transform), so it cannot be written on a map")
    sub = patch.select_bands(rgb_bands)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        img = np.nanmedian(sub.data, axis=0) if sub.n_frames > 1 else sub.chw
    fill = float(patch.sensor.fill_value) if patch.sensor is not None else 0.0
    nodata = ~np.isfinite(img).all(axis=0) | (img == fill).all(axis=0)
    limits = []  # the clip_pct percentiles of each band's valid values
    for i in range(3):
        v = img[i][~nodata]
        lo, hi = (np.percentile(v, clip_pct) if v.size else (0.0, 1.0))
        limits.append([float(lo), float(hi)])
    if stretch == "percentile":
        out = np.zeros(img.shape, np.uint8)
        for i, (lo, hi) in enumerate(limits):
            s = np.clip((img[i] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
            out[i] = np.where(nodata, 0, 1 + np.round(s * 254)).astype(np.uint8)
        dtype, nd, display = "uint8", 0, [[1.0, 255.0]] * 3
    else:
        out = np.where(nodata[None], np.nan, img).astype(np.float32)
        dtype, nd, display = "float32", float("nan"), [[lo, hi if hi > lo else lo + 1e-6] for lo, hi in limits]
    g = sub.grid
    write_raster(path, out, crs=g.crs, transform=g.transform, nodata=nd, band_names=[str(b) for b in rgb_bands],
                 tags={"RS_EMBED_STRETCH": stretch, "RS_EMBED_BANDS": ",".join(rgb_bands),
                       "RS_EMBED_LIMITS": str(limits)},
                 options={"PHOTOMETRIC": "RGB"} if dtype == "uint8" else None)
    return {"rgb": str(path), "stretch": stretch, "limits": limits, "display": display, "bands": list(rgb_bands)}
