"""``export_batch``: many ROIs x many models -> files + manifests, resumable.

How a run goes (stages 1-5 are the embedding pipeline's, ``pipeline.py``)
1. Plan (main process): the pipeline's plan (each model's sensor, window and frame
   count; models whose sensors differ only in bands share one *fetch group*, one
   fetch of the union of their bands, so every ROI is fetched once per fetch group,
   never once per model), plus names, format, layout and the job's fingerprint.
2. Resume: items whose manifest says ``ok`` for this very job (same fingerprint
   and ROI) and whose files are all there with the recorded sizes are skipped.
3. Chunks of ``chunk_size`` ROIs: fetch (``num_workers`` threads, retried), then
   per model the input checks and one batched ``embed_patches`` call over the
   chunk, under the pipeline's error policy (``continue_on_error``: a failed ROI is
   recorded with its stage and error, the others go on), then write each ROI (data
   files first, manifest last, all atomic).
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
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import pipeline
from ..errors import SpecError
from ..io import atomic_write_text, to_json
from ..names import file_stems, sanitize_key
from ..pipeline import ErrorPolicy, Outcome, Plan
from ..progress import Feedback, cancel_scope
from ..provenance import public
from ..providers.base import Patch
from ..specs import SensorSpec, TemporalSpec
from . import formats, writers
from .manifest import (
    MANIFEST_VERSION,
    RUN_MANIFEST,
    digest,
    item_status,
    jsonable,
    read_json,
    redact,
    sha1_array,
    utc_now,
)

EXECUTORS = ("serial", "threads", "dask")


# -- plan --------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class ExportPlan(Plan):
    """The pipeline's plan plus where and how items are written (picklable, for Dask)."""

    names: list[str]           # the ROI names as the caller gave them (manifests, attributes)
    stems: list[str]           # their file-name-safe forms (file names): names.file_stems
    fmt: str
    layout: str
    item_dir: Path              # per_item: the output folder; combined: its parts folder
    save_inputs: bool = True
    save_embeddings: bool = True
    save_manifest: bool = True
    prompt_cancel: bool = False  # one item per forward, so a cancel stops within a second
    job_key: str = ""
    job: dict[str, Any] = field(default_factory=dict)
    format_entry: formats.FormatEntry | None = None  # where the format lives (one registered at run time)

    @property
    def item_format(self) -> str:
        """Combined exports keep per-ROI npz shards (the resume checkpoint) until assembled."""
        return self.fmt if self.layout == "per_item" else "npz"

    @property
    def item_manifests_always(self) -> bool:
        return self.layout == "combined" or self.save_manifest


def _full_sensor_key(s: SensorSpec, frames: int | None, temporal: TemporalSpec | None) -> str:
    t = tuple(sorted(temporal.to_dict().items())) if temporal is not None else None
    return digest([repr((s.collection, float(s.scale_m), s.cloudy_pct, float(s.fill_value), s.composite,
                         frames, t, s.orbit, s.use_float_linear, s.s1_require_iw, s.s1_relax_iw_on_empty)),
                   [str(b) for b in s.bands]])


def make_plan(*, spatials, temporal, models, names, backend, device, output, sensor,
              per_model_sensors, fmt, layout, item_dir, input_prep, model_options,
              provider_options, knobs: dict[str, Any]) -> ExportPlan:
    """The pipeline's plan of the export (fail fast unless ``continue_on_error``) and its job key."""
    base = pipeline.plan(
        spatials=spatials, models=models, temporal=temporal, sensor=sensor, per_model_sensors=per_model_sensors,
        output=output, backend=backend, device=device, input_prep=input_prep, model_options=model_options,
        provider_options=provider_options, fail_on_bad_input=knobs["fail_on_bad_input"],
        num_workers=int(knobs["num_workers"]),
        policy=ErrorPolicy(continue_on_error=knobs["continue_on_error"], max_retries=int(knobs["max_retries"]),
                           retry_backoff_s=float(knobs["retry_backoff_s"])))
    names = _check_names(names, len(base.spatials))
    stems = file_stems(names, reserved=[Path(RUN_MANIFEST).stem])
    job = {
        "temporal": base.temporal.to_dict() if base.temporal else None, "output": base.output.to_dict(),
        "backend": backend, "provider_options": redact(provider_options),
        "models": base.models, "sensors": {m: base.sensors[m].to_dict() for m in base.models},
        "model_options": jsonable(base.model_options), "input_prep": input_prep,
        "save_inputs": knobs["save_inputs"], "save_embeddings": knobs["save_embeddings"],
        "format": fmt, "layout": layout,
    }
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Plan)}
    fields["names"] = names
    return ExportPlan(
        **fields, stems=stems, fmt=fmt, layout=layout,
        item_dir=Path(item_dir).absolute(),  # Dask workers may run elsewhere
        save_inputs=knobs["save_inputs"], save_embeddings=knobs["save_embeddings"],
        save_manifest=knobs["save_manifest"], prompt_cancel=bool(knobs.get("prompt_cancel")),
        job_key=digest(job), job=job, format_entry=formats.format_entry(fmt))


def _check_names(names: Sequence[str] | None, n: int) -> list[str]:
    """The ROI names: any text in any script ("Zürich", "Field #1"), each kept as given in
    the manifests and attributes; the files are named by their safe forms (``stems``). A name
    that is a path ("../x", "a/b") is refused: it would say where to write, not what the ROI is."""
    if names is None:
        return [f"p{i:05d}" for i in range(n)]
    names = [unicodedata.normalize("NFC", str(x)) for x in names]
    if len(names) != n:
        raise SpecError(f"names has {len(names)} entries for {n} spatials; give one name per ROI")
    bad = [x for x in names if not x.strip() or x in (".", "..") or any(c in x for c in "/\\\0")]
    if bad:
        raise SpecError(f"names are ROI names, not paths: give each a non-empty name without / or \\, "
                        f"got {bad[:5]}")
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise SpecError(f"names must be unique, got duplicates {dup[:5]}")
    return names


def ensure_registered(plan: ExportPlan) -> None:
    """Make models and the format registered at run time (e.g. by a script) known on Dask workers too."""
    from ..catalog import ENTRIES, register

    for entry in plan.model_entries:
        if entry.id not in ENTRIES:
            register(entry)
    if plan.format_entry is not None:
        formats.ensure_registered(plan.format_entry)


# -- fetch, check, embed: the pipeline -----------------------------------------------------------
def fetch_chunk(plan: ExportPlan, indices: Sequence[int],
                is_cancelled: Callable[[], bool] | None = None, *,
                reader_budget: int | None = None) -> pipeline.Fetched:
    """Patches of a chunk, one per (fetch group, ROI); :class:`pipeline.Failed` where a fetch failed.

    ``reader_budget``: the cores of the worker running this (readers of local files stay within it).
    """
    with cancel_scope(Feedback(is_cancelled=is_cancelled, prompt=plan.prompt_cancel)):
        return pipeline.fetch(plan, indices, reader_budget=reader_budget)


def process_chunk(plan: ExportPlan, indices: Sequence[int], fetched: pipeline.Fetched,
                  on_model_done: Callable[[str, int], None] | None = None,
                  is_cancelled: Callable[[], bool] | None = None,
                  ) -> list[tuple[dict[str, np.ndarray], dict[str, Any]]]:
    """Embed a fetched chunk with every model; returns (arrays, manifest) per ROI, unwritten.

    Raises :class:`Cancelled` when ``is_cancelled()`` turns True (nothing of the chunk is
    written then).
    """
    with cancel_scope(Feedback(is_cancelled=is_cancelled, prompt=plan.prompt_cancel)):
        res = pipeline.embed(plan, indices, fetched, embeddings=plan.save_embeddings,
                             on_model_done=on_model_done)
    n = len(indices)
    arrays: dict[int, dict[str, np.ndarray]] = {i: {} for i in indices}
    entries: dict[int, list[dict[str, Any]]] = {i: [] for i in indices}
    input_keys: dict[tuple[int, str], str] = {}   # (roi, full sensor key) -> array key
    for m in plan.models:
        sensor, gi = plan.sensors[m], plan.group_of[m]
        skey = _full_sensor_key(sensor, plan.groups[gi].frames, plan.temporals[m])
        for o in res.outcomes[m]:
            entries[o.index].append(_entry(plan, o, arrays[o.index], input_keys, skey, gi))
    out = []
    for i in indices:
        man = {
            "manifest_version": MANIFEST_VERSION, "index": int(i), "name": plan.names[i], "stem": plan.stems[i],
            "status": item_status(entries[i]), "job_key": plan.job_key, "created_at": utc_now(),
            "spatial": plan.spatials[i].to_dict(),
            "temporal": plan.temporal.to_dict() if plan.temporal else None,
            "output": plan.output.to_dict(), "backend": plan.backend, "device": plan.device,
            "format": plan.item_format, "models": entries[i],
            "timings": {"fetch_s": res.fetch_s / n, "embed_s": {m: t / n for m, t in res.embed_s.items()}},
        }
        out.append((arrays[i], man))
    return out


def _entry(plan: ExportPlan, o: Outcome, arrays: dict[str, np.ndarray], input_keys: dict[tuple[int, str], str],
           skey: str, gi: int) -> dict[str, Any]:
    """One model's record in an item manifest; its input and embedding arrays go to ``arrays``."""
    sensor = plan.sensors[o.model]
    e: dict[str, Any] = {"model": o.model, "status": o.status, "sensor": sensor.to_dict(), "fetch_group": gi,
                         "input": None, "embedding": None, "meta": None}
    if o.patch is not None and plan.save_inputs:
        e["input"] = _save_input(arrays, input_keys, o.index, skey, o.model, o.patch, o.check)
    if o.embedding is not None:
        arr = np.ascontiguousarray(o.embedding.array, dtype=np.float32)
        key = f"embedding__{sanitize_key(o.model)}"
        arrays[key] = arr
        e["embedding"] = {"key": key, "shape": list(arr.shape), "dtype": str(arr.dtype), "sha1": sha1_array(arr)}
        e["meta"] = jsonable(o.embedding.meta)
    if not o.ok:
        e.update(stage=o.stage, error=o.message, error_type=o.error_type)
    return e


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


# -- writing --------------------------------------------------------------------------------------
def write_item(plan: ExportPlan, arrays: dict[str, np.ndarray], manifest: dict[str, Any]
               ) -> dict[str, Any]:
    """Data files first, manifest last (the manifest is the item's completion mark)."""
    t0 = time.perf_counter()
    d = plan.item_dir
    name = plan.stems[int(manifest["index"])]

    def go():
        files = writers.write_item(d, plan.item_format, name, arrays, manifest)
        manifest["files"] = [{"path": f.name, "bytes": writers.path_size(f)} for f in files]
        manifest.setdefault("timings", {})["write_s"] = time.perf_counter() - t0
        if plan.item_manifests_always:  # one line: json's C encoder (an indent would mean its Python one)
            atomic_write_text(d / f"{name}.json", to_json(public(manifest, out_dir=d)))

    pipeline.retry(go, plan.policy)
    return manifest


def run_chunk(plan: ExportPlan, indices: Sequence[int], threads: int = 1) -> list[dict[str, Any]]:
    """Fetch, embed and write one chunk where this runs (a Dask worker) with ``threads`` threads
    of torch, the BLAS and GDAL (``engine/threads.py``); returns the items' slim records (their
    manifests are on disk: only what the run manifest needs travels back)."""
    from ..threads import gdal_threads, keep_limit
    from .manifest import slim

    ensure_registered(plan)
    for m in plan.models:  # built (torch loaded, if the models need it) before the thread limit
        plan.embedder(m)
    keep_limit(threads)
    with gdal_threads(threads):
        done = process_chunk(plan, indices, fetch_chunk(plan, indices, reader_budget=threads))
        return [slim(write_item(plan, a, m)) for a, m in done]


# -- resume ---------------------------------------------------------------------------------------
def main_file(plan: ExportPlan, name: str) -> list[Path]:
    """The data files of the item whose file stem is ``name``."""
    return writers.item_files(plan.item_dir, name, plan.item_format, plan.models, plan.save_embeddings)


def completed_item(plan: ExportPlan, i: int) -> dict[str, Any] | None:
    """The manifest of ROI ``i`` if it is fully exported for this job, else None."""
    name = plan.stems[i]
    d = plan.item_dir
    if not plan.item_manifests_always:  # no manifests: the (atomic) data files are the evidence
        files = main_file(plan, name)
        if files and all(p.exists() for p in files):
            return {"index": i, "name": plan.names[i], "stem": name, "status": "ok", "resumed_without_manifest": True,
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
