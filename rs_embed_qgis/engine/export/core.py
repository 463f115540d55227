"""``export_batch``: many ROIs x many models -> files + manifests, resumable.

How a run goes
1. Plan (main process): validate specs, resolve each model's sensor
   (``per_model_sensors[m]`` > ``sensor`` > the model's default) and frame count,
   and group models into *fetch groups*: models whose sensors differ only in bands
   (same collection, scale, cloud filter, fill, composite and frames) share one
   fetch of the union of their bands; each model then gets its own bands, in its
   order, from that patch. So every ROI is fetched once per fetch group, never
   once per model.
2. Resume: items whose manifest says ``ok`` for this very job (same fingerprint
   and ROI) and whose files are all there with the recorded sizes are skipped.
3. Chunks of ``chunk_size`` ROIs: fetch (``num_workers`` threads, retried), then
   per model one batched ``embed_patches`` call over the chunk, then write each
   ROI (data files first, manifest last, all atomic).
4. Run manifest: specs, models (options, weights identity), knobs, library
   versions, timings and every failure with its error.

The executors (``executors.py``) decide where chunks run: in this process
(``"serial"``, ``"threads"`` with prefetch of the next chunk and asynchronous
writes) or as Dask tasks (``"dask"``) that fetch, embed and write on workers.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from ..io import atomic_write_text, to_json
from ..providers.base import Patch
from ..registry import ModelSpec, get_spec
from ..specs import OutputSpec, SensorSpec, SpatialSpec, TemporalSpec, validate_spatial
from . import writers
from .manifest import (
    MANIFEST_VERSION,
    RUN_MANIFEST,
    digest,
    item_status,
    jsonable,
    read_json,
    redact,
    sanitize_key,
    sha1_array,
    utc_now,
)

EXECUTORS = ("serial", "threads", "dask")


# -- plan --------------------------------------------------------------------------------------
@dataclass
class FetchGroup:
    sensor: SensorSpec          # the union of the members' bands
    frames: int | None
    temporal: TemporalSpec | None  # the window the members run on (Embedder.resolve_temporal)
    members: list[str]          # model ids


@dataclass
class ExportPlan:
    """Everything a worker needs to process chunks (picklable, for Dask)."""

    spatials: list[SpatialSpec]
    names: list[str]
    temporal: TemporalSpec | None
    output: OutputSpec
    models: list[str]
    model_specs: list[ModelSpec]
    model_options: dict[str, dict[str, Any]]
    sensors: dict[str, SensorSpec]
    temporals: dict[str, TemporalSpec | None]
    groups: list[FetchGroup]
    group_of: dict[str, int]
    backend: str
    device: str
    provider_options: dict[str, Any] | None
    fmt: str
    layout: str
    item_dir: Path              # per_item: the output folder; combined: its parts folder
    input_prep: str = "resize"
    save_inputs: bool = True
    save_embeddings: bool = True
    save_manifest: bool = True
    fail_on_bad_input: bool = False
    continue_on_error: bool = False
    max_retries: int = 0
    retry_backoff_s: float = 0.0
    num_workers: int = 8
    job_key: str = ""
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def item_format(self) -> str:
        """Combined exports keep per-ROI npz shards (the resume checkpoint) until assembled."""
        return self.fmt if self.layout == "per_item" else "npz"

    @property
    def item_manifests_always(self) -> bool:
        return self.layout == "combined" or self.save_manifest


def _sensor_fetch_key(s: SensorSpec, frames: int | None,
                      temporal: TemporalSpec | None = None) -> tuple[Any, ...]:
    t = tuple(sorted(temporal.to_dict().items())) if temporal is not None else None
    return (s.collection, float(s.scale_m), s.cloudy_pct, float(s.fill_value), s.composite, frames, t)


def _full_sensor_key(s: SensorSpec, frames: int | None, temporal: TemporalSpec | None) -> str:
    return digest([repr(_sensor_fetch_key(s, frames, temporal)), [str(b) for b in s.bands]])


def _model_options_for(models: Sequence[str], model_options: dict[str, Any] | None
                       ) -> dict[str, dict[str, Any]]:
    """``{model: {...}}`` when every key is a requested model; otherwise the same options for all."""
    if not model_options:
        return {m: {} for m in models}
    if not isinstance(model_options, dict):
        raise SpecError(f"model_options must be a dict, got {model_options!r}")
    if all(k in models for k in model_options):
        for k, v in model_options.items():
            if not isinstance(v, dict):
                raise SpecError(f"model_options[{k!r}] must be a dict of options, got {v!r}")
        return {m: dict(model_options.get(m) or {}) for m in models}
    return {m: dict(model_options) for m in models}


def make_plan(*, spatials, temporal, models, names, backend, device, output, sensor,
              per_model_sensors, fmt, layout, item_dir, input_prep, model_options,
              provider_options, knobs: dict[str, Any]) -> ExportPlan:
    from ..api import _check_output, _check_temporal, _resolve_sensor, get_embedder

    if not isinstance(spatials, (list, tuple)) or not spatials:
        raise SpecError(f"spatials must be a non-empty list, got {spatials!r}")
    spatials = [validate_spatial(s) for s in spatials]
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) for m in models):
        raise SpecError(f"models must be a non-empty list of model ids, got {models!r}")
    models = [get_spec(m).id for m in models]
    if len(set(models)) != len(models):
        raise SpecError(f"models has duplicates: {models}")
    temporal = _check_temporal(temporal)
    output = _check_output(output)
    if per_model_sensors:
        bad = [k for k in per_model_sensors if get_spec(k).id not in models]
        if bad:
            raise SpecError(f"per_model_sensors has models not in models={models}: {bad}")
        per_model_sensors = {get_spec(k).id: v for k, v in per_model_sensors.items()}
    names = _check_names(names, len(spatials))
    opts = _model_options_for(models, model_options)
    sensors: dict[str, SensorSpec] = {}
    temporals: dict[str, TemporalSpec | None] = {}
    groups: list[FetchGroup] = []
    group_of: dict[str, int] = {}
    by_key: dict[tuple[Any, ...], int] = {}
    for m in models:
        emb = get_embedder(m, device=device, model_options=opts[m])
        emb.check_input_prep(input_prep)
        s = _resolve_sensor(emb, (per_model_sensors or {}).get(m) or sensor)
        sensors[m] = s
        temporals[m] = emb.resolve_temporal(temporal)  # as get_embeddings_batch does
        frames = emb.frames_for(temporals[m])
        key = _sensor_fetch_key(s, frames, temporals[m])
        if key not in by_key:
            by_key[key] = len(groups)
            groups.append(FetchGroup(s, frames, temporals[m], []))
        gi = by_key[key]
        g = groups[gi]
        union = list(g.sensor.bands) + [b for b in s.bands if b not in g.sensor.bands]
        g.sensor = dataclasses.replace(g.sensor, bands=tuple(union), check_input=False)
        g.members.append(m)
        group_of[m] = gi
    job = {
        "temporal": temporal.to_dict() if temporal else None, "output": output.to_dict(),
        "backend": backend, "provider_options": redact(provider_options),
        "models": models, "sensors": {m: sensors[m].to_dict() for m in models},
        "model_options": jsonable(opts), "input_prep": input_prep,
        "save_inputs": knobs["save_inputs"], "save_embeddings": knobs["save_embeddings"],
        "format": fmt, "layout": layout,
    }
    return ExportPlan(
        spatials=list(spatials), names=names, temporal=temporal, output=output, models=models,
        model_specs=[get_spec(m) for m in models], model_options=opts, sensors=sensors,
        temporals=temporals, groups=groups, group_of=group_of, backend=backend, device=device,
        provider_options=provider_options, fmt=fmt, layout=layout,
        item_dir=Path(item_dir).absolute(),  # Dask workers may run elsewhere
        input_prep=input_prep, save_inputs=knobs["save_inputs"],
        save_embeddings=knobs["save_embeddings"], save_manifest=knobs["save_manifest"],
        fail_on_bad_input=knobs["fail_on_bad_input"], continue_on_error=knobs["continue_on_error"],
        max_retries=int(knobs["max_retries"]), retry_backoff_s=float(knobs["retry_backoff_s"]),
        num_workers=int(knobs["num_workers"]), job_key=digest(job), job=job)


def _check_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [f"p{i:05d}" for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise SpecError(f"names has {len(names)} entries for {n} spatials; give one name per ROI")
    bad = [x for x in names if not x or x != sanitize_key(x) or x == Path(RUN_MANIFEST).stem]
    if bad:
        raise SpecError(f"names must be plain file names (letters, digits, _ . -), got {bad[:5]}")
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise SpecError(f"names must be unique, got duplicates {dup[:5]}")
    return names


def ensure_registered(plan: ExportPlan) -> None:
    """Make models registered at run time (e.g. by a script) known on Dask workers too."""
    from ..registry import MODEL_SPECS, register

    for spec in plan.model_specs:
        if spec.id not in MODEL_SPECS:
            register(spec)


# -- retries -----------------------------------------------------------------------------------
def retry(fn: Callable[[], Any], retries: int, backoff_s: float) -> Any:
    for attempt in range(int(retries) + 1):
        try:
            return fn()
        except Exception:  # noqa: BLE001 - re-raised after the last attempt
            if attempt >= retries:
                raise
            if backoff_s > 0:
                time.sleep(backoff_s * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- fetch ---------------------------------------------------------------------------------------
def fetch_chunk(plan: ExportPlan, indices: Sequence[int]) -> dict[str, Any]:
    """Patches of a chunk, one per (fetch group, ROI); an exception object where a fetch failed."""
    from concurrent.futures import ThreadPoolExecutor

    from ..api import get_embedder, get_provider

    t0 = time.perf_counter()
    out: dict[tuple[int, int], Any] = {}
    sps = [plan.spatials[i] for i in indices]
    for gi, g in enumerate(plan.groups):
        # a precomputed product read from files is its own provider (its group has no other model)
        member = get_embedder(g.members[0], device=plan.device, model_options=plan.model_options[g.members[0]])
        provider = (member.input_provider(plan.backend, plan.provider_options)
                    or get_provider(plan.backend, plan.provider_options))
        try:
            patches = retry(lambda g=g, provider=provider: provider.fetch_many(
                sps, g.temporal, g.sensor, frames=g.frames, num_workers=plan.num_workers),
                plan.max_retries, plan.retry_backoff_s)
            for i, p in zip(indices, patches, strict=True):
                out[(gi, i)] = p
        except Exception:  # noqa: BLE001 - find which ROIs fail, keep the others
            if not plan.continue_on_error:
                raise

            def one(i, g=g, provider=provider):
                try:
                    return retry(lambda: provider.fetch(plan.spatials[i], g.temporal, g.sensor,  # noqa: B023
                                                        frames=g.frames),
                                 plan.max_retries, plan.retry_backoff_s)
                except Exception as exc:  # noqa: BLE001
                    return exc
            with ThreadPoolExecutor(max_workers=max(1, plan.num_workers)) as pool:
                for i, r in zip(indices, pool.map(one, indices), strict=True):
                    out[(gi, i)] = r
    return {"patches": out, "fetch_s": time.perf_counter() - t0}


# -- inference ------------------------------------------------------------------------------------
def _model_patch(p: Patch, sensor: SensorSpec) -> Patch:
    """The model's bands, in its order, from a fetch group's patch."""
    q = p if tuple(p.bands) == tuple(sensor.bands) else p.select_bands(sensor.bands)
    return Patch(q.data, q.bands, q.grid, q.frames, sensor, q.temporal, q.backend, dict(q.meta))


def _check_input(plan: ExportPlan, patch: Patch, sensor: SensorSpec, model: str, name: str
                 ) -> dict[str, Any] | None:
    """Input checks as ``get_embedding`` does; with ``fail_on_bad_input`` a bad input raises."""
    from ..api import _input_checks

    s = sensor
    if plan.fail_on_bad_input:
        s = dataclasses.replace(sensor, check_input=True, check_raise=True)
    if not s.check_input:
        return None
    try:
        return _input_checks([patch], s, f"{name}_{model}")[0]
    except ImportError:  # the inspect module is optional: fall back to the basic sanity checks
        data = patch.data
        issues = []
        if not np.isfinite(data).all():
            issues.append("non-finite values")
        if data.size == 0 or float(np.nanmax(data) - np.nanmin(data)) == 0.0:
            issues.append("constant input (no data?)")
        rep = {"ok": not issues, "report": {"issues": issues, "checker": "export basic"}}
        if issues and s.check_raise:
            raise ProviderError(f"input check failed for {name} ({model}): {issues}") from None
        return rep


def process_chunk(plan: ExportPlan, indices: Sequence[int], fetched: dict[str, Any],
                  on_model_done: Callable[[str, int], None] | None = None,
                  is_cancelled: Callable[[], bool] | None = None,
                  ) -> list[tuple[dict[str, np.ndarray], dict[str, Any]]] | None:
    """Embed a fetched chunk with every model; returns (arrays, manifest) per ROI, unwritten.

    None if cancelled (nothing of the chunk is written then).
    """
    from ..api import _finish, get_embedder

    patches = fetched["patches"]
    n = len(indices)
    arrays: dict[int, dict[str, np.ndarray]] = {i: {} for i in indices}
    entries: dict[int, list[dict[str, Any]]] = {i: [] for i in indices}
    input_keys: dict[tuple[int, str], str] = {}   # (roi, full sensor key) -> array key
    embed_s: dict[str, float] = {}
    for m in plan.models:
        if is_cancelled is not None and is_cancelled():
            return None
        sensor, gi = plan.sensors[m], plan.group_of[m]
        frames = plan.groups[gi].frames
        skey = _full_sensor_key(sensor, frames, plan.temporals[m])
        todo: list[tuple[int, Patch, dict[str, Any]]] = []
        for i in indices:
            e: dict[str, Any] = {"model": m, "status": "ok", "sensor": sensor.to_dict(),
                                 "fetch_group": gi, "input": None, "embedding": None, "meta": None}
            entries[i].append(e)
            got = patches[(gi, i)]
            try:
                if isinstance(got, BaseException):
                    e["stage"] = "fetch"
                    raise got
                e["stage"] = "input"
                p = _model_patch(got, sensor)
                check = _check_input(plan, p, sensor, m, plan.names[i])
                if plan.save_inputs:
                    e["input"] = _save_input(arrays[i], input_keys, i, skey, m, p, check)
                todo.append((i, p, e))
            except Exception as exc:  # noqa: BLE001
                _fail(plan, e, exc)
        if plan.save_embeddings and todo:
            t0 = time.perf_counter()
            embedder = get_embedder(m, device=plan.device, model_options=plan.model_options[m])
            try:
                embs = retry(lambda embedder=embedder, todo=todo: embedder.embed_patches(
                    [p for _, p, _ in todo], plan.output,
                                                            input_prep=plan.input_prep),
                             plan.max_retries, plan.retry_backoff_s)
                results = list(zip(todo, embs, strict=True))
            except Exception:  # noqa: BLE001 - one bad ROI must not sink the batch
                if not plan.continue_on_error:
                    raise
                results = []
                for item in todo:
                    try:
                        results.append((item, retry(lambda embedder=embedder, item=item: embedder.embed_patches(
                            [item[1]], plan.output, input_prep=plan.input_prep)[0],
                            plan.max_retries, plan.retry_backoff_s)))
                    except Exception as exc:  # noqa: BLE001
                        item[2]["stage"] = "embed"
                        _fail(plan, item[2], exc)
            dt = time.perf_counter() - t0
            embed_s[m] = dt
            for (i, p, e), emb in results:
                try:
                    e["stage"] = "embed"
                    if e.get("input") and e["input"].get("inspection") is not None:
                        emb.meta["input_check"] = e["input"]["inspection"]
                    emb = _finish(emb, p, plan.spatials[i], plan.temporals[m], sensor, plan.backend,
                                  {"fetch_s": fetched["fetch_s"] / n, "embed_s": dt / max(1, len(todo))})
                    arr = np.ascontiguousarray(emb.array, dtype=np.float32)
                    key = f"embedding__{sanitize_key(m)}"
                    arrays[i][key] = arr
                    e["embedding"] = {"key": key, "shape": list(arr.shape), "dtype": str(arr.dtype),
                                      "sha1": sha1_array(arr)}
                    e["meta"] = jsonable(emb.meta)
                except Exception as exc:  # noqa: BLE001
                    _fail(plan, e, exc)
        for e in (x for i in indices for x in entries[i] if x["model"] == m):
            if e["status"] == "ok":
                e.pop("stage", None)
        if on_model_done is not None:
            on_model_done(m, n)
    out = []
    for i in indices:
        man = {
            "manifest_version": MANIFEST_VERSION, "index": int(i), "name": plan.names[i],
            "status": item_status(entries[i]), "job_key": plan.job_key, "created_at": utc_now(),
            "spatial": plan.spatials[i].to_dict(),
            "temporal": plan.temporal.to_dict() if plan.temporal else None,
            "output": plan.output.to_dict(), "backend": plan.backend, "device": plan.device,
            "format": plan.item_format, "models": entries[i],
            "timings": {"fetch_s": fetched["fetch_s"] / n,
                        "embed_s": {m: t / n for m, t in embed_s.items()}},
        }
        out.append((arrays[i], man))
    return out


def _save_input(arrays: dict[str, np.ndarray], input_keys: dict[tuple[int, str], str], i: int,
                skey: str, model: str, p: Patch, check: dict[str, Any] | None) -> dict[str, Any]:
    """Store the model's input once per distinct (bands, sensor); later models reference it."""
    info = {k: v for k, v in p.describe().items() if k in ("bands", "crs", "transform", "bounds",
                                                            "frames", "backend")}
    if check is not None:
        info["inspection"] = jsonable(check)
    prev = input_keys.get((i, skey))
    if prev is not None:
        a = arrays[prev]
        return {"key": prev, "shape": list(a.shape), "dtype": str(a.dtype), "sha1": sha1_array(a),
                "dedup_reused": True, **info}
    a = np.ascontiguousarray(p.data[0] if p.n_frames == 1 else p.data, dtype=np.float32)
    key = f"{'input_chw' if a.ndim == 3 else 'input_tchw'}__{sanitize_key(model)}"
    arrays[key] = a
    input_keys[(i, skey)] = key
    return {"key": key, "shape": list(a.shape), "dtype": str(a.dtype), "sha1": sha1_array(a), **info}


def _fail(plan: ExportPlan, entry: dict[str, Any], exc: BaseException) -> None:
    if not plan.continue_on_error:
        raise exc
    entry["status"] = "failed"
    entry["error"] = _err(exc)
    entry["error_type"] = type(exc).__name__


# -- writing --------------------------------------------------------------------------------------
def write_item(plan: ExportPlan, arrays: dict[str, np.ndarray], manifest: dict[str, Any]
               ) -> dict[str, Any]:
    """Data files first, manifest last (the manifest is the item's completion mark)."""
    t0 = time.perf_counter()
    d = plan.item_dir
    name = manifest["name"]

    def go():
        files = writers.write_item(d, plan.item_format, name, arrays, manifest)
        manifest["files"] = [{"path": f.name, "bytes": writers.path_size(f)} for f in files]
        manifest.setdefault("timings", {})["write_s"] = time.perf_counter() - t0
        if plan.item_manifests_always:
            atomic_write_text(d / f"{name}.json", to_json(manifest, indent=1))

    retry(go, plan.max_retries, plan.retry_backoff_s)
    return manifest


def run_chunk(plan: ExportPlan, indices: Sequence[int]) -> list[dict[str, Any]]:
    """Fetch, embed and write one chunk where this runs (a Dask worker); returns the manifests."""
    ensure_registered(plan)
    fetched = fetch_chunk(plan, indices)
    done = process_chunk(plan, indices, fetched)
    return [write_item(plan, a, m) for a, m in done or []]


# -- resume ---------------------------------------------------------------------------------------
def main_file(plan: ExportPlan, name: str) -> list[Path]:
    d, f = plan.item_dir, plan.item_format
    if f == "geotiff":
        return [d / f"{name}.{sanitize_key(m)}.tif" for m in plan.models] if plan.save_embeddings else []
    return [writers.item_paths(d, name, f)]


def completed_item(plan: ExportPlan, i: int) -> dict[str, Any] | None:
    """The manifest of ROI ``i`` if it is fully exported for this job, else None."""
    name = plan.names[i]
    d = plan.item_dir
    if not plan.item_manifests_always:  # no manifests: the (atomic) data files are the evidence
        files = main_file(plan, name)
        if files and all(p.exists() for p in files):
            return {"index": i, "name": name, "status": "ok", "resumed_without_manifest": True,
                    "files": [{"path": p.name} for p in files]}
        return None
    man = read_json(d / f"{name}.json")
    if not man or man.get("status") != "ok" or man.get("job_key") != plan.job_key:
        return None
    if man.get("spatial") != jsonable(plan.spatials[i].to_dict()) or man.get("index") != i:
        return None
    for f in man.get("files", []):
        p = d / f["path"]
        if not p.exists() or writers.path_size(p) != f.get("bytes"):
            return None
    return man


def clean_temp(folder: Path, names: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Remove temporary files a killed run left beside our outputs (only ours, by name)."""
    if not folder.is_dir():
        return []
    prefixes = tuple(f".{n}." for n in list(names) + list(extra))
    removed = []
    for p in folder.iterdir():
        if writers.is_temp_name(p.name) and p.name.startswith(prefixes):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass
            removed.append(p.name)
    return removed


__all__ = ["ExportPlan", "make_plan", "fetch_chunk", "process_chunk", "write_item", "run_chunk",
           "completed_item", "clean_temp", "EXECUTORS"]
