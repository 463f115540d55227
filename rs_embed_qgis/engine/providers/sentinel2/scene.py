"""A scene: one Sentinel-2 acquisition of one tile, as the providers index it."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from .radiometry import Scaling


@dataclass
class Scene:
    """One acquisition: band name -> (file, 1-based band index), with its metadata.

    ``bands`` holds paths GDAL opens (a file, ``/vsizip/...`` inside a zip,
    ``/vsicurl/...`` for the STAC backend). ``scaling`` holds the band rules the
    product's metadata gives (see :mod:`.radiometry`); bands without one are
    scaled from their GDAL metadata when read. ``meta`` keeps where the scene
    came from (``source``), ``level`` (L2A/L1C), ``tile``, ``processing_baseline``,
    ``datetime`` and, for the error messages, ``unrecognised`` band names.
    """

    id: str
    date: _dt.date
    bands: dict[str, tuple[str, int]]
    bounds_4326: tuple[float, float, float, float]
    cloudy_pct: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    scaling: dict[str, Scaling] = field(default_factory=dict)

    def files(self) -> list[str]:
        return sorted({f for f, _ in self.bands.values()})

    @property
    def where(self) -> str:
        """The scene and where it is, for messages."""
        loc = self.meta.get("path") or ", ".join(self.files()[:3])
        return f"scene {self.id!r} ({loc})"


__all__ = ["Scene"]
