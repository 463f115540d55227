"""The public embedding API: ``get_embedding``, ``get_embeddings_batch``,
``get_embedding_from_data`` (signatures as in rs-embed, plus documented extras).

Each is a run of the pipeline (``pipeline.py``): plan (specs validated, cached
embedder, sensor and window resolved) -> fetch (or the caller's pixels) -> input
checks -> batched forward -> ``Embedding`` whose ``meta`` has the specs, the input,
the weights, timings and, for grids, the CRS and transform of the ROI. These calls
fail fast: the first error is raised as it is.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import pipeline
from .embedding import Embedding
from .errors import ModelError, SpecError
from .geo import RoiGrid
from .pipeline import get_embedder
from .providers import clear_provider_cache, get_provider
from .providers.base import Patch
from .specs import OutputSpec, SensorSpec, SpatialSpec, TemporalSpec


def clear_caches() -> None:
    """Drop cached embedders and providers (frees model memory)."""
    pipeline.clear_embedders()
    clear_provider_cache()


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
    plan = pipeline.plan(spatials=spatials, models=[model], temporal=temporal, sensor=sensor, output=output,
                         backend=backend, device=device, input_prep=input_prep,
                         model_options=model_options, provider_options=provider_options,
                         num_workers=num_workers)
    indices = range(len(plan.spatials))
    fetched = (pipeline.fetch(plan, indices) if input_chws is None
               else pipeline.given_patches(plan, input_chws))
    return [o.embedding for o in pipeline.embed(plan, indices, fetched).outcomes[plan.models[0]]]


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
    output = pipeline.check_output(output)
    temporal = pipeline.check_temporal(temporal)
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
    return pipeline.finish(emb, patch, None, temporal, None, "data", {"embed_s": time.perf_counter() - t0})


__all__ = [
    "get_embedding", "get_embeddings_batch", "get_embedding_from_data", "get_embedder",
    "get_provider", "clear_caches", "ModelError",
]
