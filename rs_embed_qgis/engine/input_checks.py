"""Input inspection: is a fetched patch fit to be embedded? (rs-embed's
``inspect_provider_patch`` / ``inspect_gee_patch`` and the checks that
``SensorSpec.check_input`` turns on during embedding.)

The report is JSON-serialisable: shape, per-band min/max/mean/std and
percentiles, NaN/Inf and fill-value fractions (per band and per frame),
near-constant bands, the fraction outside ``value_range``, the provider's input
sanity facts (``input_sanity``: valid fraction, implausible values; see
``providers/sanity.py``) and the list of ``issues``; ``ok`` is False when there is any.
A patch the provider refuses (too little valid data, implausible values) is still
fetched and reported here, with the reason among the issues. With ``check_save_dir`` (or
``RS_EMBED_CHECK_SAVE_DIR``) a quick-look PNG of the patch is written there.
As in rs-embed, ``RS_EMBED_CHECK_INPUT=1`` and ``RS_EMBED_CHECK_RAISE=0/1``
override the sensor's flags.
"""
from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import SpecError
from .names import sanitize_key
from .providers import get_provider
from .providers.base import Patch
from .providers.sanity import InputSanityError
from .specs import SensorSpec, SpatialSpec, TemporalSpec, validate_spatial

#: fractions above which a patch is flagged
MAX_NONFINITE_FRAC = 0.001
MAX_FILL_FRAC = 0.98
MAX_OUTSIDE_FRAC = 0.001
CONSTANT_STD = 1e-6


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() not in ("", "0", "false", "no", "off")


def checks_enabled(sensor: SensorSpec | None) -> bool:
    return _flag("RS_EMBED_CHECK_INPUT") or bool(getattr(sensor, "check_input", False))


def checks_should_raise(sensor: SensorSpec | None) -> bool:
    if "RS_EMBED_CHECK_RAISE" in os.environ:
        return _flag("RS_EMBED_CHECK_RAISE", "1")
    return bool(getattr(sensor, "check_raise", True))


def checks_save_dir(sensor: SensorSpec | None) -> str | None:
    return os.environ.get("RS_EMBED_CHECK_SAVE_DIR") or getattr(sensor, "check_save_dir", None)


def inspect_array(x: np.ndarray, *, name: str = "input", bands: Sequence[str] | None = None,
                  expected_channels: int | None = None,
                  value_range: tuple[float, float] | None = None,
                  fill_value: float | None = None,
                  max_values: int = 4_000_000) -> dict[str, Any]:
    """Statistics and checks of a ``(C, H, W)`` or ``(T, C, H, W)`` array."""
    arr = np.asarray(x)
    rep: dict[str, Any] = {"name": name, "ok": True, "issues": [], "shape": list(arr.shape),
                           "dtype": str(arr.dtype)}
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        rep["ok"] = False
        rep["issues"].append(f"{name}: expected CHW or TCHW, got ndim={arr.ndim}")
        return rep
    t, c, h, w = arr.shape
    names = list(bands) if bands is not None else [f"band_{i}" for i in range(c)]
    rep["bands"] = names
    if expected_channels is not None and c != int(expected_channels):
        rep["issues"].append(f"{name}: channel mismatch (C={c}, expected {expected_channels})")
    if h == 0 or w == 0:
        rep["issues"].append(f"{name}: empty patch ({h}x{w} px)")
        rep["ok"] = False
        return rep
    stride = 1
    if arr.size > max_values:  # strided sample keeps checks cheap on huge patches
        stride = int(np.ceil(np.sqrt(arr.size / max_values)))
        arr = arr[:, :, ::stride, ::stride]
        rep["downsample_stride"] = stride
    xf = arr.astype(np.float32, copy=False)
    finite = np.isfinite(xf)
    rep["finite_frac"] = float(finite.mean())
    rep["nan_frac"] = float(np.isnan(xf).mean())
    rep["band_nan_frac"] = [float(v) for v in (~finite).mean(axis=(0, 2, 3))]
    if 1.0 - rep["finite_frac"] > MAX_NONFINITE_FRAC:
        rep["issues"].append(f"{name}: contains NaN/Inf ({(~finite).sum()} values)")
    per_band = np.moveaxis(np.where(finite, xf, np.nan), 1, 0).reshape(c, -1)  # C x (T*H*W)
    has = finite.any(axis=(0, 2, 3))
    stats = {k: [None] * c for k in ("band_min", "band_max", "band_mean", "band_std",
                                     "band_p01", "band_p50", "band_p99")}
    for i in np.where(has)[0]:
        v = per_band[i][np.isfinite(per_band[i])]
        fv = None if fill_value is None else float(fill_value)
        vv = v[v != fv] if fv is not None and np.any(v != fv) else v  # stats of real pixels
        stats["band_min"][i], stats["band_max"][i] = float(vv.min()), float(vv.max())
        stats["band_mean"][i], stats["band_std"][i] = float(vv.mean()), float(vv.std())
        p = np.percentile(vv, (1, 50, 99))
        stats["band_p01"][i], stats["band_p50"][i], stats["band_p99"][i] = (float(q) for q in p)
    rep.update(stats)
    rep["band_stats"] = {n: {"min": stats["band_min"][i], "max": stats["band_max"][i],
                             "mean": stats["band_mean"][i], "std": stats["band_std"][i]}
                         for i, n in enumerate(names)}
    # near-constant bands: empty ROI, all fill, a broken reprojection
    const = [names[i] for i in range(c)
             if not has[i] or np.nanstd(per_band[i]) < CONSTANT_STD]
    rep["constant_bands"] = const
    if const:
        rep["issues"].append(f"{name}: near-constant bands {const}")
    if value_range is not None:
        lo, hi = float(value_range[0]), float(value_range[1])
        if not lo < hi:
            raise SpecError(f"value_range must be (low, high) with low < high, got {value_range!r}")
        valid = finite & (xf != fill_value) if fill_value is not None else finite
        outside = valid & ((xf < lo) | (xf > hi))
        frac = float(outside.sum() / max(1, valid.sum()))
        rep["value_range"] = [lo, hi]
        rep["outside_range_frac"] = frac
        rep["band_outside_range_frac"] = [
            float(outside[:, i].sum() / max(1, valid[:, i].sum())) for i in range(c)]
        if frac > MAX_OUTSIDE_FRAC:
            rep["issues"].append(f"{name}: {frac:.2%} of values outside [{lo}, {hi}]")
    if fill_value is not None:
        fv = float(fill_value)
        is_fill = (xf == fv)
        rep["fill_value"] = fv
        rep["fill_frac"] = float(is_fill.mean())
        rep["band_fill_frac"] = [float(v) for v in is_fill.mean(axis=(0, 2, 3))]
        rep["frame_fill_frac"] = [float(v) for v in is_fill.all(axis=1).mean(axis=(1, 2))]
        if rep["fill_frac"] > MAX_FILL_FRAC:
            rep["issues"].append(f"{name}: {rep['fill_frac']:.2%} of values are fill_value={fv} "
                                 "(no data: check the window, cloudy_pct and the ROI)")
    rep["ok"] = not rep["issues"]
    return rep


def _rgb_indices(bands: Sequence[str]) -> list[int]:
    from .providers.bands import canonical_band

    canon = [canonical_band(b) for b in bands]
    if all(b in canon for b in ("B4", "B3", "B2")):
        return [canon.index(b) for b in ("B4", "B3", "B2")]
    if all(b in canon for b in ("RED", "GREEN", "BLUE")):
        return [canon.index(b) for b in ("RED", "GREEN", "BLUE")]
    return [0, 1, 2] if len(bands) >= 3 else [0, 0, 0]


def save_quicklook(data: np.ndarray, bands: Sequence[str], path: os.PathLike | str, *,
                   fill_value: float | None = None, pmin: float = 2.0, pmax: float = 98.0,
                   max_frames: int = 12) -> str:
    """PNG of a patch (RGB bands when present, else the first band); frames side by side.

    Percentile stretch per channel over all frames; fill and NaN pixels are black.
    """
    from PIL import Image

    from .io import atomic_path

    arr = np.asarray(data, np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    arr = arr[:max_frames]
    idx = _rgb_indices(bands)
    rgb = arr[:, idx].astype(np.float32)                       # T, 3, H, W
    bad = ~np.isfinite(rgb)
    if fill_value is not None:
        bad |= rgb == fill_value
    out = np.zeros_like(rgb)
    for ch in range(3):
        v = rgb[:, ch][~bad[:, ch]]
        if v.size:
            lo, hi = np.percentile(v, (pmin, pmax))
            out[:, ch] = np.clip((rgb[:, ch] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    out[bad] = 0
    t, _, h, w = out.shape
    gap = 2 if t > 1 else 0
    canvas = np.full((h, t * w + (t - 1) * gap, 3), 255, np.uint8)
    for k in range(t):
        x0 = k * (w + gap)
        canvas[:, x0:x0 + w] = (out[k].transpose(1, 2, 0) * 255).round().astype(np.uint8)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(canvas, "RGB").save(tmp, format="PNG")
    return str(path)


def check_patch(patch: Patch, *, sensor: SensorSpec | None = None, name: str = "input",
                value_range: tuple[float, float] | None = None,
                save_dir: str | None = None) -> dict[str, Any]:
    """Inspection result of a fetched patch: ``{ok, report, sensor, temporal, backend, artifacts}``."""
    sensor = sensor or patch.sensor
    fill = getattr(sensor, "fill_value", None)
    rep = inspect_array(patch.data, name=name, bands=patch.bands,
                        expected_channels=len(sensor.bands) if sensor is not None else None,
                        value_range=value_range, fill_value=fill)
    rep["frames"] = [{k: f.get(k) for k in ("start", "end", "mid", "n_scenes", "valid_fraction")}
                     for f in patch.frames]
    sanity = patch.meta.get("input_sanity")  # the provider's own checks (providers/sanity.py)
    if sanity:
        rep["input_sanity"] = sanity
        rep["issues"] += [f"{name}: {i}" for i in sanity.get("issues", [])]
        rep["ok"] = not rep["issues"]
    if patch.grid is not None:
        g = patch.grid
        rep["grid"] = {"crs": g.crs, "transform": list(g.transform), "width": g.width,
                       "height": g.height, "bounds": list(g.bounds)}
    artifacts: dict[str, Any] = {}
    save_dir = save_dir or checks_save_dir(sensor)
    if save_dir:
        ts = _dt.datetime.utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        path = os.path.join(save_dir, f"{sanitize_key(name, 'patch')}_{ts}.png")
        try:
            artifacts["quicklook_rgb"] = save_quicklook(patch.data, patch.bands, path, fill_value=fill)
        except Exception as exc:  # noqa: BLE001 - a quick-look must not fail the check
            artifacts["quicklook_rgb_error"] = f"{type(exc).__name__}: {exc}"
    temporal = patch.temporal
    return {
        "ok": bool(rep["ok"]),
        "report": rep,
        "sensor": sensor.to_dict() if sensor is not None else None,
        "temporal": temporal.to_dict() if temporal is not None else None,
        "backend": patch.backend,
        "artifacts": artifacts or None,
    }


def inspect_provider_patch(*, spatial: SpatialSpec, temporal: TemporalSpec | None = None,
                           sensor: SensorSpec, backend: str = "gee", name: str = "gee_patch",
                           value_range: tuple[float, float] | None = None,
                           return_array: bool = False,
                           provider_options: dict[str, Any] | None = None,
                           frames: int | None = None) -> dict[str, Any]:
    """Fetch a patch from a backend and check it, without running a model.

    Returns a JSON-serialisable dict (``ok``, ``report``, ``sensor``, ``temporal``,
    ``backend``, ``artifacts``, ``input`` = grid and frames); ``return_array=True``
    adds ``array_chw`` (the first frame; ``array_tchw`` too for several frames).
    """
    spatial = validate_spatial(spatial)
    if not isinstance(sensor, SensorSpec):
        raise SpecError(f"sensor must be a SensorSpec, got {sensor!r}")
    sensor = sensor.validate()
    if temporal is not None:
        if not isinstance(temporal, TemporalSpec):
            raise SpecError(f"temporal must be a TemporalSpec, got {temporal!r}")
        temporal = temporal.validate()
    backend = str(backend).strip().lower()
    provider = get_provider(backend, provider_options)
    try:
        patch = provider.fetch(spatial, temporal, sensor, frames=frames)
    except InputSanityError as exc:  # report what was fetched and why it would be refused
        patch = exc.patch
    out = check_patch(patch, sensor=sensor, name=name, value_range=value_range)
    out["backend"] = backend
    out["temporal"] = temporal.to_dict() if temporal is not None else None
    out["input"] = patch.describe()
    if return_array:
        out["array_chw"] = patch.chw
        if patch.n_frames > 1:
            out["array_tchw"] = patch.data
    return out


def inspect_gee_patch(*, spatial: SpatialSpec, temporal: TemporalSpec | None = None,
                      sensor: SensorSpec, backend: str = "gee", name: str = "gee_patch",
                      value_range: tuple[float, float] | None = None,
                      return_array: bool = False,
                      provider_options: dict[str, Any] | None = None,
                      frames: int | None = None) -> dict[str, Any]:
    """Alias of :func:`inspect_provider_patch` (rs-embed's name)."""
    return inspect_provider_patch(spatial=spatial, temporal=temporal, sensor=sensor,
                                  backend=backend, name=name, value_range=value_range,
                                  return_array=return_array, provider_options=provider_options,
                                  frames=frames)


def inspect_patch(spatial: SpatialSpec, temporal: TemporalSpec | None, sensor: SensorSpec, *,
                  backend: str = "local", provider_options: dict[str, Any] | None = None,
                  value_range: tuple[float, float] | None = None, name: str = "patch",
                  frames: int | None = None) -> tuple[Patch, dict[str, Any]]:
    """Fetch the patch a model would get (no model run) and check it: ``(patch, report)``.

    The report is :func:`inspect_provider_patch`'s (JSON-ready: ``ok``, ``report`` with
    per-band statistics and ``issues``, ``sensor``, ``temporal``, ``backend``, ``input``
    = CRS, transform, bounds and frames) plus the ``spatial``; ``patch`` holds the pixels
    on their grid, e.g. to write an RGB quick-look.
    """
    import json

    from .geo import RoiGrid
    from .io import to_json

    rep = inspect_provider_patch(spatial=spatial, temporal=temporal, sensor=sensor, backend=backend,
                                 name=name, value_range=value_range, return_array=True,
                                 provider_options=provider_options or None, frames=frames)
    tchw, chw = rep.pop("array_tchw", None), rep.pop("array_chw")
    data = tchw if tchw is not None else chw
    inp = rep.get("input") or {}
    grid = None
    if inp.get("crs") and inp.get("transform"):
        grid = RoiGrid.from_transform(inp["crs"], inp["transform"], data.shape[-1], data.shape[-2])
    patch = Patch(data, tuple(inp.get("bands") or sensor.bands), grid, list(inp.get("frames") or []),
                  sensor=sensor, temporal=temporal, backend=rep.get("backend", backend))
    rep["spatial"] = validate_spatial(spatial).to_dict()
    return patch, json.loads(to_json(rep))


__all__ = ["inspect_provider_patch", "inspect_gee_patch", "inspect_patch", "check_patch", "inspect_array",
           "save_quicklook", "checks_enabled", "checks_should_raise", "checks_save_dir"]
