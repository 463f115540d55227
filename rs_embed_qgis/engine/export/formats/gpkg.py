"""``format="gpkg"``: pooled vectors in a GeoPackage (opens in any QGIS), written with GDAL's
``osgeo.ogr`` (``engine.geoio.vector``): one EPSG:4326 polygon layer per model, fields ``name``,
``index``, ``status``, ``emb_000``... (float32 values stored exactly as REAL), the manifest in the
dataset metadata item ``RS_EMBED``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import SpecError
from ...io import to_json
from ...names import sanitize_key
from .base import VectorFormat, roi_footprint_of

GPKG_MAX_DIM = 1990  # SQLite allows 2000 columns per table


def read_gpkg(path: Path) -> dict[str, list[np.ndarray | None]]:
    """``{model layer: [vector or None per row, in index order]}``."""
    from ...geoio.vector import open_gpkg

    ds = open_gpkg(path)
    out: dict[str, list[np.ndarray | None]] = {}
    try:
        for k in range(ds.GetLayerCount()):
            lyr = ds.GetLayer(k)
            defn = lyr.GetLayerDefn()
            emb_idx = [j for j in range(defn.GetFieldCount())
                       if defn.GetFieldDefn(j).GetName().startswith("emb_")]
            rows = []
            for f in lyr:
                vec = (np.asarray([f.GetFieldAsDouble(j) for j in emb_idx], np.float32)
                       if f.GetField("status") == "ok" else None)
                rows.append((f.GetField("index"), vec))
            out[lyr.GetName()] = [v for _, v in sorted(rows, key=lambda t: t[0])]
    finally:
        ds = None
    return out


class GpkgFormat(VectorFormat):
    name = "gpkg"
    ext = ".gpkg"
    aliases = ("geopackage",)
    description = "GeoPackage: one polygon layer per model, a field per dimension (opens in any QGIS)"
    requires = ("osgeo",)
    install = "the GDAL Python bindings (Debian: apt install python3-gdal)"

    def write_rows(self, dst, rows, models, dims, file_meta):
        from ...geoio.vector import VectorLayer, write_gpkg

        too_big = {m: d for m, d in dims.items() if d > GPKG_MAX_DIM}
        if too_big:
            raise SpecError(f"format='gpkg' holds at most {GPKG_MAX_DIM} dimensions per model "
                            f"(SQLite column limit), got {too_big}; use format='geoparquet' or 'npz'")
        geoms = [roi_footprint_of(r["spatial"]).wkb() for r in rows]
        layers = []
        for m in models:
            d = dims.get(m, 0)
            fields = [("name", "str"), ("index", "int64"), ("status", "str")] + [(f"emb_{j:03d}", "real")
                                                                                 for j in range(d)]
            out = []
            for r, wkb in zip(rows, geoms, strict=True):
                vec = r["emb"].get(m)
                vals = ([] if vec is None else np.asarray(vec, np.float32).tolist())
                out.append((wkb, [r["name"], int(r["index"]), "ok" if vec is not None else "failed"] + vals))
            layers.append(VectorLayer(sanitize_key(m), fields, out))
        write_gpkg(dst, layers, {"RS_EMBED": to_json(file_meta)})

    def read_rows(self, path):
        return {f"embedding__{layer}": rows for layer, rows in read_gpkg(path).items()}
