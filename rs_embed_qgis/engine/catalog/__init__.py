"""The model catalog: one entry per model - embedders, precomputed products, the
super-resolution network and the forecaster - holding every fact known before the
model's code is imported: variants, weights sources (pinned revision, sha256),
default sensor, temporal mode, outputs, side inputs, normalisation, requirements.

Nothing here imports torch or a model module, so ``list_models`` and
``describe_model`` are instant, and a model whose optional dependency is missing
fails alone, when it is used, with a :class:`ModelError` saying what to install.

How to add a model
------------------
1. Write its code in its own modules: the network in ``engine/nn/<model>.py`` (the
   official parameter names) and the adapter in ``engine/embedders/<model>.py`` (a
   class built as ``cls(entry, device=..., **options)``; see ``embedders/base.py``).
2. Add **one entry file**, ``engine/catalog/models/<model>.py``, that defines
   ``ENTRY = ModelEntry(...)`` (start from ``models/remoteclip.py``). It may import
   only ``..entry``, ``...specs``, ``...weights`` and other entry files: no torch,
   no model code. The catalog finds the file by itself; no list to edit.
3. Per variant, record the weights: the Hugging Face repo, file and the *commit
   hash* (``revision``), or the https URL; and the file's ``sha256`` where it is
   published. Where a revision or hash cannot be established, write ``None``:
   such a download then needs ``allow_unverified=True`` and is locked on first use
   (see ``weights.py``). Normalisation constants go in ``Variant.normalisation``;
   the adapter reads them from there (one place).
4. ``tests/engine/test_catalog.py`` checks every entry (complete, aliases unique,
   variants resolvable, no torch on import). Add the model's own tests beside it.

The dock, the toolbox and ``list_models()`` pick the new model up; nothing else
changes. ``docs/architecture.md`` ("Models") says the same with an example.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading
from collections.abc import Iterable
from typing import Any

from ..errors import ModelError
from ..imports import import_cleanly, missing_modules
from ..weights import resolve_weights, verification_policy
from .entry import EMBEDDING_KINDS, KINDS, ModelEntry, Normalisation, Variant

_ENGINE = __name__.rsplit(".", 1)[0]          # rs_embed_qgis.engine
_lock = threading.RLock()
#: model id -> entry; filled from ``catalog/models/*.py`` on import, plus ``register()``
ENTRIES: dict[str, ModelEntry] = {}
#: model id -> "ExceptionType: message" of its module's last failed import
_IMPORT_ERRORS: dict[str, str] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add (or replace) an entry; its id and aliases must not name another model."""
    if not isinstance(entry, ModelEntry):
        raise ModelError(f"register() takes a ModelEntry, got {type(entry).__name__}")
    with _lock:
        taken = {n.lower(): e.id for e in ENTRIES.values() if e.id != entry.id for n in (e.id, *e.aliases)}
        clash = sorted({n.lower() for n in (entry.id, *entry.aliases)} & set(taken))
        if clash:
            raise ModelError(f"catalog entry {entry.id!r}: {clash} already name model "
                             f"{taken[clash[0]]!r}")
        ENTRIES[entry.id] = entry
    return entry


def _load_entry_files() -> None:
    from . import models

    for info in sorted(pkgutil.iter_modules(models.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{models.__name__}.{info.name}")
        entry = getattr(mod, "ENTRY", None)
        if not isinstance(entry, ModelEntry):
            raise ModelError(f"catalog file {mod.__name__} must define ENTRY = ModelEntry(...)")
        register(entry)


def _kinds(kind: str | Iterable[str] | None) -> tuple[str, ...]:
    if kind is None:
        return EMBEDDING_KINDS
    if kind == "all":
        return tuple(KINDS)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ModelError(f"kind must be one of {list(KINDS)} or 'all', got {bad[0]!r}")
    return kinds


def entries(kind: str | Iterable[str] | None = "all") -> list[ModelEntry]:
    """The entries of these kinds (default: all), sorted by id."""
    kinds = _kinds(kind)
    return [ENTRIES[k] for k in sorted(ENTRIES) if ENTRIES[k].kind in kinds]


def get_entry(model: str) -> ModelEntry:
    """The entry of a model id or alias (any case); unknown names get close suggestions."""
    if not isinstance(model, str):
        raise ModelError(f"model must be a model id string, got {model!r}")
    key = model.strip().lower()
    if key in ENTRIES:
        return ENTRIES[key]
    for e in ENTRIES.values():
        if key in (a.lower() for a in e.aliases):
            return e
    choices = sorted({n for e in ENTRIES.values() for n in (e.id, *e.aliases)})
    close = difflib.get_close_matches(key, choices, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModelError(f"unknown model id {model!r}{hint} Known models: {sorted(ENTRIES)}")


def list_models(kind: str | Iterable[str] | None = None, *, include_aliases: bool = False) -> list[str]:
    """Model ids, sorted; nothing is imported.

    By default the models that give embeddings (kinds ``embedder`` and
    ``precomputed``): what the dock and the toolbox offer. ``kind="superres"``,
    ``"forecast"``, a list of kinds, or ``"all"`` for every entry.
    """
    names = set()
    for e in entries(_kinds(kind)):
        names.add(e.id)
        if include_aliases:
            names.update(e.aliases)
    return sorted(names)


def missing_requirements(entry: ModelEntry) -> list[str]:
    return missing_modules(entry.requires)


def import_error(model: str) -> str | None:
    """Why the model's module failed to import last time (None: it did not fail)."""
    return _IMPORT_ERRORS.get(get_entry(model).id)


def _weights_status(entry: ModelEntry, weights_path: str | None) -> dict[str, Any]:
    w = entry.weights
    if not w.needs_weights:
        return {**w.to_dict(), "status": "not needed", "resolved": None, "verification": "not needed"}
    try:
        r = resolve_weights(entry.id, w, weights_path, download=False, verify=False)
        status = "found" if r.path else "missing"
        where: dict[str, Any] = {"source": r.source, "path": str(r.path) if r.path else None}
    except ModelError as exc:
        status, where = "missing", {"error": str(exc)}
    return {**w.to_dict(), "status": status, "resolved": where, "verification": verification_policy(w)}


def describe_model(model: str, *, weights_path: str | None = None) -> dict[str, Any]:
    """Everything a user needs to pick a model: kind, bands, time, outputs, variants, weights."""
    e = get_entry(model)
    v = e.default_variant
    return {
        "id": e.id,
        "kind": e.kind,
        "family": e.family,
        "type": e.type,
        "description": e.description,
        "bands": list(e.bands),
        "default_sensor": e.default_sensor.to_dict() if e.default_sensor else None,
        "temporal_mode": e.temporal_mode,
        "outputs": list(e.outputs),
        "side_inputs": list(e.side_inputs),
        "embedding_dim": e.embedding_dim,
        "weights": _weights_status(e, weights_path),
        "requires": list(e.requires),
        "missing_requirements": missing_requirements(e),
        "aliases": list(e.aliases),
        "paper": e.paper,
        "default_variant": v.name,
        "variants": [x.to_dict() for x in e.variants],
        "normalisation": v.normalisation.to_dict() if v.normalisation else None,
        "details": dict(e.extra),
        "int8_keep_fp32": list(e.int8_keep_fp32),
        "module": f"{_ENGINE}.{e.module}",
        "import_error": _IMPORT_ERRORS.get(e.id),
        **_rsembed03_keys(e),
    }


def _rsembed03_keys(e: ModelEntry) -> dict[str, Any]:
    """The keys rs-embed 0.3's ``describe_model`` has beside ours: ``output`` (= ``outputs``),
    ``inputs``, ``defaults``, ``backend``, ``modalities`` and the ``model_config`` schema."""
    s = e.default_sensor
    variants = [v.name for v in e.variants]
    return {
        "output": list(e.outputs),
        "inputs": {"collection": s.collection, "bands": list(s.bands)} if s else None,
        "defaults": ({"scale_m": s.scale_m, "cloudy_pct": s.cloudy_pct, "composite": s.composite,
                      "fill_value": s.fill_value} if s else {}),
        "backend": ["provider"] if e.kind in EMBEDDING_KINDS else [],
        "modalities": {k: {"collection": v.collection, "bands": list(v.bands)}
                       for k, v in e.input_modalities().items()},
        "model_config": ({"variant": {"type": "string", "default": variants[0], "choices": variants}}
                         if len(variants) > 1 else {}),
    }


def clear_import_errors() -> int:
    """Forget the recorded import failures (a retry imports again anyway); returns how many there were."""
    with _lock:
        n = len(_IMPORT_ERRORS)
        _IMPORT_ERRORS.clear()
        return n


def import_model(model: str) -> Any:
    """Import the model's module (only now) and return the object its entry names.

    If the import fails, every module of our package that appeared during it is
    removed again (so a retry - after installing what was missing - starts clean,
    and no half-initialised module is used), and the error is recorded:
    ``describe_model(...)["import_error"]`` shows it and it is raised as a
    :class:`ModelError` naming it.
    """
    entry = get_entry(model)
    missing = missing_requirements(entry)
    if missing:
        raise ModelError(
            f"model {entry.id!r} needs {', '.join(missing)} which cannot be imported here; "
            f"install it (pip install 'rs-embed-qgis[models]') or pick another model")
    name = f"{_ENGINE}.{entry.module}"
    with _lock:
        try:
            mod = import_cleanly(name)
        except Exception as exc:  # noqa: BLE001 - whatever breaks, it breaks this model only
            _IMPORT_ERRORS[entry.id] = f"{type(exc).__name__}: {exc}"
            raise ModelError(f"model {entry.id!r} could not be imported ({name}): "
                             f"{_IMPORT_ERRORS[entry.id]}") from exc
        _IMPORT_ERRORS.pop(entry.id, None)
    try:
        return getattr(mod, entry.cls)
    except AttributeError:
        raise ModelError(f"catalog entry {entry.id!r} names {entry.cls!r}, which {name} does not "
                         f"define") from None


def load_embedder_class(model: str) -> Any:
    """The embedder class of an embedding model (``embedder`` / ``precomputed``)."""
    entry = get_entry(model)
    if entry.kind not in EMBEDDING_KINDS:
        raise ModelError(f"model {entry.id!r} is not an embedding model (kind {entry.kind!r}: it "
                         f"{KINDS[entry.kind]}); embedding models: {list_models()}")
    return import_model(entry.id)


with _lock:
    _load_entry_files()

__all__ = ["ModelEntry", "Variant", "Normalisation", "KINDS", "EMBEDDING_KINDS", "ENTRIES",
           "register", "entries", "get_entry", "list_models", "describe_model", "import_model",
           "load_embedder_class", "missing_requirements", "import_error", "clear_import_errors"]
