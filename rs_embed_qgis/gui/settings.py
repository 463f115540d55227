"""Plugin settings in QgsSettings (``rs_embed/...``), read by the dock and the Processing tools."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import QgsSettings

PREFIX = "rs_embed"
KEYS = ("default_backend", "local_data", "gee_project", "cache_dir", "device", "output_dir")


def get(key: str, default: Any = None) -> Any:
    v = QgsSettings().value(f"{PREFIX}/{key}", default)
    return default if v in (None, "") else v


def put(key: str, value: Any) -> None:
    s = QgsSettings()
    if value in (None, ""):
        s.remove(f"{PREFIX}/{key}")
    else:
        s.setValue(f"{PREFIX}/{key}", value)


def weights_path(model: str) -> str | None:
    return get(f"weights/{model}")


def set_weights_path(model: str, path: str | None) -> None:
    put(f"weights/{model}", path)


def bundled_sample() -> str:
    from . import find_resource

    return find_resource("resources", "sample_data")


def local_data_folder() -> str:
    """Setting > RS_EMBED_LOCAL_DATA > the bundled sample."""
    return str(get("local_data") or os.environ.get("RS_EMBED_LOCAL_DATA") or bundled_sample())


def output_dir() -> str:
    d = get("output_dir")
    if d:
        return str(d)
    from ..engine.weights import cache_dir

    return str(Path(cache_dir()) / "outputs")


def apply_environment() -> None:
    """Settings that the engine reads from the environment (the weights cache)."""
    cache = get("cache_dir")
    if cache:
        os.environ["RS_EMBED_CACHE"] = str(cache)
