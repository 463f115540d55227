"""Radiometry: how stored Sentinel-2 values become the engine's one canonical input,
surface reflectance x 10000 without offset (as Earth Engine's ``S2_SR_HARMONIZED``).

A :class:`Scaling` is ``canonical = stored * gain + bias``. Where it comes from,
in order of precedence:

1. the product's own metadata: ``MTD_MSIL2A.xml`` (``BOA_QUANTIFICATION_VALUE``,
   ``BOA_ADD_OFFSET`` per band since processing baseline 04.00), ``MTD_MSIL1C.xml``
   (``QUANTIFICATION_VALUE``, ``RADIO_ADD_OFFSET``), or a STAC item (``raster:bands``
   scale/offset; Earth Search's ``earthsearch:boa_offset_applied`` says the offset is
   already in the pixels, and an offset on an item of baseline < 04.00 is a
   catalogue-wide default that ESA never applied; items without scale/offset but with
   a processing baseline >= 04.00 (``s2:processing_baseline``, ``processing:version``,
   ``_N0400_`` in the product id), as on the Planetary Computer, get ESA's -1000);
2. GDAL's per-band scale/offset of the file;
3. nothing: values are taken as reflectance x 10000, except floating-point values
   that are all within [-2, 2], which are 0-1 reflectance and multiplied by 10000.

A scale below 0.01 means the physical values are 0-1 reflectance (ESA's 1/10000);
a larger one is taken to give reflectance x 10000 already.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: canonical units: reflectance x this
CANONICAL = 10000.0
#: ESA's offset of processing baseline >= 04.00 (in DN; the same for every band since 2022-01-25)
ESA_OFFSET_DN = -1000.0
#: floating-point data whose valid values all lie within +-this is 0-1 reflectance
UNIT_REFLECTANCE_MAX = 2.0
#: scales below this give 0-1 reflectance (ESA's is 1/10000)
UNIT_SCALE_LIMIT = 0.01

L1C_NOTE = ("L1C is top-of-atmosphere reflectance, not surface reflectance: models trained on L2A "
            "(S2_SR_HARMONIZED) see a different input")


@dataclass(frozen=True)
class Scaling:
    """``canonical = stored * gain + bias``; ``source`` says where the rule comes from."""

    gain: float = 1.0
    bias: float = 0.0
    source: str = "none: values taken as reflectance x 10000"
    explicit: bool = False  # from the product's metadata: wins over GDAL tags, no detection

    @property
    def identity(self) -> bool:
        return self.gain == 1.0 and self.bias == 0.0

    def apply(self, arr: np.ndarray) -> np.ndarray:
        if self.identity:
            return arr
        return (arr * np.float32(self.gain) + np.float32(self.bias)).astype(np.float32, copy=False)

    def describe(self) -> str:
        if self.identity:
            return f"unchanged ({self.source})"
        g = "" if self.gain == 1.0 else f" x {self.gain:g}"
        b = "" if self.bias == 0.0 else f" {'+' if self.bias > 0 else '-'} {abs(self.bias):g}"
        return f"stored{g}{b} ({self.source})"


IDENTITY = Scaling()


def _physical(scale: float, offset: float, source: str) -> Scaling:
    """A scale/offset pair giving physical values -> the canonical rule."""
    if 0 < abs(scale) < UNIT_SCALE_LIMIT:  # physical values are 0-1 reflectance
        return Scaling(scale * CANONICAL, offset * CANONICAL, source, explicit=True)
    return Scaling(scale, offset, source, explicit=True)


def from_product_xml(quantification: float | None, offset: float | None, level: str,
                     baseline: str | None) -> Scaling:
    """The rule of a SAFE product from its ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` values."""
    q = float(quantification) if quantification else CANONICAL
    off = float(offset) if offset else 0.0
    xml = "MTD_MSIL2A.xml" if level == "L2A" else "MTD_MSIL1C.xml"
    name = "BOA_ADD_OFFSET" if level == "L2A" else "RADIO_ADD_OFFSET"
    what = f"{xml}: quantification {q:g}, {name} {off:g}, baseline {baseline or '?'}"
    return Scaling(CANONICAL / q, off * CANONICAL / q, what, explicit=True)


def baseline_at_least(baseline: Any, version: float = 4.0) -> bool:
    try:
        return float(str(baseline).strip()) >= version
    except (TypeError, ValueError):
        return False


def from_stac(band_meta: dict[str, Any] | None, properties: dict[str, Any],
              baseline: str | None = None) -> Scaling:
    """The rule of one band of a STAC asset (``raster:bands`` entry, or the asset's
    ``raster:scale``/``raster:offset`` in STAC 1.1), its item's properties and the
    item's processing baseline (``s2:processing_baseline``, ``processing:version``)."""
    meta = band_meta or {}
    scale = meta.get("scale", meta.get("raster:scale"))
    offset = meta.get("offset", meta.get("raster:offset"))
    applied = properties.get("earthsearch:boa_offset_applied")
    if scale is not None or offset is not None:
        scale = 1.0 if scale is None else float(scale)
        offset = 0.0 if offset is None else float(offset)
        if applied is True and offset:
            # Earth Search shifts the pixels and says so; its raster:bands keep ESA's offset
            return _physical(scale, 0.0, f"STAC raster scale {scale:g}; offset {offset:g} "
                                         "already in the pixels (earthsearch:boa_offset_applied)")
        if offset and baseline is not None and not baseline_at_least(baseline):
            # catalogues write one raster:bands for a whole collection; ESA's offset starts at 04.00
            return _physical(scale, 0.0, f"STAC raster scale {scale:g}; offset {offset:g} "
                                         f"ignored: processing baseline {baseline} < 04.00 has none")
        return _physical(scale, offset, f"STAC raster scale {scale:g}, offset {offset:g}")
    if baseline_at_least(baseline) and applied is not True:
        return Scaling(1.0, ESA_OFFSET_DN, f"processing baseline {baseline} >= 04.00 with no "
                                           f"offset in the item: ESA's {ESA_OFFSET_DN:g}", explicit=True)
    if baseline is not None:
        return Scaling(source=f"processing baseline {baseline}: no offset", explicit=True)
    return IDENTITY


def from_gdal(scale: float | None, offset: float | None) -> Scaling:
    """The rule of a file band with GDAL scale/offset metadata (identity if there is none)."""
    s = 1.0 if scale is None else float(scale)
    o = 0.0 if offset is None else float(offset)
    if s == 1.0 and o == 0.0:
        return IDENTITY
    return _physical(s, o, f"GDAL band scale {s:g}, offset {o:g}")


def looks_unit_reflectance(values: np.ndarray) -> bool:
    """Floating-point reflectance in 0-1: every finite value within +-2 and not all zero."""
    v = values[np.isfinite(values)]
    return bool(v.size) and float(np.abs(v).max()) <= UNIT_REFLECTANCE_MAX and bool(np.any(v != 0))


UNIT_DETECTED = Scaling(CANONICAL, 0.0, "floating-point values within 0-1 detected: x 10000")


__all__ = ["Scaling", "IDENTITY", "UNIT_DETECTED", "CANONICAL", "ESA_OFFSET_DN", "L1C_NOTE",
           "from_product_xml", "from_stac", "from_gdal", "looks_unit_reflectance",
           "baseline_at_least"]
