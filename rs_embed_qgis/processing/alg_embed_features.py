"""Processing algorithm: one embedding per feature of a vector layer.

Points become square ``PointBuffer`` ROIs, other geometries the lon/lat bounding box of
their outline. Outputs: a polygon layer (ROI footprints in the input layer's CRS) with
the pooled vector as attributes ``e0..eN``, keyed by ``input_fid``; and/or a folder of
grid GeoTIFFs named after a field (with ``GRID_PCA``, each with its PCA RGB GeoTIFF). Nothing
is written until every embedding is computed, so a cancelled or failed run leaves no partial
outputs. The dock's Embeddings tab runs this algorithm for points and selected features;
loaded outputs are styled and grouped by the post-processors of ``processing/outputs.py``.
"""
from __future__ import annotations

import dataclasses
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
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .. import compat
from ..engine import OutputSpec
from ..engine.embedding import roi_footprint
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.io import make_folder, remove_empty, save_grid
from ..engine.names import file_stems
from ..engine.pipeline import run_embed
from ..i18n import tr
from . import common


class EmbedFeaturesAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    OUTPUT = "OUTPUT"
    GRID_FOLDER = "GRID_FOLDER"
    GRID_SCALE = "GRID_SCALE"
    POOLING = "POOLING"
    SKIP_FAILED = "SKIP_FAILED"
    VECTOR_LAYOUT = "VECTOR_LAYOUT"
    GRID_PCA = "GRID_PCA"
    ADD_GRIDS = "ADD_GRIDS"
    # column limits of common formats (fields besides the vector: input_fid, name, model;
    # GeoPackage/SQLite: 2000 columns including fid and geometry; shapefile: 255 fields)
    MAX_FIELDS = {".gpkg": 1998, ".sqlite": 1998, ".shp": 255, ".dbf": 255}

    def __init__(self):
        super().__init__()
        self._written: dict = {}

    def name(self):
        return "embed_features"

    def displayName(self):
        return tr("Embed features (vector layer of ROIs)")

    def shortHelpString(self):
        return tr(
            "One embedding per feature. Points become square ROIs of half-side BUFFER metres "
            "(or BUFFER_FIELD per point); polygons and lines their bounding box in EPSG:4326. "
            "Layers in any CRS are reprojected.<br>"
            "<b>Outputs</b>: a polygon layer in the input layer's CRS (each ROI's pixel footprint) "
            "with fields <i>input_fid</i>, <i>name</i>, <i>model</i> and <i>e0..eN</i> (the pooled "
            "vector), and/or a folder of grid GeoTIFFs, one per feature, named after NAME_FIELD "
            "(made file-safe and unique; with GRID_PCA each also gets <i>&lt;name&gt;_pca.tif</i>, its "
            "first three principal components). ADD_GRIDS adds the grids to the project when the run "
            "finishes. Invalid or empty geometries are skipped with a warning or "
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
            self.POOLING, tr("Pooling of the vector"), options=["mean", "max"], defaultValue="mean",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.GRID_SCALE, tr("Grid cell size (m) of the grid GeoTIFFs"), compat.NUMBER_DOUBLE,
            defaultValue=100.0, minValue=0.1))
        self.addParameter(QgsProcessingParameterEnum(
            self.VECTOR_LAYOUT,
            tr("Vector as fields e0..eN (columns) or one JSON array field 'embedding' (json)"),
            options=["columns", "json"], defaultValue="columns", usesStaticStrings=True))
        self.addParameter(common.advanced(QgsProcessingParameterBoolean(
            self.SKIP_FAILED, tr("Skip features the engine cannot embed (e.g. outside the data), with a warning"),
            defaultValue=False)))
        self.addParameter(common.advanced(QgsProcessingParameterBoolean(
            self.GRID_PCA, tr("Also write each grid's first three principal components (<name>_pca.tif)"),
            defaultValue=False)))
        self.addParameter(common.advanced(QgsProcessingParameterBoolean(
            self.ADD_GRIDS, tr("Add the grid GeoTIFFs to the project when the run finishes"), defaultValue=True)))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Embeddings (pooled vectors)"), type=compat.SOURCE_VECTOR_POLYGON,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.GRID_FOLDER, tr("Folder of grid GeoTIFFs (one per feature)"), optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("COUNT", tr("Features embedded")))
        self.addOutput(QgsProcessingOutputNumber("SKIPPED", tr("Features skipped")))
        self.addOutput(QgsProcessingOutputString("METADATA", tr("Run metadata (JSON)")))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API, main thread
        ok, why = common.check_time_and_sensor(self, parameters, context)
        return (ok, why) if not ok else super().checkParameterValues(parameters, context)

    def request(self, parameters, context):
        """The engine request of the pooled pass these parameters run (the dock shows it)."""
        rois = common.rois_from(self, parameters, context, QgsProcessingFeedback())
        return common.embed_request(self, parameters, context, [r.spatial for r in rois], self._pooled(parameters,
                                                                                                    context))

    def _pooled(self, parameters, context):
        return OutputSpec.pooled(self.parameterAsEnumString(parameters, self.POOLING, context))

    def processAlgorithm(self, parameters, context, feedback):
        want_vec = parameters.get(self.OUTPUT) not in (None, "")
        grid_dir = self.parameterAsString(parameters, self.GRID_FOLDER, context) \
            if parameters.get(self.GRID_FOLDER) not in (None, "") else ""
        if not want_vec and not grid_dir:
            raise QgsProcessingException(tr("choose at least one output: OUTPUT (vector layer) or "
                                            "GRID_FOLDER (grid GeoTIFFs)"))
        layout = self.parameterAsEnumString(parameters, self.VECTOR_LAYOUT, context)
        grid_pca = self.parameterAsBool(parameters, self.GRID_PCA, context)
        n_in = self.parameterAsSource(parameters, "INPUT", context).featureCount()
        skipped = {}
        stage = None
        try:
            pooled = self._pooled(parameters, context)
            rois = common.rois_from(self, parameters, context, feedback)
            base = common.embed_request(self, parameters, context, [r.spatial for r in rois], pooled)

            def on_error(i, exc):
                skipped[i] = exc
                feedback.reportError(tr("feature {fid} ({name}): {error}; skipped").format(
                    fid=rois[i].fid, name=rois[i].name, error=exc), fatalError=False)

            feedback.pushInfo(tr("{n} ROI(s) from {n_in} feature(s); {model} ({backend}), window {window}").format(
                n=len(rois), n_in=n_in, model=base.model, backend=base.backend,
                window=common.describe_temporal(base.temporal)))
            handler = on_error if self.parameterAsBool(parameters, self.SKIP_FAILED, context) else None
            passes = [("pooled", pooled)] if want_vec else []
            if grid_dir:
                passes.append(("grid", OutputSpec.grid(
                    scale_m=self.parameterAsDouble(parameters, self.GRID_SCALE, context))))
            results = {}
            if grid_dir:  # grids go to a hidden staging folder as they come (flat memory)
                self._made = make_folder(grid_dir)  # an unwritable folder: a SpecError naming it
                stage = Path(tempfile.mkdtemp(prefix=".rs_embed_partial_", dir=grid_dir))
            for k, (kind, output) in enumerate(passes):
                lo, span = 5 + 90 * k / len(passes), 90 / len(passes)
                feedback.pushInfo(tr("{kind} embeddings...").format(kind=kind))
                results[kind] = run_embed(
                    dataclasses.replace(base, output=output),
                    progress=lambda f, m, lo=lo, span=span: (feedback.setProgress(lo + span * f),
                                                             feedback.pushDebugInfo(m)),
                    is_cancelled=feedback.isCanceled, on_error=handler, prompt_cancel=True,
                    on_result=(lambda i, emb: self._stage_grid(stage, i, emb, grid_pca, rois[i].name))
                    if kind == "grid" else None)
            if feedback.isCanceled():
                raise Cancelled("cancelled by the user")
        except Cancelled:
            self._drop(stage)
            feedback.pushInfo(tr("cancelled; nothing was written"))
            return {}
        except (RsEmbedError, ValueError) as exc:
            self._drop(stage)
            raise common.engine_error(exc) from exc
        except BaseException:
            self._drop(stage)
            raise
        try:
            return self._finish(parameters, context, feedback, base.model, rois, results, passes, n_in,
                                want_vec, grid_dir, stage, layout)
        finally:
            self._drop(stage)

    _made: list = []

    def _drop(self, stage):
        """Remove the staging folder, and the grid folders too if this run made them and they are empty."""
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        remove_empty(self._made)

    @staticmethod
    def _stage_grid(stage, i, emb, pca, name):
        """Write one grid (and its PCA) to the staging folder now; keep paths and meta, not the array.
        The feature's name, as typed, is in the GeoTIFF's metadata (its file name is the safe form)."""
        emb.meta["name"] = name
        res = save_grid(emb, stage / f"{i}.tif", pca=stage / f"{i}_pca.tif" if pca else None)
        return _Staged(Path(res["geotiff"]), Path(res["pca"]) if pca else None, res.get("pca_info"), emb.meta)

    def _finish(self, parameters, context, feedback, model, rois, results, passes, n_in,
                want_vec, grid_dir, stage, layout):
        # an ROI failing in one pass is dropped from both, so the outputs describe the same features
        ok = [i for i in range(len(rois)) if all(results[k][i] is not None for k in results)]
        if not ok:
            raise QgsProcessingException(tr("no feature could be embedded (see the warnings above)"))
        out = {"COUNT": len(ok), "SKIPPED": n_in - len(ok)}
        first = results[passes[0][0]][ok[0]]
        common.warn_random_weights(feedback, first.meta)
        warned = [w for i in ok for w in common.warn_coverage(
            feedback, results[passes[0][0]][i].meta, f"feature {rois[i].fid} ({rois[i].name})")]
        dim = int(first.array.shape[0]) if want_vec else 0
        if want_vec and layout == "columns":
            self._check_width(parameters, context, dim)
        grids = []
        if grid_dir:
            try:
                out[self.GRID_FOLDER], grids = self._publish_grids(
                    grid_dir, [rois[i] for i in ok], [results["grid"][i] for i in ok], feedback)
            except Cancelled:
                feedback.pushInfo(tr("cancelled; nothing was written"))
                return {}
        if want_vec:
            out[self.OUTPUT] = self._write_vectors(parameters, context, model, [rois[i] for i in ok],
                                                   [results["pooled"][i] for i in ok], layout)
        written = [p for _, g in grids for p in (g["geotiff"], g.get("pca"))]
        if out.get(self.OUTPUT) and Path(str(out[self.OUTPUT]).split("|")[0]).is_file():
            written.append(str(out[self.OUTPUT]).split("|")[0])
        if common.drop_if_cancelled(feedback, written):
            return {}
        out["METADATA"] = common.run_summary(first.meta, n_features=len(ok), skipped=n_in - len(ok),
                                             warnings=warned)
        self._written = {"pooled": out.get(self.OUTPUT), "meta": first.meta, "grids": grids,
                         "add_grids": self.parameterAsBool(parameters, self.ADD_GRIDS, context)}
        feedback.setProgress(100)
        feedback.pushInfo(tr("{ok} feature(s) embedded, {skipped} skipped").format(ok=len(ok), skipped=n_in - len(ok)))
        return out

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API, main thread
        w = self._written
        if w:
            from .. import layers as L
            from . import outputs

            group = outputs.RunGroup(L.run_name(w["meta"]))
            if w["pooled"]:
                outputs.style_pooled(context, w["pooled"], w["meta"], group)
            if w["add_grids"]:
                for roi_name, grid in w["grids"]:
                    outputs.style_grid(context, grid, roi_name=roi_name, group=group, output_name=self.GRID_FOLDER)
        return {}

    def _check_width(self, parameters, context, dim):
        """Fail before writing anything if the output format cannot hold D + 3 fields."""
        dest = parameters.get(self.OUTPUT)
        dest = getattr(dest, "sink", dest)
        text = str(dest.staticValue() if hasattr(dest, "staticValue") else dest).lower()
        limit = next((n for ext, n in self.MAX_FIELDS.items() if text.split("|")[0].endswith(ext)), None)
        if limit is not None and dim + 3 > limit:
            raise QgsProcessingException(tr(
                "the {dim}-dimensional vectors need {n} fields, more than this output format "
                "holds ({limit}); choose VECTOR_LAYOUT=json (one JSON array field), another format "
                "(e.g. a memory layer or GeoParquet), or the grid/export outputs").format(dim=dim, n=dim + 3,
                                                                                        limit=limit))

    def _write_vectors(self, parameters, context, model, rois, embs, layout="columns"):
        source = self.parameterAsSource(parameters, "INPUT", context)
        crs = source.sourceCrs() if source.sourceCrs().isValid() else common.WGS84
        dim = int(embs[0].array.shape[0])
        fields = QgsFields()
        fields.append(QgsField("input_fid", compat.field_type("int64")))
        fields.append(QgsField("name", compat.field_type("string")))
        fields.append(QgsField("model", compat.field_type("string")))
        if layout == "json":
            fields.append(QgsField("embedding", compat.field_type("string")))
        else:
            for j in range(dim):
                fields.append(QgsField(f"e{j}", compat.field_type("double")))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, compat.WKB_POLYGON, crs)
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
            if not sink.addFeature(f, QgsFeatureSink.Flag.FastInsert):
                err = sink.lastError() if hasattr(sink, "lastError") else ""
                raise QgsProcessingException(tr("could not write feature {fid} ({name}) to the output: {error}")
                                             .format(fid=roi.fid, name=roi.name, error=err or "write failed"))
        return dest

    def _publish_grids(self, grid_dir, rois, staged, feedback):
        """Move the staged GeoTIFFs to their final names together, at the very end; returns the
        folder and, per ROI, its name and written files (``save_grid``'s result plus meta)."""
        dest = Path(grid_dir)
        stems = file_stems([r.name for r in rois])
        if feedback.isCanceled():
            raise Cancelled("cancelled by the user")
        taken = {p.name.lower() for p in dest.iterdir()}
        overwritten = [s for s in stems if f"{s}.tif".lower() in taken]
        if overwritten:
            feedback.pushInfo(tr("replacing {n} existing GeoTIFF(s) in {folder}").format(n=len(overwritten),
                                                                                         folder=dest))
        grids = []
        for roi, stem, st in zip(rois, stems, staged, strict=True):
            grid = {"geotiff": str(dest / f"{stem}.tif"), "meta": st.meta}
            os.replace(st.path, grid["geotiff"])
            if st.pca is not None:
                grid.update(pca=str(dest / f"{stem}_pca.tif"), pca_info=st.pca_info)
                os.replace(st.pca, grid["pca"])
            grids.append((roi.name, grid))
        feedback.pushInfo(tr("{n} grid GeoTIFF(s) written to {folder}").format(n=len(stems), folder=dest))
        return str(dest), grids


class _Staged:
    """A grid already written to the staging folder (paths + metadata, no array)."""

    __slots__ = ("path", "pca", "pca_info", "meta")

    def __init__(self, path, pca, pca_info, meta):
        self.path, self.pca, self.pca_info, self.meta = path, pca, pca_info, meta
