"""Copernicus-Embed (Wang et al., ICCV 2025): one 768-d embedding per 0.25-degree cell of
the globe, aggregated over the Copernicus-Pretrain modalities (Sentinel-1/2/3/5P, DEM).

The input is the product, read by :class:`providers.copernicus.CopernicusEmbedProvider`
from ``embed_map_310k.tif``: the cells the ROI touches, on the product's EPSG:4326 grid.

- ``grid``: those cells, ``(768, rows, cols)``, georeferenced on the 0.25-degree lattice
  (``output.scale_m`` does not apply: a cell is the product's resolution). An ROI inside
  one cell gives a 1 x 1 grid, the cell's vector (``meta["roi_within_one_cell"]``).
- ``pooled``: the cells' vectors weighted by the share of the ROI's area each holds
  (``mean``; so an ROI inside one cell gets that cell's vector), or their maximum
  (``max``). Empty (all-zero, ocean) cells are left out.

The map is one static product: the time window is not used (recorded in ``meta``).

Options: ``path`` (or ``weights``: the GeoTIFF, or a folder holding ``embed_map_*.tif``; else
``RS_EMBED_COP_DIR``, else the cache ``$RS_EMBED_CACHE/weights/copernicus/``), ``download``
(default True: fetch it from the Hugging Face dataset ``torchgeo/copernicus_embed`` at the
revision torchgeo pins, checked against torchgeo's md5; its sha256 is then locked like
any download's). The map is read whatever ``backend`` says (``meta["input"]["backend"]``
is ``local:copernicus``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..providers.base import Patch
from ..providers.copernicus import CopernicusEmbedProvider
from ..specs import OutputSpec
from ..weights import resolve_weights
from .precomputed import ProductEmbedder


def find_map(path: Path) -> Path:
    """A folder holds the map as ``embed_map_*.tif`` (torchgeo's ``filename_glob``)."""
    if path.is_dir():
        found = sorted(path.glob("embed_map_*.tif"))
        if not found:
            raise ModelError(f"no Copernicus-Embed map (embed_map_*.tif) in the folder {str(path)!r}")
        return found[0]
    return path


class CopernicusEmbedder(ProductEmbedder):
    OPTIONS = ("path", "download")

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, device=device, **options)
        ws = spec.weights
        unverified = bool(options.get("allow_unverified", False))
        r = resolve_weights(spec.id, ws, options.get("path") or options.get("weights"), download=False,
                            allow_unverified=unverified)
        if r.path is None and options.get("download", True):
            r = resolve_weights(spec.id, ws, None, download=True, allow_unverified=unverified)
        if r.path is None:
            raise ModelError(
                f"the Copernicus-Embed map is not here: download {ws.hf_filename} from "
                f"{ws.official_address()} (revision {ws.revision}) and pass "
                f"model_options={{'path': ...}}, set {ws.env_var}, or put it in the cache folder; or allow "
                f"model_options={{'download': True}}")
        self.path = find_map(r.path)
        self._provider = CopernicusEmbedProvider(self.path)
        self.weights_meta.update(source=r.source, path=str(self.path), hf_repo=ws.hf_repo,
                                 revision=ws.revision, verified=r.verified)

    def input_provider(self, backend: str, provider_options: dict[str, Any] | None) -> CopernicusEmbedProvider:
        return self._provider

    def product_id(self) -> str:
        return "Copernicus-Embed 0.25 degree (torchgeo/copernicus_embed embed_map_310k.tif)"

    def product_meta(self, patch: Patch) -> dict[str, Any]:
        m = {k: patch.meta[k] for k in ("cells_hw", "cell_centres_latlon", "cell_roi_share",
                                         "roi_within_one_cell") if k in patch.meta}
        m["temporal_note"] = "one static map: the time window is not used"
        if m.get("roi_within_one_cell"):
            m["cell_note"] = "the ROI lies inside one 0.25-degree cell: the embedding is that cell's vector"
        return m

    def no_data_error(self, patch: Patch, meta: dict[str, Any]) -> ModelError:
        return ModelError(f"the Copernicus-Embed cells under this ROI are empty (all zeros: sea) "
                          f"- cells {meta.get('cell_centres_latlon')}")

    def pool(self, x: np.ndarray, valid: np.ndarray, patch: Patch, output: OutputSpec,
             meta: dict[str, Any]) -> np.ndarray:
        if output.pooling == "max":
            meta["pooled_from"] = "max over the cells the ROI touches (empty cells left out)"
            return np.nanmax(x.reshape(x.shape[0], -1)[:, valid.reshape(-1)], axis=1)
        share = np.asarray(patch.meta["cell_roi_share"], np.float64) * valid
        meta["pooled_from"] = "cells weighted by the share of the ROI's area each holds (empty cells left out)"
        meta["pool_weights"] = (share / share.sum()).round(6).tolist()
        return np.einsum("dhw,hw->d", np.nan_to_num(x).astype(np.float64), share / share.sum())

    def grid(self, x: np.ndarray, patch: Patch, output: OutputSpec, meta: dict[str, Any]) -> np.ndarray:
        meta.update(cell_px=[1, 1], grid_cell_deg=patch.grid.res if patch.grid else 0.25,
                    grid_note="the product's 0.25-degree cells (output.scale_m does not apply)")
        return x
