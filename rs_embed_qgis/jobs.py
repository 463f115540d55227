"""One code path for the dock, the QgsTasks and the Processing algorithms.

Plain Python (no qgis import): a request names everything a run needs; ``run``
calls the engine and writes the outputs atomically. GUI and toolbox build
requests from their widgets/parameters and hand progress/cancel callbacks in.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Embedding, OutputSpec, SensorSpec, TemporalSpec
from .engine.errors import RsEmbedError

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


class JobCancelled(RsEmbedError):
    """The user cancelled; nothing was written."""


@dataclass
class EmbedRequest:
    model: str
    spatials: list[Any]
    temporal: TemporalSpec | None
    output: OutputSpec
    sensor: SensorSpec | None = None
    backend: str = "local"
    device: str = "auto"
    input_prep: str = "resize"
    model_options: dict[str, Any] = field(default_factory=dict)
    provider_options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model, "spatials": [s.to_dict() for s in self.spatials],
            "temporal": self.temporal.to_dict() if self.temporal else None,
            "output": self.output.to_dict(), "sensor": self.sensor.to_dict() if self.sensor else None,
            "backend": self.backend, "device": self.device, "input_prep": self.input_prep,
            "model_options": self.model_options, "provider_options": self.provider_options,
        }


def run_embed(req: EmbedRequest, progress: Progress | None = None,
              is_cancelled: Cancelled | None = None, chunk: int = 8) -> list[Embedding]:
    """Embeddings for every ROI of the request, in batches, honouring cancel between batches."""
    from .engine import get_embeddings_batch

    out: list[Embedding] = []
    n = len(req.spatials)
    for i in range(0, n, chunk):
        if is_cancelled and is_cancelled():
            raise JobCancelled("cancelled by the user")
        if progress:
            progress(i / n, f"embedding ROIs {i + 1}-{min(n, i + chunk)} of {n} with {req.model}")
        out.extend(get_embeddings_batch(
            req.model, spatials=req.spatials[i:i + chunk], temporal=req.temporal, sensor=req.sensor,
            output=req.output, backend=req.backend, device=req.device, input_prep=req.input_prep,
            model_options=req.model_options or None, provider_options=req.provider_options or None))
    if progress:
        progress(1.0, "done")
    return out


def save_grid(emb: Embedding, path: str | Path, quicklook: str | Path | None = None) -> dict[str, Any]:
    """Write a grid embedding as GeoTIFF (and optionally its PCA quick-look PNG)."""
    from .engine.io import write_embedding_geotiff, write_pca_quicklook

    t0 = time.perf_counter()
    tif = write_embedding_geotiff(emb, path)
    res: dict[str, Any] = {"geotiff": str(tif)}
    if quicklook:
        res["quicklook"] = str(write_pca_quicklook(emb, quicklook, upscale=max(1, 256 // max(emb.array.shape[1:]))))
    res["write_s"] = time.perf_counter() - t0
    return res


# ---------------------------------------------------------------------------------------
# Shared by the Processing algorithms and (where useful) the dock. Additive helpers.
# ---------------------------------------------------------------------------------------
ItemError = Callable[[int, Exception], None]


def run_embed_items(req: EmbedRequest, progress: Progress | None = None,
                    is_cancelled: Cancelled | None = None, chunk: int = 8,
                    on_error: ItemError | None = None,
                    on_result: Callable[[int, Embedding], Any] | None = None) -> list[Any]:
    """Like :func:`run_embed`, but an ROI the engine cannot embed does not sink the run.

    A failing batch is retried ROI by ROI; each ROI that still fails gives ``None`` in the
    result (same order as ``req.spatials``) and ``on_error(index, exc)`` is called.
    Without ``on_error`` the first error is raised, as in :func:`run_embed`.
    ``on_result(index, embedding)``, if given, receives each embedding as soon as its batch
    is done and its return value is kept instead (e.g. write a file and keep the path, so
    memory stays flat however many ROIs there are).
    """
    from .engine import get_embeddings_batch

    out: list[Any] = []
    n = len(req.spatials)

    def _batch(spatials):
        return get_embeddings_batch(
            req.model, spatials=spatials, temporal=req.temporal, sensor=req.sensor,
            output=req.output, backend=req.backend, device=req.device, input_prep=req.input_prep,
            model_options=req.model_options or None, provider_options=req.provider_options or None)

    for i in range(0, n, chunk):
        if is_cancelled and is_cancelled():
            raise JobCancelled("cancelled by the user")
        if progress:
            progress(i / n, f"embedding ROIs {i + 1}-{min(n, i + chunk)} of {n} with {req.model}")
        part = req.spatials[i:i + chunk]
        try:
            got: list[Embedding | None] = list(_batch(part))
        except RsEmbedError:
            if on_error is None:
                raise
            got = []  # find the ROI(s) to blame, one at a time
            for j, s in enumerate(part):
                if is_cancelled and is_cancelled():
                    raise JobCancelled("cancelled by the user") from None
                try:
                    got.extend(_batch([s]))
                except RsEmbedError as exc:
                    on_error(i + j, exc)
                    got.append(None)
        for j, emb in enumerate(got):
            out.append(on_result(i + j, emb) if (on_result is not None and emb is not None) else emb)
    if progress:
        progress(1.0, "done")
    return out


def file_stems(names: list[str], default: str = "roi") -> list[str]:
    """File-name-safe, unique stems for user names (``"Field #1/a"`` -> ``"Field_1_a"``).

    Repeats get ``_2``, ``_3``...; case-insensitive so they stay apart on every file system.
    """
    import re

    out: list[str] = []
    seen: set = set()
    for raw in names:
        stem = re.sub(r"[^\w.-]+", "_", str(raw if raw is not None else ""), flags=re.UNICODE)
        stem = stem.strip("._") or default
        stem = stem[:120]
        cand, k = stem, 2
        while cand.lower() in seen:
            cand = f"{stem}_{k}"
            k += 1
        seen.add(cand.lower())
        out.append(cand)
    return out


def roi_footprint(emb: Embedding) -> dict[str, Any] | None:
    """The pixels an embedding saw: ``{"crs", "bounds"}`` of the fetched patch, if known."""
    inp = emb.meta.get("input") or {}
    if inp.get("crs") and inp.get("bounds"):
        return {"crs": inp["crs"], "bounds": list(inp["bounds"])}
    if emb.meta.get("crs") and emb.meta.get("roi_bounds"):
        return {"crs": emb.meta["crs"], "bounds": list(emb.meta["roi_bounds"])}
    return None


# -- embedding pixels the user already has (a raster layer) ------------------------------
def parse_band_map(text: str) -> dict[str, int]:
    """``"B4=3, B3=2, B2=1"`` -> ``{"B4": 3, "B3": 2, "B2": 1}`` (model band = 1-based layer band)."""
    from .engine.errors import SpecError
    from .engine.providers.bands import canonical_band

    out: dict[str, int] = {}
    for part in [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]:
        if "=" not in part:
            raise SpecError(f"band mapping entries must look like MODEL_BAND=LAYER_BAND (e.g. B4=3), "
                            f"got {part!r}")
        k, v = (x.strip() for x in part.split("=", 1))
        try:
            idx = int(v)
        except ValueError:
            raise SpecError(f"layer band in {part!r} must be a 1-based band number, got {v!r}") from None
        if idx < 1:
            raise SpecError(f"layer band in {part!r} must be >= 1, got {idx}")
        if not k:
            raise SpecError(f"model band name missing in {part!r}")
        if canonical_band(k) in {canonical_band(x) for x in out}:
            raise SpecError(f"model band {k!r} is mapped twice in {text!r}")
        out[k] = idx
    return out


def resolve_band_map(model_bands: list[str], layer_descriptions: list[str],
                     band_map: dict[str, int] | None = None) -> dict[str, int]:
    """Model band -> 1-based layer band.

    An explicit map wins; else bands are matched by the layer's band descriptions
    (``B04`` matches ``B4``); else a layer with exactly the model's band count is
    taken in order. Anything else is an error that lists both sides.
    """
    from .engine.errors import SpecError
    from .engine.providers.bands import canonical_band

    n = len(layer_descriptions)
    if band_map:
        for k, v in band_map.items():
            if v > n:
                raise SpecError(f"band mapping {k}={v}: the layer has only {n} band(s)")
        missing = [b for b in model_bands
                   if canonical_band(b) not in {canonical_band(k) for k in band_map}]
        if missing and model_bands:
            raise SpecError(f"band mapping {band_map} leaves model band(s) {missing} unmapped; "
                            f"the model needs {list(model_bands)}")
        return dict(band_map)
    desc = [canonical_band(d or "") for d in layer_descriptions]
    if model_bands and all(canonical_band(b) in desc for b in model_bands):
        return {b: desc.index(canonical_band(b)) + 1 for b in model_bands}
    if model_bands and n == len(model_bands):
        return {b: i + 1 for i, b in enumerate(model_bands)}
    raise SpecError(
        f"cannot tell which layer bands are the model's {list(model_bands)}: the layer has {n} "
        f"band(s) described {layer_descriptions}; give a band mapping such as "
        + ", ".join(f"{b}={i + 1}" for i, b in enumerate(model_bands)))


def read_raster_for_model(path: str | Path, band_map: dict[str, int], *, scale: float = 1.0,
                          bounds: tuple | None = None, bounds_crs: str | None = None,
                          dst_crs: str | None = None, max_pixels: int = 40_000_000,
                          ) -> dict[str, Any]:
    """Read the mapped bands of a raster file as CHW float32 in model units.

    ``bounds`` (in ``bounds_crs``, default the raster's) crops to a window; ``dst_crs``
    warps (bilinear) onto that CRS first, e.g. a metric UTM grid for a raster in degrees.
    No-data pixels become 0 (the engine's ``fill_value``), counted in ``nodata_fraction``.
    Returns ``{"data", "bands", "crs", "transform", "nodata_fraction"}``.
    """
    import numpy as np

    from .engine import geoio
    from .engine.errors import SpecError
    from .engine.geo import RoiGrid

    info = geoio.raster_info(path)
    if info.crs is None:
        raise SpecError(f"raster {str(path)!r} has no CRS; assign one before embedding it")
    crs, transform, width, height = info.crs, info.transform, info.width, info.height
    warped = bool(dst_crs) and not geoio.same_crs(dst_crs, info.crs)
    if warped:  # GDAL's default grid for the raster in dst_crs, as gdalwarp -t_srs would make
        crs, transform, width, height = geoio.suggested_grid(path, dst_crs)
    window = None
    if bounds is not None:
        b = tuple(bounds)
        if bounds_crs and not geoio.same_crs(bounds_crs, crs):
            b = geoio.transform_bounds(b, bounds_crs, crs)
        window = geoio.window_from_bounds(b, transform, width, height)
        if window is None:
            grid_bounds = RoiGrid.from_transform(crs, transform, width, height).bounds
            raise SpecError(f"the extent {tuple(round(v, 6) for v in bounds)} does not overlap "
                            f"the raster {str(path)!r} (bounds {grid_bounds} in {crs})")
    h = window.height if window is not None else height
    w = window.width if window is not None else width
    if h * w * len(band_map) > max_pixels:
        raise SpecError(f"the raster part to embed is {w} x {h} px x {len(band_map)} bands, "
                        f"more than {max_pixels} values; choose a smaller extent")
    idx = list(band_map.values())
    transform = geoio.window_transform(transform, window)
    if warped:
        grid = RoiGrid.from_transform(crs, transform, w, h)
        arr = geoio.warp_read(path, idx, grid, resampling="bilinear", dtype="float32")
        valid = np.isfinite(arr)
    else:
        with geoio.open_raster(path) as src:
            arr = src.read(idx, window, dtype="float32")
            valid = src.masks(idx, window) & np.isfinite(arr)
    mask = ~valid.all(axis=0)
    data = np.where(valid, arr * float(scale), 0.0).astype(np.float32)
    return {"data": data, "bands": list(band_map.keys()), "crs": crs,
            "transform": list(transform)[:6], "nodata_fraction": float(mask.mean()) if mask.size else 0.0}


# -- inspecting a provider patch (no model) ----------------------------------------------
def inspect_patch(spatial: Any, temporal: TemporalSpec | None, sensor: SensorSpec, *,
                  backend: str = "local", provider_options: dict[str, Any] | None = None,
                  value_range: tuple | None = None, name: str = "patch") -> tuple:
    """Fetch the patch a model would get (no model run) and check it: ``(patch, report)``.

    The report is the engine's ``inspect_provider_patch`` result (JSON-ready: ``ok``,
    ``report`` with per-band statistics and ``issues``, ``sensor``, ``temporal``,
    ``backend``, ``input`` = CRS, transform, bounds and frames) plus the ``spatial``;
    ``patch`` is rebuilt from the returned pixels and grid, e.g. for :func:`save_rgb`.
    """
    import json

    from .engine.geo import RoiGrid
    from .engine.inspect import inspect_provider_patch
    from .engine.io import _json_default
    from .engine.providers.base import Patch

    rep = inspect_provider_patch(spatial=spatial, temporal=temporal, sensor=sensor, backend=backend,
                                 name=name, value_range=value_range, return_array=True,
                                 provider_options=provider_options or None)
    tchw, chw = rep.pop("array_tchw", None), rep.pop("array_chw")
    data = tchw if tchw is not None else chw
    inp = rep.get("input") or {}
    grid = None
    if inp.get("crs") and inp.get("transform"):
        grid = RoiGrid.from_transform(inp["crs"], inp["transform"], data.shape[-1], data.shape[-2])
    patch = Patch(data, tuple(inp.get("bands") or sensor.bands), grid, list(inp.get("frames") or []),
                  sensor=sensor, temporal=temporal, backend=rep.get("backend", backend))
    rep["spatial"] = spatial.to_dict()
    return patch, json.loads(json.dumps(rep, default=_json_default))


def save_rgb(patch: Any, rgb_bands: list[str], path: str | Path, stretch: str = "percentile",
             clip_pct: tuple = (2.0, 98.0)) -> dict[str, Any]:
    """Write three bands of a patch as a GeoTIFF on its grid.

    ``stretch="percentile"``: uint8 0..255 stretched per band between the ``clip_pct``
    percentiles (0 = no data); ``"raw"``: float32 values as fetched (e.g. reflectance
    x 10000), band descriptions naming the bands. Multi-frame patches: median over time.
    """
    import warnings

    import numpy as np

    from .engine.errors import SpecError
    from .engine.geoio import write_raster

    if len(rgb_bands) != 3:
        raise SpecError(f"RGB needs exactly 3 bands, got {list(rgb_bands)}")
    if stretch not in ("percentile", "raw"):
        raise SpecError(f"stretch must be 'percentile' or 'raw', got {stretch!r}")
    if patch.grid is None:
        raise SpecError("this patch has no grid (crs/transform), so it cannot be written on a map")
    sub = patch.select_bands(rgb_bands)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        img = np.nanmedian(sub.data, axis=0) if sub.n_frames > 1 else sub.chw
    fill = float(patch.sensor.fill_value) if patch.sensor is not None else 0.0
    nodata = ~np.isfinite(img).all(axis=0) | (img == fill).all(axis=0)
    limits = []
    if stretch == "percentile":
        out = np.zeros(img.shape, np.uint8)
        for i in range(3):
            v = img[i][~nodata]
            lo, hi = (np.percentile(v, clip_pct) if v.size else (0.0, 1.0))
            limits.append([float(lo), float(hi)])
            s = np.clip((img[i] - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
            out[i] = np.where(nodata, 0, 1 + np.round(s * 254)).astype(np.uint8)
        dtype, nd = "uint8", 0
    else:
        out = np.where(nodata[None], np.nan, img).astype(np.float32)
        dtype, nd = "float32", float("nan")
    g = sub.grid
    write_raster(path, out, crs=g.crs, transform=g.transform, nodata=nd, band_names=[str(b) for b in rgb_bands],
                 tags={"RS_EMBED_STRETCH": stretch, "RS_EMBED_BANDS": ",".join(rgb_bands),
                       "RS_EMBED_LIMITS": str(limits)},
                 options={"PHOTOMETRIC": "RGB"} if dtype == "uint8" else None)
    return {"rgb": str(path), "stretch": stretch, "limits": limits, "bands": list(rgb_bands)}


# -- batch export ------------------------------------------------------------------------
def run_export(*, spatials: list[Any], temporal: TemporalSpec | None, models: list[str],
               out_dir: str | Path, names: list[str] | None = None, backend: str = "local",
               device: str = "auto", output: OutputSpec | None = None,
               sensor: SensorSpec | None = None,
               per_model_sensors: dict[str, SensorSpec] | None = None, format: str = "npz",
               input_prep: str = "resize", save_inputs: bool = True, save_embeddings: bool = True,
               save_manifest: bool = True,
               chunk_size: int = 16, num_workers: int = 4, continue_on_error: bool = False,
               resume: bool = True, model_options: dict[str, Any] | None = None,
               provider_options: dict[str, Any] | None = None,
               progress: Progress | None = None, is_cancelled: Cancelled | None = None,
               ) -> dict[str, Any]:
    """ROIs x models -> an export folder with manifests, through the engine's ``export_batch``.

    Arguments the installed ``export_batch`` does not take are left out and listed in
    ``result["ignored"]`` (so a caller can warn). Raises :class:`JobCancelled` if the user
    cancelled; items already written stay (each is written atomically) and ``resume=True``
    continues from them.
    """
    import inspect as _inspect

    from .engine.errors import ModelError

    try:
        from .engine.export import export_batch
    except ImportError as exc:
        raise ModelError(f"this build has no batch export (rs_embed_qgis.engine.export): {exc}") from exc
    kw: dict[str, Any] = dict(
        spatials=list(spatials), temporal=temporal, models=list(models), out_dir=str(out_dir),
        names=names, backend=backend, device=device, output=output or OutputSpec.pooled(),
        sensor=sensor, per_model_sensors=per_model_sensors or None, format=format,
        input_prep=input_prep, save_inputs=save_inputs, save_embeddings=save_embeddings,
        save_manifest=save_manifest, chunk_size=chunk_size, num_workers=num_workers,
        continue_on_error=continue_on_error, resume=resume, show_progress=False,
        model_options=model_options or None, provider_options=provider_options or None,
        progress=progress, is_cancelled=is_cancelled)
    params = _inspect.signature(export_batch).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        ignored = [k for k in kw if k not in params and kw[k] is not None
                   and (k, kw[k]) not in (("show_progress", False), ("input_prep", "resize"))]
        kw = {k: v for k, v in kw.items() if k in params}
    else:
        ignored = []
    t0 = time.perf_counter()
    manifests = export_batch(**kw)
    if is_cancelled and is_cancelled():
        raise JobCancelled("cancelled by the user; finished items are kept, run again to resume")
    return {"manifests": manifests, "ignored": ignored, "seconds": time.perf_counter() - t0}
