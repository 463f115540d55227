"""The embedding pipeline: plan -> fetch -> check -> embed -> finish, for every face.

``get_embedding`` / ``get_embeddings_batch`` / ``get_embedding_from_data`` (``api.py``),
``export_batch`` (``export/core.py``) and the plugin's runs (:func:`run_embed`, from the
dock's tasks and the Processing algorithms) all go through here.

Stages
1. **plan** (:func:`plan`): validate the specs, build each model's (cached) embedder,
   resolve its sensor (``per_model_sensors[m]`` > ``sensor`` > the model's default), its
   window and frame count, and group models whose fetches differ only in bands into
   *fetch groups*: one fetch of the union of their bands feeds them all. Nothing is
   fetched yet; the plan knows each ROI's grid (:meth:`Plan.input_shape`), so size and
   memory can be known before any work.
2. **fetch** (:func:`fetch`): each group's patches for a batch of ROIs through the
   provider's ``fetch_many`` (the place for scene-major batch reads), retried.
3. **check** (stage ``"input"``): each model's bands, in its order, from its group's
   patch, and the input checks (``SensorSpec.check_input``, ``RS_EMBED_CHECK_INPUT``).
4. **embed**: one batched ``embed_patches`` call per model over the batch, retried.
5. **finish** (:func:`finish`): the common metadata and the grid's georeferencing.

Error policy (:class:`ErrorPolicy`), the same for every face: fail fast (the first error
is raised as it is) or continue and record, per (ROI, model), an :class:`Outcome` with
status ``ok``/``failed``, the stage that failed and the error. When a batch fails under
"continue", :func:`isolate` runs its items one by one to find the ones to blame; the
others go through. :class:`~.errors.Cancelled` is never recorded: it always propagates.

Timings are kept per stage and per item (``Outcome.timings``) and per batch
(:class:`Results`), so callers can add their own stages (export adds ``write_s``) and sum.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import budget
from .catalog import get_entry, load_embedder_class
from .catalog.entry import ModelEntry
from .embedders.base import Embedder
from .embedding import Embedding
from .errors import Cancelled, ProviderError, RequestError, SpecError
from .geo import RoiGrid, roi_grid
from .input_checks import check_patch, checks_enabled, checks_should_raise
from .progress import CancelFn, ProgressFn, as_feedback, cancel_scope, check_cancelled, in_scope
from .providers import freeze_options, get_provider, sanity
from .providers.base import Patch, Provider
from .specs import OutputSpec, SensorSpec, SpatialSpec, TemporalSpec, validate_spatial
from .threads import cpu_count

_log = logging.getLogger(__name__)

# -- embedders: one cached instance per (model, options, device) --------------------------------
_lock = threading.RLock()
_embedders: dict[tuple[Any, ...], Embedder] = {}


def get_embedder(model: str, *, device: str = "auto",
                 model_options: dict[str, Any] | None = None) -> Embedder:
    """The cached embedder for (model, options, device); built once, thread-safe."""
    entry = get_entry(model)
    key = (entry.id, device, freeze_options(model_options))
    with _lock:
        emb = _embedders.get(key)
        if emb is None:
            cls = load_embedder_class(entry.id)
            emb = cls(entry, device=device, **(model_options or {}))
            _embedders[key] = emb
        return emb


def clear_embedders() -> int:
    """Drop the cached embedders; returns how many there were."""
    with _lock:
        n = len(_embedders)
        _embedders.clear()
        return n


# -- specs ------------------------------------------------------------------------------------------
def check_output(output: OutputSpec) -> OutputSpec:
    if not isinstance(output, OutputSpec):
        raise SpecError(f"output must be an OutputSpec, got {output!r}")
    return output.validate()


def check_temporal(temporal: TemporalSpec | None) -> TemporalSpec | None:
    if temporal is None:
        return None
    if not isinstance(temporal, TemporalSpec):
        raise SpecError(f"temporal must be a TemporalSpec, got {temporal!r}")
    return temporal.validate()


def resolve_sensor(embedder: Embedder, sensor: SensorSpec | None) -> SensorSpec:
    """``sensor``, else the model's default sensor (validated)."""
    s = sensor or embedder.default_sensor()
    if s is None:
        raise SpecError(f"model {embedder.spec.id!r} has no default sensor; pass sensor=SensorSpec(...)")
    if not isinstance(s, SensorSpec):
        raise SpecError(f"sensor must be a SensorSpec, got {s!r}")
    return s.validate()


# -- error policy -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErrorPolicy:
    """What a failure does: fail fast (raise it) or continue and record it per item.

    ``max_retries`` retries each batch and each single item (with ``retry_backoff_s`` x
    attempt between tries) before it counts as failed.
    """

    continue_on_error: bool = False
    max_retries: int = 0
    retry_backoff_s: float = 0.0


@dataclass(frozen=True)
class Failed:
    """An item that failed at ``stage`` with ``error`` (the policy said: continue)."""

    stage: str
    error: Exception


def retry(fn: Callable[[], Any], policy: ErrorPolicy) -> Any:
    """``fn()``, tried ``1 + policy.max_retries`` times; the last error is raised. Never retries a cancel."""
    for attempt in range(int(policy.max_retries) + 1):
        try:
            return fn()
        except Cancelled:
            raise
        except Exception:  # noqa: BLE001 - re-raised after the last attempt
            if attempt >= policy.max_retries:
                raise
            if policy.retry_backoff_s > 0:
                time.sleep(policy.retry_backoff_s * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def isolate(items: Sequence[Any], batch: Callable[[Sequence[Any]], Sequence[Any]],
            one: Callable[[Any], Any], policy: ErrorPolicy, stage: str,
            workers: int = 1) -> list[Any]:
    """``batch(items)``; if it fails and the policy continues, ``one(item)`` for each item to find
    the ones to blame. One result per item, in order: the value, or :class:`Failed`.

    The one "a batch failed: which item was it?" mechanism of the engine (fetches and
    forwards alike). ``workers`` > 1 runs the single items in threads.
    """
    if not items:
        return []
    try:
        return list(retry(lambda: batch(items), policy))
    except Cancelled:
        raise
    except Exception:  # noqa: BLE001 - fail fast re-raises; continue looks for the culprits
        if not policy.continue_on_error:
            raise

    def single(item: Any) -> Any:
        try:
            return retry(lambda: one(item), policy)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded for this item only
            return Failed(stage, exc)

    if workers <= 1 or len(items) <= 1:
        return [single(it) for it in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(in_scope(single), items))


# -- plan ---------------------------------------------------------------------------------------------
@dataclass
class FetchGroup:
    """Models whose fetch is the same but for bands: one fetch of the union of their bands."""

    sensor: SensorSpec          # the union of the members' bands
    frames: int | None
    temporal: TemporalSpec | None  # the window the members run on (Embedder.resolve_temporal)
    members: list[str]          # model ids


@dataclass
class Plan:
    """Everything a run needs, resolved before any pixel is fetched (picklable, for Dask:
    embedders are looked up by model id where the work runs)."""

    spatials: list[SpatialSpec]
    temporal: TemporalSpec | None          # as asked
    output: OutputSpec
    models: list[str]                      # catalog ids, in the caller's order
    model_entries: list[ModelEntry]        # catalog entries (for workers that lack a run-time one)
    model_options: dict[str, dict[str, Any]]
    sensors: dict[str, SensorSpec]         # what each model gets: its bands, in its order
    temporals: dict[str, TemporalSpec | None]
    groups: list[FetchGroup]
    group_of: dict[str, int]
    backend: str
    device: str
    provider_options: dict[str, Any] | None
    input_prep: str = "resize"
    policy: ErrorPolicy = field(default_factory=ErrorPolicy)
    fail_on_bad_input: bool = False        # check every input and fail the item when a check fails
    num_workers: int | None = None         # fetch threads (None: the model's, the env, the provider's, 4)
    names: list[str] | None = None         # item names (input-check reports and quick-looks)
    estimate: budget.Estimate | None = None  # pixels, memory and output per ROI (budget.py)

    def embedder(self, model: str) -> Embedder:
        return get_embedder(model, device=self.device, model_options=self.model_options[model])

    def grid(self, i: int, group: int = 0) -> RoiGrid:
        """The pixel grid ROI ``i`` will be fetched on for fetch group ``group`` (no fetch)."""
        return roi_grid(self.spatials[i], self.groups[group].sensor.scale_m)

    def input_shape(self, i: int, group: int = 0) -> tuple[int, int, int, int]:
        """``(T, C, H, W)`` of the patch ROI ``i`` will get from fetch group ``group`` (no fetch)."""
        g, grid = self.groups[group], self.grid(i, group)
        return (g.frames or 1, len(g.sensor.bands), grid.height, grid.width)

    def check_name(self, i: int, model: str) -> str:
        if self.names:
            return f"{self.names[i]}_{model}"
        return model if len(self.spatials) == 1 else f"{model}_{i}"


def _fetch_key(s: SensorSpec, frames: int | None, temporal: TemporalSpec | None) -> tuple[Any, ...]:
    t = tuple(sorted(temporal.to_dict().items())) if temporal is not None else None
    return (s.collection, float(s.scale_m), s.cloudy_pct, float(s.fill_value), s.composite, frames, t,
            s.orbit, s.use_float_linear, s.s1_require_iw, s.s1_relax_iw_on_empty)


def options_per_model(models: Sequence[str], model_options: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{model: {...}}`` when every key is one of ``models`` (ids); otherwise the same options for all."""
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


def plan(*, spatials: Sequence[SpatialSpec], models: Sequence[str], temporal: TemporalSpec | None = None,
         sensor: SensorSpec | None = None, per_model_sensors: dict[str, SensorSpec] | None = None,
         output: OutputSpec = OutputSpec.pooled(), backend: str = "gee", device: str = "auto",
         input_prep: str = "resize", model_options: dict[str, dict[str, Any]] | None = None,
         provider_options: dict[str, Any] | None = None, policy: ErrorPolicy | None = None,
         fail_on_bad_input: bool = False, num_workers: int | None = None,
         names: Sequence[str] | None = None) -> Plan:
    """Stage 1: validated specs, embedders built, sensors and windows resolved, fetch groups formed,
    and the run's size estimated (``Plan.estimate``): an ROI that needs more memory than the
    limit is a :class:`SpecError` here, before any fetch (``budget.py``).

    ``model_options``: keyed by model (see :func:`options_per_model`) or one dict for every model.
    """
    if not isinstance(spatials, (list, tuple)) or not spatials:
        raise RequestError(f"spatials must be a non-empty list of BBox/PointBuffer, got {spatials!r}")
    spatials = [validate_spatial(s) for s in spatials]
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) for m in models):
        raise RequestError(f"models must be a non-empty list of model ids, got {models!r}")
    models = [get_entry(m).id for m in models]
    if len(set(models)) != len(models):
        raise SpecError(f"models has duplicates: {models}")
    temporal = check_temporal(temporal)
    output = check_output(output)
    per_model: dict[str, SensorSpec] = {}
    if per_model_sensors:
        bad = [k for k in per_model_sensors if get_entry(k).id not in models]
        if bad:
            raise SpecError(f"per_model_sensors has models not in models={models}: {bad}")
        per_model = {get_entry(k).id: v for k, v in per_model_sensors.items()}
    opts = options_per_model(models, model_options)
    sensors: dict[str, SensorSpec] = {}
    temporals: dict[str, TemporalSpec | None] = {}
    groups: list[FetchGroup] = []
    group_of: dict[str, int] = {}
    by_key: dict[tuple[Any, ...], int] = {}
    for m in models:
        emb = get_embedder(m, device=device, model_options=opts[m])
        emb.check_input_prep(input_prep)
        temporals[m] = emb.resolve_temporal(temporal)
        s = resolve_sensor(emb, per_model.get(m) or sensor)
        sensors[m] = s
        frames = emb.frames_for(temporals[m])  # window-adaptive models derive it from the window
        key = _fetch_key(s, frames, temporals[m])
        if key not in by_key:
            by_key[key] = len(groups)
            groups.append(FetchGroup(s, frames, temporals[m], []))
        gi = group_of[m] = by_key[key]
        g = groups[gi]
        union = list(g.sensor.bands) + [b for b in s.bands if b not in g.sensor.bands]
        g.sensor = dataclasses.replace(g.sensor, bands=tuple(union), check_input=False)
        g.members.append(m)
    p = Plan(spatials=list(spatials), temporal=temporal, output=output, models=models,
             model_entries=[get_entry(m) for m in models], model_options=opts, sensors=sensors,
             temporals=temporals, groups=groups, group_of=group_of, backend=backend, device=device,
             provider_options=provider_options, input_prep=input_prep, policy=policy or ErrorPolicy(),
             fail_on_bad_input=fail_on_bad_input, num_workers=num_workers,
             names=list(names) if names is not None else None)
    p.estimate = budget.estimate(p)
    # an ROI too large for this computer: said now, not by numpy later
    budget.check(p.estimate, rescale=lambda f: budget.estimate(p, f))
    return p


def batches(plan: Plan, max_items: int, indices: Sequence[int] | None = None, in_flight: int = 1) -> list[list[int]]:
    """ROI indices in batches of at most ``max_items`` whose estimated memory fits the limit
    (``budget.batches``): a large run streams through memory a few ROIs at a time."""
    idx = range(len(plan.spatials)) if indices is None else indices
    readers = int(plan.num_workers or os.environ.get("RS_EMBED_FETCH_WORKERS") or 4)
    return budget.batches(plan.estimate, idx, max_items, in_flight=in_flight, readers=readers)


# -- fetch ----------------------------------------------------------------------------------------------
@dataclass
class Fetched:
    """Patches of a batch, one per (fetch group, ROI index): a :class:`Patch` or :class:`Failed`."""

    patches: dict[tuple[int, int], Patch | Failed]
    seconds: float


def fetch_workers(plan: Plan, group: FetchGroup, provider: Provider) -> int:
    """Fetch threads: the plan's > the model's own knob > ``RS_EMBED_FETCH_WORKERS`` >
    the provider's setting (gee: ``num_workers``) > 4."""
    if plan.num_workers is not None:
        return int(plan.num_workers)
    own = [plan.embedder(m).fetch_workers for m in group.members]
    own = [w for w in own if w is not None]
    if own:
        return int(max(own))
    env = os.environ.get("RS_EMBED_FETCH_WORKERS")
    return int(env) if env else int(getattr(provider, "num_workers", 4))


def group_provider(plan: Plan, group: FetchGroup) -> Provider:
    """The provider a fetch group reads from: a precomputed product kept as files is its own
    provider (its group has no other model), else the plan's backend."""
    return (plan.embedder(group.members[0]).input_provider(plan.backend, plan.provider_options)
            or get_provider(plan.backend, plan.provider_options))


@contextlib.contextmanager
def fetch_session(plan: Plan) -> Iterator[None]:
    """What this thread's fetches keep open between batches (``Provider.session``: the local
    backend's open files) stays open for the block: a worker that fetches chunk after chunk
    opens each file once, not once per chunk."""
    with contextlib.ExitStack() as stack:
        seen: set[int] = set()
        for g in plan.groups:
            provider = group_provider(plan, g)
            if id(provider) not in seen:
                seen.add(id(provider))
                stack.enter_context(provider.session())
        yield


def fetch(plan: Plan, indices: Sequence[int], *, reader_budget: int | None = None) -> Fetched:
    """Stage 2: every fetch group's patches for ROIs ``indices`` (cancel points between ROIs).

    ``reader_budget``: the cores of the worker this runs in (default: all of this machine's);
    a provider whose fetching is CPU work (``Provider.cpu_bound``: decoding local files)
    reads with at most that many threads: more only contend (and split its scene-major groups).
    """
    t0 = time.perf_counter()
    for m in plan.models:  # e.g. a Sentinel-1 input the backend cannot serve: said before any fetch
        plan.embedder(m).check_backend(plan.backend)
    out: dict[tuple[int, int], Patch | Failed] = {}
    for gi, g in enumerate(plan.groups):
        provider = group_provider(plan, g)
        workers = fetch_workers(plan, g, provider)
        if provider.cpu_bound:
            workers = min(workers, int(reader_budget or cpu_count()))
        got = isolate(
            [plan.spatials[i] for i in indices],
            lambda sps, g=g, w=workers, p=provider: p.fetch_many(sps, g.temporal, g.sensor, frames=g.frames,
                                                                 num_workers=w),
            lambda s, g=g, p=provider: p.fetch(s, g.temporal, g.sensor, frames=g.frames),
            plan.policy, "fetch", workers=workers)
        for i, p in zip(indices, got, strict=True):
            out[(gi, i)] = p
    return Fetched(out, time.perf_counter() - t0)


def given_patches(plan: Plan, arrays: Sequence[np.ndarray]) -> Fetched:
    """Stage 2 without a fetch: the caller's pixels (``input_chws``), one per ROI, for a one-model plan."""
    if len(arrays) != len(plan.spatials):
        raise SpecError(f"input_chws has {len(arrays)} arrays for {len(plan.spatials)} spatials")
    t0 = time.perf_counter()
    m = plan.models[0]
    sensor, embedder = plan.sensors[m], plan.embedder(m)
    patches: dict[tuple[int, int], Patch | Failed] = {
        (0, i): Patch(embedder.prepare_input_chw(a), sensor.bands, roi_grid(s, sensor.scale_m), sensor=sensor,
                      temporal=plan.temporals[m], backend=f"{plan.backend}:input_chw")
        for i, (a, s) in enumerate(zip(arrays, plan.spatials, strict=True))}
    return Fetched(patches, time.perf_counter() - t0)


# -- check --------------------------------------------------------------------------------------------
def model_input(patch: Patch, sensor: SensorSpec) -> Patch:
    """The model's bands, in its order, from a fetch group's patch (which may hold more bands)."""
    q = patch if tuple(patch.bands) == tuple(sensor.bands) else patch.select_bands(sensor.bands)
    return Patch(q.data, q.bands, q.grid, q.frames, sensor, q.temporal, q.backend, dict(q.meta))


def check_input(patch: Patch, sensor: SensorSpec, name: str, *, force: bool = False) -> dict[str, Any] | None:
    """Stage 3: the input check report, or None when checks are off; a failed check raises
    :class:`ProviderError` when the sensor (or ``RS_EMBED_CHECK_RAISE``) says so.

    ``force``: check, and fail on a bad input, whatever the sensor says.
    """
    if force:
        sensor = dataclasses.replace(sensor, check_input=True, check_raise=True)
    if not checks_enabled(sensor):  # SensorSpec.check_input or RS_EMBED_CHECK_INPUT=1
        return None
    rep = check_patch(patch, sensor=sensor, name=name)
    if not rep["ok"] and checks_should_raise(sensor):
        raise ProviderError(f"input check failed for {name}: {rep['report'].get('issues')}")
    return rep


# -- finish -----------------------------------------------------------------------------------------
def finish(emb: Embedding, patch: Patch, spatial: SpatialSpec | None, temporal: TemporalSpec | None,
           sensor: SensorSpec | None, backend: str, timings: dict[str, float]) -> Embedding:
    """Stage 5: common metadata, and the grid's georeferencing on the ROI."""
    m = emb.meta
    m["spatial"] = spatial.to_dict() if spatial is not None else None
    m["temporal"] = temporal.to_dict() if temporal is not None else None
    if temporal is not None:
        m.setdefault("input_time", temporal.input_time.isoformat())
    m["sensor"] = sensor.to_dict() if sensor is not None else None
    m["backend"] = backend
    m["input"] = patch.describe()
    cov = m["coverage"] = sanity.coverage(patch)  # the share of the ROI with valid data
    warning = sanity.coverage_warning(cov, f"ROI {spatial!r}" if spatial is not None else "the ROI")
    if warning:  # in the meta, and in the log (the plugin shows it in its log tab and message bar)
        m.setdefault("warnings", []).append(warning)
        _log.warning(warning)
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


# -- check + embed + finish for every model ---------------------------------------------------------
@dataclass
class Outcome:
    """One (ROI, model) of a run: its input, its embedding or where and why it failed."""

    index: int
    model: str
    status: str = "ok"                     # "ok" | "failed"
    stage: str | None = None               # where it failed: "fetch" | "input" | "embed" | "finish"
    error: Exception | None = None
    patch: Patch | None = None             # the model's input (its bands, in its order)
    check: dict[str, Any] | None = None    # the input check report, when checks are on
    embedding: Embedding | None = None
    timings: dict[str, float] = field(default_factory=dict)  # this item's share of each stage

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def error_type(self) -> str | None:
        return type(self.error).__name__ if self.error is not None else None

    @property
    def message(self) -> str | None:
        """``"ProviderError: ROI is outside ..."``."""
        return f"{type(self.error).__name__}: {self.error}" if self.error is not None else None

    def fail(self, stage: str, exc: Exception, policy: ErrorPolicy) -> None:
        """Record ``exc`` at ``stage``, or raise it (fail fast)."""
        if not policy.continue_on_error:
            raise exc
        self.status, self.stage, self.error = "failed", stage, exc


@dataclass
class Results:
    """Every model's outcomes for a batch (one per ROI index, in order) and the stage times."""

    outcomes: dict[str, list[Outcome]]
    fetch_s: float
    embed_s: dict[str, float]              # model -> seconds of its batched forward(s)


def embed(plan: Plan, indices: Sequence[int], fetched: Fetched, *, embeddings: bool = True,
          on_model_done: Callable[[str, int], None] | None = None) -> Results:
    """Stages 3-5 for every model over ROIs ``indices`` (a cancel point before each model).

    ``embeddings=False`` stops after the check (inputs only).
    """
    n = max(1, len(indices))
    outcomes: dict[str, list[Outcome]] = {}
    embed_s: dict[str, float] = {}
    for m in plan.models:
        check_cancelled()
        sensor, gi = plan.sensors[m], plan.group_of[m]
        outs = outcomes[m] = []
        todo: list[Outcome] = []
        for i in indices:
            o = Outcome(i, m, timings={"fetch_s": fetched.seconds / n})
            outs.append(o)
            got = fetched.patches[(gi, i)]
            if isinstance(got, Failed):
                o.fail("fetch", got.error, plan.policy)
                continue
            try:
                o.patch = model_input(got, sensor)
                o.check = check_input(o.patch, sensor, plan.check_name(i, m), force=plan.fail_on_bad_input)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - the policy decides
                o.fail("input", exc, plan.policy)
                continue
            todo.append(o)
        if embeddings and todo:
            t0 = time.perf_counter()
            embedder = plan.embedder(m)
            embs = isolate(
                todo,
                lambda items, e=embedder: e.embed_patches([o.patch for o in items], plan.output,
                                                          input_prep=plan.input_prep),
                lambda o, e=embedder: e.embed_patches([o.patch], plan.output, input_prep=plan.input_prep)[0],
                plan.policy, "embed")
            dt = embed_s[m] = time.perf_counter() - t0
            for o, e in zip(todo, embs, strict=True):
                if isinstance(e, Failed):
                    o.fail("embed", e.error, plan.policy)
                    continue
                o.timings["embed_s"] = dt / len(todo)
                try:
                    if o.check is not None:
                        e.meta["input_check"] = o.check
                    o.embedding = finish(e, o.patch, plan.spatials[o.index], plan.temporals[m], sensor,
                                         plan.backend, dict(o.timings))
                except Exception as exc:  # noqa: BLE001 - the policy decides
                    o.fail("finish", exc, plan.policy)
        if on_model_done is not None:
            on_model_done(m, len(indices))
    return Results(outcomes, fetched.seconds, embed_s)


def run(plan: Plan, indices: Sequence[int] | None = None) -> Results:
    """Stages 2-5 for ROIs ``indices`` (default all)."""
    idx = list(range(len(plan.spatials))) if indices is None else list(indices)
    return embed(plan, idx, fetch(plan, idx))


# -- the plugin's runs: a request, in batches, with progress and cancel ----------------------------
@dataclass
class EmbedRequest:
    """Everything one embedding run of the dock or the toolbox needs (one model, many ROIs)."""

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


def run_embed(req: EmbedRequest, progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None,
              *, chunk: int = 8, on_error: Callable[[int, Exception], None] | None = None,
              on_result: Callable[[int, Embedding], Any] | None = None, prompt_cancel: bool = False) -> list[Any]:
    """Embeddings of every ROI of ``req``, ``chunk`` ROIs at a time; one per ROI, in order.

    Without ``on_error`` the first error is raised (fail fast). With it, an ROI the engine
    cannot fetch or embed gives ``None`` and ``on_error(index, exc)`` is called; the others
    go through. ``on_result(index, embedding)``, if given, gets each embedding as soon as its
    chunk is done and its return value is kept instead (write a file, keep the path: memory
    stays flat). Raises :class:`~.errors.Cancelled` as soon as ``is_cancelled()`` is True,
    also in the middle of a fetch or between forward batches; ``prompt_cancel`` (the dock)
    runs one item per forward so that is within a second (``progress.forward_batch``).
    """
    fb = as_feedback(progress, is_cancelled, prompt=prompt_cancel)
    p = plan(spatials=req.spatials, models=[req.model], temporal=req.temporal, sensor=req.sensor,
             output=req.output, backend=req.backend, device=req.device, input_prep=req.input_prep,
             model_options=req.model_options or None, provider_options=req.provider_options or None,
             policy=ErrorPolicy(continue_on_error=on_error is not None))
    if on_result is None:  # every embedding is kept until the end
        budget.check_outputs(p.estimate)
    m, n, out = p.models[0], len(p.spatials), []
    with cancel_scope(fb):
        for idx in batches(p, chunk):  # at most ``chunk`` ROIs, fewer when they are large
            fb.check()
            fb.report(idx[0] / n, f"embedding ROIs {idx[0] + 1}-{idx[-1] + 1} of {n} with {req.model}")
            for o in run(p, idx).outcomes[m]:
                if o.ok:
                    out.append(on_result(o.index, o.embedding) if on_result is not None else o.embedding)
                else:
                    on_error(o.index, o.error)
                    out.append(None)
    fb.report(1.0, "done")
    return out


__all__ = ["ErrorPolicy", "Failed", "FetchGroup", "Plan", "Fetched", "Outcome", "Results", "EmbedRequest",
           "options_per_model", "plan", "fetch", "given_patches", "embed", "run", "run_embed", "retry", "isolate",
           "model_input", "check_input", "finish", "check_output", "check_temporal", "resolve_sensor",
           "get_embedder", "clear_embedders", "fetch_workers", "batches"]
