"""What the adapters of precomputed embedding products share (GSE, Tessera, Copernicus-Embed).

Their input already is the embedding: a provider hands the product's bands (one per
embedding dimension) on a grid over the ROI, and the adapter only shapes it. Pixels
without data (non-finite, or every dimension equal to the fill value) are left out of
pooling and are NaN in grids. ``grid`` is the product on the ROI (averaged in blocks when
``output.scale_m`` is coarser than the product's pixels), ``pooled`` its mean or max.
A product with other cell semantics (Copernicus-Embed's 0.25-degree cells) overrides
:meth:`pool` and :meth:`grid`.

Options: each product names its own (``OPTIONS``); ``weights`` is accepted as the location
of the product's file(s) (what the plugin's per-model path setting passes),
``allow_unverified`` as for weights (a downloaded file whose checksum differs), and
``allow_random_weights`` is accepted and has no effect - a product has no weights to
randomise, so the same options can be given to every model of a run.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..embedding import Embedding
from ..errors import ModelError
from ..providers.base import Patch
from ..specs import OutputSpec
from .base import Embedder


class ProductEmbedder(Embedder):
    """Shapes a product's bands into pooled vectors or grids; no network, no weights."""

    #: the product's own model options (None: options are not checked, as GSE has always had it)
    OPTIONS: tuple[str, ...] | None = None

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        if self.OPTIONS is not None:
            # plus what any face may send every model (a product has no network: precision stays fp32)
            known = (*self.OPTIONS, "weights", "allow_random_weights", "allow_unverified", "precision")
            unknown = sorted(set(options) - set(known))
            if unknown:
                raise ModelError(f"unknown model_options {unknown} for {spec.id!r}; known: {list(known)}")
        super().__init__(spec, device="cpu", **options)  # numpy only
        self.weights_meta = {"status": "not needed", "product": self.product_id()}

    # -- per product ---------------------------------------------------------------------
    def product_id(self) -> str:
        return self.spec.default_sensor.collection

    def product_meta(self, patch: Patch) -> dict[str, Any]:
        """What the product's reader recorded (years, tiles, cells ...)."""
        return {}

    def no_data_error(self, patch: Patch, meta: dict[str, Any]) -> ModelError:
        return ModelError(f"{self.spec.id}: the product has no data over this ROI")

    def pool(self, x: np.ndarray, valid: np.ndarray, patch: Patch, output: OutputSpec,
             meta: dict[str, Any]) -> np.ndarray:
        """``(D, H, W)`` (NaN where invalid) -> ``(D,)``: mean or max over the valid pixels."""
        flat = x.reshape(x.shape[0], -1)
        if not valid.all():  # (no copy of the pixels when all have data, the common case)
            flat = flat[:, valid.reshape(-1)]
        meta["pooled_from"] = f"product pixels ({output.pooling})"
        return flat.max(axis=1) if output.pooling == "max" else flat.mean(axis=1, dtype=np.float64)

    def grid(self, x: np.ndarray, patch: Patch, output: OutputSpec, meta: dict[str, Any]) -> np.ndarray:
        """The product on the ROI, block-averaged to ``output.scale_m``."""
        res = patch.grid.res if patch.grid is not None else float(patch.sensor.scale_m)
        k = max(1, int(round(output.scale_m / res)))
        meta.update(cell_px=[k, k], grid_cell_m=k * res)
        return block_mean(x, k) if k > 1 else x

    # -- shared ------------------------------------------------------------------------------
    def embed_patches(self, patches: Sequence[Patch], output: OutputSpec, *,
                      input_prep: str = "resize") -> list[Embedding]:
        self.check_input_prep(input_prep)
        bands = self.spec.bands
        out = []
        for patch in patches:
            t0 = time.perf_counter()
            if patch.n_frames != 1:
                raise ModelError(
                    f"model {self.spec.id!r} takes one layer of its product, got {patch.n_frames} frames; "
                    f"fetch without frames")
            x = self.require_bands(patch, bands)[0].astype(np.float32, copy=False)   # D, H, W
            fill = patch.sensor.fill_value if patch.sensor is not None else 0.0
            valid = np.isfinite(x).all(axis=0) & ~(x == np.float32(fill)).all(axis=0)
            if not valid.all():
                x = np.where(valid[None], x, np.nan)
            meta = self.base_meta(output, input_prep)
            meta.update(valid_fraction=float(valid.mean()), bands=list(bands), **self.product_meta(patch))
            if not valid.any():
                raise self.no_data_error(patch, meta)
            if output.mode == "pooled":
                data = self.pool(x, valid, patch, output, meta).astype(np.float32)
            else:
                data = self.grid(x, patch, output, meta)
                meta["grid_hw"] = list(data.shape[1:])
            meta["infer_seconds"] = time.perf_counter() - t0
            out.append(Embedding(data, meta))
        return out


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k x k`` blocks from the top-left (partial blocks at the edges), NaN ignored."""
    c, h, w = x.shape
    hh, ww = -(-h // k) * k, -(-w // k) * k
    pad = np.full((c, hh, ww), np.nan, np.float32)
    pad[:, :h, :w] = x
    blocks = pad.reshape(c, hh // k, k, ww // k, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
