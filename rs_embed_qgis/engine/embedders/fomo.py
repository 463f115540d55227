"""FoMo-Net (Bountos et al. 2024, FoMo-Bench, RolnickLab): a spectral-token ViT - every
band a sequence of patch tokens marked with that band's learned embedding - pretrained
as a masked autoencoder on a mix of optical, radar and aerial datasets.

Options (besides those of every ViT model, see ``vit_base``):

- ``bands``: Sentinel-2 bands to feed, default all twelve of L2A (B1, B2, B3, B4, B5, B6,
  B7, B8, B8A, B9, B11, B12); any subset works (the model takes any set of bands), each
  with its key in FoMo's modality table (``sentinel-2-b1`` = 6 ... ``sentinel-2-b12`` = 18).
- ``normalization``: ``"standard"`` (default) - ``(x - mean) / std`` per band on
  reflectance x 10000, as FoMo-Bench's datasets feed the model (``normalization:
  standard`` with ``configs/stats/stats.json``): TalloS statistics (the Sentinel-2
  dataset of FoMo-Net's pretraining mix) for B2-B12; TalloS has no B1/B9, so those two
  use FoMo-Bench's SSL4EO-S12 statistics (the one Sentinel-2 set there with an
  unambiguous band order for them); the constants are in the catalog entry.
  ``"unit"``: ``/10000`` clipped to [0, 1], what rs-embed feeds (for comparisons with it).

Images are resized to 64 px (the size FoMo-Net_1 is built for: 4 x 4 patches of 16 px)
or cut into 64 px tiles (``input_prep="tile"``; at 10 m one token is 160 m).
Outputs: ``grid`` = the patch tokens averaged over the bands, ``(768, 4, 4)`` per 64 px;
``pooled`` = their mean (the average over all tokens, as upstream pools before its
classifier) or max.

Weights: ``fomo_single_embedding_layer_weights.pt`` (FoMo-Net_1, FoMo-Bench README) is
behind a Dropbox link: it is never downloaded at run time; download it by hand and pass
``weights``, set ``RS_EMBED_FOMO_CKPT`` or put it in the cache folder. The file is the
model's state dict; ``mlp_head`` (pretraining classifier) is set aside by name.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.fomo import HEAD_PREFIXES, MODALITY_CHANNELS, FoMoConfig, FoMoNet
from ..providers.bands import canonical_band
from ..providers.base import Patch
from ..specs import SensorSpec
from .vit_base import ViTEmbedder

#: Sentinel-2 band -> its key in FoMo's modality table ("sentinel-2-b8a" -> 14)
S2_KEYS = {b: MODALITY_CHANNELS.index(f"sentinel-2-{b.lower()}")
           for b in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")}
NORMALIZATIONS = ("standard", "unit")


class FoMoEmbedder(ViTEmbedder):
    CONFIGS = {"fomo_net_1": FoMoConfig()}
    extra_options = ("bands", "normalization")

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        known = spec.default_sensor.bands  # the twelve L2A bands, the order of the statistics
        bands = options.get("bands") or known
        if isinstance(bands, str) or not all(isinstance(b, str) for b in bands):
            raise ModelError(f"bands must be a list of Sentinel-2 band names, got {bands!r}")
        self._bands = tuple(canonical_band(b) for b in bands)
        if any(b not in known for b in self._bands) or len(set(self._bands)) != len(self._bands):
            raise ModelError(f"FoMo-Net bands must be distinct Sentinel-2 L2A bands among {list(known)}, "
                             f"got {list(bands)}")
        self._stat_index = [known.index(b) for b in self._bands]
        self.keys = [S2_KEYS[b] for b in self._bands]
        self.normalization = str(options.get("normalization") or "standard").lower()
        if self.normalization not in NORMALIZATIONS:
            raise ModelError(f"normalization must be one of {NORMALIZATIONS}, got {options.get('normalization')!r}")
        super().__init__(spec, device=device, **options)

    def default_sensor(self) -> SensorSpec:
        return dataclasses.replace(super().default_sensor(), bands=self._bands)

    def build(self, config):
        self.image_size, self.patch_size = config.image_size, config.patch_size
        return FoMoNet(config)

    def checkpoint_layout(self):
        return "", HEAD_PREFIXES

    def preprocess(self, patch: Patch) -> np.ndarray:
        x = np.nan_to_num(self.require_bands(patch, self.bands)[0], nan=0.0)
        if self.normalization == "unit":
            return np.clip(x / 10000.0, 0.0, 1.0).astype(np.float32)
        mean = np.asarray(self.norm.mean, np.float32)[self._stat_index, None, None]
        std = np.asarray(self.norm.std, np.float32)[self._stat_index, None, None]
        return ((x - mean) / std).astype(np.float32)

    def forward_batch(self, x, side):
        tok = self.model(x, self.keys)  # (B, C * L, D), band by band
        b, d = tok.shape[0], tok.shape[-1]
        return tok.reshape(b, len(self.keys), -1, d).mean(dim=1), None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {"bands": list(self.bands), "modality_keys": list(self.keys), "normalization": self.normalization,
                "grid_kind": "patch tokens averaged over bands"}
