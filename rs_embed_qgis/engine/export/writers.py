"""Writing an export's files, whatever the format: the checks before any work
(:func:`check_format`), an ROI's files (:func:`write_item`), one file for every ROI
(:func:`write_combined`) and reading them back (:func:`read_item`, :func:`read_combined`, for
``load_export``). Each format is a module of ``formats/`` found through the format registry;
what a format does not hold itself - the inputs of a vector format - goes to a side
``<stem>.inputs.npz`` here, so nothing is dropped.

Every format writes a temporary file (or folder, for Zarr) beside its target and renames it into
place only when it reads back, so a crash never leaves a half file under a real name.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from .formats import FORMATS, get_format
from .formats.base import Item, combine_arrays
from .formats.npz import read_npz, write_npz

LAYOUTS = ("per_item", "combined")


class _Extensions(Mapping):
    """``{format name: file extension}`` of every registered format, read at each use."""

    def __getitem__(self, fmt: str) -> str:
        return get_format(fmt).ext

    def __iter__(self) -> Iterator[str]:
        return iter(FORMATS)

    def __len__(self) -> int:
        return len(FORMATS)


#: ``EXT["netcdf"] == ".nc"``
EXT: Mapping[str, str] = _Extensions()


def _choices(wanted: str) -> str:
    """The formats that can store ``wanted`` ("pooled" or "grid"), for an error message."""
    ok = []
    for name in FORMATS:
        try:
            if getattr(get_format(name), wanted):
                ok.append(name)
        except SpecError:  # a format whose module does not import is no advice
            continue
    return "/".join(f"{n!r}" for n in ok)


def check_format(fmt: str, layout: str, output_mode: str, save_inputs: bool) -> str:
    """The format's name, after checking it can store this output in this layout here (its
    libraries installed) - before any work is done; a :class:`SpecError` saying why not."""
    f = get_format(fmt)
    name = f.name
    if output_mode == "pooled" and not f.pooled:
        raise SpecError(f"format={name!r} writes grid embeddings; got a pooled output. "
                        f"Use OutputSpec.grid(...) or a format for vectors: {_choices('pooled')}")
    if output_mode == "grid" and not f.grid:
        raise SpecError(f"format={name!r} stores pooled vectors; got a grid output. "
                        f"Use OutputSpec.pooled() or a format for grids: {_choices('grid')}")
    if layout == "combined" and not f.combined:
        raise SpecError(f"format={name!r} writes files per ROI; "
                        "use layout='per_item' (out_dir=...), not layout='combined'")
    if layout == "per_item" and not f.per_item:
        raise SpecError(f"format={name!r} writes one file for every ROI; "
                        "use layout='combined' (out_path=...), not layout='per_item'")
    missing = f.missing()
    if missing:
        raise SpecError(f"format={name!r} needs {', '.join(missing)}: {f.install}")
    return name


def path_size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def is_temp_name(name: str) -> bool:
    """Names of our temporary files/folders (``.<target>.<random><ext>|.tmp|.old``)."""
    return name.startswith(".") and name.count(".") >= 2


def _inputs_side(folder: Path, stem: str) -> Path:
    """Where the inputs of a format that holds none go."""
    return folder / f"{stem}.inputs.npz"


def _split_inputs(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    inputs = {k: v for k, v in arrays.items() if k.startswith("input_")}
    return {k: v for k, v in arrays.items() if k not in inputs}, inputs


# -- per item ----------------------------------------------------------------------------------
def item_files(out_dir: Path, name: str, fmt: str, models: Sequence[str], save_embeddings: bool) -> list[Path]:
    """The data files whose presence proves the item written (resume without manifests)."""
    return get_format(fmt).item_files(out_dir, name, models, save_embeddings)


def write_item(out_dir: Path, fmt: str, name: str, arrays: dict[str, np.ndarray],
               manifest: dict[str, Any]) -> list[Path]:
    """Write one ROI's arrays into files named ``name`` (the ROI name's safe form; the name
    itself is ``manifest["name"]``); returns the files written (manifest not included)."""
    f = get_format(fmt)
    if f.saves_inputs:
        return f.write_item(out_dir, name, arrays, manifest)
    embeddings, inputs = _split_inputs(arrays)
    files = f.write_item(out_dir, name, embeddings, manifest)
    if inputs:
        side = _inputs_side(out_dir, name)
        write_npz(side, inputs)
        files.append(side)
    return files


def read_item(folder: Path, fmt: str, name: str, manifest: dict[str, Any] | None,
              models: Sequence[str]) -> dict[str, np.ndarray]:
    """One ROI's arrays by per-item key; {} for an item never written (a failed ROI)."""
    f = get_format(fmt)
    arrays = f.read_item(folder, name, manifest, models)
    if arrays is None:
        return {}
    side = _inputs_side(folder, name)
    if not f.saves_inputs and side.exists():
        arrays.update(read_npz(side))
    return arrays


# -- combined --------------------------------------------------------------------------------
def write_combined(dst: Path, fmt: str, items: list[Item], models: Sequence[str],
                   manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Write all ROIs into one file; returns the key map stored in the manifest."""
    f = get_format(fmt)
    if f.saves_inputs:
        return f.write_combined(dst, items, models, manifest)
    split = [(_split_inputs(arrays), man) for arrays, man in items]
    kmap = f.write_combined(dst, [(emb, man) for (emb, _), man in split], models, manifest)
    inputs = [(inp, man) for (_, inp), man in split]
    if not any(inp for inp, _ in inputs):
        return kmap
    arrays, input_keys = combine_arrays(inputs)
    write_npz(_inputs_side(dst.parent, dst.stem), arrays)
    return {**input_keys, **kmap}


def read_combined(path: Path, fmt: str) -> dict[str, Any]:
    """Every array (or column of rows) of a combined file, its side file's inputs included."""
    f = get_format(fmt)
    arrays = f.read_combined(path)
    side = _inputs_side(path.parent, path.stem)
    if not f.saves_inputs and side.exists():
        arrays.update(read_npz(side))
    return arrays


__all__ = ["FORMATS", "LAYOUTS", "EXT", "check_format", "path_size", "is_temp_name", "item_files",
           "write_item", "read_item", "write_combined", "read_combined"]
