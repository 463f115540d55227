"""Files the engine wrote -> QGIS layers, with styles and metadata.

The files themselves are written by the engine (``engine.io``, through the one raster
writer of ``engine.geoio``) in the tasks' worker threads. The ``*_layer`` functions
here build QGIS layers; they run on the main thread (``QgsTask.finished``) only.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .engine.io import temporal_bounds, to_json

META_PROPERTY = "rs_embed/meta"
EMBEDDING_PROPERTY = "rs_embed/embedding_path"
KIND_PROPERTY = "rs_embed/kind"


# --------------------------------------------------------------- numbers for the tasks (any thread)

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
    start, end = temporal_bounds(t)
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
