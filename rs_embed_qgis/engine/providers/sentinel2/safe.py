"""Sentinel-2 ``.SAFE`` products as ESA delivers them: a folder or a ``.SAFE.zip``.

Read from the product's metadata, not the file names alone:

- ``MTD_MSIL2A.xml`` (or ``MTD_MSIL1C.xml``): ``PRODUCT_START_TIME``,
  ``PROCESSING_BASELINE``, ``Cloud_Coverage_Assessment``, the quantification value
  and the per-band ``BOA_ADD_OFFSET`` (``RADIO_ADD_OFFSET`` for L1C), and the list
  of ``IMAGE_FILE`` entries (paths without extension);
- ``GRANULE/*/MTD_TL.xml``: the tile's CRS and footprint (``Tile_Geocoding``).

Band files are JPEG2000 (``.jp2``) or, in converted products, GeoTIFF (``.tif``)
under ``GRANULE/<granule>/IMG_DATA/R10m|R20m|R60m`` (L2A) or ``IMG_DATA`` (L1C),
named ``T32TNT_20220715T102559_B04_10m``. Each band is taken at its finest
resolution; the 20/60 m bands and SCL are resampled onto the ROI grid when read.
A zipped product is read in place through GDAL's ``/vsizip/``.
"""
from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET  # nosec B405 - documents are parsed only by parse_xml, which refuses DTDs
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ... import geoio
from ...errors import ProviderError
from ...geo import transform_bounds
from ..bands import S2_BAND_ID, S2_REFLECTANCE, is_auxiliary, s2_band
from .radiometry import L1C_NOTE, Scaling, from_product_xml
from .scene import Scene

PRODUCT_XML = {"MTD_MSIL2A.xml": "L2A", "MTD_MSIL1C.xml": "L1C"}
IMAGE_EXTENSIONS = (".jp2", ".tif", ".tiff")
#: ``T32TNT_20220715T102559_B04_10m`` (L2A) / ``T32TNT_20220715T102559_B04`` (L1C)
BAND_FILE = re.compile(r"(?P<tile>T\d{2}[A-Z]{3})_(?P<time>\d{8}T\d{6})_(?P<band>[A-Z0-9]+?)"
                       r"(?:_(?P<res>\d{2})m)?$", re.IGNORECASE)
_NAME_TIME = re.compile(r"_(\d{8}T\d{6})_")
_DECLARES_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_NAME_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")


def is_safe_zip(path: Path) -> bool:
    n = path.name.lower()
    return n.endswith(".safe.zip") or (n.endswith(".zip") and "_msil" in n)


def is_safe_dir(path: Path) -> bool:
    """A product folder: named ``*.SAFE``, or holding the product XML and ``GRANULE/``."""
    return path.is_dir() and (path.name.upper().endswith(".SAFE") or (
        (path / "GRANULE").is_dir() and any((path / x).is_file() for x in PRODUCT_XML)))


class _Product:
    """A SAFE product's files, in a folder or a zip: names relative to the product root."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_file():
            try:
                with zipfile.ZipFile(path) as z:
                    names = [n for n in z.namelist() if not n.endswith("/")]
            except (zipfile.BadZipFile, OSError) as exc:
                raise ProviderError(f"cannot open the zipped SAFE product {str(path)!r}: {exc}") from exc
            tops = [n for n in names if n.rsplit("/", 1)[-1] in PRODUCT_XML]
            if not tops:
                raise ProviderError(f"{str(path)!r} holds no MTD_MSIL2A.xml or MTD_MSIL1C.xml: "
                                    "not a zipped Sentinel-2 SAFE product")
            top = min(tops, key=len)
            self.prefix = top[: len(top) - len(top.rsplit("/", 1)[-1])]
            self.names = [n[len(self.prefix):] for n in names if n.startswith(self.prefix)]
            self.product_xml = top.rsplit("/", 1)[-1]
        else:
            self.prefix = ""
            self.names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
            xmls = [n for n in PRODUCT_XML if n in self.names]
            if not xmls:
                raise ProviderError(f"SAFE folder {str(path)!r} has no MTD_MSIL2A.xml or MTD_MSIL1C.xml "
                                    "at its top: not a Sentinel-2 product (or an incomplete copy)")
            self.product_xml = xmls[0]
        self._set = set(self.names)

    @property
    def name(self) -> str:
        base = self.prefix.rstrip("/").rsplit("/", 1)[-1] if self.prefix else self.path.name
        for suffix in (".zip", ".SAFE", ".safe"):
            base = base.removesuffix(suffix)
        return base

    def has(self, rel: str) -> bool:
        return rel in self._set

    def read(self, rel: str) -> bytes:
        if self.path.is_file():
            with zipfile.ZipFile(self.path) as z:
                return z.read(self.prefix + rel)
        return (self.path / rel).read_bytes()

    def gdal_path(self, rel: str) -> str:
        if self.path.is_file():
            return f"/vsizip/{self.path.resolve().as_posix()}/{self.prefix}{rel}"
        return str(self.path / rel)

    def xml(self, rel: str) -> ET.Element:
        try:
            return parse_xml(self.read(rel))
        except ET.ParseError as exc:
            raise ProviderError(f"cannot parse {rel} of the SAFE product {str(self.path)!r}: {exc} "
                                "(a damaged or truncated download?)") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _first(root: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in root.iter() if _local(e.tag) == name), None)


def _text(root: ET.Element, name: str) -> str | None:
    e = _first(root, name)
    return e.text.strip() if e is not None and e.text and e.text.strip() else None


def parse_time(text: str | None) -> _dt.datetime | None:
    """An ISO time (``2022-07-15T10:25:59.024Z``) or a compact one (``20220715T102559``), UTC."""
    if not text:
        return None
    t = text.strip()
    try:
        if re.fullmatch(r"\d{8}T\d{6}", t):
            d = _dt.datetime.strptime(t, "%Y%m%dT%H%M%S")
        else:
            d = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d.replace(tzinfo=_dt.timezone.utc) if d.tzinfo is None else d.astimezone(_dt.timezone.utc)


def _offsets(root: ET.Element, element: str) -> dict[int, float]:
    out = {}
    for e in root.iter():
        if _local(e.tag) == element and e.get("band_id") is not None and e.text:
            out[int(e.get("band_id"))] = float(e.text)
    return out


def _tile_bounds(product: _Product, granule: str) -> tuple[str, tuple[float, float, float, float]] | None:
    """CRS and bounds of a granule from its ``MTD_TL.xml`` (finest resolution given)."""
    rel = f"GRANULE/{granule}/MTD_TL.xml"
    if not product.has(rel):
        return None
    root = product.xml(rel)
    crs = _text(root, "HORIZONTAL_CS_CODE")
    sizes = {e.get("resolution"): e for e in root.iter() if _local(e.tag) == "Size"}
    geos = {e.get("resolution"): e for e in root.iter() if _local(e.tag) == "Geoposition"}
    for res in sorted(set(sizes) & set(geos), key=lambda r: float(r or 1e9)):
        s, g = sizes[res], geos[res]
        try:
            x0, y0 = float(_text(g, "ULX")), float(_text(g, "ULY"))
            dx, dy = float(_text(g, "XDIM")), float(_text(g, "YDIM"))
            nr, nc = int(_text(s, "NROWS")), int(_text(s, "NCOLS"))
        except (TypeError, ValueError):
            continue
        if crs:
            return crs, (x0, y0 + nr * dy, x0 + nc * dx, y0)
    return None


def _file_bounds(path: str) -> tuple[str, tuple[float, float, float, float]]:
    info = geoio.raster_info(path)  # ProviderError naming the file if it cannot be read
    if info.crs is None:
        raise ProviderError(f"the band file {path!r} has no CRS")
    return info.crs, info.bounds


@dataclass(frozen=True)
class ProductInfo:
    """What a product's ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` says about all its bands."""

    name: str
    level: str
    start: _dt.datetime
    baseline: str | None
    cloud: float | None
    quantification: float | None
    offsets: dict[int, float]

    def scaling(self, band: str) -> Scaling:
        return from_product_xml(self.quantification, self.offsets.get(S2_BAND_ID[band]), self.level,
                                self.baseline)


def product_info(root: ET.Element, level: str, fallback_name: str, where: str) -> ProductInfo:
    """The product facts of a parsed ``MTD_MSIL*.xml`` (``fallback_name``: the folder/zip name)."""
    xml = "MTD_MSIL2A.xml" if level == "L2A" else "MTD_MSIL1C.xml"
    name = (_text(root, "PRODUCT_URI") or fallback_name).removesuffix(".SAFE")
    start = (parse_time(_text(root, "PRODUCT_START_TIME")) or parse_time(_text(root, "DATATAKE_SENSING_START")))
    if start is None:
        m = _NAME_TIME.search(f"{name} {fallback_name}")
        start = parse_time(m.group(1)) if m else None
    if start is None:
        raise ProviderError(f"{where} has no date: no PRODUCT_START_TIME or DATATAKE_SENSING_START in "
                            f"{xml} and no sensing time (YYYYMMDDTHHMMSS) in its name")
    baseline = _text(root, "PROCESSING_BASELINE")
    if baseline is None:
        m = _NAME_BASELINE.search(f"{name} {fallback_name}")
        baseline = f"{m.group(1)}.{m.group(2)}" if m else None
    cloud = _text(root, "Cloud_Coverage_Assessment")
    quant = _text(root, "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE")
    try:
        offsets = _offsets(root, "BOA_ADD_OFFSET" if level == "L2A" else "RADIO_ADD_OFFSET")
        return ProductInfo(name, level, start, baseline, float(cloud) if cloud else None,
                           float(quant) if quant else None, offsets)
    except ValueError as exc:
        raise ProviderError(f"{where}: {xml} has a value that is not a number ({exc})") from None


def parse_xml(data: bytes) -> ET.Element:
    """An XML document from a product, parsed by defusedxml's rule with the standard library (a
    stock QGIS has no defusedxml): one that declares a DTD or entities is refused, so nothing is
    expanded and nothing external is fetched. ESA's metadata declares neither."""
    if _DECLARES_DTD.search(data):
        raise ET.ParseError("it declares a DTD or entities, which Sentinel-2 metadata never does; refused")
    parser = ET.XMLPullParser(events=("start",))
    parser.feed(data)
    parser.close()  # raises ParseError for a malformed or truncated document
    for _event, root in parser.read_events():
        return root  # the first element: the whole tree hangs from it once close() returned
    raise ET.ParseError("no element")


def read_product_xml(path: Path) -> ProductInfo:
    """The facts of a loose ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` file."""
    try:
        root = parse_xml(path.read_bytes())
    except (OSError, ET.ParseError) as exc:
        raise ProviderError(f"cannot parse {str(path)!r}: {exc} (a damaged or truncated download?)") from None
    return product_info(root, PRODUCT_XML[path.name], path.parent.name, f"product metadata {str(path)!r}")


def read_safe(path: str | Path) -> list[Scene]:
    """The scenes (one per granule, i.e. per tile) of a SAFE folder or ``.SAFE.zip``."""
    product = _Product(Path(path))
    level = PRODUCT_XML[product.product_xml]
    root = product.xml(product.product_xml)
    info = product_info(root, level, product.name, f"SAFE product {str(product.path)!r}")

    listed = [e.text.strip() for e in root.iter() if _local(e.tag) == "IMAGE_FILE" and e.text]
    if not listed:  # older products list IMAGE_ID only: take the files that are there
        listed = [n.rsplit(".", 1)[0] for n in product.names
                  if n.startswith("GRANULE/") and "/IMG_DATA/" in n and n.lower().endswith(IMAGE_EXTENSIONS)]
    granules: dict[str, dict[str, tuple[int, str | None, str]]] = {}
    tiles: dict[str, str] = {}
    for entry in listed:
        parts = entry.split("/")
        if len(parts) < 3 or parts[0] != "GRANULE":
            continue
        m = BAND_FILE.search(parts[-1])
        band = s2_band(m.group("band")) if m else None
        if m is None or band is None or is_auxiliary(m.group("band")):
            continue  # TCI, AOT, WVP ...
        res = int(m.group("res") or 0)
        rel = next((entry + ext for ext in IMAGE_EXTENSIONS if product.has(entry + ext)), None)
        g = granules.setdefault(parts[1], {})
        tiles.setdefault(parts[1], m.group("tile").upper())
        if band not in g or res < g[band][0]:  # the finest resolution of each band
            g[band] = (res, rel, entry)
    if not granules:
        raise ProviderError(f"SAFE product {str(product.path)!r} has no band files under "
                            "GRANULE/*/IMG_DATA (an incomplete download?)")
    scenes = []
    for granule, found in sorted(granules.items()):
        bands, missing = {}, {}
        for band, (_, rel, entry) in found.items():
            if rel is None:
                missing[band] = f"{entry}{IMAGE_EXTENSIONS[0]} (or .tif)"
            else:
                bands[band] = (product.gdal_path(rel), 1)
        geo = _tile_bounds(product, granule)
        if geo is None:
            if not bands:
                raise ProviderError(f"SAFE product {str(product.path)!r}: every band file of granule "
                                    f"{granule} is missing ({sorted(missing.values())[:3]} ...)")
            geo = _file_bounds(min(bands.values())[0])
        crs, bounds = geo
        scaling = {b: info.scaling(b) for b in bands if b in S2_REFLECTANCE}
        tile = tiles[granule]
        meta = {"source": "SAFE", "path": str(product.path), "product": info.name, "level": level,
                "tile": tile, "processing_baseline": info.baseline, "datetime": info.start.isoformat(),
                "crs": crs}
        if missing:
            meta["missing"] = missing
        if level == "L1C":
            meta["note"] = L1C_NOTE
        scenes.append(Scene(
            id=info.name if len(granules) == 1 else f"{info.name}_{tile}", date=info.start.date(),
            bands=bands, bounds_4326=tuple(transform_bounds(bounds, crs, "EPSG:4326")),
            cloudy_pct=info.cloud, meta=meta, scaling=scaling))
    return scenes


__all__ = ["read_safe", "read_product_xml", "product_info", "ProductInfo", "is_safe_zip", "is_safe_dir",
           "parse_time", "BAND_FILE", "PRODUCT_XML"]
