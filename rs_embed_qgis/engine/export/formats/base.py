"""What an export format is: :class:`Format` (its facts and the four calls every format
answers), and the two shapes most formats take, :class:`ArrayFormat` (named arrays in one file:
npz, NetCDF, Zarr) and :class:`VectorFormat` (one row per ROI with its polygon: GeoParquet,
GeoPackage), with the helpers they share (stacking ROIs into one array, the key map).

A format writes through ``engine.io.atomic_path`` / ``atomic_dir`` with a ``verify=`` that reads
the result back, so nothing unreadable ever gets a final name. Array keys follow rs-embed:
``embedding__<model>`` and ``input_chw__<model>`` (``input_tchw__`` for several frames) per ROI;
``embeddings__<model>`` / ``inputs_bchw__<model>`` stacked along a first axis for all ROIs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...errors import SpecError
from ...imports import missing_modules
from ...names import sanitize_key

#: one ROI's arrays and its item manifest, as the combined writers receive them
Item = tuple[dict[str, np.ndarray], dict[str, Any]]


class Format(ABC):
    """An export format. The class attributes are its facts (checked before any work); the
    methods write and read it. Register a subclass with
    ``formats.register_format(name, "package.module:Class")``.

    The key map a combined write returns tells ``load_export`` where each per-ROI key went:
    ``{"key": k, "stacked": True, "missing": [...]}`` (one array, row i = ROI i),
    ``{"keys": {"<index>": k}, "stacked": False}`` (one array per ROI), or ``{"column": k}``
    (``read_combined`` gives ``k`` as rows).
    """

    name: ClassVar[str] = ""                   # what format= says; also written into manifests
    ext: ClassVar[str] = ""                    # the extension of its files, with the dot
    aliases: ClassVar[tuple[str, ...]] = ()    # other names format= accepts ("nc", "tif")
    description: ClassVar[str] = ""
    per_item: ClassVar[bool] = True            # layout="per_item": files per ROI
    combined: ClassVar[bool] = True            # layout="combined": one file for every ROI
    pooled: ClassVar[bool] = True              # stores OutputSpec.pooled() vectors
    grid: ClassVar[bool] = True                # stores OutputSpec.grid() grids
    saves_inputs: ClassVar[bool] = True        # False: inputs go to a side "<stem>.inputs.npz"
    requires: ClassVar[tuple[str, ...]] = ()   # import names it needs at run time
    install: ClassVar[str] = ""                # how to get them

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.ext})>"

    def missing(self) -> list[str]:
        """What this format needs and cannot import here (nothing is imported)."""
        return missing_modules(self.requires)

    # -- per item ---------------------------------------------------------------------------
    def item_path(self, folder: Path, stem: str) -> Path:
        """The item's data file."""
        return folder / f"{stem}{self.ext}"

    def item_files(self, folder: Path, stem: str, models: Sequence[str], save_embeddings: bool) -> list[Path]:
        """The data files whose presence proves an item written (resume without manifests)."""
        return [self.item_path(folder, stem)]

    @abstractmethod
    def write_item(self, folder: Path, stem: str, arrays: dict[str, np.ndarray],
                   manifest: dict[str, Any]) -> list[Path]:
        """Write one ROI's arrays into files named after ``stem``; return them."""

    @abstractmethod
    def read_item(self, folder: Path, stem: str, manifest: dict[str, Any] | None,
                  models: Sequence[str]) -> dict[str, np.ndarray] | None:
        """One ROI's arrays by per-item key; None when the item was never written (a failed
        ROI: its rows are NaN)."""

    # -- combined ---------------------------------------------------------------------------
    def write_combined(self, dst: Path, items: list[Item], models: Sequence[str],
                       manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Write every ROI into ``dst``; return the key map (see the class docstring)."""
        raise SpecError(f"format {self.name!r} cannot be written as one combined file")

    def read_combined(self, path: Path) -> dict[str, Any]:
        """Every array (or column of rows) of a combined file, by the key map's keys."""
        raise SpecError(f"format {self.name!r} cannot be read as one combined file")


class ArrayFormat(Format):
    """Named arrays in one file: per ROI its arrays, combined the stacked arrays
    (:func:`combine_arrays`). A subclass writes and reads the file."""

    @abstractmethod
    def write_arrays(self, dst: Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
        """One ROI's arrays (``manifest``: its item manifest)."""

    @abstractmethod
    def write_stacked(self, dst: Path, arrays: dict[str, np.ndarray], kmap: dict[str, dict[str, Any]],
                      items: list[Item], manifest: dict[str, Any]) -> None:
        """Every ROI's arrays, stacked (``kmap``: where each per-ROI key went)."""

    @abstractmethod
    def read_arrays(self, path: Path) -> dict[str, np.ndarray]:
        """Every array of one file, by name."""

    def write_item(self, folder, stem, arrays, manifest):
        dst = self.item_path(folder, stem)
        self.write_arrays(dst, arrays, manifest)
        return [dst]

    def read_item(self, folder, stem, manifest, models):
        path = self.item_path(folder, stem)
        return self.read_arrays(path) if path.exists() else None

    def write_combined(self, dst, items, models, manifest):
        arrays, kmap = combine_arrays(items)
        self.write_stacked(dst, arrays, kmap, items, manifest)
        return kmap

    def read_combined(self, path):
        return self.read_arrays(path)


class VectorFormat(Format):
    """Pooled vectors, one row per ROI with its polygon (``roi_footprint``). A subclass writes
    rows and reads back each model's column; inputs go to a side npz."""

    grid = False
    saves_inputs = False

    @abstractmethod
    def write_rows(self, dst: Path, rows: list[dict[str, Any]], models: Sequence[str], dims: dict[str, int],
                   file_meta: dict[str, Any]) -> None:
        """``rows``: ``{"name", "index", "status", "spatial", "emb": {model: vector or None}}``;
        ``dims``: each model's vector length; ``file_meta``: the manifest to store in the file."""

    @abstractmethod
    def read_rows(self, path: Path) -> dict[str, list[np.ndarray | None]]:
        """``{"embedding__<model key>": [float32 vector or None, one per row in index order]}``."""

    def write_item(self, folder, stem, arrays, manifest):
        models = list(model_entries(manifest))
        row = _row(manifest, arrays, models)
        dims = {m: int(a.shape[0]) for m, a in row["emb"].items() if a is not None}
        dst = self.item_path(folder, stem)
        self.write_rows(dst, [row], models, dims, slim_manifest(manifest))
        return [dst]

    def read_item(self, folder, stem, manifest, models):
        path = self.item_path(folder, stem)
        if not path.exists():
            return None
        return {k: v[0] for k, v in self.read_rows(path).items() if v and v[0] is not None}

    def write_combined(self, dst, items, models, manifest):
        rows, dims = [], {}
        for arrays, man in items:
            row = _row(man, arrays, models)
            dims.update({m: int(a.shape[0]) for m, a in row["emb"].items() if a is not None})
            rows.append(row)
        self.write_rows(dst, rows, models, dims, {k: v for k, v in manifest.items() if k != "items"})
        return {f"embedding__{sanitize_key(m)}": {"column": f"embedding__{sanitize_key(m)}"} for m in models}

    def read_combined(self, path):
        return {k: stacked_or_list(v) for k, v in self.read_rows(path).items()}


def _row(manifest: dict[str, Any], arrays: dict[str, np.ndarray], models: Sequence[str]) -> dict[str, Any]:
    return {"name": manifest["name"], "index": manifest["index"], "status": manifest["status"],
            "spatial": manifest["spatial"], "emb": {m: arrays.get(f"embedding__{sanitize_key(m)}") for m in models}}


# -- helpers the formats share -----------------------------------------------------------------
def model_entries(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An item manifest's per-model records, by model id."""
    return {m["model"]: m for m in manifest.get("models", [])}


def key_model(key: str) -> str:
    """The model part of an array key (``embedding__<model>`` -> ``<model>``)."""
    return key.split("__", 1)[1]


def input_info(manifest: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The input record (bands, CRS, transform...) of the input array ``key``."""
    return next((e["input"] for e in manifest.get("models", []) if (e.get("input") or {}).get("key") == key), None)


def slim_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without per-model embedding meta (kept in the JSON, too big for attributes)."""
    m = dict(manifest)
    m["models"] = [{k: v for k, v in e.items() if k != "meta"} for e in manifest.get("models", [])]
    return m


def roi_footprint_of(spatial_dict: dict[str, Any]):
    """The :class:`~...geo.Footprint` of an ROI stored in a manifest (the polygon the provider
    fetched: a PointBuffer's UTM square, a BBox's lon/lat rectangle)."""
    from ...geo import roi_footprint
    from ...specs import spatial_from_dict

    return roi_footprint(spatial_from_dict(spatial_dict))


def stack_rows(per_item: list[np.ndarray | None]) -> np.ndarray | None:
    """Stack along a new first axis, NaN where an item has nothing; None if shapes differ."""
    present = [a for a in per_item if a is not None]
    if not present:
        return None
    shape = present[0].shape
    if any(a.shape != shape for a in present):
        return None
    out = np.full((len(per_item),) + shape, np.nan, np.float32)
    for i, a in enumerate(per_item):
        if a is not None:
            out[i] = a
    return out


def stacked_or_list(per_item: list[np.ndarray | None]) -> Any:
    """:func:`stack_rows`, or the list itself when shapes differ."""
    st = stack_rows(per_item)
    return st if st is not None else per_item


def combine_arrays(items: list[Item]) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Per-ROI arrays -> combined arrays and a key map ``{per-item key: {...}}``.

    ``embedding__m`` -> ``embeddings__m`` and ``input_chw__m`` -> ``inputs_bchw__m``
    (``input_tchw__m`` -> ``inputs_btchw__m``), row i = ROI i, NaN rows for failures.
    Arrays whose shapes differ between ROIs stay per ROI as ``<key>__<index:05d>``.
    """
    keys: list[str] = []
    for arrays, _ in items:
        for k in arrays:
            if k not in keys:
                keys.append(k)
    out: dict[str, np.ndarray] = {}
    kmap: dict[str, dict[str, Any]] = {}
    for k in keys:
        head, model = k.split("__", 1)
        big = {"embedding": "embeddings", "input_chw": "inputs_bchw", "input_tchw": "inputs_btchw"}[head]
        per = [arrays.get(k) for arrays, _ in items]
        st = stack_rows(per)
        if st is not None:
            out[f"{big}__{model}"] = st
            kmap[k] = {"key": f"{big}__{model}", "stacked": True,
                       "missing": [i for i, a in enumerate(per) if a is None]}
        else:
            ks = {}
            for (_arrays, man), a in zip(items, per, strict=True):
                if a is not None:
                    kk = f"{k}__{int(man['index']):05d}"
                    out[kk] = a
                    ks[str(int(man["index"]))] = kk  # str: the same in JSON and in memory
            kmap[k] = {"keys": ks, "stacked": False}
    return out, kmap


__all__ = ["Format", "ArrayFormat", "VectorFormat", "Item", "model_entries", "key_model", "input_info",
           "slim_manifest", "roi_footprint_of", "stack_rows", "stacked_or_list", "combine_arrays"]
