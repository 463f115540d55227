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

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..embedding import Embedding
from ..errors import ModelError
from ..providers.base import Patch
from ..specs import OutputSpec
from .base import Embedder


class GSEEmbedder(Embedder):
    """Reads the 64 bands; no network weights."""

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        super().__init__(spec, device="cpu", **options)  # numpy only
        self.weights_meta = {"status": "not needed", "product": spec.default_sensor.collection}

    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        self.check_input_prep(input_prep)
        bands = self.spec.bands
        out = []
        for patch in patches:
            t0 = time.perf_counter()
            if patch.n_frames != 1:
                raise ModelError(
                    f"model 'gse' takes one annual layer, got {patch.n_frames} frames; fetch without frames")
            x = self.require_bands(patch, bands)[0].astype(np.float32)        # 64, H, W
            fill = patch.sensor.fill_value if patch.sensor is not None else 0.0
            valid = np.isfinite(x).all(axis=0) & ~(x == np.float32(fill)).all(axis=0)
            x = np.where(valid[None], x, np.nan)
            meta = self.base_meta(output, input_prep)
            meta.update(valid_fraction=float(valid.mean()), bands=list(bands),
                        years=sorted({f["start"][:4] for f in patch.frames if f.get("start")}),
                        scenes=[s for f in patch.frames for s in f.get("scenes", [])])
            if not valid.any():
                raise ModelError(
                    "the Google Satellite Embedding has no data over this ROI for the year(s) "
                    f"{meta['years']} (the product covers land and coasts, 2017 onwards)")
            if output.mode == "pooled":
                flat = x.reshape(x.shape[0], -1)[:, valid.reshape(-1)]
                vec = flat.max(axis=1) if output.pooling == "max" else flat.mean(axis=1)
                meta["pooled_from"] = f"product pixels ({output.pooling})"
                data = vec.astype(np.float32)
            else:
                res = patch.grid.res if patch.grid is not None else 10.0
                k = max(1, int(round(output.scale_m / res)))
                data = _block_mean(x, k) if k > 1 else x
                meta.update(cell_px=[k, k], grid_hw=list(data.shape[1:]), grid_cell_m=k * res)
            meta["infer_seconds"] = time.perf_counter() - t0
            out.append(Embedding(data, meta))
        return out


def _block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k x k`` blocks from the top-left (partial blocks at the edges), NaN ignored."""
    c, h, w = x.shape
    hh, ww = -(-h // k) * k, -(-w // k) * k
    pad = np.full((c, hh, ww), np.nan, np.float32)
    pad[:, :h, :w] = x
    blocks = pad.reshape(c, hh // k, k, ww // k, k)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
