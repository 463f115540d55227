"""``export_batch`` and ``export_npz``: the public export entry points (rs-embed signatures
plus documented extras)."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import budget, call_shapes
from ..errors import OutputError, SpecError
from ..io import atomic_write_text, make_folder, to_json
from ..pipeline import batches
from ..provenance import public
from ..specs import FetchSpec, InputPrepSpec, OutputSpec, SensorSpec, SpatialSpec, TemporalSpec
from ..threads import cpu_count
from . import writers
from .config import ExportConfig, ExportModelRequest, ExportTarget, rsembed03_result
from .core import EXECUTORS, clean_temp, completed_item, make_plan
from .executors import Progress, run_dask, run_local
from .manifest import (
    MANIFEST_VERSION,
    RUN_MANIFEST,
    ItemManifests,
    failures_of,
    jsonable,
    library_versions,
    read_json,
    redact,
    slim,
    utc_now,
)


def _target(out, layout, out_dir, out_path, fmt_hint: str):
    """Resolve (out + layout) or the legacy out_dir / out_path into (layout, path)."""
    if out is not None or layout is not None:
        if out_dir is not None or out_path is not None:
            raise SpecError("use either out + layout or out_dir / out_path, not both")
        if out is None:
            raise SpecError(f"layout={layout!r} needs out=<folder or file path>")
        layout = layout or "per_item"
        if layout not in writers.LAYOUTS:
            raise SpecError(f"layout must be one of {writers.LAYOUTS}, got {layout!r}")
        return layout, Path(out)
    if (out_dir is None) == (out_path is None):
        raise SpecError("give exactly one of out_dir (one file per ROI) or out_path (one combined file), "
                        f"got out_dir={out_dir!r}, out_path={out_path!r}")
    return ("per_item", Path(out_dir)) if out_dir is not None else ("combined", Path(out_path))


def export_batch(
    *,
    spatials: list[SpatialSpec],
    temporal: TemporalSpec | None,
    models: list[str | ExportModelRequest],
    out_dir: str | None = None,
    out_path: str | None = None,
    names: list[str] | None = None,
    backend: str = "gee",
    device: str = "auto",
    output: OutputSpec = OutputSpec.pooled(),
    sensor: SensorSpec | None = None,
    per_model_sensors: dict[str, SensorSpec] | None = None,
    format: str = "npz",
    save_inputs: bool = True,
    save_embeddings: bool = True,
    save_manifest: bool = True,
    fail_on_bad_input: bool = False,
    chunk_size: int = 16,
    num_workers: int = 8,
    continue_on_error: bool = False,
    max_retries: int = 0,
    retry_backoff_s: float = 0.0,
    async_write: bool = True,
    writer_workers: int = 2,
    resume: bool = False,
    show_progress: bool = True,
    # rs-embed 0.3's spellings
    target: ExportTarget | None = None,
    config: ExportConfig | None = None,
    fetch: FetchSpec | None = None,
    modality: str | None = None,
    input_prep: InputPrepSpec | str | None = None,
    # extras beyond the rs-embed signature
    out: str | None = None,
    layout: str | None = None,
    executor: str = "threads",
    chunk_workers: int | None = None,
    scheduler_address: Any = None,
    dask_options: dict[str, Any] | None = None,
    threads_per_task: int = 1,
    model_options: dict[str, Any] | None = None,
    provider_options: dict[str, Any] | None = None,
    progress: Callable[[float, str], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    prompt_cancel: bool = False,
) -> Any:
    """Export inputs + embeddings + manifests for many ROIs x many models.

    Targets: ``out_dir`` (one file per ROI) or ``out_path`` (one combined file), or
    the ``out`` + ``layout`` ("per_item" | "combined") style, or rs-embed 0.3's
    ``target=ExportTarget.per_item(dir)`` / ``ExportTarget.combined(file)``. Formats: "npz",
    "geotiff" (grids, per ROI), "netcdf" / "zarr" (xarray), "geoparquet" / "gpkg"
    (pooled vectors with ROI polygons). The knobs can also come as 0.3's
    ``config=ExportConfig(...)``, and ``models`` may hold ``ExportModelRequest`` s (a model's
    own sensor / fetch / modality / settings); ``fetch`` and ``modality`` apply to every model.
    Returns the per-ROI manifests (per_item: an :class:`~.manifest.ItemManifests` sequence,
    read from their files on access, so memory does not grow with the ROIs) or the combined
    manifest (combined); with ``target=`` in rs-embed 0.3's shape (``call_shapes``,
    ``export/config.py``). Workers: ``executor="threads"`` runs ``chunk_workers`` chunks at a
    time (default: one per core, 2 when a model runs on a GPU), ``executor="dask"`` one per
    Dask worker thread, each task with ``threads_per_task`` library threads. See
    docs/export.md for every extra.
    """
    flat = dict(format=format, save_inputs=save_inputs, save_embeddings=save_embeddings, save_manifest=save_manifest,
                fail_on_bad_input=fail_on_bad_input, chunk_size=chunk_size, num_workers=num_workers,
                continue_on_error=continue_on_error, max_retries=max_retries, retry_backoff_s=retry_backoff_s,
                async_write=async_write, writer_workers=writer_workers, resume=resume, show_progress=show_progress,
                out_dir=out_dir, out_path=out_path, out=out, layout=layout, names=names)
    call = call_shapes.export_call(models=models, target=target, config=config, flat=flat, sensor=sensor,
                                   per_model_sensors=per_model_sensors, fetch=fetch, modality=modality,
                                   input_prep=input_prep, model_options=model_options, device=device,
                                   output=output, spatials=spatials)
    result = _export(spatials=spatials, temporal=temporal, backend=call_shapes.resolve_backend(backend),
                     device=device, output=output, sensor=sensor, executor=executor,
                     chunk_workers=chunk_workers, threads_per_task=threads_per_task,
                     scheduler_address=scheduler_address, dask_options=dask_options,
                     provider_options=provider_options, progress=progress, is_cancelled=is_cancelled,
                     prompt_cancel=prompt_cancel, **call.kwargs)
    return rsembed03_result(result, out_dir=call.kwargs.get("out_dir")) if call.rsembed03 else result


def _export(*, spatials, temporal, models, out_dir, out_path, names, backend, device, output, sensor,
            per_model_sensors, format, save_inputs, save_embeddings, save_manifest, fail_on_bad_input, chunk_size,
            num_workers, continue_on_error, max_retries, retry_backoff_s, async_write, writer_workers, resume,
            show_progress, out, layout, input_prep, executor, chunk_workers, threads_per_task, scheduler_address,
            dask_options, model_options, provider_options, progress, is_cancelled, prompt_cancel) -> Any:
    """The export itself, on the reference's flat keywords (``export_batch`` normalised them)."""
    layout, target = _target(out, layout, out_dir, out_path, format)
    fmt = writers.check_format(format, layout, getattr(output, "mode", "pooled"), save_inputs)
    if executor not in EXECUTORS:
        raise SpecError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if int(chunk_size) < 1:
        raise SpecError(f"chunk_size must be >= 1, got {chunk_size}")
    if chunk_workers is not None and int(chunk_workers) < 1:
        raise SpecError(f"chunk_workers must be >= 1 (or None: one per core), got {chunk_workers}")
    if int(threads_per_task) < 1:
        raise SpecError(f"threads_per_task must be >= 1, got {threads_per_task}")
    if not (save_inputs or save_embeddings):
        raise SpecError("save_inputs and save_embeddings are both False: nothing to export")
    if layout == "combined":
        ext = writers.EXT[fmt]
        final = target if target.suffix == ext else target.with_name(target.name + ext)
        item_dir = final.with_name(final.name + ".parts")
        manifest_path = final.with_suffix(".json")
    else:
        final = None
        item_dir = target
        manifest_path = target / RUN_MANIFEST
    knobs = dict(save_inputs=save_inputs, save_embeddings=save_embeddings, save_manifest=save_manifest,
                 fail_on_bad_input=fail_on_bad_input, chunk_size=int(chunk_size),
                 num_workers=int(num_workers), continue_on_error=continue_on_error,
                 max_retries=int(max_retries), retry_backoff_s=float(retry_backoff_s),
                 async_write=async_write, writer_workers=int(writer_workers), resume=resume,
                 show_progress=show_progress, executor=executor, input_prep=input_prep,
                 chunk_workers=None if chunk_workers is None else int(chunk_workers),
                 threads_per_task=int(threads_per_task), prompt_cancel=bool(prompt_cancel),
                 scheduler_address=None if scheduler_address is None else str(scheduler_address),
                 dask_options=jsonable(dask_options))
    plan = make_plan(spatials=spatials, temporal=temporal, models=models, names=names,
                     backend=backend, device=device, output=output, sensor=sensor,
                     per_model_sensors=per_model_sensors, fmt=fmt, layout=layout, item_dir=item_dir,
                     input_prep=input_prep, model_options=model_options,
                     provider_options=provider_options, knobs=knobs)
    t_start = time.perf_counter()
    make_folder(item_dir)  # an unwritable out_dir: a SpecError naming it

    if layout == "combined" and resume:
        done = read_json(manifest_path)
        if (done and done.get("job_key") == plan.job_key and done.get("status") == "complete"
                and final.exists() and writers.path_size(final) == done.get("bytes")):
            shutil.rmtree(item_dir, ignore_errors=True)  # killed after the manifest, before cleanup
            return done

    removed = clean_temp(item_dir, plan.stems, extra=[RUN_MANIFEST])
    if final is not None:
        removed += clean_temp(final.parent, [final.name, manifest_path.name,
                                             final.stem + ".inputs.npz"])

    # resume: what is already complete
    existing: dict[int, dict[str, Any]] = {}
    if resume or layout == "combined":  # combined parts are this run's checkpoint; reuse only on resume
        if resume:
            for i in range(len(plan.spatials)):
                man = completed_item(plan, i)
                if man is not None:
                    existing[i] = slim(man)
    pending = [i for i in range(len(plan.spatials)) if i not in existing]
    # what is left must fit on the disk; chunks of at most chunk_size ROIs whose memory fits
    # the limit with the next chunk prefetched: a large export streams through memory
    # (threads: each lane holds the chunk it works on and one waiting for the writers)
    budget.check_disk(plan.estimate, item_dir, save_inputs, pending)
    lanes = _chunk_workers(plan, chunk_workers) if executor == "threads" else 1
    chunks = batches(plan, int(chunk_size), pending, in_flight=2 * lanes if executor == "threads" else 1)

    run = _run_manifest(plan, knobs, fmt, layout, target, final)
    run.update(status="running", started_at=utc_now(), resumed_items=len(existing),
               temp_files_removed=removed)
    if layout == "per_item":
        _write_run(manifest_path, run)

    prog = Progress(plan, len(pending), len(existing), show_progress, progress)
    cluster: dict[str, Any] = {}
    error: BaseException | None = None
    new: list[dict[str, Any]] = []
    cancelled = False
    try:
        if executor == "dask" and chunks:
            cancelled = run_dask(plan, chunks, prog, scheduler_address=scheduler_address,
                                 dask_options=dask_options, threads_per_task=int(threads_per_task),
                                 is_cancelled=is_cancelled, results=new, info=cluster)
        elif chunks:
            run["chunk_workers"] = lanes
            cancelled = run_local(plan, chunks, prog, workers=lanes,
                                  async_write=async_write and executor == "threads",
                                  writer_workers=writer_workers, is_cancelled=is_cancelled,
                                  results=new)
    except BaseException as exc:  # noqa: BLE001 - recorded in the run manifest, then re-raised
        error = exc
    finally:
        prog.close()

    items: list[dict[str, Any] | None] = [None] * len(plan.spatials)
    for i, m in existing.items():
        items[i] = m
    for m in new:
        items[int(m["index"])] = m
    wall = time.perf_counter() - t_start
    run["finished_at"] = utc_now()
    run["timings"] = _timings(new, wall)
    run["failures"] = failures_of(items)
    _weights_from_items(plan, run, items)
    run["summary"] = _summary(items, len(existing))
    if cluster:
        run["dask"] = cluster
    if error is not None:
        run["status"] = "failed"
        run["error"] = f"{type(error).__name__}: {error}"
    elif cancelled:
        run["status"] = "cancelled"
    else:
        run["status"] = "complete" if not run["failures"] else "complete_with_failures"

    if layout == "per_item":
        _record(manifest_path, run, error)
        return ItemManifests(item_dir, [m for m in items if m is not None], on_disk=plan.item_manifests_always)
    if error is not None or cancelled:  # shards stay in the .parts folder for resume=True
        _record(manifest_path, run, error)
        return run
    try:
        return _assemble(plan, run, final, manifest_path, items)
    except BaseException as exc:  # noqa: BLE001 - e.g. a full disk: recorded, then re-raised
        run["status"], run["error"] = "failed", f"{type(exc).__name__}: {exc}"
        _record(manifest_path, run, exc)
        raise


def _write_run(manifest_path: Path, run: dict[str, Any]) -> None:
    """The run manifest, atomically: no credentials (error messages included), no private paths."""
    atomic_write_text(manifest_path, to_json(public(run, out_dir=manifest_path.parent), indent=1))


def _record(manifest_path: Path, run: dict[str, Any], error: BaseException | None) -> None:
    """Write the run manifest (atomically); then raise ``error`` if the run failed. When even
    the manifest cannot be written, the error raised names both failures."""
    try:
        _write_run(manifest_path, run)
    except Exception as exc:  # noqa: BLE001 - never let it hide the run's own error
        if error is None:
            raise
        raise OutputError(f"export failed ({type(error).__name__}: {error}), and its run manifest "
                          f"{str(manifest_path)!r} could not record that ({type(exc).__name__}: {exc})"
                          ) from error
    if error is not None:
        raise error


def _run_manifest(plan, knobs, fmt, layout, target, final) -> dict[str, Any]:
    models = []
    for m in plan.models:
        emb = plan.embedder(m)
        models.append({"model": m, "family": emb.spec.family, "type": emb.spec.kind,
                       "sensor": plan.sensors[m].to_dict(), "frames": plan.groups[plan.group_of[m]].frames,
                       "temporal": plan.temporals[m].to_dict() if plan.temporals[m] else None,
                       "fetch_group": plan.group_of[m], "options": jsonable(plan.model_options[m]),
                       "device": emb.device, "weights": jsonable(emb.weights_meta),
                       "random_weights": emb.weights_meta.get("status") == "random"})
    return {
        "manifest_version": MANIFEST_VERSION, "kind": "rs_embed_export_run", "job_key": plan.job_key,
        "layout": layout, "format": fmt, "target": str(final or target),
        "n_items": len(plan.spatials), "names": plan.names, "stems": plan.stems,
        "spatials": [s.to_dict() for s in plan.spatials],
        "temporal": plan.temporal.to_dict() if plan.temporal else None,
        "output": plan.output.to_dict(), "backend": plan.backend,
        "provider_options": redact(plan.provider_options), "device": plan.device,
        "models": models,
        "fetch_groups": [{"sensor": g.sensor.to_dict(), "frames": g.frames, "models": g.members,
                          "temporal": g.temporal.to_dict() if g.temporal else None}
                         for g in plan.groups],
        "knobs": knobs, "versions": library_versions(),
    }


def _chunk_workers(plan, asked: int | None) -> int:
    """Lanes of the threads executor: as asked, else one per core (2 when a model runs on a
    GPU: one lane computes while the other reads and writes)."""
    if asked is not None:
        return int(asked)
    if any(not str(plan.embedder(m).device).startswith("cpu") for m in plan.models):
        return 2
    return cpu_count()


def _weights_from_items(plan, run: dict[str, Any], items) -> None:
    """Weights identity as used (models may load lazily, on workers): from the items' records."""
    for entry in run["models"]:
        m = entry["model"]
        used = next((e["weights"] for it in items if it for e in it.get("models", [])
                     if e.get("model") == m and e.get("weights")), None)
        if used is None:  # nothing embedded in this run (all resumed): the cached embedder's view
            used = jsonable(plan.embedder(m).weights_meta)
        entry["weights"] = used
        entry["random_weights"] = used.get("status") == "random"


def _timings(new: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    fetch = sum(float(m.get("timings", {}).get("fetch_s", 0.0)) for m in new)
    write = sum(float(m.get("timings", {}).get("write_s", 0.0)) for m in new)
    embed: dict[str, float] = {}
    for m in new:
        for k, v in (m.get("timings", {}).get("embed_s") or {}).items():
            embed[k] = embed.get(k, 0.0) + float(v)
    return {"wall_s": wall, "fetch_s": fetch, "embed_s": embed, "write_s": write,
            "items_processed": len(new), "items_per_s": len(new) / wall if wall > 0 else None}


def _summary(items, n_resumed: int) -> dict[str, int]:
    st = [m.get("status") if m else "missing" for m in items]
    return {"total": len(items), "ok": st.count("ok"), "partial": st.count("partial"),
            "failed": st.count("failed"), "missing": st.count("missing"), "resumed": n_resumed}


def _assemble(plan, run, final: Path, manifest_path: Path, items) -> dict[str, Any]:
    """Combined layout: read the per-ROI shards back and write the one file + its manifest."""
    import numpy as np

    pairs = []
    for i, rec in enumerate(items):
        man = rec and read_json(plan.item_dir / f"{plan.stems[i]}.json")  # the run kept only slim records
        if man is None:
            raise SpecError(f"ROI {i} ({plan.names[i]}) has no result; cannot assemble {final}")
        with np.load(plan.item_dir / f"{plan.stems[i]}.npz") as z:
            arrays = {k: z[k] for k in z.files}
        pairs.append((arrays, man))
    t0 = time.perf_counter()
    kmap = writers.write_combined(final, plan.fmt, pairs, plan.models, run)
    run["keys"] = kmap
    run["items"] = [{k: v for k, v in m.items() if k not in ("files", "format")} for _, m in pairs]
    run["timings"]["assemble_s"] = time.perf_counter() - t0
    run["bytes"] = writers.path_size(final)
    run["files"] = [final.name] + ([final.stem + ".inputs.npz"]
                                   if (final.parent / (final.stem + ".inputs.npz")).exists() else [])
    # the combined manifest is also the run record, so it is written even if save_manifest=False
    _write_run(manifest_path, run)
    shutil.rmtree(plan.item_dir, ignore_errors=True)
    return run


def export_npz(
    *,
    spatial: SpatialSpec,
    temporal: TemporalSpec | None,
    models: list[str],
    out_path: str,
    backend: str = "gee",
    device: str = "auto",
    output: OutputSpec = OutputSpec.pooled(),
    sensor: SensorSpec | None = None,
    per_model_sensors: dict[str, SensorSpec] | None = None,
    save_inputs: bool = True,
    save_embeddings: bool = True,
    save_manifest: bool = True,
    fail_on_bad_input: bool = False,
    continue_on_error: bool = False,
    max_retries: int = 0,
    retry_backoff_s: float = 0.0,
    **extras: Any,
) -> dict[str, Any]:
    """One ROI, all models, one ``.npz`` (``.npz`` is appended if missing) + its ``.json``."""
    p = str(out_path)
    if not p.endswith(".npz"):
        p += ".npz"
    os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    extras.setdefault("show_progress", False)
    return export_batch(spatials=[spatial], temporal=temporal, models=models, out_path=p,
                        backend=backend, device=device, output=output, sensor=sensor,
                        per_model_sensors=per_model_sensors, format="npz", save_inputs=save_inputs,
                        save_embeddings=save_embeddings, save_manifest=save_manifest,
                        fail_on_bad_input=fail_on_bad_input, continue_on_error=continue_on_error,
                        max_retries=max_retries, retry_backoff_s=retry_backoff_s, **extras)
