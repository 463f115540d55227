"""TerraFM (Danish et al. 2025, MBZUAI): a ViT trained self-supervised on Sentinel-1 and
Sentinel-2 tiles of Major-TOM, with one patch embedding per modality.

Options (besides those of every ViT model, see ``vit_base``):

- ``variant``: ``"B"`` (default, ViT-B/16, ``TerraFM-B.pth``) or ``"L"`` (ViT-L/16).
- ``modality``: ``"s2"`` (default) - Sentinel-2 L2A B1, B2, B3, B4, B5, B6, B7, B8, B8A,
  B9, B11, B12 (reflectance x 10000) -> ``/10000`` clipped to [0, 1]; or ``"s1"`` -
  Sentinel-1 GRD VV, VH in linear power (Earth Engine's ``COPERNICUS/S1_GRD_FLOAT``;
  only the ``gee`` backend serves it here, the local sample has no radar) ->
  ``log1p``, divided by the image's 99th percentile, clipped to [0, 1]. The upstream
  repository publishes no preprocessing; both rules are rs-embed's, kept so results
  compare with it.
- ``s2_branch``: ``"l2a"`` (default) or ``"l1c"``: which of the two Sentinel-2 patch
  embeddings of the checkpoint takes the 12 bands. Our inputs are L2A surface
  reflectance, so the L2A one; the upstream ``forward`` (and rs-embed) always uses
  the L1C one for 12 bands - pass ``"l1c"`` to reproduce them.

Images are resized (bilinear) to 224 px, or cut into 224 px tiles (``input_prep="tile"``).
Outputs: ``pooled`` = the class token after the final norm (what upstream ``forward``
returns; tiles: mean/max of their class tokens); ``grid`` = the patch tokens after the
final norm (``extract_feature`` of the last block), ``(768, 14, 14)`` for B.

Weights: ``MBZUAI/TerraFM`` on Hugging Face, ``TerraFM-B.pth`` / ``TerraFM-L.pth`` - a
plain state dict of the module, loaded strictly (a ``head.*`` projection head, if a
file holds one, is set aside by name).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.terrafm import TERRAFM_CONFIGS, TerraFM
from ..providers.base import Patch
from ..specs import SensorSpec
from .vit_base import ViTEmbedder


def s1_log_scale(vv_vh: np.ndarray) -> np.ndarray:
    """Linear VV/VH power -> ``log1p`` / its 99th percentile, clipped to [0, 1] (rs-embed's rule).

    dB input (mostly negative) would come out all zero, so it is refused.
    """
    x = np.nan_to_num(np.asarray(vv_vh, np.float32), nan=0.0)
    nonzero = x[x != 0]
    if nonzero.size and float(np.mean(nonzero < 0)) > 0.5:
        raise ModelError("TerraFM's Sentinel-1 input must be linear backscatter power "
                         "(COPERNICUS/S1_GRD_FLOAT); these values look like dB (mostly negative): "
                         "convert with 10 ** (dB / 10) or fetch the _FLOAT collection")
    x = np.log1p(np.maximum(x, 0.0))
    top = float(np.percentile(x, 99))
    return np.clip(x / (top if top > 0 else 1.0), 0.0, 1.0).astype(np.float32)


class TerraFMEmbedder(ViTEmbedder):
    CONFIGS = {"terrafm_base": TERRAFM_CONFIGS["B"], "terrafm_large": TERRAFM_CONFIGS["L"]}
    extra_options = ("modality", "s2_branch")

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        self.modality = str(options.get("modality") or "s2").lower()
        if self.modality not in ("s2", "s1"):
            raise ModelError(f"TerraFM modality must be 's2' or 's1', got {options.get('modality')!r}")
        s2_branch = str(options.get("s2_branch") or "l2a").lower()
        if s2_branch not in ("l2a", "l1c"):
            raise ModelError(f"TerraFM s2_branch must be 'l2a' or 'l1c', got {options.get('s2_branch')!r}")
        self.branch = "s1" if self.modality == "s1" else f"s2_{s2_branch}"
        super().__init__(spec, device=device, **options)

    def default_sensor(self) -> SensorSpec:
        if self.modality == "s1":  # the catalog entry's radar sensor
            return self.spec.extra["modalities"]["s1"]["sensor"]
        return super().default_sensor()

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size
        return TerraFM(config)

    def checkpoint_layout(self):
        return "", ("head.",)

    def preprocess(self, patch: Patch) -> np.ndarray:
        try:
            x = self.require_bands(patch, self.bands)[0]
        except ModelError as exc:
            if self.modality == "s1":
                raise ModelError(f"{exc}. Sentinel-1 VV/VH comes from Earth Engine "
                                 f"({self.default_sensor().collection}, backend='gee'); the local backend "
                                 "has no radar data") from None
            raise
        if self.modality == "s1":
            return s1_log_scale(x)
        return np.clip(np.nan_to_num(x, nan=0.0) / 10000.0, 0.0, 1.0).astype(np.float32)

    def forward_batch(self, x, side):
        tok = self.model(x, self.branch)
        return tok[:, 1:], tok[:, 0]

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        s1_norm = self.spec.extra["modalities"]["s1"]["normalisation"]
        norm = s1_norm.method if self.modality == "s1" else self.norm.method
        return {"bands": list(self.bands), "modality": self.modality, "patch_embed_branch": self.branch,
                "normalization": norm, "pooled_dim": self.config.embed_dim}
