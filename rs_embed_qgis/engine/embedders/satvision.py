"""SatVision-TOA adapter (NASA CISTO): MODIS top-of-atmosphere reflectance and brightness
temperature, 14 channels at 1 km -> Swin V2 giant embeddings.

Input, as pytorch-caney's README (Table 1) and ``MinMaxEmissiveScaleReflectance`` define it,
channel order: MODIS bands 1, 2, 3, 6, 7, 21, 26, 27, 28, 29, 30, 31, 32, 33. The MODIS
providers (``providers/modis.py``, Earth Engine ``MODIS/061/MOD021KM``) hand reflective
bands as TOA reflectance x 10000 and emissive bands as brightness temperature in kelvin;
here reflectance is divided by 10000 (the model's ``percent * 0.01``) and each emissive
channel is min-max scaled with the published per-channel range. Values are not clipped
(the official transform does not clip); no-data (NaN, or a brightness temperature of 0 K
from a backend that fills with 0) becomes 0. Chips are resized to 128 px.

Outputs: ``grid`` = the last stage's tokens after the final norm (4096 x 4 x 4 for a
128 px chip: each cell covers 32 input pixels); ``pooled`` = their mean (the official
``forward_features`` average pool) or max. Weights:
``nasa-cisto-data-science-group/satvision-toa-giant-patch8-window8-128``
``mp_rank_00_model_states.pt`` (DeepSpeed ``{"module": ...}``; ``encoder.*`` loaded strictly).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.models.satvision import BANDS as SATVISION_BANDS
from ..catalog.models.satvision import EMISSIVE, EMISSIVE_MAX_K, EMISSIVE_MIN_K, REFLECTIVE
from ..nn.satvision import SATVISION_CONFIGS, SatVisionEncoder
from ..providers.base import Patch
from ..weights import load_state_dict_safely
from .vit_base import ViTEmbedder


def scale_toa(chw: np.ndarray) -> np.ndarray:
    """Reflectance x 10000 and brightness temperature (K), SatVision's 14 channels -> model units."""
    x = chw.astype(np.float32).copy()
    r, e = list(REFLECTIVE), list(EMISSIVE)
    x[r] = x[r] / 10000.0
    # 0 K is no-data (a backend that cannot send NaN fills with 0), not a temperature
    x[e] = np.where(x[e] > 0, x[e], np.nan)
    lo = np.asarray(EMISSIVE_MIN_K, np.float32)[:, None, None]
    hi = np.asarray(EMISSIVE_MAX_K, np.float32)[:, None, None]
    x[e] = (x[e] - lo) / (hi - lo)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


class SatVisionEmbedder(ViTEmbedder):
    CONFIGS = SATVISION_CONFIGS
    cpu_batch_size = 2  # 3 B parameters

    def build(self, config):
        self.image_size = config.img_size
        # each cell of the output grid covers one last-stage token: patch x 2^(stages-1) pixels
        self.patch_size = config.img_size // config.out_grid
        return SatVisionEncoder(config)

    def checkpoint_layout(self):
        return "encoder.", ("encoder.mask_token", "decoder.")

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return load_state_dict_safely(path)  # picks the "module" dict of the DeepSpeed file

    def preprocess(self, patch: Patch) -> np.ndarray:
        return scale_toa(self.require_bands(patch, SATVISION_BANDS)[0])

    def forward_batch(self, x, side):
        return self.model(x), None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        x = self.require_bands(patch, SATVISION_BANDS)[0]
        return {"bands": list(SATVISION_BANDS), "reflective_channels": list(REFLECTIVE),
                "emissive_channels": list(EMISSIVE), "emissive_min_k": list(EMISSIVE_MIN_K),
                "emissive_max_k": list(EMISSIVE_MAX_K),
                "normalization": self.norm.method,
                "nodata_fraction": float(np.mean(~np.isfinite(x))),
                "grid_kind": "last-stage Swin tokens after the final norm"}
