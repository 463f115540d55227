"""The one band-name resolver of the engine: every spelling a Sentinel-2 band is
delivered under maps to one canonical name (``B4``, ``B8A``, ``SCL``).

Spellings understood: ``B4``, ``B04``, ``b04``, ``B04_10m`` (SAFE and Copernicus
Data Space asset keys), ``B04 (Red)`` / ``B04 - Red`` (GDAL and QGIS merges),
STAC ``eo:bands`` common names (``red``, ``nir``, ``swir16`` ...) and the asset
keys of Earth Search (``red``, ``rededge1``, ``nir08``, ``scl`` ...) and the
Planetary Computer (``B04``, ``SCL``). Names that are not Sentinel-2 bands
(``A00`` of an embedding product, ``SR_B4`` of Landsat) pass through upper-cased.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..errors import ProviderError

#: Sentinel-2 MSI bands: canonical name -> (STAC common name, native resolution in metres)
S2_BANDS: dict[str, tuple[str, int]] = {
    "B1": ("coastal", 60), "B2": ("blue", 10), "B3": ("green", 10), "B4": ("red", 10),
    "B5": ("rededge", 20), "B6": ("rededge", 20), "B7": ("rededge", 20), "B8": ("nir", 10),
    "B8A": ("nir08", 20), "B9": ("nir09", 60), "B10": ("cirrus", 60), "B11": ("swir16", 20),
    "B12": ("swir22", 20),
}
#: the reflectance bands (everything but the scene classification)
S2_REFLECTANCE = tuple(S2_BANDS)
#: band id of each band in the product metadata (MTD_MSIL2A.xml ``band_id`` / ``bandId``)
S2_BAND_ID = {b: i for i, b in enumerate(("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A",
                                           "B9", "B10", "B11", "B12"))}

# STAC common names and the asset keys of the big catalogues. "rededge" alone is
# ambiguous (B5, B6 and B7 all carry it) and is resolved only through a name or key.
_ALIASES = {
    "COASTAL": "B1", "BLUE": "B2", "GREEN": "B3", "RED": "B4", "REDEDGE1": "B5", "REDEDGE2": "B6",
    "REDEDGE3": "B7", "NIR": "B8", "NIR08": "B8A", "NIR09": "B9", "CIRRUS": "B10",
    "SWIR16": "B11", "SWIR22": "B12", "SCL": "SCL", "SCENE_CLASSIFICATION": "SCL",
}
#: products delivered next to the bands that are not model inputs (skipped when indexing)
AUXILIARY = frozenset({
    "AOT", "WVP", "TCI", "VISUAL", "PVI", "PREVIEW", "THUMBNAIL", "OVERVIEW", "CLD", "SNW",
    "CLDPRB", "SNWPRB", "MSK_CLDPRB", "MSK_SNWPRB", "CLOUD", "SNOW", "RENDERED_PREVIEW",
    "GRANULE_METADATA", "TILEINFO_METADATA", "PRODUCT_METADATA", "SAFE_MANIFEST", "METADATA",
})

_BAND = re.compile(r"B0*(\d{1,2})(A?)")
_RES_SUFFIX = re.compile(r"[_-](\d{2,3})M$")
_DECORATION = re.compile(r"\s*(\(.*\)|\s-\s.*)$")  # "B02 (Blue)", "B02 - Blue"


def _strip(name: str) -> str:
    n = _DECORATION.sub("", str(name).strip()).strip().upper()
    return _RES_SUFFIX.sub("", n)


def s2_band(name: str | None) -> str | None:
    """The canonical Sentinel-2 band a name stands for (``"B04_10m"`` -> ``"B4"``), or None."""
    if not name:
        return None
    n = _strip(name)
    m = _BAND.fullmatch(n)
    if m:
        cand = f"B{int(m.group(1))}{m.group(2)}"
        return cand if cand in S2_BANDS else None
    return _ALIASES.get(n)


def s2_band_number(name: str | None) -> str | None:
    """The Sentinel-2 band a name gives by its number only (``B4``, ``B04``, ``B04_10m``,
    ``B04 (Red)``); None for common names (``red``): for a model that takes any sensor
    (DOFA), "red" says nothing about whose red band it is."""
    if not name:
        return None
    m = _BAND.fullmatch(_strip(name))
    cand = f"B{int(m.group(1))}{m.group(2)}" if m else None
    return cand if cand in S2_BANDS else None


def canonical_band(name: str) -> str:
    """``B02``/``B02 (Blue)``/``B02_10m``/``blue`` -> ``B2``; other names upper-cased as they are."""
    return s2_band(name) or str(name).strip().upper()


def is_auxiliary(name: str | None) -> bool:
    """True for products that come with the bands but are no model input (AOT, TCI ...)."""
    return bool(name) and _strip(name) in AUXILIARY


def band_of(*names: str | None) -> str | None:
    """The first of several candidate names (an asset key, ``eo:bands`` name, common name)
    that resolves to a Sentinel-2 band; None if none does."""
    for n in names:
        b = s2_band(n)
        if b is not None:
            return b
    return None


def band_index(available: Sequence[str], band: str) -> int:
    want = canonical_band(band)
    for i, b in enumerate(available):
        if canonical_band(b) == want:
            return i
    raise ProviderError(f"band {band!r} is not available; available bands: {list(available)}")


def missing_bands_message(where: str, found: Iterable[str], needed: Sequence[str],
                          unrecognised: Iterable[str] = ()) -> str:
    """One wording for "the data lacks a band the model needs": what was found, what is needed."""
    found = sorted(set(found))
    need = [canonical_band(b) for b in needed]
    missing = [b for b, c in zip(needed, need, strict=True) if c not in found]
    more = f" (and {missing[1:]})" if len(missing) > 1 else ""
    msg = (f"band {missing[0]!r} is missing from {where}{more}; it has {found}, the sensor/model "
           f"needs {list(needed)}")
    unrecognised = sorted(set(unrecognised))
    if unrecognised:
        msg += (f"; names not recognised as Sentinel-2 bands: {unrecognised} (use B2..B12, B8A, SCL, "
                f"STAC common names such as red/nir, or asset keys such as B04_10m)")
    return msg
