"""``format="netcdf"``: the xarray Dataset of ``xarray_base`` in a NetCDF-4 file, through
``h5netcdf`` when ``h5py`` is installed, else ``netCDF4``. Reads and writes are serialised with
one lock: netCDF4-python is not thread-safe (concurrent writes crashed with "double free")."""
from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import OutputError
from ...io import atomic_path, check_not_empty
from .xarray_base import XarrayFormat

#: held around every NetCDF read and write of the engine (HDF5 is not reentrant)
HDF5_LOCK = threading.Lock()


def netcdf_engine() -> str | None:
    """The xarray engine for NetCDF files here, or None when neither library imports."""
    # h5netcdf first: h5py serialises HDF5 calls, netCDF4-python is not thread-safe
    for mods, eng in ((("h5netcdf", "h5py"), "h5netcdf"), (("netCDF4",), "netcdf4")):
        try:
            for mod in mods:
                __import__(mod)
            return eng
        except ImportError:
            continue
    return None


@contextmanager
def open_netcdf(path: Path, engine: str | None) -> Iterator:
    """The Dataset of a NetCDF file, under :data:`HDF5_LOCK` (``engine=None``: xarray's choice,
    which also reads the NetCDF-3 files scipy writes)."""
    import xarray as xr

    with HDF5_LOCK, xr.open_dataset(path, engine=engine) as ds:
        yield ds


class NetCDFFormat(XarrayFormat):
    name = "netcdf"
    ext = ".nc"
    aliases = ("nc",)
    description = "NetCDF-4 (xarray): named, georeferenced dimensions; combined along an 'item' dimension"
    install = "pip install netCDF4"

    def missing(self):
        return super().missing() + ([] if netcdf_engine() else ["netCDF4 or h5netcdf"])

    def store(self, ds, dst):
        import xarray as xr

        engine = netcdf_engine()

        def verify(p: Path) -> None:  # runs inside the write, which holds the lock
            check_not_empty(p)
            self.check_variables(ds, dst, xr.open_dataset(p, engine=engine))

        with HDF5_LOCK, atomic_path(dst, suffix=".nc", verify=verify) as tmp:
            try:
                ds.to_netcdf(tmp, engine=engine)
            except RuntimeError as exc:  # netCDF4 reports a failed HDF5 write (e.g. disk full) so
                raise OutputError(errno.EIO, f"cannot write {str(dst)!r}: {exc}") from exc

    def open(self, path):
        return open_netcdf(path, netcdf_engine())

