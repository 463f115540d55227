"""What both backends share: the raster description, windows, resampling names, and the
parts of reading that are plain numpy."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..errors import SpecError

#: resampling names (rasterio's spelling) -> GDAL's
RESAMPLING = {"nearest": "near", "bilinear": "bilinear", "cubic": "cubic", "cubic_spline": "cubicspline",
              "lanczos": "lanczos", "average": "average", "mode": "mode", "min": "min", "max": "max",
              "med": "med", "q1": "q1", "q3": "q3", "sum": "sum", "rms": "rms"}

#: GDAL data type names -> numpy dtype names
GDAL_DTYPES = {"Byte": "uint8", "Int8": "int8", "UInt16": "uint16", "Int16": "int16", "UInt32": "uint32",
               "Int32": "int32", "UInt64": "uint64", "Int64": "int64", "Float32": "float32",
               "Float64": "float64"}


def check_resampling(name: str) -> str:
    """The GDAL name of a resampling method given in rasterio's spelling."""
    key = str(name).lower()
    if key not in RESAMPLING:
        raise SpecError(f"resampling must be one of {sorted(RESAMPLING)}, got {name!r}")
    return RESAMPLING[key]


class Window(NamedTuple):
    """A pixel window: column and row offsets, width and height (as rasterio's ``Window``)."""

    col_off: int
    row_off: int
    width: int
    height: int


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file says about itself, the same from either backend.

    ``transform`` is in rasterio's order ``(a, b, c, d, e, f)``; ``crs`` is ``"EPSG:<code>"``
    when the CRS has an authority code, else its WKT (None: no CRS). Per band: ``dtypes``,
    ``nodata`` (None: unset), ``descriptions`` ("" when unset), ``scales``/``offsets``
    (1.0/0.0 when unset), ``band_tags`` and ``masked`` (True when GDAL reports a mask other
    than all-valid: a nodata value, an alpha band or a mask band).
    """

    path: str
    driver: str
    width: int
    height: int
    count: int
    crs: str | None
    transform: tuple[float, float, float, float, float, float]
    dtypes: tuple[str, ...]
    nodata: tuple[float | None, ...]
    descriptions: tuple[str, ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    masked: tuple[bool, ...]
    tags: dict[str, str] = field(default_factory=dict)
    band_tags: tuple[dict[str, str], ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of a north-up raster."""
        a, _, c, _, e, f = self.transform
        xs = (c, c + a * self.width)
        ys = (f, f + e * self.height)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def nodata1(self) -> float | None:
        """The first band's nodata value (rasterio's ``src.nodata``)."""
        return self.nodata[0] if self.nodata else None


def window_from_bounds(bounds: tuple[float, float, float, float], transform, width: int,
                       height: int) -> Window | None:
    """The pixel window of a north-up raster covering ``bounds`` (offsets floored, lengths
    rounded, as rasterio's ``from_bounds(...).round_offsets().round_lengths()``), clipped to
    the raster; None when they do not overlap."""
    a, _, c, _, e, f = tuple(transform)[:6]
    left, bottom, right, top = bounds
    cols = sorted(((left - c) / a, (right - c) / a))
    rows = sorted(((top - f) / e, (bottom - f) / e))
    col0, row0 = int(math.floor(cols[0] + 0.001)), int(math.floor(rows[0] + 0.001))
    w = int(math.floor(cols[1] - cols[0] + 0.5))
    h = int(math.floor(rows[1] - rows[0] + 0.5))
    c0, r0 = max(col0, 0), max(row0, 0)
    c1, r1 = min(col0 + w, width), min(row0 + h, height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def window_transform(transform, window: Window | None) -> tuple[float, ...]:
    """The transform of a window of a raster (rasterio order)."""
    a, b, c, d, e, f = tuple(transform)[:6]
    if window is None:
        return (a, b, c, d, e, f)
    return (a, b, c + a * window.col_off + b * window.row_off, d, e,
            f + d * window.col_off + e * window.row_off)


class RasterReader:
    """An open raster: ``info``, ``read`` and ``valid``. Use as a context manager.

    Backends implement ``_read(bands, window, dtype)``, ``_masks(bands, window)`` (GDAL
    mask bands, 0 = invalid), ``_warp(...)`` (bands warped onto a grid, from the open file) and
    ``close``.
    """

    info: RasterInfo

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - backends
        raise NotImplementedError

    def _read(self, bands: list[int], window: Window | None, dtype: str | None) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - backends

    def _masks(self, bands: list[int], window: Window | None) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - backends

    def _warp(self, bands: list[int], grid: Any, resampling: str, nodata_if_unset: float | None,
              dtype: str, dst_nodata: float | None) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - backends

    def warp(self, bands, grid: Any, *, resampling: str = "bilinear", nodata_if_unset: float | None = None,
             dtype: str = "float32", dst_nodata: float | None = float("nan")) -> np.ndarray:
        """``(C, H, W)`` of 1-based ``bands`` warped onto ``grid`` from this open file (see
        :func:`~rs_embed_qgis.engine.geoio.warp_read`, which opens the file for one call)."""
        return self._warp(self._bands(bands), grid, resampling, nodata_if_unset, np.dtype(dtype).name, dst_nodata)

    def _bands(self, bands) -> list[int]:
        out = [int(b) for b in ([bands] if isinstance(bands, (int, np.integer)) else bands)]
        bad = [b for b in out if not 1 <= b <= self.info.count]
        if bad:
            from ..errors import ProviderError

            raise ProviderError(f"raster {self.info.path!r} has bands 1..{self.info.count}, "
                                f"asked for {bad}")
        return out

    def read(self, bands=None, window: Window | None = None, dtype: str | None = None) -> np.ndarray:
        """``(C, h, w)`` pixels of 1-based ``bands`` (default all) in ``window`` (default all),
        in the file's type or ``dtype``."""
        b = self._bands(range(1, self.info.count + 1) if bands is None else bands)
        arr = self._read(b, window, dtype)
        h = window.height if window is not None else self.info.height
        w = window.width if window is not None else self.info.width
        return arr.reshape(len(b), h, w)

    def masks(self, bands=None, window: Window | None = None) -> np.ndarray:
        """``(C, h, w)`` True where GDAL's mask band of each band (nodata, alpha or mask band)
        says the pixel has data."""
        b = self._bands(range(1, self.info.count + 1) if bands is None else bands)
        h = window.height if window is not None else self.info.height
        w = window.width if window is not None else self.info.width
        return self._masks(b, window).reshape(len(b), h, w) > 0

    def valid(self, bands=None, window: Window | None = None, data: np.ndarray | None = None
              ) -> np.ndarray:
        """``(h, w)`` True where every band has data: GDAL's mask bands and, for floating-point
        bands, a finite value (``data``: the pixels if already read)."""
        b = self._bands(range(1, self.info.count + 1) if bands is None else bands)
        ok = np.all(self.masks(b, window), axis=0)
        if np.issubdtype(np.dtype(self.info.dtypes[b[0] - 1]), np.floating):
            if data is None:
                data = self.read(b, window)
            ok &= np.all(np.isfinite(data), axis=0)
        return ok
