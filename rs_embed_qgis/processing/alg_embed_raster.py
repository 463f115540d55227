"""Processing algorithm: embed the pixels of a raster layer the user already has.

The layer's bands are mapped onto the model's bands (explicit ``B4=3,B3=2,B2=1``, else by
band descriptions, else in order when the counts match), optionally cropped to an extent,
scaled to the model's units, and embedded with ``get_embedding_from_data``; the grid is
georeferenced with the layer's CRS and transform. A layer in degrees is warped to its UTM
zone first, so grid cells have sizes in metres.
"""
from __future__ import annotations

import datetime as _dt

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .. import compat
from .. import settings as S
from ..engine import OutputSpec, TemporalSpec
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.io import save_grid
from ..engine.user_raster import parse_band_map, read_raster_for_model, resolve_band_map
from ..i18n import tr
from . import common


class EmbedRasterAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    INPUT = "INPUT"
    BAND_MAP = "BAND_MAP"
    SCALE_FACTOR = "SCALE_FACTOR"
    EXTENT = "EXTENT"
    DATE = "DATE"
    GRID_SCALE = "GRID_SCALE"
    OUTPUT = "OUTPUT"
    QUICKLOOK = "QUICKLOOK"

    def __init__(self):
        super().__init__()
        self._written: dict = {}

    def name(self):
        return "embed_raster"

    def displayName(self):
        return tr("Embed raster layer (your own pixels)")

    def shortHelpString(self):
        return tr(
            "Embeds the pixels of a raster layer you already have (no download) into a grid "
            "GeoTIFF on the layer's CRS.<br>"
            "<b>Band mapping</b>: MODEL_BAND=LAYER_BAND pairs, e.g. <code>B4=3,B3=2,B2=1</code> (1-based "
            "layer bands). Empty: matched by the layer's band descriptions (B04 = B4), else the "
            "layer's bands in order when it has exactly the model's count.<br>"
            "<b>Units</b>: models expect Sentinel-2 L2A reflectance x 10000; a layer in reflectance "
            "0..1 needs SCALE_FACTOR=10000. No-data pixels are filled with 0.<br>"
            "A layer in degrees is warped to its UTM zone so GRID_SCALE is in metres.<br><br>"
            "<b>Example</b> (a bundled sample scene; paths relative to the plugin folder):<br>"
            "<code>qgis_process run rs_embed:embed_raster -- "
            "INPUT=resources/sample_data/S2_L2A_20220715_sample.tif MODEL=mosaiks "
            "BAND_MAP=B4=3,B3=2,B2=1 GRID_SCALE=100 OUTPUT=/tmp/raster_emb.tif</code>")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Raster layer")))
        common.add_model_params(self, data_folder=False)
        self.addParameter(QgsProcessingParameterString(
            self.BAND_MAP, tr("Band mapping MODEL_BAND=LAYER_BAND (e.g. B4=3,B3=2,B2=1; empty: automatic)"),
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.SCALE_FACTOR, tr("Multiply pixel values by (to reach reflectance x 10000)"),
            compat.NUMBER_DOUBLE, defaultValue=1.0))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Only this extent (empty: whole layer)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.DATE, tr("Acquisition date YYYY-MM-DD (for models that use time; empty: none)"),
            defaultValue="", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, tr("Grid cell size (m, or layer units) of the output"),
            compat.NUMBER_DOUBLE, defaultValue=100.0, minValue=0.0001))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Embedding grid")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.QUICKLOOK, tr("PCA quick-look (PNG)"), fileFilter="PNG files (*.png)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputString("METADATA", tr("Run metadata (JSON)")))

    def processAlgorithm(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"layer {layer.name()!r} comes from the {layer.providerType()!r} provider; save it as "
                "a GeoTIFF (Export > Save As) and embed that file")
        path = layer.source().split("|")[0]
        model = self.parameterAsEnumString(parameters, "MODEL", context)
        device = S.device_for(model, self.parameterAsEnumString(parameters, "DEVICE", context))
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        quicklook = self.parameterAsFileOutput(parameters, self.QUICKLOOK, context) or None
        try:
            from ..engine import get_embedder, get_embedding_from_data
            from ..engine.geo import utm_epsg
            from ..engine.geoio import raster_info
            from ..engine.progress import Feedback, cancel_scope

            mopts = common.model_options_from(self, parameters, context, model)
            embedder = get_embedder(model, device=device, model_options=mopts or None)
            sensor = embedder.default_sensor()
            model_bands = list(sensor.bands) if sensor is not None else []
            descriptions = list(raster_info(path).descriptions)
            band_map = resolve_band_map(
                model_bands, descriptions,
                parse_band_map(self.parameterAsString(parameters, self.BAND_MAP, context)))
            feedback.pushInfo("band mapping (model band = layer band): "
                              + ", ".join(f"{k}={v}" for k, v in band_map.items()))
            dst_crs = None
            lcrs = layer.crs()
            if lcrs.isGeographic():
                lon, lat = common.rect_to_bbox(layer.extent(), lcrs).center
                dst_crs = f"EPSG:{utm_epsg(lon, lat)}"
                feedback.pushInfo(f"the layer is in degrees; warping it to {dst_crs} (bilinear)")
            bounds = bounds_crs = None
            if parameters.get(self.EXTENT) not in (None, ""):
                ecrs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
                ecrs = ecrs if ecrs.isValid() else lcrs
                rect = self.parameterAsExtent(parameters, self.EXTENT, context, ecrs)
                if not rect.isEmpty():
                    bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
                    bounds_crs = ecrs.authid() or ecrs.toWkt()
            feedback.setProgress(5)
            data = read_raster_for_model(path, band_map,
                                         scale=self.parameterAsDouble(parameters, self.SCALE_FACTOR, context),
                                         bounds=bounds, bounds_crs=bounds_crs, dst_crs=dst_crs)
            if data["data"].shape[-1] < 1 or data["data"].shape[-2] < 1:
                raise QgsProcessingException(tr("the extent does not overlap the layer"))
            if data["nodata_fraction"] > 0:
                feedback.reportError(f"{100 * data['nodata_fraction']:.1f}% of the pixels are no-data; "
                                     "they were filled with 0", fatalError=False)
            feedback.pushInfo(f"read {data['data'].shape} (C, H, W) from {path} in {data['crs']}")
            if feedback.isCanceled():
                return {}
            date = self.parameterAsString(parameters, self.DATE, context).strip()
            temporal = None
            if date:
                d = _dt.date.fromisoformat(date)
                temporal = TemporalSpec.range(d.isoformat(), (d + _dt.timedelta(days=1)).isoformat())
            feedback.setProgress(20)
            # a cancel stops the model between forward batches of one tile (within a second)
            with cancel_scope(Feedback(is_cancelled=feedback.isCanceled, prompt=True)):
                emb = get_embedding_from_data(
                    model, data["data"], bands=data["bands"], crs=data["crs"], transform=data["transform"],
                    dates=[date] if date else None, temporal=temporal,
                    output=OutputSpec.grid(scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context)),
                    device=device, input_prep=self.parameterAsEnumString(parameters, "INPUT_PREP", context),
                    model_options=mopts or None)
            if feedback.isCanceled():
                return {}
            feedback.setProgress(90)
            res = save_grid(emb, out_path, quicklook=quicklook)
        except Cancelled:
            return {}
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        if common.drop_if_cancelled(feedback, [res.get("geotiff"), res.get("quicklook")]):
            return {}
        common.warn_random_weights(feedback, emb.meta)
        feedback.setProgress(100)
        feedback.pushInfo(f"grid {emb.array.shape} in {emb.meta.get('crs')} written to {res['geotiff']}")
        out = {self.OUTPUT: res["geotiff"],
               "METADATA": common.run_summary(emb.meta, source=path, band_map=band_map,
                                              input=emb.meta.get("input"))}
        if quicklook:
            out[self.QUICKLOOK] = res["quicklook"]
        self._written = dict(res, meta=emb.meta)
        return out

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API, main thread
        if self._written:
            from . import outputs

            outputs.style_grid(context, self._written)
        return {}
