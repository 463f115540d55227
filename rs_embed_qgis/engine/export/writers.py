"""Export writers: npz (as rs-embed), GeoTIFF (grids), NetCDF / Zarr (xarray),
GeoParquet and GeoPackage (pooled vectors with their ROI geometry).

Every writer writes a temporary file (or folder, for Zarr) beside its target and
renames it into place only when complete, so a crash never leaves a half file
under a real name. Array keys follow rs-embed: ``embedding__<model>`` and
``input_chw__<model>`` per ROI; ``embeddings__<model>`` / ``inputs_bchw__<model>``
stacked along the first axis in a combined file.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..io import atomic_path, to_json
from ..names import sanitize_key

FORMATS = ("npz", "geotiff", "netcdf", "zarr", "geoparquet", "gpkg")
VECTOR_FORMATS = ("geoparquet", "gpkg")
LAYOUTS = ("per_item", "combined")
_HDF5_LOCK = threading.Lock()
EXT = {"npz": ".npz", "geotiff": ".tif", "netcdf": ".nc", "zarr": ".zarr", "geoparquet": ".parquet",
       "gpkg": ".gpkg"}
GPKG_MAX_DIM = 1990  # SQLite allows 2000 columns per table


def check_format(fmt: str, layout: str, output_mode: str, save_inputs: bool) -> str:
    f = str(fmt).lower().strip()
    f = {"nc": "netcdf", "tif": "geotiff", "tiff": "geotiff", "parquet": "geoparquet",
         "geopackage": "gpkg"}.get(f, f)
    if f not in FORMATS:
        raise SpecError(f"format must be one of {FORMATS}, got {fmt!r}")
    if f == "geotiff" and output_mode != "grid":
        raise SpecError("format='geotiff' writes grid embeddings; got a pooled output. "
                        "Use OutputSpec.grid(...) or format='npz'/'geoparquet' for vectors")
    if f == "geotiff" and layout == "combined":
        raise SpecError("format='geotiff' writes one GeoTIFF per ROI and model; "
                        "use layout='per_item' (out_dir=...), not layout='combined'")
    if f in VECTOR_FORMATS and output_mode != "pooled":
        raise SpecError(f"format={f!r} stores pooled vectors (one row per ROI); "
                        "got a grid output. Use OutputSpec.pooled() or format='geotiff'/'netcdf'/'zarr'")
    _require(f)
    return f


_NEEDS = {"zarr": (("zarr",), "pip install 'zarr<3'"),
          "geoparquet": (("pyarrow",), "pip install 'pyarrow<17'"),
          "gpkg": (("osgeo",), "the GDAL Python bindings (Debian: apt install python3-gdal)")}


def _require(fmt: str) -> None:
    """Fail before any work when the format's library is missing."""
    import importlib.util

    if fmt == "netcdf":
        _netcdf_engine()
        return
    mods, how = _NEEDS.get(fmt, ((), ""))
    missing = [m for m in mods if importlib.util.find_spec(m) is None]
    if missing:
        raise SpecError(f"format={fmt!r} needs {', '.join(missing)}: {how}")


# -- atomic folder (Zarr) -------------------------------------------------------------------
@contextmanager
def atomic_dir(dst: os.PathLike | str) -> Iterator[Path]:
    """Yield a temp folder beside ``dst``; it replaces ``dst`` only if the block succeeds."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        yield tmp
        from ..io import DIR_MODE

        os.chmod(tmp, DIR_MODE)  # mkdtemp made it 0700
        if dst.exists():  # a directory cannot be replaced atomically: move the old one aside first
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
            os.replace(dst, old / "x")
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def path_size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def is_temp_name(name: str) -> bool:
    """Names of our temporary files/folders (``.<target>.<random><ext>|.tmp|.old``)."""
    return name.startswith(".") and name.count(".") >= 2


# -- per-array helpers ----------------------------------------------------------------------
def _emb_model(key: str) -> str:
    return key.split("__", 1)[1]


def _xy_coords(transform: Sequence[float] | None, h: int, w: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not transform:
        return None, None
    a, _, c, _, e, f = list(transform)[:6]
    return c + a * (np.arange(w) + 0.5), f + e * (np.arange(h) + 0.5)


def _model_entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["model"]: m for m in manifest.get("models", [])}


def _dataset(arrays: dict[str, np.ndarray], manifest: dict[str, Any]):
    """One ROI's arrays as an xarray Dataset with named, georeferenced dimensions."""
    import xarray as xr

    entries = _model_entries(manifest)
    data_vars, coords = {}, {}
    for key, arr in arrays.items():
        k = sanitize_key(_emb_model(key))
        if key.startswith("embedding__"):
            meta = (entries.get(_emb_model(key)) or {}).get("meta") or {}
            if arr.ndim == 1:
                dims = (f"feature__{k}",)
            else:
                dims = (f"feature__{k}", f"y__{k}", f"x__{k}")
                xs, ys = _xy_coords(meta.get("transform"), arr.shape[1], arr.shape[2])
                if xs is not None:
                    coords[f"x__{k}"], coords[f"y__{k}"] = xs, ys
            attrs = {"crs": meta.get("crs") or "", "transform": list(meta.get("transform") or [])}
        else:  # input_chw__ / input_tchw__
            src = next((e.get("input") for e in entries.values()
                        if (e.get("input") or {}).get("key") == key), None) or {}
            dims = ((f"time__{k}",) if arr.ndim == 4 else ()) + (f"band__{k}", f"iy__{k}", f"ix__{k}")
            if src.get("bands"):
                coords[f"band__{k}"] = np.asarray(src["bands"], dtype=str)
            xs, ys = _xy_coords(src.get("transform"), arr.shape[-2], arr.shape[-1])
            if xs is not None:
                coords[f"ix__{k}"], coords[f"iy__{k}"] = xs, ys
            attrs = {"crs": src.get("crs") or "", "transform": list(src.get("transform") or [])}
        data_vars[key] = xr.Variable(dims, arr, attrs=attrs)
    return xr.Dataset(data_vars, coords=coords)


def _netcdf_engine() -> str | None:
    # h5netcdf first: h5py serialises HDF5 calls, netCDF4-python is not thread-safe
    for mods, eng in ((("h5netcdf", "h5py"), "h5netcdf"), (("netCDF4",), "netcdf4")):
        try:
            for mod in mods:
                __import__(mod)
            return eng
        except ImportError:
            continue
    raise SpecError("format='netcdf' needs netCDF4 or h5netcdf (pip install netCDF4)")


def _write_xarray(ds, dst: Path, fmt: str) -> None:
    if fmt == "netcdf":
        with atomic_path(dst, suffix=".nc") as tmp, _HDF5_LOCK:  # HDF5 is not reentrant
            ds.to_netcdf(tmp, engine=_netcdf_engine())
    else:
        with atomic_dir(dst) as tmp:
            ds.to_zarr(str(tmp), mode="w", consolidated=True)


def _write_input_geotiff(arr: np.ndarray, info: dict[str, Any], dst: Path) -> None:
    import rasterio
    from rasterio.transform import Affine

    if not info.get("crs") or not info.get("transform"):
        raise SpecError(f"input for {dst.name} has no crs/transform; cannot write it as GeoTIFF")
    bands = list(info.get("bands") or [])
    a = arr if arr.ndim == 3 else arr.reshape(-1, *arr.shape[-2:])
    names = bands if arr.ndim == 3 else [f"t{t}_{b}" for t in range(arr.shape[0]) for b in bands]
    prof = dict(driver="GTiff", width=a.shape[2], height=a.shape[1], count=a.shape[0],
                dtype="float32", crs=info["crs"], transform=Affine(*info["transform"][:6]),
                compress="deflate")
    with atomic_path(dst, suffix=".tif") as tmp:
        with rasterio.open(tmp, "w", **prof) as out:
            out.write(a.astype(np.float32))
            for i, n in enumerate(names[:a.shape[0]]):
                out.set_band_description(i + 1, str(n))
            out.update_tags(RS_EMBED_INPUT=to_json(info))


# -- geometry (GeoParquet) ------------------------------------------------------------------
def roi_polygon_4326(spatial_dict: dict[str, Any]):
    """The ROI as a lon/lat shapely polygon (a PointBuffer is its UTM square, densified)."""
    from shapely.geometry import Polygon, box

    from ..geo import _transformer, roi_grid
    from ..specs import spatial_from_dict

    sp = spatial_from_dict(spatial_dict)
    if sp.__class__.__name__ == "BBox":
        return box(sp.minlon, sp.minlat, sp.maxlon, sp.maxlat)
    lon, lat = sp.center
    g = roi_grid(sp, 1.0)
    x, y = _transformer("EPSG:4326", g.crs).transform(lon, lat)
    b, n = sp.buffer_m, 8
    t = np.linspace(-b, b, n + 1)
    ring = ([(x + u, y - b) for u in t] + [(x + b, y + v) for v in t[1:]]
            + [(x - u, y + b) for u in t[1:]] + [(x - b, y - v) for v in t[1:]])
    xs, ys = _transformer(g.crs, "EPSG:4326").transform([p[0] for p in ring], [p[1] for p in ring])
    return Polygon(list(zip(xs, ys, strict=True)))


def _write_geoparquet(rows: list[dict[str, Any]], models: Sequence[str], dims: dict[str, int],
                      dst: Path, file_meta: dict[str, Any]) -> None:
    """One row per ROI: name, index, status, one float32 list column per model, WKB geometry."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    geoms = [roi_polygon_4326(r["spatial"]) for r in rows]
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
    cols["geometry"] = pa.array([shapely.to_wkb(g) for g in geoms], pa.binary())
    from pyproj import CRS

    bounds = shapely.total_bounds(np.asarray(geoms, dtype=object)) if geoms else [0, 0, 0, 0]
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"],
                                    "crs": CRS.from_user_input("OGC:CRS84").to_json_dict(),
                                    "bbox": [float(v) for v in bounds]}}}
    table = pa.table(cols)
    table = table.replace_schema_metadata({
        b"geo": json.dumps(geo).encode(), b"rs_embed": to_json(file_meta).encode()})
    with atomic_path(dst, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def _write_gpkg(rows: list[dict[str, Any]], models: Sequence[str], dims: dict[str, int],
                dst: Path, file_meta: dict[str, Any]) -> None:
    """GeoPackage (opens in any QGIS): one polygon layer per model, fields ``name``,
    ``index``, ``status``, ``emb_000``... (float32 values stored exactly as REAL)."""
    try:
        from osgeo import ogr, osr
    except ImportError as exc:
        raise SpecError(f"format='gpkg' needs the GDAL Python bindings (osgeo): {exc}") from exc
    import shapely

    too_big = {m: d for m, d in dims.items() if d > GPKG_MAX_DIM}
    if too_big:
        raise SpecError(f"format='gpkg' holds at most {GPKG_MAX_DIM} dimensions per model "
                        f"(SQLite column limit), got {too_big}; use format='geoparquet' or 'npz'")
    ogr.UseExceptions()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    geoms = [shapely.to_wkb(roi_polygon_4326(r["spatial"])) for r in rows]
    with atomic_path(dst, suffix=".gpkg") as tmp:
        tmp.unlink()  # GDAL creates the file itself
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        try:
            for m in models:
                d = dims.get(m, 0)
                lyr = ds.CreateLayer(sanitize_key(m), srs, ogr.wkbPolygon,
                                     options=["SPATIAL_INDEX=YES", "FID=fid"])
                for fname, ftype in (("name", ogr.OFTString), ("index", ogr.OFTInteger64),
                                     ("status", ogr.OFTString)):
                    lyr.CreateField(ogr.FieldDefn(fname, ftype))
                for j in range(d):
                    lyr.CreateField(ogr.FieldDefn(f"emb_{j:03d}", ogr.OFTReal))
                defn = lyr.GetLayerDefn()
                lyr.StartTransaction()
                for r, wkb in zip(rows, geoms, strict=True):
                    f = ogr.Feature(defn)
                    f.SetField("name", r["name"])
                    f.SetField("index", int(r["index"]))
                    vec = r["emb"].get(m)
                    f.SetField("status", "ok" if vec is not None else "failed")
                    if vec is not None:
                        for j, v in enumerate(np.asarray(vec, np.float32).tolist()):
                            f.SetField(3 + j, v)  # after name, index, status
                    f.SetGeometry(ogr.CreateGeometryFromWkb(wkb))
                    lyr.CreateFeature(f)
                lyr.CommitTransaction()
            ds.SetMetadataItem("RS_EMBED", to_json(file_meta))
        finally:
            ds = None  # close: flushes and releases the file


def read_gpkg(path: Path) -> dict[str, list[np.ndarray | None]]:
    """``{model layer: [vector or None per row, in index order]}``."""
    from osgeo import ogr

    ogr.UseExceptions()
    ds = ogr.Open(str(path))
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


# -- per item ----------------------------------------------------------------------------------
def item_paths(out_dir: Path, name: str, fmt: str) -> Path:
    return out_dir / f"{name}{EXT[fmt]}"


def write_item(out_dir: Path, fmt: str, name: str, arrays: dict[str, np.ndarray],
               manifest: dict[str, Any]) -> list[Path]:
    """Write one ROI's arrays; returns the files written (manifest not included)."""
    files: list[Path] = []
    if fmt == "npz":
        dst = out_dir / f"{name}.npz"
        with atomic_path(dst, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        files.append(dst)
    elif fmt in ("netcdf", "zarr"):
        ds = _dataset(arrays, manifest)
        ds.attrs["rs_embed_manifest"] = to_json(_slim(manifest))
        dst = item_paths(out_dir, name, fmt)
        _write_xarray(ds, dst, fmt)
        files.append(dst)
    elif fmt == "geotiff":
        from ..embedding import Embedding
        from ..io import write_embedding_geotiff

        entries = _model_entries(manifest)
        for key, arr in arrays.items():
            model = _emb_model(key)
            if key.startswith("embedding__"):
                dst = out_dir / f"{name}.{sanitize_key(model)}.tif"
                write_embedding_geotiff(Embedding(arr, dict(entries[model].get("meta") or {})), dst)
            else:
                info = next(e["input"] for e in entries.values() if (e.get("input") or {}).get("key") == key)
                dst = out_dir / f"{name}.input.{sanitize_key(model)}.tif"
                _write_input_geotiff(arr, info, dst)
            files.append(dst)
    elif fmt in VECTOR_FORMATS:
        entries = _model_entries(manifest)
        emb = {m: arrays.get(f"embedding__{sanitize_key(m)}") for m in entries}
        dims = {m: int(a.shape[0]) for m, a in emb.items() if a is not None}
        row = {"name": name, "index": manifest["index"], "status": manifest["status"],
               "spatial": manifest["spatial"], "emb": emb}
        dst = out_dir / f"{name}{EXT[fmt]}"
        writer = _write_geoparquet if fmt == "geoparquet" else _write_gpkg
        writer([row], list(entries), dims, dst, _slim(manifest))
        files.append(dst)
        inputs = {k: v for k, v in arrays.items() if k.startswith("input_")}
        if inputs:  # vectors only in GeoParquet: inputs go to a side npz, nothing is dropped
            side = out_dir / f"{name}.inputs.npz"
            with atomic_path(side, suffix=".npz") as tmp:
                np.savez(tmp, **inputs)
            files.append(side)
    else:  # pragma: no cover - check_format guards this
        raise SpecError(f"unknown format {fmt!r}")
    return files


def _slim(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without per-model embedding meta (kept in the JSON, too big for attrs)."""
    m = dict(manifest)
    m["models"] = [{k: v for k, v in e.items() if k != "meta"} for e in manifest.get("models", [])]
    return m


# -- combined --------------------------------------------------------------------------------
def _stack(per_item: list[np.ndarray | None]) -> np.ndarray | None:
    """Stack along a new first axis, NaN where an item failed; None if shapes differ."""
    present = [a for a in per_item if a is not None]
    if not present:
        return None
    shape = present[0].shape
    if any(a.shape != shape for a in present):
        return None
    out = np.full((len(per_item),) + shape, np.nan, np.float32)
    for i, a in enumerate(per_item):
        if a is not None:
            out[i] = a
    return out


def combine_arrays(items: list[tuple[dict[str, np.ndarray], dict[str, Any]]]
                   ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Per-ROI arrays -> combined arrays and a key map ``{per-item key: {...}}``.

    ``embedding__m`` -> ``embeddings__m`` and ``input_chw__m`` -> ``inputs_bchw__m``
    (``input_tchw__m`` -> ``inputs_btchw__m``), row i = ROI i, NaN rows for failures.
    Arrays whose shapes differ between ROIs stay per ROI as ``<key>__<index:05d>``.
    """
    keys: list[str] = []
    for arrays, _ in items:
        for k in arrays:
            if k not in keys:
                keys.append(k)
    out: dict[str, np.ndarray] = {}
    kmap: dict[str, dict[str, Any]] = {}
    for k in keys:
        head, model = k.split("__", 1)
        big = {"embedding": "embeddings", "input_chw": "inputs_bchw", "input_tchw": "inputs_btchw"}[head]
        per = [arrays.get(k) for arrays, _ in items]
        st = _stack(per)
        if st is not None:
            out[f"{big}__{model}"] = st
            kmap[k] = {"key": f"{big}__{model}", "stacked": True,
                       "missing": [i for i, a in enumerate(per) if a is None]}
        else:
            ks = {}
            for (_arrays, man), a in zip(items, per, strict=True):
                if a is not None:
                    kk = f"{k}__{int(man['index']):05d}"
                    out[kk] = a
                    ks[str(int(man["index"]))] = kk  # str: the same in JSON and in memory
            kmap[k] = {"keys": ks, "stacked": False}
    return out, kmap


def write_combined(dst: Path, fmt: str, items: list[tuple[dict[str, np.ndarray], dict[str, Any]]],
                   models: Sequence[str], manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Write all ROIs into one file; returns the key map stored in the manifest."""
    if fmt in VECTOR_FORMATS:
        rows, dims = [], {}
        for arrays, man in items:
            emb = {m: arrays.get(f"embedding__{sanitize_key(m)}") for m in models}
            for m, a in emb.items():
                if a is not None:
                    dims[m] = int(a.shape[0])
            rows.append({"name": man["name"], "index": man["index"], "status": man["status"],
                         "spatial": man["spatial"], "emb": emb})
        writer = _write_geoparquet if fmt == "geoparquet" else _write_gpkg
        writer(rows, models, dims, dst, {k: v for k, v in manifest.items() if k != "items"})
        inputs = [({k: v for k, v in a.items() if k.startswith("input_")}, m) for a, m in items]
        kmap = {}
        if any(i for i, _ in inputs):
            arrs, kmap = combine_arrays(inputs)
            side = dst.with_name(dst.stem + ".inputs.npz")
            with atomic_path(side, suffix=".npz") as tmp:
                np.savez(tmp, **arrs)
        kmap.update({f"embedding__{sanitize_key(m)}": {"column": f"embedding__{sanitize_key(m)}"}
                     for m in models})
        return kmap
    arrays, kmap = combine_arrays(items)
    if fmt == "npz":
        with atomic_path(dst, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
    elif fmt in ("netcdf", "zarr"):
        import xarray as xr

        names = [man["name"] for _, man in items]
        data_vars = {}
        for k, a in arrays.items():
            if a.shape[0] == len(items) and any(v.get("key") == k for v in kmap.values()):
                dims = ("item",) + tuple(f"{k}_d{j}" for j in range(1, a.ndim))
            else:
                dims = tuple(f"{k}_d{j}" for j in range(a.ndim))
            data_vars[k] = xr.Variable(dims, a)
        ds = xr.Dataset(data_vars, coords={"item": np.arange(len(items)),
                                           "name": ("item", np.asarray(names, dtype=str))})
        ds.attrs["rs_embed_manifest"] = to_json({k: v for k, v in manifest.items() if k != "items"})
        _write_xarray(ds, dst, fmt)
    else:
        raise SpecError(f"format {fmt!r} cannot be written as one combined file")
    return kmap
