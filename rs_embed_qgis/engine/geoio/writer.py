"""The one raster writer: a whole array (:func:`write_raster`) or block by block
(:func:`raster_writer`, for outputs that stream), through the backend in use.

What every raster the engine writes gets:

* **atomic**: written to a temp name in the destination folder and renamed only when done;
* **every GDAL error checked**: each call, the flush and the close (see the backends);
* **verified before the rename**: the file is not empty, reopens with the expected size, band
  count and type, and every data block of the GeoTIFF lies inside the file (a full disk that
  slipped past GDAL's error reporting leaves blocks missing or cut);
* band descriptions, dataset and per-band tags, nodata, compression, and overviews or COG
  layout when asked.

The format comes from the extension: ``.tif`` / ``.tiff`` are GeoTIFF (COG layout with
``cog=True``); any other extension is refused with a :class:`SpecError` naming it.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError, ProviderError, SpecError

#: extension -> GDAL driver of the rasters we write
DRIVERS = {".tif": "GTiff", ".tiff": "GTiff"}


def raster_driver(path: os.PathLike | str) -> str:
    """The GDAL driver for an output path, by extension; unsupported extensions are refused."""
    ext = Path(path).suffix.lower()
    if ext not in DRIVERS:
        raise SpecError(f"output {str(path)!r} has the extension {ext or '(none)'!r}; rasters are written "
                        f"as GeoTIFF: name the file {' or '.join(DRIVERS)}")
    return DRIVERS[ext]


def _block(n: int, blocksize: int) -> int:
    return max(16, min(blocksize, (n // 16) * 16))


def creation_options(width: int, height: int, count: int, dtype: str, *, compress: str | None,
                     tiled: bool | None, blocksize: int, interleave: str | None,
                     predictor: int | None, extra: Mapping[str, Any] | None) -> dict[str, str]:
    """GeoTIFF creation options. ``tiled=None``: tiles when the raster is at least 16 x 16
    (``blocksize`` or less, multiples of 16); ``interleave=None``: by pixel up to 4 bands."""
    opts: dict[str, str] = {}
    if compress and str(compress).lower() != "none":
        opts["COMPRESS"] = str(compress).upper()
        if predictor is None and str(compress).lower() in ("deflate", "lzw", "zstd"):
            predictor = 3 if np.dtype(dtype).kind == "f" else None
        if predictor:
            opts["PREDICTOR"] = str(int(predictor))
    opts["INTERLEAVE"] = (interleave or ("PIXEL" if count <= 4 else "BAND")).upper()
    if tiled is None:
        tiled = width >= 16 and height >= 16
    if tiled:
        opts.update(TILED="YES", BLOCKXSIZE=str(_block(width, blocksize)),
                    BLOCKYSIZE=str(_block(height, blocksize)))
    opts.update({str(k).upper(): str(v) for k, v in (extra or {}).items()})
    return opts


def overview_factors(width: int, height: int, blocksize: int = 256) -> list[int]:
    """2, 4, 8... until the smallest overview fits in one block."""
    out, f = [], 2
    while max(width, height) / (f // 2) > blocksize:
        out.append(f)
        f *= 2
    return out


class _Handle:
    """What :func:`raster_writer` yields: ``write(block, row_off, col_off)``."""

    def __init__(self, sink, width: int, height: int, count: int, dtype: str) -> None:
        self._sink, self.width, self.height, self.count, self.dtype = sink, width, height, count, dtype

    def write(self, arr: np.ndarray, row_off: int = 0, col_off: int = 0) -> None:
        """Write ``(count, h, w)`` (or ``(h, w)`` for one band) at ``(row_off, col_off)``."""
        a = np.asarray(arr)
        if a.ndim == 2:
            a = a[None]
        c, h, w = a.shape
        if c != self.count or row_off < 0 or col_off < 0 or row_off + h > self.height or col_off + w > self.width:
            raise SpecError(f"block of shape {a.shape} at row {row_off}, col {col_off} does not fit a "
                            f"{self.count} x {self.height} x {self.width} raster")
        self._sink.write(a.astype(self.dtype, copy=False), int(col_off), int(row_off))


@contextmanager
def raster_writer(path: os.PathLike | str, *, width: int, height: int, count: int, dtype: str = "float32",
                  crs: str | None = None, transform: Sequence[float] | None = None,
                  nodata: float | None = None, band_names: Sequence[str] | None = None,
                  tags: Mapping[str, Any] | None = None, band_tags: Sequence[Mapping[str, Any]] | None = None,
                  compress: str | None = "deflate", predictor: int | None = None, tiled: bool | None = None,
                  blocksize: int = 256, interleave: str | None = None, overviews: bool | Sequence[int] | None = None,
                  overview_resampling: str = "average", cog: bool = False,
                  options: Mapping[str, Any] | None = None, stream: bool = False) -> Iterator[_Handle]:
    """Stream a raster into ``path``: ``with raster_writer(...) as w: w.write(block, row, col)``.

    ``transform`` in rasterio order ``(a, b, c, d, e, f)``. ``options``: more GDAL creation
    options (e.g. ``{"ZLEVEL": 1, "BIGTIFF": "IF_SAFER"}``). ``overviews``: True (2, 4, ... to
    one block) or the factors (None: none, except in a COG). ``cog``: Cloud-Optimized GeoTIFF
    (GDAL's COG driver, with overviews unless ``overviews=False``). ``stream``: blocks go to disk
    as soon as they are complete, so memory stays flat for outputs written block by block in
    order. The file appears under ``path`` only after it was closed and verified; on any error
    nothing does, and the error names the file and what GDAL said.
    """
    from ..io import atomic_path
    from . import backend

    driver = raster_driver(path)
    width, height, count, dtype = int(width), int(height), int(count), np.dtype(dtype).name
    if width < 1 or height < 1 or count < 1:
        raise SpecError(f"a raster needs at least 1 x 1 pixels and 1 band, got {count} x {height} x {width}")
    if band_names is not None and len(band_names) > count:
        raise SpecError(f"{len(band_names)} band names for {count} bands")
    opts = creation_options(width, height, count, dtype, compress=compress, tiled=True if cog else tiled,
                            blocksize=blocksize, interleave=interleave, predictor=predictor, extra=options)
    be = backend()
    expect = (width, height, count, dtype)
    with atomic_path(path, suffix=Path(path).suffix, verify=lambda p: verify_raster(p, expect, str(path))) as tmp:
        target = tmp.with_name(tmp.name + ".src.tif") if cog else tmp  # removed with the temp file
        sink = be.create(str(target), driver, width, height, count, dtype, crs, transform, nodata, opts,
                         label=str(path), stream=stream)
        try:
            yield _Handle(sink, width, height, count, dtype)
            sink.describe(list(band_names or []), dict(tags or {}), [dict(t) for t in band_tags or []])
            factors = (overview_factors(width, height, blocksize) if overviews is True
                       else list(overviews or []))
            if factors and not cog:
                sink.build_overviews(factors, overview_resampling)
        except BaseException:
            sink.abort()
            raise
        sink.close()
        if cog:
            cog_opts = {k: v for k, v in opts.items() if k in ("COMPRESS", "PREDICTOR", "BIGTIFF", "NUM_THREADS",
                                                                "LEVEL")}
            cog_opts.update(BLOCKSIZE=str(max(16, (blocksize // 16) * 16)),
                            OVERVIEW_RESAMPLING=overview_resampling.upper(),
                            OVERVIEWS="NONE" if overviews is False else "AUTO")
            be.copy(str(target), str(tmp), "COG", cog_opts, label=str(path))


def write_raster(path: os.PathLike | str, array: np.ndarray, **kw: Any) -> Path:
    """Write a ``(bands, height, width)`` (or ``(height, width)``) array; keywords as
    :func:`raster_writer` (``dtype`` defaults to the array's)."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise SpecError(f"a raster is (bands, height, width), got an array of shape {a.shape}")
    kw.setdefault("dtype", a.dtype.name if a.dtype.kind in "uif" else "float32")
    with raster_writer(path, width=a.shape[2], height=a.shape[1], count=a.shape[0], **kw) as w:
        w.write(a)
    return Path(path)


def verify_raster(path: Path, expect: tuple[int, int, int, str], label: str | None = None) -> None:
    """Raise :class:`OutputError` unless ``path`` is a complete raster of ``(width, height,
    count, dtype)``: it reopens with that shape and every GeoTIFF data block lies in the file."""
    from . import backend, raster_info

    name = repr(label or str(path))
    size = path.stat().st_size
    if size == 0:
        raise OutputError(errno.EIO, f"{name} is empty after writing (disk full?)")
    try:
        info = raster_info(path)
    except ProviderError as exc:
        raise OutputError(errno.EIO, f"{name} does not read back after writing: {exc}") from exc
    got = (info.width, info.height, info.count, info.dtypes[0] if info.dtypes else None)
    if got != tuple(expect):
        raise OutputError(errno.EIO, f"{name} reads back as (width, height, bands, type) {got}, "
                                     f"written as {tuple(expect)}")
    if info.driver == "GTiff":
        for off, n in backend().tiff_blocks(str(path)):
            if n <= 0 or off <= 0 or off + n > size:
                raise OutputError(errno.EIO, f"{name} is incomplete after writing: a data block "
                                             f"({n} bytes at {off}) is missing or lies beyond the end of "
                                             f"the {size}-byte file (disk full?)")


__all__ = ["DRIVERS", "raster_driver", "raster_writer", "write_raster", "verify_raster", "creation_options",
           "overview_factors"]
