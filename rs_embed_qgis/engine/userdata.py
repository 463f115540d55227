"""``UserData``: pixels a user already has, with what they are (rs-embed 0.3's bring-your-own-data).

A declaration names the collection the pixels came from, a band name per channel (raw units
of that collection, e.g. Sentinel-2 L2A reflectance x 10000) and, when known, where and when
they were taken. :func:`match` decides whether a declaration can feed a model: same
collection, and every band the model reads among the declared ones (a superset is sliced and
reordered); otherwise a :class:`ModelError` says what is missing. ``get_embedding_from_data``,
``get_embeddings_batch_from_data`` and ``list_models_for_data`` (``api.py``) use it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, SpecError
from .providers.bands import canonical_band
from .specs import SensorSpec, SpatialSpec, TemporalSpec

#: short names users type for collections
COLLECTION_ALIASES = {
    "s2": "COPERNICUS/S2_SR_HARMONIZED", "s2_sr": "COPERNICUS/S2_SR_HARMONIZED",
    "s2_l2a": "COPERNICUS/S2_SR_HARMONIZED", "sentinel2": "COPERNICUS/S2_SR_HARMONIZED",
    "sentinel_2": "COPERNICUS/S2_SR_HARMONIZED",
    "s1": "COPERNICUS/S1_GRD", "s1_grd": "COPERNICUS/S1_GRD", "sentinel1": "COPERNICUS/S1_GRD",
    "sentinel_1": "COPERNICUS/S1_GRD",
}
#: the channel order a declaration without ``bands`` must have (collections with one canonical order)
CANONICAL_BANDS = {
    "COPERNICUS/S2_SR_HARMONIZED": ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"),
}
#: Sentinel-2 bands by their common names (ESA's band designations)
S2_COMMON_NAMES = {
    "COASTAL": "B1", "AEROSOL": "B1", "BLUE": "B2", "GREEN": "B3", "RED": "B4", "RED_EDGE_1": "B5", "RE1": "B5",
    "RED_EDGE_2": "B6", "RE2": "B6", "RED_EDGE_3": "B7", "RE3": "B7", "NIR": "B8", "NIR_NARROW": "B8A",
    "RED_EDGE_4": "B8A", "RE4": "B8A", "WATER_VAPOUR": "B9", "WATER_VAPOR": "B9", "SWIR1": "B11", "SWIR_1": "B11",
    "SWIR2": "B12", "SWIR_2": "B12",
}


def collection_id(collection: str) -> str:
    """A collection alias (``"s2"``) as the full id; full ids pass unchanged."""
    raw = str(collection or "").strip()
    return COLLECTION_ALIASES.get(raw.lower().replace("-", "_").replace(" ", "_"), raw)


def band_key(collection: str, band: str) -> str:
    """A band name as compared: ``B02`` == ``B2``, and for Sentinel-2 ``RED`` == ``B4``."""
    name = str(band).strip().upper()
    if collection_id(collection).upper().startswith("COPERNICUS/S2"):
        name = S2_COMMON_NAMES.get(name, name)
    return canonical_band(name)


@dataclass(frozen=True, eq=False)
class UserData:
    """Pixels ``[C, H, W]`` (or ``[T, C, H, W]``) in raw units of ``collection``, one band name per channel.

    ``bands=None`` means the collection's canonical full order (Sentinel-2 L2A: the 12 bands
    B1..B12 with B8A). ``crs`` + ``transform`` (north-up, rasterio order or an
    ``affine.Affine``) georeference the array, so a grid output lands on the map and the
    footprint stands for ``spatial`` when that is not given. ``temporal`` says when the
    pixels were taken; ``scale_m`` is the nominal pixel size, kept as provenance.
    """

    data: np.ndarray
    collection: str
    spatial: SpatialSpec | None = None
    bands: tuple[str, ...] | None = None
    temporal: TemporalSpec | None = None
    scale_m: int | None = None
    crs: str | None = None
    transform: Any | None = None

    @classmethod
    def from_raster(cls, path: str | Path, *, collection: str, bands: tuple[str, ...] | None = None,
                    temporal: TemporalSpec | None = None) -> UserData:
        """A raster file (GeoTIFF, ...) read with the engine's raster reader: every band, its CRS and
        transform. ``bands`` names the channels; else the file's band descriptions when each band
        has a distinct one; else the collection's canonical order. No-data pixels read as 0."""
        from .geoio import raster_info
        from .user_raster import read_raster_for_model

        described = raster_info(path).descriptions
        got = read_raster_for_model(path, {str(i + 1): i + 1 for i in range(len(described))})
        if bands is None and all(described) and len(set(described)) == len(described):
            bands = tuple(described)
        a, _, _, _, e, _ = got["transform"]
        # square pixels of a metre or more: a metric CRS (pixels in degrees are far smaller)
        scale = round(a) if math.isclose(a, -e, rel_tol=1e-6) and a >= 1 else None
        return cls(data=got["data"], collection=collection, bands=tuple(bands) if bands is not None else None,
                   temporal=temporal, scale_m=scale, crs=got["crs"], transform=tuple(got["transform"]))

    def validate(self) -> UserData:
        if not str(self.collection or "").strip():
            raise SpecError(f"UserData.collection must be a collection id or alias such as 's2', "
                            f"got {self.collection!r}")
        arr = np.asarray(self.data)
        if arr.ndim not in (3, 4):
            raise SpecError(f"UserData.data must be [C, H, W] or [T, C, H, W], got shape {tuple(arr.shape)}")
        if self.bands is not None:
            if isinstance(self.bands, str) or not self.bands or any(not str(b or "").strip() for b in self.bands):
                raise SpecError(f"UserData.bands must be a non-empty tuple of band names (or None for the "
                                f"collection's canonical order), got {self.bands!r}")
            if arr.shape[-3] != len(self.bands):
                raise SpecError(f"UserData.data has {arr.shape[-3]} channels but bands names {len(self.bands)}: "
                                f"{list(self.bands)}; give one band name per channel")
        if self.scale_m is not None and not float(self.scale_m) > 0:
            raise SpecError(f"UserData.scale_m must be > 0 when given, got {self.scale_m!r}")
        if (self.crs is None) != (self.transform is None):
            raise SpecError(f"UserData.crs and UserData.transform go together (a georeferenced array needs "
                            f"both), got crs={self.crs!r}, transform={self.transform!r}")
        if self.transform is not None and len(tuple(self.transform)) < 6:
            raise SpecError(f"UserData.transform must be an affine transform (a, b, c, d, e, f), "
                            f"got {self.transform!r}")
        return self

    def declared_bands(self) -> tuple[str, ...]:
        """The band of each channel: ``bands``, or the collection's canonical order."""
        if self.bands is not None:
            return tuple(self.bands)
        cid = collection_id(self.collection)
        default = CANONICAL_BANDS.get(cid.upper())
        if default is None:
            raise SpecError(f"UserData.bands is None but collection {self.collection!r} has no canonical band "
                            f"order; name the band of each channel (bands=(...))")
        n = int(np.asarray(self.data).shape[-3])
        if n != len(default):
            raise SpecError(f"UserData.bands is None: {cid} in canonical order has {len(default)} bands "
                            f"{list(default)}, but the array has {n} channels; name its bands")
        return default

    def describe(self) -> dict[str, Any]:
        return {"source": "user_data", "collection": collection_id(self.collection),
                "declared_bands": list(self.declared_bands()), "declared_scale_m": self.scale_m,
                "crs": self.crs, "transform": list(tuple(self.transform)[:6]) if self.transform is not None else None}


def match(data: UserData, sensor: SensorSpec, model: str) -> list[int]:
    """Channel indices of ``data`` that give ``sensor``'s bands in its order.

    A declaration from another collection, or one that lacks a band the model reads, is a
    :class:`ModelError` naming what differs (the raw units of collections differ, so no
    guessing).
    """
    cid, mid = collection_id(data.collection), collection_id(sensor.collection)
    if cid.upper() != mid.upper():
        raise ModelError(f"model {model!r} reads {sensor.collection!r}, but the data is declared as "
                         f"{data.collection!r}; raw units differ between collections, so it cannot feed this model")
    declared = [band_key(cid, b) for b in data.declared_bands()]
    dupes = sorted({b for b in declared if declared.count(b) > 1})
    if dupes:
        raise ModelError(f"UserData.bands names {dupes} more than once ({list(data.declared_bands())}); "
                         f"which channel to use is ambiguous")
    wanted = [band_key(mid, b) for b in sensor.bands]
    missing = [b for b in wanted if b not in declared]
    if missing:
        raise ModelError(f"model {model!r} reads bands {list(sensor.bands)} of {sensor.collection!r}; the data "
                         f"lacks {missing} (declared: {list(data.declared_bands())})")
    return [declared.index(b) for b in wanted]


def warn_if_scaled(data: UserData) -> None:
    """Warn when Sentinel-2 pixels look like reflectance 0..1 rather than the raw 0..10000."""
    if not collection_id(data.collection).upper().startswith("COPERNICUS/S2"):
        return
    arr = np.asarray(data.data)
    finite = arr[np.isfinite(arr)]
    if finite.size and 0.0 < float(finite.max()) <= 1.5:
        warnings.warn(f"UserData declared as {data.collection!r} has a largest value of {float(finite.max()):.3g}; "
                      f"Sentinel-2 L2A pixels are expected as reflectance x 10000 (0..10000). Multiply scaled "
                      f"reflectance by 10000 first", UserWarning, stacklevel=3)


__all__ = ["UserData", "COLLECTION_ALIASES", "CANONICAL_BANDS", "S2_COMMON_NAMES", "collection_id", "band_key",
           "match", "warn_if_scaled"]
