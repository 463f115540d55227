"""Raster and geometry I/O: one small API over two backends.

Inside QGIS the plugin shares one process with QGIS's GDAL, GEOS and PROJ. A pip wheel of
rasterio (or shapely, or pyproj) carries its own copy of those libraries, and two copies in
one process clash; a stock QGIS has none of them anyway. So every raster read, warp, write and
coordinate transform of the engine goes through this package, which picks a backend:

* ``gdal`` (``osgeo.gdal`` / ``osgeo.osr``, which every QGIS ships): always inside QGIS, and
  headless when rasterio is missing or brings a GDAL other than the process's;
* ``rasterio``: headless, when rasterio is importable and uses the same GDAL as ``osgeo``
  (or ``osgeo`` is not installed).

``RS_EMBED_IO_BACKEND=gdal|rasterio|auto`` forces one (the tests run both). Both give the same
pixels (the same GDAL warper with the same options) and the same georeference.

    info = raster_info(path)                       # CRS, transform, bands, tags, nodata...
    with open_raster(path) as r:                   # windowed reads in the file's CRS
        x = r.read([3, 2, 1], Window(0, 0, 64, 64))
    chw = warp_read(path, [3, 2, 1], grid)         # onto a geo.RoiGrid, nodata -> NaN
    with gdal_config(GDAL_HTTP_TIMEOUT="30"):      # GDAL options for this thread's reads
    transform_bounds(bounds, "EPSG:4326", "EPSG:32632")
    write_raster(path, chw, crs=..., transform=...)    # see writer.py
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import ProviderError, SpecError
from ._common import RESAMPLING, RasterInfo, RasterReader, Window, window_from_bounds, window_transform

ENV_VAR = "RS_EMBED_IO_BACKEND"
BACKENDS = ("gdal", "rasterio")
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_chosen: dict[tuple[str, bool], str] = {}


def inside_qgis() -> bool:
    """True in a process where QGIS's libraries (and so its GDAL and PROJ) are loaded."""
    return "qgis.core" in sys.modules


def rasterio_bundles_gdal() -> bool:
    """True when the importable rasterio is a wheel carrying its own libgdal (``rasterio.libs``
    on Linux and Windows, ``rasterio/.dylibs`` on macOS), not the system's GDAL."""
    spec = importlib.util.find_spec("rasterio")
    if spec is None or not spec.origin:
        return False
    pkg = Path(spec.origin).parent
    for libs in (pkg.parent / "rasterio.libs", pkg / ".dylibs"):
        if libs.is_dir() and any("gdal" in p.name.lower() for p in libs.iterdir()):
            return True
    return False


def _rasterio_shares_gdal() -> bool:
    """rasterio and osgeo both importable: do they run on one and the same GDAL?"""
    if rasterio_bundles_gdal():
        return False
    from ._rasterio import shares_gdal_with_osgeo

    return shares_gdal_with_osgeo()


def _choose() -> str:
    forced = (os.environ.get(ENV_VAR) or "auto").strip().lower()
    if forced not in BACKENDS + ("auto",):
        raise SpecError(f"{ENV_VAR} must be one of {BACKENDS + ('auto',)}, got {forced!r}")
    has_gdal = importlib.util.find_spec("osgeo") is not None
    has_rio = importlib.util.find_spec("rasterio") is not None
    if forced == "gdal" and not has_gdal:
        raise ProviderError(f"{ENV_VAR}=gdal but the GDAL Python bindings (osgeo) are not installed")
    if forced == "rasterio" and not has_rio:
        raise ProviderError(f"{ENV_VAR}=rasterio but rasterio is not installed")
    if forced != "auto":
        return forced
    if has_gdal and (inside_qgis() or not has_rio):
        return "gdal"
    if has_rio:
        return "rasterio" if not has_gdal or _rasterio_shares_gdal() else "gdal"
    raise ProviderError("reading and writing rasters needs the GDAL Python bindings (osgeo: shipped "
                        "with QGIS; Debian: apt install python3-gdal; conda: gdal) or rasterio")


def backend() -> ModuleType:
    """The backend module in use in this process (``.name`` is "gdal" or "rasterio")."""
    key = (os.environ.get(ENV_VAR) or "auto", inside_qgis())
    name = _chosen.get(key)
    if name is None:
        with _lock:
            name = _chosen.get(key) or _choose()
            if key not in _chosen:
                _log.info("raster I/O backend: %s", name)
            _chosen[key] = name
    if name == "gdal":
        from . import _gdal as mod
    else:
        from . import _rasterio as mod
    return mod


def backend_name() -> str:
    return backend().name


def gdal_version() -> str | None:
    """The version of the GDAL doing our raster I/O (None when none is installed)."""
    try:
        return backend().gdal_version()
    except ProviderError:
        return None


# -- coordinates --------------------------------------------------------------------------------
def crs_to_string(crs: str) -> str:
    """``"EPSG:<code>"`` for a CRS with an authority code (from any user input or WKT), else WKT."""
    return backend().crs_to_string(str(crs))


def same_crs(a: str, b: str) -> bool:
    return backend().same_crs(str(a), str(b))


def transform_points(xs, ys, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Points from CRS ``src`` to ``dst``, x = longitude/easting first (always)."""
    if src == dst:
        return np.asarray(xs, np.float64).ravel(), np.asarray(ys, np.float64).ravel()
    return backend().transform_points(xs, ys, str(src), str(dst))


def transform_bounds(bounds, src: str, dst: str, densify: int = 21) -> tuple[float, float, float, float]:
    """Bounds of a rectangle after reprojection: each edge densified with ``densify`` points
    (GDAL's ``OCTTransformBounds``, which also handles poles and the antimeridian)."""
    bounds = tuple(float(v) for v in bounds)
    if src == dst:
        return bounds
    return _transform_bounds(bounds, str(src), str(dst), int(densify))


@functools.lru_cache(maxsize=8192)  # the same ROI's bounds are asked for by the plan, the size estimate, the fetch
def _transform_bounds(bounds: tuple[float, ...], src: str, dst: str, densify: int) -> tuple[float, float, float, float]:
    return backend().transform_bounds(bounds, src, dst, densify)


# -- reading ------------------------------------------------------------------------------------
def gdal_config(**options: str):
    """GDAL configuration options (``GDAL_HTTP_TIMEOUT=...``) for the reads made in this block,
    in this thread (a context manager; the STAC backend's HTTP settings)."""
    return backend().config({k: str(v) for k, v in options.items()})


def raster_info(path: os.PathLike | str) -> RasterInfo:
    """What a raster says about itself (:class:`RasterInfo`); ProviderError if unreadable."""
    return backend().raster_info(str(path))


def open_raster(path: os.PathLike | str) -> RasterReader:
    """An open raster for windowed reads in its own CRS (a context manager)."""
    return backend().open_raster(str(path))


def warp_read(path: os.PathLike | str, bands, grid, *, resampling: str = "bilinear",
              nodata_if_unset: float | None = None, dtype: str = "float32",
              dst_nodata: float | None = float("nan")) -> np.ndarray:
    """``(C, H, W)`` of 1-based ``bands`` warped onto ``grid`` (anything with ``crs``,
    ``transform`` in rasterio order, ``width``, ``height``: a ``geo.RoiGrid``).

    The source's nodata is the file's, or ``nodata_if_unset`` when it declares none
    (Sentinel-2 L2A: 0); pixels with no source data are ``dst_nodata`` (NaN by default).
    ``resampling``: one of :data:`RESAMPLING` (rasterio's names).
    """
    return backend().warp_read(str(path), [int(b) for b in bands], grid, resampling, nodata_if_unset,
                               np.dtype(dtype).name, dst_nodata)


def suggested_grid(path: os.PathLike | str, dst_crs: str) -> tuple[str, tuple, int, int]:
    """``(crs, transform, width, height)``: GDAL's default grid for ``path`` warped to ``dst_crs``
    (the grid ``gdalwarp -t_srs`` would make)."""
    return backend().suggested_grid(str(path), str(dst_crs))


from .writer import raster_driver, raster_writer, write_raster  # noqa: E402 - uses backend()

__all__ = ["BACKENDS", "ENV_VAR", "RESAMPLING", "RasterInfo", "RasterReader", "Window",
           "backend", "backend_name", "crs_to_string", "gdal_config", "gdal_version", "inside_qgis", "open_raster",
           "raster_driver", "raster_info", "raster_writer", "rasterio_bundles_gdal", "same_crs", "suggested_grid",
           "transform_bounds", "transform_points", "warp_read", "window_from_bounds", "window_transform",
           "write_raster"]
