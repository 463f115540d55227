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

from ..catalog.models.terramind import S1_GRD_SENSOR, S1GRD_NORM, S1RTC_NORM, S2_BANDS
from ..errors import ModelError
from ..nn.terramind import TERRAMIND_CONFIGS, TerraMindEncoder
from ..providers.base import Patch
from ..weights import load_state_dict_safely
from .vit_base import ViTEmbedder, normalise

#: modality -> (TerraMind key, bands); the statistics and sensors are the catalog entry's
MODALITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "S2L2A": ("untok_sen2l2a@224", S2_BANDS),
    "S1GRD": ("untok_sen1grd@224", ("VV", "VH")),
    "S1RTC": ("untok_sen1rtc@224", ("VV", "VH")),
}


class TerraMindEmbedder(ViTEmbedder):
    CONFIGS = TERRAMIND_CONFIGS
    extra_options = ("modality",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        mod = str(options.get("modality") or "S2L2A").upper().replace("-", "").replace("_", "")
        if mod not in MODALITIES:
            raise ModelError(f"terramind modality must be one of {list(MODALITIES)}, got {options.get('modality')!r}")
        self.modality = mod
        self.mod_key, self.modality_bands = MODALITIES[mod]
        super().__init__(spec, device=device, **options)
        if mod != "S2L2A":  # the variant's statistics are Sentinel-2's
            self.norm = S1GRD_NORM if mod == "S1GRD" else S1RTC_NORM

    def default_sensor(self):
        if self.modality == "S2L2A":
            return super().default_sensor()
        return S1_GRD_SENSOR if self.modality == "S1GRD" else None  # no backend here serves RTC

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
        x = self.require_bands(patch, self.modality_bands)[0]
        mean = np.asarray(self.norm.mean, np.float32)[:, None, None]
        return normalise(np.where(np.isfinite(x), x, mean), self.norm)  # no-data -> band mean (0 after)

    def forward_batch(self, x, side):
        return self.model({self.mod_key: x}), None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"modality": self.modality, "terramind_modality": self.mod_key, "bands": list(self.modality_bands),
                "normalization": self.norm.method, "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
                "grid_kind": "encoder tokens after encoder_norm"}
