"""GeoTessera (Feng et al. 2025, ucam-eo/geotessera): annual 128-d embeddings at 10 m,
precomputed from Sentinel-1/2 time series and distributed as 0.1-degree tiles.

The input is the product itself, read by :class:`providers.tessera.TesseraProvider` from a
folder in geotessera's layout (tiles across UTM zones sampled onto the ROI's 10 m grid,
dequantised as geotessera does). ``grid``: the 128 dimensions on the ROI (averaged in
blocks for a coarser ``output.scale_m``); ``pooled``: mean or max over the ROI's pixels
with data.

Options (``model_options``):

- ``data_dir`` (or ``weights``): the tile folder (else ``RS_EMBED_TESSERA_CACHE``, else
  ``$RS_EMBED_CACHE/tessera``).
- ``download`` (default True): fetch missing tiles (with geotessera where installed,
  else from its server with the registry's sha256) - only the tiles the ROI needs.

The year is the window's (``TemporalSpec.year(YYYY)``, or a range inside one year).
The tiles are read from the folder whatever ``backend`` says (Earth Engine does not serve
the product; rs-embed asks for ``"auto"``); ``meta["input"]["backend"]`` is ``local:tessera``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..providers.base import Patch
from ..providers.tessera import TesseraProvider
from ..weights import cache_dir
from .precomputed import ProductEmbedder


def tessera_dir(option: str | None = None) -> Path:
    """The tile folder: option > ``RS_EMBED_TESSERA_CACHE`` > ``$RS_EMBED_CACHE/tessera``."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("RS_EMBED_TESSERA_CACHE")
    return Path(env).expanduser() if env else cache_dir() / "tessera"


class TesseraEmbedder(ProductEmbedder):
    OPTIONS = ("data_dir", "download")

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, device=device, **options)
        self.root = tessera_dir(options.get("data_dir") or options.get("weights"))
        self._provider = TesseraProvider(self.root, download=bool(options.get("download", True)))
        self.weights_meta.update(data_dir=str(self.root), download=self._provider.download)

    def input_provider(self, backend: str, provider_options: dict[str, Any] | None) -> TesseraProvider:
        return self._provider

    def product_id(self) -> str:
        return "GeoTessera v1 (dl2.geotessera.org)"

    def product_meta(self, patch: Patch) -> dict[str, Any]:
        return {k: patch.meta[k] for k in ("year", "tiles", "tiles_missing", "tile_crs", "dequantisation",
                                            "sampling") if k in patch.meta}

    def no_data_error(self, patch: Patch, meta: dict[str, Any]) -> ModelError:
        return ModelError(f"the GeoTessera tiles {meta.get('tiles')} of {meta.get('year')} have no data "
                          f"over this ROI (sea, or outside the product's coverage)")
