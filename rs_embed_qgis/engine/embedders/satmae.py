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

from ..nn.satmae import MAE_DECODER_PREFIXES, GroupChannelConfig, GroupChannelEncoder, MAEConfig, MAEEncoder
from ..official_weights import SATMAE, SATMAEPP
from ..providers.base import Patch
from ..registry import S2_10, S2_SR
from ..specs import SensorSpec
from .vit_base import FMOW_RGB_MEAN, FMOW_RGB_STD, ViTEmbedder, normalise, rgb_unit8, sentinel_normalize

RGB_BANDS = ("B4", "B3", "B2")
MS_BANDS = S2_10  # B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12
RGB_CONFIG = MAEConfig(img_size=224, patch_size=16, in_chans=3, embed_dim=1024, depth=24, num_heads=16)
MS_CONFIG = GroupChannelConfig()
RGB_SENSOR = SensorSpec(collection=S2_SR, bands=RGB_BANDS, scale_m=10, cloudy_pct=30, composite="median")
MS_SENSOR = SensorSpec(collection=S2_SR, bands=MS_BANDS, scale_m=10, cloudy_pct=30, composite="median")

SATMAE_VARIANTS: dict[str, dict[str, Any]] = {
    "rgb": {"config": RGB_CONFIG, "aliases": ("fmow_rgb", "vit-large-fmow-rgb"), "bands": RGB_BANDS,
            "weights": SATMAE["rgb"]},
    "multispectral": {"config": MS_CONFIG, "aliases": ("ms", "sentinel", "s2_10b", "group_channel"), "bands": MS_BANDS,
                      "weights": SATMAE["multispectral"]},
}

SATMAEPP_VARIANTS: dict[str, dict[str, Any]] = {
    "rgb": {"config": RGB_CONFIG, "aliases": ("fmow_rgb",), "bands": RGB_BANDS,
            "weights": SATMAEPP["rgb"]},
    "multispectral": {"config": MS_CONFIG, "aliases": ("ms", "sentinel", "s2_10b", "group_channel"), "bands": MS_BANDS,
                      "weights": SATMAEPP["multispectral"]},
}


class SatMAEEmbedder(ViTEmbedder):
    VARIANTS = SATMAE_VARIANTS
    DEFAULT_VARIANT = "rgb"

    @property
    def bands(self):
        return self.variant_info["bands"]

    @property
    def multispectral(self) -> bool:
        return isinstance(self.config, GroupChannelConfig)

    def default_sensor(self) -> SensorSpec | None:
        return MS_SENSOR if self.multispectral else RGB_SENSOR

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
            return sentinel_normalize(x)
        return normalise(rgb_unit8(x), FMOW_RGB_MEAN, FMOW_RGB_STD)

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
                "norm_mean": list(FMOW_RGB_MEAN), "norm_std": list(FMOW_RGB_STD)}


class SatMAEPPEmbedder(SatMAEEmbedder):
    VARIANTS = SATMAEPP_VARIANTS
