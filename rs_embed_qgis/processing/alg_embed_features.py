"""Processing algorithm: one embedding per feature of a vector layer.

Points become square ``PointBuffer`` ROIs, other geometries the lon/lat bounding box of
their outline. Outputs: a polygon layer (ROI footprints in the input layer's CRS) with
the pooled vector as attributes ``e0..eN``, keyed by ``input_fid``; and/or a folder of
grid GeoTIFFs named after a field. Nothing is written until every embedding is computed,
so a cancelled or failed run leaves no partial outputs.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..engine import OutputSpec
from ..engine.embedding import roi_footprint
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.names import file_stems
from ..engine.pipeline import EmbedRequest, run_embed
from ..jobs import save_grid
from . import common


class EmbedFeaturesAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    OUTPUT = "OUTPUT"
    GRID_FOLDER = "GRID_FOLDER"
    GRID_SCALE = "GRID_SCALE"
    POOLING = "POOLING"
    SKIP_FAILED = "SKIP_FAILED"
    VECTOR_LAYOUT = "VECTOR_LAYOUT"
    # column limits of common formats (fields besides the vector: input_fid, name, model;
    # GeoPackage/SQLite: 2000 columns including fid and geometry; shapefile: 255 fields)
    MAX_FIELDS = {".gpkg": 1998, ".sqlite": 1998, ".shp": 255, ".dbf": 255}

    def name(self):
        return "embed_features"

    def displayName(self):
        return "Embed features (vector layer of ROIs)"

    def shortHelpString(self):
        return (
            "One embedding per feature. Points become square ROIs of half-side BUFFER metres "
            "(or BUFFER_FIELD per point); polygons and lines their bounding box in EPSG:4326. "
            "Layers in any CRS are reprojected.<br>"
            "<b>Outputs</b>: a polygon layer in the input layer's CRS (each ROI's pixel footprint) "
            "with fields <i>input_fid</i>, <i>name</i>, <i>model</i> and <i>e0..eN</i> (the pooled "
            "vector), and/or a folder of grid GeoTIFFs, one per feature, named after NAME_FIELD "
            "(made file-safe and unique). Invalid or empty geometries are skipped with a warning or "
            "fail the run (INVALID_GEOMETRY). Cancelling leaves no partial outputs.<br><br>"
            "<b>Example</b> (bundled sample; paths relative to the plugin folder):<br>"
            "<code>qgis_process run rs_embed:embed_features -- "
            "INPUT=resources/examples/sample_points.geojson BUFFER_FIELD=buffer_m NAME_FIELD=label "
            "MODEL=mosaiks START=2022-06-01 END=2022-09-01 OUTPUT=/tmp/points_emb.gpkg "
            "GRID_FOLDER=/tmp/point_grids GRID_SCALE=50</code>")

    def initAlgorithm(self, config=None):
        common.add_roi_params(self)
        common.add_model_params(self)
        common.add_time_params(self)
        self.addParameter(QgsProcessingParameterEnum(
            self.POOLING, "Pooling of the vector", options=["mean", "max"], defaultValue="mean",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, "Grid cell size (m) of the grid GeoTIFFs", QgsProcessingParameterNumber.Double,
            defaultValue=100.0, minValue=0.1))
        self.addParameter(QgsProcessingParameterEnum(
            self.VECTOR_LAYOUT,
            "Vector as fields e0..eN (columns) or one JSON array field 'embedding' (json)",
            options=["columns", "json"], defaultValue="columns", usesStaticStrings=True))
        self.addParameter(common.advanced(QgsProcessingParameterBoolean(
            self.SKIP_FAILED, "Skip features the engine cannot embed (e.g. outside the data), with a warning",
            defaultValue=False)))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Embeddings (pooled vectors)", type=QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.GRID_FOLDER, "Folder of grid GeoTIFFs (one per feature)", optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("COUNT", "Features embedded"))
        self.addOutput(QgsProcessingOutputNumber("SKIPPED", "Features skipped"))
        self.addOutput(QgsProcessingOutputString("METADATA", "Run metadata (JSON)"))

    def processAlgorithm(self, parameters, context, feedback):
        want_vec = parameters.get(self.OUTPUT) not in (None, "")
        grid_dir = self.parameterAsString(parameters, self.GRID_FOLDER, context) \
            if parameters.get(self.GRID_FOLDER) not in (None, "") else ""
        if not want_vec and not grid_dir:
            raise QgsProcessingException("choose at least one output: OUTPUT (vector layer) or "
                                         "GRID_FOLDER (grid GeoTIFFs)")
        layout = self.parameterAsEnumString(parameters, self.VECTOR_LAYOUT, context)
        try:
            rois = common.rois_from(self, parameters, context, feedback)
        except Cancelled:
            return {}
        n_in = self.parameterAsSource(parameters, "INPUT", context).featureCount()
        model = self.parameterAsEnumString(parameters, "MODEL", context)
        backend = self.parameterAsEnumString(parameters, "BACKEND", context)
        folder = self.parameterAsFile(parameters, "DATA_FOLDER", context) or None
        device = self.parameterAsEnumString(parameters, "DEVICE", context)
        skipped = {}

        def on_error(i, exc):
            skipped[i] = exc
            feedback.reportError(f"feature {rois[i].fid} ({rois[i].name}): {exc}; skipped",
                                 fatalError=False)

        stage = None
        try:
            from ..engine import get_embedder

            temporal = common.temporal_from(self, parameters, context)
            mopts = common.model_options_for(
                    model, self.parameterAsString(parameters, "MODEL_OPTIONS", context))
            sensor = common.sensor_from(self, parameters, context,
                                        get_embedder(model, device=device, model_options=mopts or None)
                                        .default_sensor())
            base = dict(model=model, spatials=[r.spatial for r in rois], temporal=temporal, sensor=sensor,
                        backend=backend, device=device,
                        input_prep=self.parameterAsEnumString(parameters, "INPUT_PREP", context),
                        model_options=mopts, provider_options=common.provider_options(backend, folder))
            feedback.pushInfo(f"{len(rois)} ROI(s) from {n_in} feature(s); {model} ({backend}), "
                              f"window {common.describe_temporal(temporal)}")
            handler = on_error if self.parameterAsBool(parameters, self.SKIP_FAILED, context) else None
            pooling = self.parameterAsEnumString(parameters, self.POOLING, context)
            passes = [("pooled", OutputSpec.pooled(pooling))] if want_vec else []
            if grid_dir:
                passes.append(("grid", OutputSpec.grid(
                    scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context))))
            results = {}
            if grid_dir:  # grids go to a hidden staging folder as they come (flat memory)
                self._made_dir = None if Path(grid_dir).exists() else Path(grid_dir)
                Path(grid_dir).mkdir(parents=True, exist_ok=True)
                stage = Path(tempfile.mkdtemp(prefix=".rs_embed_partial_", dir=grid_dir))
            for k, (kind, output) in enumerate(passes):
                lo, span = 5 + 90 * k / len(passes), 90 / len(passes)
                feedback.pushInfo(f"{kind} embeddings...")
                results[kind] = run_embed(
                    EmbedRequest(output=output, **base),
                    progress=lambda f, m, lo=lo, span=span: (feedback.setProgress(lo + span * f),
                                                             feedback.pushDebugInfo(m)),
                    is_cancelled=feedback.isCanceled, on_error=handler,
                    on_result=(lambda i, emb: self._stage_grid(stage, i, emb)) if kind == "grid" else None)
            if feedback.isCanceled():
                raise Cancelled("cancelled by the user")
        except Cancelled:
            self._drop(stage)
            feedback.pushInfo("cancelled; nothing was written")
            return {}
        except (RsEmbedError, ValueError) as exc:
            self._drop(stage)
            raise common.engine_error(exc) from exc
        except BaseException:
            self._drop(stage)
            raise
        try:
            return self._finish(parameters, context, feedback, model, rois, results, passes, n_in,
                                want_vec, grid_dir, stage, layout)
        finally:
            self._drop(stage)

    _made_dir = None

    def _drop(self, stage):
        """Remove the staging folder, and the grid folder too if this run made it and it is empty."""
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        made = self._made_dir
        if made is not None and made.exists() and not any(made.iterdir()):
            made.rmdir()

    @staticmethod
    def _stage_grid(stage, i, emb):
        """Write one grid to the staging folder now; keep its path and meta, not the array."""
        path = stage / f"{i}.tif"
        save_grid(emb, path)
        return _Staged(path, emb.meta)

    def _finish(self, parameters, context, feedback, model, rois, results, passes, n_in,
                want_vec, grid_dir, stage, layout):
        # an ROI failing in one pass is dropped from both, so the outputs describe the same features
        ok = [i for i in range(len(rois)) if all(results[k][i] is not None for k in results)]
        if not ok:
            raise QgsProcessingException("no feature could be embedded (see the warnings above)")
        out = {"COUNT": len(ok), "SKIPPED": n_in - len(ok)}
        first = results[passes[0][0]][ok[0]]
        common.warn_random_weights(feedback, first.meta)
        dim = int(first.array.shape[0]) if want_vec else 0
        if want_vec and layout == "columns":
            self._check_width(parameters, context, dim)
        if grid_dir:
            try:
                out[self.GRID_FOLDER] = self._publish_grids(grid_dir, stage, [rois[i] for i in ok],
                                                            [results["grid"][i] for i in ok], feedback)
            except Cancelled:
                feedback.pushInfo("cancelled; nothing was written")
                return {}
        if want_vec:
            out[self.OUTPUT] = self._write_vectors(parameters, context, model, [rois[i] for i in ok],
                                                   [results["pooled"][i] for i in ok], layout)
        out["METADATA"] = common.run_summary(first.meta, n_features=len(ok), skipped=n_in - len(ok))
        feedback.setProgress(100)
        feedback.pushInfo(f"{len(ok)} feature(s) embedded, {n_in - len(ok)} skipped")
        return out

    def _check_width(self, parameters, context, dim):
        """Fail before writing anything if the output format cannot hold D + 3 fields."""
        dest = parameters.get(self.OUTPUT)
        dest = getattr(dest, "sink", dest)
        text = str(dest.staticValue() if hasattr(dest, "staticValue") else dest).lower()
        limit = next((n for ext, n in self.MAX_FIELDS.items() if text.split("|")[0].endswith(ext)), None)
        if limit is not None and dim + 3 > limit:
            raise QgsProcessingException(
                f"the {dim}-dimensional vectors need {dim + 3} fields, more than this output format "
                f"holds ({limit}); choose VECTOR_LAYOUT=json (one JSON array field), another format "
                "(e.g. a memory layer or GeoParquet), or the grid/export outputs")

    def _write_vectors(self, parameters, context, model, rois, embs, layout="columns"):
        source = self.parameterAsSource(parameters, "INPUT", context)
        crs = source.sourceCrs() if source.sourceCrs().isValid() else common.WGS84
        dim = int(embs[0].array.shape[0])
        fields = QgsFields()
        fields.append(QgsField("input_fid", QVariant.LongLong))
        fields.append(QgsField("name", QVariant.String))
        fields.append(QgsField("model", QVariant.String))
        if layout == "json":
            fields.append(QgsField("embedding", QVariant.String))
        else:
            for j in range(dim):
                fields.append(QgsField(f"e{j}", QVariant.Double))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                          QgsWkbTypes.Polygon, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for roi, emb in zip(rois, embs, strict=True):
            f = QgsFeature(fields)
            fp = roi_footprint(emb)
            if fp is not None:
                f.setGeometry(common.footprint_geometry(fp, crs, context))
            vec = emb.array.astype(float).tolist()
            if layout == "json":
                f.setAttributes([roi.fid, roi.name, model, json.dumps(vec)])
            else:
                f.setAttributes([roi.fid, roi.name, model] + vec)
            if not sink.addFeature(f, QgsFeatureSink.FastInsert):
                err = sink.lastError() if hasattr(sink, "lastError") else ""
                raise QgsProcessingException(
                    f"could not write feature {roi.fid} ({roi.name}) to the output: {err or 'write failed'}")
        return dest

    def _publish_grids(self, grid_dir, stage, rois, staged, feedback):
        """Move the staged GeoTIFFs to their final names together, at the very end."""
        dest = Path(grid_dir)
        stems = file_stems([r.name for r in rois])
        if feedback.isCanceled():
            raise Cancelled("cancelled by the user")
        taken = {p.name.lower() for p in dest.iterdir()}
        overwritten = [s for s in stems if f"{s}.tif".lower() in taken]
        if overwritten:
            feedback.pushInfo(f"replacing {len(overwritten)} existing GeoTIFF(s) in {dest}")
        for stem, st in zip(stems, staged, strict=True):
            os.replace(st.path, dest / f"{stem}.tif")
        feedback.pushInfo(f"{len(stems)} grid GeoTIFF(s) written to {dest}")
        return str(dest)


class _Staged:
    """A grid already written to the staging folder (path + metadata, no array)."""

    __slots__ = ("path", "meta")

    def __init__(self, path, meta):
        self.path, self.meta = path, meta
