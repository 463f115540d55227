"""Prithvi-EO-2.0 (Szwarcman et al. 2024, IBM/NASA/Jülich): a multi-temporal ViT
pretrained as an MAE on HLS (Harmonized Landsat Sentinel-2) time series.

Input: the six HLS bands blue, green, red, narrow NIR, SWIR 1, SWIR 2 - from
Sentinel-2 B2, B3, B4, B8A, B11, B12 (B8A is the narrow NIR band HLS uses) at
30 m by default - up to 4 frames chosen by the shared frame policy
(``frames.FramePolicy``; option ``frames``, default 4: the window is split into
that many equal bins, each a composite; ``"monthly"`` adapts the count to the
window; empty bins are dropped and listed in ``meta["frame_selection"]``), each
frame ``(x - mean) / std`` with the official per-band statistics (reflectance x
10000), resized to 224.

Side inputs of the -TL models: per frame (year, day of year) of the frame's
midpoint, and the ROI centre (lat, lon) in degrees.

Outputs: patch tokens of all frames (class token dropped) averaged over the
frames -> ``grid`` ``(D, 14, 14)`` (``(1280, 16, 16)`` for 600M, whose patches are
14 px); ``pooled`` = their mean (or max) over space.

Weights: ``Prithvi_EO_V2_{300M,100M,600M}_TL.pt`` (300M by default) from
``ibm-nasa-geospatial/Prithvi-EO-2.0-{300M,100M,600M}-TL``: the full MAE state dict;
``encoder.*`` is loaded strictly, ``decoder.*`` is set aside.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.prithvi import PRITHVI_CONFIGS, PrithviEncoder
from ..providers.base import Patch
from .frames import FramePolicy
from .vit_base import ViTEmbedder, roi_center_lonlat

MAX_FRAMES = 4


class PrithviEmbedder(ViTEmbedder):
    CONFIGS = PRITHVI_CONFIGS
    extra_options = ("frames",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        # Prithvi's pretraining: up to 4 frames; bins without a scene are dropped
        self.frame_policy = FramePolicy.from_option(
            options.get("frames"), default=MAX_FRAMES, max_frames=MAX_FRAMES, empty="drop", model=spec.id)
        self.n_frames = self.frame_policy.frames
        self.frames = None if self.frame_policy.n_bins(None) == 1 else self.frame_policy.frames
        super().__init__(spec, device=device, **options)

    def frames_for(self, temporal):
        n = self.frame_policy.n_bins(temporal)
        return None if n == 1 else n

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size[1]
        if config.in_chans != len(self.bands):
            raise ModelError(f"Prithvi takes {len(self.bands)} bands, arch asks for in_chans={config.in_chans}")
        return PrithviEncoder(config)

    def checkpoint_layout(self):
        return "encoder.", ("decoder.",)

    # -- frames and side inputs ---------------------------------------------------------------
    def _frames_used(self, patch: Patch) -> list[int]:
        """Frames with data (empty bins dropped), at most 4 (evenly spaced): the frame policy."""
        return self.frame_policy.select(patch).used

    def _frame_dates(self, patch: Patch, used: list[int]) -> list[_dt.date]:
        dates = [d for d in self.frame_policy.select(patch).dates if d is not None]
        if len(dates) != len(used) and patch.temporal is not None:
            dates = [patch.temporal.input_time] * len(used)
        return dates if len(dates) == len(used) else []

    def preprocess(self, patch: Patch) -> np.ndarray:
        used = self._frames_used(patch)
        x = self.require_bands(patch, self.bands)[used]  # (T, 6, H, W)
        mean = np.asarray(self.norm.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.norm.std, np.float32)[None, :, None, None]
        x = np.where(np.isfinite(x), x, mean)  # no-data -> band mean (0 after normalising)
        x = (x - mean) / std
        return x.reshape(-1, *x.shape[-2:]).astype(np.float32)

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        used = self._frames_used(patch)
        out: dict[str, np.ndarray] = {}
        dates = self._frame_dates(patch, used)
        if dates:
            t = np.array([[d.year, d.timetuple().tm_yday] for d in dates], np.float32)
            out["temporal"] = np.repeat(t[None], n_tiles, axis=0)
        ll = roi_center_lonlat(patch)
        if ll is not None:
            out["location"] = np.repeat(np.array([[ll[1], ll[0]]], np.float32), n_tiles, axis=0)
        return out

    def forward_batch(self, x, side):
        b, tc, s, _ = x.shape
        c = len(self.bands)
        t = tc // c
        x5 = x.reshape(b, t, c, s, s).permute(0, 2, 1, 3, 4).contiguous()
        tok = self.model(x5, side.get("temporal"), side.get("location"))[:, 1:]
        tok = tok.reshape(b, t, -1, tok.shape[-1]).mean(dim=1)
        return tok, None

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        sel = self.frame_policy.select(patch)
        used = sel.used
        dates = self._frame_dates(patch, used)
        m: dict[str, Any] = {
            "bands": list(self.bands), "normalization": "(x - mean) / std, official per-band statistics",
            "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
            "num_frames": len(used), "frames_requested": self.n_frames,
            "frames_used": used,
            "frames_dropped_empty": len([i for i in sel.meta["empty_bins"] if i not in used]),
            "frame_selection": sel.meta,
            "frame_dates": [d.isoformat() for d in dates],
            "temporal_coords": [[d.year, d.timetuple().tm_yday] for d in dates] if dates else None,
            "grid_time_reduction": "mean over frames",
        }
        ll = roi_center_lonlat(patch)
        m["location_coords"] = [ll[1], ll[0]] if ll else None
        if not dates:
            m["side_inputs_missing"] = ["time"]
        if ll is None:
            m.setdefault("side_inputs_missing", []).append("location")
        return m
