"""Processing algorithm: embed an extent into a georeferenced grid GeoTIFF."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..engine import OutputSpec
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.pipeline import EmbedRequest, run_embed
from ..jobs import save_grid
from . import common


class EmbedExtentAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    EXTENT = "EXTENT"
    GRID_SCALE = "GRID_SCALE"
    OUTPUT = "OUTPUT"
    QUICKLOOK = "QUICKLOOK"
    METADATA = "METADATA"

    def name(self):
        return "embed_extent"

    def displayName(self):
        return "Embed extent (grid raster)"

    def shortHelpString(self):
        return (
            "Computes a foundation-model embedding grid over an extent and writes it as a "
            "float32 GeoTIFF (one band per embedding dimension) that lands exactly on the region, "
            "in the region's UTM zone. The time window is half-open: [start, end); YEAR, when set, "
            "takes the whole calendar year instead. The advanced sensor parameters (input pixel "
            "size, bands, cloud cover, compositing, collection) override the model's defaults.<br><br>"
            "<b>Example</b> (bundled sample, qgis_process):<br>"
            "<code>qgis_process run rs_embed:embed_extent -- "
            "EXTENT=\"9.005,9.035,47.83,47.85 [EPSG:4326]\" MODEL=mosaiks "
            "START=2022-06-01 END=2022-09-01 GRID_SCALE=100 OUTPUT=/tmp/emb.tif</code><br><br>"
            "Models without weights (MOSAIKS) run at once; others need their checkpoint "
            "(plugin settings, MODEL_OPTIONS {\"weights\": path}, or the model's environment variable).")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Region (extent)"))
        common.add_model_params(self)
        common.add_time_params(self)
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, "Grid cell size (m) of the output", QgsProcessingParameterNumber.Double,
            defaultValue=100.0, minValue=0.1))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, "Embedding grid"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.QUICKLOOK, "PCA quick-look (PNG)", fileFilter="PNG files (*.png)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.METADATA, "Run metadata (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        model = self.parameterAsEnumString(parameters, "MODEL", context)
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        bbox = common.rect_to_bbox(rect, crs)
        backend = self.parameterAsEnumString(parameters, "BACKEND", context)
        folder = self.parameterAsFile(parameters, "DATA_FOLDER", context) or None
        device = self.parameterAsEnumString(parameters, "DEVICE", context)
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        quicklook = self.parameterAsFileOutput(parameters, self.QUICKLOOK, context) or None
        try:
            from ..engine import get_embedder

            temporal = common.temporal_from(self, parameters, context)
            output = OutputSpec.grid(scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context))
            mopts = common.model_options_for(
                    model, self.parameterAsString(parameters, "MODEL_OPTIONS", context))
            sensor = common.sensor_from(self, parameters, context,
                                        get_embedder(model, device=device, model_options=mopts or None)
                                        .default_sensor())
            req = EmbedRequest(
                model=model, spatials=[bbox], temporal=temporal, output=output, sensor=sensor,
                backend=backend, device=device,
                input_prep=self.parameterAsEnumString(parameters, "INPUT_PREP", context),
                model_options=mopts, provider_options=common.provider_options(backend, folder))
            feedback.pushInfo(f"Embedding {bbox} with {model} ({backend}), window "
                              f"{common.describe_temporal(temporal)}"
                              + (f", bands {list(sensor.bands)} at {sensor.scale_m} m" if sensor else ""))
            emb = run_embed(req, progress=lambda f, m: feedback.setProgress(80 * f),
                            is_cancelled=feedback.isCanceled)[0]
            if feedback.isCanceled():
                raise Cancelled("cancelled by the user")
            res = save_grid(emb, out_path, quicklook)
        except Cancelled:
            return {}
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        feedback.setProgress(100)
        common.warn_random_weights(feedback, emb.meta)
        feedback.pushInfo(f"Grid {emb.array.shape} in {emb.meta.get('crs')} written to {res['geotiff']}")
        out = {self.OUTPUT: res["geotiff"], self.METADATA: common.run_summary(emb.meta)}
        if quicklook:
            out[self.QUICKLOOK] = res["quicklook"]
        return out
