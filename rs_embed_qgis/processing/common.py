"""Helpers shared by the Processing algorithms: catalog enums, CRS handling, settings."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingException,
    QgsProject,
    QgsRectangle,
    QgsSettings,
)

from ..engine import BBox
from ..engine.errors import RsEmbedError

SETTINGS_PREFIX = "rs_embed"
DEVICES = ["auto", "cpu", "cuda"]
INPUT_PREPS = ["resize", "tile"]
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def model_ids() -> list[str]:
    from ..engine import list_models

    return list_models()


def backend_names() -> list[str]:
    """Every registered data backend (the engine's provider registry), available or not:
    a run on an unavailable one fails with the reason."""
    from ..engine.providers import provider_names

    return list(provider_names())


def add_backend_params(alg) -> None:
    """BACKEND, DATA_FOLDER."""
    from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterFile

    alg.addParameter(QgsProcessingParameterEnum("BACKEND", "Backend", options=backend_names(),
                                                defaultValue="local", usesStaticStrings=True))
    alg.addParameter(QgsProcessingParameterFile(
        "DATA_FOLDER", "Local data folder or STAC catalog (empty: settings, then bundled sample)",
        behavior=QgsProcessingParameterFile.Folder, optional=True))


_snapshot: dict[str, Any] = {}
_snapshot_lock = threading.Lock()


def _in_main_thread() -> bool:
    # plain Python: no Qt call (or import) from a worker thread just to ask where we are
    return threading.current_thread() is threading.main_thread()


def snapshot_settings() -> None:
    """Copy the plugin's settings; call on the main thread (``prepareAlgorithm``).

    QgsSettings is not safe off the main thread (it shares one global settings object):
    algorithms run in worker threads read this copy instead.
    """
    qs = QgsSettings()
    qs.beginGroup(SETTINGS_PREFIX)
    values = {k: qs.value(k) for k in qs.allKeys()}
    qs.endGroup()
    with _snapshot_lock:
        _snapshot.clear()
        _snapshot.update(values)


def setting(key: str, default: Any = None) -> Any:
    if _in_main_thread():
        return QgsSettings().value(f"{SETTINGS_PREFIX}/{key}", default)
    with _snapshot_lock:
        value = _snapshot.get(key)
    return default if value is None else value


def local_data_folder(explicit: str | None = None) -> str | None:
    """Explicit parameter > plugin setting > RS_EMBED_LOCAL_DATA > bundled sample."""
    for cand in (explicit, setting("local_data"), os.environ.get("RS_EMBED_LOCAL_DATA")):
        if cand:
            return str(cand)
    return None


def provider_options(backend: str, data_folder: str | None) -> dict[str, Any]:
    if backend == "local":
        folder = local_data_folder(data_folder)
        return {"root": folder} if folder else {}
    opts: dict[str, Any] = {}
    project = setting("gee_project") or os.environ.get("EE_PROJECT_ID") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if project:
        opts["project"] = project
    return opts


def json_options(text: str) -> dict[str, Any]:
    """The JSON object of options the user typed (``{}`` for an empty text)."""
    if not text or not text.strip():
        return {}
    try:
        user = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QgsProcessingException(f"model options must be a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(user, dict):
        raise QgsProcessingException(f"model options must be a JSON object, got {text!r}")
    return user


def model_options_for(model: str, extra_json: str = "") -> dict[str, Any]:
    """Per-model weights path from the settings, plus JSON options typed by the user."""
    opts: dict[str, Any] = {}
    wpath = setting(f"weights/{model}")
    if wpath:
        opts["weights"] = str(wpath)
    opts.update(json_options(extra_json))
    return opts


def rect_to_bbox(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> BBox:
    """A rectangle in any CRS -> EPSG:4326 ``BBox`` (edges densified by QGIS)."""
    if rect is None or rect.isEmpty():
        raise QgsProcessingException("the extent is empty; draw or choose a region first")
    if crs.isValid() and crs != WGS84:
        xform = QgsCoordinateTransform(crs, WGS84, QgsProject.instance())
        rect = xform.transformBoundingBox(rect)
    return BBox(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())


def engine_error(exc: Exception) -> QgsProcessingException:
    """Engine errors become Processing errors with the engine's plain message (and, when a
    package is missing, where the plugin installs it)."""
    from ..gui.deps import install_hint

    kind = type(exc).__name__ if isinstance(exc, RsEmbedError) else "Error"
    hint = install_hint(exc)
    return QgsProcessingException(f"{kind}: {exc}" + (f" {hint}" if hint else ""))


def icon_path() -> str:
    here = Path(__file__).resolve()
    for parent in here.parents:
        p = parent / "resources" / "icons" / "rs_embed.svg"
        if p.exists():
            return str(p)
    return ""


# ---------------------------------------------------------------------------------------
# Parameters shared by several algorithms: add_* declares them, *_from reads them back.
# ---------------------------------------------------------------------------------------
def advanced(p):
    """``p`` shown under "Advanced parameters"."""
    from qgis.core import QgsProcessingParameterDefinition

    p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return p


def add_model_params(alg, multiple: bool = False, data_folder: bool = True) -> None:
    """MODEL (or MODELS), BACKEND, DATA_FOLDER; DEVICE, INPUT_PREP, MODEL_OPTIONS (advanced)."""
    from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterString

    models = model_ids()
    default = "mosaiks" if "mosaiks" in models else models[0]
    if multiple:
        alg.addParameter(QgsProcessingParameterEnum(
            "MODELS", "Models", options=models, allowMultiple=True, defaultValue=[default],
            usesStaticStrings=True))
    else:
        alg.addParameter(QgsProcessingParameterEnum(
            "MODEL", "Model", options=models, defaultValue=default, usesStaticStrings=True))
    if data_folder:
        add_backend_params(alg)
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "DEVICE", "Device", options=DEVICES, defaultValue="auto", usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "INPUT_PREP", "Input preparation (resize: whole ROI at the model's input size; tile: "
        "native resolution in tiles)", options=INPUT_PREPS, defaultValue="resize",
        usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "MODEL_OPTIONS", "Model options (JSON, e.g. {\"weights\": \"/path/ckpt.safetensors\"}; "
        "with several models keyed by model id)", defaultValue="", optional=True)))


def add_time_params(alg) -> None:
    """START/END (half-open window) or YEAR (a whole calendar year, wins when set)."""
    from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterString

    alg.addParameter(QgsProcessingParameterString("START", "Start date (included, YYYY-MM-DD)",
                                                  defaultValue="2022-06-01"))
    alg.addParameter(QgsProcessingParameterString("END", "End date (excluded, YYYY-MM-DD)",
                                                  defaultValue="2022-09-01"))
    alg.addParameter(QgsProcessingParameterNumber(
        "YEAR", "Whole year instead of start/end (empty: use start/end)",
        QgsProcessingParameterNumber.Integer, optional=True, minValue=1970, maxValue=2100))


def temporal_from(alg, parameters, context):
    from ..engine import TemporalSpec

    if parameters.get("YEAR") not in (None, ""):
        return TemporalSpec.year(alg.parameterAsInt(parameters, "YEAR", context))
    start = alg.parameterAsString(parameters, "START", context).strip()
    end = alg.parameterAsString(parameters, "END", context).strip()
    return TemporalSpec.range(start, end)


def describe_temporal(t) -> str:
    s, e = t.bounds()
    return f"[{s}, {e})"


def add_sensor_params(alg, scale_default: float | None = None) -> None:
    """Advanced overrides of the model's default sensor; empty = the model's value."""
    from qgis.core import (
        QgsProcessingParameterEnum,
        QgsProcessingParameterNumber,
        QgsProcessingParameterString,
    )

    alg.addParameter(advanced(QgsProcessingParameterNumber(
        "SENSOR_SCALE", "Input pixel size (m) (empty: the model's)",
        QgsProcessingParameterNumber.Double, defaultValue=scale_default, optional=True, minValue=0.1)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "BANDS", "Input bands, comma-separated (empty: the model's, e.g. B4,B3,B2)",
        defaultValue="", optional=True)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        "CLOUDY_PCT", "Maximum scene cloud cover % (empty: the model's)",
        QgsProcessingParameterNumber.Integer, optional=True, minValue=0, maxValue=100)))
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "COMPOSITE", "Compositing over the window (empty: the model's)", options=["median", "mosaic"],
        optional=True, usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "COLLECTION", "Collection (empty: the model's, e.g. COPERNICUS/S2_SR_HARMONIZED)",
        defaultValue="", optional=True)))


def sensor_from(alg, parameters, context, base):
    """The model's default ``SensorSpec`` with the user's overrides (validated), or None."""
    import dataclasses

    from ..engine import SensorSpec
    from ..engine.errors import SpecError

    over: dict[str, Any] = {}
    if parameters.get("SENSOR_SCALE") not in (None, ""):
        over["scale_m"] = alg.parameterAsDouble(parameters, "SENSOR_SCALE", context)
    bands = alg.parameterAsString(parameters, "BANDS", context) if "BANDS" in parameters else ""
    if bands and bands.strip():
        over["bands"] = tuple(b.strip() for b in bands.split(",") if b.strip())
    if parameters.get("CLOUDY_PCT") not in (None, ""):
        over["cloudy_pct"] = alg.parameterAsInt(parameters, "CLOUDY_PCT", context)
    comp = ""
    if parameters.get("COMPOSITE") not in (None, ""):
        comp = alg.parameterAsEnumString(parameters, "COMPOSITE", context)
    if comp:
        over["composite"] = comp
    coll = alg.parameterAsString(parameters, "COLLECTION", context) if "COLLECTION" in parameters else ""
    if coll and coll.strip():
        over["collection"] = coll.strip()
    if base is None:
        if not over:
            return None
        if "bands" not in over:
            raise SpecError("this model has no default sensor; give BANDS (and COLLECTION)")
        over.setdefault("collection", "COPERNICUS/S2_SR_HARMONIZED")
        return SensorSpec(**over).validate()
    return dataclasses.replace(base, **over).validate()


def model_options_multi(models: list[str], extra_json: str = "") -> dict[str, dict[str, Any]]:
    """Per-model options for several models: settings' weights, then JSON.

    The JSON is either keyed by model id (``{"mosaiks": {...}}``) or one flat object
    applied to every model (the engine's rule, ``pipeline.options_per_model``).
    """
    from ..engine.pipeline import options_per_model

    user = options_per_model(models, json_options(extra_json))
    return {m: {**model_options_for(m), **user[m]} for m in models}


# -- ROIs from a vector layer ------------------------------------------------------------
INVALID_CHOICES = ["skip", "fail"]


def add_roi_params(alg, input_label: str = "ROIs (points or polygons)") -> None:
    """INPUT, BUFFER, BUFFER_FIELD, NAME_FIELD, INVALID_GEOMETRY."""
    from qgis.core import (
        QgsProcessing,
        QgsProcessingParameterEnum,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterNumber,
    )

    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", input_label, [QgsProcessing.TypeVectorAnyGeometry]))
    alg.addParameter(QgsProcessingParameterNumber(
        "BUFFER", "Half-side (m) of the square ROI around each point", QgsProcessingParameterNumber.Double,
        defaultValue=500.0, minValue=0.01))
    alg.addParameter(QgsProcessingParameterField(
        "BUFFER_FIELD", "Per-point half-side (m) from this field (overrides the buffer)",
        parentLayerParameterName="INPUT",
        type=QgsProcessingParameterField.Numeric, optional=True))
    alg.addParameter(QgsProcessingParameterField(
        "NAME_FIELD", "Name field (names outputs; empty: the feature id)", parentLayerParameterName="INPUT",
        optional=True))
    alg.addParameter(QgsProcessingParameterEnum(
        "INVALID_GEOMETRY", "Invalid or empty geometries", options=INVALID_CHOICES, defaultValue="skip",
        usesStaticStrings=True))


class Roi:
    """One input feature as an engine ROI (EPSG:4326) with its id and name."""

    __slots__ = ("fid", "name", "spatial", "attrs")

    def __init__(self, fid: int, name: str, spatial: Any, attrs: dict[str, Any] | None = None):
        self.fid, self.name, self.spatial, self.attrs = fid, name, spatial, attrs or {}


def rois_from(alg, parameters, context, feedback) -> list[Roi]:
    """Every feature of INPUT as a ``PointBuffer`` (points) or ``BBox`` (other geometries).

    Geometries are reprojected to EPSG:4326 first; a polygon's ROI is the lon/lat
    bounding box of its reprojected outline. Invalid/empty geometries (and NULL
    buffers) are skipped with a warning or fail the run (INVALID_GEOMETRY).
    """
    from qgis.core import (
        QgsFeatureRequest,
        QgsGeometry,
        QgsProcessingFeatureSource,
        QgsWkbTypes,
    )

    from ..engine import BBox, PointBuffer
    from ..engine.errors import Cancelled

    source = alg.parameterAsSource(parameters, "INPUT", context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, "INPUT"))
    n = source.featureCount()
    if n == 0:
        raise QgsProcessingException(
            f"the input layer {source.sourceName()!r} has no features; add points or polygons "
            "(or clear 'selected features only')")
    buffer_m = alg.parameterAsDouble(parameters, "BUFFER", context)
    bfield = alg.parameterAsString(parameters, "BUFFER_FIELD", context) or None
    nfield = alg.parameterAsString(parameters, "NAME_FIELD", context) or None
    mode = alg.parameterAsEnumString(parameters, "INVALID_GEOMETRY", context) or "skip"
    fields = source.fields()
    for f in (bfield, nfield):
        if f and fields.indexOf(f) < 0:
            raise QgsProcessingException(f"field {f!r} is not in the input layer (fields: {fields.names()})")
    xform = None
    if source.sourceCrs().isValid() and source.sourceCrs() != WGS84:
        xform = QgsCoordinateTransform(source.sourceCrs(), WGS84, context.transformContext())
    elif not source.sourceCrs().isValid():
        feedback.reportError("the input layer has no CRS; its coordinates are taken as EPSG:4326",
                             fatalError=False)

    def bad(fid: int, why: str) -> None:
        msg = f"feature {fid}: {why}"
        if mode == "fail":
            raise QgsProcessingException(msg + " (set INVALID_GEOMETRY=skip to skip such features)")
        feedback.reportError(msg + "; skipped", fatalError=False)

    out: list[Roi] = []
    req = QgsFeatureRequest()
    feats = source.getFeatures(req, QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks)
    for k, feat in enumerate(feats):
        if feedback.isCanceled():
            raise Cancelled("cancelled by the user")
        fid = int(feat.id())
        geom = QgsGeometry(feat.geometry())
        if geom.isNull() or geom.isEmpty():
            bad(fid, "empty geometry")
            continue
        gtype = QgsWkbTypes.geometryType(geom.wkbType())
        if gtype == QgsWkbTypes.PolygonGeometry and not geom.isGeosValid():
            err = geom.validateGeometry()
            bad(fid, f"invalid geometry ({err[0].what() if err else 'not valid'})")
            continue
        if xform is not None:
            try:
                geom.transform(xform)
            except Exception as exc:  # noqa: BLE001 - QgsCsException: outside the CRS's area
                bad(fid, f"cannot reproject to EPSG:4326: {exc}")
                continue
        name = feat[nfield] if nfield else None
        name = str(fid) if name is None or str(name) in ("", "NULL") else str(name)
        is_point = gtype == QgsWkbTypes.PointGeometry
        parts = geom.asMultiPoint() if is_point and geom.isMultipart() else None
        try:
            if is_point and (parts is None or len(parts) == 1):
                p = parts[0] if parts else geom.asPoint()
                b = buffer_m
                if bfield:
                    v = feat[bfield]
                    try:
                        b = float(v)
                    except (TypeError, ValueError):
                        bad(fid, f"buffer field {bfield!r} is {v!r}, not a number")
                        continue
                    if not b > 0:
                        bad(fid, f"buffer field {bfield!r} is {v!r}; it must be > 0")
                        continue
                spatial = PointBuffer(lon=p.x(), lat=p.y(), buffer_m=b).validate()
            else:
                r = geom.boundingBox()
                if r.width() <= 0 or r.height() <= 0:
                    bad(fid, f"its bounding box has no area ({r.toString(6)})")
                    continue
                spatial = BBox(r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum()).validate()
        except RsEmbedError as exc:
            bad(fid, str(exc))
            continue
        out.append(Roi(fid, name, spatial))
        feedback.setProgress(5 * (k + 1) / max(1, n))
    if not out:
        raise QgsProcessingException(
            f"none of the {n} input features gave a usable ROI (see the warnings above)")
    return out


def footprint_geometry(footprint: dict[str, Any], dest_crs, context, densify: int = 8):
    """The ROI's pixel footprint (``{"crs", "bounds"}``) as a polygon in ``dest_crs``."""
    from qgis.core import QgsGeometry, QgsPointXY

    x_lo, y_lo, x_hi, y_hi = footprint["bounds"]
    corners = ((x_lo, y_lo), (x_hi, y_lo), (x_hi, y_hi), (x_lo, y_hi))
    ring = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        for i in range(densify):
            f = i / densify
            ring.append(QgsPointXY(x0 + f * (x1 - x0), y0 + f * (y1 - y0)))
    ring.append(ring[0])
    geom = QgsGeometry.fromPolygonXY([ring])
    src = QgsCoordinateReferenceSystem(footprint["crs"])
    if dest_crs.isValid() and src != dest_crs:
        geom.transform(QgsCoordinateTransform(src, dest_crs, context.transformContext()))
    return geom


class RsEmbedAlgorithm:
    """Mixin of what every rs_embed algorithm shares: group, icon, instances, metadata."""

    def group(self):
        return "Embeddings"

    def groupId(self):
        return "embeddings"

    def icon(self):
        from qgis.PyQt.QtGui import QIcon

        return QIcon(icon_path())

    def createInstance(self):
        return type(self)()

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API, main thread
        snapshot_settings()
        return True


def warn_random_weights(feedback, meta: dict[str, Any]) -> None:
    if meta.get("random_weights"):
        feedback.reportError("WARNING: this model ran with RANDOM weights; the output is not a "
                             "pretrained embedding.", fatalError=False)


def run_summary(meta: dict[str, Any], **extra: Any) -> str:
    """A JSON string of the run's key metadata (for the METADATA output)."""
    import datetime as _dt

    from ..engine.io import to_json

    keys = ("model", "crs", "transform", "grid_hw", "random_weights", "weights", "temporal",
            "sensor", "output", "backend", "timings")
    summary = {k: meta.get(k) for k in keys if k in meta}
    summary.update(extra)
    summary["written"] = _dt.datetime.now().isoformat(timespec="seconds")
    return to_json(summary)
