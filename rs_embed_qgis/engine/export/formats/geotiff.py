"""``format="geotiff"``: one float32 GeoTIFF per ROI and model on the ROI's grid
(``<stem>.<model>.tif``, band descriptions ``emb_000``..., the embedding's meta in its tags) and one
per saved input (``<stem>.input.<model>.tif``, band names as descriptions). Grids only, per ROI
only; written by the one raster writer (``engine.geoio``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import SpecError
from ...io import to_json
from ...names import sanitize_key
from .base import Format, input_info, key_model, model_entries


class GeoTIFFFormat(Format):
    name = "geotiff"
    ext = ".tif"
    aliases = ("tif", "tiff")
    description = "one GeoTIFF per ROI and model, on the ROI's grid (opens in any GIS)"
    combined = False
    pooled = False

    def _embedding_path(self, folder, stem, model):
        return folder / f"{stem}.{sanitize_key(model)}.tif"

    def item_files(self, folder, stem, models, save_embeddings):
        return [self._embedding_path(folder, stem, m) for m in models] if save_embeddings else []

    def write_item(self, folder, stem, arrays, manifest):
        from ...embedding import Embedding
        from ...io import write_embedding_geotiff

        entries = model_entries(manifest)
        files = []
        for key, arr in arrays.items():
            model = key_model(key)
            if key.startswith("embedding__"):
                dst = self._embedding_path(folder, stem, model)
                write_embedding_geotiff(Embedding(arr, dict(entries[model].get("meta") or {})), dst)
            else:
                dst = folder / f"{stem}.input.{sanitize_key(model)}.tif"
                _write_input(arr, input_info(manifest, key), dst)
            files.append(dst)
        return files

    def read_item(self, folder, stem, manifest, models):
        """The rasters that are there (a failed model has none)."""
        from ...geoio import open_raster

        arrays: dict[str, np.ndarray] = {}
        for e in (manifest or {}).get("models", [{"model": m} for m in models]):
            m = e["model"]
            p = self._embedding_path(folder, stem, m)
            if p.exists():
                with open_raster(p) as src:
                    arrays[f"embedding__{sanitize_key(m)}"] = src.read(dtype="float32")
            inp = e.get("input") or {}
            if inp.get("key") and not inp.get("dedup_reused"):
                p = folder / f"{stem}.input.{key_model(inp['key'])}.tif"
                with open_raster(p) as src:
                    arrays[inp["key"]] = src.read(dtype="float32").reshape(inp["shape"])
        return arrays


def _write_input(arr: np.ndarray, info: dict[str, Any], dst) -> None:
    """An input patch (C, H, W) or frames (T, C, H, W, written as T*C bands ``t<i>_<band>``)."""
    from ...geoio import write_raster

    if not info.get("crs") or not info.get("transform"):
        raise SpecError(f"input for {dst.name} has no crs/transform; cannot write it as GeoTIFF")
    bands = list(info.get("bands") or [])
    a = arr if arr.ndim == 3 else arr.reshape(-1, *arr.shape[-2:])
    names = bands if arr.ndim == 3 else [f"t{t}_{b}" for t in range(arr.shape[0]) for b in bands]
    write_raster(dst, a.astype(np.float32), crs=info["crs"], transform=info["transform"][:6],
                 band_names=[str(n) for n in names[:a.shape[0]]], tags={"RS_EMBED_INPUT": to_json(info)})
