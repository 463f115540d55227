"""Processing algorithm: look at the input a model would get, without running the model.

Fetches the patch for a region, window and sensor (the model's, or one you describe),
writes three of its bands as an RGB GeoTIFF on the patch grid, and a JSON report with
per-band statistics, frame composition (scenes, valid fraction) and the issues found. The dock's
"Inspect input" runs this algorithm; a loaded RGB is styled by ``processing/outputs.py``.
"""
from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..engine import SensorSpec
from ..engine.catalog.entry import S2_SR
from ..engine.errors import RsEmbedError, SpecError
from ..engine.input_checks import inspect_patch
from ..engine.io import save_rgb
from ..i18n import tr
from . import common

DEFAULT_SENSOR = SensorSpec(collection=S2_SR, bands=("B2", "B3", "B4", "B8"), scale_m=10,
                            cloudy_pct=30, composite="median")


class InspectPatchAlgorithm(common.RsEmbedAlgorithm, QgsProcessingAlgorithm):
    EXTENT = "EXTENT"
    SENSOR_OF = "SENSOR_OF"
    RGB_BANDS = "RGB_BANDS"
    STRETCH = "STRETCH"
    VALUE_RANGE = "VALUE_RANGE"
    OUTPUT = "OUTPUT"
    REPORT = "REPORT"

    def __init__(self):
        super().__init__()
        self._written: dict = {}

    def name(self):
        return "inspect_patch"

    def displayName(self):
        return tr("Inspect input patch (RGB + quality report)")

    def shortHelpString(self):
        return tr(
            "Fetches the input patch for a region and time window, as a model would get it, "
            "without running any model. Writes three bands as an RGB GeoTIFF on the patch's UTM "
            "grid (<i>percentile</i>: 8-bit, stretched 2-98 % per band; <i>raw</i>: float values as "
            "fetched, e.g. reflectance x 10000, bands named) and the engine's JSON report "
            "(inspect_provider_patch): per-band min/max/mean/std/percentiles, NaN and fill "
            "fractions, near-constant bands, values outside VALUE_RANGE, scenes per frame, and "
            "the issues found (OK is false when there are any).<br>"
            "The sensor is the chosen model's, else Sentinel-2 L2A B2,B3,B4,B8 at 10 m; the "
            "advanced sensor parameters override it.<br><br>"
            "<b>Example</b> (bundled sample):<br><code>qgis_process run rs_embed:inspect_patch -- "
            "EXTENT=\"9.005,9.035,47.83,47.85 [EPSG:4326]\" START=2022-06-01 END=2022-09-01 "
            "OUTPUT=/tmp/patch_rgb.tif REPORT=/tmp/patch_report.json</code>")

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, tr("Region (extent)")))
        common.add_time_params(self)
        common.add_backend_params(self)
        self.addParameter(QgsProcessingParameterEnum(
            self.SENSOR_OF, tr("Use the input sensor of this model (empty: Sentinel-2 L2A B2,B3,B4,B8, 10 m)"),
            options=common.model_ids(), optional=True, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString(
            self.RGB_BANDS, tr("Bands shown as red, green, blue"), defaultValue="B4,B3,B2"))
        self.addParameter(QgsProcessingParameterEnum(
            self.STRETCH, tr("RGB values"), options=["percentile", "raw"], defaultValue="percentile",
            usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString(
            self.VALUE_RANGE, tr("Expected value range min,max (flags values outside; empty: no check)"),
            defaultValue="", optional=True))
        common.add_sensor_params(self)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("RGB patch")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, tr("Report (JSON)"), fileFilter="JSON files (*.json)"))
        self.addOutput(QgsProcessingOutputBoolean("OK", tr("No issue found")))
        self.addOutput(QgsProcessingOutputString("ISSUES", tr("Issues (one per line)")))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API, main thread
        ok, why = common.check_time_and_sensor(self, parameters, context)
        return (ok, why) if not ok else super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        bbox = common.rect_to_bbox(rect, self.parameterAsExtentCrs(parameters, self.EXTENT, context))
        backend = self.parameterAsEnumString(parameters, "BACKEND", context)
        out_path = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        try:
            from ..engine.io import atomic_write_text, to_json
            from ..engine.provenance import public

            temporal = common.temporal_from(self, parameters, context)
            base = DEFAULT_SENSOR
            if parameters.get(self.SENSOR_OF) not in (None, ""):
                from ..engine.catalog import get_entry

                model = self.parameterAsEnumString(parameters, self.SENSOR_OF, context)
                base = get_entry(model).default_sensor or DEFAULT_SENSOR
            sensor = common.sensor_from(self, parameters, context, base)
            rgb = [b.strip() for b in self.parameterAsString(parameters, self.RGB_BANDS, context).split(",")
                   if b.strip()]
            if len(rgb) != 3:
                raise SpecError(tr("RGB_BANDS must name 3 bands, got {rgb}").format(rgb=rgb))
            from ..engine.providers.bands import canonical_band

            have = {canonical_band(b) for b in sensor.bands}
            extra = tuple(b for b in rgb if canonical_band(b) not in have)
            if extra:  # fetch the display bands too
                import dataclasses

                sensor = dataclasses.replace(sensor, bands=tuple(sensor.bands) + extra)
            vr = self.parameterAsString(parameters, self.VALUE_RANGE, context).strip()
            value_range = None
            if vr:
                try:
                    lo, hi = (float(v) for v in vr.split(","))
                except ValueError:
                    raise SpecError(tr("VALUE_RANGE must be 'min,max', got {vr!r}").format(vr=vr)) from None
                value_range = (lo, hi)
            feedback.pushInfo(tr("fetching {roi} bands {bands} at {scale} m, window {window} ({backend})").format(
                roi=bbox, bands=list(sensor.bands), scale=sensor.scale_m,
                window=common.describe_temporal(temporal), backend=backend))
            feedback.setProgress(10)
            patch, report = inspect_patch(bbox, temporal, sensor, backend=backend,
                                          provider_options=common.provider_options_from(
                                              self, parameters, context, backend),
                                          value_range=value_range, name="inspect_patch")
            if feedback.isCanceled():
                return {}
            feedback.setProgress(70)
            rgb_info = save_rgb(patch, rgb, out_path,
                                stretch=self.parameterAsEnumString(parameters, self.STRETCH, context))
            report["rgb"] = rgb_info
            atomic_write_text(report_path, to_json(public(report, out_dir=Path(report_path).parent), indent=2))
        except (RsEmbedError, ValueError) as exc:
            raise common.engine_error(exc) from exc
        if common.drop_if_cancelled(feedback, [out_path, report_path]):
            return {}
        issues = list((report.get("report") or {}).get("issues") or [])
        for line in issues:
            feedback.reportError(tr("issue: {line}").format(line=line), fatalError=False)
        feedback.pushInfo(f"patch {patch.data.shape} (T, C, H, W) in {patch.grid.crs}; "
                          f"{'no issue found' if report['ok'] else f'{len(issues)} issue(s)'}")
        feedback.setProgress(100)
        self._written = {"rgb": out_path, "rgb_info": rgb_info, "report": report}
        return {self.OUTPUT: out_path, self.REPORT: report_path, "OK": bool(report["ok"]),
                "ISSUES": "\n".join(str(i) for i in issues)}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API, main thread
        w = self._written
        if w:
            from . import outputs

            outputs.style_input(context, w["rgb"], w["rgb_info"], w["report"])
        return {}
