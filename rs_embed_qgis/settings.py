"""The plugin's settings (``QgsSettings`` under ``rs_embed/``) and the one place they become
engine options.

The dock, the settings dialog and every Processing algorithm read the settings here, and
:func:`provider_options`, :func:`model_options` and :func:`device_for` turn them into what the
engine takes, so a run from the dock and the same run from the toolbox or ``qgis_process`` get
the same options. Environment variables the engine knows (``RS_EMBED_LOCAL_DATA``, the Earth
Engine project variables) stay the engine's fallbacks and are not read a second time here.

``QgsSettings`` is not safe off the main thread (one global settings object): algorithms call
:func:`snapshot` in ``prepareAlgorithm`` (main thread), and code running in a worker thread
reads that copy.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PREFIX = "rs_embed"
KEYS = ("default_backend", "local_data", "gee_project", "cache_dir", "device", "output_dir", "max_memory_gb",
        "ask_memory_gb", "full_provenance", "min_valid_fraction")
#: settings the engine reads from the environment: setting -> variable (engine/budget.py, engine/provenance.py)
ENVIRONMENT = {"cache_dir": "RS_EMBED_CACHE", "max_memory_gb": "RS_EMBED_MAX_MEMORY_GB",
               "ask_memory_gb": "RS_EMBED_ASK_MEMORY_GB", "full_provenance": "RS_EMBED_FULL_PROVENANCE"}

_snapshot: dict[str, Any] = {}
_snapshot_lock = threading.Lock()


def _in_main_thread() -> bool:
    # plain Python: no Qt call from a worker thread just to ask where we are
    return threading.current_thread() is threading.main_thread()


def snapshot() -> None:
    """Copy every ``rs_embed/*`` setting for worker threads; call on the main thread."""
    from qgis.core import QgsSettings

    qs = QgsSettings()
    qs.beginGroup(PREFIX)
    values = {k: qs.value(k) for k in qs.allKeys()}
    qs.endGroup()
    with _snapshot_lock:
        _snapshot.clear()
        _snapshot.update(values)


def get(key: str, default: Any = None) -> Any:
    """The setting ``rs_embed/<key>`` (``default`` when unset or empty)."""
    if _in_main_thread():
        from qgis.core import QgsSettings

        value = QgsSettings().value(f"{PREFIX}/{key}", None)
    else:
        with _snapshot_lock:
            value = _snapshot.get(key)
    return default if value in (None, "") else value


def put(key: str, value: Any) -> None:
    """Store ``rs_embed/<key>``; an empty value removes it (the default applies again)."""
    from qgis.core import QgsSettings

    s = QgsSettings()
    if value in (None, ""):
        s.remove(f"{PREFIX}/{key}")
    else:
        s.setValue(f"{PREFIX}/{key}", value)


def weights_path(model: str) -> str | None:
    return get(f"weights/{model}")


def set_weights_path(model: str, path: str | None) -> None:
    put(f"weights/{model}", path)


def local_data_folder(explicit: str | None = None) -> str:
    """Explicit folder > setting > ``RS_EMBED_LOCAL_DATA`` > the sample bundled with the plugin."""
    from .engine.providers.local import bundled_sample_dir

    for cand in (explicit, get("local_data"), os.environ.get("RS_EMBED_LOCAL_DATA")):
        if cand:
            return str(cand)
    return str(bundled_sample_dir())


def output_dir() -> str:
    """Where the dock writes its outputs: the setting, else ``<weights cache>/outputs``."""
    d = get("output_dir")
    if d:
        return str(d)
    from .engine.weights import cache_dir

    return str(Path(cache_dir()) / "outputs")


def apply_environment() -> None:
    """Settings that the engine reads from the environment: the weights cache, the memory limit
    and the "ask before" size of a run, full provenance. An unset setting leaves the variable
    as the user's environment has it."""
    for key, var in ENVIRONMENT.items():
        value = get(key)
        if value is not None:
            os.environ[var] = "off" if key.endswith("_gb") and float(value) == 0 else str(value)


# --------------------------------------------------------------------------- settings -> options

def provider_options(backend: str, data_folder: str | None = None) -> dict[str, Any]:
    """The engine's ``provider_options`` for ``backend``: the local data (``root``: a folder, a
    STAC catalog/item file or a ``.SAFE.zip``), the STAC API URL, or the Earth Engine project
    from the settings. Without a project setting the engine falls back
    to its environment variables (``RS_EMBED_GEE_PROJECT``, ``EARTHENGINE_PROJECT``,
    ``GOOGLE_CLOUD_PROJECT``)."""
    from .engine.providers.sanity import MIN_VALID_FRACTION

    opts: dict[str, Any] = {}
    least = get("min_valid_fraction")  # the least share of a region with valid data
    if least is not None and float(least) != MIN_VALID_FRACTION and backend in ("local", "gee", "stac"):
        opts["min_valid_fraction"] = float(least)
    if backend == "local":
        return {"root": local_data_folder(data_folder), **opts}
    if backend == "gee":
        project = get("gee_project")
        return {"project": str(project), **opts} if project else opts
    if backend == "stac":  # an API URL in the data field, the settings or RS_EMBED_STAC_URL; else Earth Search
        for url in (data_folder, get("stac_url"), os.environ.get("RS_EMBED_STAC_URL")):
            if url and str(url).startswith(("http://", "https://")):
                return {"url": str(url), **opts}
    return opts


def model_options(model: str, user: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The engine's ``model_options`` for ``model``: the weights file from the settings, then
    what the user gave (which wins, e.g. ``weights``, ``allow_random_weights``)."""
    opts: dict[str, Any] = {}
    w = weights_path(model)
    if w:
        opts["weights"] = str(w)
    opts.update(user or {})
    return opts


def model_options_multi(models: Iterable[str], user: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`model_options` for several models; ``user`` is keyed by model id or one flat object
    for every model (the engine's rule, ``pipeline.options_per_model``)."""
    from .engine.pipeline import options_per_model

    models = list(models)
    per = options_per_model(models, dict(user or {}))
    return {m: model_options(m, per[m]) for m in models}


def device_for(models: str | Iterable[str], device: str | None = None) -> str:
    """The device to ask the engine for: the given one (else the setting, else ``auto``), but
    ``cpu`` for ``auto`` when no model of ``models`` needs torch (resolving ``auto`` imports
    torch, seconds holding the GIL, for a numpy model such as MOSAIKS)."""
    device = device or get("device", "auto") or "auto"
    if device != "auto":
        return device
    from .engine import describe_model
    from .engine.errors import RsEmbedError

    for model in [models] if isinstance(models, str) else list(models):
        try:
            requires = describe_model(model).get("requires") or []
        except RsEmbedError:
            return device  # an unknown model: the run reports it
        if not requires or "torch" in requires:
            return device
    return "cpu"
