"""WildSAT (Daroya et al. 2025, cvl-umass): satellite image encoders fine-tuned so that
Sentinel-2 true-colour images align with wildlife observations (SINR location
features) and Wikipedia text about the species living there.

Input, as WildSAT's training and quickstart feed the models (SatlasPretrain Sentinel-2
``tci`` PNGs through ``ToTensor``, a resize and its min shift): Sentinel-2 B4, B3, B2
rendered as the TCI product is (reflectance 0-0.2, i.e. x 10000 / 2000, clipped, in
1/255 steps), resized (bilinear) to the model's size - 224 px for the ViT, the whole
512 px tile for ResNet-50 and Swin-T, as WildSAT trained them - or cut into tiles of
that size, then each image minus its minimum (the upstream min-max step, whose divisor
max(max, 1) is 1 for such images). No ImageNet mean/std.

Options (besides those of every ViT model, see ``vit_base``):

- ``variant``: the ImageNet-started backbones fine-tuned with WildSAT (batch norms and
  the ImageNet head; README table): ``"vitb16"`` (default; ``vitb16-imagenet-bnfc.pth``,
  the quickstart model), ``"resnet50"``, ``"swint"``. WildSAT's other checkpoints of the
  same backbones (random or MoCo starts) share these layouts: pass them as ``weights``.
- ``pooled_head``: which vector ``pooled`` is: ``"image"`` (default; WildSAT's 256-d
  image-embedding space, ``decoder.backbone3``), ``"text"`` (``backbone1``, the space
  where GritLM text embeddings are compared for zero-shot retrieval), ``"location"``
  (``backbone2``, the SINR space) or ``"backbone"`` (the 1000-d output the heads read).

``grid``: the last feature map - ViT patch tokens after the final LayerNorm
``(768, 14, 14)`` (one cell per 16 px of 224); ResNet-50 ``layer4`` ``(2048, 16, 16)`` and
Swin-T after its final norm ``(768, 16, 16)`` (one cell per 32 px of 512).

Weights: the checkpoints are on Google Drive only: never downloaded at run time; put
the file where the error says. The file is a ``train.py`` checkpoint dict; its
``satellite_state_dict`` (``module.``-prefixed) is loaded strictly, everything else in
it (location and text models, optimiser) is left alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.wildsat import HEADS, WildSATResNetConfig, WildSATSatelliteModel, WildSATSwinConfig, WildSATViTConfig
from ..providers.base import Patch
from ..weights import load_state_dict
from .vit_base import ViTEmbedder

#: reflectance x 10000 that the TCI product shows at full brightness (reflectance 0.2)
TCI_FULL_SCALE = 2000.0
POOLED_HEADS = (*HEADS, "backbone")


def tci_unit8(rgb: np.ndarray) -> np.ndarray:
    """B4, B3, B2 reflectance x 10000 -> the TCI rendering in [0, 1] (1/255 steps)."""
    x = np.clip(np.nan_to_num(rgb, nan=0.0) / TCI_FULL_SCALE, 0.0, 1.0)
    return (np.floor(x * 255.0) / 255.0).astype(np.float32)


class WildSATEmbedder(ViTEmbedder):
    CONFIGS = {"vitb16": WildSATViTConfig(), "resnet50": WildSATResNetConfig(), "swint": WildSATSwinConfig()}
    extra_options = ("pooled_head",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        self.pooled_head = str(options.get("pooled_head") or "image").lower()
        if self.pooled_head not in POOLED_HEADS:
            raise ModelError(f"pooled_head must be one of {list(POOLED_HEADS)}, got {options.get('pooled_head')!r}")
        super().__init__(spec, device=device, **options)

    def build(self, config):
        self.image_size, self.patch_size = config.image_size, config.patch_size
        return WildSATSatelliteModel(config)

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        """The ``satellite_state_dict`` of a WildSAT training checkpoint, ``module.`` removed.

        The file also holds the training options (an ``argparse.Namespace``) and loss
        figures, which may be numpy scalars: those classes alone are allowed in the
        weights-only unpickler.
        """
        import argparse

        import torch

        safe = [argparse.Namespace, np.core.multiarray.scalar, np.dtype,
                *{type(np.dtype(t)) for t in (np.float64, np.float32, np.int64)}]
        with torch.serialization.safe_globals(safe):
            sd = load_state_dict(path, key="satellite_state_dict")
        if sd and all(k.startswith("module.") for k in sd):  # (Distributed)DataParallel training
            sd = {k[len("module."):]: v for k, v in sd.items()}
        return sd

    def preprocess(self, patch: Patch) -> np.ndarray:
        return tci_unit8(self.require_bands(patch, self.bands)[0])

    def forward_batch(self, x, side):
        torch = self._torch
        # upstream's per-image min-max step, on the image the model sees (after resizing)
        x = x - x.amin(dim=(1, 2, 3), keepdim=True)
        x = x / torch.clamp(x.amax(dim=(1, 2, 3), keepdim=True), min=1.0)
        tokens, feats, heads = self.model(x)
        return tokens, (feats if self.pooled_head == "backbone" else heads[self.pooled_head])

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"bands": list(self.bands), "pooled_head": self.pooled_head, "normalization": self.norm.method,
                "pooled_dim": self.config.num_classes if self.pooled_head == "backbone" else self.config.embed_dim}
