"""Forecast GeoTIFFs -> QGIS raster layers that the Temporal Controller plays frame by frame.

Each frame gets a fixed temporal range ``[date, date + step)``; the project's
temporal range and step are set to cover the forecast, so pressing play in the
Temporal Controller shows one forecast frame per 5-day step.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsDateTimeRange,
    QgsLayerTreeGroup,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)
from qgis.PyQt.QtCore import QDateTime, QTime, QTimeZone

from . import compat

FRAME_STEP_DAYS = 5


def frame_range(date: _dt.date, step_days: int = FRAME_STEP_DAYS) -> QgsDateTimeRange:
    """``[date 00:00 UTC, date + step 00:00 UTC)`` as a QGIS temporal range."""
    end = date + _dt.timedelta(days=step_days)
    begin_qt = QDateTime(date, QTime(0, 0), QTimeZone.utc())
    end_qt = QDateTime(end, QTime(0, 0), QTimeZone.utc())
    return QgsDateTimeRange(begin_qt, end_qt, True, False)


def _style_reflectance(layer: QgsRasterLayer, vmax: float = 0.25) -> None:
    r = QgsMultiBandColorRenderer(layer.dataProvider(), 3, 2, 1)  # B04, B03, B02
    for band, setter in ((3, r.setRedContrastEnhancement), (2, r.setGreenContrastEnhancement),
                         (1, r.setBlueContrastEnhancement)):
        ce = QgsContrastEnhancement(layer.dataProvider().dataType(band))
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
        ce.setMinimumValue(0.0)
        ce.setMaximumValue(vmax)
        setter(ce)
    layer.setRenderer(r)


def _style_ndvi(layer: QgsRasterLayer, vmin: float = -0.2, vmax: float = 0.9) -> None:
    ramp = QgsStyle.defaultStyle().colorRamp("RdYlGn")
    fn = QgsColorRampShader(vmin, vmax, ramp)
    fn.classifyColorRamp(11, -1, layer.extent(), None)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(fn)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))


def forecast_layers(frames: Iterable[tuple[_dt.date, Path]], *, ndvi: bool = False, name: str = "forecast",
                    step_days: int = FRAME_STEP_DAYS) -> list[QgsRasterLayer]:
    """One styled raster layer per ``(date, path)`` with a fixed temporal range; invalid files raise."""
    layers = []
    for date, path in frames:
        if isinstance(date, str):
            date = _dt.date.fromisoformat(date)
        layer = QgsRasterLayer(str(path), f"{name} {date.isoformat()}", "gdal")
        if not layer.isValid():
            raise ValueError(f"cannot open forecast frame {str(path)!r} as a raster layer")
        tp = layer.temporalProperties()
        tp.setMode(Qgis.RasterTemporalMode.FixedTemporalRange)
        tp.setFixedTemporalRange(frame_range(date, step_days))
        tp.setIsActive(True)
        (_style_ndvi if ndvi else _style_reflectance)(layer)
        layers.append(layer)
    return layers


def add_forecast_to_project(frames: Sequence, *, project: QgsProject | None = None, name: str = "forecast",
                            with_ndvi: bool = True, step_days: int = FRAME_STEP_DAYS) -> list[QgsRasterLayer]:
    """Add reflectance (and NDVI, from each frame's ``.ndvi_path``) layers in a group and set the
    project's temporal range and step so the Temporal Controller can play the forecast."""
    project = project or QgsProject.instance()
    frames = list(frames)
    root = project.layerTreeRoot()
    group: QgsLayerTreeGroup = root.insertGroup(0, f"{name} ({len(frames)} frames)")
    out = []
    sets = [(forecast_layers(frames, name=name, step_days=step_days), False)]
    ndvi_frames = [(f[0], getattr(f, "ndvi_path", None)) for f in frames]
    if with_ndvi and all(p for _, p in ndvi_frames):
        sets.append((forecast_layers(ndvi_frames, ndvi=True, name=f"{name} NDVI", step_days=step_days), True))
    for layers, is_ndvi in sets:
        sub = group.addGroup("NDVI" if is_ndvi else "reflectance (B04/B03/B02)")
        for layer in layers:
            project.addMapLayer(layer, False)
            sub.addLayer(layer)
            out.append(layer)
    if frames:
        first = frame_range(_as_date(frames[0][0]), step_days)
        last = frame_range(_as_date(frames[-1][0]), step_days)
        ts = project.timeSettings()
        ts.setTemporalRange(QgsDateTimeRange(first.begin(), last.end()))
        if hasattr(ts, "setTimeStep"):
            ts.setTimeStep(float(step_days))
            ts.setTimeStepUnit(compat.TEMPORAL_DAYS)
    return out


def _as_date(d) -> _dt.date:
    return _dt.date.fromisoformat(d) if isinstance(d, str) else d
