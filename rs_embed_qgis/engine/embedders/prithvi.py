"""Prithvi-EO-2.0 (Szwarcman et al. 2024, IBM/NASA/Jülich): a multi-temporal ViT
pretrained as an MAE on HLS (Harmonized Landsat Sentinel-2) time series.

Input: the six HLS bands blue, green, red, narrow NIR, SWIR 1, SWIR 2 - from
Sentinel-2 B2, B3, B4, B8A, B11, B12 (B8A is the narrow NIR band HLS uses) at
30 m by default - up to 4 frames (``frames``, default 4: the window is split
into that many equal bins, each a composite; bins with no scene are dropped),
each frame ``(x - mean) / std`` with the official per-band statistics
(reflectance x 10000), resized to 224.

Side inputs of the -TL models: per frame (year, day of year) of the frame's
midpoint, and the ROI centre (lat, lon) in degrees.

Outputs: patch tokens of all frames (class token dropped) averaged over the
frames -> ``grid`` ``(D, 14, 14)``; ``pooled`` = their mean (or max) over space.

Weights: ``Prithvi_EO_V2_300M_TL.pt`` (default) or ``Prithvi_EO_V2_100M_TL.pt`` from
``ibm-nasa-geospatial/Prithvi-EO-2.0-{300M,100M}-TL``: the full MAE state dict;
``encoder.*`` is loaded strictly, ``decoder.*`` is set aside.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.prithvi import PRITHVI_CONFIGS, PrithviEncoder
from ..providers.base import Patch
from .vit_base import ViTEmbedder, roi_center_lonlat

MAX_FRAMES = 4


class PrithviEmbedder(ViTEmbedder):
    CONFIGS = PRITHVI_CONFIGS
    extra_options = ("frames",)

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        n = options.get("frames", MAX_FRAMES)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FRAMES:
            raise ModelError(f"frames must be an int from 1 to {MAX_FRAMES} (Prithvi's pretraining), got {n!r}")
        self.n_frames = n
        self.frames = None if n == 1 else n
        super().__init__(spec, device=device, **options)

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size[1]
        if config.in_chans != len(self.bands):
            raise ModelError(f"Prithvi takes {len(self.bands)} bands, arch asks for in_chans={config.in_chans}")
        return PrithviEncoder(config)

    def checkpoint_layout(self):
        return "encoder.", ("decoder.",)

    # -- frames and side inputs ---------------------------------------------------------------
    def _frames_used(self, patch: Patch) -> list[int]:
        """Frames with data (bins without any scene are dropped), at most 4, evenly spaced."""
        idx = list(range(patch.n_frames))
        if patch.frames and len(patch.frames) == patch.n_frames:
            with_data = [i for i in idx if patch.frames[i].get("n_scenes", 1) != 0]
            idx = with_data or idx[:1]
        if len(idx) > MAX_FRAMES:
            pick = np.linspace(0, len(idx) - 1, MAX_FRAMES).round().astype(int)
            idx = [idx[i] for i in pick]
        return idx

    def _frame_dates(self, patch: Patch, used: list[int]) -> list[_dt.date]:
        dates: list[_dt.date] = []
        if patch.frames and len(patch.frames) == patch.n_frames:
            for i in used:
                mid = patch.frames[i].get("mid")
                if mid:
                    dates.append(_dt.date.fromisoformat(str(mid)[:10]))
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
        used = self._frames_used(patch)
        dates = self._frame_dates(patch, used)
        m: dict[str, Any] = {
            "bands": list(self.bands), "normalization": "(x - mean) / std, official per-band statistics",
            "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
            "num_frames": len(used), "frames_requested": self.n_frames,
            "frames_used": used,
            "frames_dropped_empty": patch.n_frames - len(used) if patch.n_frames <= MAX_FRAMES else None,
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
