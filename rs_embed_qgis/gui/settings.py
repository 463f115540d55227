"""Plugin settings in QgsSettings (``rs_embed/...``), read by the dock and the Processing tools."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import QgsSettings

PREFIX = "rs_embed"
KEYS = ("default_backend", "local_data", "gee_project", "cache_dir", "device", "output_dir", "max_memory_gb",
        "ask_memory_gb", "full_provenance")
#: settings the engine reads from the environment: setting -> variable (engine/budget.py, engine/provenance.py)
ENVIRONMENT = {"cache_dir": "RS_EMBED_CACHE", "max_memory_gb": "RS_EMBED_MAX_MEMORY_GB",
               "ask_memory_gb": "RS_EMBED_ASK_MEMORY_GB", "full_provenance": "RS_EMBED_FULL_PROVENANCE"}


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
    """Settings that the engine reads from the environment: the weights cache, the memory limit
    and the "ask before" size of a run, full provenance. An unset setting leaves the variable
    as the user's environment has it."""
    for key, var in ENVIRONMENT.items():
        value = get(key)
        if value is not None:
            os.environ[var] = "off" if key.endswith("_gb") and float(value) == 0 else str(value)
