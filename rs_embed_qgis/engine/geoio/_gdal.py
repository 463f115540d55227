"""The ``gdal`` backend: ``osgeo.gdal`` and ``osgeo.osr``, i.e. the GDAL and PROJ that every
QGIS ships and has already loaded into its process.

It never calls ``gdal.UseExceptions()`` (that flag is global to the process and other QGIS
plugins rely on theirs): each call runs under a thread-local error handler that collects
GDAL's failures, and any failure becomes an exception here, whichever mode the bindings are in.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from osgeo import gdal, osr

from ..errors import OutputError, ProviderError, SpecError
from ._common import GDAL_DTYPES, RasterInfo, RasterReader, Window, check_resampling

name = "gdal"
_NUMPY_TO_GDT = {v: gdal.GetDataTypeByName(k) for k, v in GDAL_DTYPES.items()
                 if gdal.GetDataTypeByName(k) != gdal.GDT_Unknown}
_local = threading.local()


def gdal_version() -> str:
    return gdal.__version__


class Errors:
    """GDAL failures raised in this thread while the handler is pushed (and its warnings, which
    say why an open returned nothing: /vsicurl/ reports "HTTP response code ...: 500" so)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.warnings: list[str] = []

    def __call__(self, err_class: int, err_no: int, msg: str) -> None:
        if err_class >= gdal.CE_Failure:
            self.messages.append(str(msg).strip())
        elif err_class == gdal.CE_Warning:
            self.warnings.append(str(msg).strip())

    def take(self) -> str:
        out = "; ".join(dict.fromkeys(self.messages))  # GDAL repeats itself
        self.messages.clear()
        return out


@contextmanager
def errors() -> Iterator[Errors]:
    errs = Errors()
    gdal.PushErrorHandler(errs)
    try:
        yield errs
    finally:
        gdal.PopErrorHandler()


def call(errs: Errors, what: str, fn, *args: Any, exc=OutputError, **kw: Any) -> Any:
    """``fn(*args)``; a raised or collected GDAL failure becomes ``exc`` naming ``what``."""
    try:
        out = fn(*args, **kw)
    except RuntimeError as e:  # the bindings raise RuntimeError in exceptions mode
        detail = "; ".join(x for x in (str(e), errs.take()) if x)
        raise exc(f"{what}: {detail}") from None
    msg = errs.take()
    if msg:
        raise exc(f"{what}: {msg}")
    return out


# -- CRS and coordinate transforms -----------------------------------------------------------
def _srs(crs: str) -> osr.SpatialReference:
    """A (per-thread, cached) SpatialReference in x=lon/easting, y=lat/northing order."""
    cache = _local.__dict__.setdefault("srs", {})
    s = cache.get(crs)
    if s is None:
        s = osr.SpatialReference()
        with errors() as errs:
            rc = call(errs, f"unknown CRS {crs!r}", s.SetFromUserInput, str(crs), exc=SpecError)
        if rc not in (None, 0):
            raise SpecError(f"unknown CRS {crs!r}")
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        if len(cache) > 64:
            cache.clear()
        cache[crs] = s
    return s


def _ct(src: str, dst: str) -> osr.CoordinateTransformation:
    """Per thread: OSR transformations are not safe to share between threads."""
    cache = _local.__dict__.setdefault("ct", {})
    key = (src, dst)
    ct = cache.get(key)
    if ct is None:
        with errors() as errs:
            ct = call(errs, f"no transformation from {src!r} to {dst!r}", osr.CoordinateTransformation,
                      _srs(src), _srs(dst), exc=SpecError)
        if len(cache) > 64:
            cache.clear()
        cache[key] = ct
    return ct


def crs_to_string(crs: str) -> str:
    """``"EPSG:<code>"`` (or another authority) when the CRS has one, else its WKT."""
    s = _srs(str(crs))
    auth, code = s.GetAuthorityName(None), s.GetAuthorityCode(None)
    if not (auth and code):
        with errors():
            matches = s.FindMatches() or []
        found = sorted(((m.GetAuthorityName(None), m.GetAuthorityCode(None)) for m, conf in matches
                        if conf >= 70 and m.GetAuthorityName(None)), key=lambda t: t[0] != "EPSG")
        if found:
            auth, code = found[0]
    return f"{auth}:{code}" if auth and code else s.ExportToWkt()


def same_crs(a: str, b: str) -> bool:
    return a == b or bool(_srs(str(a)).IsSame(_srs(str(b))))


def transform_points(xs, ys, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    pts = np.column_stack([np.asarray(xs, np.float64).ravel(), np.asarray(ys, np.float64).ravel()])
    with errors() as errs:
        out = call(errs, f"transforming points from {src} to {dst}", _ct(src, dst).TransformPoints,
                   pts.tolist(), exc=SpecError)
    arr = np.asarray(out, np.float64).reshape(-1, 3)
    return arr[:, 0], arr[:, 1]


def transform_bounds(bounds, src: str, dst: str, densify: int) -> tuple[float, float, float, float]:
    ct = _ct(src, dst)
    if not hasattr(ct, "TransformBounds"):  # GDAL < 3.4: the densified edges' extremes
        x0, y0, x1, y1 = map(float, bounds)
        t = np.linspace(0.0, 1.0, int(densify) + 2)
        xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
        ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
        ox, oy = transform_points(xs, ys, src, dst)
        return (float(ox.min()), float(oy.min()), float(ox.max()), float(oy.max()))
    with errors() as errs:
        out = call(errs, f"transforming bounds {tuple(bounds)} from {src} to {dst}",
                   ct.TransformBounds, *map(float, bounds), int(densify), exc=SpecError)
    return tuple(float(v) for v in out)


# -- reading ------------------------------------------------------------------------------------
def _open(path: str, what: str = "cannot read raster"):
    with errors() as errs:
        ds = call(errs, f"{what} {str(path)!r}", gdal.OpenEx, str(path), gdal.OF_RASTER, exc=ProviderError)
    if ds is None:
        why = "; ".join(dict.fromkeys(errs.warnings))
        raise ProviderError(f"{what} {str(path)!r}: GDAL cannot open it" + (f" ({why})" if why else ""))
    return ds


def _info(ds, path: str) -> RasterInfo:
    gt = ds.GetGeoTransform(can_return_null=True)
    transform = (gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]) if gt else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    wkt = ds.GetProjection()
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    return RasterInfo(
        path=str(path), driver=ds.GetDriver().ShortName, width=ds.RasterXSize, height=ds.RasterYSize,
        count=ds.RasterCount, crs=crs_to_string(wkt) if wkt else None, transform=transform,
        dtypes=tuple(GDAL_DTYPES.get(gdal.GetDataTypeName(b.DataType), "float64") for b in bands),
        nodata=tuple(b.GetNoDataValue() for b in bands),
        descriptions=tuple(b.GetDescription() or "" for b in bands),
        scales=tuple(float(b.GetScale() if b.GetScale() is not None else 1.0) for b in bands),
        offsets=tuple(float(b.GetOffset() if b.GetOffset() is not None else 0.0) for b in bands),
        masked=tuple(b.GetMaskFlags() != gdal.GMF_ALL_VALID for b in bands),
        tags=dict(ds.GetMetadata() or {}),
        band_tags=tuple(dict(b.GetMetadata() or {}) for b in bands))


@contextmanager
def config(options: dict[str, str]) -> Iterator[None]:
    """GDAL configuration options for this thread, restored after (never process-wide)."""
    old = {k: gdal.GetThreadLocalConfigOption(k, None) for k in options}
    for k, v in options.items():
        gdal.SetThreadLocalConfigOption(k, str(v))
    try:
        yield
    finally:
        for k, v in old.items():
            gdal.SetThreadLocalConfigOption(k, v)


def raster_info(path: str) -> RasterInfo:
    ds = _open(path)
    try:
        return _info(ds, path)
    finally:
        ds = None


class Reader(RasterReader):
    def __init__(self, path: str) -> None:
        self._ds = _open(path)
        self.info = _info(self._ds, path)

    def close(self) -> None:
        self._ds = None

    def _window(self, window: Window | None) -> tuple[int, int, int, int]:
        return tuple(window) if window is not None else (0, 0, self.info.width, self.info.height)

    def _read(self, bands, window, dtype):
        x, y, w, h = self._window(window)
        kw = {"buf_type": _NUMPY_TO_GDT[np.dtype(dtype).name]} if dtype else {}
        with errors() as errs:
            arr = call(errs, f"cannot read raster {self.info.path!r}", self._ds.ReadAsArray,
                       x, y, w, h, band_list=list(bands), exc=ProviderError, **kw)
        if arr is None:
            raise ProviderError(f"cannot read raster {self.info.path!r}: window {(x, y, w, h)}")
        return arr

    def _masks(self, bands, window):
        x, y, w, h = self._window(window)
        with errors() as errs:
            return np.stack([call(errs, f"cannot read the mask of raster {self.info.path!r}",
                                  self._ds.GetRasterBand(b).GetMaskBand().ReadAsArray, x, y, w, h,
                                   exc=ProviderError) for b in bands])

    def _warp(self, bands, grid, resampling, nodata_if_unset, dtype, dst_nodata):
        """Bands warped onto ``grid`` through a warped VRT, as rasterio's ``WarpedVRT`` does (the
        same GDAL warper and options, so both backends give the same pixels)."""
        src, path = self._ds, self.info.path
        try:
            src_nodata = src.GetRasterBand(1).GetNoDataValue()
            if src_nodata is None:
                src_nodata = nodata_if_unset
            left, top, res, yres = grid.transform[2], grid.transform[5], grid.transform[0], -grid.transform[4]
            bounds = (left, top - grid.height * yres, left + grid.width * res, top)
            with errors() as errs:
                sub = call(errs, f"cannot read raster {str(path)!r}", gdal.Translate, "", src,
                           format="VRT", bandList=list(bands), exc=ProviderError)
                vrt = call(errs, f"cannot warp raster {str(path)!r} onto the ROI grid", gdal.Warp, "", sub,
                           format="VRT", outputBounds=bounds, xRes=res, yRes=yres, dstSRS=str(grid.crs),
                            resampleAlg=check_resampling(resampling), srcNodata=src_nodata,
                            dstNodata=dst_nodata, outputType=_NUMPY_TO_GDT[np.dtype(dtype).name],
                            exc=ProviderError)
                if sub is None or vrt is None:
                    raise ProviderError(f"cannot warp raster {str(path)!r} onto the ROI grid: GDAL returned nothing")
                if (vrt.RasterXSize, vrt.RasterYSize) != (grid.width, grid.height):
                    raise ProviderError(f"warping {str(path)!r}: GDAL made a {vrt.RasterXSize} x "
                                        f"{vrt.RasterYSize} grid for the {grid.width} x {grid.height} ROI grid")
                arr = call(errs, f"cannot warp raster {str(path)!r} onto the ROI grid", vrt.ReadAsArray,
                           exc=ProviderError)
            if arr is None:
                raise ProviderError(f"cannot warp raster {str(path)!r} onto the ROI grid: GDAL read nothing")
            return np.asarray(arr).reshape(len(bands), grid.height, grid.width)
        finally:
            sub = vrt = None


def open_raster(path: str) -> Reader:
    return Reader(path)


def warp_read(path: str, bands: list[int], grid, resampling: str, nodata_if_unset: float | None,
              dtype: str, dst_nodata: float | None) -> np.ndarray:
    with Reader(path) as r:
        return r._warp(bands, grid, resampling, nodata_if_unset, dtype, dst_nodata)


def suggested_grid(path: str, dst_crs: str):
    """``(crs, transform, width, height)`` GDAL suggests for ``path`` warped to ``dst_crs``."""
    src = _open(path)
    try:
        with errors() as errs:
            vrt = call(errs, f"cannot warp raster {str(path)!r} to {dst_crs}", gdal.Warp, "", src,
                       format="VRT", dstSRS=str(dst_crs), exc=ProviderError)
        gt = vrt.GetGeoTransform()
        return (str(dst_crs), (gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]), vrt.RasterXSize, vrt.RasterYSize)
    finally:
        vrt = src = None


# -- writing ------------------------------------------------------------------------------------
class Sink:
    """A new raster being written. Every call is checked; ``close`` raises what GDAL reported."""

    def __init__(self, path: str, driver: str, width: int, height: int, count: int, dtype: str,
                 crs: str | None, transform, nodata: float | None, options: dict[str, str],
                 label: str | None = None, stream: bool = False) -> None:
        self.path = str(path)
        self.stream = stream  # write finished blocks to disk at once: GDAL's cache stays small
        self.label = label or self.path  # the output's real name, for messages (path is a temp name)
        opts = [f"{k}={v}" for k, v in options.items()]
        self.ds = self._do("cannot create", gdal.GetDriverByName(driver).Create, self.path, int(width),
                           int(height), int(count), _NUMPY_TO_GDT[np.dtype(dtype).name], opts)
        if self.ds is None:
            raise OutputError(f"cannot create {self.label!r}: GDAL's {driver} driver failed")
        try:
            if transform is not None:
                a, b, c, d, e, f = tuple(transform)[:6]
                self._do("cannot set the transform of", self.ds.SetGeoTransform, (c, a, b, f, d, e))
            if crs:
                self._do("cannot set the CRS of", self.ds.SetProjection, _srs(str(crs)).ExportToWkt())
            if nodata is not None:
                for i in range(count):
                    self._do("cannot set nodata of", self.ds.GetRasterBand(i + 1).SetNoDataValue, float(nodata))
        except BaseException:
            self.ds = None
            raise

    def _do(self, what: str, fn, *args: Any) -> Any:
        """One GDAL call: a raised or reported failure, or a CPLErr return code, is an OutputError.
        (Blocks GDAL flushes to disk later, while other datasets are read, report their errors
        to whoever called GDAL then; the writer's verification catches those.)"""
        with errors() as errs:
            out = call(errs, f"{what} {self.label!r}", fn, *args)
        if isinstance(out, int) and not isinstance(out, bool) and out != gdal.CE_None:
            raise OutputError(f"{what} {self.label!r}: GDAL returned error {out}")
        return out

    def write(self, arr: np.ndarray, col_off: int, row_off: int) -> None:
        c, h, w = arr.shape
        data = np.ascontiguousarray(arr)
        self._do("cannot write", self.ds.WriteRaster, int(col_off), int(row_off), int(w), int(h),
                 memoryview(data), int(w), int(h), _NUMPY_TO_GDT[data.dtype.name], list(range(1, c + 1)))
        if self.stream:  # the bands' dirty blocks only (a dataset flush would rewrite the TIFF directory)
            for i in range(c):
                self._do("cannot write", self.ds.GetRasterBand(i + 1).FlushCache)

    def describe(self, band_names, tags, band_tags) -> None:
        for i, n in enumerate(band_names or []):
            self._do("cannot describe the bands of", self.ds.GetRasterBand(i + 1).SetDescription, str(n))
        if tags:
            self._do("cannot write the tags of", self.ds.SetMetadata, {k: str(v) for k, v in tags.items()})
        for i, t in enumerate(band_tags or []):
            if t:
                self._do("cannot write the band tags of", self.ds.GetRasterBand(i + 1).SetMetadata,
                         {k: str(v) for k, v in t.items()})

    def build_overviews(self, factors: list[int], resampling: str) -> None:
        self._do("cannot build overviews of", self.ds.BuildOverviews, resampling.upper(), list(factors))

    def close(self) -> None:
        """Flush and close (GDALClose); raises :class:`OutputError` with what GDAL reported."""
        try:
            self._do("cannot write", self.ds.FlushCache)
            with errors() as errs:
                self.ds = None  # closing writes the TIFF directory: its failures land in errs
            msg = errs.take()
            if msg:
                raise OutputError(f"cannot write {self.label!r}: {msg}")
        finally:
            self.ds = None

    def abort(self) -> None:
        with errors():
            self.ds = None


def create(path, driver, width, height, count, dtype, crs, transform, nodata, options, label=None,
           stream=False) -> Sink:
    return Sink(path, driver, width, height, count, dtype, crs, transform, nodata, options, label, stream)


def copy(src: str, dst: str, driver: str, options: dict[str, str], label: str | None = None) -> None:
    """``dst`` as a copy of ``src`` in another layout (e.g. the COG driver)."""
    ds = _open(src, "cannot reopen")
    with errors() as errs:
        out = call(errs, f"cannot write {label or dst!r}", gdal.GetDriverByName(driver).CreateCopy, str(dst), ds, 0,
                   [f"{k}={v}" for k, v in options.items()])
        if out is None:
            raise OutputError(f"cannot write {label or dst!r}: GDAL's {driver} driver failed")
        out = None
        msg = errs.take()
    ds = None
    if msg:
        raise OutputError(f"cannot write {label or dst!r}: {msg}")


def tiff_blocks(path: str) -> Iterator[tuple[int, int]]:
    """``(offset, size)`` of every data block of a GeoTIFF (bytes), from GDAL's TIFF domain."""
    ds = _open(path, "cannot reopen")
    try:
        for i in range(ds.RasterCount):
            band = ds.GetRasterBand(i + 1)
            bx, by = band.GetBlockSize()
            for y in range(-(-ds.RasterYSize // by)):
                for x in range(-(-ds.RasterXSize // bx)):
                    off = band.GetMetadataItem(f"BLOCK_OFFSET_{x}_{y}", "TIFF")
                    size = band.GetMetadataItem(f"BLOCK_SIZE_{x}_{y}", "TIFF")
                    yield int(off or 0), int(size or 0)
            if ds.GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE") == "PIXEL":
                break  # pixel-interleaved: one set of blocks holds every band
    finally:
        ds = None
