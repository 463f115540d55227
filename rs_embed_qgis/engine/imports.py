"""Optional imports that break only what needs them (models of the catalog, providers of the
registry): which modules cannot be imported here, and an import that, when it fails,
removes every module of our package that appeared during it, so no half-initialised
module is used and a retry (after installing what was missing) starts clean.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

_ROOT = __name__.split(".")[0]  # rs_embed_qgis


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


__all__ = ["missing_modules", "import_cleanly", "import_target"]
