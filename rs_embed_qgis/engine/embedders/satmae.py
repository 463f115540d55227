"""SatMAE (Cong et al., NeurIPS 2022) and SatMAE++ (Noman et al., CVPR 2024):
MAE-pretrained ViT-L encoders on fMoW imagery.

Variants (``variant``):

- ``"rgb"`` (default): fMoW-RGB models, Sentinel-2 B4, B3, B2 -> ``/10000`` clipped to
  [0, 1] in 1/255 steps -> resized to 224 -> fMoW-RGB mean/std; ViT-L/16, 14x14 tokens.
- ``"multispectral"``: fMoW-Sentinel group-channel models, Sentinel-2 B2, B3, B4, B5,
  B6, B7, B8, B8A, B11, B12 (B1, B9, B10 dropped as in the papers) -> SatMAE's
  ``SentinelNormalize`` (mean +/- 2 std to uint8, /255) -> resized to 96; ViT-L/8
  with channel groups (B2,B3,B4,B8), (B5,B6,B7,B8A), (B11,B12): 3 x 12 x 12 tokens,
  averaged over the groups for the grid.

Outputs: ``grid`` = patch tokens (class token dropped) ``(1024, h, w)``; ``pooled`` =
their mean (or max). Weights: the authors' pretraining checkpoints
(``{"model": state_dict, ...}``); encoder keys are loaded strictly, decoder keys
set aside. SatMAE's files are on Zenodo, SatMAE++'s on Hugging Face.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog.models.satmae import MS_ARCH, RGB_ARCH
from ..nn.satmae import MAE_DECODER_PREFIXES, GroupChannelConfig, GroupChannelEncoder, MAEConfig, MAEEncoder
from ..providers.base import Patch
from .vit_base import ViTEmbedder, normalise, rgb_unit8, sentinel_normalize


class SatMAEEmbedder(ViTEmbedder):
    CONFIGS = {RGB_ARCH: MAEConfig(img_size=224, patch_size=16, in_chans=3, embed_dim=1024, depth=24,
                                   num_heads=16),
               MS_ARCH: GroupChannelConfig()}

    @property
    def multispectral(self) -> bool:
        return isinstance(self.config, GroupChannelConfig)

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size
        if isinstance(config, GroupChannelConfig):
            return GroupChannelEncoder(config)
        return MAEEncoder(config)

    def checkpoint_layout(self):
        return "", MAE_DECODER_PREFIXES

    def preprocess(self, patch: Patch) -> np.ndarray:
        x = self.require_bands(patch, self.bands)[0]
        if self.multispectral:
            return sentinel_normalize(x, self.norm)
        return normalise(rgb_unit8(x), self.norm)

    def forward_batch(self, x, side):
        tok = self.model(x)[:, 1:]
        if self.multispectral:
            g = len(self.config.channel_groups)
            tok = tok.reshape(tok.shape[0], g, -1, tok.shape[-1]).mean(dim=1)
        return tok, None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        if self.multispectral:
            return {"bands": list(self.bands), "normalization": "SentinelNormalize (mean +/- 2 std -> uint8 -> /255)",
                    "channel_groups": [list(g) for g in self.config.channel_groups],
                    "grid_kind": "spatial tokens averaged over channel groups"}
        return {"bands": list(self.bands),
                "normalization": "reflectance/10000 -> [0,1] uint8 steps -> fMoW-RGB mean/std",
                "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std)}


class SatMAEPPEmbedder(SatMAEEmbedder):
    """The same encoders as SatMAE; the catalog entry gives SatMAE++'s weights."""
