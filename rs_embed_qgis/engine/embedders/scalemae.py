"""ScaleMAE (Reed et al., ICCV 2023): an MAE ViT-L/16 whose position encoding is
scaled by the ground sample distance, so the model knows how many metres a pixel is.

Input: Sentinel-2 B4, B3, B2 -> ``/10000`` clipped to [0, 1] in 1/255 steps ->
resized to 224 -> ImageNet mean/std. Side input ``input_res``: the GSD of the
image the model sees, in metres per pixel - the fetch resolution times the
resize factor (``scale_m * short side / 224`` for ``input_prep="resize"``,
``scale_m`` for ``"tile"``); ``model_options={"gsd_m": ...}`` overrides it.

Outputs: ``grid`` = patch tokens ``(1024, 14, 14)``; ``pooled`` = their mean (or max).
Weights: the authors' ``scalemae-vitlarge-800.pth`` (GitHub release, ``{"model": sd}``);
encoder keys loaded strictly, decoder/FPN keys set aside.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.satmae import MAE_DECODER_PREFIXES
from ..nn.scalemae import SCALEMAE_CONFIG, ScaleMAEEncoder
from ..providers.base import Patch
from .vit_base import ViTEmbedder, model_input_gsd, normalise, rgb_unit8


class ScaleMAEEmbedder(ViTEmbedder):
    CONFIGS = {"mae_vit_large_patch16": SCALEMAE_CONFIG}
    extra_options = ("gsd_m",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        g = options.get("gsd_m")
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or g <= 0):
            raise ModelError(f"gsd_m must be a positive number of metres per pixel, got {g!r}")
        super().__init__(spec, device=device, **options)

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size
        return ScaleMAEEncoder(config)

    def checkpoint_layout(self):
        return "", MAE_DECODER_PREFIXES

    def preprocess(self, patch: Patch) -> np.ndarray:
        rgb = self.require_bands(patch, self.bands)[0]
        return normalise(rgb_unit8(rgb), self.norm)

    def _gsd(self, patch: Patch, input_prep: str) -> float:
        if self.options.get("gsd_m") is not None:
            return float(self.options["gsd_m"])
        gsd = model_input_gsd(patch, input_prep, self.image_size)
        if gsd is None:
            raise ModelError("ScaleMAE needs the ground sample distance: pass crs/transform with the data "
                             "or model_options={'gsd_m': metres_per_pixel}")
        return gsd

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        return {"input_res": np.full((n_tiles,), self._gsd(patch, input_prep), np.float32)}

    def forward_batch(self, x, side):
        return self.model(x, input_res=side["input_res"])[:, 1:], None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"bands": list(self.bands),
                "normalization": "reflectance/10000 -> [0,1] uint8 steps -> ImageNet mean/std",
                "input_res_m": float(side["input_res"][0]) if len(side.get("input_res", [])) else None}
