"""One frame-selection policy for multi-frame (time-series) models.

A multi-frame model turns the user's window into time bins (one composite per bin,
fetched by the provider), then chooses which of those frames it feeds to the network.
This module is the one place where both steps are decided, so every such model
(``anysat``, ``prithvi``, ``galileo``, ``olmoearth``, ``agrifm``) splits windows,
caps frame counts and treats empty bins the same way, and reports it the same way.

How a model uses it::

    from .frames import FramePolicy

    class MyEmbedder(Embedder):
        def __init__(self, spec, device="auto", **options):
            super().__init__(spec, device=device, **options)
            # "frames" option: an int (fixed count) or "monthly" (window-adaptive)
            self.frame_policy = FramePolicy.from_option(
                options.get("frames"), default="monthly", max_frames=12, empty="drop",
                model=spec.id)

        def frames_for(self, temporal):            # how many bins the provider fetches
            return self.frame_policy.n_bins(temporal)

        def embed_patches(self, patches, output, *, input_prep="resize"):
            for p in patches:
                sel = self.frame_policy.select(p)   # which frames go to the network
                x = p.data[sel.used]                # (T', C, H, W), time order kept
                ...                                 # sel.dates, sel.masked for side inputs
                meta["frame_selection"] = sel.meta  # same schema for every model

Modes:

- ``fixed``: the window is split into ``frames`` equal bins (``TemporalSpec.split``).
- ``monthly`` (window-adaptive): one bin per month of the window (its length divided by
  the mean month, 30.4375 days, rounded, at least 1) capped at the model's maximum; the
  bins are equal parts of the window, as the providers split it.

Empty bins (no scene, or no valid pixel, as the provider reports in ``Patch.frames``)
are never silently filled; each model says what it does with them:

- ``keep``: fed as fetched (the provider's ``fill_value`` composite); AnySat's contract.
- ``drop``: left out of the series (at least one frame always remains).
- ``mask``: fed, but flagged in ``FrameSelection.masked`` so the model masks their
  tokens (Galileo's encoder takes per-token masks).

Whatever happens is written to ``FrameSelection.meta`` (``meta["frame_selection"]``):
the bins, which were empty and why, how they were handled, and which frames the
network saw.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError
from ..specs import TemporalSpec, normalize_temporal

MODES = ("fixed", "monthly")
EMPTY_HANDLING = ("keep", "drop", "mask")
#: mean length of a Gregorian month in days
DAYS_PER_MONTH = 30.4375
#: window used when a multi-frame model gets ``temporal=None`` (rs-embed's default range)
DEFAULT_WINDOW = ("2022-06-01", "2022-09-01")
_HANDLED = {"keep": "kept as fetched (provider fill value)", "drop": "dropped",
            "mask": "fed with their tokens masked"}


def resolve_window(temporal: TemporalSpec | None, model: str) -> TemporalSpec:
    """The window of a multi-frame model: ``year`` -> its range; ``None`` -> the default
    window of rs-embed, with a warning (results then depend on an implicit choice)."""
    if temporal is None:
        warnings.warn(
            f"{model}: temporal=None, using the default window {DEFAULT_WINDOW[0]}..{DEFAULT_WINDOW[1]} "
            f"(as rs-embed); pass temporal=TemporalSpec.range(...) for reproducible results",
            UserWarning, stacklevel=4)  # the caller of the model's resolve_temporal
        return TemporalSpec.range(*DEFAULT_WINDOW)
    return normalize_temporal(temporal)


def months_in(temporal: TemporalSpec) -> int:
    """Number of (mean-length) months the window spans, rounded, at least 1."""
    s, e = temporal.bounds()
    return max(1, round((e - s).days / DAYS_PER_MONTH))


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a patch a model feeds, and the record of how they were chosen."""

    used: list[int]                 # indices into the patch's frames, in time order
    masked: list[int]               # of ``used``: frames whose tokens the model masks
    dates: list[_dt.date | None]    # midpoint date of each used frame (None if unknown)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.used)

    def mask_flags(self) -> np.ndarray:
        """Boolean ``(len(used),)``: True where the frame's tokens are to be masked."""
        return np.array([i in self.masked for i in self.used], dtype=bool)


@dataclass(frozen=True)
class FramePolicy:
    """How a multi-frame model splits a window and which frames it feeds."""

    mode: str = "fixed"
    frames: int = 1                  # ``fixed``: the bin count
    max_frames: int | None = None    # the model's maximum (cap of ``monthly``, bound of ``fixed``)
    empty: str = "keep"              # what the model does with empty bins

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModelError(f"frame mode must be one of {MODES}, got {self.mode!r}")
        if self.empty not in EMPTY_HANDLING:
            raise ModelError(f"empty-bin handling must be one of {EMPTY_HANDLING}, got {self.empty!r}")

    @classmethod
    def from_option(cls, value: Any, *, default: int | str, max_frames: int | None,
                    empty: str, model: str, option: str = "frames") -> FramePolicy:
        """A policy from a model option: an int ``N`` (fixed N bins) or ``"monthly"``
        (window-adaptive; ``"auto"`` is accepted as its alias); ``None`` -> ``default``."""
        v = default if value is None else value
        if isinstance(v, str) and v.strip().lower() in ("monthly", "auto"):
            return cls("monthly", 1, max_frames, empty)
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        top = f" to {max_frames}" if max_frames else " or more"
        if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (max_frames and v > max_frames):
            raise ModelError(f"{model} model option {option} must be an int from 1{top} "
                             f"(fixed frame count) or 'monthly' (one frame per month of the window), "
                             f"got {value!r}")
        return cls("fixed", v, max_frames, empty)

    # -- before the fetch --------------------------------------------------------------
    def n_bins(self, temporal: TemporalSpec | None) -> int:
        """How many bins the provider splits the window into."""
        if self.mode == "fixed":
            return self.frames
        if temporal is None:  # only reached for data the caller hands over (no fetch)
            return self.max_frames or 1
        n = months_in(temporal)
        return min(n, self.max_frames) if self.max_frames else n

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mode": self.mode, "max_frames": self.max_frames,
                             "empty_bins": self.empty}
        if self.mode == "fixed":
            d["frames"] = self.frames
        else:
            d["bin_rule"] = f"round(window days / {DAYS_PER_MONTH}), at least 1, capped at max_frames"
        return d

    # -- after the fetch ---------------------------------------------------------------
    def select(self, patch: Any) -> FrameSelection:
        """The frames of ``patch`` (a :class:`Patch`) the model feeds, and why."""
        n_in = int(patch.n_frames)
        info = list(patch.frames) if len(patch.frames) == n_in else [{} for _ in range(n_in)]
        empty, reasons = [], {}
        for i, f in enumerate(info):
            why = _empty_reason(f)
            if why:
                empty.append(i)
                reasons[i] = why
        idx = list(range(n_in))
        if self.empty == "drop":
            idx = [i for i in idx if i not in empty] or idx[:1]
        over = []
        if self.max_frames and len(idx) > self.max_frames:
            # more frames than the model takes (caller data): evenly spaced, ends kept
            pick = np.linspace(0, len(idx) - 1, self.max_frames).round().astype(int)
            over = [i for k, i in enumerate(idx) if k not in set(pick.tolist())]
            idx = [idx[k] for k in pick]
        masked = [i for i in idx if i in empty] if self.empty == "mask" else []
        dates = [_mid(info[i]) for i in idx]
        meta: dict[str, Any] = {
            "policy": self.describe(),
            "bins": [{k: info[i].get(k) for k in ("start", "end", "mid", "n_scenes", "valid_fraction")
                      if k in info[i]} for i in range(n_in)],
            "frames_in": n_in,
            "empty_bins": empty,
            "empty_reasons": {str(i): reasons[i] for i in empty},
            "empty_handling": _HANDLED[self.empty] if empty else None,
            "frames_used": idx,
            "frames_masked": masked,
            "frames_over_max_dropped": over,
            "frame_dates": [d.isoformat() if d else None for d in dates],
        }
        if self.empty == "drop" and empty and all(i in empty for i in idx):
            meta["note"] = "every bin was empty: the first is fed (fill values) so the model still runs"
        return FrameSelection(idx, masked, dates, meta)


def _empty_reason(frame: dict[str, Any]) -> str | None:
    if frame.get("n_scenes") == 0:
        return "no scene in the bin"
    vf = frame.get("valid_fraction")
    if vf is not None and float(vf) == 0.0:
        return "no valid pixel over the ROI (all masked)"
    return None


def _mid(frame: dict[str, Any]) -> _dt.date | None:
    mid = frame.get("mid")
    return _dt.date.fromisoformat(str(mid)[:10]) if mid else None
