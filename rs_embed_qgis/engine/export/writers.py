"""Export writers: npz (as rs-embed), GeoTIFF (grids), NetCDF / Zarr (xarray),
GeoParquet and GeoPackage (pooled vectors with their ROI geometry).

Every writer writes a temporary file (or folder, for Zarr) beside its target and
renames it into place only when complete, so a crash never leaves a half file
under a real name. Array keys follow rs-embed: ``embedding__<model>`` and
``input_chw__<model>`` per ROI; ``embeddings__<model>`` / ``inputs_bchw__<model>``
stacked along the first axis in a combined file.
"""
from __future__ import annotations

import errno
import json
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError, SpecError
from ..io import atomic_dir, atomic_path, check_not_empty, to_json
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
    """NetCDF / Zarr, atomically; the result is reopened and its variables listed before it
    gets its name."""
    import xarray as xr

    names = sorted(map(str, ds.data_vars))

    def check(opened) -> None:
        with opened as back:
            got = sorted(map(str, back.data_vars))
        if got != names:
            raise OutputError(errno.EIO, f"{str(dst)!r} reads back with variables {got}, written {names}")

    if fmt == "netcdf":
        def verify(p: Path) -> None:
            check_not_empty(p)
            check(xr.open_dataset(p, engine=_netcdf_engine()))

        with _HDF5_LOCK, atomic_path(dst, suffix=".nc", verify=verify) as tmp:  # HDF5 is not reentrant
            try:
                ds.to_netcdf(tmp, engine=_netcdf_engine())
            except RuntimeError as exc:  # netCDF4 reports a failed HDF5 write (e.g. disk full) so
                raise OutputError(errno.EIO, f"cannot write {str(dst)!r}: {exc}") from exc
    else:
        with atomic_dir(dst, verify=lambda p: check(xr.open_zarr(str(p), consolidated=True))) as tmp:
            ds.to_zarr(str(tmp), mode="w", consolidated=True)


def write_npz(dst: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (numpy's uncompressed zip), atomically; its member list is read back first."""
    names = sorted(f"{k}.npy" for k in arrays)

    def verify(p: Path) -> None:
        check_not_empty(p)
        try:
            with zipfile.ZipFile(p) as z:  # the member list is the zip's last part: written last
                got = sorted(z.namelist())
        except (OSError, zipfile.BadZipFile) as exc:
            raise OutputError(errno.EIO, f"{str(dst)!r} does not read back after writing: {exc}") from exc
        if got != names:
            raise OutputError(errno.EIO, f"{str(dst)!r} reads back with members {got}, written {names}")

    with atomic_path(dst, suffix=".npz", verify=verify) as tmp:
        np.savez(tmp, **arrays)


def _write_input_geotiff(arr: np.ndarray, info: dict[str, Any], dst: Path) -> None:
    from ..geoio import write_raster

    if not info.get("crs") or not info.get("transform"):
        raise SpecError(f"input for {dst.name} has no crs/transform; cannot write it as GeoTIFF")
    bands = list(info.get("bands") or [])
    a = arr if arr.ndim == 3 else arr.reshape(-1, *arr.shape[-2:])
    names = bands if arr.ndim == 3 else [f"t{t}_{b}" for t in range(arr.shape[0]) for b in bands]
    write_raster(dst, a.astype(np.float32), crs=info["crs"], transform=info["transform"][:6],
                 band_names=[str(n) for n in names[:a.shape[0]]], tags={"RS_EMBED_INPUT": to_json(info)})


# -- geometry (GeoParquet, GeoPackage) -----------------------------------------------------
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


def roi_footprint_of(spatial_dict: dict[str, Any]):
    """The :class:`~..geo.Footprint` of an ROI stored in a manifest (the polygon the provider
    fetched: a PointBuffer's UTM square, a BBox's lon/lat rectangle)."""
    from ..geo import roi_footprint
    from ..specs import spatial_from_dict

    return roi_footprint(spatial_from_dict(spatial_dict))


def _write_geoparquet(rows: list[dict[str, Any]], models: Sequence[str], dims: dict[str, int],
                      dst: Path, file_meta: dict[str, Any]) -> None:
    """One row per ROI: name, index, status, one float32 list column per model, WKB geometry."""
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


def _write_gpkg(rows: list[dict[str, Any]], models: Sequence[str], dims: dict[str, int],
                dst: Path, file_meta: dict[str, Any]) -> None:
    """GeoPackage (opens in any QGIS): one polygon layer per model, fields ``name``,
    ``index``, ``status``, ``emb_000``... (float32 values stored exactly as REAL)."""
    from ..geoio.vector import VectorLayer, write_gpkg

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


def read_gpkg(path: Path) -> dict[str, list[np.ndarray | None]]:
    """``{model layer: [vector or None per row, in index order]}``."""
    from ..geoio.vector import open_gpkg

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


# -- per item ----------------------------------------------------------------------------------
def item_paths(out_dir: Path, name: str, fmt: str) -> Path:
    return out_dir / f"{name}{EXT[fmt]}"


def write_item(out_dir: Path, fmt: str, name: str, arrays: dict[str, np.ndarray],
               manifest: dict[str, Any]) -> list[Path]:
    """Write one ROI's arrays; returns the files written (manifest not included)."""
    files: list[Path] = []
    if fmt == "npz":
        dst = out_dir / f"{name}.npz"
        write_npz(dst, arrays)
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
            write_npz(side, inputs)
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
            write_npz(side, arrs)
        kmap.update({f"embedding__{sanitize_key(m)}": {"column": f"embedding__{sanitize_key(m)}"}
                     for m in models})
        return kmap
    arrays, kmap = combine_arrays(items)
    if fmt == "npz":
        write_npz(dst, arrays)
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
