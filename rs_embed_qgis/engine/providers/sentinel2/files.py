"""Loose raster files as scenes: multi-band stacks and per-band files.

- A **stack** is one file with one band per channel, named in its band descriptions
  (``B2``, ``B02 (Blue)``, ``red`` ... and ``SCL``); one file is one scene.
- **Per-band files** carry the band in their name: ``T33TWN_20220705T100559_B04_10m.jp2``
  (ESA's naming), ``B04.tif``, ``red.tif``, ``S2B_32TNT_20220715_0_L2A_B04.tif``.
  Files named as ESA names them are grouped by tile and sensing time (wherever they
  are); others by folder and the rest of their name. Of several resolutions of one
  band the finest is used; ``TCI``, ``AOT``, ``WVP``, previews are skipped.

Dates come from ESA's file names, an ``MTD_MSIL2A.xml``/``MTD_MSIL1C.xml`` found
next to the files (which also gives the radiometry), the ``ACQUISITION_DATE``/
``TIFFTAG_DATETIME`` tags, or a ``YYYYMMDD`` in the file or folder name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import geoio
from ...errors import ProviderError
from ...geo import transform_bounds
from ...specs import date_in_text
from ..bands import S2_REFLECTANCE, canonical_band, is_auxiliary, s2_band
from .radiometry import L1C_NOTE
from .safe import PRODUCT_XML, ProductInfo, parse_time, read_product_xml
from .scene import Scene

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2")
_ESA_PREFIX = re.compile(r"(T\d{2}[A-Z]{3})_(\d{8}T\d{6})", re.IGNORECASE)
_RES = re.compile(r"(\d{2,3})m", re.IGNORECASE)
_SPLIT = re.compile(r"[_\-. ]+")


def name_band(stem: str) -> tuple[str, str | None, int | None] | None:
    """``(rest of the name, band or None for an auxiliary product, resolution)`` of a file
    named after a band, or None when the name carries no band."""
    tokens = [t for t in _SPLIT.split(stem) if t]
    res = None
    if tokens and _RES.fullmatch(tokens[-1]):
        res = int(tokens[-1][:-1])
        tokens = tokens[:-1]
    if not tokens:
        return None
    if is_auxiliary(tokens[-1]):
        return "_".join(tokens[:-1]), None, res
    band = s2_band(tokens[-1])
    if band is None:
        return None
    return "_".join(tokens[:-1]), band, res


@dataclass
class _Raster:
    path: Path
    count: int
    descriptions: tuple[str | None, ...]
    tags: dict[str, str]
    bounds_4326: tuple[float, float, float, float]
    res: float


def _open(path: Path) -> _Raster:
    info = geoio.raster_info(path)  # ProviderError naming the file if it cannot be read
    if info.crs is None:
        raise ProviderError(f"raster {str(path)!r} has no CRS; georeference it first")
    return _Raster(path, info.count, tuple(info.descriptions), dict(info.tags),
                   tuple(transform_bounds(info.bounds, info.crs, "EPSG:4326")), float(abs(info.transform[0])))


def _tag_date(tags: dict[str, str]):
    return (date_in_text(tags.get("ACQUISITION_DATE", "")) or date_in_text(tags.get("SENSING_TIME", ""))
            or date_in_text(tags.get("TIFFTAG_DATETIME", "").replace(":", "-", 2)))


def _cloud(tags: dict[str, str]) -> float | None:
    cp = tags.get("CLOUDY_PIXEL_PERCENTAGE")
    try:
        return float(cp) if cp not in (None, "") else None
    except ValueError:
        return None


def _stack_scene(r: _Raster) -> Scene:
    if not all(r.descriptions):
        raise ProviderError(
            f"raster {str(r.path)!r} has bands without descriptions {r.descriptions}; name each band "
            f"(B2, B3, ..., SCL) in its band descriptions, or keep one band per file named after it "
            f"(B04.tif, T33TWN_20220705T100559_B04_10m.jp2)")
    names = [canonical_band(d) for d in r.descriptions]
    date = _tag_date(r.tags) or date_in_text(r.path.name)
    if date is None:
        raise ProviderError(f"raster {str(r.path)!r} has no date: set the ACQUISITION_DATE tag or put "
                            f"YYYYMMDD in its file name")
    return Scene(id=r.path.stem, date=date, bands={n: (str(r.path), i + 1) for i, n in enumerate(names)},
                 bounds_4326=r.bounds_4326, cloudy_pct=_cloud(r.tags),
                 meta={"source": "GeoTIFF stack", "path": str(r.path),
                       "unrecognised": sorted({d for d in r.descriptions if s2_band(d) is None})})


def _product_xml_near(path: Path, levels: int = 4) -> Path | None:
    for d in [path.parent, *list(path.parents)[1:levels]]:
        for name in PRODUCT_XML:
            if (d / name).is_file():
                return d / name
    return None


def _group_scene(key: tuple[str, ...], members: list[tuple[_Raster, str, int | None]]) -> Scene:
    """One scene from per-band files: the finest file of each band."""
    bands: dict[str, tuple[_Raster, float]] = {}
    for r, band, res in members:
        size = float(res) if res else r.res
        if band not in bands or size < bands[band][1]:
            bands[band] = (r, size)
    files = sorted(str(r.path) for r, _ in bands.values())
    first = bands[sorted(bands)[0]][0]
    xml = _product_xml_near(first.path)
    info: ProductInfo | None = read_product_xml(xml) if xml else None
    meta: dict[str, Any] = {"source": "per-band files", "path": str(first.path.parent)}
    when = parse_time(key[2]) if key[0] == "esa" else None
    date = (info.start.date() if info else None) or (when.date() if when else None)
    if date is None:
        names = " ".join([key[-1], first.path.parent.name])
        date = date_in_text(names) or next((d for r, _ in bands.values() if (d := _tag_date(r.tags))), None)
    if date is None:
        raise ProviderError(
            f"per-band files {files[:4]} have no date: put YYYYMMDD in their folder or file names, set "
            f"their ACQUISITION_DATE tag, or keep the product's MTD_MSIL2A.xml next to them")
    if key[0] == "esa":
        meta.update(tile=key[1].upper(), datetime=when.isoformat() if when else None)
    scaling = {}
    if info is not None:
        meta.update(level=info.level, processing_baseline=info.baseline, product=info.name,
                    product_xml=str(xml))
        if info.level == "L1C":
            meta["note"] = L1C_NOTE
        scaling = {b: info.scaling(b) for b in bands if b in S2_REFLECTANCE}
    lo = [r.bounds_4326 for r, _ in bands.values()]
    bounds = (min(b[0] for b in lo), min(b[1] for b in lo), max(b[2] for b in lo), max(b[3] for b in lo))
    cloud = info.cloud if info else next((c for r, _ in bands.values() if (c := _cloud(r.tags)) is not None),
                                         None)
    sid = key[-1] or first.path.parent.name
    if key[0] == "esa":
        sid = f"{key[1].upper()}_{key[2]}"
    return Scene(id=sid, date=date, bands={b: (str(r.path), 1) for b, (r, _) in bands.items()},
                 bounds_4326=bounds, cloudy_pct=cloud, meta=meta, scaling=scaling)


def scenes_from_rasters(paths: list[Path]) -> list[Scene]:
    """Scenes from raster files: each stack alone, per-band files grouped."""
    scenes: list[Scene] = []
    groups: dict[tuple[str, ...], list[tuple[_Raster, str, int | None]]] = {}
    for path in sorted(paths):
        parsed = name_band(path.stem)
        if parsed is not None and parsed[1] is None:
            continue  # TCI, AOT, WVP, previews: not model inputs
        r = _open(path)
        described = s2_band(r.descriptions[0]) if r.count == 1 and r.descriptions[0] else None
        if r.count > 1 or parsed is None:
            scenes.append(_stack_scene(r))
            continue
        prefix, band, res = parsed
        band = described or band
        m = _ESA_PREFIX.fullmatch(prefix)
        key = ("esa", m.group(1), m.group(2)) if m else ("folder", str(path.parent), prefix)
        groups.setdefault(key, []).append((r, band, res))
    scenes += [_group_scene(k, v) for k, v in sorted(groups.items())]
    ids = [s.id for s in scenes]
    for s in scenes:  # ids must be unique: folders of per-band files named alike get their path
        if ids.count(s.id) > 1:
            s.id = f"{s.id}@{s.meta['path']}"
    return scenes


__all__ = ["scenes_from_rasters", "name_band", "RASTER_SUFFIXES"]
