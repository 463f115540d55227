"""``format="zarr"``: the xarray Dataset of ``xarray_base`` in a Zarr 2 store (a folder, written
under a temporary name and renamed into place; consolidated metadata)."""
from __future__ import annotations

from ...io import atomic_dir
from .xarray_base import XarrayFormat


class ZarrFormat(XarrayFormat):
    name = "zarr"
    ext = ".zarr"
    description = "a Zarr 2 store (xarray): named, georeferenced dimensions; combined along an 'item' dimension"
    requires = ("xarray", "zarr")
    install = "pip install 'zarr<3'"

    def store(self, ds, dst):
        import xarray as xr

        with atomic_dir(dst, verify=lambda p: self.check_variables(ds, dst, xr.open_zarr(str(p), consolidated=True))
                        ) as tmp:
            ds.to_zarr(str(tmp), mode="w", consolidated=True)

    def open(self, path):
        import xarray as xr

        return xr.open_zarr(str(path))
