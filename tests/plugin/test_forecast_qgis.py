"""The QGIS face of the forecaster: the Processing algorithm and temporal layers (pytest-qgis)."""
from __future__ import annotations

import datetime as dt

import pytest
import torch

pytest.importorskip("qgis.core")

from qgis.core import (  # noqa: E402
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayerTemporalProperties,
)
from qgis.PyQt.QtCore import QDateTime, Qt, QTime  # noqa: E402

from rs_embed_qgis.engine.forecast.checkpoint import save_checkpoint  # noqa: E402
from rs_embed_qgis.engine.forecast.data import compute_norm_stats, synthetic_minicube  # noqa: E402
from rs_embed_qgis.engine.forecast.model import ForecastConfig, ReflectanceForecaster  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_project(qgis_app):
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().layerTreeRoot().removeAllChildren()


@pytest.fixture(scope="module")
def cube_and_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("qgis_forecast")
    cube = synthetic_minicube(d / "cube_q.nc", size=16, seed=7)
    torch.manual_seed(0)
    ck = save_checkpoint(d / "model_at_1", ReflectanceForecaster(ForecastConfig.small(height=16, width=16)),
                         norm=compute_norm_stats([cube]), epoch=1)
    return cube, ck


class CancelAfter(QgsProcessingFeedback):
    def __init__(self, n):
        super().__init__()
        self.calls, self.n = 0, n

    def isCanceled(self):  # noqa: N802 - Qt naming
        self.calls += 1
        return self.calls > self.n


def _run(params, feedback=None):
    from rs_embed_qgis.processing.alg_forecast import ForecastReflectanceAlgorithm

    alg = ForecastReflectanceAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return alg.run(params, context, feedback or QgsProcessingFeedback())


def test_algorithm_metadata():
    from rs_embed_qgis.processing.alg_forecast import ForecastReflectanceAlgorithm

    alg = ForecastReflectanceAlgorithm()
    alg.initAlgorithm()
    assert alg.name() == "forecast_reflectance"
    assert alg.displayName() == "Forecast vegetation reflectance"
    assert alg.group() == "Forecasting"
    assert "qgis_process run" in alg.shortHelpString()
    names = [p.name() for p in alg.parameterDefinitions()]
    assert {"MINICUBE", "S2_STACK", "LANDCOVER", "WEATHER", "CHECKPOINT", "OUTPUT_FOLDER"} <= set(names)
    assert isinstance(alg.createInstance(), ForecastReflectanceAlgorithm)


def test_algorithm_writes_frames_and_adds_temporal_layers(cube_and_ckpt, tmp_path):
    cube, ck = cube_and_ckpt
    results, ok = _run({"MINICUBE": str(cube), "CHECKPOINT": str(ck), "OUTPUT_FOLDER": str(tmp_path)})
    assert ok, results
    assert len(results["FRAMES"]) == 20 and len(results["NDVI"]) == 20
    dates = results["DATES"].split(";")
    assert len(dates) == 20 and results["RANDOM_WEIGHTS"] is False
    assert (dt.date.fromisoformat(dates[1]) - dt.date.fromisoformat(dates[0])).days == 5
    layers = list(QgsProject.instance().mapLayers().values())
    assert len(layers) == 40
    first = [lyr for lyr in layers if lyr.name() == f"cube_q {dates[0]}"][0]
    tp = first.temporalProperties()
    assert tp.isActive() and tp.mode() == QgsRasterLayerTemporalProperties.ModeFixedTemporalRange
    d0 = dt.date.fromisoformat(dates[0])
    assert tp.fixedTemporalRange().begin() == QDateTime(d0, QTime(0, 0), Qt.UTC)
    assert tp.fixedTemporalRange().end() == QDateTime(d0 + dt.timedelta(days=5), QTime(0, 0), Qt.UTC)
    # exactly one reflectance frame is visible at any instant of the forecast
    t = QDateTime(d0 + dt.timedelta(days=7), QTime(12, 0), Qt.UTC)
    from qgis.core import QgsDateTimeRange

    now = QgsDateTimeRange(t, t)
    visible = [lyr for lyr in layers if "NDVI" not in lyr.name() and
               lyr.temporalProperties().isVisibleInTemporalRange(now)]
    assert [lyr.name() for lyr in visible] == [f"cube_q {dates[1]}"]
    span = QgsProject.instance().timeSettings().temporalRange()
    assert span.begin().date() == d0


def test_algorithm_without_checkpoint_warns_random(cube_and_ckpt, tmp_path):
    cube, _ = cube_and_ckpt
    fb = QgsProcessingFeedback()
    results, ok = _run({"MINICUBE": str(cube), "OUTPUT_FOLDER": str(tmp_path), "ADD_TO_PROJECT": False,
                        "WRITE_NDVI": False}, fb)
    assert ok and results["RANDOM_WEIGHTS"] is True and results["NDVI"] == []
    assert QgsProject.instance().mapLayers() == {}


def test_algorithm_input_errors_and_cancel(cube_and_ckpt, tmp_path):
    cube, ck = cube_and_ckpt
    fb = QgsProcessingFeedback()
    results, ok = _run({"CHECKPOINT": str(ck), "OUTPUT_FOLDER": str(tmp_path / "a")}, fb)
    assert not ok and "either a minicube" in fb.textLog()
    fb = QgsProcessingFeedback()
    results, ok = _run({"MINICUBE": str(tmp_path / "missing.nc"), "CHECKPOINT": str(ck),
                        "OUTPUT_FOLDER": str(tmp_path / "b")}, fb)
    assert not ok and "ProviderError" in fb.textLog() and "missing.nc" in fb.textLog()
    out = tmp_path / "cancel"
    fb = CancelAfter(3)
    results, ok = _run({"MINICUBE": str(cube), "CHECKPOINT": str(ck), "OUTPUT_FOLDER": str(out)}, fb)
    assert not ok and "cancelled" in fb.textLog()
    assert not out.exists() or list(out.iterdir()) == []


def test_forecast_layers_helper(cube_and_ckpt, tmp_path):
    from rs_embed_qgis.engine.forecast.predict import forecast_to_geotiffs
    from rs_embed_qgis.layers_forecast import add_forecast_to_project, forecast_layers

    cube, ck = cube_and_ckpt
    frames = forecast_to_geotiffs(cube, ck, tmp_path)
    layers = forecast_layers(frames[:3], name="f")
    assert [lyr.name() for lyr in layers] == [f"f {d.isoformat()}" for d, _ in frames[:3]]
    assert all(lyr.isValid() and lyr.renderer().type() == "multibandcolor" for lyr in layers)
    ndvi = forecast_layers([(f.date, f.ndvi_path) for f in frames[:2]],
                           ndvi=True)
    assert ndvi[0].renderer().type() == "singlebandpseudocolor"
    added = add_forecast_to_project(frames, name="demo")
    assert len(added) == 40 and QgsProject.instance().layerTreeRoot().findGroup("demo (20 frames)")
    with pytest.raises(ValueError, match="nope.tif"):
        forecast_layers([(dt.date(2020, 1, 1), tmp_path / "nope.tif")])
