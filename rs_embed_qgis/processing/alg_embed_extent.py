"""Processing algorithm: embed an extent into a georeferenced grid GeoTIFF (and its PCA RGB).

The dock's Embeddings tab runs this algorithm for a rectangle or the map extent, so the
toolbox, the modeller, ``qgis_process`` and the dock write the same files. Outputs:

- ``OUTPUT``: the embedding grid, float32, one band per dimension, the run's metadata in its tags;
- ``PCA`` (optional; the toolbox dialog makes it by default): its first three principal components
  as a 3-band GeoTIFF on the same grid, for looking at (styled RGB, 2-98 % stretch, when loaded);
- ``QUICKLOOK`` (optional): the same PCA as a PNG picture, for reports;
- ``METADATA``: the run summary as JSON.

Loaded outputs (the toolbox's "open output file", the dock) are styled and grouped by the layer
post-processors of ``processing/outputs.py``.
"""
from __future__ import annotations

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .. import compat
from ..engine import OutputSpec
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.io import save_grid
from ..engine.pipeline import run_embed
from ..i18n import tr
from . import common


class EmbedExtentAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    EXTENT = "EXTENT"
    GRID_SCALE = "GRID_SCALE"
    OUTPUT = "OUTPUT"
    PCA = "PCA"
    QUICKLOOK = "QUICKLOOK"
    METADATA = "METADATA"

    def __init__(self):
        super().__init__()
        self._written: dict = {}

    def name(self):
        return "embed_extent"

    def displayName(self):
        return tr("Embed extent (grid raster)")

    def shortHelpString(self):
        return tr(
            "Computes a foundation-model embedding grid over an extent and writes it as a "
            "float32 GeoTIFF (one band per embedding dimension) that lands exactly on the region, "
            "in the region's UTM zone, with its first three principal components as a 3-band PCA "
            "GeoTIFF on the same grid (shown as RGB when loaded). The time window is half-open: "
            "[start, end); YEAR, when set, takes the whole calendar year instead. The advanced "
            "sensor parameters (input pixel size, bands, cloud cover, compositing, collection) "
            "override the model's defaults.<br><br>"
            "<b>Example</b> (bundled sample, qgis_process):<br>"
            "<code>qgis_process run rs_embed:embed_extent -- "
            "EXTENT=\"9.005,9.035,47.83,47.85 [EPSG:4326]\" MODEL=mosaiks "
            "START=2022-06-01 END=2022-09-01 GRID_SCALE=100 OUTPUT=/tmp/emb.tif PCA=/tmp/emb_pca.tif</code>"
            "<br><br>Models without weights (MOSAIKS) run at once; others need their checkpoint "
            "(plugin settings, MODEL_OPTIONS {\"weights\": path}, or the model's environment variable).")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Region (extent)")))
        common.add_model_params(self)
        common.add_time_params(self)
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, tr("Grid cell size (m) of the output"), compat.NUMBER_DOUBLE,
            defaultValue=100.0, minValue=0.1))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Embedding grid")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.PCA, tr("PCA RGB (first three principal components)"), optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.QUICKLOOK, tr("PCA quick-look (PNG)"), fileFilter="PNG files (*.png)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.METADATA, tr("Run metadata (JSON)")))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API, main thread
        ok, why = common.check_time_and_sensor(self, parameters, context)
        return (ok, why) if not ok else super().checkParameterValues(parameters, context)

    def request(self, parameters, context):
        """The engine request these parameters run (the dock shows it before running)."""
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        bbox = common.rect_to_bbox(rect, self.parameterAsExtentCrs(parameters, self.EXTENT, context))
        output = OutputSpec.grid(scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context))
        return common.embed_request(self, parameters, context, [bbox], output)

    def processAlgorithm(self, parameters, context, feedback):
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        pca_path = self.parameterAsOutputLayer(parameters, self.PCA, context) or None
        quicklook = self.parameterAsFileOutput(parameters, self.QUICKLOOK, context) or None
        try:
            req = self.request(parameters, context)
            sensor = req.sensor
            feedback.pushInfo(tr("Embedding {roi} with {model} ({backend}), window {window}").format(
                roi=req.spatials[0], model=req.model, backend=req.backend,
                window=common.describe_temporal(req.temporal))
                + (f", bands {list(sensor.bands)} at {sensor.scale_m} m" if sensor else ""))
            emb = run_embed(req, progress=lambda f, m: feedback.setProgress(80 * f),
                            is_cancelled=feedback.isCanceled, prompt_cancel=True)[0]
            if feedback.isCanceled():
                raise Cancelled("cancelled by the user")
            res = save_grid(emb, out_path, pca=pca_path, quicklook=quicklook)
        except Cancelled:
            feedback.pushInfo(tr("cancelled; nothing was written"))
            return {}
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        if common.drop_if_cancelled(feedback, [res.get("geotiff"), res.get("pca"), res.get("quicklook")]):
            return {}
        feedback.setProgress(100)
        common.warn_random_weights(feedback, emb.meta)
        common.warn_coverage(feedback, emb.meta)
        feedback.pushInfo(tr("Grid {shape} in {crs} written to {path}").format(
            shape=emb.array.shape, crs=emb.meta.get("crs"), path=res["geotiff"]))
        self._written = dict(res, meta=emb.meta)
        out = {self.OUTPUT: res["geotiff"], self.METADATA: common.run_summary(emb.meta)}
        if pca_path:
            out[self.PCA] = res["pca"]
        if quicklook:
            out[self.QUICKLOOK] = res["quicklook"]
        return out

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API, main thread
        if self._written:
            from . import outputs

            outputs.style_grid(context, self._written)
        return {}
