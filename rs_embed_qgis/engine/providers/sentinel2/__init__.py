"""Sentinel-2 as users have it: SAFE products (folders and zips), loose per-band files
and multi-band stacks, STAC items (Earth Search, Planetary Computer, Copernicus Data
Space), each turned into :class:`Scene` objects with their radiometry rules.

Modules: :mod:`.scene` (the Scene), :mod:`.radiometry` (stored values -> reflectance
x 10000), :mod:`.safe`, :mod:`.stac_items`, :mod:`.files`. Importing this package
needs the standard library and numpy only; files are opened through ``engine.geoio``.
"""
from .scene import Scene

__all__ = ["Scene"]
