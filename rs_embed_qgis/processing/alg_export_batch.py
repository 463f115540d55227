"""Processing algorithm: ROIs x models -> an export folder with manifests (``export_batch``).

The ROIs come from a vector layer as in *Embed features* (same parameters, same rules).
Each ROI is written atomically, with its manifest, so a cancelled or interrupted run keeps
only complete items, and RESUME=true continues from them.
"""
from __future__ import annotations

import time
from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .. import compat
from .. import settings as S
from ..engine import OutputSpec
from ..engine.errors import Cancelled, RsEmbedError
from ..engine.export import FORMATS, export_batch
from ..engine.names import roi_names
from ..i18n import tr
from . import common


class ExportBatchAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    OUTPUT_FOLDER = "OUTPUT_FOLDER"

    def name(self):
        return "export_batch"

    def displayName(self):
        return tr("Export batch (ROIs x models, resumable)")

    def shortHelpString(self):
        return tr(
            "Exports inputs and embeddings for every feature of a vector layer and every chosen "
            "model into a folder: one file per ROI (named after NAME_FIELD, made file-safe and "
            "unique) with its JSON manifest, and a run manifest. Points become square ROIs of "
            "half-side BUFFER metres, polygons their bounding box; any CRS.<br>"
            "Each file is written atomically; a cancelled run keeps the finished ROIs and "
            "RESUME (on by default) continues from them. CONTINUE_ON_ERROR records failing ROIs in "
            "the manifests instead of stopping.<br><br>"
            "<b>Example</b> (bundled sample; paths relative to the plugin folder):<br>"
            "<code>qgis_process run rs_embed:export_batch -- "
            "INPUT=resources/examples/sample_points.geojson BUFFER_FIELD=buffer_m NAME_FIELD=label "
            "MODELS=mosaiks START=2022-06-01 END=2022-09-01 OUTPUT_FOLDER=/tmp/export</code>")

    def initAlgorithm(self, config=None):
        common.add_roi_params(self)
        common.add_model_params(self, multiple=True)
        common.add_time_params(self)
        self.addParameter(QgsProcessingParameterEnum(
            "OUTPUT_MODE", tr("Embedding shape"), options=["pooled", "grid"], defaultValue="pooled",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterNumber(
            "GRID_SCALE", tr("Grid cell size (m) when the shape is grid"), compat.NUMBER_DOUBLE,
            defaultValue=100.0, minValue=0.1))
        self.addParameter(QgsProcessingParameterEnum(
            "FORMAT", tr("File format"), options=list(FORMATS), defaultValue="npz", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterBoolean("SAVE_INPUTS", tr("Save the input patches"),
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean("SAVE_EMBEDDINGS", tr("Save the embeddings"),
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean("RESUME", tr("Resume: keep finished ROIs"),
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean(
            "CONTINUE_ON_ERROR", tr("Continue when a ROI fails (recorded in its manifest)"), defaultValue=False))
        self.addParameter(common.advanced(QgsProcessingParameterNumber(
            "CHUNK_SIZE", tr("ROIs per chunk"), compat.NUMBER_INTEGER, defaultValue=16,
            minValue=1)))
        self.addParameter(common.advanced(QgsProcessingParameterNumber(
            "NUM_WORKERS", tr("Parallel fetches"), compat.NUMBER_INTEGER, defaultValue=4,
            minValue=1)))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, tr("Export folder")))
        self.addOutput(QgsProcessingOutputFile("MANIFEST", tr("Run manifest (JSON)")))
        self.addOutput(QgsProcessingOutputNumber("COUNT", tr("ROIs exported")))
        self.addOutput(QgsProcessingOutputNumber("FAILED", tr("ROIs failed")))

    def processAlgorithm(self, parameters, context, feedback):
        try:
            rois = common.rois_from(self, parameters, context, feedback)
        except Cancelled:
            return {}
        models = self.parameterAsEnumStrings(parameters, "MODELS", context)
        if not models:
            raise QgsProcessingException(tr("choose at least one model (MODELS)"))
        backend = self.parameterAsEnumString(parameters, "BACKEND", context)
        device = S.device_for(models, self.parameterAsEnumString(parameters, "DEVICE", context))
        out_dir = Path(self.parameterAsString(parameters, self.OUTPUT_FOLDER, context))
        try:
            from ..engine import get_embedder

            temporal = common.temporal_from(self, parameters, context)
            mopts = common.model_options_multi(self, parameters, context, models)
            per_model = {}
            for m in models:
                base = get_embedder(m, device=device, model_options=mopts[m] or None).default_sensor()
                s = common.sensor_from(self, parameters, context, base)
                if s is not None and s != base:
                    per_model[m] = s
            if self.parameterAsEnumString(parameters, "OUTPUT_MODE", context) == "grid":
                output = OutputSpec.grid(scale_m=self.parameterAsDouble(parameters, "GRID_SCALE", context))
            else:
                output = OutputSpec.pooled()
            names = roi_names([r.name for r in rois])  # as typed; the export makes file names safe
            feedback.pushInfo(f"exporting {len(rois)} ROI(s) x {len(models)} model(s) {models} to {out_dir}, "
                              f"window {common.describe_temporal(temporal)}")
            t0 = time.perf_counter()
            manifests = export_batch(
                spatials=[r.spatial for r in rois], temporal=temporal, models=models, out_dir=str(out_dir),
                names=names, backend=backend, device=device, output=output,
                per_model_sensors=per_model or None,
                format=self.parameterAsEnumString(parameters, "FORMAT", context),
                input_prep=self.parameterAsEnumString(parameters, "INPUT_PREP", context),
                save_inputs=self.parameterAsBool(parameters, "SAVE_INPUTS", context),
                save_embeddings=self.parameterAsBool(parameters, "SAVE_EMBEDDINGS", context),
                chunk_size=self.parameterAsInt(parameters, "CHUNK_SIZE", context),
                num_workers=self.parameterAsInt(parameters, "NUM_WORKERS", context),
                continue_on_error=self.parameterAsBool(parameters, "CONTINUE_ON_ERROR", context),
                resume=self.parameterAsBool(parameters, "RESUME", context), show_progress=False,
                model_options={m: o for m, o in mopts.items()},
                provider_options=common.provider_options_from(self, parameters, context, backend),
                progress=lambda f, m: (feedback.setProgress(5 + 95 * f), feedback.pushDebugInfo(str(m))),
                is_cancelled=feedback.isCanceled)
            seconds = time.perf_counter() - t0
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        if feedback.isCanceled():
            feedback.pushInfo("cancelled by the user; finished items are kept, run again to resume")
            return {}
        items = (manifests.get("items") or []) if isinstance(manifests, dict) else manifests
        failed = [m for m in items if m.get("status") not in (None, "ok")]
        for m in failed:
            feedback.reportError(f"ROI {m.get('name')}: {m.get('status')} {m.get('error', '')}",
                                 fatalError=False)
        run_manifest = next((p for p in (out_dir / "export_run.json",) if p.exists()), None)
        feedback.pushInfo(f"{len(items) - len(failed)} ROI(s) exported, {len(failed)} failed, "
                          f"in {seconds:.1f} s")
        feedback.setProgress(100)
        return {self.OUTPUT_FOLDER: str(out_dir), "MANIFEST": str(run_manifest) if run_manifest else None,
                "COUNT": len(items) - len(failed), "FAILED": len(failed)}
