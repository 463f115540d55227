"""rs-embed 0.3's export types: ``ExportTarget``, ``ExportLayout``, ``ExportConfig``,
``ExportModelRequest``, ``ModelConfig`` and ``BatchExporter``, and 0.3's view of a finished
export (:func:`rsembed03_result`).

``export_batch(target=..., config=..., models=[ExportModelRequest(...)])`` is folded into the
flat keywords by ``call_shapes.export_call`` and runs the one export; these classes only
carry what the caller asked for. ``ExportConfig()``'s defaults are the flat keywords'.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RequestError
from ..names import sanitize_key
from ..specs import FetchSpec, InputPrepSpec, OutputSpec, SensorSpec, SpatialSpec, TemporalSpec


class ExportLayout(enum.Enum):
    """One file for every ROI (``COMBINED``) or one file per ROI (``PER_ITEM``)."""

    COMBINED = "combined"
    PER_ITEM = "per_item"


@dataclass(frozen=True)
class ExportTarget:
    """Where an export goes: ``ExportTarget.per_item(out_dir, names=...)`` or
    ``ExportTarget.combined(out_file)`` (the format's extension is added when missing)."""

    layout: ExportLayout
    out_file: str | None = None
    out_dir: str | None = None
    names: list[str] | None = None

    @classmethod
    def combined(cls, out_file: str) -> ExportTarget:
        return cls(layout=ExportLayout.COMBINED, out_file=out_file)

    @classmethod
    def per_item(cls, out_dir: str, *, names: list[str] | None = None) -> ExportTarget:
        return cls(layout=ExportLayout.PER_ITEM, out_dir=out_dir, names=names)


@dataclass(frozen=True)
class ExportConfig:
    """The export's knobs in one object (the same names and defaults as ``export_batch``'s keywords).

    ``infer_batch_size`` caps how many ROIs share one forward pass (the engine batches the
    forward over a chunk, so it caps ``chunk_size``); ``input_prep`` is the same as
    ``export_batch(input_prep=...)`` (give it once).
    """

    format: str = "npz"
    save_inputs: bool = True
    save_embeddings: bool = True
    save_manifest: bool = True
    fail_on_bad_input: bool = False
    chunk_size: int = 16
    infer_batch_size: int | None = None
    num_workers: int = 8
    continue_on_error: bool = False
    max_retries: int = 0
    retry_backoff_s: float = 0.0
    async_write: bool = True
    writer_workers: int = 2
    resume: bool = False
    show_progress: bool = True
    input_prep: InputPrepSpec | str | None = None

    @property
    def effective_infer_batch_size(self) -> int:
        return max(1, int(self.infer_batch_size or self.chunk_size))

    @property
    def effective_chunk_size(self) -> int:
        return max(1, int(self.chunk_size))


@dataclass(frozen=True)
class ExportModelRequest:
    """One model of an export with its own ``sensor``, ``fetch``, ``modality`` or settings
    (``ExportModelRequest.configure("prithvi", variant="300m_tl")``)."""

    name: str
    sensor: SensorSpec | None = None
    fetch: FetchSpec | None = None
    modality: str | None = None
    model_config: dict[str, Any] | None = None

    @classmethod
    def configure(cls, name: str, *, sensor: SensorSpec | None = None, fetch: FetchSpec | None = None,
                  modality: str | None = None, **model_kwargs: Any) -> ExportModelRequest:
        return cls(name=name, sensor=sensor, fetch=fetch, modality=modality, model_config=model_kwargs or None)


@dataclass(frozen=True)
class ModelConfig:
    """A model of an export as resolved (what :class:`BatchExporter` takes): its name, backend,
    sensor, settings and type."""

    name: str
    backend: str
    sensor: SensorSpec | None = None
    model_config: dict[str, Any] | None = None
    model_type: str = ""

    @property
    def is_precomputed(self) -> bool:
        return "precomputed" in self.model_type.lower()


class BatchExporter:
    """rs-embed 0.3's export runner over resolved :class:`ModelConfig` s; ``run()`` is
    ``export_batch`` with them (the same pipeline, manifests and result).

    Fetching goes through the engine's provider registry, so ``provider_factory``,
    ``fetch_fn`` and ``inspect_fn`` (0.3's hooks for its own providers) are not taken, and
    every model must use the one ``backend``.
    """

    def __init__(self, *, spatials: list[SpatialSpec], temporal: TemporalSpec | None, models: list[ModelConfig],
                 target: ExportTarget, output: OutputSpec, config: ExportConfig, backend: str,
                 resolved_backend: dict[str, str] | None = None, device: str = "auto",
                 provider_factory: Any = None, fetch_fn: Any = None, inspect_fn: Any = None,
                 progress_factory: Any = None) -> None:
        hooks = {k: v for k, v in (("provider_factory", provider_factory), ("fetch_fn", fetch_fn),
                                   ("inspect_fn", inspect_fn), ("progress_factory", progress_factory))
                 if v is not None}
        if hooks:
            raise RequestError(f"BatchExporter fetches through the engine's provider registry and reports progress "
                               f"itself; {sorted(hooks)} cannot be taken (register a provider instead)")
        bad = [m for m in models if not isinstance(m, ModelConfig)]
        if bad:
            raise RequestError(f"BatchExporter models must be ModelConfig, got {bad[0]!r}")
        others = sorted({b for b in (resolved_backend or {}).values() if b != backend}
                        | {m.backend for m in models if m.backend != backend})
        if others:
            raise RequestError(f"BatchExporter runs every model on backend={backend!r}; got also {others}")
        self.spatials, self.temporal, self.models = spatials, temporal, models
        self.target, self.output, self.config = target, output, config
        self.backend, self.device = backend, device

    def run(self) -> list[dict[str, Any]] | dict[str, Any]:
        from .batch import export_batch

        requests = [ExportModelRequest(m.name, sensor=m.sensor, model_config=m.model_config) for m in self.models]
        return export_batch(spatials=self.spatials, temporal=self.temporal, models=requests, target=self.target,
                            config=self.config, backend=self.backend, device=self.device, output=self.output)


# -- 0.3's view of a finished export --------------------------------------------------------------
_PATH_KEYS = {"npz": "npz_path", "netcdf": "nc_path"}


def _status(statuses: list[str]) -> str:
    ok = statuses.count("ok")
    if ok == len(statuses):
        return "ok"
    return "failed" if ok == 0 and "partial" not in statuses else "partial"


def _model_counts(model_statuses: list[str]) -> dict[str, int]:
    failed, partial = model_statuses.count("failed"), model_statuses.count("partial")
    return {"total_models": len(model_statuses), "ok_models": len(model_statuses) - failed - partial,
            "failed_models": failed, "partial_models": partial}


def rsembed03_result(result: Any, *, out_dir: str | None = None) -> Any:
    """What 0.3's ``export_batch`` returns, from ours (ours stays under its own keys).

    Per ROI (``out_dir``): each manifest also has ``point_index``, ``summary`` (model counts)
    and ``npz_path``/``nc_path``. Combined: ``status`` is 0.3's ``ok``/``partial``/``failed``
    (ours is kept as ``run_status``), ``summary`` gains the model counts, each ``models``
    entry its ``status``, ``error``, ``embeddings``/``inputs`` array references, and
    ``npz_path``/``nc_path`` names the file.
    """
    if not isinstance(result, dict):  # per ROI: our ItemManifests sequence
        out = []
        for man in result:
            m = dict(man)
            entries = m.get("models") or []
            m["point_index"] = int(m.get("index", len(out)))
            m["summary"] = _model_counts([e.get("status", "failed") for e in entries])
            fmt = m.get("format")
            if fmt in _PATH_KEYS and out_dir is not None:
                m[_PATH_KEYS[fmt]] = str(Path(out_dir) / f"{m.get('name')}{'.npz' if fmt == 'npz' else '.nc'}")
            out.append(m)
        return sorted(out, key=lambda m: m["point_index"])
    run = dict(result)
    items = run.get("items") or []
    keys = run.get("keys") or {}
    models = []
    for entry in run.get("models") or []:
        name = entry["model"]
        mine = [next((e for e in it.get("models", []) if e.get("model") == name), {}) for it in items]
        statuses = [e.get("status", "failed") for e in mine]
        e = dict(entry, status=_status(statuses) if statuses else run.get("status", "failed"))
        errors = [x.get("error") for x in mine if x.get("status") != "ok" and x.get("error")]
        if errors:
            e["error"] = errors[0]
        e["embeddings"] = _ref(keys.get(f"embedding__{sanitize_key(name)}"))
        ikey = next(((x.get("input") or {}).get("key") for x in mine if (x.get("input") or {}).get("key")), None)
        e["inputs"] = _ref(keys.get(ikey)) if ikey else None
        e["metas"] = [x.get("meta") for x in mine]
        models.append(e)
    run["run_status"] = run.get("status")
    run["status"] = _status([m["status"] for m in models]) if run.get("status", "").startswith("complete") \
        else "failed"
    run["models"] = models
    run["summary"] = {**(run.get("summary") or {}), **_model_counts([m["status"] for m in models])}
    if run.get("format") in _PATH_KEYS and run.get("target"):
        run[_PATH_KEYS[run["format"]]] = run["target"]
    return run


def _ref(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """A key-map entry of our combined manifest as 0.3's array reference."""
    if not info:
        return None
    if info.get("stacked"):
        return {"npz_key": info["key"], "missing": list(info.get("missing") or [])}
    if info.get("keys"):
        idx = sorted(info["keys"], key=int)
        return {"npz_keys": [info["keys"][i] for i in idx], "indices": [int(i) for i in idx]}
    return dict(info)


__all__ = ["ExportLayout", "ExportTarget", "ExportConfig", "ExportModelRequest", "ModelConfig", "BatchExporter",
           "rsembed03_result"]
