"""Writing results as files: embedding grids, PCA and input previews (GeoTIFF), pooled
vectors (GeoPackage), quick-looks (PNG), JSON; and the atomic-write helpers every writer uses.

A grid ``Embedding`` carries ``crs`` and ``transform`` of the ROI it covers, so
the GeoTIFF lands exactly on the ROI. Writes are atomic: a temporary file in the
destination folder, checked, then renamed into place (see :func:`atomic_path`); rasters
go through the one writer of :mod:`.geoio`.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import Embedding
from .errors import OutputError, RsEmbedError, SpecError

_log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: read once at import: mkstemp makes 0600 files, finished outputs get the usual 0666 & ~umask
_FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()  # for finished folders made with mkdtemp (0700)


def publish(tmp: os.PathLike | str, dst: os.PathLike | str) -> None:
    """Give a finished temp file normal permissions and rename it onto ``dst`` (atomic)."""
    os.chmod(tmp, _FILE_MODE)
    os.replace(tmp, dst)


#: errno values that mean "this folder cannot be written to" (a user's choice, not a fault)
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def folder_error(folder: Path, exc: OSError) -> RsEmbedError:
    """A clear error for a folder we cannot create or write in, naming it."""
    why = exc.strerror or str(exc)
    if exc.errno in _UNWRITABLE:
        return SpecError(f"cannot write to the output folder {str(folder)!r}: {why}; choose a folder "
                         f"you can write to")
    return OutputError(exc.errno or errno.EIO, f"cannot write to the output folder {str(folder)!r}: {why}")


def make_folder(folder: os.PathLike | str) -> list[Path]:
    """Create ``folder`` and missing parents; returns those created (deepest last), so a failed
    job can remove them again (:func:`remove_empty`). Unwritable: :func:`folder_error`."""
    folder = Path(folder)
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty(missing[::-1])
        raise folder_error(folder, exc) from exc
    return missing[::-1]


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed job created, deepest first, if they are still empty."""
    for d in reversed(folders):
        try:
            d.rmdir()
        except OSError:  # not empty (another writer's file), or gone: leave it
            pass


def discard(path: Path) -> None:
    """Delete a temp file (or folder) after a failure; a failure to delete is logged and never
    replaces the error being handled."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        _log.warning("could not remove the temporary %s: %s", path, exc)


def write_error(dst: os.PathLike | str, exc: OSError) -> OutputError:
    """An OSError met while writing ``dst`` (not one of ours: those name it already), as an
    :class:`OutputError` that names ``dst``."""
    return OutputError(exc.errno or errno.EIO, f"cannot write {str(dst)!r}: {exc.strerror or exc}")


def check_not_empty(path: Path) -> None:
    """The least a finished file must be: there, and not empty."""
    if path.stat().st_size == 0:
        raise OutputError(errno.EIO, f"{path.name} is empty after writing (disk full?)")


_GDAL_SIDES = (".aux.xml", ".msk", ".ovr")  # what GDAL may write beside a raster (PAM, mask, overviews)
#: what may be left beside a temp raster, by suffix: GDAL's side files, and the source of a
#: Cloud-Optimized GeoTIFF (``geoio.raster_writer`` writes ``<temp>.src.tif``, then copies it) with its own
SIDE_FILES = _GDAL_SIDES + (".src.tif",) + tuple(".src.tif" + s for s in _GDAL_SIDES)


@contextmanager
def _staged(dst: Path, make_temp: Callable[[Path], Path], finish: Callable[[Path, Path], None],
            verify: Callable[[Path], Any] | None) -> Iterator[Path]:
    """A temp file or folder beside ``dst``, verified and moved onto it by ``finish``; on any
    failure it goes (with folders made for it), and an OSError becomes an OutputError naming
    ``dst``."""
    created = make_folder(dst.parent)
    try:
        tmp = make_temp(dst)
    except OSError as exc:
        remove_empty(created)
        raise folder_error(dst.parent, exc) from exc
    try:
        yield tmp
        if verify is not None:
            verify(tmp)
        finish(tmp, dst)
    except OSError as exc:  # e.g. a full disk inside numpy or Arrow: say which output it was
        discard(tmp)
        remove_empty(created)
        if isinstance(exc, RsEmbedError):
            raise
        raise write_error(dst, exc) from exc
    except BaseException:
        discard(tmp)
        remove_empty(created)
        raise
    finally:
        # what GDAL may leave beside a temp raster, by name: a scan of the folder would cost
        # O(files there) per write, O(N^2) for an export of N items into one folder
        for suffix in SIDE_FILES:
            side = tmp.parent / (tmp.name + suffix)
            if os.path.lexists(side):
                discard(side)


@contextmanager
def atomic_path(dst: os.PathLike | str, suffix: str | None = None,
                verify: Callable[[Path], Any] | None = check_not_empty) -> Iterator[Path]:
    """Yield a temp path beside ``dst``; rename it onto ``dst`` only if the block succeeds and
    ``verify(temp)`` passes (default: not empty).

    On any failure nothing is left under ``dst``'s name (nor folders this call created), and the
    original error propagates (an ``OSError`` as :class:`OutputError` naming ``dst``, caused by
    it); temp files GDAL adds beside the temp file go too.
    """
    dst = Path(dst)

    def make(d: Path) -> Path:
        fd, tmp = tempfile.mkstemp(prefix=f".{d.name}.", suffix=suffix or d.suffix or ".tmp", dir=d.parent)
        os.close(fd)
        return Path(tmp)

    with _staged(dst, make, publish, verify) as tmp:
        yield tmp


def _publish_dir(tmp: Path, dst: Path) -> None:
    os.chmod(tmp, DIR_MODE)  # mkdtemp made it 0700
    if dst.exists():  # a directory cannot be replaced atomically: move the old one aside first
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
        os.replace(dst, old / "x")
        os.replace(tmp, dst)
        discard(old)
    else:
        os.replace(tmp, dst)


@contextmanager
def atomic_dir(dst: os.PathLike | str, verify: Callable[[Path], Any] | None = None) -> Iterator[Path]:
    """Yield a temp folder beside ``dst`` (e.g. a Zarr store); it replaces ``dst`` only if the
    block succeeds and ``verify(temp)`` passes; failures as :func:`atomic_path`."""
    def make(d: Path) -> Path:
        return Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".tmp", dir=d.parent))

    with _staged(Path(dst), make, _publish_dir, verify) as tmp:
        yield tmp


def atomic_write_text(dst: os.PathLike | str, text: str) -> Path:
    """Write a text file atomically; it gets its name only once all of it is on disk."""
    data = text.encode("utf-8")

    def whole(p: Path) -> None:
        if p.stat().st_size != len(data):
            raise OutputError(errno.EIO, f"{Path(dst).name}: {p.stat().st_size} of {len(data)} bytes "
                                         "written (disk full?)")

    with atomic_path(dst, verify=whole) as tmp:
        tmp.write_bytes(data)
    return Path(dst)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def to_json(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, default=_json_default, **kw)


def write_embedding_geotiff(emb: Embedding, path: os.PathLike | str, *,
                            band_prefix: str = "emb", compress: str = "deflate") -> Path:
    """Write a grid embedding ``(D, H, W)`` as a float32 GeoTIFF on its ROI.

    Bands are described ``emb_000``...; tags hold the model, specs and run metadata
    (``RS_EMBED_META`` is the whole ``meta`` as JSON).
    """
    from .geoio import write_raster

    arr = emb.array
    if arr.ndim != 3:
        raise SpecError(
            f"only grid embeddings (D, H, W) can be written as GeoTIFF, got shape {arr.shape}; "
            "use OutputSpec.grid()")
    crs, t = emb.meta.get("crs"), emb.meta.get("transform")
    if crs is None or t is None:
        raise SpecError("this grid embedding has no crs/transform in meta, so it cannot be placed "
                        "on a map; embed from a provider or pass crs= and transform= with your data")
    from .provenance import public

    meta = public(emb.meta, out_dir=Path(path).absolute().parent)  # no credentials, no private paths
    tags = {
        "RS_EMBED_MODEL": str(meta.get("model", "")),
        "RS_EMBED_RANDOM_WEIGHTS": str(bool(meta.get("random_weights", False))),
        "RS_EMBED_TEMPORAL": to_json(meta.get("temporal")),
        "RS_EMBED_SENSOR": to_json(meta.get("sensor")),
        "RS_EMBED_OUTPUT": to_json(meta.get("output")),
        "RS_EMBED_META": to_json(meta),
    }
    return write_raster(path, arr.astype(np.float32, copy=False), crs=crs, transform=t[:6],
                        band_names=[f"{band_prefix}_{i:03d}" for i in range(arr.shape[0])], tags=tags,
                        compress=compress)


def write_float_geotiff(arr: np.ndarray, crs: str, transform, path: os.PathLike | str,
                        band_names=None, tags: dict[str, str] | None = None,
                        nodata: float | None = float("nan")) -> Path:
    """A ``(B, H, W)`` (or ``(H, W)``) float32 GeoTIFF, atomically (see :mod:`.geoio.writer`)."""
    from .geoio import write_raster

    return write_raster(path, np.asarray(arr, np.float32), crs=crs, transform=list(transform)[:6],
                        band_names=band_names, tags=tags, nodata=nodata, tiled=False)


def write_pca_geotiff(emb: Embedding, path: os.PathLike | str) -> dict[str, Any]:
    """The grid embedding's first three PCs as a 3-band GeoTIFF; returns the PCA info (stretch)."""
    pcs, info = principal_components(emb.array, 3)
    write_float_geotiff(pcs, emb.meta["crs"], emb.meta["transform"], path, band_names=["pc1", "pc2", "pc3"],
                        tags={"RS_EMBED_PCA": to_json(info), "RS_EMBED_MODEL": str(emb.meta.get("model"))})
    return info


def write_rgb_preview(chw: np.ndarray, bands, crs: str, transform, path: os.PathLike | str,
                      rgb_bands=None) -> dict[str, Any]:
    """True-colour bands of a ``(C, H, W)`` input patch (raw values) as a 3-band GeoTIFF.

    Returns the bands used and a 2-98 % stretch per band for the renderer.
    """
    from .errors import ProviderError
    from .providers.bands import band_index

    bands = list(bands)
    try:
        idx = [band_index(bands, b) for b in (rgb_bands or ("B4", "B3", "B2"))]
    except ProviderError as exc:  # no true-colour bands: show the first three
        idx = ([0, 1, 2] if len(bands) >= 3 else [0] * 3)
        _log.info("RGB preview of bands %s: %s; showing bands %s", bands, exc, [bands[i] for i in idx])
    arr = np.asarray(chw, np.float32)[idx]
    write_float_geotiff(arr, crs, transform, path, band_names=[bands[i] for i in idx], nodata=None)
    stretch = []
    for a in arr:
        v = a[np.isfinite(a)]
        lo, hi = (np.percentile(v, [2, 98]).tolist() if v.size else (0.0, 1.0))
        stretch.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
    return {"rgb_bands": [bands[i] for i in idx], "stretch": stretch}


def write_pooled_gpkg(vectors, geometries_wkt, path: os.PathLike | str, meta: dict[str, Any],
                      layer_name: str = "embeddings") -> Path:
    """Pooled embeddings as a GeoPackage: one feature per ROI (EPSG:4326 geometry),
    attributes ``roi``, ``model``, ``start``, ``end``, ``random_weights`` and ``e0..eN``."""
    from .geoio.vector import VectorLayer, write_gpkg

    if len(vectors) != len(geometries_wkt):
        raise SpecError(f"{len(vectors)} vectors for {len(geometries_wkt)} geometries")
    dim = int(np.asarray(vectors[0]).size)
    start, end = temporal_bounds(meta.get("temporal") or {})
    fields = [("roi", "int"), ("model", "str"), ("start", "str"), ("end", "str"), ("random_weights", "int")]
    fields += [(f"e{i}", "real") for i in range(dim)]
    rows = [(wkt, [k, str(meta.get("model", "")), start, end, int(bool(meta.get("random_weights")))]
             + np.asarray(vec, np.float64).ravel().tolist())
            for k, (vec, wkt) in enumerate(zip(vectors, geometries_wkt, strict=True))]
    from .provenance import public

    return write_gpkg(path, [VectorLayer(layer_name, fields, rows)],
                      {"RS_EMBED_META": to_json(public(meta, out_dir=Path(path).absolute().parent))})


def temporal_bounds(temporal: dict[str, Any]) -> tuple[str, str]:
    """``(start, end)`` ISO dates of a temporal spec dict ("" when there is none)."""
    if not temporal:
        return "", ""
    if temporal.get("mode") == "year" and temporal.get("year"):
        y = int(temporal["year"])
        return f"{y}-01-01", f"{y + 1}-01-01"
    return str(temporal.get("start") or ""), str(temporal.get("end") or "")


def write_json(path: os.PathLike | str, obj: Any) -> Path:
    """``obj`` as indented JSON, atomically; no credentials, no private paths
    (:func:`.provenance.public`)."""
    from .provenance import public

    return atomic_write_text(path, to_json(public(obj, out_dir=Path(path).absolute().parent), indent=2))


def principal_components(grid: np.ndarray, n: int = 3) -> tuple[np.ndarray, dict[str, Any]]:
    """Raw (unstretched) first ``n`` principal components of a ``(D, H, W)`` grid.

    Returns ``(n, H, W)`` float32 (NaN where a cell had non-finite values) and
    ``{"explained_variance_ratio": [...], "stretch": [(lo, hi) per PC at 2-98 %]}``.
    """
    d, h, w = grid.shape
    x = grid.reshape(d, -1).T.astype(np.float64)
    ok = np.isfinite(x).all(axis=1)
    out = np.full((n, h * w), np.nan, np.float32)
    info: dict[str, Any] = {"explained_variance_ratio": [0.0] * n, "stretch": [(0.0, 1.0)] * n}
    if ok.sum() < 2:
        return out.reshape(n, h, w), info
    xc = x[ok] - x[ok].mean(axis=0)
    # top-n eigenvectors of the smaller of the two Gram matrices (a full SVD of a
    # cells x 1024 matrix takes seconds; this takes a BLAS product and an eigh). numpy's
    # eigh releases the GIL (scipy's LAPACK wrappers do not), so the GUI thread keeps running.
    m, dd = xc.shape
    k = min(n, m - 1, dd)
    if dd <= m:
        evals, evecs = np.linalg.eigh(xc.T @ xc)
        evals, vt = evals[::-1][:k], evecs[:, ::-1][:, :k].T             # (k, D) loadings
        pcs = xc @ vt.T
    else:
        evals, evecs = np.linalg.eigh(xc @ xc.T)
        evals, u = evals[::-1][:k], evecs[:, ::-1][:, :k]
        pcs = u * np.sqrt(np.clip(evals, 0, None))                      # scores = U S
        vt = (xc.T @ u / np.where(evals > 0, np.sqrt(np.clip(evals, 0, None)), 1.0)).T
    total = float((xc ** 2).sum())
    for i in range(k):
        # sign convention: the largest loading is positive, so colours are reproducible
        if vt[i, np.argmax(np.abs(vt[i]))] < 0:
            pcs[:, i] = -pcs[:, i]
        out[i, ok] = pcs[:, i]
    stretch = []
    for i in range(n):
        v = out[i][np.isfinite(out[i])]
        lo, hi = (np.percentile(v, [2, 98]).tolist() if v.size else (0.0, 1.0))
        stretch.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
    info = {"explained_variance_ratio": [float(e / total) if total > 0 else 0.0 for e in evals[:k]],
            "stretch": stretch}
    return out.reshape(n, h, w), info


def pca_rgb(grid: np.ndarray, n: int = 3, clip_pct: tuple[float, float] = (2.0, 98.0),
            ) -> tuple[np.ndarray, dict[str, Any]]:
    """First ``n`` principal components of a ``(D, H, W)`` grid, stretched to 0..1.

    Returns ``(n, H, W)`` float32 and a dict with explained variance ratios.
    """
    pcs, info = principal_components(grid, n)
    out = np.zeros_like(pcs)
    for i in range(n):
        v = pcs[i][np.isfinite(pcs[i])]
        if not v.size:
            continue
        lo, hi = np.percentile(v, clip_pct)
        out[i] = np.clip((pcs[i] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    if int(np.isfinite(pcs[0]).sum()) < 2:
        raise SpecError(f"PCA needs at least 2 valid cells, got {int(np.isfinite(pcs[0]).sum())}")
    return np.nan_to_num(out), info


def write_pca_quicklook(emb: Embedding, path: os.PathLike | str, *, upscale: int = 1) -> Path:
    """PNG of the first three principal components (RGB), for a quick look."""
    from PIL import Image

    if Path(path).suffix.lower() != ".png":
        raise SpecError(f"quick-look {str(path)!r} has the extension {Path(path).suffix or '(none)'!r}; "
                        "it is written as PNG: name the file .png")
    rgb, _ = pca_rgb(emb.array)
    img = (np.nan_to_num(rgb).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    im = Image.fromarray(img, "RGB")
    if upscale > 1:
        im = im.resize((im.width * upscale, im.height * upscale), Image.NEAREST)
    with atomic_path(path, suffix=".png") as tmp:
        im.save(tmp, format="PNG")
    return Path(path)


# -- what the QGIS faces write from a run -------------------------------------------------------
def save_grid(emb: Embedding, path: str | Path, pca: str | Path | None = None,
              quicklook: str | Path | None = None) -> dict[str, Any]:
    """Write a grid embedding as GeoTIFF and, when asked, its PCA: a 3-band GeoTIFF on the same
    grid (``pca``, with the 2-98 % stretch in ``pca_info``) and/or a PNG picture (``quicklook``).

    All or nothing: if one file cannot be written, those already written are removed."""
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

    from .geoio import write_raster

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
