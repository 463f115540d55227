"""DOFA adapter: any Sentinel-2 band subset (or any sensor, given its wavelengths) ->
wavelength-conditioned ViT embeddings.

Input: the sensor's bands, in the sensor's order; by default DOFA's Sentinel-2 set
B4, B3, B2, B5, B6, B7, B8, B11, B12 (the order of the authors' demo). Each band's
central wavelength (micrometres, ``S2_WAVELENGTHS_UM``, or ``model_options["wavelengths"]``
for other sensors) is the model's side input: it generates that band's patch kernel.

Normalisation (the authors' demo and pretraining datasets, ``normalize_dataset.py``; the
constants are the catalog entry's, ``catalog/models/dofa.py``):
DOFA saw Sentinel-2 as 8-bit images normalised with per-band mean/std on the 0..255
scale. Surface reflectance x 10000 is mapped to that scale as ``clip(x / 10000, 0, 1) * 255``
(rs-embed's mapping; the exact 8-bit conversion of the pretraining images is not
published), then ``(x - mean) / std``. Statistics exist for the nine bands above; other
bands (B1, B8A, B9, other sensors) need ``norm_mean``/``norm_std`` in the same 0..255 units.
No-data is set to the band mean (0 after normalising). Images are resized to 224 px.

Outputs: ``grid`` = patch tokens after the final LayerNorm (D x 14 x 14); ``pooled`` = the
official global pool (mean of patch tokens, then that LayerNorm). Weights:
``earthflow/DOFA`` ``DOFA_ViT_{base,large}_e100.pth``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.models.dofa import BANDS as DOFA_S2_BANDS
from ..catalog.models.dofa import S2_WAVELENGTHS_UM
from ..errors import ModelError
from ..nn.dofa import DOFA_CONFIGS, DOFAEncoder
from ..providers.bands import s2_band_number
from ..providers.base import Patch
from ..weights import load_state_dict_safely
from .vit_base import ViTEmbedder


def _float_list(name: str, value: Any, n: int) -> list[float]:
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ModelError(f"model_options[{name!r}] must be a list of {n} numbers, got {value!r}") from None
    if len(out) != n or not all(np.isfinite(out)):
        raise ModelError(f"model_options[{name!r}] must hold {n} finite numbers (one per band), got {value!r}")
    return out


class DOFAEmbedder(ViTEmbedder):
    CONFIGS = DOFA_CONFIGS
    extra_options = ("wavelengths", "norm_mean", "norm_std")

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size
        return DOFAEncoder(config)

    def checkpoint_layout(self):
        # mask_token and the distillation projector serve pretraining only; a fine-tuning
        # file's classifier head is not part of the embedding either
        return "", ("mask_token", "projector.", "head.")

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        sd = load_state_dict_safely(path)
        if "norm.weight" not in sd and "fc_norm.weight" in sd:
            # files saved from OFAViT(global_pool=True) name the final LayerNorm fc_norm
            sd = {("norm" + k[len("fc_norm"):] if k.startswith("fc_norm.") else k): v for k, v in sd.items()}
        return sd

    # -- bands, wavelengths, statistics ----------------------------------------------------
    def band_setup(self, bands: tuple[str, ...]) -> tuple[list[float], np.ndarray, np.ndarray, str]:
        """Wavelengths (um), mean, std (0..255 units) of ``bands``, and where the stats came from."""
        n = len(bands)
        # by band number only: "red" of another sensor is not Sentinel-2's B4 (its wavelength differs)
        names = [s2_band_number(b) or str(b) for b in bands]
        if self.options.get("wavelengths") is not None:
            waves = _float_list("wavelengths", self.options["wavelengths"], n)
        else:
            unknown = [b for b in names if b not in S2_WAVELENGTHS_UM]
            if unknown:
                raise ModelError(
                    f"dofa needs the central wavelength of every band; {unknown} are not Sentinel-2 bands. "
                    f"Pass model_options={{'wavelengths': [...]}} (micrometres, one per band of {list(bands)})")
            waves = [S2_WAVELENGTHS_UM[b] for b in names]
        if self.options.get("norm_mean") is not None or self.options.get("norm_std") is not None:
            mean = _float_list("norm_mean", self.options.get("norm_mean"), n)
            std = _float_list("norm_std", self.options.get("norm_std"), n)
            source = "model_options norm_mean/norm_std"
        else:
            stats = dict(zip(DOFA_S2_BANDS, zip(self.norm.mean, self.norm.std, strict=True), strict=True))
            missing = [b for b in names if b not in stats]
            if missing:
                raise ModelError(
                    f"DOFA publishes Sentinel-2 statistics only for {list(DOFA_S2_BANDS)}; bands {missing} have "
                    f"none. Pass model_options={{'norm_mean': [...], 'norm_std': [...]}} (0..255 units, one per "
                    f"band of {list(bands)}) or leave those bands out")
            mean = [stats[b][0] for b in names]
            std = [stats[b][1] for b in names]
            source = "DOFA Sentinel-2 statistics (README S2_MEAN/S2_STD)"
        if min(std) <= 0:
            raise ModelError(f"norm_std must be > 0 for every band, got {std}")
        return waves, np.asarray(mean, np.float32), np.asarray(std, np.float32), source

    def preprocess(self, patch: Patch) -> np.ndarray:
        _, mean, std, _ = self.band_setup(patch.bands)
        x = patch.data[0].astype(np.float32)
        x = np.clip(x / 10000.0, 0.0, 1.0) * 255.0
        m, s = mean[:, None, None], std[:, None, None]
        x = np.where(np.isfinite(x), x, m)
        return ((x - m) / s).astype(np.float32)

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        waves = np.asarray(self.band_setup(patch.bands)[0], np.float32)
        return {"wavelengths": np.repeat(waves[None], n_tiles, axis=0)}

    def forward_batch(self, x, side):
        waves = side["wavelengths"]
        if not bool((waves == waves[:1]).all()):
            raise ModelError("one DOFA batch mixes inputs of different wavelengths")
        return self.model(x, waves[0])

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        waves, mean, std, source = self.band_setup(patch.bands)
        return {"bands": list(patch.bands), "wavelengths_um": waves,
                "normalization": "clip(x / 10000, 0, 1) * 255, then (x - mean) / std",
                "norm_mean": mean.tolist(), "norm_std": std.tolist(), "norm_source": source,
                "grid_kind": "patch tokens after the final LayerNorm",
                "pooled_kind": "global pool: mean of patch tokens, then the final LayerNorm"}
