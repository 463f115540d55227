"""Sentinel-2 STAC items as plain JSON (the standard library only: stock QGIS has no
pystac): a static catalog, an ItemCollection (``FeatureCollection``) or loose item
files, from Earth Search, the Planetary Computer, the Copernicus Data Space or
written by hand.

An item becomes a :class:`Scene`: its assets are mapped to bands through the
asset key and ``eo:bands`` (or STAC 1.1 ``bands``) ``name``/``common_name``
(Earth Search ``red``/``nir08``/``scl``, Planetary Computer ``B04``/``SCL``,
Copernicus Data Space ``B04_10m``/``SCL_20m``, a multi-band asset with one
``eo:bands`` entry per band); thumbnails, true-colour previews, AOT/WVP and
metadata files are skipped. Radiometry comes from ``raster:bands`` scale/offset
(or STAC 1.1 ``raster:scale``/``raster:offset``), ``earthsearch:boa_offset_applied``
and ``s2:processing_baseline`` (see :mod:`.radiometry`); the date from
``datetime`` (or ``start_datetime``), cloud cover from ``eo:cloud_cover``, the
footprint from ``bbox`` (or the geometry).

Asset hrefs may be relative (to the JSON file), local paths, ``file://`` URLs or
remote (``https://``, ``s3://``). The local backend reads a remote asset from a
downloaded copy next to the item JSON (same file name, also under a folder named
after the item); the STAC backend reads remote assets through GDAL's
``/vsicurl/`` (``/vsis3/`` for ``s3://``).
"""
from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

from ...errors import ProviderError
from ..bands import S2_REFLECTANCE, band_of, is_auxiliary
from .radiometry import L1C_NOTE, from_stac
from .safe import parse_time
from .scene import Scene

SKIP_ROLES = {"thumbnail", "overview", "visual", "metadata"}
IMAGE_SUFFIXES = (".tif", ".tiff", ".jp2")
_REMOTE = ("http://", "https://", "s3://", "gs://")


def is_remote(href: str) -> bool:
    return str(href).startswith(_REMOTE)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ProviderError(f"cannot read the JSON file {str(path)!r}: {exc}") from None


def stac_kind(doc: Any) -> str | None:
    """``item``, ``items`` (ItemCollection), ``catalog`` (Catalog/Collection) or None (not STAC)."""
    if not isinstance(doc, dict):
        return None
    kind = doc.get("type")
    if kind == "Feature" and ("stac_version" in doc or "assets" in doc):
        return "item"
    if kind == "FeatureCollection" and isinstance(doc.get("features"), list) and all(
            isinstance(f, dict) and "assets" in f for f in doc["features"]):
        return "items"
    if kind in ("Catalog", "Collection") and "stac_version" in doc:
        return "catalog"
    return None


def load_items(path: str | Path) -> list[tuple[dict[str, Any], str]]:
    """Every item of a STAC JSON file (item, ItemCollection, catalog followed through its
    ``child``/``item`` links) with the location its relative hrefs resolve against."""
    out: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()

    def visit(p: Path) -> None:
        key = str(p.resolve())
        if key in seen:
            return
        seen.add(key)
        doc = read_json(p)
        kind = stac_kind(doc)
        if kind == "item":
            out.append((doc, str(p)))
        elif kind == "items":
            out.extend((f, str(p)) for f in doc["features"])
        elif kind == "catalog":
            for link in doc.get("links") or []:
                if link.get("rel") not in ("item", "child") or not link.get("href"):
                    continue
                href = str(link["href"])
                if is_remote(href):
                    raise ProviderError(
                        f"STAC catalog {str(p)!r} links to the remote {link['rel']} {href!r}; the local "
                        "backend reads local catalogs (download it, or use backend='stac')")
                target = _local_path(href, str(p))
                if not target.is_file():
                    raise ProviderError(f"STAC catalog {str(p)!r} links to {href!r}, which is missing "
                                        f"({str(target)!r})")
                visit(target)
        else:
            raise ProviderError(f"{str(p)!r} is not a STAC catalog, collection, item or item collection")

    visit(Path(path))
    return out


def _local_path(href: str, location: str) -> Path:
    if href.startswith("file://"):
        return Path(unquote(urlparse(href).path))
    p = Path(unquote(href))
    return p if p.is_absolute() else (Path(location).parent / p)


def _gdal_remote(href: str) -> str:
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://"):]
    if href.startswith("gs://"):
        return "/vsigs/" + href[len("gs://"):]
    return "/vsicurl/" + href


def resolve_href(href: str, location: str, item_id: str, *, remote: bool) -> tuple[str | None, str]:
    """``(path GDAL opens or None, what to call it in messages)`` of an asset href.

    ``remote=False`` (local backend): a remote href is read from a copy next to the
    item JSON; ``remote=True`` (STAC backend): relative hrefs resolve against the
    item's URL and remote ones are read over the network.
    """
    if is_remote(href) or is_remote(location) and not href.startswith(("/", "file://")):
        url = href if is_remote(href) else urljoin(location, href)
        if remote:
            return _gdal_remote(url), url
        name = posixpath.basename(urlparse(url).path)
        here = Path(location).parent
        for cand in (here / name, here / item_id / name):
            if name and cand.is_file():
                return str(cand), str(cand)
        return None, url
    p = _local_path(href, location)
    return (str(p) if p.is_file() else None), str(p)


def _roles(asset: dict[str, Any]) -> set[str]:
    return {str(r).lower() for r in asset.get("roles") or []}


def _is_image(key: str, asset: dict[str, Any]) -> bool:
    roles = _roles(asset)
    if roles & SKIP_ROLES and not roles & {"data", "reflectance"}:
        return False
    if is_auxiliary(key) or is_auxiliary(key.split("-")[0]):
        return False
    mtype = str(asset.get("type") or "").lower()
    if mtype:
        return "tiff" in mtype or "jp2" in mtype
    return urlparse(str(asset.get("href", ""))).path.lower().endswith(IMAGE_SUFFIXES)


def _band_entries(asset: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-band descriptions of an asset: ``eo:bands`` (STAC 1.0) or ``bands`` (STAC 1.1)."""
    return list(asset.get("eo:bands") or asset.get("bands") or [])


def _band_meta(asset: dict[str, Any], i: int) -> dict[str, Any]:
    """Scale/offset/nodata of the asset's i-th band (``raster:bands``, STAC 1.1 fields)."""
    meta = {k: asset[k] for k in ("raster:scale", "raster:offset", "nodata") if k in asset}
    for src in (asset.get("raster:bands"), asset.get("bands")):
        if isinstance(src, list) and i < len(src) and isinstance(src[i], dict):
            meta.update(src[i])
    return meta


def _rank(gdal_path: str | None, href: str) -> tuple[int, int]:
    """Which of two assets of one band to read: a local file, then HTTP, then the rest;
    a GeoTIFF (COG) before a JPEG2000."""
    where = 0 if gdal_path and not gdal_path.startswith("/vsi") else (
        1 if gdal_path and gdal_path.startswith("/vsicurl/") else 2)
    return where, 1 if href.lower().split("?")[0].endswith(".jp2") else 0


def item_level(item: dict[str, Any]) -> str | None:
    p = item.get("properties") or {}
    text = " ".join(str(x) for x in (p.get("s2:product_type"), p.get("processing:level"),
                                     item.get("collection"), item.get("id"))).upper()
    if "L1C" in text or "MSI1C" in text:
        return "L1C"
    if "L2A" in text or "MSI2A" in text or "L2" in text.split():
        return "L2A"
    return None


def _tile(props: dict[str, Any]) -> str | None:
    if props.get("s2:mgrs_tile"):
        return f"T{props['s2:mgrs_tile']}"
    grid = str(props.get("grid:code") or "")
    if grid.startswith("MGRS-"):
        return f"T{grid[5:]}"
    if props.get("mgrs:utm_zone"):
        return f"T{props['mgrs:utm_zone']}{props.get('mgrs:latitude_band', '')}{props.get('mgrs:grid_square', '')}"
    return None


_ID_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")


def item_baseline(item: dict[str, Any]) -> str | None:
    """The Sentinel-2 processing baseline of an item: ``s2:processing_baseline`` (Earth Search,
    Planetary Computer), ``processing:version`` (Copernicus Data Space) or ``_N0400_`` in its id."""
    p = item.get("properties") or {}
    if p.get("s2:processing_baseline"):
        return str(p["s2:processing_baseline"])
    s2 = "sentinel-2" in " ".join(str(p.get(k, "")) for k in ("constellation", "platform")).lower() or \
        "sentinel-2" in str(item.get("collection", ""))
    if s2 and p.get("processing:version"):
        return str(p["processing:version"])
    m = _ID_BASELINE.search(str(p.get("s2:product_uri") or item.get("id") or ""))
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _bbox(item: dict[str, Any]) -> tuple[float, float, float, float] | None:
    b = item.get("bbox")
    if isinstance(b, list) and len(b) in (4, 6):
        return (b[0], b[1], b[3], b[4]) if len(b) == 6 else tuple(float(v) for v in b)
    geom = item.get("geometry") or {}

    def points(c):
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            yield c
        elif isinstance(c, (list, tuple)):
            for x in c:
                yield from points(x)

    pts = list(points(geom.get("coordinates")))
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs), max(ys))


def scene_from_item(item: dict[str, Any], location: str, *, remote: bool = False) -> Scene:
    """The scene of one STAC item (``location``: the JSON file or URL its hrefs are relative to)."""
    iid = str(item.get("id") or Path(location).stem)
    props = item.get("properties") or {}
    where = f"STAC item {iid!r} ({location})"
    when = parse_time(props.get("datetime")) or parse_time(props.get("start_datetime"))
    if when is None:
        raise ProviderError(f"{where} has no date: properties.datetime (or start_datetime) is "
                            f"missing or not an ISO time ({props.get('datetime')!r})")
    bbox = _bbox(item)
    if bbox is None:
        raise ProviderError(f"{where} has no footprint: neither bbox nor geometry")
    chosen: dict[str, tuple[tuple[int, int], str | None, int, str, dict[str, Any]]] = {}
    unrecognised = []
    for key, asset in (item.get("assets") or {}).items():
        if not isinstance(asset, dict) or not asset.get("href") or not _is_image(key, asset):
            continue
        href = str(asset["href"])
        alt = ((asset.get("alternate") or {}).get("https") or {}).get("href")
        if remote and alt and href.startswith("s3://"):
            href = str(alt)  # the same file over HTTPS (Copernicus Data Space)
        gdal_path, shown = resolve_href(href, location, iid, remote=remote)
        entries = _band_entries(asset)
        if len(entries) > 1:
            names = [(band_of(e.get("name"), e.get("common_name"), e.get("eo:common_name")), e)
                     for e in entries]
        else:
            e = entries[0] if entries else {}
            names = [(band_of(key, e.get("name"), e.get("common_name"), e.get("eo:common_name")), e)]
        for i, (band, e) in enumerate(names):
            if band is None:
                unrecognised.append(str(e.get("name") or key))
                continue
            rank = _rank(gdal_path, shown)
            if band not in chosen or rank < chosen[band][0]:
                chosen[band] = (rank, gdal_path, i + 1, shown, _band_meta(asset, i))
    bands = {b: (p, i) for b, (_, p, i, _, _) in chosen.items() if p is not None}
    remote_only = {b: shown for b, (_, p, _, shown, _) in chosen.items() if p is None}
    level, baseline = item_level(item), item_baseline(item)
    meta: dict[str, Any] = {
        "source": "STAC item", "path": location, "level": level, "tile": _tile(props),
        "processing_baseline": baseline, "datetime": when.isoformat(),
        "collection": item.get("collection"), "unrecognised": sorted(set(unrecognised)),
        "crs": (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else props.get("proj:code")),
        "hrefs": {b: shown for b, (_, _, _, shown, _) in chosen.items()}}
    if remote_only:
        meta["missing"] = {b: f"{u} (remote: not downloaded next to the item JSON; download it there "
                              f"or use backend='stac')" for b, u in remote_only.items()}
    if level == "L1C":
        meta["note"] = L1C_NOTE
    scaling = {b: from_stac(m, props, baseline) for b, (_, _, _, _, m) in chosen.items() if b in S2_REFLECTANCE}
    cloud = props.get("eo:cloud_cover")
    return Scene(id=iid, date=when.date(), bands=bands, bounds_4326=tuple(float(v) for v in bbox),
                 cloudy_pct=float(cloud) if cloud is not None else None, meta=meta, scaling=scaling)


__all__ = ["load_items", "scene_from_item", "stac_kind", "read_json", "resolve_href", "is_remote",
           "item_level", "item_baseline"]
