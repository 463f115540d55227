"""Earth Engine expressions: which collection rules apply, the filtered and cloud-masked
collection of one time bin, its composite, and the one image of every bin's bands (plus
a validity band per bin) that a pixel request asks for. Builds expressions only; nothing
here talks to the server.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import SpecError
from ...specs import S1_DB, S1_FLOAT, SensorSpec, TemporalSpec
from ..bands import canonical_band

#: SCL classes masked in Sentinel-2 SR (same as the local backend)
SCL_MASKED = (0, 1, 3, 8, 9, 10)


# -- collections ------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionInfo:
    """How a collection is filtered and masked."""

    cloud_property: str | None   # scene cloud percentage property, or None
    cloud_mask: str                 # "scl" | "qa60" | "qa_pixel" | "none"
    annual: bool = False            # one image per year (window widened to whole years)
    canonical_s2_bands: bool = False
    sar: bool = False               # Sentinel-1 GRD: orbit, swath and polarisation filters instead of clouds


_S2_SR = CollectionInfo("CLOUDY_PIXEL_PERCENTAGE", "scl", canonical_s2_bands=True)
_S2_TOA = CollectionInfo("CLOUDY_PIXEL_PERCENTAGE", "qa60", canonical_s2_bands=True)
_LANDSAT = CollectionInfo("CLOUD_COVER", "qa_pixel")
GSE_COLLECTION = "GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL"

COLLECTIONS: dict[str, CollectionInfo] = {
    "COPERNICUS/S2_SR_HARMONIZED": _S2_SR,
    "COPERNICUS/S2_SR": _S2_SR,
    "COPERNICUS/S2_HARMONIZED": _S2_TOA,
    "COPERNICUS/S2": _S2_TOA,
    GSE_COLLECTION: CollectionInfo(None, "none", annual=True),
    S1_DB: CollectionInfo(None, "none", sar=True),
    S1_FLOAT: CollectionInfo(None, "none", sar=True),
    # MODIS Terra L1B at 1 km (SatVision-TOA): no scene cloud property or mask; bands are
    # MODIS band numbers ("1" .. "36", "13lo" ...), as the local MODIS reader names them
    "MODIS/061/MOD021KM": CollectionInfo(None, "none"),
}
#: Sentinel-1 polarisation bands: a scene must carry each one asked for
S1_POLARISATIONS = ("VV", "VH", "HH", "HV")
for _c in ("LANDSAT/LC08/C02/T1_L2", "LANDSAT/LC09/C02/T1_L2", "LANDSAT/LE07/C02/T1_L2",
           "LANDSAT/LT05/C02/T1_L2"):
    COLLECTIONS[_c] = _LANDSAT

CLOUD_MASKS = ("scl", "qa60", "qa_pixel", "none")


def collection_info(collection: str, cloud_property: str | None = None,
                    cloud_mask: str | None = None) -> CollectionInfo:
    """Filtering/masking rules of a collection; options override the table."""
    info = COLLECTIONS.get(collection)
    if info is None:
        if collection.startswith("COPERNICUS/S2_SR"):
            info = _S2_SR
        elif collection.startswith("COPERNICUS/S2"):
            info = _S2_TOA
        elif collection.startswith("LANDSAT/") and "/C02/" in collection:
            info = _LANDSAT
        else:
            info = CollectionInfo(None, "none")
    if cloud_mask is not None and cloud_mask not in CLOUD_MASKS:
        raise SpecError(f"cloud_mask must be one of {CLOUD_MASKS}, got {cloud_mask!r}")
    if (cloud_property is not None or cloud_mask is not None) and not info.sar:
        info = CollectionInfo(cloud_property if cloud_property is not None else info.cloud_property,
                              cloud_mask or info.cloud_mask, info.annual, info.canonical_s2_bands)
    return info


def collection_id(info: CollectionInfo, sensor: SensorSpec) -> str:
    """The collection read: the one named, except that ``use_float_linear=False`` turns the linear
    Sentinel-1 product (``S1_GRD_FLOAT``) into the dB one (``S1_GRD``). A sensor naming ``S1_GRD``
    gets dB whatever ``use_float_linear`` says (its default, True, is 0.3's for ``S1_GRD_FLOAT``)."""
    if info.sar and not sensor.use_float_linear:
        return S1_DB
    return sensor.collection


def ee_bands(info: CollectionInfo, sensor: SensorSpec) -> list[str]:
    """The sensor's bands as the collection names them (Sentinel-2: B4, not B04)."""
    if info.canonical_s2_bands:
        return [canonical_band(b) for b in sensor.bands]
    return list(sensor.bands)


def windows(info: CollectionInfo, temporal: TemporalSpec | None, sensor: SensorSpec,
            frames: int | None) -> list[tuple[_dt.date | None, _dt.date | None]]:
    """``[start, end)`` of each time bin (annual collections: whole years)."""
    if temporal is None:
        if info.annual:
            raise SpecError(
                f"{sensor.collection} is an annual product: pass temporal=TemporalSpec.year(YYYY)")
        if frames is not None:
            raise SpecError("a multi-frame fetch needs a temporal window, got temporal=None")
        return [(None, None)]
    temporal = temporal.validate()
    if frames is None:
        bins = [temporal.bounds()]
    else:
        bins = [(b.start, b.end) for b in temporal.split(frames)]
    if info.annual:
        bins = [(_dt.date(s.year, 1, 1), _dt.date((e - _dt.timedelta(days=1)).year + 1, 1, 1))
                for s, e in bins]
    return bins


def collection_expr(info: CollectionInfo, sensor: SensorSpec, roi_4326: Sequence[float],
                    start: _dt.date | None, end: _dt.date | None, *, iw: bool = True):
    """The filtered, cloud-masked collection of one bin (an ``ee.ImageCollection``).

    Sentinel-1: scenes of ``sensor.orbit`` (if set) that carry every polarisation band
    asked for, and Interferometric Wide swath only when ``sensor.s1_require_iw`` and ``iw``
    (the caller drops it, ``iw=False``, when that leaves no scene and the sensor allows).
    """
    import ee

    col = ee.ImageCollection(collection_id(info, sensor)).filterBounds(
        ee.Geometry.Rectangle(list(roi_4326), None, False))
    if start is not None:
        col = col.filterDate(start.isoformat(), end.isoformat())
    if info.sar:
        if sensor.orbit is not None:
            col = col.filter(ee.Filter.eq("orbitProperties_pass", str(sensor.orbit).strip().upper()))
        if iw and sensor.s1_require_iw:
            col = col.filter(ee.Filter.eq("instrumentMode", "IW"))
        for band in sensor.bands:
            if str(band).upper() in S1_POLARISATIONS:
                col = col.filter(ee.Filter.listContains("transmitterReceiverPolarisation", str(band).upper()))
    if info.cloud_property:
        col = col.filter(ee.Filter.lte(info.cloud_property, sensor.cloudy_pct))
    mask = _MASKS[info.cloud_mask]
    if mask is not None:
        col = col.map(mask)
    return col


def composite_expr(info: CollectionInfo, col, sensor: SensorSpec):
    bands = ee_bands(info, sensor)
    col = col.select(bands)
    if sensor.composite == "mosaic":
        return col.sort("system:time_start").mosaic()  # latest scene on top
    return col.median()


def pixels_expr(info: CollectionInfo, composites: Sequence[tuple[int, Any]], sensor: SensorSpec):
    """One image: each bin's bands (``B4__t0``...) as float, then its validity band."""
    import ee

    bands = ee_bands(info, sensor)
    img = None
    for i, comp in composites:
        names = [f"{b}__t{i}" for b in bands]
        fill = sensor.fill_value if math.isfinite(sensor.fill_value) else 0  # JSON has no NaN
        vals = comp.select(bands, names).toFloat().unmask(fill, False)
        valid = comp.select(bands).mask().reduce(ee.Reducer.min()).rename([f"_valid__t{i}"])
        part = vals.addBands(valid.toFloat())
        img = part if img is None else img.addBands(part)
    return img


def scene_lists_expr(cols):
    """Ids and acquisition times of the scenes in each bin's collection (one computeValue)."""
    import ee

    return ee.List([ee.List([c.aggregate_array("system:index"), c.aggregate_array("system:time_start")])
                    for c in cols])


# -- cloud masks (Earth Engine functions mapped over the collection) ------------------------
def _mask_scl(img):
    scl = img.select("SCL")
    return img.updateMask(scl.remap(list(SCL_MASKED), [0] * len(SCL_MASKED), 1))


def _mask_qa60(img):
    qa = img.select("QA60")  # bit 10 opaque clouds, bit 11 cirrus
    return img.updateMask(qa.bitwiseAnd(1 << 10).eq(0).And(qa.bitwiseAnd(1 << 11).eq(0)))


def _mask_qa_pixel(img):
    qa = img.select("QA_PIXEL")  # bits 1 dilated cloud, 3 cloud, 4 cloud shadow
    return img.updateMask(qa.bitwiseAnd(0b11010).eq(0))


_MASKS = {"scl": _mask_scl, "qa60": _mask_qa60, "qa_pixel": _mask_qa_pixel, "none": None}


__all__ = ["CollectionInfo", "COLLECTIONS", "GSE_COLLECTION", "CLOUD_MASKS", "SCL_MASKED", "S1_POLARISATIONS",
           "collection_info", "collection_id", "ee_bands", "windows", "collection_expr", "composite_expr",
           "pixels_expr", "scene_lists_expr"]
