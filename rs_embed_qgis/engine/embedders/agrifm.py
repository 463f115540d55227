"""AgriFM (Li et al., RSE 2026; flyakon/AgriFM): a Video Swin encoder pretrained on
MODIS, Landsat and Sentinel-2 time series for agricultural mapping; its Sentinel-2 branch.

Input: a Sentinel-2 L2A series of the 10 bands B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12
(reflectance x 10000), one composite per time bin of the window. Frames come from the
shared frame policy (``frames.FramePolicy``): ``frames`` (default 8, as rs-embed; an int
up to 32, or ``"monthly"``) equal bins; bins without a scene or valid pixel are dropped
and recorded in ``meta["frame_selection"]``. Each frame ``(x - mean) / std`` with the
statistics of upstream's config (no-data -> the band mean, 0 after normalising), resized
(bilinear) to ``image_size`` (default 224: 112 tokens a side, whole 7-token windows).

Outputs: the encoder's last stage after its norm, time folded into channels as upstream's
``feature_fusion='cat'``: ``grid`` ``(1024, image_size/16, image_size/16)`` (``1024 x T'``
channels for more than 32 frames); ``pooled`` = its mean (or max) over space.

Weights: ``AgriFM.pth`` from the GLASS website (``https://glass.hku.hk/casual/AgriFM/``,
a plain https folder a script may fetch). No size or hash is published, so, as for every
such file, the download needs ``allow_unverified=True`` and locks the sha256 seen (trust
on first use, ``weights.py``). Its ``S2_patch_emd.*`` and ``backbone.*`` keys are loaded
strictly (a DDP ``module.`` prefix is dropped), the Landsat/MODIS patch embeddings are set
aside by name. Bands and normalisation constants are the catalog entry's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.agrifm import AGRIFM_CONFIG, OTHER_SOURCE_PREFIXES, AgriFMEncoder
from ..providers.base import Patch
from ..specs import TemporalSpec
from .frames import FramePolicy, resolve_window
from .vit_base import ViTEmbedder

#: frames rs-embed feeds by default; the most upstream's configs use (cropland mapping: 32)
DEFAULT_FRAMES, MAX_FRAMES = 8, 32

class AgriFMEmbedder(ViTEmbedder):
    CONFIGS = {"agrifm_s2": AGRIFM_CONFIG}
    extra_options = ("frames", "image_size")
    cpu_batch_size = 2  # one series is already T x 112 x 112 tokens at stage 1

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        self.frame_policy = FramePolicy.from_option(
            options.get("frames"), default=DEFAULT_FRAMES, max_frames=MAX_FRAMES, empty="drop", model=spec.id)
        size = options.get("image_size", 224)
        if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size % 16:
            raise ModelError(f"agrifm image_size must be an int >= 32 and a multiple of 16, got {size!r}")
        self._size = size
        super().__init__(spec, device=device, **options)

    # -- frames -------------------------------------------------------------------------------
    def resolve_temporal(self, temporal: TemporalSpec | None) -> TemporalSpec:
        return resolve_window(temporal, self.spec.id)

    def frames_for(self, temporal: TemporalSpec | None) -> int | None:
        return self.frame_policy.n_bins(temporal)

    # -- network and weights ------------------------------------------------------------------
    def build(self, config):
        if config.in_chans != len(self.bands):
            raise ModelError(f"agrifm takes {len(self.bands)} Sentinel-2 bands, "
                             f"arch asks for in_chans={config.in_chans}")
        self.image_size = self._size
        # one grid cell = patch (2) x three 2x merges = 16 input pixels
        self.patch_size = config.patch_size[1] * 2 ** (len(config.depths) - 1)
        return AgriFMEncoder(config)

    def checkpoint_layout(self):
        return "", OTHER_SOURCE_PREFIXES

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        sd = super().read_checkpoint(path)
        if sd and all(k.startswith("module.") for k in sd):  # saved from a DistributedDataParallel model
            sd = {k[len("module."):]: v for k, v in sd.items()}
        return sd

    # -- input -----------------------------------------------------------------------------------
    def preprocess(self, patch: Patch) -> np.ndarray:
        sel = self.frame_policy.select(patch)
        x = self.require_bands(patch, self.bands)[sel.used]  # (T, 10, H, W)
        mean = np.asarray(self.norm.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.norm.std, np.float32)[None, :, None, None]
        x = np.where(np.isfinite(x), x, mean)  # no-data -> band mean (0 after normalising)
        return ((x - mean) / std).reshape(-1, *x.shape[-2:]).astype(np.float32)

    def forward_batch(self, x, side):
        b, tc, h, w = x.shape
        c = len(self.bands)
        feats = self.model(x.reshape(b, tc // c, c, h, w))     # (B, 1024 * T', h/16, w/16)
        return feats.flatten(2).transpose(1, 2), None           # tokens (B, cells, D), row-major

    def flops_per_input(self, x, side) -> float:
        """FLOPs of one model input of the batch ``x`` (its frames and size as fed)."""
        return self.model.flops(x.shape[1] // len(self.bands), x.shape[-1])

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        sel = self.frame_policy.select(patch)
        return {"bands": list(self.bands), "normalization": "(x - mean) / std, statistics of AgriFM's config",
                "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
                "num_frames": sel.n, "frame_selection": sel.meta,
                "frame_dates": sel.meta["frame_dates"],
                "grid_kind": "last Swin stage after norm, time folded into channels (feature_fusion='cat')"}
