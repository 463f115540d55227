"""The provider registry: data backends by name (``local``, ``gee``, ...), imported when used.

    register_provider("local", "rs_embed_qgis.engine.providers.local:LocalProvider")
    get_provider("local", {"root": "/data/s2"})   # one cached instance per (backend, options)
    list_providers()                               # [ProviderInfo(name, available, error, ...)]

A provider is a :class:`~.base.Provider` subclass in its own module; adding one is that
module plus one :func:`register_provider` line at the end of this file. Its module is
imported on first use, so a backend whose dependencies are missing (earthengine-api)
breaks only itself: :func:`list_providers` shows it unavailable with the reason, and
:func:`get_provider` raises a :class:`~..errors.ProviderError` naming it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError
from ..imports import TargetCache, missing_modules


@dataclass(frozen=True)
class ProviderEntry:
    """Where a provider's class lives and what it needs (nothing imported)."""

    name: str
    target: str | type          # "package.module:Class", or the class itself
    requires: tuple[str, ...] = ()  # import names the provider needs at run time (e.g. "ee")
    install: str = ""           # how to get them
    description: str = ""


@dataclass(frozen=True)
class ProviderInfo:
    """What :func:`list_providers` tells about one provider."""

    name: str
    available: bool
    error: str | None           # why it is not available: its import error or a missing module
    requires: tuple[str, ...]
    description: str


_lock = threading.RLock()
_entries: dict[str, ProviderEntry] = {}
_classes = TargetCache("backend", ProviderError)  # the classes, imported on first use
_instances: dict[tuple[Any, ...], Any] = {}


def freeze_options(options: dict[str, Any] | None) -> tuple[Any, ...]:
    """A hashable key of an options dict (values by ``repr``), for caches keyed by options."""
    return tuple(sorted((k, repr(v)) for k, v in (options or {}).items()))


def register_provider(name: str, target: str | type, *, requires: tuple[str, ...] = (),
                      install: str = "", description: str = "") -> None:
    """Make ``name`` a backend: ``target`` is ``"module:Class"`` (imported on first use) or a class."""
    key = str(name).strip().lower()
    if not key:
        raise ProviderError(f"a provider name must be a non-empty string, got {name!r}")
    if isinstance(target, str) and ":" not in target:
        raise ProviderError(f"provider target must look like 'package.module:Class', got {target!r}")
    with _lock:
        _entries[key] = ProviderEntry(key, target, tuple(requires), install, description)
        _classes.forget(key)
        for k in [k for k in _instances if k[0] == key]:
            del _instances[k]


def provider_names() -> tuple[str, ...]:
    """Every registered backend name, in registration order (available or not)."""
    with _lock:
        return tuple(_entries)


def _load_class(key: str) -> type:
    """The provider's class, importing its module once; a failed import is recorded (and cleaned up)."""
    with _lock:
        return _classes.load(key, _entries[key].target)


def list_providers() -> list[ProviderInfo]:
    """Every backend with whether it can be used here and, if not, why (imports its module)."""
    out = []
    for key in provider_names():
        entry = _entries[key]
        error = None
        try:
            _load_class(key)
        except ProviderError:
            error = _classes.errors.get(key)
        if error is None:
            missing = missing_modules(entry.requires)
            if missing:
                error = f"needs {', '.join(missing)}" + (f" ({entry.install})" if entry.install else "")
        out.append(ProviderInfo(key, error is None, error, entry.requires, entry.description))
    return out


def get_provider(backend: str, provider_options: dict[str, Any] | None = None) -> Any:
    """The cached provider instance for a backend name and its options (built once, thread-safe)."""
    key = str(backend).strip().lower() if isinstance(backend, str) else backend
    with _lock:
        if key not in _entries:
            raise ProviderError(f"backend must be one of {provider_names()}, got {backend!r}")
        ikey = (key, freeze_options(provider_options))
        prov = _instances.get(ikey)
        if prov is not None:
            return prov
        entry = _entries[key]
        missing = missing_modules(entry.requires)
        if missing:
            raise ProviderError(
                f"backend {key!r} needs {', '.join(missing)}, which cannot be imported here"
                + (f"; {entry.install}" if entry.install else ""))
        prov = _load_class(key)(**dict(provider_options or {}))
        _instances[ikey] = prov
        return prov


def clear_provider_cache() -> int:
    """Drop the cached provider instances (e.g. after changing credentials); returns how many there were."""
    with _lock:
        n = len(_instances)
        _instances.clear()
        return n


# -- the built-in backends: one line each --------------------------------------------------------
register_provider("local", f"{__name__}.local:LocalProvider",
                  description="Sentinel-2 as downloaded: SAFE products, STAC items with their files, per-band "
                              "files, GeoTIFF stacks")
register_provider("gee", f"{__name__}.gee:GEEProvider", requires=("ee",),
                  install="pip install 'rs-embed-qgis[gee]' (earthengine-api)",
                  description="Google Earth Engine image collections, fetched with computePixels")
register_provider("stac", f"{__name__}.stac:STACProvider", requires=("pystac_client",),
                  install="pip install 'rs-embed-qgis[stac]' (pystac-client; planetary-computer to sign "
                          "Planetary Computer URLs)",
                  description="Sentinel-2 from a STAC API (Earth Search, Planetary Computer, any URL), read over HTTP")

__all__ = ["register_provider", "get_provider", "list_providers", "provider_names", "clear_provider_cache",
           "freeze_options", "ProviderEntry", "ProviderInfo"]
