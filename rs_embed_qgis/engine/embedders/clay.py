"""Clay v1.5 adapter: Sentinel-2 L2A 10 bands + wavelengths, GSD, time and location ->
Clay embeddings.

Input, from Clay's ``configs/metadata.yaml`` (``sentinel-2-l2a``): bands blue, green,
red, rededge1-3, nir, nir08, swir16, swir22 = B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12,
``(x - mean) / std`` on surface reflectance x 10000 with the file's statistics, the
file's wavelengths (micrometres) as the dynamic embedding's side input, 256 px chips
(the training chip size), patch 8 -> 32 x 32 tokens.

Metadata side inputs, as Clay's ``how-to-embed`` notebook builds them:
``time = [sin, cos](2 pi week / 52), [sin, cos](2 pi hour / 24)`` of the window's midpoint
(ISO week; ``hour`` option, default 0 as composites have no acquisition hour),
``latlon = [sin, cos](lat), [sin, cos](lon)`` of the ROI centre in radians, and the ground
sample distance of the model input in metres (``sensor.scale_m`` times the resize factor
for ``input_prep="resize"``, ``scale_m`` for ``"tile"``; option ``gsd_m``).

Outputs: ``pooled`` = the class token (Clay's embedding, 1024-d for v1.5 large);
``grid`` = the patch tokens (1024 x 32 x 32). Weights: ``made-with-clay/Clay``
``v1.5/clay-v1.5.ckpt`` (Lightning; ``model.encoder.*`` loaded strictly).
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.models.clay import S2_10 as CLAY_S2_BANDS
from ..catalog.models.clay import WAVELENGTHS_UM as CLAY_S2_WAVELENGTHS_UM
from ..errors import ModelError
from ..nn.clay import CLAY_CONFIGS, ClayEncoder
from ..providers.base import Patch
from ..weights import load_state_dict_safely
from .vit_base import ViTEmbedder, normalise, roi_center_lonlat


def time_code(day: _dt.date, hour: float) -> list[float]:
    """Clay's ``normalize_timestamp``: [sin, cos] of the ISO week (/52) and of the hour (/24)."""
    week = day.isocalendar()[1] * 2 * math.pi / 52
    h = hour * 2 * math.pi / 24
    return [math.sin(week), math.cos(week), math.sin(h), math.cos(h)]


def latlon_code(lat: float, lon: float) -> list[float]:
    """Clay's ``normalize_latlon``: [sin, cos] of latitude and of longitude in radians."""
    a, b = math.radians(lat), math.radians(lon)
    return [math.sin(a), math.cos(a), math.sin(b), math.cos(b)]


class ClayEmbedder(ViTEmbedder):
    CONFIGS = CLAY_CONFIGS
    extra_options = ("gsd_m", "hour")
    cpu_batch_size = 4  # 1025 tokens per chip

    def build(self, config):
        self.image_size, self.patch_size = config.img_size, config.patch_size
        hour = self.options.get("hour", 0)
        if isinstance(hour, bool) or not isinstance(hour, (int, float)) or not 0 <= hour < 24:
            raise ModelError(f"hour must be a number in [0, 24) (UTC hour of acquisition), got {hour!r}")
        gsd = self.options.get("gsd_m")
        if gsd is not None and (isinstance(gsd, bool) or not isinstance(gsd, (int, float)) or gsd <= 0):
            raise ModelError(f"gsd_m must be a positive number of metres, got {gsd!r}")
        return ClayEncoder(config)

    def checkpoint_layout(self):
        return "model.encoder.", ("model.decoder.", "model.teacher.", "model.proj.")

    def read_checkpoint(self, path: Path) -> dict[str, Any]:
        return load_state_dict_safely(path)

    def preprocess(self, patch: Patch) -> np.ndarray:
        x = self.require_bands(patch, CLAY_S2_BANDS)[0]
        mean = np.asarray(self.norm.mean, np.float32)[:, None, None]
        return normalise(np.where(np.isfinite(x), x, mean), self.norm)  # no-data -> band mean (0 after)

    def _gsd(self, patch: Patch, input_prep: str) -> float:
        if self.options.get("gsd_m") is not None:
            return float(self.options["gsd_m"])
        scale = float(patch.grid.res) if patch.grid is not None else float(
            patch.sensor.scale_m if patch.sensor else 10.0)
        if input_prep == "tile":
            return scale
        return scale * min(patch.data.shape[-2:]) / self.image_size

    def _day(self, patch: Patch) -> _dt.date | None:
        dates = patch.frame_dates()
        if dates:
            return dates[0]
        return patch.temporal.input_time if patch.temporal is not None else None

    def side_inputs(self, patch: Patch, n_tiles: int, input_prep: str) -> dict[str, np.ndarray]:
        day = self._day(patch)
        ll = roi_center_lonlat(patch)
        time = time_code(day, float(self.options.get("hour", 0))) if day else [0.0] * 4
        latlon = latlon_code(ll[1], ll[0]) if ll else [0.0] * 4
        one = {"time": np.asarray(time, np.float32), "latlon": np.asarray(latlon, np.float32),
               "gsd": np.asarray(self._gsd(patch, input_prep), np.float32)}
        return {k: np.repeat(v[None], n_tiles, axis=0) for k, v in one.items()}

    def forward_batch(self, x, side):
        torch = self._torch
        waves = torch.tensor(CLAY_S2_WAVELENGTHS_UM, dtype=torch.float32)
        gsd = side["gsd"]
        if bool((gsd == gsd[:1]).all()):
            gsd = gsd[:1]  # one position table for the whole batch
        out = self.model(x, side["time"], side["latlon"], gsd, waves)
        return out[:, 1:], out[:, 0]

    def extra_meta(self, patch: Patch, side) -> dict[str, Any]:
        day = self._day(patch)
        ll = roi_center_lonlat(patch)
        return {
            "bands": list(CLAY_S2_BANDS), "wavelengths_um": list(CLAY_S2_WAVELENGTHS_UM),
            "normalization": self.norm.method, "norm_mean": list(self.norm.mean), "norm_std": list(self.norm.std),
            "gsd_m": float(side["gsd"][0]), "time_date": day.isoformat() if day else None,
            "time_hour_utc": float(self.options.get("hour", 0)),
            "time_code": side["time"][0].tolist(), "latlon_center": [ll[1], ll[0]] if ll else None,
            "latlon_code": side["latlon"][0].tolist(),
            "side_inputs_missing": [k for k, v in (("time", day), ("location", ll)) if v is None],
            "pooled_kind": "class token", "grid_kind": "patch tokens",
        }
