"""Helpers shared by the Processing algorithms: catalog enums, CRS handling, settings."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

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
BACKENDS = ["local", "gee"]
DEVICES = ["auto", "cpu", "cuda"]
INPUT_PREPS = ["resize", "tile"]
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def model_ids() -> List[str]:
    from ..engine import list_models

    return list_models()


def setting(key: str, default: Any = None) -> Any:
    return QgsSettings().value(f"{SETTINGS_PREFIX}/{key}", default)


def local_data_folder(explicit: Optional[str] = None) -> Optional[str]:
    """Explicit parameter > plugin setting > RS_EMBED_LOCAL_DATA > bundled sample."""
    for cand in (explicit, setting("local_data"), os.environ.get("RS_EMBED_LOCAL_DATA")):
        if cand:
            return str(cand)
    return None


def provider_options(backend: str, data_folder: Optional[str]) -> Dict[str, Any]:
    if backend == "local":
        folder = local_data_folder(data_folder)
        return {"root": folder} if folder else {}
    opts: Dict[str, Any] = {}
    project = setting("gee_project") or os.environ.get("EE_PROJECT_ID") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if project:
        opts["project"] = project
    return opts


def model_options_for(model: str, extra_json: str = "") -> Dict[str, Any]:
    """Per-model weights path from the settings, plus JSON options typed by the user."""
    opts: Dict[str, Any] = {}
    wpath = setting(f"weights/{model}")
    if wpath:
        opts["weights"] = str(wpath)
    if extra_json and extra_json.strip():
        try:
            user = json.loads(extra_json)
        except json.JSONDecodeError as exc:
            raise QgsProcessingException(f"model options must be a JSON object, got {extra_json!r}: {exc}")
        if not isinstance(user, dict):
            raise QgsProcessingException(f"model options must be a JSON object, got {extra_json!r}")
        opts.update(user)
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
    """Engine errors become Processing errors with the engine's plain message."""
    kind = type(exc).__name__ if isinstance(exc, RsEmbedError) else "Error"
    return QgsProcessingException(f"{kind}: {exc}")


def icon_path() -> str:
    here = Path(__file__).resolve()
    for parent in here.parents:
        p = parent / "resources" / "icons" / "rs_embed.svg"
        if p.exists():
            return str(p)
    return ""
