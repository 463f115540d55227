"""OlmoEarth v1 (Ai2, ``allenai/olmoearth_pretrain``): a multi-modal, multi-temporal
FlexiViT pretrained on Sentinel-2 L2A, Sentinel-1, Landsat and map layers.

Modalities (option ``modality``): ``"s2"`` (default) - Sentinel-2 L2A B1..B12 without
B10, fed in the model's band order B02 B03 B04 B08 | B05 B06 B07 B8A B11 B12 | B01 B09
(three band sets, one token each per patch and frame); ``"s1"`` - Sentinel-1 GRD VV, VH
in dB (``COPERNICUS/S1_GRD``, served by the Earth Engine backend only: the local backend
raises before fetching).

Frames: the shared frame policy (``frames.FramePolicy``), option ``frames``: ``"monthly"``
(default: one bin per month of the window, at most 12, as pretraining's 30-day steps) or
a fixed count from 1 to 12. Empty bins are dropped (upstream's inference path,
``fast_pass=True``, ignores masks, so an empty frame would be seen as data) and listed in
``meta["frame_selection"]``.

Preprocessing as upstream's ``Normalizer(Strategy.COMPUTED)``: per band
``(x - (mean - 2 std)) / (4 std)`` with the pretraining statistics (``computed.json``);
missing pixels get the frame's band mean; each frame resized to ``image_size`` (default
64). Side inputs: the month (0-11) of each frame's midpoint, and the metres per pixel of
the model input (``input_res``) that scales the spatial encoding.

Outputs: the tokens ``(B, H/p, W/p, T, S, D)`` of ``patch_size`` px patches (default 8;
1 to 8), averaged over frames and band sets -> ``grid`` ``(D, H/p, W/p)``, as upstream's
quick-start pools them; ``pooled`` = their mean (or max) over space.

Weights: ``weights.pth`` of ``allenai/OlmoEarth-v1-{Nano,Tiny,Base,Large}`` (base by
default): the LatentMIM state dict; ``encoder.*`` is loaded strictly, the decoder, the
target encoder, the contrastive head, the patch embeddings of the modalities the adapter
never feeds and the legacy ``pos_embed`` are set aside by name.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError, ProviderError
from ..nn.olmoearth import OLMOEARTH_CONFIGS, OlmoEarthEncoder, set_aside_prefixes
from ..providers.base import Patch
from ..specs import SensorSpec
from .multiframe import MultiFrameEmbedder, normalise_2std
from .vit_base import fill_with_frame_mean


class OlmoEarthEmbedder(MultiFrameEmbedder):
    CONFIGS = OLMOEARTH_CONFIGS
    EMPTY_BINS = "drop"  # upstream's inference path (fast_pass) ignores masks
    extra_options = (*MultiFrameEmbedder.extra_options, "modality")
    cpu_batch_size = 4

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        modality = str(options.get("modality", "s2")).strip().lower()
        self.modalities = spec.extra["modalities"]
        if modality not in self.modalities:
            raise ModelError(f"olmoearth modality must be 's2' (Sentinel-2 L2A, 12 bands) or 's1' "
                             f"(Sentinel-1 VV/VH in dB), got {options.get('modality')!r}")
        self.modality = modality
        self.field = self.modalities[modality]["field"]
        super().__init__(spec, device=device, **options)
        # the catalog's S2 normalisation is the variants'; S1's is the modality's own
        self.norm = self.modalities[modality].get("normalisation", self.norm)

    def build_network(self, config):
        return OlmoEarthEncoder(config)

    def checkpoint_layout(self):
        return "encoder.", set_aside_prefixes()

    def default_sensor(self) -> SensorSpec:
        return self.modalities[self.modality].get("sensor") or super().default_sensor()

    def check_backend(self, backend: str) -> None:
        if self.modality == "s1" and backend != "gee":
            raise ProviderError(
                f"olmoearth modality='s1' needs Sentinel-1 GRD (VV, VH in dB, {self.default_sensor().collection}), "
                f"which only the 'gee' backend serves; backend {backend!r} cannot. Use backend='gee', pass your own "
                f"dB data (input_chw / get_embedding_from_data with bands VV, VH), or modality='s2'")

    # -- input ------------------------------------------------------------------------------
    def preprocess(self, patch: Patch) -> np.ndarray:
        sel = self.frame_policy.select(patch)
        x = normalise_2std(fill_with_frame_mean(self.require_bands(patch, self.bands)[sel.used]), self.norm)
        return x.reshape(-1, *x.shape[-2:])

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        side = self.frame_side_inputs(patch, input_prep)
        del side["masked"]  # empty frames are dropped, never masked
        return self.per_tile(side, n_tiles)

    def forward_batch(self, x, side):
        b, tc, s, _ = x.shape
        c = len(self.bands)
        frames = x.reshape(b, tc // c, c, s, s).permute(0, 3, 4, 1, 2)              # (B, S, S, T, C)
        tok = self.model({self.field: frames}, side["months"].long(), self.patch_size,
                         input_res=side["input_res"])[self.field]                  # (B, h, w, T, S, D)
        return tok.mean(dim=(3, 4)).flatten(1, 2), None

    def flops_per_input(self, x, side) -> float:
        """FLOPs of one sample of a model-input batch ``x`` (for the benchmark)."""
        frames = x.shape[1] // len(self.bands)
        band_sets = self.modalities[self.modality]["band_sets"]
        return self.model.flops_per_sample(frames * band_sets * (self.image_size // self.patch_size) ** 2)

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {
            "modality": self.modality, "bands": list(self.bands), **self.frame_meta(patch, side),
            "normalization": self.norm.method, "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
            "grid_semantics": "patch tokens averaged over frames and band sets",
            "grid_time_reduction": "mean over frames and band sets",
        }
