"""``load_export``: read any export back (per-ROI folder or combined file, any format)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from ..names import sanitize_key
from . import writers
from .manifest import RUN_MANIFEST, read_json


def _read_dataset(path: Path, fmt: str) -> dict[str, np.ndarray]:
    import xarray as xr

    if fmt == "netcdf":
        with writers._HDF5_LOCK, xr.open_dataset(path, engine=writers._netcdf_engine()) as ds:
            return {k: np.asarray(v.values) for k, v in ds.data_vars.items()}
    with xr.open_zarr(str(path)) as ds:
        return {k: np.asarray(v.values) for k, v in ds.data_vars.items()}


def _read_parquet(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    out: dict[str, Any] = {c: t.column(c).to_pylist() for c in t.column_names}
    return out


def _read_item(folder: Path, name: str, fmt: str, man: dict[str, Any] | None, models: list[str]
               ) -> dict[str, np.ndarray]:
    if fmt == "npz":
        with np.load(folder / f"{name}.npz") as z:
            return {k: z[k] for k in z.files}
    if fmt in ("netcdf", "zarr"):
        return _read_dataset(writers.item_paths(folder, name, fmt), fmt)
    if fmt == "geotiff":
        from ..geoio import open_raster

        arrays: dict[str, np.ndarray] = {}
        for e in (man or {}).get("models", [{"model": m} for m in models]):
            m = e["model"]
            p = folder / f"{name}.{sanitize_key(m)}.tif"
            if p.exists():
                with open_raster(p) as src:
                    arrays[f"embedding__{sanitize_key(m)}"] = src.read(dtype="float32")
            inp = e.get("input") or {}
            if inp.get("key") and not inp.get("dedup_reused"):
                p = folder / f"{name}.input.{inp['key'].split('__', 1)[1]}.tif"
                with open_raster(p) as src:
                    arrays[inp["key"]] = src.read(dtype="float32").reshape(inp["shape"])
        return arrays
    if fmt in writers.VECTOR_FORMATS:
        if fmt == "geoparquet":
            cols = _read_parquet(folder / f"{name}.parquet")
            arrays = {k: np.asarray(v[0], np.float32) for k, v in cols.items()
                      if k.startswith("embedding__") and v[0] is not None}
        else:
            arrays = {f"embedding__{k}": v[0] for k, v in writers.read_gpkg(folder / f"{name}.gpkg").items()
                      if v and v[0] is not None}
        side = folder / f"{name}.inputs.npz"
        if side.exists():
            with np.load(side) as z:
                arrays.update({k: z[k] for k in z.files})
        return arrays
    raise SpecError(f"unknown export format {fmt!r}")


def _by_model(models, names, per_item: list[dict[str, np.ndarray]], mans) -> dict[str, Any]:
    emb: dict[str, Any] = {}
    inp: dict[str, Any] = {}
    for m in models:
        k = f"embedding__{sanitize_key(m)}"
        vals = [a.get(k) for a in per_item]
        st = writers._stack(vals)
        emb[m] = st if st is not None else vals
        ivals = []
        for a, man in zip(per_item, mans, strict=True):
            e = next((x for x in (man or {}).get("models", []) if x.get("model") == m), None)
            key = ((e or {}).get("input") or {}).get("key")
            if key is None:
                key = f"input_chw__{sanitize_key(m)}" if f"input_chw__{sanitize_key(m)}" in a else None
            ivals.append(a.get(key) if key else None)
        if any(v is not None for v in ivals):
            st = writers._stack(ivals)
            inp[m] = st if st is not None else ivals
    return {"embeddings": emb, "inputs": inp}


def load_export(path: str) -> dict[str, Any]:
    """Read an export back.

    ``path``: the ``out_dir`` of a per-ROI export, or the combined file (or its
    ``.json``). Returns ``{"manifest", "layout", "format", "names", "items",
    "embeddings": {model: array (N, ...) or list}, "inputs": {model: ...}}``;
    rows of failed or missing ROIs are NaN (or None in lists).
    """
    p = Path(path)
    if p.is_dir() and not p.name.endswith(".zarr"):
        run = read_json(p / RUN_MANIFEST)
        if run is None:
            raise SpecError(f"{str(p)!r} has no {RUN_MANIFEST}; is it an export_batch out_dir?")
        fmt, names, models = run["format"], run["names"], [m["model"] for m in run["models"]]
        mans, per = [], []
        for n in names:
            man = read_json(p / f"{n}.json")
            mans.append(man)
            if fmt != "geotiff" and not writers.item_paths(p, n, fmt).exists():
                per.append({})  # a failed or never written ROI: its rows are NaN
                continue
            try:
                per.append(_read_item(p, n, fmt, man, models))
            except (OSError, KeyError, ValueError) as exc:  # a file that is there must read
                raise ProviderError(f"export item {n!r} in {str(p)!r} cannot be read: "
                                    f"{type(exc).__name__}: {exc}") from exc
        return {"manifest": run, "layout": "per_item", "format": fmt, "names": names, "items": mans,
                **_by_model(models, names, per, mans)}
    if p.suffix == ".json":
        man_path = p
    else:
        man_path = p.with_suffix(".json")
    run = read_json(man_path)
    if run is None or run.get("layout") != "combined":
        raise SpecError(f"no combined export manifest at {str(man_path)!r}")
    final = Path(run["target"])
    if not final.exists():
        final = man_path.with_name(Path(run["target"]).name)
    fmt, names, models = run["format"], run["names"], [m["model"] for m in run["models"]]
    items = run.get("items", [])
    kmap = run.get("keys", {})
    if fmt == "npz":
        with np.load(final) as z:
            arrays = {k: z[k] for k in z.files}
    elif fmt in ("netcdf", "zarr"):
        arrays = _read_dataset(final, fmt)
    elif fmt in writers.VECTOR_FORMATS:
        if fmt == "geoparquet":
            cols = {k: [None if x is None else np.asarray(x, np.float32) for x in v]
                    for k, v in _read_parquet(final).items() if k.startswith("embedding__")}
        else:
            cols = {f"embedding__{k}": v for k, v in writers.read_gpkg(final).items()}
        arrays = {}
        for k, per in cols.items():
            st = writers._stack(per)
            arrays[k] = st if st is not None else per
        side = final.with_name(final.stem + ".inputs.npz")
        if side.exists():
            with np.load(side) as z:
                arrays.update({k: z[k] for k in z.files})
    else:
        raise SpecError(f"unknown export format {fmt!r}")
    emb, inp = {}, {}
    for m in models:
        k = f"embedding__{sanitize_key(m)}"
        if fmt in writers.VECTOR_FORMATS:
            if k in arrays:
                emb[m] = arrays[k]
        else:
            info = kmap.get(k)
            if info:
                emb[m] = (arrays[info["key"]] if info.get("stacked")
                          else [arrays.get(info["keys"].get(str(i))) for i in range(len(names))])
        e0 = next((x for it in items for x in it.get("models", []) if x.get("model") == m
                   and x.get("input")), None)
        ikey = (e0 or {}).get("input", {}).get("key") if e0 else None
        info = kmap.get(ikey) if ikey else None
        if info:
            inp[m] = (arrays[info["key"]] if info.get("stacked")
                      else [arrays.get(info["keys"].get(str(i))) for i in range(len(names))])
    return {"manifest": run, "layout": "combined", "format": fmt, "names": names, "items": items,
            "embeddings": emb, "inputs": inp}
