"""Google Satellite Embedding (AlphaEarth Foundations, annual, 64-d at 10 m).

A precomputed product: the provider reads bands A00..A63 of
``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL`` on the ROI's grid (the year(s) of the
window, mosaicked), and this adapter only shapes them: ``grid`` is the product
itself, ``(64, H, W)`` on the ROI (cells of ``output.scale_m``, averaged in
blocks when coarser than the product's 10 m), ``pooled`` the mean or max over
the ROI. Pixels without data (all 64 values equal to ``fill_value``, which a
unit-length embedding never is) are left out of pooling and are NaN in grids.
"""
from __future__ import annotations

from typing import Any

from ..errors import ModelError
from ..providers.base import Patch
from .precomputed import ProductEmbedder


class GSEEmbedder(ProductEmbedder):
    """Reads the 64 bands; no network weights."""

    def product_meta(self, patch: Patch) -> dict[str, Any]:
        return {"years": sorted({f["start"][:4] for f in patch.frames if f.get("start")}),
                "scenes": [s for f in patch.frames for s in f.get("scenes", [])]}

    def no_data_error(self, patch: Patch, meta: dict[str, Any]) -> ModelError:
        return ModelError(
            "the Google Satellite Embedding has no data over this ROI for the year(s) "
            f"{meta['years']} (the product covers land and coasts, 2017 onwards)")
