"""Galileo (Tseng et al. 2025, ``nasaharvest/galileo``): a multi-modal, multi-temporal
remote-sensing transformer; here on a Sentinel-2 time series.

Frames: the shared frame policy (``frames.FramePolicy``), option ``frames``:
``"monthly"`` (default: one bin per month of the window, at most 12, as Galileo was
pretrained on monthly steps) or a fixed count from 1 to 12. An empty bin is fed with
its tokens masked (Galileo's encoder takes per-token masks), never as fill values; it
is listed in ``meta["frame_selection"]``.

Input, as upstream's ``construct_galileo_input(s2=..., normalize=True)`` builds it: the
ten S2 bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12 (reflectance x 10000; missing pixels
get the frame's band mean, as upstream's ``_fillna``) in the space-time group, resized
to ``image_size`` (default 64) square and normalised with the pretraining statistics
``(x - (mean - 2 std)) / (4 std)``. Every other channel group (S1, NDVI, SRTM, Dynamic
World, WorldCereal, ERA5, TerraClimate, VIIRS, LandScan, location) is absent: zeros,
masked, as upstream fills them. Options: ``include_ndvi`` adds NDVI from B8 and B4
(as upstream's pretraining data); ``include_location`` adds the ROI centre as the
static location group (unit-sphere x, y, z, as upstream's ``to_cartesian``).

Side inputs: the month (0-11) of each frame's midpoint (month 5 where unknown, as
upstream), and the metres per pixel of the model input (``input_resolution_m``: fetch
resolution x resize factor) that scales the spatial encoding.

Outputs: ``grid`` = per token patch (``patch_size`` px, default 8) the mean of its
seen tokens (upstream ``apply_mask_and_average_tokens_per_patch``), ``(D, 8, 8)`` by
default; ``pooled`` = their mean (upstream ``average_tokens``) or max.

Weights: ``models/<size>/encoder.pt`` of the Hugging Face repository
``nasaharvest/galileo`` (nano by default; tiny, base), loaded strictly.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ModelError
from ..nn.galileo import (
    GALILEO_CONFIGS,
    N_SPACE,
    N_STATIC,
    N_TIME,
    S2_BANDS,
    SPACE_GROUPS,
    SPACE_TIME_BANDS,
    SPACE_TIME_GROUPS,
    STATIC_GROUPS,
    TIME_GROUPS,
    GalileoEncoder,
)
from ..providers.base import Patch
from .multiframe import MultiFrameEmbedder, normalise_2std
from .vit_base import fill_with_frame_mean, roi_center_lonlat

_S2_IN_ST = [SPACE_TIME_BANDS.index(b) for b in S2_BANDS]
_S2_GROUPS = [k for k, g in enumerate(SPACE_TIME_GROUPS) if g.startswith("S2")]
_NDVI_GROUP = list(SPACE_TIME_GROUPS).index("NDVI")
_LOCATION_GROUP = list(STATIC_GROUPS).index("location")


def ndvi(b8: np.ndarray, b4: np.ndarray) -> np.ndarray:
    """(B8 - B4) / (B8 + B4) where the sum is positive, else 0 (upstream ``calculate_ndi``)."""
    s = b8 + b4
    with np.errstate(all="ignore"):
        return np.where(s > 0, (b8 - b4) / s, 0.0).astype(np.float32)


def to_cartesian(lat: float, lon: float) -> np.ndarray:
    la, lo = math.radians(lat), math.radians(lon)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)], np.float32)


class GalileoEmbedder(MultiFrameEmbedder):
    CONFIGS = GALILEO_CONFIGS
    EMPTY_BINS = "mask"  # Galileo's encoder takes per-token masks
    extra_options = (*MultiFrameEmbedder.extra_options, "include_ndvi", "include_location")
    cpu_batch_size = 8
    #: channels per frame handed to the network: the 10 S2 bands, then NDVI
    PER_FRAME = len(S2_BANDS) + 1

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        for flag in ("include_ndvi", "include_location"):
            if not isinstance(options.get(flag, False), bool):
                raise ModelError(f"galileo {flag} must be True or False, got {options[flag]!r}")
        self.include_ndvi = bool(options.get("include_ndvi", False))
        self.include_location = bool(options.get("include_location", False))
        super().__init__(spec, device=device, **options)

    def build_network(self, config):
        if self.patch_size > config.max_patch_size:
            raise ModelError(f"galileo patch_size {self.patch_size} exceeds the model's {config.max_patch_size}")
        return GalileoEncoder(config)

    def read_checkpoint(self, path):
        # upstream's load_from_folder: some files have an extra ".backbone" in their key names
        return {k.replace(".backbone", ""): v for k, v in super().read_checkpoint(path).items()}

    # -- input ------------------------------------------------------------------------------
    def preprocess(self, patch: Patch) -> np.ndarray:
        """``(T * 11, H, W)``: per frame the normalised S2 bands, then NDVI (0 unless asked for)."""
        sel = self.frame_policy.select(patch)
        raw = fill_with_frame_mean(self.require_bands(patch, self.bands)[sel.used])         # (T, 10, H, W)
        nd = ndvi(raw[:, self.bands.index("B8")], raw[:, self.bands.index("B4")])[:, None]
        if not self.include_ndvi:
            nd = np.zeros_like(nd)
        x = np.concatenate([normalise_2std(raw, self.norm), nd], axis=1)              # NDVI: shift 0, div 1
        return x.reshape(-1, *x.shape[-2:])

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        out: dict[str, Any] = self.frame_side_inputs(patch, input_prep)
        if self.include_location:
            ll = roi_center_lonlat(patch)
            if ll is None:
                raise ModelError("galileo include_location=True needs the ROI's location: pass crs/transform "
                                 "with the data, or leave include_location off")
            out["location"] = to_cartesian(ll[1], ll[0])
        return self.per_tile(out, n_tiles)

    def forward_batch(self, x, side):
        b, tc, s, _ = x.shape
        t = tc // self.PER_FRAME
        frames = x.reshape(b, t, self.PER_FRAME, s, s).permute(0, 3, 4, 1, 2)       # (B, S, S, T, 11)
        s_t_x = x.new_zeros(b, s, s, t, len(SPACE_TIME_BANDS))
        s_t_x[..., _S2_IN_ST] = frames[..., :len(S2_BANDS)]
        s_t_x[..., SPACE_TIME_BANDS.index("NDVI")] = frames[..., -1]
        s_t_m = x.new_ones(b, s, s, t, len(SPACE_TIME_GROUPS))
        seen = (~side["masked"].bool()).to(x.dtype)[:, None, None, :, None]         # (B, 1, 1, T, 1)
        s_t_m[..., _S2_GROUPS] = 1 - seen
        if self.include_ndvi:
            s_t_m[..., [_NDVI_GROUP]] = 1 - seen
        st_x = x.new_zeros(b, N_STATIC)
        st_m = x.new_ones(b, len(STATIC_GROUPS))
        if "location" in side:
            st_x[:, list(STATIC_GROUPS["location"])] = side["location"].to(x.dtype)
            st_m[:, _LOCATION_GROUP] = 0
        out = self.model(s_t_x, x.new_zeros(b, s, s, N_SPACE), x.new_zeros(b, t, N_TIME), st_x,
                         s_t_m, x.new_ones(b, s, s, len(SPACE_GROUPS)), x.new_ones(b, t, len(TIME_GROUPS)), st_m,
                         side["months"].long(), self.patch_size, input_resolution_m=side["input_res"])
        return self.model.average_tokens_per_patch(*out), None

    def flops_per_input(self, x, side) -> float:
        """Mean FLOPs per sample of a model-input batch (for the benchmark): masked frames'
        tokens never reach the blocks, so only the seen frames count."""
        groups = len(_S2_GROUPS) + int(self.include_ndvi)
        seen = (~side["masked"].bool()).sum(dim=1).tolist()
        g = self.image_size // self.patch_size
        return sum(self.model.flops_per_sample(t, g, groups) for t in seen) / len(seen)

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        return {
            "bands": list(self.bands), **self.frame_meta(patch, side),
            "normalization": self.norm.method, "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
            "channel_groups_seen": [g for g in SPACE_TIME_GROUPS if g.startswith("S2")]
            + (["NDVI"] if self.include_ndvi else []) + (["location"] if self.include_location else []),
            "channel_groups_absent": "zeros, masked (as upstream construct_galileo_input)",
            "grid_semantics": "mean of the seen tokens of each patch (apply_mask_and_average_tokens_per_patch)",
            "grid_time_reduction": "mean over seen frames and channel groups",
        }
