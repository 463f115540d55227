"""``load_export``: read any export back - ours (per-ROI folder or combined file, any format) or
one written by rs-embed itself (per-ROI ``<name>.npz|.nc`` + ``.json`` pairs, or a combined
``.npz|.nc`` + ``.json`` whose ``models[]`` name their arrays by ``npz_key``).

The result is an :class:`ExportResult`: rs-embed 0.3's object (``.models`` of
:class:`ModelResult`, ``.ok_models``, ``.embedding(model)``...) that is also the dict this
function always returned (``["embeddings"]``, ``["inputs"]``, ``["manifest"]``...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError
from ..names import sanitize_key
from . import writers
from .formats import get_format
from .formats.base import stacked_or_list
from .formats.netcdf import open_netcdf
from .formats.npz import read_npz
from .manifest import RUN_MANIFEST, read_json


@dataclass
class ModelResult:
    """One model across every ROI of an export.

    ``embeddings``: ``(n_items, D)`` or ``(n_items, D, H, W)``, NaN rows where an ROI failed
    (a list when shapes differ between ROIs); None when the model failed everywhere.
    ``inputs``: the saved inputs the same way (None when not saved). ``meta``: each ROI's
    embedding metadata ({} where it failed). ``status``: ``ok`` | ``partial`` | ``failed``;
    ``error``: the first error when every ROI failed.
    """

    name: str
    status: str
    embeddings: Any
    inputs: Any
    meta: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class ExportResult(dict):
    """A loaded export: rs-embed 0.3's ``ExportResult`` (attributes ``layout``, ``spatials``,
    ``temporal``, ``n_items``, ``status``, ``models``, ``manifest``; ``embedding(model)``,
    ``ok_models``, ``failed_models``) and the dict ``load_export`` always returned
    (``manifest``, ``layout``, ``format``, ``names``, ``items``, ``embeddings``, ``inputs``).
    """

    def __init__(self, layout: str, spatials: list[dict[str, Any]], temporal: dict[str, Any] | None,
                 n_items: int, status: str, models: dict[str, ModelResult], manifest: dict[str, Any],
                 **keys: Any) -> None:
        keys.setdefault("embeddings", {m: r.embeddings for m, r in models.items() if r.embeddings is not None})
        keys.setdefault("inputs", {m: r.inputs for m, r in models.items() if r.inputs is not None})
        super().__init__(manifest=manifest, layout=layout, **keys)
        self.layout, self.spatials, self.temporal, self.n_items = layout, spatials, temporal, n_items
        self.status, self.models, self.manifest = status, models, manifest

    def __repr__(self) -> str:
        return (f"ExportResult(layout={self.layout!r}, n_items={self.n_items}, status={self.status!r}, "
                f"models={ {m: r.status for m, r in self.models.items()} })")

    def _name(self, model: str) -> str:
        if model in self.models:
            return model
        try:
            from ..catalog import get_entry

            mid = get_entry(model).id
        except Exception:  # noqa: BLE001 - not a catalog name: reported as missing below
            mid = None
        if mid in self.models:
            return mid
        raise KeyError(f"model {model!r} is not in this export; it has {sorted(self.models)}")

    def embedding(self, model: str) -> Any:
        """The model's embeddings (``ModelResult.embeddings``); a model that failed everywhere is a
        ``ValueError`` with its error."""
        r = self.models[self._name(model)]
        if r.embeddings is None:
            raise ValueError(f"model {r.name!r} has no embeddings in this export (status {r.status!r}): {r.error}")
        return r.embeddings

    @property
    def ok_models(self) -> list[str]:
        return [m for m, r in self.models.items() if r.status == "ok"]

    @property
    def failed_models(self) -> list[str]:
        return [m for m, r in self.models.items() if r.status == "failed"]


def _aggregate(statuses: list[str]) -> str:
    ok, failed = statuses.count("ok"), statuses.count("failed")
    if failed == 0 and ok == len(statuses):
        return "ok"
    return "failed" if ok == 0 and "partial" not in statuses else "partial"


def _by_model(models, names, per_item: list[dict[str, np.ndarray]], mans) -> dict[str, Any]:
    emb: dict[str, Any] = {}
    inp: dict[str, Any] = {}
    for m in models:
        k = f"embedding__{sanitize_key(m)}"
        emb[m] = stacked_or_list([a.get(k) for a in per_item])
        ivals = []
        for a, man in zip(per_item, mans, strict=True):
            e = next((x for x in (man or {}).get("models", []) if x.get("model") == m), None)
            key = ((e or {}).get("input") or {}).get("key")
            if key is None:
                key = f"input_chw__{sanitize_key(m)}" if f"input_chw__{sanitize_key(m)}" in a else None
            ivals.append(a.get(key) if key else None)
        if any(v is not None for v in ivals):
            inp[m] = stacked_or_list(ivals)
    return {"embeddings": emb, "inputs": inp}


def _model_results(models: list[str], mans: list[dict[str, Any] | None], emb: dict[str, Any],
                   inp: dict[str, Any]) -> dict[str, ModelResult]:
    """Per model, from our per-ROI manifests (None where an ROI has none) and the stacked arrays."""
    out = {}
    for m in models:
        entries = [next((e for e in (man or {}).get("models", []) if e.get("model") == m), None) for man in mans]
        if all(man is None for man in mans):  # exported without manifests: an array is the evidence
            rows = emb.get(m)
            statuses = ["ok" if rows is not None and _row_ok(rows, i) else "failed" for i in range(len(mans))]
        else:
            statuses = [(e or {}).get("status", "failed") for e in entries]
        status = _aggregate(statuses)
        errors = [e.get("error") for e in entries if e and e.get("error")]
        out[m] = ModelResult(m, status, emb.get(m) if status != "failed" else None, inp.get(m),
                             [dict((e or {}).get("meta") or {}) for e in entries],
                             errors[0] if status == "failed" and errors else None)
    return out


def _row_ok(rows: Any, i: int) -> bool:
    row = rows[i] if i < len(rows) else None
    return row is not None and bool(np.isfinite(np.asarray(row, dtype=np.float64)).any())


def _ours(run: dict[str, Any], layout: str, fmt: str, names: list[str], items: list[dict[str, Any] | None],
          emb: dict[str, Any], inp: dict[str, Any]) -> ExportResult:
    models = _model_results([m["model"] for m in run["models"]], items, emb, inp)
    return ExportResult(layout, list(run.get("spatials") or []), run.get("temporal"), len(names),
                        _aggregate([r.status for r in models.values()]) if models else "ok", models, run,
                        format=fmt, names=names, items=items, embeddings=emb, inputs=inp)


def load_export(path: str | Path) -> ExportResult:
    """Read an export back.

    ``path``: the folder of a per-ROI export, or a combined file (or its ``.json``);
    ours or rs-embed's. Returns an :class:`ExportResult`: as a dict ``{"manifest",
    "layout", "format", "names", "items", "embeddings": {model: array (N, ...) or list},
    "inputs": {model: ...}}``; rows of failed or missing ROIs are NaN (or None in lists).
    """
    p = Path(path)
    if not p.exists() and not p.with_suffix(".json").exists():
        raise SpecError(f"no export at {str(p)!r}")
    if p.is_dir() and not p.name.endswith(".zarr"):
        run = read_json(p / RUN_MANIFEST)
        if run is None:
            return _load_rsembed_per_item(p)
        fmt, names, models = _format_of(run, p), run["names"], [m["model"] for m in run["models"]]
        mans, per = [], []
        for n in run.get("stems") or names:  # files have the names' safe forms
            man = read_json(p / f"{n}.json")
            mans.append(man)
            try:  # a failed or never written ROI reads as {}: its rows are NaN
                per.append(writers.read_item(p, fmt, n, man, models))
            except (OSError, KeyError, ValueError) as exc:  # a file that is there must read
                raise ProviderError(f"export item {n!r} in {str(p)!r} cannot be read: "
                                    f"{type(exc).__name__}: {exc}") from exc
        arrays = _by_model(models, names, per, mans)
        return _ours(run, "per_item", fmt, names, mans, arrays["embeddings"], arrays["inputs"])
    man_path = p if p.suffix == ".json" else p.with_suffix(".json")
    run = read_json(man_path)
    if run is None:
        raise SpecError(f"no export manifest at {str(man_path)!r} beside {str(p)!r}")
    if run.get("layout") != "combined":
        if isinstance(run.get("models"), list) and "n_items" in run:
            return _load_rsembed_combined(p, man_path, run)
        raise SpecError(f"{str(man_path)!r} is not the manifest of a combined export")
    final = Path(run["target"])
    if not final.exists():
        final = man_path.with_name(Path(run["target"]).name)
    fmt, names, models = _format_of(run, final), run["names"], [m["model"] for m in run["models"]]
    items = run.get("items", [])
    kmap = run.get("keys", {})
    arrays = writers.read_combined(final, fmt)
    emb, inp = {}, {}
    for m in models:
        info = kmap.get(f"embedding__{sanitize_key(m)}")
        if info and "column" in info:  # a format of rows (GeoParquet, GeoPackage): its column
            if info["column"] in arrays:
                emb[m] = arrays[info["column"]]
        elif info:
            emb[m] = _keyed(info, arrays, len(names))
        e0 = next((x for it in items for x in it.get("models", []) if x.get("model") == m
                   and x.get("input")), None)
        ikey = (e0 or {}).get("input", {}).get("key") if e0 else None
        info = kmap.get(ikey) if ikey else None
        if info:
            inp[m] = _keyed(info, arrays, len(names))
    return _ours(run, "combined", fmt, names, items or [None] * len(names), emb, inp)


def _format_of(run: dict[str, Any], where: Path) -> str:
    """The export's format, which must be registered here to be read."""
    try:
        return get_format(run["format"]).name
    except SpecError as exc:
        raise SpecError(f"{str(where)!r} was written in format {run['format']!r}, which cannot be read here "
                        f"({exc}); a format of your own must be registered (register_format) first") from exc


def _keyed(info: dict[str, Any], arrays: dict[str, Any], n: int) -> Any:
    """A model's rows from a combined file's key map entry: one stacked array, or one per ROI."""
    if info.get("stacked"):
        return arrays[info["key"]]
    return [arrays.get(info["keys"].get(str(i))) for i in range(n)]


# -- exports written by rs-embed itself ---------------------------------------------------------
#: rs-embed's array key of a model name (its own sanitising: runs of other characters -> "_")
def _rsembed_key(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^0-9a-zA-Z_]+", "_", str(name))).strip("_") or "item"


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (never unpickled) or ``.nc`` file, by name."""
    if path.suffix == ".npz":
        return read_npz(path)
    with open_netcdf(path, engine=None) as ds:  # xarray's choice: rs-embed may write NetCDF-3 (scipy)
        return {str(k): np.asarray(v.values) for k, v in ds.data_vars.items()}


def _paired_arrays(json_path: Path) -> tuple[Path, str]:
    for ext, fmt in ((".npz", "npz"), (".nc", "netcdf")):
        if json_path.with_suffix(ext).exists():
            return json_path.with_suffix(ext), fmt
    raise SpecError(f"manifest {str(json_path)!r} has no .npz or .nc file beside it")


def _rows(per_point: list[np.ndarray | None]) -> Any:
    """``(n_items, ...)`` float32 with NaN rows where a point has nothing (a list when shapes differ);
    None if no point has anything."""
    if all(a is None for a in per_point):
        return None
    return stacked_or_list(per_point)


def _ref_rows(ref: Any, arrays: dict[str, np.ndarray], default: str, n: int) -> np.ndarray | None:
    """An rs-embed combined array reference: ``{"npz_key"}`` (stacked) or ``{"npz_keys", "indices"}`` (per point)."""
    ref = ref if isinstance(ref, dict) else {}
    key = ref.get("npz_key") or default
    if key in arrays:
        return np.asarray(arrays[key], dtype=np.float32)
    keys = ref.get("npz_keys") or []
    indices = ref.get("indices")
    per: list[np.ndarray | None] = [None] * n
    for j, k in enumerate(keys):
        if k not in arrays:
            continue
        tail = k.rsplit("__", 1)[-1]
        i = int(indices[j]) if isinstance(indices, list) and j < len(indices) else (int(tail) if tail.isdigit() else j)
        if 0 <= i < n:
            per[i] = np.asarray(arrays[k], dtype=np.float32)
    return _rows(per)


def _load_rsembed_combined(p: Path, man_path: Path, man: dict[str, Any]) -> ExportResult:
    """A combined export of rs-embed: ``<file>.npz|.nc`` + ``<file>.json`` (``models[].embeddings.npz_key``)."""
    arrays_path, fmt = (p, "npz" if p.suffix == ".npz" else "netcdf") if p.suffix in (".npz", ".nc") \
        else _paired_arrays(man_path)
    arrays = _read_arrays(arrays_path)
    n = int(man.get("n_items") or 0)
    models = {}
    for entry in man["models"]:
        name = str(entry.get("model", ""))
        key = _rsembed_key(name)
        metas = list(entry.get("metas") or [])
        models[name] = ModelResult(
            name, str(entry.get("status", "failed")),
            _ref_rows(entry.get("embeddings"), arrays, f"embeddings__{key}", n),
            _ref_rows(entry.get("inputs"), arrays, f"inputs_bchw__{key}", n),
            [m if isinstance(m, dict) else {} for m in metas + [None] * (n - len(metas))][:n],
            str(entry["error"]) if entry.get("error") else None)
    return ExportResult("combined", list(man.get("spatials") or []), man.get("temporal"), n,
                        str(man.get("status", "ok")), models, man, format=fmt,
                        names=[f"p{i:05d}" for i in range(n)], items=None)


def _load_rsembed_per_item(folder: Path) -> ExportResult:
    """A per-ROI export of rs-embed: ``<name>.npz|.nc`` + ``<name>.json`` pairs whose manifest has
    ``point_index`` (or named ``p<index>``); each row lands at its point index."""
    points: dict[int, tuple[str, dict[str, Any], dict[str, np.ndarray], str]] = {}
    for f in sorted(folder.iterdir()):
        if f.suffix not in (".npz", ".nc") or not f.with_suffix(".json").exists():
            continue
        man = read_json(f.with_suffix(".json"))
        if not isinstance(man, dict):
            continue
        idx = man.get("point_index")
        if not (isinstance(idx, int) and idx >= 0):
            idx = int(f.stem[1:]) if f.stem.startswith("p") and f.stem[1:].isdigit() else None
        if idx is None:
            continue
        if idx in points:
            raise SpecError(f"{points[idx][0]!r} and {f.name!r} in {str(folder)!r} both claim point_index={idx}")
        points[idx] = (f.name, man, _read_arrays(f), "npz" if f.suffix == ".npz" else "netcdf")
    if not points:
        raise SpecError(f"{str(folder)!r} is not an export: it has no {RUN_MANIFEST} (ours) and no <name>.npz/.nc "
                        f"+ <name>.json point files (rs-embed's)")
    n = max(points) + 1
    names = [""] * n
    spatials: list[dict[str, Any]] = [{} for _ in range(n)]
    items: list[dict[str, Any] | None] = [None] * n
    per: dict[str, dict[str, list[Any]]] = {}
    for i, (fname, man, arrays, _) in sorted(points.items()):
        names[i], items[i] = Path(fname).stem, man
        spatials[i] = man.get("spatial") if isinstance(man.get("spatial"), dict) else {}
        for e in man.get("models") or []:
            name = str(e.get("model", ""))
            if not name:
                continue
            d = per.setdefault(name, {"emb": [None] * n, "inp": [None] * n, "meta": [{} for _ in range(n)],
                                      "status": [], "error": []})
            key = _rsembed_key(name)
            ek = (e.get("embedding") or {}).get("npz_key") or f"embedding__{key}"
            ik = (e.get("input") or {}).get("npz_key") or f"input_chw__{key}"
            d["emb"][i] = np.asarray(arrays[ek], np.float32) if ek in arrays else None
            d["inp"][i] = np.asarray(arrays[ik], np.float32) if ik in arrays else None
            d["meta"][i] = e.get("meta") if isinstance(e.get("meta"), dict) else {}
            d["status"].append(str(e.get("status", "failed")))
            if e.get("error"):
                d["error"].append(str(e["error"]))
    models = {}
    for name, d in per.items():
        status = _aggregate(d["status"])
        models[name] = ModelResult(name, status, _rows(d["emb"]) if status != "failed" else None, _rows(d["inp"]),
                                   d["meta"], d["error"][0] if status == "failed" and d["error"] else None)
    first = points[min(points)]
    return ExportResult("per_item", spatials, first[1].get("temporal"), n,
                        _aggregate([r.status for r in models.values()]) if models else "ok", models, first[1],
                        format=first[3], names=names, items=items)


__all__ = ["load_export", "ExportResult", "ModelResult"]
