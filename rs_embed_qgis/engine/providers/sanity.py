"""Input sanity, on by default for every backend: garbage in gives an error, not a
silent embedding of fill values.

Two checks on a fetched patch:

- **valid data**: the fraction of the ROI's pixels that had data (before
  ``fill_value`` was used), averaged over the frames of a time series, must reach
  ``min_valid_fraction`` (default 0.05), else :class:`InputSanityError` (a
  ``ProviderError``) names the ROI, the window and the fraction. 5 % rejects what
  is certainly no input (a composite masked to nothing, an ROI off the scenes'
  footprint) and keeps ROIs that are partly cloudy or at a swath edge, which users
  want with their fraction recorded; raise it for stricter runs.
- **plausible values** (Sentinel-2 reflectance x 10000 only): valid values all zero,
  values that look like 0-1 reflectance (every value within +-2), or more than 1 %
  of them outside [-1000, 20000] (reflectance -0.1..2.0) are implausible. By
  default this **raises** too (``on_implausible="raise"``); ``"warn"`` records the
  issue and warns, ``"ignore"`` only records it.

The facts (fractions, issues) are kept in ``patch.meta["input_sanity"]`` either way,
and :func:`~rs_embed_qgis.engine.input_checks.inspect_provider_patch` reports them.

**Coverage** (:func:`coverage`): the same valid fraction is what the run reports as the share
of the ROI covered by valid data, in every embedding's ``meta["coverage"]`` (and so in the
layer metadata, the export manifests and GeoTIFF tags). Under ``min_valid_fraction`` the fetch
fails (above); between it and :data:`COVERAGE_WARN_BELOW` (0.9) the run goes on and warns
(``meta["warnings"]``, the log, QGIS's message bar): part of the grid embeds the fill value
(an ROI half outside the scenes, clouds).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from .bands import S2_REFLECTANCE, s2_band
from .base import Patch

MIN_VALID_FRACTION = 0.05
COVERAGE_WARN_BELOW = 0.9
PLAUSIBLE_RANGE = (-1000.0, 20000.0)
MAX_OUTSIDE_FRACTION = 0.01
UNIT_MAX = 2.0
POLICIES = ("raise", "warn", "ignore")


class InputSanityError(ProviderError):
    """A patch failed the input sanity checks; ``patch`` and ``facts`` say what was fetched."""

    def __init__(self, message: str, patch: Patch, facts: dict[str, Any]) -> None:
        super().__init__(message)
        self.patch, self.facts = patch, facts


@dataclass(frozen=True)
class SanityPolicy:
    """The knobs (provider options ``min_valid_fraction`` and ``on_implausible``)."""

    min_valid_fraction: float = MIN_VALID_FRACTION
    on_implausible: str = "raise"

    @classmethod
    def from_options(cls, min_valid_fraction: float | None = None,
                     on_implausible: str | None = None) -> SanityPolicy:
        mv = MIN_VALID_FRACTION if min_valid_fraction is None else min_valid_fraction
        try:
            mv = float(mv)
        except (TypeError, ValueError):
            raise SpecError(f"min_valid_fraction must be a number in [0, 1], got {min_valid_fraction!r}") from None
        if not 0.0 <= mv <= 1.0 or math.isnan(mv):
            raise SpecError(f"min_valid_fraction must be within [0, 1], got {min_valid_fraction!r}")
        pol = on_implausible or "raise"
        if pol not in POLICIES:
            raise SpecError(f"on_implausible must be one of {POLICIES}, got {on_implausible!r}")
        return cls(mv, pol)


def _where(spatial: Any, temporal: Any) -> str:
    from ..geo import roi_bounds_4326

    try:
        b = roi_bounds_4326(spatial)
        roi = f"ROI {spatial!r} (lon/lat {b[0]:.5f}, {b[1]:.5f}, {b[2]:.5f}, {b[3]:.5f})"
    except Exception:  # noqa: BLE001 - a message must not fail on an odd spatial
        roi = f"ROI {spatial!r}"
    if temporal is None:
        return f"{roi}, all dates"
    s, e = temporal.bounds()
    return f"{roi}, window [{s}, {e})"


def assess(patch: Patch, *, reflectance: bool = True) -> dict[str, Any]:
    """The facts: valid fractions (per frame and overall) and, for reflectance bands,
    the share of values outside the plausible range and the all-zero / 0-1 signs."""
    fracs = [f.get("valid_fraction") for f in patch.frames]
    known = [float(v) for v in fracs if v is not None]
    facts: dict[str, Any] = {
        "valid_fraction": float(np.mean(known)) if known else None,
        "frame_valid_fraction": fracs, "issues": []}
    idx = [i for i, b in enumerate(patch.bands) if s2_band(b) in S2_REFLECTANCE] if reflectance else []
    if not idx:
        return facts
    fill = getattr(patch.sensor, "fill_value", None)
    lo, hi = PLAUSIBLE_RANGE
    facts.update(plausible_range=list(PLAUSIBLE_RANGE), checked_bands=[patch.bands[i] for i in idx])
    n_valid = n_outside = n_zero_pool = 0
    vmax, nonzero = 0.0, False
    h = patch.data.shape[-2]
    step = max(1, (1 << 22) // max(1, patch.data.shape[0] * len(idx) * patch.data.shape[-1]))
    for r0 in range(0, h, step):  # in blocks of rows: a large patch is not copied whole, several times
        vals = patch.data[:, idx, r0:r0 + step]
        fin = np.isfinite(vals)
        ok = fin & (vals != np.float32(fill)) if fill is not None else fin
        v = vals[ok]
        # with fill_value 0 a zero cannot be told from fill: look at every finite value then
        zeros = vals[fin] if fill in (None, 0) else v
        n_zero_pool += zeros.size
        nonzero = nonzero or bool(np.any(zeros != 0))
        if v.size:
            n_valid += v.size
            vmax = max(vmax, float(np.abs(v).max()))
            n_outside += int(np.count_nonzero((v < lo) | (v > hi)))
    all_zero = bool(known) and max(known) > 0 and n_zero_pool > 0 and not nonzero
    if all_zero:
        facts["issues"].append("every valid reflectance value is 0 (no data, or a nodata value "
                               "that is not declared in the file)")
    elif n_valid:
        outside = n_outside / n_valid
        facts.update(outside_fraction=outside, max_abs=vmax)
        if vmax <= UNIT_MAX:
            facts["issues"].append(
                f"reflectance values are all within +-{UNIT_MAX:g} (max {vmax:.4g}): they look like 0-1 "
                "reflectance, but models take reflectance x 10000")
        elif outside > MAX_OUTSIDE_FRACTION:
            facts["issues"].append(
                f"{outside:.1%} of the reflectance values are outside [{lo:g}, {hi:g}] (reflectance x "
                f"10000): a wrong scale or offset?")
    return facts


def check(patch: Patch, spatial: Any, temporal: Any, policy: SanityPolicy, *,
          reflectance: bool = True) -> Patch:
    """Record the facts in ``patch.meta["input_sanity"]``; raise or warn as the policy says."""
    facts = assess(patch, reflectance=reflectance)
    facts.update(min_valid_fraction=policy.min_valid_fraction, on_implausible=policy.on_implausible)
    vf = facts["valid_fraction"]
    if vf is not None and vf < policy.min_valid_fraction:
        facts["issues"].insert(0, f"valid fraction {vf:.1%} < min_valid_fraction {policy.min_valid_fraction:g}")
    patch.meta["input_sanity"] = facts
    if vf is not None and vf < policy.min_valid_fraction:
        per = ", ".join(f"{v:.1%}" for v in facts["frame_valid_fraction"] if v is not None)
        raise InputSanityError(
            f"only {vf:.1%} of the pixels have valid data (frames: {per}) for {_where(spatial, temporal)}; "
            f"min_valid_fraction is {policy.min_valid_fraction:g}. The scenes there are masked (clouds, "
            "SCL) or do not cover the ROI: widen the window, raise cloudy_pct, or lower "
            "provider_options['min_valid_fraction']", patch, facts)
    value_issues = [i for i in facts["issues"] if not i.startswith("valid fraction")]
    if value_issues and policy.on_implausible == "raise":
        raise InputSanityError(
            f"implausible input for {_where(spatial, temporal)}: {'; '.join(value_issues)}. Check the "
            "data's scale and offset, or pass provider_options={'on_implausible': 'warn'}", patch, facts)
    if value_issues and policy.on_implausible == "warn":
        warnings.warn(f"implausible input for {_where(spatial, temporal)}: {'; '.join(value_issues)}",
                      stacklevel=3)
    return patch


def coverage(patch: Patch) -> dict[str, Any] | None:
    """The share of the ROI covered by valid data: the input sanity facts' valid fraction (or,
    for a patch no sanity check saw, the frames' ``valid_fraction``), per frame too; ``None``
    when the patch does not say (pixels a caller passed in)."""
    facts = patch.meta.get("input_sanity") or {}
    frames = facts.get("frame_valid_fraction") or [f.get("valid_fraction") for f in patch.frames]
    known = [float(v) for v in frames if v is not None]
    vf = facts.get("valid_fraction")
    if vf is None and known:
        vf = float(np.mean(known))
    if vf is None:
        return None
    return {"valid_fraction": float(vf), "frame_valid_fraction": frames,
            "min_valid_fraction": facts.get("min_valid_fraction"), "warn_below": COVERAGE_WARN_BELOW}


def coverage_warning(cov: dict[str, Any] | None, where: str = "the ROI") -> str | None:
    """The warning a partly covered ROI gets (``None`` when it is covered enough)."""
    if not cov or cov["valid_fraction"] >= COVERAGE_WARN_BELOW:
        return None
    return (f"only {cov['valid_fraction']:.0%} of {where} has valid data (clouds, or the scenes do not cover "
            f"it): the rest of the embedding is computed from the fill value")


__all__ = ["InputSanityError", "SanityPolicy", "assess", "check", "coverage", "coverage_warning",
           "MIN_VALID_FRACTION", "COVERAGE_WARN_BELOW", "PLAUSIBLE_RANGE", "MAX_OUTSIDE_FRACTION", "POLICIES"]
