"""RemoteCLIP (Liu et al., IEEE TGRS 2024): CLIP continually trained on remote-sensing
image-text pairs, through open_clip's architecture.

Input: Sentinel-2 B4, B3, B2 (reflectance x 10000) -> ``/10000`` clipped to [0, 1]
in 1/255 steps (rs-embed's uint8 RGB) -> resized to 224 (bicubic) -> CLIP mean/std.
Outputs: ``pooled`` = the CLIP image embedding (class token, ``ln_post``, ``proj``;
512-d for ViT-B-32, 768-d for ViT-L-14), the same vector that matches text
prompts; ``grid`` = the patch tokens after ``ln_post`` (width 768 / 1024),
7x7 (B-32) or 16x16 (L-14) per 224 px image.

Weights: the official full CLIP state dicts of ``chendelong/RemoteCLIP`` on
Hugging Face. Only the ``visual.*`` keys are loaded (strictly); the text tower's
keys are set aside by name. Our own implementation always runs; the open_clip
package is neither needed nor used.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.clip_visual import CLIP_CONFIGS, TEXT_TOWER_PREFIXES, CLIPVisionTransformer
from ..providers.base import Patch
from .vit_base import ViTEmbedder, normalise, rgb_unit8


class RemoteCLIPEmbedder(ViTEmbedder):
    CONFIGS = CLIP_CONFIGS
    cpu_batch_size = 16  # 50 tokens per image: more images per product

    def build(self, config):
        self.image_size, self.patch_size = config.image_size, config.patch_size
        return CLIPVisionTransformer(config)

    def checkpoint_layout(self):
        return "visual.", TEXT_TOWER_PREFIXES

    def _resize(self, chw: np.ndarray, size: int) -> np.ndarray:
        """Bicubic with antialiasing, as open_clip's ``Resize(224, BICUBIC)``."""
        import torch
        import torch.nn.functional as F

        if chw.shape[-2:] == (size, size):
            return chw
        t = torch.from_numpy(np.ascontiguousarray(chw))[None]
        return F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False, antialias=True)[0].numpy()

    def preprocess(self, patch: Patch) -> np.ndarray:
        rgb = self.require_bands(patch, self.bands)[0]
        return normalise(rgb_unit8(rgb), self.norm)

    def forward_batch(self, x, side):
        pooled, tokens = self.model(x)
        return tokens, pooled

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"bands": list(self.bands), "normalization": "reflectance/10000 -> [0,1] uint8 steps -> CLIP mean/std",
                "pooled_dim": self.config.embed_dim}
