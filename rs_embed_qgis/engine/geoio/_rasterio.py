"""The ``rasterio`` backend, used headless where rasterio runs on the process's only GDAL.

rasterio logs most GDAL failures instead of raising them (notably while a dataset closes and
flushes its blocks: a full disk only shows in the log). Writes therefore run inside a
``rasterio.Env`` with a log handler that collects this thread's GDAL failures and raises them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform
from rasterio.warp import transform as _transform
from rasterio.warp import transform_bounds as _transform_bounds
from rasterio.windows import Window as _RioWindow

from ..errors import OutputError, ProviderError, SpecError
from ._common import RasterInfo, RasterReader, Window, check_resampling

name = "rasterio"
#: rasterio reports a GDAL CE_Failure it does not raise as this INFO record of ``rasterio._env``
_GDAL_FAILURE = "GDAL signalled an error"


def gdal_version() -> str:
    return rasterio.__gdal_version__


def _loaded_libgdal() -> set[str]:
    """Paths of the libgdal files mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            return {line.split()[-1] for line in f if "libgdal" in line.rsplit("/", 1)[-1]}
    except OSError:
        return set()


def shares_gdal_with_osgeo() -> bool:
    """True when rasterio and ``osgeo.gdal`` are the same GDAL: same version, one libgdal
    loaded (where the process's mapped libraries can be listed)."""
    from osgeo import gdal

    return rasterio.__gdal_version__ == gdal.__version__ and len(_loaded_libgdal()) <= 1


def _crs(crs: str) -> CRS:
    try:
        return CRS.from_user_input(crs)
    except Exception as exc:  # noqa: BLE001 - rasterio raises CRSError and others
        raise SpecError(f"unknown CRS {crs!r}: {exc}") from exc


def crs_to_string(crs: str) -> str:
    return _crs(str(crs)).to_string()


def same_crs(a: str, b: str) -> bool:
    return a == b or _crs(str(a)) == _crs(str(b))


def transform_points(xs, ys, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(xs, np.float64).ravel()
    y = np.asarray(ys, np.float64).ravel()
    try:
        ox, oy = _transform(_crs(src), _crs(dst), x, y)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"transforming points from {src} to {dst}: {exc}") from exc
    return np.asarray(ox, np.float64), np.asarray(oy, np.float64)


def transform_bounds(bounds, src: str, dst: str, densify: int) -> tuple[float, float, float, float]:
    try:
        out = _transform_bounds(_crs(src), _crs(dst), *map(float, bounds), densify_pts=int(densify))
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"transforming bounds {tuple(bounds)} from {src} to {dst}: {exc}") from exc
    return tuple(float(v) for v in out)


def _open(path: str, what: str = "cannot read raster"):
    try:
        return rasterio.open(str(path))
    except Exception as exc:  # noqa: BLE001 - any GDAL failure: say which file
        raise ProviderError(f"{what} {str(path)!r}: {exc}") from exc


def _info(src, path: str) -> RasterInfo:
    return RasterInfo(
        path=str(path), driver=src.driver, width=src.width, height=src.height, count=src.count,
        crs=src.crs.to_string() if src.crs else None, transform=tuple(src.transform)[:6],
        dtypes=tuple(src.dtypes), nodata=tuple(src.nodatavals),
        descriptions=tuple(d or "" for d in src.descriptions),
        scales=tuple(float(v) for v in src.scales), offsets=tuple(float(v) for v in src.offsets),
        masked=tuple(any(f.name != "all_valid" for f in flags) for flags in src.mask_flag_enums),
        tags=dict(src.tags()), band_tags=tuple(dict(src.tags(i + 1)) for i in range(src.count)))


def config(options: dict[str, str]):
    """GDAL configuration options for the reads of this thread (a context manager)."""
    return rasterio.Env(**options)


def raster_info(path: str) -> RasterInfo:
    with _open(path) as src:
        return _info(src, path)


def _rio_window(window: Window | None):
    return None if window is None else _RioWindow(*window)


class Reader(RasterReader):
    def __init__(self, path: str) -> None:
        self._src = _open(path)
        self.info = _info(self._src, path)

    def close(self) -> None:
        self._src.close()

    def _read(self, bands, window, dtype):
        try:
            return self._src.read(list(bands), window=_rio_window(window), out_dtype=dtype)
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(f"cannot read raster {self.info.path!r}: {exc}") from exc

    def _masks(self, bands, window):
        try:
            return self._src.read_masks(list(bands), window=_rio_window(window))
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(f"cannot read the mask of raster {self.info.path!r}: {exc}") from exc

    def _warp(self, bands, grid, resampling, nodata_if_unset, dtype, dst_nodata):
        check_resampling(resampling)
        src = self._src
        try:
            src_nodata = src.nodata if src.nodata is not None else nodata_if_unset
            with WarpedVRT(src, crs=str(grid.crs), transform=rasterio.Affine(*grid.transform),
                           width=grid.width, height=grid.height,
                           resampling=getattr(Resampling, str(resampling).lower()),
                           src_nodata=src_nodata, nodata=dst_nodata, dtype=dtype) as vrt:
                return vrt.read(list(bands))
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(f"cannot read raster {self.info.path!r} onto the ROI grid: {exc}") from exc


def open_raster(path: str) -> Reader:
    return Reader(path)


def warp_read(path: str, bands: list[int], grid, resampling: str, nodata_if_unset: float | None,
              dtype: str, dst_nodata: float | None) -> np.ndarray:
    check_resampling(resampling)
    with Reader(path) as r:
        return r._warp(bands, grid, resampling, nodata_if_unset, dtype, dst_nodata)


def suggested_grid(path: str, dst_crs: str):
    with _open(path) as src:
        t, w, h = calculate_default_transform(src.crs, _crs(dst_crs), src.width, src.height, *src.bounds)
    return (str(dst_crs), tuple(t)[:6], int(w), int(h))


# -- writing ------------------------------------------------------------------------------------
class _Failures(logging.Handler):
    """GDAL failures rasterio logs (and does not raise) in one thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and str(record.msg).startswith(_GDAL_FAILURE):
            args = record.args if isinstance(record.args, tuple) else ()
            self.messages.append(str(args[-1]) if args else record.getMessage())

    def take(self) -> str:
        out = "; ".join(dict.fromkeys(self.messages))
        self.messages.clear()
        return out


_level_lock = threading.Lock()
_level_users = [0, logging.NOTSET]  # sinks open, the level to restore when the last closes


@contextmanager
def _env(**config: Any) -> Iterator[_Failures]:
    log = logging.getLogger("rasterio._env")
    h = _Failures()
    with _level_lock:  # the level is global: raise it while any sink is open, restore after the last
        if _level_users[0] == 0:
            _level_users[1] = log.level
            if log.getEffectiveLevel() > logging.INFO:
                log.setLevel(logging.INFO)
        _level_users[0] += 1
    log.addHandler(h)
    try:
        with rasterio.Env(**config):
            yield h
    finally:
        log.removeHandler(h)
        with _level_lock:
            _level_users[0] -= 1
            if _level_users[0] == 0:
                log.setLevel(_level_users[1])


class Sink:
    """A new raster being written; ``close`` raises every GDAL failure rasterio only logged."""

    def __init__(self, path: str, driver: str, width: int, height: int, count: int, dtype: str,
                 crs: str | None, transform, nodata: float | None, options: dict[str, str],
                 label: str | None = None, stream: bool = False) -> None:
        self.path = str(path)
        self.label = label or self.path  # the output's real name, for messages (path is a temp name)
        # stream: rasterio cannot flush a dataset, so GDAL's block cache is kept small instead (in a
        # fresh process; the cache size is fixed once GDAL first uses it)
        self._envcm = _env(GDAL_CACHEMAX=16) if stream else _env()
        self._fail = self._envcm.__enter__()
        try:
            kw: dict[str, Any] = dict(driver=driver, width=int(width), height=int(height), count=int(count),
                                      dtype=dtype, nodata=nodata, **{k.lower(): v for k, v in options.items()})
            if crs:
                kw["crs"] = _crs(str(crs))
            if transform is not None:
                kw["transform"] = rasterio.Affine(*tuple(transform)[:6])
            self.ds = self._do("cannot create", rasterio.open, self.path, "w", **kw)
        except BaseException:
            self._envcm.__exit__(None, None, None)
            raise

    def _do(self, what: str, fn, *args: Any, **kw: Any) -> Any:
        try:
            out = fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
            detail = "; ".join(x for x in (str(exc), self._fail.take()) if x)
            raise OutputError(f"{what} {self.label!r}: {detail}") from exc
        msg = self._fail.take()
        if msg:
            raise OutputError(f"{what} {self.label!r}: {msg}")
        return out

    def write(self, arr: np.ndarray, col_off: int, row_off: int) -> None:
        c, h, w = arr.shape
        self._do("cannot write", self.ds.write, arr, window=_RioWindow(col_off, row_off, w, h))

    def describe(self, band_names, tags, band_tags) -> None:
        for i, n in enumerate(band_names or []):
            self._do("cannot describe the bands of", self.ds.set_band_description, i + 1, str(n))
        if tags:
            self._do("cannot write the tags of", self.ds.update_tags, **{k: str(v) for k, v in tags.items()})
        for i, t in enumerate(band_tags or []):
            if t:
                self._do("cannot write the band tags of", self.ds.update_tags, i + 1,
                         **{k: str(v) for k, v in t.items()})

    def build_overviews(self, factors: list[int], resampling: str) -> None:
        self._do("cannot build overviews of", self.ds.build_overviews, list(factors),
                 getattr(Resampling, resampling))

    def close(self) -> None:
        try:
            self._do("cannot write", self.ds.close)
        finally:
            self._envcm.__exit__(None, None, None)

    def abort(self) -> None:
        try:
            self.ds.close()
        except Exception:  # noqa: BLE001 - the caller is already handling a failure
            logging.getLogger(__name__).debug("closing %s after a failure", self.label, exc_info=True)
        finally:
            self._envcm.__exit__(None, None, None)


def create(path, driver, width, height, count, dtype, crs, transform, nodata, options, label=None,
           stream=False) -> Sink:
    return Sink(path, driver, width, height, count, dtype, crs, transform, nodata, options, label, stream)


def copy(src: str, dst: str, driver: str, options: dict[str, str], label: str | None = None) -> None:
    from rasterio.shutil import copy as _copy

    with _env() as fail:
        try:
            _copy(str(src), str(dst), driver=driver, **{k.lower(): v for k, v in options.items()})
        except Exception as exc:  # noqa: BLE001
            raise OutputError(f"cannot write {label or dst!r}: {exc}; {fail.take()}") from exc
        msg = fail.take()
    if msg:
        raise OutputError(f"cannot write {label or dst!r}: {msg}")


def tiff_blocks(path: str) -> Iterator[tuple[int, int]]:
    with _open(path, "cannot reopen") as src:
        for b in range(1, src.count + 1):
            by, bx = src.block_shapes[b - 1]
            for y in range(-(-src.height // by)):
                for x in range(-(-src.width // bx)):
                    off = src.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=b)
                    size = src.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=b)
                    yield int(off or 0), int(size or 0)
            if src.interleaving is not None and src.interleaving.name == "pixel":
                break
