"""The public embedding API: ``get_embedding``, ``get_embeddings_batch``,
``get_embedding_from_data`` (signatures as in rs-embed, plus documented extras).

Flow: validate specs -> cached embedder -> provider fetch (or the caller's
pixels) -> batched forward -> ``Embedding`` whose ``meta`` has the specs, the
input, the weights, timings and, for grids, the CRS and transform of the ROI.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .embedders.base import Embedder
from .embedding import Embedding
from .errors import ModelError, ProviderError, SpecError
from .geo import RoiGrid
from .providers.base import Patch, Provider
from .registry import get_spec, load_embedder_class
from .specs import OutputSpec, SensorSpec, SpatialSpec, TemporalSpec, validate_spatial

BACKENDS = ("local", "gee", "stac")

_lock = threading.RLock()
_embedders: dict[tuple[Any, ...], Embedder] = {}
_providers: dict[tuple[Any, ...], Provider] = {}


def _freeze(d: dict[str, Any] | None) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in (d or {}).items()))


def get_embedder(model: str, *, device: str = "auto",
                 model_options: dict[str, Any] | None = None) -> Embedder:
    """The cached embedder for (model, options, device); built once, thread-safe."""
    spec = get_spec(model)
    key = (spec.id, device, _freeze(model_options))
    with _lock:
        emb = _embedders.get(key)
        if emb is None:
            cls = load_embedder_class(spec.id)
            emb = cls(spec, device=device, **(model_options or {}))
            _embedders[key] = emb
        return emb


def clear_caches() -> None:
    """Drop cached embedders and providers (frees model memory)."""
    with _lock:
        _embedders.clear()
        _providers.clear()


def get_provider(backend: str, provider_options: dict[str, Any] | None = None) -> Provider:
    """The cached provider for a backend name and its options."""
    if backend not in BACKENDS:
        raise ProviderError(f"backend must be one of {BACKENDS}, got {backend!r}")
    key = (backend, _freeze(provider_options))
    with _lock:
        prov = _providers.get(key)
        if prov is None:
            opts = dict(provider_options or {})
            if backend == "local":
                from .providers.local import LocalProvider

                prov = LocalProvider(**opts)
            elif backend == "stac":
                from .providers.stac import STACProvider

                prov = STACProvider(**opts)
            else:
                try:
                    from .providers.gee import GEEProvider
                except ImportError as exc:
                    raise ProviderError(
                        f"backend 'gee' needs earthengine-api (pip install 'rs-embed-qgis[gee]'): {exc}"
                    ) from exc
                prov = GEEProvider(**opts)
            _providers[key] = prov
        return prov


def _check_output(output: OutputSpec) -> OutputSpec:
    if not isinstance(output, OutputSpec):
        raise SpecError(f"output must be an OutputSpec, got {output!r}")
    return output.validate()


def _resolve_sensor(embedder: Embedder, sensor: SensorSpec | None) -> SensorSpec:
    s = sensor or embedder.default_sensor()
    if s is None:
        raise SpecError(f"model {embedder.spec.id!r} has no default sensor; pass sensor=SensorSpec(...)")
    if not isinstance(s, SensorSpec):
        raise SpecError(f"sensor must be a SensorSpec, got {s!r}")
    return s.validate()


def _check_temporal(temporal: TemporalSpec | None) -> TemporalSpec | None:
    if temporal is None:
        return None
    if not isinstance(temporal, TemporalSpec):
        raise SpecError(f"temporal must be a TemporalSpec, got {temporal!r}")
    return temporal.validate()


def _finish(emb: Embedding, patch: Patch, spatial: SpatialSpec | None,
            temporal: TemporalSpec | None, sensor: SensorSpec | None,
            backend: str, timings: dict[str, float]) -> Embedding:
    """Common metadata, and the grid's georeferencing on the ROI."""
    m = emb.meta
    m["spatial"] = spatial.to_dict() if spatial is not None else None
    m["temporal"] = temporal.to_dict() if temporal is not None else None
    if temporal is not None:
        m.setdefault("input_time", temporal.input_time.isoformat())
    m["sensor"] = sensor.to_dict() if sensor is not None else None
    m["backend"] = backend
    m["input"] = patch.describe()
    m.setdefault("timings", {}).update(timings)
    arr = emb.array
    if arr.ndim == 3 and patch.grid is not None:
        g = patch.grid
        m["crs"] = g.crs
        cell = m.get("cell_px")
        if cell:  # each cell covers cell_px input pixels from the top-left (tiles, pooling windows)
            cy, cx = cell
            m["transform"] = [g.res * cx, 0.0, g.left, 0.0, -g.yres * cy, g.top]
        else:  # the grid spans the ROI bounds (resize)
            m["transform"] = list(g.coarsen(arr.shape[1], arr.shape[2]))
        a, _, c, _, e, f = m["transform"]
        m["bounds"] = [c, f + e * arr.shape[1], c + a * arr.shape[2], f]
        m["roi_bounds"] = list(g.bounds)
    return emb


def _input_checks(patches: Sequence[Patch], sensor: SensorSpec, name: str) -> list[dict[str, Any] | None]:
    from .inspect import check_patch, checks_enabled, checks_should_raise

    if not checks_enabled(sensor):  # SensorSpec.check_input or RS_EMBED_CHECK_INPUT=1
        return [None] * len(patches)
    reports = []
    for i, p in enumerate(patches):
        rep = check_patch(p, sensor=sensor, name=f"{name}_{i}" if len(patches) > 1 else name)
        if not rep["ok"] and checks_should_raise(sensor):
            raise ProviderError(f"input check failed for {name}: {rep['report'].get('issues')}")
        reports.append(rep)
    return reports


def get_embedding(
    model: str,
    *,
    spatial: SpatialSpec,
    temporal: TemporalSpec | None = None,
    sensor: SensorSpec | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    backend: str = "gee",
    device: str = "auto",
    input_prep: str = "resize",
    input_chw: np.ndarray | None = None,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
) -> Embedding:
    """Embedding of one ROI (see the rs-embed reference).

    Extras beyond rs-embed's signature: ``input_prep`` ("resize" | "tile"),
    ``input_chw`` (pixels already fetched, CHW or TCHW, reused instead of a fetch),
    ``model_options`` (e.g. ``weights=path``, ``allow_random_weights=True``) and
    ``provider_options`` (e.g. ``root=`` folder of the local backend).
    """
    return get_embeddings_batch(
        model, spatials=[spatial], temporal=temporal, sensor=sensor, output=output,
        backend=backend, device=device, input_prep=input_prep,
        input_chws=None if input_chw is None else [input_chw],
        model_options=model_options, provider_options=provider_options)[0]


def get_embeddings_batch(
    model: str,
    *,
    spatials: list[SpatialSpec],
    temporal: TemporalSpec | None = None,
    sensor: SensorSpec | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    backend: str = "gee",
    device: str = "auto",
    input_prep: str = "resize",
    input_chws: Sequence[np.ndarray] | None = None,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
    num_workers: int | None = None,
) -> list[Embedding]:
    """Embeddings of many ROIs with one embedder instance and batched forwards."""
    if not isinstance(spatials, (list, tuple)) or not spatials:
        raise SpecError(f"spatials must be a non-empty list, got {spatials!r}")
    spatials = [validate_spatial(s) for s in spatials]
    temporal = _check_temporal(temporal)
    output = _check_output(output)
    embedder = get_embedder(model, device=device, model_options=model_options)
    embedder.check_input_prep(input_prep)
    temporal = embedder.resolve_temporal(temporal)
    sensor = _resolve_sensor(embedder, sensor)
    t0 = time.perf_counter()
    if input_chws is not None:
        if len(input_chws) != len(spatials):
            raise SpecError(f"input_chws has {len(input_chws)} arrays for {len(spatials)} spatials")
        from .geo import roi_grid

        patches = [Patch(embedder.prepare_input_chw(a), sensor.bands, roi_grid(s, sensor.scale_m),
                         sensor=sensor, temporal=temporal, backend=f"{backend}:input_chw")
                   for a, s in zip(input_chws, spatials, strict=True)]
    else:
        provider = get_provider(backend, provider_options)
        # explicit > the model's own knob (e.g. RS_EMBED_ANYSAT_FETCH_WORKERS) > env >
        # the provider's own setting (gee: num_workers option) > 4
        workers = num_workers if num_workers is not None else embedder.fetch_workers
        if workers is None:
            env = os.environ.get("RS_EMBED_FETCH_WORKERS")
            workers = int(env) if env else int(getattr(provider, "num_workers", 4))
        patches = provider.fetch_many(spatials, temporal, sensor, frames=embedder.frames,
                                      num_workers=workers)
    t_fetch = time.perf_counter() - t0
    checks = _input_checks(patches, sensor, model)
    t1 = time.perf_counter()
    embs = embedder.embed_patches(patches, output, input_prep=input_prep)
    t_embed = time.perf_counter() - t1
    n = len(patches)
    out = []
    for emb, patch, spatial, check in zip(embs, patches, spatials, checks, strict=True):
        if check is not None:
            emb.meta["input_check"] = check
        out.append(_finish(emb, patch, spatial, temporal, sensor, backend,
                           {"fetch_s": t_fetch / n, "embed_s": t_embed / n}))
    return out


def get_embedding_from_data(
    model: str,
    data: np.ndarray,
    *,
    bands: Sequence[str] | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    dates: Sequence[str] | None = None,
    temporal: TemporalSpec | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    device: str = "auto",
    input_prep: str = "resize",
    model_options: dict[str, Any] | None = None,
) -> Embedding:
    """Embed pixels the caller already has (a QGIS raster layer, a numpy array).

    ``data`` is CHW or TCHW in the model's units (Sentinel-2 L2A: reflectance x 10000).
    ``bands`` names its channels (default: the model's bands, in order). With
    ``crs`` and ``transform`` (north-up, rasterio order) a grid output is georeferenced.
    """
    output = _check_output(output)
    temporal = _check_temporal(temporal)
    embedder = get_embedder(model, device=device, model_options=model_options)
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim not in (3, 4):
        raise SpecError(f"data must be CHW or TCHW, got shape {arr.shape}")
    sensor = embedder.default_sensor()
    names = tuple(bands) if bands is not None else (sensor.bands if sensor else ())
    if len(names) != arr.shape[-3]:
        raise SpecError(
            f"data has {arr.shape[-3]} channels but bands names {len(names)}: {list(names)}; "
            f"pass bands=[...] naming each channel")
    grid = None
    if transform is not None:
        if crs is None:
            raise SpecError("transform was given without crs; pass both to georeference the output")
        grid = RoiGrid.from_transform(crs, transform, arr.shape[-1], arr.shape[-2])
    frames = [{"mid": str(d)[:10]} for d in (dates or [])]
    patch = Patch(arr, names, grid, frames, sensor=sensor, temporal=temporal, backend="data",
                  meta={"source": "caller data"})
    t0 = time.perf_counter()
    emb = embedder.embed_patches([patch], output, input_prep=input_prep)[0]
    return _finish(emb, patch, None, temporal, None, "data", {"embed_s": time.perf_counter() - t0})


__all__ = [
    "get_embedding", "get_embeddings_batch", "get_embedding_from_data", "get_embedder",
    "get_provider", "clear_caches", "BACKENDS", "ModelError",
]
