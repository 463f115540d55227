"""The export format registry: output formats by name (``npz``, ``geotiff``, ...), imported when used.

    register_format("npz", "rs_embed_qgis.engine.export.formats.npz:NpzFormat")
    get_format("nc")          # the NetCDFFormat instance (names and aliases, any case)
    list_formats()            # [FormatInfo(name, available, error, ext, ...)]

A format is a :class:`~.base.Format` subclass in its own module, declaring what it is (name,
extension, layouts, pooled / grid, whether it holds inputs, what it needs) and writing and
reading its files; adding one is that module plus one :func:`register_format` line at the end
of this file (or a call at run time). Its module is imported on first use, so a format whose
module does not import breaks only itself: :func:`list_formats` shows why, and using it raises
a :class:`~...errors.SpecError` naming it. ``export/writers.py`` runs exports through it and
``export/load.py`` reads them back through it.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import SpecError
from ...imports import TargetCache
from .base import ArrayFormat, Format, VectorFormat


@dataclass(frozen=True)
class FormatEntry:
    """Where a format's class lives (nothing imported); picklable, so Dask workers can register
    a format registered at run time."""

    name: str
    target: str | type          # "package.module:Class", or the class itself


@dataclass(frozen=True)
class FormatInfo:
    """What :func:`list_formats` tells about one format (its facts, when its module imports)."""

    name: str
    available: bool
    error: str | None           # why it cannot be used here: its import error or what is missing
    ext: str | None = None
    aliases: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    saves_inputs: bool | None = None
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""


_lock = threading.RLock()
_entries: dict[str, FormatEntry] = {}
_formats: dict[str, Format] = {}
_classes = TargetCache("format", SpecError)  # the Format classes, imported on first use


def register_format(name: str, target: str | type) -> None:
    """Make ``name`` a format: ``target`` is ``"module:Class"`` (imported on first use) or a
    :class:`Format` subclass whose ``name`` is ``name``."""
    key = str(name).strip().lower()
    if not key:
        raise SpecError(f"a format name must be a non-empty string, got {name!r}")
    if isinstance(target, str) and ":" not in target:
        raise SpecError(f"format target must look like 'package.module:Class', got {target!r}")
    with _lock:
        _entries[key] = FormatEntry(key, target)
        _formats.pop(key, None)
        _classes.forget(key)


def ensure_registered(entry: FormatEntry) -> None:
    """Register ``entry`` unless its name is known (a Dask worker, for a format registered at run time)."""
    with _lock:
        if entry.name not in _entries:
            register_format(entry.name, entry.target)


def format_entry(name: str) -> FormatEntry:
    """The registry entry of a format name or alias."""
    return _entries[get_format(name).name]


def format_names() -> tuple[str, ...]:
    """Every registered format name, in registration order (available or not)."""
    with _lock:
        return tuple(_entries)


def _load(key: str) -> Format:
    """The format's instance, importing its module once; a failed import is recorded (and cleaned up)."""
    with _lock:
        fmt = _formats.get(key)
        if fmt is not None:
            return fmt
        fmt = _classes.load(key, _entries[key].target)()
        if not isinstance(fmt, Format) or fmt.name != key:
            raise SpecError(f"format {key!r} is registered with {_entries[key].target!r}, which is not a Format "
                            f"named {key!r} (got {type(fmt).__name__} named {getattr(fmt, 'name', None)!r})")
        _formats[key] = fmt
        return fmt


def get_format(name: str) -> Format:
    """The format called ``name`` (a registered name or one of a format's aliases, any case)."""
    key = str(name).lower().strip()
    with _lock:
        if key in _entries:
            return _load(key)
        for k in _entries:  # an alias: only formats whose module imports can answer
            try:
                fmt = _load(k)
            except SpecError:
                continue
            if key in fmt.aliases:
                return fmt
    raise SpecError(f"format must be one of {format_names()}, got {name!r}")


def list_formats() -> list[FormatInfo]:
    """Every format with its facts and whether it can be used here and, if not, why (imports
    the format modules, not the libraries they need)."""
    out = []
    for key in format_names():
        try:
            f = _load(key)
        except SpecError as exc:
            out.append(FormatInfo(key, False, _classes.errors.get(key, str(exc))))
            continue
        missing = f.missing()
        error = f"needs {', '.join(missing)}" + (f" ({f.install})" if f.install else "") if missing else None
        out.append(FormatInfo(
            key, error is None, error, f.ext, tuple(f.aliases),
            tuple(lay for lay, ok in (("per_item", f.per_item), ("combined", f.combined)) if ok),
            tuple(mode for mode, ok in (("pooled", f.pooled), ("grid", f.grid)) if ok),
            f.saves_inputs, tuple(f.requires), f.install, f.description))
    return out


class _Names(Sequence):
    """The registered format names as a read-only sequence read at each use, so a format
    registered at run time is in ``FORMATS`` too."""

    def __getitem__(self, i: Any) -> Any:
        return format_names()[i]

    def __len__(self) -> int:
        return len(format_names())

    def __eq__(self, other: object) -> bool:
        return format_names() == (tuple(other) if isinstance(other, (list, tuple, _Names)) else other)

    __hash__ = None  # type: ignore[assignment] - changes as formats are registered

    def __repr__(self) -> str:
        return repr(format_names())


#: every registered format name (``rs_embed_qgis.engine.export.FORMATS``)
FORMATS: Sequence[str] = _Names()


# -- the built-in formats: one line each ---------------------------------------------------------
register_format("npz", f"{__name__}.npz:NpzFormat")
register_format("geotiff", f"{__name__}.geotiff:GeoTIFFFormat")
register_format("netcdf", f"{__name__}.netcdf:NetCDFFormat")
register_format("zarr", f"{__name__}.zarr:ZarrFormat")
register_format("geoparquet", f"{__name__}.geoparquet:GeoParquetFormat")
register_format("gpkg", f"{__name__}.gpkg:GpkgFormat")

__all__ = ["register_format", "get_format", "list_formats", "format_names", "format_entry", "ensure_registered",
           "FORMATS", "Format", "ArrayFormat", "VectorFormat", "FormatEntry", "FormatInfo"]
