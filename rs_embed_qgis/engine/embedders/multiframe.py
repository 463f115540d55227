"""What the flexible-patch multi-frame adapters (Galileo, OlmoEarth) share.

Both take a time series whose frames follow the shared frame policy (``frames.py``;
monthly by default, at most 12), resize each frame to ``image_size`` and cut it into
``patch_size`` px tokens (the models' flexible patch embeddings accept 1 to 8 px), and
give the network the month of each frame and the metres per pixel of its input.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog.entry import Normalisation
from ..errors import ModelError
from ..providers.base import Patch
from ..specs import TemporalSpec
from .frames import FramePolicy, resolve_window
from .vit_base import ViTEmbedder, model_input_gsd

#: month index fed where a frame's date is unknown (Galileo's upstream default)
DEFAULT_MONTH = 5


def normalise_2std(x: np.ndarray, norm: Normalisation) -> np.ndarray:
    """``(T, C, H, W)`` -> ``(x - (mean - 2 std)) / (4 std)`` per band: the pretraining
    normaliser of both Galileo (``Normalizer(std=True)``) and OlmoEarth
    (``Normalizer(Strategy.COMPUTED)``, std multiplier 2)."""
    m = np.asarray(norm.mean, np.float32)[None, :, None, None]
    s = np.asarray(norm.std, np.float32)[None, :, None, None]
    return ((x - (m - 2 * s)) / (4 * s)).astype(np.float32)


class MultiFrameEmbedder(ViTEmbedder):
    """A :class:`ViTEmbedder` over frame series. Subclasses set ``EMPTY_BINS`` (the
    policy's handling of empty bins) and write ``build_network(config)``."""

    MAX_FRAMES = 12
    EMPTY_BINS = "drop"
    extra_options = ("frames", "image_size", "patch_size")

    def __init__(self, spec, device: str = "auto", **options: Any) -> None:
        self.frame_policy = FramePolicy.from_option(
            options.get("frames"), default="monthly", max_frames=self.MAX_FRAMES, empty=self.EMPTY_BINS,
            model=spec.id)
        img, p = options.get("image_size", 64), options.get("patch_size", 8)
        for name, v, top in (("image_size", img, 4096), ("patch_size", p, 8)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise ModelError(f"{spec.id} {name} must be an int from 1 to {top}, got {v!r}")
        if img % p:
            raise ModelError(f"{spec.id} image_size ({img}) must be a multiple of patch_size ({p})")
        self._img, self._p = img, p
        super().__init__(spec, device=device, **options)

    def build(self, config):
        self.image_size, self.patch_size = self._img, self._p
        return self.build_network(config)

    def build_network(self, config):  # pragma: no cover - each model writes it
        raise NotImplementedError

    def resolve_temporal(self, temporal: TemporalSpec | None) -> TemporalSpec:
        return resolve_window(temporal, self.spec.id)

    def frames_for(self, temporal: TemporalSpec | None) -> int | None:
        return self.frame_policy.n_bins(temporal)

    def frame_side_inputs(self, patch: Patch, input_prep: str) -> dict[str, np.ndarray]:
        """Per patch: ``months`` (0-11 of each fed frame's midpoint, ``DEFAULT_MONTH`` where
        unknown), ``masked`` (frames the model masks) and ``input_res`` (metres per pixel
        of the model input; 10 m where unknown)."""
        sel = self.frame_policy.select(patch)
        months = np.array([d.month - 1 if d else DEFAULT_MONTH for d in sel.dates], np.int64)
        gsd = model_input_gsd(patch, input_prep, self.image_size) or 10.0
        return {"months": months, "masked": sel.mask_flags(), "input_res": np.float32(gsd)}

    def frame_meta(self, patch: Patch, side) -> dict[str, Any]:
        sel = self.frame_policy.select(patch)
        return {"num_frames": sel.n, "frame_selection": sel.meta,
                "months": [int(m) + 1 for m in side["months"][0]],
                "month_source": "frame midpoints" if all(sel.dates) else f"month {DEFAULT_MONTH + 1} where unknown",
                "input_resolution_m": float(side["input_res"][0])}

    @staticmethod
    def per_tile(values: dict[str, Any], n_tiles: int) -> dict[str, np.ndarray]:
        return {k: np.repeat(np.asarray(v)[None], n_tiles, axis=0) for k, v in values.items()}
