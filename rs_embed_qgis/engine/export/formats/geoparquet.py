"""``format="geoparquet"``: pooled vectors, one row per ROI: ``name``, ``index``, ``status``, one
``embedding__<model>`` column per model (``fixed_size_list<float32>[D]``, null where the model
failed) and ``geometry`` (WKB polygon of the ROI in lon/lat), with GeoParquet 1.1's ``geo`` file
metadata (OGC:CRS84) and the manifest in ``rs_embed``. Plain pyarrow: no shapely."""
from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import OutputError
from ...io import atomic_path, check_not_empty, to_json
from ...names import sanitize_key
from .base import VectorFormat, roi_footprint_of

#: PROJJSON of OGC:CRS84 (lon/lat WGS 84), GeoParquet's default CRS, as PROJ writes it
CRS84_PROJJSON = {
    "$schema": "https://proj.org/schemas/v0.5/projjson.schema.json", "type": "GeographicCRS",
    "name": "WGS 84 (CRS84)",
    "datum_ensemble": {"name": "World Geodetic System 1984 ensemble",
                       "members": [{"name": "World Geodetic System 1984 (Transit)"},
                                   {"name": "World Geodetic System 1984 (G730)"},
                                   {"name": "World Geodetic System 1984 (G873)"},
                                   {"name": "World Geodetic System 1984 (G1150)"},
                                   {"name": "World Geodetic System 1984 (G1674)"},
                                   {"name": "World Geodetic System 1984 (G1762)"},
                                   {"name": "World Geodetic System 1984 (G2139)"}],
                       "ellipsoid": {"name": "WGS 84", "semi_major_axis": 6378137,
                                     "inverse_flattening": 298.257223563},
                       "accuracy": "2.0", "id": {"authority": "EPSG", "code": 6326}},
    "coordinate_system": {"subtype": "ellipsoidal", "axis": [
        {"name": "Geodetic longitude", "abbreviation": "Lon", "direction": "east", "unit": "degree"},
        {"name": "Geodetic latitude", "abbreviation": "Lat", "direction": "north", "unit": "degree"}]},
    "id": {"authority": "OGC", "code": "CRS84"}}


class GeoParquetFormat(VectorFormat):
    name = "geoparquet"
    ext = ".parquet"
    aliases = ("parquet",)
    description = ("GeoParquet 1.1: one row per ROI with its polygon (GeoPandas, DuckDB; QGIS with GDAL's "
                   "Parquet driver)")
    requires = ("pyarrow",)
    install = "pip install 'pyarrow<17'"

    def write_rows(self, dst, rows, models, dims, file_meta):
        import pyarrow as pa
        import pyarrow.parquet as pq

        feet = [roi_footprint_of(r["spatial"]) for r in rows]
        cols: dict[str, Any] = {
            "name": pa.array([r["name"] for r in rows], pa.string()),
            "index": pa.array([r["index"] for r in rows], pa.int64()),
            "status": pa.array([r["status"] for r in rows], pa.string()),
        }
        for m in models:
            d = dims.get(m)
            typ = pa.list_(pa.float32(), d) if d else pa.list_(pa.float32())
            vals = [None if r["emb"].get(m) is None else np.asarray(r["emb"][m], np.float32) for r in rows]
            cols[f"embedding__{sanitize_key(m)}"] = pa.array(
                [None if v is None else v.tolist() for v in vals], typ)
        cols["geometry"] = pa.array([f.wkb() for f in feet], pa.binary())
        boxes = np.asarray([f.bounds_4326 for f in feet], np.float64).reshape(-1, 4)
        bounds = ([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]
                  if len(boxes) else [0, 0, 0, 0])
        geo = {"version": "1.1.0", "primary_column": "geometry",
               "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"],
                                        "crs": CRS84_PROJJSON, "bbox": [float(v) for v in bounds]}}}
        table = pa.table(cols)
        table = table.replace_schema_metadata({
            b"geo": json.dumps(geo).encode(), b"rs_embed": to_json(file_meta).encode()})

        def verify(p: Path) -> None:
            check_not_empty(p)
            try:
                n = pq.read_metadata(p).num_rows
            except (OSError, pa.ArrowException) as exc:
                raise OutputError(errno.EIO, f"{str(dst)!r} does not read back after writing: {exc}") from exc
            if n != len(rows):
                raise OutputError(errno.EIO, f"{str(dst)!r} reads back with {n} rows, written {len(rows)}")

        with atomic_path(dst, suffix=".parquet", verify=verify) as tmp:
            pq.write_table(table, tmp)

    def read_rows(self, path):
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        return {c: [None if x is None else np.asarray(x, np.float32) for x in t.column(c).to_pylist()]
                for c in t.column_names if c.startswith("embedding__")}
