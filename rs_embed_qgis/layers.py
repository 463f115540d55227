"""Styles, names and metadata of the layers a run adds, whichever face ran it.

The files are written by the Processing algorithms (and the dock's similarity task) in worker
threads. The ``style_*`` functions here dress a layer QGIS has loaded from such a file: the
algorithms' layer post-processors (``processing/outputs.py``) call them on the main thread when
the toolbox, the modeller or the dock adds the outputs to the project, so every face shows the
same layers.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import compat
from .engine.io import temporal_bounds, to_json
from .i18n import tr

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


def summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The parts of an embedding's meta a user wants in the layer metadata."""
    keys = ("model", "family", "type", "device", "random_weights", "weights", "temporal", "input_time",
            "sensor", "output", "input_prep", "backend", "crs", "transform", "grid_hw", "timings",
            "spatial", "options", "coverage", "warnings")
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
        lines.append(tr("RANDOM WEIGHTS: this model ran with randomly initialised weights; "
                        "the values are NOT a pretrained embedding."))
    lines.append(tr("Model: {model} ({family}), device {device}.").format(
        model=meta.get("model"), family=meta.get("family", ""), device=meta.get("device", "?")))
    source = w.get("path") or w.get("source")
    lines.append((tr("Weights: {status} from {source}.") if source else tr("Weights: {status}.")).format(
        status=w.get("status", "?"), source=source))
    start, end = temporal_bounds(t)
    if start:
        lines.append(tr("Time window: [{start}, {end}).").format(start=start, end=end))
    sensor = meta.get("sensor") or {}
    if sensor:
        lines.append(tr("Sensor: {collection} bands {bands} at {scale} m, cloud <= {cloud} %, {composite} "
                        "composite.").format(collection=sensor.get("collection"),
                                             bands=", ".join(sensor.get("bands") or []), scale=sensor.get("scale_m"),
                                             cloud=sensor.get("cloudy_pct"), composite=sensor.get("composite")))
    cov = meta.get("coverage") or {}
    if cov.get("valid_fraction") is not None:
        lines.append(tr("Valid data: {valid:.0%} of the region (below {least:.0%} the run fails).").format(
            valid=cov["valid_fraction"], least=cov.get("min_valid_fraction") or 0))
    lines += [tr("WARNING: {warning}").format(warning=w) for w in meta.get("warnings") or []]
    out = meta.get("output") or {}
    if out:
        lines.append((tr("Output: grid at {scale} m") if out.get("mode") == "grid" else
                      tr("Output: pooled ({pooling})")).format(scale=out.get("scale_m"), pooling=out.get("pooling")))
    tim = meta.get("timings") or {}
    if tim:
        lines.append(tr("Timings: {timings}").format(
            timings=", ".join(f"{k} {v:.2f}" for k, v in tim.items() if isinstance(v, (int, float)))))
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
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
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
    shader_fn.setColorRampType(compat.SHADER_LINEAR)
    shader_fn.classifyColorRamp(9, -1)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_fn)
    r = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    r.setClassificationMin(lo)
    r.setClassificationMax(hi)
    layer.setRenderer(r)
    layer.triggerRepaint()


def run_name(meta: dict[str, Any]) -> str:
    """``<model>_<window>`` of a run, e.g. ``mosaiks_2022-06-01_2022-09-01`` or ``mosaiks_2021``: the
    name its layers and their group carry, whichever face ran it."""
    t = meta.get("temporal") or {}
    if t.get("mode") == "year" and t.get("year"):
        when = str(t["year"])
    else:
        start, end = temporal_bounds(t)
        when = f"{start}_{end}" if start else "no-window"
    return f"{meta.get('model', 'embedding')}_{when}"


def style_embedding(layer, meta: dict[str, Any], title: str, extra: dict[str, Any] | None = None) -> None:
    """The full embedding grid (D bands, for analysis): its first band in grey, the run's metadata,
    and the property the similarity tool looks for."""
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    _apply_meta(layer, meta, title, "grid", extra)
    layer.setCustomProperty(EMBEDDING_PROPERTY, layer.source())
    prov = layer.dataProvider()
    g = QgsSingleBandGrayRenderer(prov, 1)
    ce = QgsContrastEnhancement(prov.dataType(1))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    st = prov.bandStatistics(1)
    ce.setMinimumValue(st.minimumValue)
    ce.setMaximumValue(st.maximumValue)
    g.setContrastEnhancement(ce)
    layer.setRenderer(g)
    layer.triggerRepaint()


def style_pca(layer, meta: dict[str, Any], pca_info: dict[str, Any], embedding_path: str | None, title: str) -> None:
    """The first three principal components as RGB, each stretched to its 2-98 % range (the stretch
    is in the style: the values stay the raw PCs)."""
    extra = {"pca": pca_info, "embedding_geotiff": embedding_path}
    _apply_meta(layer, meta, title, "grid_pca", extra)
    if embedding_path:
        layer.setCustomProperty(EMBEDDING_PROPERTY, str(embedding_path))
    multiband_style(layer, (1, 2, 3), pca_info["stretch"])


def style_pooled(layer, meta: dict[str, Any], title: str) -> None:
    """Pooled vectors: the ROI footprints, lightly filled, with the run's metadata."""
    _apply_meta(layer, meta, title, "pooled")
    sym = layer.renderer().symbol() if layer.renderer() is not None and hasattr(layer.renderer(), "symbol") \
        else None
    if sym is not None:
        from qgis.PyQt.QtGui import QColor

        sym.setColor(QColor(255, 140, 0, 60))
    layer.triggerRepaint()


def similarity_layer(tif: str, src_meta: dict[str, Any], name: str, clicked: dict[str, Any]):
    from qgis.core import QgsRasterLayer

    lyr = QgsRasterLayer(str(tif), name)
    if not lyr.isValid():
        raise RuntimeError(tr("QGIS could not open the written GeoTIFF {path!r}").format(path=tif))
    _apply_meta(lyr, src_meta, name, "similarity", {"similarity_to": clicked})
    st = lyr.dataProvider().bandStatistics(1)
    lo = max(-1.0, st.minimumValue)
    pseudocolor_style(lyr, lo, 1.0)
    return lyr


def style_input(layer, rgb: dict[str, Any], report: dict[str, Any], title: str) -> None:
    """An input patch (no model run) as RGB, each band stretched to the limits it was written with."""
    from qgis.core import QgsLayerMetadata

    multiband_style(layer, (1, 2, 3), rgb["display"])
    md = QgsLayerMetadata()
    md.setTitle(title)
    md.setAbstract(tr("Input patch as fetched (no model run): bands {bands} as RGB ({stretch} values).").format(
        bands=", ".join(rgb["bands"]), stretch=rgb["stretch"]))
    md.setHistory([to_json(report)])
    layer.setMetadata(md)
    layer.setCustomProperty(KIND_PROPERTY, "input")
    layer.setCustomProperty(META_PROPERTY, to_json(report))


def style_superres(layer, meta: dict[str, Any], random_weights: bool) -> None:
    """A super-resolved raster: the run summary in its metadata (RANDOM WEIGHTS first when so)."""
    md = layer.metadata()
    md.setAbstract((tr("RANDOM WEIGHTS: not a super-resolved image.") + "\n" if random_weights else "")
                   + json.dumps(meta, indent=1, default=str))
    layer.setMetadata(md)
    layer.setCustomProperty(KIND_PROPERTY, "superres")


def layer_meta(layer) -> dict[str, Any]:
    raw = layer.customProperty(META_PROPERTY)
    try:
        return json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
