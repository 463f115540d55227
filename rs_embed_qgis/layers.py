"""Engine results -> files -> QGIS layers, with styles and metadata.

Two halves, kept apart on purpose:

* ``write_*`` functions are plain numpy/rasterio/ogr. QgsTasks call them from
  their worker thread (``run()``); each write is atomic (temp file in the same
  folder, then ``os.replace``), so a cancelled or failed task leaves nothing.
* ``*_layer`` functions build QGIS layers; they run on the main thread
  (``QgsTask.finished``) only.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .engine.io import atomic_path, principal_components, to_json

log = logging.getLogger(__name__)

META_PROPERTY = "rs_embed/meta"
EMBEDDING_PROPERTY = "rs_embed/embedding_path"
KIND_PROPERTY = "rs_embed/kind"


# --------------------------------------------------------------------------- files (any thread)

def write_float_geotiff(arr: np.ndarray, crs: str, transform: Sequence[float], path: os.PathLike | str,
                        band_names: Sequence[str] | None = None, tags: dict[str, str] | None = None,
                        nodata: float | None = float("nan")) -> Path:
    """A ``(B, H, W)`` float32 GeoTIFF, atomically.

    Written with GDAL's own bindings, which release the GIL while compressing and
    flushing, so a task writing this never freezes Python code on the GUI thread.
    """
    from osgeo import gdal, osr

    gdal.UseExceptions()
    arr = np.ascontiguousarray(np.asarray(arr, np.float32))
    if arr.ndim == 2:
        arr = arr[None]
    b, h, w = arr.shape
    srs = osr.SpatialReference()
    srs.SetFromUserInput(str(crs))
    a, bb, c, d, e, f = list(transform)[:6]  # rasterio/affine order -> GDAL geotransform
    with atomic_path(path, suffix=".tif") as tmp:
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp), w, h, b, gdal.GDT_Float32,
                                                  ["COMPRESS=DEFLATE", "PREDICTOR=3"])
        ds.SetGeoTransform((c, a, bb, f, d, e))
        ds.SetProjection(srs.ExportToWkt())
        ds.WriteRaster(0, 0, w, h, arr.tobytes(), band_list=list(range(1, b + 1)))
        for i in range(b):
            band = ds.GetRasterBand(i + 1)
            if nodata is not None:
                band.SetNoDataValue(float(nodata))
            if band_names and i < len(band_names):
                band.SetDescription(str(band_names[i]))
        if tags:
            ds.SetMetadata({k: str(v) for k, v in tags.items()})
        ds.FlushCache()
        ds = None  # close before the rename
    return Path(path)


def write_pca_geotiff(emb, path: os.PathLike | str) -> dict[str, Any]:
    """The grid embedding's first three PCs as a 3-band GeoTIFF beside it; returns the stretch."""
    pcs, info = principal_components(emb.array, 3)
    write_float_geotiff(pcs, emb.meta["crs"], emb.meta["transform"], path,
                        band_names=["pc1", "pc2", "pc3"],
                        tags={"RS_EMBED_PCA": to_json(info), "RS_EMBED_MODEL": str(emb.meta.get("model"))})
    return info


def cosine_similarity_grid(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    """Cosine similarity of every cell of a ``(D, H, W)`` grid to cell ``(row, col)``."""
    d, h, w = grid.shape
    if not (0 <= row < h and 0 <= col < w):
        from .engine.errors import SpecError

        raise SpecError(f"cell (row={row}, col={col}) is outside the {h} x {w} grid")
    x = grid.reshape(d, -1).astype(np.float64)
    ref = x[:, row * w + col]
    if not np.isfinite(ref).all():
        from .engine.errors import SpecError

        raise SpecError(f"the clicked cell (row={row}, col={col}) has no valid embedding (NaN)")
    num = ref @ x
    den = np.linalg.norm(ref) * np.linalg.norm(x, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(den > 0, num / den, np.nan)
    return sim.reshape(h, w).astype(np.float32)


def write_pooled_gpkg(vectors: Sequence[np.ndarray], geometries_wkt: Sequence[str],
                      path: os.PathLike | str, meta: dict[str, Any], layer_name: str = "embeddings") -> Path:
    """Pooled embeddings as a GeoPackage: one feature per ROI (EPSG:4326 geometry),
    attributes ``model``, ``start``, ``end``, ``random_weights`` and ``e0..eN``."""
    from osgeo import ogr, osr

    ogr.UseExceptions()
    if len(vectors) != len(geometries_wkt):
        raise ValueError(f"{len(vectors)} vectors for {len(geometries_wkt)} geometries")
    dim = int(np.asarray(vectors[0]).size)
    temporal = meta.get("temporal") or {}
    start, end = _temporal_bounds(temporal)
    with atomic_path(path, suffix=".gpkg") as tmp:
        tmp.unlink()  # GDAL refuses to create over an existing (empty) file
        drv = ogr.GetDriverByName("GPKG")
        ds = drv.CreateDataSource(str(tmp))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(4326)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lyr = ds.CreateLayer(layer_name, srs, ogr.wkbPolygon if all(
            "POLYGON" in g.upper() and "MULTI" not in g.upper() for g in geometries_wkt) else ogr.wkbUnknown)
        fields = [("roi", ogr.OFTInteger), ("model", ogr.OFTString), ("start", ogr.OFTString),
                  ("end", ogr.OFTString), ("random_weights", ogr.OFTInteger)]
        for name, typ in fields:
            lyr.CreateField(ogr.FieldDefn(name, typ))
        for i in range(dim):
            lyr.CreateField(ogr.FieldDefn(f"e{i}", ogr.OFTReal))
        ds.StartTransaction()
        defn = lyr.GetLayerDefn()
        for k, (vec, wkt) in enumerate(zip(vectors, geometries_wkt, strict=True)):
            v = np.asarray(vec, np.float64).ravel()
            f = ogr.Feature(defn)
            f.SetField("roi", k)
            f.SetField("model", str(meta.get("model", "")))
            f.SetField("start", start)
            f.SetField("end", end)
            f.SetField("random_weights", int(bool(meta.get("random_weights"))))
            for i, val in enumerate(v):
                f.SetField(f"e{i}", float(val))
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
            lyr.CreateFeature(f)
        ds.CommitTransaction()
        ds.SetMetadataItem("RS_EMBED_META", to_json(meta))
        ds = None  # close before the rename
        for side in (Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            if side.exists():
                side.unlink()
    return Path(path)


def write_rgb_preview(chw: np.ndarray, bands: Sequence[str], crs: str, transform: Sequence[float],
                      path: os.PathLike | str, rgb_bands: Sequence[str] | None = None) -> dict[str, Any]:
    """True-colour bands of a ``(C, H, W)`` input patch (raw values) as a 3-band GeoTIFF.

    Returns the bands used and a 2-98 % stretch per band for the renderer.
    """
    from .engine.errors import ProviderError
    from .engine.providers.bands import band_index

    bands = list(bands)
    try:
        idx = [band_index(bands, b) for b in (rgb_bands or ("B4", "B3", "B2"))]
    except ProviderError as exc:  # no true-colour bands: show the first three
        idx = ([0, 1, 2] if len(bands) >= 3 else [0] * 3)
        log.info("RGB preview of bands %s: %s; showing bands %s", bands, exc, [bands[i] for i in idx])
    arr = np.asarray(chw, np.float32)[idx]
    write_float_geotiff(arr, crs, transform, path, band_names=[bands[i] for i in idx], nodata=None)
    stretch = []
    for a in arr:
        v = a[np.isfinite(a)]
        lo, hi = (np.percentile(v, [2, 98]).tolist() if v.size else (0.0, 1.0))
        stretch.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
    return {"rgb_bands": [bands[i] for i in idx], "stretch": stretch}


def band_stats(data: np.ndarray, bands: Sequence[str]) -> list[dict[str, Any]]:
    """Per-band statistics of a ``(T, C, H, W)`` or ``(C, H, W)`` patch: what to check before
    blaming a model (value range, NaN and zero/fill fractions)."""
    data = np.asarray(data)
    if data.ndim == 3:
        data = data[None]
    out = []
    for i, b in enumerate(bands):
        a = data[:, i].astype(np.float64)
        fin = a[np.isfinite(a)]
        row: dict[str, Any] = {"band": b, "nan_frac": float(1 - fin.size / max(1, a.size))}
        if fin.size:
            p2, p50, p98 = np.percentile(fin, [2, 50, 98])
            row.update(min=float(fin.min()), max=float(fin.max()), mean=float(fin.mean()),
                       std=float(fin.std()), p2=float(p2), median=float(p50), p98=float(p98),
                       zero_frac=float((fin == 0).mean()))
        out.append(row)
    return out


def write_json(path: os.PathLike | str, obj: Any) -> Path:
    from .engine.io import atomic_write_text

    return atomic_write_text(path, to_json(obj, indent=2))


def _temporal_bounds(temporal: dict[str, Any]) -> tuple[str, str]:
    if not temporal:
        return "", ""
    if temporal.get("mode") == "year" and temporal.get("year"):
        y = int(temporal["year"])
        return f"{y}-01-01", f"{y + 1}-01-01"
    return str(temporal.get("start") or ""), str(temporal.get("end") or "")


def summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The parts of an embedding's meta a user wants in the layer metadata."""
    keys = ("model", "family", "type", "device", "random_weights", "weights", "temporal", "input_time",
            "sensor", "output", "input_prep", "backend", "crs", "transform", "grid_hw", "timings",
            "spatial", "options")
    s = {k: meta.get(k) for k in keys if k in meta}
    inp = meta.get("input") or {}
    s["input"] = {k: inp.get(k) for k in ("shape_tchw", "bands", "frames", "backend") if k in inp}
    return s


# --------------------------------------------------------------------------- layers (main thread)

def layer_metadata(meta: dict[str, Any], title: str, extra: dict[str, Any] | None = None):
    """A ``QgsLayerMetadata`` with the run's model, specs, weights and timings."""
    from qgis.core import QgsLayerMetadata

    s = summary(meta)
    if extra:
        s.update(extra)
    md = QgsLayerMetadata()
    md.setTitle(title)
    md.setType("dataset")
    random_w = bool(meta.get("random_weights"))
    w = meta.get("weights") or {}
    t = meta.get("temporal") or {}
    lines = []
    if random_w:
        lines.append("RANDOM WEIGHTS: this model ran with randomly initialised weights; "
                     "the values are NOT a pretrained embedding.")
    lines.append(f"Model: {meta.get('model')} ({meta.get('family', '')}), device {meta.get('device', '?')}.")
    lines.append(f"Weights: {w.get('status', '?')}"
                 + (f" from {w.get('path') or w.get('source')}" if (w.get('path') or w.get('source')) else "") + ".")
    start, end = _temporal_bounds(t)
    if start:
        lines.append(f"Time window: [{start}, {end}).")
    sensor = meta.get("sensor") or {}
    if sensor:
        lines.append(f"Sensor: {sensor.get('collection')} bands {', '.join(sensor.get('bands') or [])} "
                     f"at {sensor.get('scale_m')} m, cloud <= {sensor.get('cloudy_pct')} %, "
                     f"{sensor.get('composite')} composite.")
    out = meta.get("output") or {}
    if out:
        lines.append(f"Output: {out.get('mode')}"
                     + (f" at {out.get('scale_m')} m" if out.get("mode") == "grid" else f" ({out.get('pooling')})"))
    tim = meta.get("timings") or {}
    if tim:
        lines.append("Timings: " + ", ".join(f"{k} {v:.2f}" for k, v in tim.items() if isinstance(v, (int, float))))
    md.setAbstract("\n".join(lines))
    kw = ["rs_embed", str(meta.get("model"))]
    if random_w:
        kw.append("RANDOM WEIGHTS")
    md.setKeywords({"rs_embed": kw})
    md.setHistory([f"{_dt.datetime.now().isoformat(timespec='seconds')} rs_embed run: {to_json(s)}"])
    return md


def _apply_meta(layer, meta: dict[str, Any], title: str, kind: str, extra: dict[str, Any] | None = None) -> None:
    layer.setMetadata(layer_metadata(meta, title, extra))
    layer.setCustomProperty(META_PROPERTY, to_json(summary(meta)))
    layer.setCustomProperty(KIND_PROPERTY, kind)


def multiband_style(layer, bands: Sequence[int], stretch: Sequence[tuple[float, float]]) -> None:
    """RGB from three bands, each stretched min..max (the given values)."""
    from qgis.core import QgsContrastEnhancement, QgsMultiBandColorRenderer

    prov = layer.dataProvider()
    r = QgsMultiBandColorRenderer(prov, *bands)
    ces = []
    for band, (lo, hi) in zip(bands, stretch, strict=True):
        ce = QgsContrastEnhancement(prov.dataType(band))
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        ce.setMinimumValue(lo)
        ce.setMaximumValue(hi)
        ces.append(ce)
    r.setRedContrastEnhancement(ces[0])
    r.setGreenContrastEnhancement(ces[1])
    r.setBlueContrastEnhancement(ces[2])
    layer.setRenderer(r)
    layer.triggerRepaint()


def pseudocolor_style(layer, lo: float, hi: float, ramp_name: str = "Viridis") -> None:
    from qgis.core import (
        QgsColorRampShader,
        QgsRasterShader,
        QgsSingleBandPseudoColorRenderer,
        QgsStyle,
    )

    ramp = QgsStyle.defaultStyle().colorRamp(ramp_name)
    shader_fn = QgsColorRampShader(lo, hi, ramp)
    shader_fn.setColorRampType(QgsColorRampShader.Interpolated)
    shader_fn.classifyColorRamp(9, -1)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    r = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    r.setClassificationMin(lo)
    r.setClassificationMax(hi)
    layer.setRenderer(r)
    layer.triggerRepaint()


def grid_layers(tif: str, pca_tif: str, pca_info: dict[str, Any], meta: dict[str, Any], name: str):
    """The PCA-RGB layer (shown) and the full embedding layer (all D bands, for analysis)."""
    from qgis.core import QgsRasterLayer

    emb = QgsRasterLayer(str(tif), f"{name} embedding")
    pca = QgsRasterLayer(str(pca_tif), f"{name} PCA RGB")
    if not emb.isValid() or not pca.isValid():
        raise RuntimeError(f"QGIS could not open the written GeoTIFF {tif!r}")
    extra = {"pca": pca_info, "embedding_geotiff": str(tif)}
    _apply_meta(emb, meta, f"{name} embedding", "grid", extra)
    _apply_meta(pca, meta, f"{name} PCA RGB (first three principal components)", "grid_pca", extra)
    for lyr in (emb, pca):
        lyr.setCustomProperty(EMBEDDING_PROPERTY, str(tif))
    multiband_style(pca, (1, 2, 3), pca_info["stretch"])
    # the embedding layer itself: its first band in grey, so it is readable if shown
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    g = QgsSingleBandGrayRenderer(emb.dataProvider(), 1)
    ce = QgsContrastEnhancement(emb.dataProvider().dataType(1))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    st = emb.dataProvider().bandStatistics(1)
    ce.setMinimumValue(st.minimumValue)
    ce.setMaximumValue(st.maximumValue)
    g.setContrastEnhancement(ce)
    emb.setRenderer(g)
    return pca, emb


def pooled_layer(gpkg: str, meta: dict[str, Any], name: str):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(f"{gpkg}|layername=embeddings", f"{name} pooled", "ogr")
    if not lyr.isValid():
        raise RuntimeError(f"QGIS could not open the written GeoPackage {gpkg!r}")
    _apply_meta(lyr, meta, f"{name} pooled embedding", "pooled", {"geopackage": str(gpkg)})
    sym = lyr.renderer().symbol() if lyr.renderer() is not None else None
    if sym is not None:
        from qgis.PyQt.QtGui import QColor

        sym.setColor(QColor(255, 140, 0, 60))
    return lyr


def similarity_layer(tif: str, src_meta: dict[str, Any], name: str, clicked: dict[str, Any]):
    from qgis.core import QgsRasterLayer

    lyr = QgsRasterLayer(str(tif), name)
    if not lyr.isValid():
        raise RuntimeError(f"QGIS could not open the written GeoTIFF {tif!r}")
    _apply_meta(lyr, src_meta, name, "similarity", {"similarity_to": clicked})
    st = lyr.dataProvider().bandStatistics(1)
    lo = max(-1.0, st.minimumValue)
    pseudocolor_style(lyr, lo, 1.0)
    return lyr


def inspect_layer(tif: str, info: dict[str, Any], name: str, report: dict[str, Any]):
    from qgis.core import QgsLayerMetadata, QgsRasterLayer

    lyr = QgsRasterLayer(str(tif), name)
    if not lyr.isValid():
        raise RuntimeError(f"QGIS could not open the written GeoTIFF {tif!r}")
    multiband_style(lyr, (1, 2, 3), info["stretch"])
    md = QgsLayerMetadata()
    md.setTitle(name)
    md.setAbstract("Input patch as fetched (no model run): bands "
                   f"{', '.join(info['rgb_bands'])} as RGB, raw values.")
    md.setHistory([to_json(report)])
    lyr.setMetadata(md)
    lyr.setCustomProperty(KIND_PROPERTY, "input")
    lyr.setCustomProperty(META_PROPERTY, to_json(report))
    return lyr


def layer_meta(layer) -> dict[str, Any]:
    raw = layer.customProperty(META_PROPERTY)
    try:
        return json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
