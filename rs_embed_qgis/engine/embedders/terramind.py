"""TerraMind v1 adapter (IBM/ESA): Sentinel-2 L2A 12 bands, or Sentinel-1 GRD VV/VH, ->
TerraMind encoder tokens. terratorch is not needed: the encoder is ``nn.terramind``.

Modalities (``model_options["modality"]``):

- ``"S2L2A"`` (default): B1, B2, B3, B4, B5, B6, B7, B8, B8A, B9, B11, B12 (terratorch's
  ``PRETRAINED_BANDS['untok_sen2l2a@224']``: coastal aerosol .. SWIR 2) as surface
  reflectance x 10000, ``(x - mean) / std`` with ``v1_pretraining_mean/std``.
- ``"S1GRD"``: VV, VH backscatter in dB (Earth Engine ``COPERNICUS/S1_GRD``, the only
  backend here that serves Sentinel-1; the local backend reads Sentinel-2 scenes only),
  ``(x - mean) / std`` with the S1 GRD statistics.
- ``"S1RTC"``: VV, VH in dB from radiometrically terrain-corrected data you bring
  (``get_embedding_from_data`` or your own ``sensor``); no backend here serves RTC.

One modality per call: TerraMind can fuse several, but the API fetches one sensor per
call. Images are resized to 224 px (14 x 14 tokens of 16 px).

Outputs: ``grid`` = the encoder tokens after ``encoder_norm`` (D x 14 x 14); ``pooled`` =
their mean (or max). Weights: ``ibm-esa-geospatial/TerraMind-1.0-{tiny,small,base,large}``
``TerraMind_v1_{size}.pt``; the encoder of the modality in use is loaded strictly, the
decoder and the other modalities' embeddings are set aside.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.terramind import TERRAMIND_CONFIGS, TerraMindEncoder
from ..official_weights import TERRAMIND
from ..providers.base import Patch
from ..registry import S2_SR
from ..specs import SensorSpec
from ..weights import load_state_dict_safely
from .vit_base import ViTEmbedder

S1_GRD = "COPERNICUS/S1_GRD"

#: modality -> (TerraMind key, bands, mean, std, default sensor or None)
MODALITIES: dict[str, tuple[str, tuple[str, ...], tuple[float, ...], tuple[float, ...], SensorSpec | None]] = {
    "S2L2A": ("untok_sen2l2a@224",
              ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"),
              (1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234, 3132.22, 3162.988,
               2424.884, 1857.648),
              (2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257, 1871.918, 1753.829, 1797.379,
               1434.261, 1334.311),
              SensorSpec(collection=S2_SR, bands=("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9",
                                                  "B11", "B12"), scale_m=10, cloudy_pct=30, composite="median")),
    "S1GRD": ("untok_sen1grd@224", ("VV", "VH"), (-12.599, -20.293), (5.195, 5.890),
              SensorSpec(collection=S1_GRD, bands=("VV", "VH"), scale_m=10, cloudy_pct=100, composite="median")),
    "S1RTC": ("untok_sen1rtc@224", ("VV", "VH"), (-10.93, -17.329), (4.391, 4.459), None),
}

VARIANTS: dict[str, dict[str, Any]] = {
    size: {"config": TERRAMIND_CONFIGS[size], "weights": TERRAMIND[size],
           "aliases": (f"v1_{size}", f"terramind_v1_{size}", f"1.0-{size}")}
    for size in ("tiny", "small", "base", "large")
}


class TerraMindEmbedder(ViTEmbedder):
    VARIANTS = VARIANTS
    DEFAULT_VARIANT = "small"
    extra_options = ("modality",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        mod = str(options.get("modality") or "S2L2A").upper().replace("-", "").replace("_", "")
        if mod not in MODALITIES:
            raise ModelError(f"terramind modality must be one of {list(MODALITIES)}, got {options.get('modality')!r}")
        self.modality = mod
        self.mod_key, self.bands, self.mean, self.std, self._sensor = MODALITIES[mod]
        super().__init__(spec, device=device, **options)

    def default_sensor(self) -> SensorSpec | None:
        return self._sensor

    def build(self, config):
        config = dataclasses.replace(config, modalities=(self.mod_key,))
        self.config = config
        self.image_size, self.patch_size = config.img_size, config.patch_size
        return TerraMindEncoder(config)

    def checkpoint_layout(self):
        return "", ()

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        """The encoder keys of the modality in use; the decoder side and the other modalities'
        embeddings are set aside by name (``meta['weights']['ignored_keys']``)."""
        sd = load_state_dict_safely(path)
        keep = f"encoder_embeddings.{self.mod_key}."
        aside = ("decoder_embeddings.", "decoder.", "decoder_norm.", "decoder_proj_context.", "mask_token")
        self._set_aside = [k for k in sd if k.startswith(aside) or
                           (k.startswith("encoder_embeddings.") and not k.startswith(keep))]
        return {k: v for k, v in sd.items() if k not in set(self._set_aside)}

    def _load_weights(self, resolved) -> dict[str, Any]:
        self._set_aside: list[str] = []
        meta = super()._load_weights(resolved)
        if meta.get("status") == "pretrained":
            meta["ignored_keys"] = len(self._set_aside)
            meta["ignored_key_groups"] = sorted({".".join(k.split(".")[:2]) if k.startswith(
                ("encoder_embeddings.", "decoder_embeddings.")) else k.split(".")[0] for k in self._set_aside})
        return meta

    def preprocess(self, patch: Patch) -> np.ndarray:
        x = self.require_bands(patch, self.bands)[0]
        mean = np.asarray(self.mean, np.float32)[:, None, None]
        std = np.asarray(self.std, np.float32)[:, None, None]
        x = np.where(np.isfinite(x), x, mean)  # no-data -> band mean (0 after normalising)
        return ((x - mean) / std).astype(np.float32)

    def forward_batch(self, x, side):
        return self.model({self.mod_key: x}), None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"modality": self.modality, "terramind_modality": self.mod_key, "bands": list(self.bands),
                "normalization": "(x - mean) / std, TerraMind v1 pretraining statistics",
                "norm_mean": list(self.mean), "norm_std": list(self.std),
                "grid_kind": "encoder tokens after encoder_norm"}
