"""Processing algorithm: embed an extent into a georeferenced grid GeoTIFF."""
from __future__ import annotations

import datetime as _dt
import json

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtGui import QIcon

from ..engine import OutputSpec, TemporalSpec
from ..engine.errors import RsEmbedError
from ..jobs import EmbedRequest, JobCancelled, run_embed, save_grid
from . import common


class EmbedExtentAlgorithm(QgsProcessingAlgorithm):
    EXTENT = "EXTENT"
    MODEL = "MODEL"
    START = "START"
    END = "END"
    BACKEND = "BACKEND"
    DATA_FOLDER = "DATA_FOLDER"
    SENSOR_SCALE = "SENSOR_SCALE"
    GRID_SCALE = "GRID_SCALE"
    INPUT_PREP = "INPUT_PREP"
    DEVICE = "DEVICE"
    MODEL_OPTIONS = "MODEL_OPTIONS"
    OUTPUT = "OUTPUT"
    QUICKLOOK = "QUICKLOOK"
    METADATA = "METADATA"

    def name(self):
        return "embed_extent"

    def displayName(self):
        return "Embed extent (grid raster)"

    def group(self):
        return "Embeddings"

    def groupId(self):
        return "embeddings"

    def icon(self):
        return QIcon(common.icon_path())

    def shortHelpString(self):
        return (
            "Computes a foundation-model embedding grid over an extent and writes it as a "
            "float32 GeoTIFF (one band per embedding dimension) that lands exactly on the region, "
            "in the region's UTM zone. The time window is half-open: [start, end).<br><br>"
            "<b>Example</b> (bundled sample, qgis_process):<br>"
            "<code>qgis_process run rs_embed:embed_extent -- "
            "EXTENT=\"9.005,9.035,47.83,47.85 [EPSG:4326]\" MODEL=mosaiks "
            "START=2022-06-01 END=2022-09-01 GRID_SCALE=100 OUTPUT=/tmp/emb.tif</code><br><br>"
            "Models without weights (MOSAIKS) run at once; others need their checkpoint "
            "(plugin settings, MODEL_OPTIONS {\"weights\": path}, or the model's environment variable).")

    def createInstance(self):
        return EmbedExtentAlgorithm()

    def initAlgorithm(self, config=None):
        models = common.model_ids()
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Region (extent)"))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODEL, "Model", options=models, defaultValue="mosaiks" if "mosaiks" in models else models[0],
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString(self.START, "Start date (included, YYYY-MM-DD)",
                                                       defaultValue="2022-06-01"))
        self.addParameter(QgsProcessingParameterString(self.END, "End date (excluded, YYYY-MM-DD)",
                                                       defaultValue="2022-09-01"))
        self.addParameter(QgsProcessingParameterEnum(self.BACKEND, "Backend", options=common.BACKENDS,
                                                     defaultValue="local", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterFile(
            self.DATA_FOLDER, "Local data folder or STAC catalog (empty: settings, then bundled sample)",
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, "Grid cell size (m) of the output", QgsProcessingParameterNumber.Double,
            defaultValue=100.0, minValue=1.0))
        adv = [
            QgsProcessingParameterNumber(self.SENSOR_SCALE, "Input pixel size (m)",
                                         QgsProcessingParameterNumber.Double, defaultValue=10.0,
                                         minValue=1.0),
            QgsProcessingParameterEnum(self.INPUT_PREP, "Input preparation", options=common.INPUT_PREPS,
                                       defaultValue="resize", usesStaticStrings=True),
            QgsProcessingParameterEnum(self.DEVICE, "Device", options=common.DEVICES, defaultValue="auto",
                                       usesStaticStrings=True),
            QgsProcessingParameterString(self.MODEL_OPTIONS, "Model options (JSON)", defaultValue="",
                                         optional=True),
        ]
        for p in adv:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Embedding grid"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.QUICKLOOK, "PCA quick-look (PNG)", fileFilter="PNG files (*.png)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.METADATA, "Run metadata (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        model = self.parameterAsEnumString(parameters, self.MODEL, context)
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        bbox = common.rect_to_bbox(rect, crs)
        start = self.parameterAsString(parameters, self.START, context).strip()
        end = self.parameterAsString(parameters, self.END, context).strip()
        backend = self.parameterAsEnumString(parameters, self.BACKEND, context)
        folder = self.parameterAsFile(parameters, self.DATA_FOLDER, context) or None
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        quicklook = self.parameterAsFileOutput(parameters, self.QUICKLOOK, context) or None
        try:
            from ..engine import get_embedder

            temporal = TemporalSpec.range(start, end)
            output = OutputSpec.grid(scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context))
            mopts = common.model_options_for(model, self.parameterAsString(parameters, self.MODEL_OPTIONS, context))
            device = self.parameterAsEnumString(parameters, self.DEVICE, context)
            sensor = get_embedder(model, device=device, model_options=mopts or None).default_sensor()
            if sensor is not None:
                import dataclasses

                sensor = dataclasses.replace(
                    sensor, scale_m=self.parameterAsDouble(parameters, self.SENSOR_SCALE, context))
            req = EmbedRequest(
                model=model, spatials=[bbox], temporal=temporal, output=output, sensor=sensor,
                backend=backend, device=device,
                input_prep=self.parameterAsEnumString(parameters, self.INPUT_PREP, context),
                model_options=mopts, provider_options=common.provider_options(backend, folder))
            feedback.pushInfo(f"Embedding {bbox} with {model} ({backend}), window [{start}, {end})")
            emb = run_embed(req, progress=lambda f, m: feedback.setProgress(80 * f),
                            is_cancelled=feedback.isCanceled)[0]
            if feedback.isCanceled():
                raise JobCancelled("cancelled by the user")
            res = save_grid(emb, out_path, quicklook)
        except JobCancelled:
            return {}
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        feedback.setProgress(100)
        meta = emb.meta
        if meta.get("random_weights"):
            feedback.reportError("WARNING: this model ran with RANDOM weights; the output is not a "
                                 "pretrained embedding.", fatalError=False)
        feedback.pushInfo(f"Grid {emb.array.shape} in {meta.get('crs')} written to {res['geotiff']}")
        summary = {k: meta.get(k) for k in ("model", "crs", "transform", "grid_hw", "random_weights",
                                            "weights", "temporal", "sensor", "output", "timings")}
        summary["written"] = _dt.datetime.now().isoformat(timespec="seconds")
        out = {self.OUTPUT: res["geotiff"], self.METADATA: json.dumps(summary, default=str)}
        if quicklook:
            out[self.QUICKLOOK] = res["quicklook"]
        return out

