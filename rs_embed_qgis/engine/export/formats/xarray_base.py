"""What ``format="netcdf"`` and ``format="zarr"`` share: ROI arrays as an xarray Dataset with
named, georeferenced dimensions (``feature__<model>, y__<model>, x__<model>`` with cell-centre
coordinates in the grid's CRS; inputs with ``band__`` coordinates; attributes ``crs`` and
``transform``), a combined Dataset along an ``item`` dimension with a ``name`` coordinate, and
the manifest in the attribute ``rs_embed_manifest``. A subclass stores and opens the Dataset."""
from __future__ import annotations

import errno
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import OutputError
from ...io import to_json
from ...names import sanitize_key
from .base import ArrayFormat, input_info, key_model, model_entries, slim_manifest


class XarrayFormat(ArrayFormat):
    """An xarray-backed format: a subclass implements :meth:`store` and :meth:`open`."""

    requires = ("xarray",)

    @abstractmethod
    def store(self, ds, dst: Path) -> None:
        """Write the Dataset to ``dst`` atomically, checking it with :meth:`check_variables`."""

    @abstractmethod
    def open(self, path: Path):
        """The Dataset at ``path`` (a context manager), read under any lock the library needs."""

    def write_arrays(self, dst, arrays, manifest):
        ds = item_dataset(arrays, manifest)
        ds.attrs["rs_embed_manifest"] = to_json(slim_manifest(manifest))
        self.store(ds, dst)

    def write_stacked(self, dst, arrays, kmap, items, manifest):
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
        self.store(ds, dst)

    def read_arrays(self, path):
        with self.open(path) as ds:
            return {k: np.asarray(v.values) for k, v in ds.data_vars.items()}

    @staticmethod
    def check_variables(ds, dst: Path, opened) -> None:
        """The written Dataset ``opened`` again has ``ds``'s variables (the store's verify)."""
        names = sorted(map(str, ds.data_vars))
        with opened as back:
            got = sorted(map(str, back.data_vars))
        if got != names:
            raise OutputError(errno.EIO, f"{str(dst)!r} reads back with variables {got}, written {names}")


def _xy_coords(transform: Sequence[float] | None, h: int, w: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not transform:
        return None, None
    a, _, c, _, e, f = list(transform)[:6]
    return c + a * (np.arange(w) + 0.5), f + e * (np.arange(h) + 0.5)


def item_dataset(arrays: dict[str, np.ndarray], manifest: dict[str, Any]):
    """One ROI's arrays as an xarray Dataset with named, georeferenced dimensions."""
    import xarray as xr

    entries = model_entries(manifest)
    data_vars, coords = {}, {}
    for key, arr in arrays.items():
        k = sanitize_key(key_model(key))
        if key.startswith("embedding__"):
            meta = (entries.get(key_model(key)) or {}).get("meta") or {}
            if arr.ndim == 1:
                dims = (f"feature__{k}",)
            else:
                dims = (f"feature__{k}", f"y__{k}", f"x__{k}")
                xs, ys = _xy_coords(meta.get("transform"), arr.shape[1], arr.shape[2])
                if xs is not None:
                    coords[f"x__{k}"], coords[f"y__{k}"] = xs, ys
            attrs = {"crs": meta.get("crs") or "", "transform": list(meta.get("transform") or [])}
        else:  # input_chw__ / input_tchw__
            src = input_info(manifest, key) or {}
            dims = ((f"time__{k}",) if arr.ndim == 4 else ()) + (f"band__{k}", f"iy__{k}", f"ix__{k}")
            if src.get("bands"):
                coords[f"band__{k}"] = np.asarray(src["bands"], dtype=str)
            xs, ys = _xy_coords(src.get("transform"), arr.shape[-2], arr.shape[-1])
            if xs is not None:
                coords[f"ix__{k}"], coords[f"iy__{k}"] = xs, ys
            attrs = {"crs": src.get("crs") or "", "transform": list(src.get("transform") or [])}
        data_vars[key] = xr.Variable(dims, arr, attrs=attrs)
    return xr.Dataset(data_vars, coords=coords)
