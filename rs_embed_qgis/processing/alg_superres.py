"""Processing algorithm: super-resolve a Sentinel-2 raster layer 10x (10 m -> 1 m).

Thin: it reads the parameters and calls
:func:`rs_embed_qgis.engine.superres.raster.super_resolve_raster`, which tiles,
blends, writes the GeoTIFF atomically and records the model and weights status.
"""
from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtGui import QIcon

from .. import compat
from .. import settings as S
from ..engine.errors import RsEmbedError
from ..engine.superres.raster import OVERLAP as DEFAULT_OVERLAP
from ..engine.superres.raster import TILE as DEFAULT_TILE
from ..i18n import tr, tr_noop
from . import common

#: (engine method, random weights?, label shown in the dialog)
METHODS = [
    ("s2x10", False, tr_noop("S2x10NetS learned model (needs your weights)")),
    ("bicubic", False, tr_noop("Bicubic interpolation (baseline, no model)")),
    ("lanczos", False, tr_noop("Lanczos-3 interpolation (baseline, no model)")),
    ("s2x10", True, tr_noop("S2x10NetS with RANDOM weights (tests the plumbing only)")),
]
S2_BANDS = "B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12"


class SuperResolveRasterAlgorithm(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    METHOD = "METHOD"
    BANDS = "BANDS"
    WEIGHTS = "WEIGHTS"
    TILE = "TILE"
    OVERLAP = "OVERLAP"
    DEVICE = "DEVICE"
    OUTPUT = "OUTPUT"
    METADATA = "METADATA"

    def __init__(self):
        super().__init__()
        self._written: dict = {}

    def name(self):
        return "superresolve_raster"

    def displayName(self):
        return tr("Super-resolve raster layer")

    def group(self):
        return tr("Super-resolution")

    def groupId(self):
        return "superresolution"

    def icon(self):
        return QIcon(common.icon_path())

    def createInstance(self):
        return SuperResolveRasterAlgorithm()

    def shortHelpString(self):
        return tr(
            "Super-resolves a Sentinel-2 raster 10x (10 m pixels -> 1 m) with the S2x10NetS network, "
            "or with a bicubic/Lanczos interpolation baseline. Rasters of any size are processed in "
            "overlapping tiles blended with a cosine ramp and written block by block, so memory stays "
            "flat. The output has the same CRS and origin, one tenth of the pixel size, the band "
            "names, the input's nodata, and tags recording the method and whether weights were your "
            "file, random or not needed (baseline).<br><br>"
            "<b>Bands</b>: the learned model takes {bands}, in this order. Leave the band list "
            "empty to find them by band name, or to take a 10-band raster in order; otherwise pick "
            "the 10 source bands in that order. The baselines take those ten bands when the raster "
            "names them (a class band such as SCL is not interpolated), else every band, or the bands "
            "you pick.<br>"
            "<b>Weights</b>: a .safetensors file, the model.safetensors.index.json or any one shard "
            "of a sharded checkpoint, or a folder of .safetensors chunks (loaded streamed, one tensor "
            "at a time). None are downloaded: no public weights exist. Empty: the plugin setting "
            "weights/s2x10, then RS_EMBED_S2X10_WEIGHTS.<br>"
            "<b>Tile size / overlap</b> are in input pixels; the output of one tile is 100x its "
            "area, and the full network needs a few GB per 128x128 tile on CPU.<br><br>"
            "<b>Example</b> (qgis_process, baseline on the bundled sample):<br>"
            "<code>qgis_process run rs_embed:superresolve_raster -- "
            "INPUT=resources/sample_data/S2_L2A_20220624_sample.tif METHOD=1 "
            "TILE=384 OVERLAP=24 OUTPUT=/tmp/sr_1m.tif</code> (bands found by name; or list them: "
            "BANDS=1 BANDS=2 ... BANDS=10)<br>"
            "With your weights: METHOD=0 WEIGHTS=/path/to/s2x10_chunks/").format(bands=S2_BANDS)

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Sentinel-2 raster (10 m)")))
        self.addParameter(QgsProcessingParameterEnum(
            self.METHOD, tr("Method"), options=[tr(m[2]) for m in METHODS], defaultValue=0))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, tr("Source bands for {bands} (in this order; empty: by name or in order)").format(
                bands=S2_BANDS),
            parentLayerParameterName=self.INPUT, optional=True, allowMultiple=True))
        self.addParameter(QgsProcessingParameterFile(
            self.WEIGHTS, tr("Weights (.safetensors file, index json, or folder of chunks; learned model)"),
            behavior=compat.FILE_PARAMETER_FILE, optional=True,
            fileFilter="safetensors (*.safetensors *.safetensors.index.json);;All files (*)"))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE, tr("Tile size (input pixels)"), compat.NUMBER_INTEGER,
            defaultValue=DEFAULT_TILE, minValue=8))
        self.addParameter(QgsProcessingParameterNumber(
            self.OVERLAP, tr("Tile overlap (input pixels, < half the tile)"),
            compat.NUMBER_INTEGER, defaultValue=DEFAULT_OVERLAP, minValue=0))
        self.addParameter(common.advanced(QgsProcessingParameterEnum(
            self.DEVICE, tr("Device"), options=common.DEVICES, defaultValue="auto", usesStaticStrings=True)))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Super-resolved raster (1 m)")))
        self.addOutput(QgsProcessingOutputString(self.METADATA, tr("Run metadata (JSON)")))

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 - main thread
        # Project layers and QgsSettings belong to the main thread: read them here, where
        # QGIS calls prepare, and let processAlgorithm (a worker thread) use plain values.
        S.snapshot()
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(tr(
                "the input layer {name!r} is a {provider!r} layer; save it as a GeoTIFF first "
                "(super-resolution reads files through GDAL)").format(name=layer.name(), provider=layer.providerType()))
        self._src = layer.source().split("|")[0]
        self._layer_name = layer.name()
        self._weights_setting = S.get("weights/s2x10")
        self._written = {}
        return True

    def processAlgorithm(self, parameters, context, feedback):
        from ..engine.errors import Cancelled
        from ..engine.superres.raster import super_resolve_raster

        src = self._src
        method, random_weights, label = METHODS[self.parameterAsEnum(parameters, self.METHOD, context)]
        bands = self.parameterAsInts(parameters, self.BANDS, context) or None
        weights = (self.parameterAsFile(parameters, self.WEIGHTS, context) or "").strip() or None
        if method == "s2x10" and not random_weights and weights is None:
            weights = self._weights_setting
        if method != "s2x10":
            weights = None
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        tile = self.parameterAsInt(parameters, self.TILE, context)
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        device = self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto"
        feedback.pushInfo(f"{label}: {src} -> {out_path} (tile {tile}, overlap {overlap}, device {device})")
        if random_weights:
            feedback.reportError(tr("WARNING: RANDOM weights: the output only tests the plumbing and is not a "
                                    "super-resolved image."), fatalError=False)
        try:
            meta = super_resolve_raster(
                src, out_path, model=method, band_map=bands, tile=tile, overlap=overlap, device=device,
                weights=weights, random_weights=random_weights,
                progress=lambda f, msg: feedback.setProgress(100.0 * f), is_cancelled=feedback.isCanceled)
        except Cancelled:
            feedback.pushInfo(tr("Cancelled: no output was written."))
            return {}
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        feedback.pushInfo(f"Wrote {meta['output_size'][1]} x {meta['output_size'][0]} px, {meta['tiles']} "
                          f"tiles in {meta['seconds']} s; weights: {meta['weights']['status']}")
        self._written = {"path": out_path, "meta": meta, "method": method, "random": random_weights}
        from ..engine.provenance import public

        return {self.OUTPUT: out_path, self.METADATA: json.dumps(public(meta), default=str)}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API, main thread
        w = self._written
        if w:
            from .. import layers as L
            from . import outputs

            random_w = bool(w["meta"].get("random_weights") or w["random"])
            name = (tr("{layer} 1 m ({method}, RANDOM weights)") if random_w else tr("{layer} 1 m ({method})")).format(
                layer=self._layer_name, method=w["method"])
            outputs.style_on_load(context, w["path"], outputs.LayerStyler(
                name, lambda lyr: L.style_superres(lyr, w["meta"], random_w)))
        return {}
