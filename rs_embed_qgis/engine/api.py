"""The public embedding API: ``get_embedding``, ``get_embeddings_batch``,
``get_embedding_from_data``, ``get_embeddings_batch_from_data``, ``list_models_for_data``,
``inspect_model_input``, ``reset_runtime`` (signatures as in rs-embed 0.3 and the reference,
plus documented extras).

Each is a run of the pipeline (``pipeline.py``): plan (specs validated, cached
embedder, sensor and window resolved) -> fetch (or the caller's pixels) -> input
checks -> batched forward -> ``Embedding`` whose ``meta`` has the specs, the input,
the weights, timings and, for grids, the CRS and transform of the ROI. rs-embed 0.3's
spellings (``fetch=``, ``modality=``, ``input_prep`` as ``InputPrepSpec``,
``backend="auto"``, ``**model_kwargs``) become the pipeline's arguments in
``call_shapes``. These calls fail fast: the first error is raised as it is.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import budget, call_shapes, pipeline
from .catalog import entries, get_entry
from .catalog.entry import EMBEDDING_KINDS
from .embedding import Embedding
from .errors import ModelError, RequestError, SpecError
from .geo import RoiGrid, roi_grid
from .pipeline import get_embedder
from .providers import clear_provider_cache, get_provider
from .providers.base import Patch
from .specs import (
    BBox,
    FetchSpec,
    InputPrepSpec,
    OutputSpec,
    SensorSpec,
    SpatialSpec,
    TemporalSpec,
    validate_spatial,
)
from .userdata import UserData, match, warn_if_scaled

#: the keywords of the embedding calls (a near miss among **model_kwargs is an error, not a setting)
_API_NAMES = ("spatial", "spatials", "temporal", "sensor", "fetch", "modality", "output", "backend", "device",
              "input_prep", "input_chw", "input_chws", "model_options", "provider_options", "num_workers",
              "batch_size", "bands", "crs", "transform", "dates", "value_range", "return_arrays")


def clear_caches() -> None:
    """Drop cached embedders and providers (frees model memory)."""
    pipeline.clear_embedders()
    clear_provider_cache()


def reset_runtime() -> dict[str, int]:
    """Drop cached embedders and providers and forget recorded import failures (rs-embed 0.3):
    after installing a missing package, or to build fresh models, without restarting Python.

    Returns counts: ``import_errors_cleared``, ``runtime_caches_cleared`` (the caches
    emptied: embedders, providers), ``embedders_cleared``, ``providers_cleared`` and 0.3's
    ``embedder_module_caches_cleared`` (always 0: our model modules keep no caches of their own).
    """
    from .catalog import clear_import_errors

    n_emb = pipeline.clear_embedders()
    n_prov = clear_provider_cache()
    return {"import_errors_cleared": clear_import_errors(), "runtime_caches_cleared": 2,
            "embedders_cleared": n_emb, "providers_cleared": n_prov, "embedder_module_caches_cleared": 0}


def _roi_sizes(spatials: Sequence[SpatialSpec]):
    return lambda s: [(g.height, g.width) for g in (roi_grid(sp, s.scale_m) for sp in spatials)]


def get_embedding(
    model: str,
    *,
    spatial: SpatialSpec,
    temporal: TemporalSpec | None = None,
    sensor: SensorSpec | None = None,
    fetch: FetchSpec | None = None,
    modality: str | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    backend: str = "gee",
    device: str = "auto",
    input_prep: InputPrepSpec | str | None = None,
    input_chw: np.ndarray | None = None,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> Embedding:
    """Embedding of one ROI (see the rs-embed reference and docs/rs-embed-compat.md).

    rs-embed 0.3: ``fetch=FetchSpec(...)`` changes the model's default sensor field by
    field (not with ``sensor=``); ``modality`` picks a model's input branch; ``input_prep``
    is ``"resize"`` (the default, also for ``None``), ``"tile"``, ``"auto"`` or an
    ``InputPrepSpec``; ``backend="auto"`` picks a backend; other keywords are model
    settings (``variant="..."``), as ``model_options`` entries.
    Extras beyond rs-embed's signature: ``input_chw`` (pixels already fetched, CHW or
    TCHW, reused instead of a fetch), ``model_options`` (e.g. ``weights=path``,
    ``allow_random_weights=True``) and ``provider_options`` (e.g. ``root=`` folder of the
    local backend).
    """
    return get_embeddings_batch(
        model, spatials=[spatial], temporal=temporal, sensor=sensor, fetch=fetch, modality=modality, output=output,
        backend=backend, device=device, input_prep=input_prep,
        input_chws=None if input_chw is None else [input_chw],
        model_options=model_options, provider_options=provider_options, **model_kwargs)[0]


def get_embeddings_batch(
    model: str,
    *,
    spatials: list[SpatialSpec],
    temporal: TemporalSpec | None = None,
    sensor: SensorSpec | None = None,
    fetch: FetchSpec | None = None,
    modality: str | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    backend: str = "gee",
    device: str = "auto",
    input_prep: InputPrepSpec | str | None = None,
    input_chws: Sequence[np.ndarray] | None = None,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
    num_workers: int | None = None,
    **model_kwargs: Any,
) -> list[Embedding]:
    """Embeddings of many ROIs with one embedder instance and batched forwards (arguments as
    :func:`get_embedding`). An empty ``spatials`` is a :class:`RequestError`."""
    if not isinstance(spatials, (list, tuple)) or not spatials:
        raise RequestError(f"spatials must be a non-empty list of BBox/PointBuffer, got {spatials!r}")
    call = call_shapes.embed_call(model, output=output, sensor=sensor, fetch=fetch, modality=modality, device=device,
                                  input_prep=input_prep, model_options=model_options, model_kwargs=model_kwargs,
                                  api_names=_API_NAMES, sizes=_roi_sizes(spatials))
    plan = pipeline.plan(spatials=spatials, models=[call.model], temporal=temporal, sensor=call.sensor,
                         output=output, backend=call_shapes.resolve_backend(backend), device=device,
                         input_prep=call.input_prep, model_options=call.model_options,
                         provider_options=provider_options, num_workers=num_workers)
    if input_chws is not None:
        indices = range(len(plan.spatials))
        fetched = pipeline.given_patches(plan, input_chws)
        return [o.embedding for o in pipeline.embed(plan, indices, fetched).outcomes[plan.models[0]]]
    budget.check_outputs(plan.estimate)  # the list returned holds every embedding
    out: list[Embedding] = []
    for idx in pipeline.batches(plan, max_items=len(plan.spatials)):  # as many ROIs at once as fit
        out += [o.embedding for o in pipeline.embed(plan, idx, pipeline.fetch(plan, idx)).outcomes[plan.models[0]]]
    return out


# -- pixels the caller has ---------------------------------------------------------------------------
def get_embedding_from_data(
    model: str,
    data: UserData | np.ndarray,
    *,
    modality: str | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    device: str = "auto",
    input_prep: InputPrepSpec | str | None = None,
    bands: Sequence[str] | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    dates: Sequence[str] | None = None,
    temporal: TemporalSpec | None = None,
    model_options: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> Embedding:
    """Embed pixels the caller already has (a QGIS raster layer, a numpy array, a :class:`UserData`).

    A :class:`UserData` (rs-embed 0.3) declares its collection and bands and is matched
    against the model's sensor (:func:`userdata.match`). A bare array (the reference's
    extra) is CHW or TCHW in the model's units (Sentinel-2 L2A: reflectance x 10000);
    ``bands`` names its channels (default: the model's bands, in order), ``crs`` and
    ``transform`` (north-up, rasterio order) georeference a grid output, ``dates`` name
    its frames and ``temporal`` its window.
    """
    return get_embeddings_batch_from_data(
        model, [data], modality=modality, output=output, device=device, input_prep=input_prep, bands=bands,
        crs=crs, transform=transform, dates=dates, temporal=temporal, model_options=model_options,
        **model_kwargs)[0]


def get_embeddings_batch_from_data(
    model: str,
    datas: list[UserData | np.ndarray],
    *,
    modality: str | None = None,
    output: OutputSpec = OutputSpec.pooled(),
    device: str = "auto",
    batch_size: int | None = None,
    input_prep: InputPrepSpec | str | None = None,
    bands: Sequence[str] | None = None,
    crs: str | None = None,
    transform: Sequence[float] | None = None,
    dates: Sequence[str] | None = None,
    temporal: TemporalSpec | None = None,
    model_options: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> list[Embedding]:
    """Embeddings of many pixel arrays the caller has (:func:`get_embedding_from_data`), in order.

    ``batch_size`` caps how many items share one forward call (default: all of them;
    the model's own batch size still splits its forwards). The array keywords
    (``bands``, ``crs``, ``transform``, ``dates``, ``temporal``) apply to bare arrays; a
    :class:`UserData` carries its own.
    """
    if not isinstance(datas, (list, tuple)) or not datas:
        raise RequestError(f"datas must be a non-empty list of UserData or arrays, got {datas!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise RequestError(f"batch_size must be a positive int or None, got {batch_size!r}")
    entry = get_entry(model)
    declared = [d for d in datas if isinstance(d, UserData)]
    if declared:
        given = {k: v for k, v in (("bands", bands), ("crs", crs), ("transform", transform), ("dates", dates),
                                   ("temporal", temporal)) if v is not None}
        if given:
            raise RequestError(f"{sorted(given)} describe bare arrays; a UserData carries its own (UserData(...))")
        if entry.kind != "embedder":
            raise ModelError(f"model {entry.id!r} reads a precomputed product; it does not embed your pixels "
                             f"(models that do: {[r['model'] for r in _compatible(declared[0])]})")
    arrays = [np.asarray(d.validate().data if isinstance(d, UserData) else d, dtype=np.float32) for d in datas]
    bad = [a.shape for a in arrays if a.ndim not in (3, 4)]
    if bad:
        raise SpecError(f"data must be CHW or TCHW, got shape {bad[0]}")
    call = call_shapes.embed_call(entry.id, output=output, modality=modality, device=device, input_prep=input_prep,
                                  model_options=model_options, model_kwargs=model_kwargs, api_names=_API_NAMES,
                                  sizes=lambda s: [a.shape[-2:] for a in arrays])
    temporal = pipeline.check_temporal(temporal)
    embedder = get_embedder(entry.id, device=device, model_options=call.model_options)
    embedder.check_input_prep(call.input_prep)
    sensor = call.sensor or embedder.default_sensor()
    items = [_data_patch(d, a, sensor, entry.id, bands=bands, crs=crs, transform=transform, dates=dates,
                         temporal=temporal) for d, a in zip(datas, arrays, strict=True)]
    step = batch_size or len(items)
    out: list[Embedding] = []
    for lo in range(0, len(items), step):
        part = items[lo:lo + step]
        t0 = time.perf_counter()
        embs = embedder.embed_patches([p for p, _ in part], output, input_prep=call.input_prep)
        dt = (time.perf_counter() - t0) / len(part)
        for emb, (patch, spatial) in zip(embs, part, strict=True):
            if patch.meta.get("source") == "user_data":
                emb.meta["user_input"] = dict(patch.meta)
            out.append(pipeline.finish(emb, patch, spatial, patch.temporal, sensor, "data", {"embed_s": dt}))
    return out


def _data_patch(data: UserData | np.ndarray, arr: np.ndarray, sensor: SensorSpec, model: str, *, bands, crs,
                transform, dates, temporal) -> tuple[Patch, SpatialSpec | None]:
    """The caller's pixels as the model's input patch, and where they are (if known)."""
    if isinstance(data, UserData):
        idx = match(data, sensor, model)
        warn_if_scaled(data)
        names, crs, transform, temporal = tuple(sensor.bands), data.crs, data.transform, data.temporal
        arr = arr[..., idx, :, :]
        meta = {**data.describe(), "bands_used": list(names), "channel_indices": idx}
        spatial = data.spatial
    else:
        names = tuple(bands) if bands is not None else tuple(sensor.bands)
        if len(names) != arr.shape[-3]:
            raise SpecError(
                f"data has {arr.shape[-3]} channels but bands names {len(names)}: {list(names)}; "
                f"pass bands=[...] naming each channel")
        meta, spatial = {"source": "caller data"}, None
    grid = None
    if transform is not None:
        if crs is None:
            raise SpecError("transform was given without crs; pass both to georeference the output")
        grid = RoiGrid.from_transform(crs, transform, arr.shape[-1], arr.shape[-2])
        if spatial is None and isinstance(data, UserData):  # the footprint stands for the ROI
            spatial = BBox(*grid.bounds_in("EPSG:4326"))
    if spatial is not None:
        spatial = validate_spatial(spatial)
    frames = [{"mid": str(d)[:10]} for d in (dates or [])]
    patch = Patch(arr, names, grid, frames, sensor=sensor, temporal=temporal, backend="data", meta=meta)
    return patch, spatial


def list_models_for_data(data: UserData) -> list[dict[str, Any]]:
    """Which embedding models can run on a declaration: one entry per model, sorted by id, with
    ``model``, ``compatible``, ``bands_used`` (the model's band order) and ``reason`` (why not).
    Nothing is loaded; ``data.data`` may be a small stand-in array of the right channel count."""
    if not isinstance(data, UserData):
        raise SpecError(f"list_models_for_data takes a UserData, got {type(data).__name__}")
    data.validate().declared_bands()  # a declaration that cannot name its channels is a SpecError
    return _compatible(data, only=False)


def _compatible(data: UserData, *, only: bool = True) -> list[dict[str, Any]]:
    report = []
    for e in entries(EMBEDDING_KINDS):
        row: dict[str, Any] = {"model": e.id, "compatible": False, "bands_used": None, "reason": None}
        sensors = list(e.input_modalities().values())
        if e.kind != "embedder":
            row["reason"] = f"model {e.id!r} reads a precomputed product; it does not embed your pixels"
        elif not sensors:
            row["reason"] = f"model {e.id!r} declares no input sensor"
        else:
            reasons = []
            for s in sensors:
                try:
                    match(data, s, e.id)
                except (ModelError, SpecError) as exc:
                    reasons.append(str(exc))
                else:
                    row.update(compatible=True, bands_used=list(s.bands), modality=s.modality)
                    break
            if not row["compatible"]:
                row["reason"] = "; ".join(reasons)
        if row["compatible"] or not only:
            report.append(row)
    return report


# -- what a model would get -------------------------------------------------------------------------
def inspect_model_input(
    model: str,
    *,
    spatial: SpatialSpec,
    temporal: TemporalSpec | None = None,
    sensor: SensorSpec | None = None,
    fetch: FetchSpec | None = None,
    modality: str | None = None,
    backend: str = "gee",
    value_range: tuple[float, float] | None = None,
    return_arrays: bool = False,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> dict[str, Any]:
    """Fetch the input a model would get for an ROI (its bands, window, frames, grid) and check each
    frame, without a forward pass (rs-embed 0.3).

    The pipeline's plan and fetch run as for an embedding, so the model is built (its weights
    loaded, as the first embedding would). Returns ``ok``, ``model``, ``backend``,
    ``n_frames``, ``n_empty``, ``frames`` (per frame: ``index``, ``start``, ``end``, ``empty``,
    ``report``; ``array_chw`` with ``return_arrays``), ``fetch_meta``, ``sensor``,
    ``temporal``, ``artifacts``.
    """
    from .input_checks import check_patch

    entry = get_entry(model)
    if entry.kind != "embedder":
        raise ModelError(f"model {entry.id!r} reads a precomputed product; it has no imagery input to inspect "
                         f"(inspect_provider_patch checks any collection)")
    call = call_shapes.embed_call(entry.id, output=OutputSpec.pooled(), sensor=sensor, fetch=fetch,
                                  modality=modality, model_options=model_options, model_kwargs=model_kwargs,
                                  api_names=_API_NAMES)
    b = call_shapes.resolve_backend(backend)
    plan = pipeline.plan(spatials=[spatial], models=[entry.id], temporal=temporal, sensor=call.sensor, backend=b,
                         model_options=call.model_options, provider_options=provider_options)
    got = pipeline.fetch(plan, [0]).patches[(0, 0)]
    if isinstance(got, pipeline.Failed):
        raise got.error
    s = plan.sensors[entry.id]
    patch = pipeline.model_input(got, s)
    frames, artifacts, n_empty = [], {}, 0
    for i in range(patch.n_frames):
        info = patch.frames[i] if i < len(patch.frames) else {}
        frame = patch.data[i]
        empty = bool(np.isnan(frame).all()) or info.get("n_scenes") == 0 or info.get("valid_fraction") == 0.0
        row: dict[str, Any] = {"index": i, "start": info.get("start"), "end": info.get("end"), "empty": empty}
        if empty:
            n_empty += 1
        else:
            one = Patch(frame, patch.bands, patch.grid, [info], s, patch.temporal, patch.backend, dict(patch.meta))
            rep = check_patch(one, sensor=s, name=f"{entry.id}_input_t{i}", value_range=value_range)
            row["report"] = rep["report"]
            for k, v in (rep.get("artifacts") or {}).items():
                artifacts[f"{k}_t{i}"] = v
        if return_arrays:
            row["array_chw"] = frame
        frames.append(row)
    ok = n_empty < len(frames) and all(f["report"]["ok"] for f in frames if not f["empty"])
    t = plan.temporals[entry.id]
    return {"ok": bool(ok), "model": entry.id, "backend": b, "n_frames": len(frames), "n_empty": n_empty,
            "frames": frames, "fetch_meta": patch.describe(), "sensor": s.to_dict(),
            "temporal": t.to_dict() if t is not None else None, "artifacts": artifacts or None}


__all__ = [
    "get_embedding", "get_embeddings_batch", "get_embedding_from_data", "get_embeddings_batch_from_data",
    "list_models_for_data", "inspect_model_input", "get_embedder", "get_provider", "clear_caches",
    "reset_runtime", "ModelError",
]
