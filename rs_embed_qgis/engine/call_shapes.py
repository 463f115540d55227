"""rs-embed 0.3 call shapes -> the pipeline's arguments, in one place.

rs-embed 0.3 spells a request differently from the reference (0.1) the pipeline follows:
``fetch=FetchSpec`` and ``modality=`` beside ``sensor=``, ``input_prep`` as an
``InputPrepSpec``, a string or ``None``, ``backend="auto"``, model settings as
``**model_kwargs`` and, for exports, ``ExportModelRequest`` / ``ExportTarget`` /
``ExportConfig``. Every public entry point (``api``, ``model.Model``, ``export_batch``)
hands what it was given to the functions here and gets the reference's arguments back: one
sensor per model (or None: the model's default), one ``model_options`` dict, an
``input_prep`` of ``"resize"`` or ``"tile"``, a registered backend name, and the export's
flat keywords. ``pipeline.plan`` only ever sees that one shape.

Where 0.3 and the reference disagree, the reference's behaviour stays the default of its own
spelling (``docs/rs-embed-compat.md``): ``input_prep=None`` is the engine's default
(``"resize"``), ``backend`` keeps ``"gee"`` as its default and ``"auto"`` picks a backend.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import get_entry
from .errors import ProviderError, RequestError, SpecError
from .specs import INPUT_PREP_MODES, FetchSpec, InputPrepSpec, OutputSpec, SensorSpec

#: the engine's input preparation when none is named (the reference resizes)
DEFAULT_INPUT_PREP = "resize"

_MODALITY_ALIASES = {"sentinel1": "s1", "sentinel_1": "s1", "sentinel2": "s2", "sentinel_2": "s2",
                     "s2l1c": "s2_l1c", "s2l2a": "s2_l2a"}
#: a more specific name -> the branch name our catalog uses for it
_MODALITY_FAMILY = {"s2_l2a": "s2"}


# -- backend --------------------------------------------------------------------------------------------
def resolve_backend(name: str | None) -> str:
    """A backend name; ``"auto"`` is ``RS_EMBED_DEFAULT_PROVIDER`` if set, else ``gee`` when Earth
    Engine can be used here, else the first usable registered backend (as rs-embed 0.3 picks)."""
    from .providers import list_providers, provider_names

    b = str(name if name is not None else "auto").strip().lower()
    if b != "auto":
        return b
    configured = os.environ.get("RS_EMBED_DEFAULT_PROVIDER", "").strip().lower()
    if configured:
        if configured not in provider_names():
            raise ProviderError(f"RS_EMBED_DEFAULT_PROVIDER={configured!r} is not a backend; "
                                f"registered: {list(provider_names())}")
        return configured
    usable = [p.name for p in list_providers() if p.available]
    for cand in ("gee", *usable):
        if cand in usable:
            return cand
    raise ProviderError(f"backend='auto' found no usable backend among {list(provider_names())}")


# -- model options --------------------------------------------------------------------------------------
def merge_model_options(options: dict[str, Any] | None, model_kwargs: dict[str, Any],
                  api_names: Iterable[str] = ()) -> dict[str, Any] | None:
    """``model_options`` (the reference's extra) merged with 0.3's ``**model_kwargs``.

    A keyword that is a near miss of one of the call's own parameters (``ouput=``) is an
    error rather than a model option some model would silently ignore.
    """
    if not model_kwargs:
        return options
    names = list(api_names)
    for k in model_kwargs:
        close = difflib.get_close_matches(k, names, n=1, cutoff=0.8)
        if close:
            raise RequestError(f"unknown keyword {k}=; did you mean {close[0]}=? (other keywords are model "
                               f"settings such as variant=)")
    if options is None:
        return dict(model_kwargs)
    if not isinstance(options, dict):
        raise SpecError(f"model_options must be a dict, got {options!r}")
    clash = sorted(k for k in model_kwargs if k in options and options[k] != model_kwargs[k])
    if clash:
        raise RequestError(f"model setting(s) {clash} given both in model_options and as keywords with "
                           f"different values: {[(options[k], model_kwargs[k]) for k in clash]}")
    return {**options, **model_kwargs}


# -- sensor: sensor= / fetch= / modality= ---------------------------------------------------------------
def modality_name(modality: str | None) -> str | None:
    if modality is None:
        return None
    if not isinstance(modality, str) or not modality.strip():
        raise SpecError(f"modality must be a name such as 's2' or 's1', got {modality!r}")
    key = modality.strip().lower().replace("-", "_")
    return _MODALITY_ALIASES.get(key, key)


def wanted_modality(model: str, modality: str | None, sensor: SensorSpec | None = None) -> str | None:
    """The input branch asked for (``modality=`` or ``sensor.modality``), checked against the model's."""
    entry = get_entry(model)
    wanted = modality_name(modality)
    given = modality_name(sensor.modality) if isinstance(sensor, SensorSpec) else None
    if wanted is not None and given is not None and wanted != given:
        raise RequestError(f"modality={modality!r} but sensor.modality={sensor.modality!r}; they must agree")
    wanted = wanted or given
    profiles = entry.input_modalities()
    if wanted in _MODALITY_FAMILY and wanted not in profiles and _MODALITY_FAMILY[wanted] in profiles:
        wanted = _MODALITY_FAMILY[wanted]  # 0.3 calls some models' Sentinel-2 L2A branch "s2_l2a"
    if wanted is not None and wanted not in profiles:
        takes = sorted(profiles) or "none (it reads a precomputed product)"
        raise RequestError(f"model {entry.id!r} does not take modality {wanted!r}; it takes {takes}")
    return wanted


def modality_options(model: str, modality: str | None, sensor: SensorSpec | None,
                     options: dict[str, Any] | None) -> dict[str, Any] | None:
    """A model with several input branches picks one with its option ``modality``: 0.3's
    ``modality=`` (or ``sensor.modality``) becomes that option."""
    wanted = wanted_modality(model, modality, sensor)
    if wanted is None or not get_entry(model).declares_modalities:
        return options
    return merge_model_options(options, {"modality": wanted})


def resolve_sensor(model: str, *, sensor: SensorSpec | None = None, fetch: FetchSpec | None = None,
                   modality: str | None = None,
                   default_sensor: Callable[[], SensorSpec | None] | None = None) -> SensorSpec | None:
    """The sensor a model is fetched with: ``sensor``, or the default (of ``modality``) changed by
    ``fetch``; None when nothing was asked (the pipeline then takes the model's default).

    ``default_sensor`` gives the model's default as its embedder knows it (built with the
    options of :func:`modality_options`: a variant or a branch may read other bands than the
    catalog default); without it, the catalog's sensor of the branch.
    """
    entry = get_entry(model)
    if sensor is not None and fetch is not None:
        raise RequestError(f"give sensor= or fetch=, not both (model {entry.id!r}): fetch changes the "
                           f"model's default sensor, sensor replaces it; got sensor={sensor!r}, fetch={fetch!r}")
    if sensor is not None and not isinstance(sensor, SensorSpec):
        raise SpecError(f"sensor must be a SensorSpec, got {sensor!r}")
    if fetch is not None and not isinstance(fetch, FetchSpec):
        raise SpecError(f"fetch must be a FetchSpec, got {fetch!r}")
    wanted = wanted_modality(entry.id, modality, sensor)
    if sensor is not None:
        return sensor if wanted is None or sensor.modality == wanted else dataclasses.replace(sensor, modality=wanted)
    if fetch is None and wanted is None:
        return None
    if default_sensor is not None:
        base = default_sensor()
    else:
        base = entry.input_modalities()[wanted] if wanted is not None else entry.default_sensor
    if base is not None and wanted is not None:
        base = dataclasses.replace(base, modality=wanted)
    if base is None:
        raise RequestError(f"model {entry.id!r} has no default sensor for fetch= to change; "
                           f"pass sensor=SensorSpec(...)")
    return fetch.apply(base) if fetch is not None else base


# -- input_prep --------------------------------------------------------------------------------------------
#: what ``input_prep`` needs to decide "auto" and check tile limits: per model, its embedder and the
#: (height, width) in pixels of each item it will get
Targets = Callable[[], Sequence[tuple[Any, Sequence[tuple[int, int]]]]]


def resolve_input_prep(value: InputPrepSpec | str | None, *, output: OutputSpec,
                       targets: Targets | None = None) -> str:
    """0.3's ``input_prep`` (``None``, ``"auto"``/``"resize"``/``"tile"``, ``InputPrepSpec``) as the
    engine's ``"resize"`` / ``"tile"``.

    The engine tiles at each model's own input size, without overlap, padding the edges
    (0.3's defaults for ``tile_size``, ``tile_stride`` and ``pad_edges``); other values of
    these are refused. ``"auto"`` tiles a grid output when the largest item needs 2 to
    ``max_tiles`` tiles of a model's input size, and resizes otherwise (decided per call, not
    per item). In ``"tile"`` mode more than ``max_tiles`` tiles warns and more than
    ``max_tiles_hard`` is refused, as in 0.3.
    """
    if value is None:
        return DEFAULT_INPUT_PREP
    if isinstance(value, str):
        mode = value.strip().lower()
        if mode not in INPUT_PREP_MODES:
            raise RequestError(f"input_prep must be one of {INPUT_PREP_MODES}, an InputPrepSpec or None, "
                               f"got {value!r}")
        if mode != "auto":
            return mode
        spec = InputPrepSpec.auto()
    elif isinstance(value, InputPrepSpec):
        spec = value.validate()
    else:
        raise RequestError(f"input_prep must be one of {INPUT_PREP_MODES}, an InputPrepSpec or None, got {value!r}")
    if not spec.pad_edges:
        raise RequestError("input_prep pad_edges=False is not supported: the engine pads edge tiles to the "
                           "model's input size and crops the padding from the stitched grid")
    if spec.mode == "resize":
        return "resize"
    counts = _tile_counts(spec, targets)
    if spec.mode == "auto":
        biggest = max(counts, default=0)
        return "tile" if output.mode == "grid" and 1 < biggest <= spec.max_tiles else "resize"
    worst = max(counts, default=0)
    if worst > max(spec.max_tiles, spec.max_tiles_hard):
        raise RequestError(f"input_prep tile would cut an item into {worst} tiles (> max_tiles_hard="
                           f"{spec.max_tiles_hard}); make the area smaller or raise max_tiles_hard")
    if worst > spec.max_tiles:
        warnings.warn(f"input_prep tile cuts an item into {worst} tiles (> max_tiles={spec.max_tiles}); "
                      f"this may be slow and memory-heavy", UserWarning, stacklevel=3)
    return "tile"


def _tile_counts(spec: InputPrepSpec, targets: Targets | None) -> list[int]:
    """Tiles per item per model (models without a fixed input size are never tiled)."""
    counts = []
    for embedder, sizes in (targets() if targets is not None else ()):
        size = getattr(embedder, "image_size", None)
        if not size:
            continue
        for name, v in (("tile_size", spec.tile_size), ("tile_stride", spec.tile_stride)):
            if v is not None and int(v) != int(size):
                raise RequestError(
                    f"input_prep {name}={v} is not supported for model {embedder.spec.id!r}: it is tiled at its "
                    f"input size, {size} px, without overlap; pass {name}=None (or {size})")
        counts += [math.ceil(h / size) * math.ceil(w / size) for h, w in sizes]
    return counts


# -- one model's call -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbedCall:
    """One model's request in the reference's arguments."""

    model: str                          # catalog id
    sensor: SensorSpec | None           # None: the model's default
    model_options: dict[str, Any] | None
    input_prep: str                     # "resize" | "tile"


def embed_call(model: str, *, output: OutputSpec, sensor: SensorSpec | None = None, fetch: FetchSpec | None = None,
               modality: str | None = None, device: str = "auto", input_prep: InputPrepSpec | str | None = None,
               model_options: dict[str, Any] | None = None, model_kwargs: dict[str, Any] | None = None,
               api_names: Iterable[str] = (),
               sizes: Callable[[SensorSpec], Sequence[tuple[int, int]]] | None = None) -> EmbedCall:
    """``get_embedding*``, ``Model``, ``inspect_model_input`` and ``*_from_data`` arguments of one model.

    ``sizes(sensor)`` gives each item's (height, width) in pixels at that sensor's scale;
    it is asked only when ``input_prep`` needs it ("auto", tile limits).
    """
    from .pipeline import check_output, get_embedder

    entry = get_entry(model)
    output = check_output(output)
    options = modality_options(entry.id, modality, sensor,
                               merge_model_options(model_options, dict(model_kwargs or {}), api_names))

    def embedder():
        return get_embedder(entry.id, device=device, model_options=options)

    s = resolve_sensor(entry.id, sensor=sensor, fetch=fetch, modality=modality,
                       default_sensor=lambda: embedder().default_sensor())

    def targets():
        e = embedder()
        return [(e, list(sizes(s or e.default_sensor())) if sizes is not None else [])]

    return EmbedCall(entry.id, s, options, resolve_input_prep(input_prep, output=output, targets=targets))


# -- export ----------------------------------------------------------------------------------------------
@dataclass
class ExportCall:
    """An export request in the reference's flat keywords, and whether 0.3's result was asked for."""

    kwargs: dict[str, Any]
    rsembed03: bool


def export_call(*, models: Sequence[Any], target: Any, config: Any, flat: dict[str, Any], sensor: SensorSpec | None,
                per_model_sensors: dict[str, SensorSpec] | None, fetch: FetchSpec | None, modality: str | None,
                input_prep: InputPrepSpec | str | None, model_options: dict[str, Any] | None,
                device: str, output: OutputSpec, spatials: Sequence[Any]) -> ExportCall:
    """``export_batch``'s 0.3 arguments (``target``, ``config``, ``fetch``, ``modality``,
    ``ExportModelRequest`` entries) folded into its flat keywords.

    ``flat`` holds the flat keywords as given (their defaults are ``ExportConfig()``'s); a knob
    set both in ``config`` and as a keyword, to different values, is an error.
    """
    from .export.config import ExportConfig, ExportLayout, ExportModelRequest, ExportTarget
    from .pipeline import get_embedder, options_per_model

    out = dict(flat)
    if config is not None:
        if not isinstance(config, ExportConfig):
            raise RequestError(f"config must be an ExportConfig, got {config!r}")
        defaults = ExportConfig()
        for f in dataclasses.fields(ExportConfig):
            if f.name in ("input_prep", "infer_batch_size"):
                continue
            given, from_config = flat[f.name], getattr(config, f.name)
            if given != getattr(defaults, f.name) and given != from_config:
                raise RequestError(f"{f.name} given both as a keyword ({given!r}) and in config ({from_config!r}); "
                                   f"give it once")
            out[f.name] = from_config
        if config.input_prep is not None:
            if input_prep is not None:
                raise RequestError("input_prep given both as export_batch(input_prep=...) and in "
                                   "ExportConfig(input_prep=...); give it once")
            input_prep = config.input_prep
        if config.infer_batch_size is not None:  # forwards are batched per chunk: a smaller chunk caps them
            out["chunk_size"] = min(int(out["chunk_size"]), max(1, int(config.infer_batch_size)))
    if target is not None:
        if not isinstance(target, ExportTarget):
            raise RequestError(f"target must be an ExportTarget (ExportTarget.per_item(dir) or "
                               f"ExportTarget.combined(file)), got {target!r}")
        taken = [k for k in ("out_dir", "out_path", "out", "layout") if flat.get(k) is not None]
        if taken:
            raise RequestError(f"give target= or {taken[0]}=, not both")
        if target.layout == ExportLayout.PER_ITEM:
            if not target.out_dir:
                raise RequestError("ExportTarget.per_item needs out_dir")
            out["out_dir"] = str(target.out_dir)
            if target.names is not None:
                if flat.get("names") is not None and list(flat["names"]) != list(target.names):
                    raise RequestError("names given both in target and as names= with different values")
                out["names"] = list(target.names)
        elif target.layout == ExportLayout.COMBINED:
            if not target.out_file:
                raise RequestError("ExportTarget.combined needs out_file")
            out["out_path"] = str(target.out_file)
        else:
            raise RequestError(f"ExportTarget.layout must be an ExportLayout, got {target.layout!r}")

    requests = []
    for m in models if isinstance(models, (list, tuple)) else ():
        if isinstance(m, ExportModelRequest):
            requests.append(m)
        elif isinstance(m, str):
            requests.append(ExportModelRequest(name=m))
        else:
            raise RequestError(f"models entries must be model ids or ExportModelRequest, got {m!r}")
    if not requests:
        raise RequestError(f"models must be a non-empty list of model ids or ExportModelRequest, got {models!r}")
    ids = [get_entry(r.name).id for r in requests]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RequestError(f"models names {dupes} more than once ({[r.name for r in requests]}); request each "
                           f"model once")
    options = options_per_model(ids, model_options)
    given, sensors = {}, {}
    for k, v in (per_model_sensors or {}).items():
        if k in ids or k in {r.name for r in requests}:
            given[get_entry(k).id] = v
        else:  # not a model of this export: the plan says so
            sensors[k] = v
    for r, mid in zip(requests, ids, strict=True):
        if r.sensor is not None and mid in given:
            raise RequestError(f"model {r.name!r} has a sensor both in its ExportModelRequest and in "
                               f"per_model_sensors; give it once")
        # as in 0.3: the request's own sensor / fetch / modality, else the call's
        own = r.sensor if r.sensor is not None else (given.get(mid) or sensor)
        mod = r.modality if r.modality is not None else modality
        if r.model_config:
            options[mid] = merge_model_options(options[mid] or None, dict(r.model_config)) or {}
        options[mid] = modality_options(mid, mod, own, options[mid] or None) or {}
        s = resolve_sensor(
            mid, sensor=own, fetch=r.fetch if r.fetch is not None else fetch, modality=mod,
            default_sensor=lambda mid=mid: get_embedder(mid, device=device,
                                                        model_options=options[mid]).default_sensor())
        if s is not None:
            sensors[mid] = s
    out.update(models=ids, per_model_sensors=sensors or None, model_options=options)

    def targets():
        from .geo import roi_grid

        found = []
        for mid in ids:
            emb = get_embedder(mid, device=device, model_options=options[mid])
            s = sensors.get(mid) or emb.default_sensor()
            found.append((emb, [(g.height, g.width) for g in (roi_grid(sp, s.scale_m) for sp in spatials)]))
        return found

    out["input_prep"] = resolve_input_prep(input_prep, output=output, targets=targets)
    return ExportCall(out, rsembed03=target is not None)


__all__ = ["DEFAULT_INPUT_PREP", "EmbedCall", "embed_call", "ExportCall", "resolve_backend", "merge_model_options",
           "modality_name", "wanted_modality", "modality_options", "resolve_sensor", "resolve_input_prep",
           "export_call"]
