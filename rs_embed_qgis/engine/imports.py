"""Optional imports that break only what needs them (models of the catalog, providers of the
registry): which modules cannot be imported here, and an import that, when it fails,
removes every module of our package that appeared during it, so no half-initialised
module is used and a retry (after installing what was missing) starts clean.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

_ROOT = __name__.split(".")[0]  # rs_embed_qgis
log = logging.getLogger(__name__)


def missing_modules(names: Iterable[str]) -> list[str]:
    """The import names among ``names`` that cannot be imported here (none is imported)."""
    out = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:  # imported ones answer from sys.modules
                out.append(name)
        except ValueError:  # imported without a spec (e.g. a stand-in module put into sys.modules)
            if sys.modules.get(name) is None:
                out.append(name)
        except ImportError:  # a missing parent package
            out.append(name)
    return out


def _forget(names: Iterable[str]) -> None:
    """Remove modules of our package from ``sys.modules`` and from their parent package."""
    for name in sorted(names, key=len, reverse=True):     # children before parents
        if name != _ROOT and not name.startswith(_ROOT + "."):
            continue
        mod = sys.modules.pop(name, None)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name)
        if parent is not None and mod is not None and getattr(parent, child, None) is mod:
            delattr(parent, child)


def import_cleanly(name: str) -> ModuleType:
    """``importlib.import_module(name)``; on failure our modules it created are removed, then it raises."""
    before = set(sys.modules)
    try:
        return importlib.import_module(name)
    except BaseException:
        _forget(set(sys.modules) - before)
        raise


def import_target(target: str) -> Any:
    """The object a ``"package.module:Name"`` target names, its module imported with :func:`import_cleanly`."""
    modname, _, attr = target.partition(":")
    return getattr(import_cleanly(modname), attr)


class TargetCache:
    """What the registries (providers, export formats) share: objects named by ``"module:Name"``
    targets (or given as the objects themselves), imported once per key; a failed import is
    recorded in ``errors`` (for the registry's listing), logged, and raised as ``error_cls``
    naming the key. The caller holds its registry's lock."""

    def __init__(self, what: str, error_cls: type[Exception]) -> None:
        self.what, self.error_cls = what, error_cls
        self.loaded: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def __copy__(self) -> TargetCache:  # a registry's state saved and restored (tests)
        new = TargetCache(self.what, self.error_cls)
        new.loaded, new.errors = dict(self.loaded), dict(self.errors)
        return new

    def forget(self, key: str) -> None:
        self.loaded.pop(key, None)
        self.errors.pop(key, None)

    def load(self, key: str, target: str | Any) -> Any:
        if key in self.loaded:
            return self.loaded[key]
        try:
            obj = import_target(target) if isinstance(target, str) else target
        except Exception as exc:  # noqa: BLE001 - any import failure makes this one entry unavailable
            self.errors[key] = f"{type(exc).__name__}: {exc}"
            log.warning("%s %r could not be imported: %s", self.what, key, self.errors[key])
            raise self.error_cls(f"{self.what} {key!r} could not be imported ({self.errors[key]})") from exc
        self.errors.pop(key, None)
        self.loaded[key] = obj
        return obj


__all__ = ["missing_modules", "import_cleanly", "import_target", "TargetCache"]
