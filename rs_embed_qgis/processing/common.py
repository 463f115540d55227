"""Helpers shared by the Processing algorithms: catalog enums, CRS handling, parameters.

Settings become engine options in one place, :mod:`rs_embed_qgis.settings`; the algorithms
read the user's parameters here and hand both to the engine. Every user-visible string goes
through :func:`rs_embed_qgis.i18n.tr`; enums whose home moved between QGIS versions come from
:mod:`rs_embed_qgis.compat`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingException,
    QgsProject,
    QgsRectangle,
)

from .. import compat
from .. import settings as S
from ..engine import BBox
from ..engine.errors import RsEmbedError
from ..i18n import tr

DEVICES = ["auto", "cpu", "cuda"]
PRECISIONS = ["fp32", "fast", "bf16", "int8", "fp16"]  # engine/precision.py, fp32 first: the default
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

    alg.addParameter(QgsProcessingParameterEnum("BACKEND", tr("Backend"), options=backend_names(),
                                                defaultValue="local", usesStaticStrings=True))
    alg.addParameter(QgsProcessingParameterFile(
        "DATA_FOLDER", tr("Local data: folder, STAC catalog.json / ItemCollection / item JSON or .SAFE.zip "
                          "(backend stac: a STAC API URL, empty: Earth Search); empty: settings, then bundled "
                          "sample"),
        behavior=compat.FILE_PARAMETER_FOLDER, optional=True))


def json_options(text: str) -> dict[str, Any]:
    """The JSON object of options the user typed (``{}`` for an empty text)."""
    if not text or not text.strip():
        return {}
    try:
        user = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QgsProcessingException(
            tr("model options must be a JSON object, got {text!r}: {error}").format(text=text, error=exc)) from exc
    if not isinstance(user, dict):
        raise QgsProcessingException(tr("model options must be a JSON object, got {text!r}").format(text=text))
    return user


def _with_precision(alg, parameters, context, user: dict[str, Any]) -> dict[str, Any]:
    """One model's options with PRECISION as its ``precision`` option (fp32, the default, is left
    out; a ``precision`` the user wrote in MODEL_OPTIONS wins)."""
    p = alg.parameterAsEnumString(parameters, "PRECISION", context) if alg.parameterDefinition("PRECISION") else ""
    return user if not p or p == "fp32" or "precision" in user else {**user, "precision": p}


def model_options_from(alg, parameters, context, model: str) -> dict[str, Any]:
    """MODEL_OPTIONS (JSON) for ``model``, with PRECISION and the settings' weights file
    (``settings.model_options``)."""
    user = json_options(alg.parameterAsString(parameters, "MODEL_OPTIONS", context))
    return S.model_options(model, _with_precision(alg, parameters, context, user))


def provider_options_from(alg, parameters, context, backend: str) -> dict[str, Any]:
    """BACKEND's provider options: DATA_FOLDER or the settings (``settings.provider_options``)."""
    folder = alg.parameterAsFile(parameters, "DATA_FOLDER", context) if "DATA_FOLDER" in parameters else ""
    return S.provider_options(backend, folder or None)


def embed_request(alg, parameters, context, spatials, output):
    """The engine's ``EmbedRequest`` for the shared model, data, time and sensor parameters: what
    ``embed_extent`` and ``embed_features`` run, and what the dock shows before it runs them."""
    from ..engine import get_embedder
    from ..engine.pipeline import EmbedRequest

    model = alg.parameterAsEnumString(parameters, "MODEL", context)
    backend = alg.parameterAsEnumString(parameters, "BACKEND", context)
    device = S.device_for(model, alg.parameterAsEnumString(parameters, "DEVICE", context))
    mopts = model_options_from(alg, parameters, context, model)
    temporal = temporal_from(alg, parameters, context)
    base = get_embedder(model, device=device, model_options=mopts or None).default_sensor()
    return EmbedRequest(
        model=model, spatials=list(spatials), temporal=temporal, output=output,
        sensor=sensor_from(alg, parameters, context, base), backend=backend, device=device,
        input_prep=alg.parameterAsEnumString(parameters, "INPUT_PREP", context),
        model_options=mopts, provider_options=provider_options_from(alg, parameters, context, backend))


def check_time_and_sensor(alg, parameters, context) -> tuple[bool, str]:
    """``checkParameterValues`` of the shared time and sensor parameters: a bad window or band list
    is refused before a run starts, in the engine's words."""
    try:
        temporal_from(alg, parameters, context)
        bands = alg.parameterAsString(parameters, "BANDS", context) if "BANDS" in parameters else ""
        if bands and not [b for b in bands.split(",") if b.strip()]:
            raise QgsProcessingException(tr("the band list {bands!r} names no band; leave it empty for the "
                                            "model's bands or give e.g. B4,B3,B2").format(bands=bands))
    except (RsEmbedError, ValueError, QgsProcessingException) as exc:
        return False, str(exc)
    return True, ""


def rect_to_bbox(rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> BBox:
    """A rectangle in any CRS -> EPSG:4326 ``BBox`` (edges densified by QGIS)."""
    if rect is None or rect.isEmpty():
        raise QgsProcessingException(tr("the extent is empty; draw or choose a region first"))
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
    p.setFlags(p.flags() | compat.PARAMETER_ADVANCED)
    return p


def add_model_params(alg, multiple: bool = False, data_folder: bool = True) -> None:
    """MODEL (or MODELS), BACKEND, DATA_FOLDER; DEVICE, INPUT_PREP, MODEL_OPTIONS (advanced)."""
    from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterString

    models = model_ids()
    default = "mosaiks" if "mosaiks" in models else models[0]
    if multiple:
        alg.addParameter(QgsProcessingParameterEnum(
            "MODELS", tr("Models"), options=models, allowMultiple=True, defaultValue=[default],
            usesStaticStrings=True))
    else:
        alg.addParameter(QgsProcessingParameterEnum(
            "MODEL", tr("Model"), options=models, defaultValue=default, usesStaticStrings=True))
    if data_folder:
        add_backend_params(alg)
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "DEVICE", tr("Device"), options=DEVICES, defaultValue="auto", usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "PRECISION", tr("Arithmetic (fp32: exact; fast: bf16 or int8 for this device, about 1.5-3x faster "
                        "for the ViT models, within cosine 0.999 of fp32; recorded in the metadata)"),
        options=PRECISIONS, defaultValue="fp32", usesStaticStrings=True,
        optional=True)))  # optional: models saved before it existed still validate
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "INPUT_PREP", tr("Input preparation (resize: whole ROI at the model's input size; tile: "
                         "native resolution in tiles)"), options=INPUT_PREPS, defaultValue="resize",
        usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "MODEL_OPTIONS", tr("Model options (JSON, e.g. {\"weights\": \"/path/ckpt.safetensors\"}; "
                            "with several models keyed by model id)"), defaultValue="", optional=True)))


def add_time_params(alg) -> None:
    """START/END (half-open window) or YEAR (a whole calendar year, wins when set)."""
    from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterString

    alg.addParameter(QgsProcessingParameterString("START", tr("Start date (included, YYYY-MM-DD)"),
                                                  defaultValue="2022-06-01"))
    alg.addParameter(QgsProcessingParameterString("END", tr("End date (excluded, YYYY-MM-DD)"),
                                                  defaultValue="2022-09-01"))
    alg.addParameter(QgsProcessingParameterNumber(
        "YEAR", tr("Whole year instead of start/end (empty: use start/end)"),
        compat.NUMBER_INTEGER, optional=True, minValue=1970, maxValue=2100))


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
        "SENSOR_SCALE", tr("Input pixel size (m) (empty: the model's)"),
        compat.NUMBER_DOUBLE, defaultValue=scale_default, optional=True, minValue=0.1)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "BANDS", tr("Input bands, comma-separated (empty: the model's, e.g. B4,B3,B2)"),
        defaultValue="", optional=True)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        "CLOUDY_PCT", tr("Maximum scene cloud cover % (empty: the model's)"),
        compat.NUMBER_INTEGER, optional=True, minValue=0, maxValue=100)))
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        "COMPOSITE", tr("Compositing over the window (empty: the model's)"), options=["median", "mosaic"],
        optional=True, usesStaticStrings=True)))
    alg.addParameter(advanced(QgsProcessingParameterString(
        "COLLECTION", tr("Collection (empty: the model's, e.g. COPERNICUS/S2_SR_HARMONIZED)"),
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


def model_options_multi(alg, parameters, context, models: list[str]) -> dict[str, dict[str, Any]]:
    """Per-model options for several models: the settings' weights, then MODEL_OPTIONS (keyed by
    model id, or one object for every model: ``settings.model_options_multi``)."""
    from ..engine.pipeline import options_per_model

    user = options_per_model(models, json_options(alg.parameterAsString(parameters, "MODEL_OPTIONS", context)))
    return S.model_options_multi(models, {m: _with_precision(alg, parameters, context, o) for m, o in user.items()})


# -- ROIs from a vector layer ------------------------------------------------------------
INVALID_CHOICES = ["skip", "fail"]


def add_roi_params(alg, input_label: str | None = None) -> None:
    """INPUT, BUFFER, BUFFER_FIELD, NAME_FIELD, INVALID_GEOMETRY."""
    from qgis.core import (
        QgsProcessingParameterEnum,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
        QgsProcessingParameterNumber,
    )

    alg.addParameter(QgsProcessingParameterFeatureSource(
        "INPUT", input_label or tr("ROIs (points or polygons)"), [compat.SOURCE_VECTOR_ANY]))
    alg.addParameter(QgsProcessingParameterNumber(
        "BUFFER", tr("Half-side (m) of the square ROI around each point"), compat.NUMBER_DOUBLE,
        defaultValue=500.0, minValue=0.01))
    alg.addParameter(QgsProcessingParameterField(
        "BUFFER_FIELD", tr("Per-point half-side (m) from this field (overrides the buffer)"),
        parentLayerParameterName="INPUT", type=compat.FIELD_NUMERIC, optional=True))
    alg.addParameter(QgsProcessingParameterField(
        "NAME_FIELD", tr("Name field (names outputs; empty: the feature id)"), parentLayerParameterName="INPUT",
        optional=True))
    alg.addParameter(QgsProcessingParameterEnum(
        "INVALID_GEOMETRY", tr("Invalid or empty geometries"), options=INVALID_CHOICES, defaultValue="skip",
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
    from qgis.core import QgsFeatureRequest, QgsGeometry, QgsWkbTypes

    from ..engine import BBox, PointBuffer
    from ..engine.errors import Cancelled

    source = alg.parameterAsSource(parameters, "INPUT", context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, "INPUT"))
    n = source.featureCount()
    if n == 0:
        raise QgsProcessingException(
            tr("the input layer {name!r} has no features; add points or polygons "
               "(or clear 'selected features only')").format(name=source.sourceName()))
    buffer_m = alg.parameterAsDouble(parameters, "BUFFER", context)
    bfield = alg.parameterAsString(parameters, "BUFFER_FIELD", context) or None
    nfield = alg.parameterAsString(parameters, "NAME_FIELD", context) or None
    mode = alg.parameterAsEnumString(parameters, "INVALID_GEOMETRY", context) or "skip"
    fields = source.fields()
    for f in (bfield, nfield):
        if f and fields.indexOf(f) < 0:
            raise QgsProcessingException(tr("field {field!r} is not in the input layer (fields: {fields})")
                                         .format(field=f, fields=fields.names()))
    xform = None
    if source.sourceCrs().isValid() and source.sourceCrs() != WGS84:
        xform = QgsCoordinateTransform(source.sourceCrs(), WGS84, context.transformContext())
    elif not source.sourceCrs().isValid():
        feedback.reportError(tr("the input layer has no CRS; its coordinates are taken as EPSG:4326"),
                             fatalError=False)

    def bad(fid: int, why: str) -> None:
        msg = tr("feature {fid}: {why}").format(fid=fid, why=why)
        if mode == "fail":
            raise QgsProcessingException(msg + tr(" (set INVALID_GEOMETRY=skip to skip such features)"))
        feedback.reportError(msg + tr("; skipped"), fatalError=False)

    out: list[Roi] = []
    req = QgsFeatureRequest()
    feats = source.getFeatures(req, compat.SOURCE_SKIP_GEOMETRY_CHECKS)
    for k, feat in enumerate(feats):
        if feedback.isCanceled():
            raise Cancelled("cancelled by the user")
        fid = int(feat.id())
        geom = QgsGeometry(feat.geometry())
        if geom.isNull() or geom.isEmpty():
            bad(fid, "empty geometry")
            continue
        gtype = QgsWkbTypes.geometryType(geom.wkbType())
        if gtype == compat.GEOMETRY_POLYGON and not geom.isGeosValid():
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
        is_point = gtype == compat.GEOMETRY_POINT
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
            tr("none of the {n} input features gave a usable ROI (see the warnings above)").format(n=n))
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
        return tr("Embeddings")

    def groupId(self):
        return "embeddings"

    def icon(self):
        from qgis.PyQt.QtGui import QIcon

        return QIcon(icon_path())

    def createInstance(self):
        return type(self)()

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API, main thread
        S.snapshot()
        return True


def drop_if_cancelled(feedback, paths) -> bool:
    """A cancel that arrived while the outputs were written wins: they are removed again, so a
    cancelled run leaves nothing (True if so)."""
    if not feedback.isCanceled():
        return False
    for p in paths:
        if p:
            Path(p).unlink(missing_ok=True)
    feedback.pushInfo(tr("cancelled; nothing was written"))
    return True


def warn_random_weights(feedback, meta: dict[str, Any]) -> None:
    if meta.get("random_weights"):
        feedback.reportError(tr("WARNING: this model ran with RANDOM weights; the output is not a "
                                "pretrained embedding."), fatalError=False)


def warn_coverage(feedback, meta: dict[str, Any], who: str = "") -> list[str]:
    """Report the run's warnings (an ROI partly covered by valid data) in the feedback log;
    returns them."""
    found = [f"{who}: {w}" if who else w for w in meta.get("warnings") or []]
    for w in found:
        feedback.reportError(tr("WARNING: {warning}").format(warning=w), fatalError=False)
    return found


def run_summary(meta: dict[str, Any], **extra: Any) -> str:
    """A JSON string of the run's key metadata (for the METADATA output), as
    :func:`engine.provenance.public` writes it."""
    import datetime as _dt

    from ..engine.io import to_json
    from ..engine.provenance import public

    keys = ("model", "crs", "transform", "grid_hw", "random_weights", "weights", "temporal",
            "sensor", "output", "backend", "precision", "timings", "coverage", "warnings")
    summary = {k: meta.get(k) for k in keys if k in meta}
    summary.update(extra)
    summary["written"] = _dt.datetime.now().isoformat(timespec="seconds")
    return to_json(public(summary))  # no credentials; no private paths unless asked for
