"""GeoPackages of polygons (one feature per ROI) through OGR, which every QGIS ships.

One writer for the dock's pooled layer and the export's ``gpkg`` format: atomic (temp name,
then rename), every OGR call checked, and the file reopened and its features counted before
it gets its name.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OutputError, ProviderError, SpecError

#: field kinds -> OGR field types (names resolved on use: osgeo is imported lazily)
FIELD_TYPES = {"str": "OFTString", "int": "OFTInteger", "int64": "OFTInteger64", "real": "OFTReal"}


@dataclass
class VectorLayer:
    """One layer: ``fields`` as ``(name, kind)`` (kinds of :data:`FIELD_TYPES`), ``rows`` as
    ``(geometry, values)`` with the geometry as WKB bytes or WKT text in EPSG:4326 and one
    value per field (None: unset)."""

    name: str
    fields: list[tuple[str, str]]
    rows: list[tuple[bytes | str, Sequence[Any]]] = field(default_factory=list)


def _ogr():
    try:
        from osgeo import ogr, osr
    except ImportError as exc:
        raise SpecError(f"GeoPackage output needs the GDAL Python bindings (osgeo; shipped with QGIS, "
                        f"Debian: apt install python3-gdal): {exc}") from exc
    from ._gdal import call, errors

    return ogr, osr, call, errors


def _geometry(ogr, g: bytes | str):
    return ogr.CreateGeometryFromWkb(g) if isinstance(g, (bytes, bytearray)) else ogr.CreateGeometryFromWkt(g)


def write_gpkg(path: os.PathLike | str, layers: Sequence[VectorLayer], metadata: dict[str, str] | None = None
               ) -> Path:
    """Write polygon layers (EPSG:4326) to a GeoPackage at ``path``, atomically."""
    from ..io import atomic_path, discard

    ogr, osr, call, errors = _ogr()
    for lyr in layers:
        bad = [k for _, k in lyr.fields if k not in FIELD_TYPES]
        if bad:
            raise SpecError(f"field kinds must be among {sorted(FIELD_TYPES)}, got {bad}")
    path = Path(path)
    expect = {lyr.name: len(lyr.rows) for lyr in layers}
    with atomic_path(path, suffix=".gpkg", verify=lambda p: verify_gpkg(p, expect, str(path))) as tmp:
        tmp.unlink()  # OGR creates the file itself
        what = f"cannot write {str(path)!r}"
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(4326)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        try:
            with errors() as errs:
                ds = call(errs, what, ogr.GetDriverByName("GPKG").CreateDataSource, str(tmp))
                if ds is None:
                    raise OutputError(f"{what}: OGR's GPKG driver failed")
                for spec in layers:
                    geoms = [_geometry(ogr, g) for g, _ in spec.rows]
                    polygons = all(g is not None and g.GetGeometryType() == ogr.wkbPolygon for g in geoms)
                    lyr = call(errs, what, ds.CreateLayer, spec.name, srs,
                               ogr.wkbPolygon if polygons else ogr.wkbUnknown, ["SPATIAL_INDEX=YES", "FID=fid"])
                    for fname, kind in spec.fields:
                        call(errs, what, lyr.CreateField, ogr.FieldDefn(fname, getattr(ogr, FIELD_TYPES[kind])))
                    defn = lyr.GetLayerDefn()
                    call(errs, what, lyr.StartTransaction)
                    for (_, values), geom in zip(spec.rows, geoms, strict=True):
                        if geom is None:
                            raise SpecError(f"layer {spec.name!r}: a geometry is not valid WKB/WKT")
                        f = ogr.Feature(defn)
                        for j, v in enumerate(values):
                            if v is not None:
                                f.SetField(j, v)
                        f.SetGeometry(geom)
                        call(errs, what, lyr.CreateFeature, f)
                    call(errs, what, lyr.CommitTransaction)
                for k, v in (metadata or {}).items():
                    call(errs, what, ds.SetMetadataItem, str(k), str(v))
                call(errs, what, ds.FlushCache)
                ds = None  # close: SQLite commits and writes the file
                msg = errs.take()
            if msg:
                raise OutputError(f"{what}: {msg}")
        finally:
            ds = None
            for side in (Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm"), Path(str(tmp) + "-journal")):
                if side.exists():
                    discard(side)
    return path


def open_gpkg(path: os.PathLike | str):
    """An OGR data source, read-only; :class:`ProviderError` if it cannot be opened."""
    ogr, _, call, errors = _ogr()
    with errors() as errs:
        ds = call(errs, f"cannot read {str(path)!r}", ogr.Open, str(path), exc=ProviderError)
    if ds is None:
        raise ProviderError(f"cannot read {str(path)!r}: not a vector file OGR can open")
    return ds


def verify_gpkg(path: Path, expect: dict[str, int], label: str | None = None) -> None:
    """Raise :class:`OutputError` unless ``path`` reopens with these layers and feature counts."""
    name = repr(label or str(path))
    try:
        ds = open_gpkg(path)
    except ProviderError as exc:
        raise OutputError(errno.EIO, f"{name} does not read back after writing: {exc}") from exc
    try:
        got = {}
        for k in range(ds.GetLayerCount()):
            lyr = ds.GetLayer(k)
            got[lyr.GetName()] = lyr.GetFeatureCount()
    finally:
        ds = None
    if got != expect:
        raise OutputError(errno.EIO, f"{name} reads back with layers and features {got}, written {expect}")


__all__ = ["FIELD_TYPES", "VectorLayer", "open_gpkg", "verify_gpkg", "write_gpkg"]
