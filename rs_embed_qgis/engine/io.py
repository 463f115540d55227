"""Writing embeddings as georeferenced files: GeoTIFF grids and PCA quick-looks.

A grid ``Embedding`` carries ``crs`` and ``transform`` of the ROI it covers, so
the GeoTIFF lands exactly on the ROI. Writes are atomic: a temporary file in the
destination folder, renamed into place when complete.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .embedding import Embedding
from .errors import SpecError


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


@contextmanager
def atomic_path(dst: os.PathLike | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``dst``; rename it onto ``dst`` only if the block succeeds."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=suffix or dst.suffix or ".tmp",
                               dir=dst.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publish(tmp_path, dst)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        for side in tmp_path.parent.glob(tmp_path.name + ".*"):  # e.g. GDAL .aux.xml
            side.unlink()


def atomic_write_text(dst: os.PathLike | str, text: str) -> Path:
    with atomic_path(dst) as tmp:
        tmp.write_text(text, encoding="utf-8")
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
    import rasterio
    from rasterio.transform import Affine

    arr = emb.array
    if arr.ndim != 3:
        raise SpecError(
            f"only grid embeddings (D, H, W) can be written as GeoTIFF, got shape {arr.shape}; "
            "use OutputSpec.grid()")
    crs, t = emb.meta.get("crs"), emb.meta.get("transform")
    if crs is None or t is None:
        raise SpecError("this grid embedding has no crs/transform in meta, so it cannot be placed "
                        "on a map; embed from a provider or pass crs= and transform= with your data")
    d, h, w = arr.shape
    profile = dict(driver="GTiff", width=w, height=h, count=d, dtype="float32", crs=crs,
                   transform=Affine(*t[:6]), compress=compress, nodata=None,
                   interleave="pixel" if d <= 4 else "band")
    if w >= 16 and h >= 16:
        profile.update(tiled=True, blockxsize=max(16, min(256, (w // 16) * 16)),
                       blockysize=max(16, min(256, (h // 16) * 16)))
    meta = emb.meta
    tags = {
        "RS_EMBED_MODEL": str(meta.get("model", "")),
        "RS_EMBED_RANDOM_WEIGHTS": str(bool(meta.get("random_weights", False))),
        "RS_EMBED_TEMPORAL": to_json(meta.get("temporal")),
        "RS_EMBED_SENSOR": to_json(meta.get("sensor")),
        "RS_EMBED_OUTPUT": to_json(meta.get("output")),
        "RS_EMBED_META": to_json(meta),
    }
    names = [f"{band_prefix}_{i:03d}" for i in range(d)]
    with atomic_path(path, suffix=".tif") as tmp:
        if not _write_gtiff_nogil(tmp, arr, profile, names, tags):
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(arr.astype(np.float32))
                for i in range(d):
                    dst.set_band_description(i + 1, names[i])
                dst.update_tags(**tags)
    return Path(path)


def _write_gtiff_nogil(tmp: Path, arr: np.ndarray, profile: dict[str, Any], names, tags) -> bool:
    """Same file through GDAL's own bindings, which release the GIL while compressing and
    flushing (rasterio holds it on close: ~1 s for a 1024-band grid), so a background
    writer never freezes the GUI thread. False when the bindings are not installed."""
    try:
        from osgeo import gdal, osr
    except ImportError:
        return False
    gdal.UseExceptions()
    d, h, w = arr.shape
    opts = [f"COMPRESS={str(profile['compress']).upper()}", f"INTERLEAVE={profile['interleave'].upper()}"]
    if profile.get("tiled"):
        opts += ["TILED=YES", f"BLOCKXSIZE={profile['blockxsize']}", f"BLOCKYSIZE={profile['blockysize']}"]
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp), w, h, d, gdal.GDT_Float32, opts)
    srs = osr.SpatialReference()
    srs.SetFromUserInput(str(profile["crs"]))
    t = profile["transform"]
    ds.SetGeoTransform((t.c, t.a, t.b, t.f, t.d, t.e))
    ds.SetProjection(srs.ExportToWkt())
    ds.WriteRaster(0, 0, w, h, np.ascontiguousarray(arr, dtype=np.float32).tobytes(),
                   band_list=list(range(1, d + 1)))
    for i in range(d):
        ds.GetRasterBand(i + 1).SetDescription(names[i])
    ds.SetMetadata({k: str(v) for k, v in tags.items()})
    ds.FlushCache()
    ds = None
    return True


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

    rgb, _ = pca_rgb(emb.array)
    img = (np.nan_to_num(rgb).transpose(1, 2, 0) * 255).round().astype(np.uint8)
    im = Image.fromarray(img, "RGB")
    if upscale > 1:
        im = im.resize((im.width * upscale, im.height * upscale), Image.NEAREST)
    with atomic_path(path, suffix=".png") as tmp:
        im.save(tmp, format="PNG")
    return Path(path)
