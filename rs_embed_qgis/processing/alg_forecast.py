"""Processing algorithm "Forecast vegetation reflectance": a thin face over the forecast engine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .. import compat
from ..i18n import tr


class ForecastReflectanceAlgorithm(QgsProcessingAlgorithm):
    MINICUBE = "MINICUBE"
    S2_STACK = "S2_STACK"
    LANDCOVER = "LANDCOVER"
    WEATHER = "WEATHER"
    CHECKPOINT = "CHECKPOINT"
    START_FRAME = "START_FRAME"
    WRITE_NDVI = "WRITE_NDVI"
    ADD_TO_PROJECT = "ADD_TO_PROJECT"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"

    def __init__(self) -> None:
        super().__init__()
        self._frames: list[Any] = []
        self._name = "forecast"

    def name(self) -> str:
        return "forecast_reflectance"

    def displayName(self) -> str:
        return tr("Forecast vegetation reflectance")

    def group(self) -> str:
        return tr("Forecasting")

    def groupId(self) -> str:
        return "forecasting"

    def createInstance(self):
        return ForecastReflectanceAlgorithm()

    def icon(self):
        from qgis.PyQt.QtGui import QIcon

        from . import common

        return QIcon(common.icon_path())

    def shortHelpString(self) -> str:
        return tr(
            "Forecasts Sentinel-2 reflectance (B02, B03, B04, B8A) for the 100 days after the input "
            "with a ConvLSTM + Fourier-harmonics model trained on GreenEarthNet, writing 20 dated "
            "GeoTIFFs (one every 5 days) and their NDVI (spyndex), added as layers the Temporal "
            "Controller can play.\n\n"
            "Input either a GreenEarthNet minicube (.nc: s2_B02..s2_B8A, s2_dlmask/s2_SCL, eobs_*, "
            "esawc_lc), or a stack of at least 10 Sentinel-2 rasters on one grid, one per date about 5 "
            "days apart (bands B02, B03, B04, B8A and optionally SCL; dates from a 'date' tag or a "
            "YYYY-MM-DD file name), with an optional ESA WorldCover raster and an optional daily E-OBS "
            "weather CSV (date, tg, tn, tx, rr, pp, hu, qq). Without weather, the anomalies are set to "
            "zero (climatology).\n\n"
            "Checkpoint: a .safetensors written by scripts/train_forecast.py. Left empty, the model "
            "runs with RANDOM weights: outputs are tagged RANDOM_WEIGHTS=true and are not a forecast.\n\n"
            "Example (qgis_process):\n"
            "qgis_process run rs_embed:forecast_reflectance -- "
            "MINICUBE=/data/greenearthnet/val_chopped/32UNU/cube.nc "
            "CHECKPOINT=/models/model_best.safetensors OUTPUT_FOLDER=/tmp/forecast")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.MINICUBE, tr("GreenEarthNet minicube (.nc)"), extension="nc", optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.S2_STACK, tr("or: Sentinel-2 rasters, one per date (>= 10)"), compat.SOURCE_RASTER,
            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.LANDCOVER, tr("ESA WorldCover land cover (for a raster stack)"), optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.WEATHER, tr("Daily E-OBS weather CSV (for a raster stack)"), extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.CHECKPOINT, tr("Model checkpoint (.safetensors; empty = random weights)"),
            extension="safetensors",
            optional=True))
        start = QgsProcessingParameterNumber(
            self.START_FRAME, tr("First input frame of a minicube (0 = day 4, the GreenEarthNet setup)"),
            compat.NUMBER_INTEGER, 0, optional=True, minValue=0)
        start.setFlags(start.flags() | compat.PARAMETER_ADVANCED)
        self.addParameter(start)
        self.addParameter(QgsProcessingParameterBoolean(self.WRITE_NDVI, tr("Also write NDVI frames"), True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.ADD_TO_PROJECT, tr("Add the frames to the project (temporal layers)"), True))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, tr("Output folder")))
        self.addOutput(QgsProcessingOutputMultipleLayers("FRAMES", tr("Forecast reflectance frames")))
        self.addOutput(QgsProcessingOutputMultipleLayers("NDVI", tr("Forecast NDVI frames")))
        self.addOutput(QgsProcessingOutputString("DATES", tr("Frame dates (ISO, ';'-separated)")))
        self.addOutput(QgsProcessingOutputFile("MANIFEST", tr("Forecast manifest (JSON)")))
        self.addOutput(QgsProcessingOutputBoolean("RANDOM_WEIGHTS", tr("Model ran with random weights")))

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 - main thread
        # project layers belong to the main thread: take their file paths here, not in the worker
        self._stack = [lyr.source() for lyr in self.parameterAsLayerList(parameters, self.S2_STACK, context)]
        lc = self.parameterAsRasterLayer(parameters, self.LANDCOVER, context)
        self._landcover = lc.source() if lc else None
        return True

    def processAlgorithm(self, parameters: dict[str, Any], context, feedback) -> dict[str, Any]:
        from ..engine.errors import Cancelled, RsEmbedError
        from ..engine.forecast.predict import forecast_to_geotiffs, read_s2_stack

        minicube = self.parameterAsFile(parameters, self.MINICUBE, context)
        stack = self._stack
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context) or None
        out_dir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        if bool(minicube) == bool(stack):
            raise QgsProcessingException(tr("give either a minicube (.nc) or a stack of Sentinel-2 rasters, "
                                            "got minicube={minicube!r} and {n} rasters").format(
                                                minicube=minicube, n=len(stack)))
        if not checkpoint:
            feedback.reportError(tr("No checkpoint: running with RANDOM weights. The frames are tagged "
                                    "RANDOM_WEIGHTS=true and are not a forecast."), fatalError=False)
        try:
            if stack:
                weather = self.parameterAsFile(parameters, self.WEATHER, context) or None
                source: Any = read_s2_stack(stack, landcover=self._landcover, weather_csv=weather)
            else:
                source = minicube
            frames = forecast_to_geotiffs(
                source, checkpoint, out_dir,
                write_ndvi=self.parameterAsBool(parameters, self.WRITE_NDVI, context),
                start_frame=0 if stack else self.parameterAsInt(parameters, self.START_FRAME, context),
                progress=lambda f, msg: (feedback.setProgress(100.0 * f), feedback.setProgressText(msg)),
                is_cancelled=feedback.isCanceled)
        except Cancelled as exc:
            raise QgsProcessingException(str(exc)) from exc
        except RsEmbedError as exc:
            raise QgsProcessingException(f"{type(exc).__name__}: {exc}") from exc
        self._frames = frames if self.parameterAsBool(parameters, self.ADD_TO_PROJECT, context) else []
        self._name = Path(minicube).stem if minicube else "forecast"
        for f in frames:
            feedback.pushInfo(f"{f.date.isoformat()}: {f.path}")
        return {self.OUTPUT_FOLDER: out_dir, "FRAMES": [str(f.path) for f in frames],
                "NDVI": [str(f.ndvi_path) for f in frames if f.ndvi_path],
                "DATES": ";".join(f.date.isoformat() for f in frames),
                "MANIFEST": str(frames.manifest or ""), "RANDOM_WEIGHTS": bool(frames.random_weights)}

    def postProcessAlgorithm(self, context, feedback) -> dict[str, Any]:
        project = context.project()
        if self._frames and project is not None:
            from ..layers_forecast import add_forecast_to_project

            add_forecast_to_project(self._frames, project=project, name=self._name)
            feedback.pushInfo(tr("Forecast layers added; open View > Panels > Temporal Controller "
                                 "and press play."))
        return {}
