"""Make this machine's system Python look like the Python of a stock QGIS.

tests/desktop puts this folder on PYTHONPATH of the real ``qgis`` binary. A stock QGIS has
its Python with numpy, GDAL's ``osgeo``, PyQt and QGIS's own dependencies; this machine's
system Python also holds what the project's setup installs for the development venv
(python3-rasterio, python3-pyproj, python3-scipy, matplotlib, Pillow from Debian). Those, and
every other package the project can use, are hidden: not importable, and without metadata, from
the system's site folders. A copy in any other folder (the plugin's dependency folder, once its
installer ran) imports normally, as it would in a stock QGIS.

The standard path finder is wrapped rather than followed by a blocker, so a hidden module
looks exactly like an absent one (``importlib.util.find_spec`` returns None, ``import`` raises
ModuleNotFoundError). Every attempt to import a hidden name is recorded in
``sys.rs_embed_hidden_attempts`` (name, whether it was found elsewhere) for the test's verdict.
"""
import importlib.machinery
import os
import site
import sys
from importlib.metadata import DistributionFinder

HIDDEN = frozenset(filter(None, os.environ.get("RS_EMBED_HIDDEN_MODULES", "").split(",")))
SYSTEM_SITES = frozenset(os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()])
_PathFinder = importlib.machinery.PathFinder


def _visible_path(path):
    return [p for p in (path if path is not None else sys.path)
            if os.path.realpath(p or os.getcwd()) not in SYSTEM_SITES]


def _normalize(name):
    return name.replace("-", "_").replace(".", "_").lower()


_HIDDEN_DISTS = frozenset(_normalize(n) for n in HIDDEN) | frozenset(
    _normalize(n) for n in os.environ.get("RS_EMBED_HIDDEN_DISTRIBUTIONS", "").split(",") if n)


class StockQgisPathFinder:
    """sys.meta_path's PathFinder, blind to the system site folders for the hidden names."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if path is None and fullname.partition(".")[0] in HIDDEN:
            spec = _PathFinder.find_spec(fullname, _visible_path(None), target)
            sys.rs_embed_hidden_attempts.append((fullname, spec is not None))
            return spec
        return _PathFinder.find_spec(fullname, path, target)

    @staticmethod
    def find_distributions(context=DistributionFinder.Context()):
        if context.name is not None and _normalize(context.name) in _HIDDEN_DISTS:
            context = DistributionFinder.Context(name=context.name, path=_visible_path(context.path))
        return _PathFinder.find_distributions(context)

    @staticmethod
    def invalidate_caches():
        _PathFinder.invalidate_caches()


if HIDDEN:
    sys.rs_embed_hidden_attempts = []
    sys.meta_path[:] = [StockQgisPathFinder if f is _PathFinder else f for f in sys.meta_path]
