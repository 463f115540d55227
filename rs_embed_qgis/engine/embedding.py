"""The result type: ``Embedding(data, meta)`` as in rs-embed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import xarray

# xarray (and pandas behind it) is imported only when a DataArray is made: importing
# it at plugin start costs QGIS more than a second.
ArrayLike = Union[np.ndarray, "xarray.DataArray"]


def _is_dataarray(obj: Any) -> bool:
    return type(obj).__name__ == "DataArray" and type(obj).__module__.startswith("xarray")


@dataclass
class Embedding:
    """An embedding: ``data`` is float32 ``(D,)`` (pooled) or ``(D, H, W)`` (grid).

    ``meta`` carries the model, the specs, the input, the weights identity and,
    for grids, ``crs`` and ``transform`` (rasterio/affine order ``a, b, c, d, e, f``)
    of the ROI the grid covers, so it can be written as a GeoTIFF on the ROI.
    """

    data: ArrayLike
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if _is_dataarray(self.data):
            if self.data.dtype != np.float32:
                self.data = self.data.astype(np.float32)
        else:
            self.data = np.asarray(self.data, dtype=np.float32)

    @property
    def array(self) -> np.ndarray:
        """The data as a plain numpy array."""
        return np.asarray(self.data.values if hasattr(self.data, "values") else self.data)

    @property
    def is_grid(self) -> bool:
        return self.array.ndim == 3

    def to_xarray(self) -> xarray.DataArray:
        """Grid as ``xarray.DataArray`` with ``band``/``y``/``x`` coordinates when georeferenced."""
        import xarray as xr

        if _is_dataarray(self.data):
            return self.data
        arr = self.array
        if arr.ndim == 1:
            return xr.DataArray(arr, dims=("dim",), attrs=_attrs(self.meta))
        d, h, w = arr.shape
        coords: dict[str, Any] = {"band": np.arange(d)}
        t = self.meta.get("transform")
        if t is not None:
            a, _, c, _, e, f = t[:6]
            coords["x"] = c + a * (np.arange(w) + 0.5)
            coords["y"] = f + e * (np.arange(h) + 0.5)
        return xr.DataArray(arr, dims=("band", "y", "x"), coords=coords, attrs=_attrs(self.meta))


def _attrs(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, (str, int, float))}


def roi_footprint(emb: Embedding) -> dict[str, Any] | None:
    """The pixels an embedding saw: ``{"crs", "bounds"}`` of the fetched patch, if known."""
    inp = emb.meta.get("input") or {}
    if inp.get("crs") and inp.get("bounds"):
        return {"crs": inp["crs"], "bounds": list(inp["bounds"])}
    if emb.meta.get("crs") and emb.meta.get("roi_bounds"):
        return {"crs": emb.meta["crs"], "bounds": list(emb.meta["roi_bounds"])}
    return None
