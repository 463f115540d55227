"""Specs: what region, what time, what sensor, what output shape, how to fetch and prepare.

Names, signatures and defaults follow rs-embed's API reference exactly
(``BBox``, ``PointBuffer``, ``TemporalSpec``, ``SensorSpec``, ``OutputSpec``), plus
rs-embed 0.3's ``FetchSpec`` and ``InputPrepSpec`` and its ``SensorSpec`` fields for
Sentinel-1 (``docs/rs-embed-compat.md`` lists where 0.3 and the reference differ).
Every spec has ``validate()`` that raises :class:`SpecError` naming the bad
value, and ``to_dict()`` / ``from_dict()`` for manifests and QGIS settings.
"""
from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .errors import SpecError


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def asdict(spec: Any) -> dict[str, Any]:
    """A spec's fields as a dict: ``dataclasses.asdict`` for these flat specs (every field a
    number, a string, None or a tuple of strings: nothing to copy deeply), without its
    recursive copy, which a batch export paid for every ROI's manifest."""
    return {name: getattr(spec, name) for name in _field_names(type(spec))}

_SUPPORTED_CRS = ("EPSG:4326",)


def _check_number(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise SpecError(f"{name} must be finite, got {value!r}")
    return v


def _check_crs(crs: str) -> None:
    if str(crs).upper() not in _SUPPORTED_CRS:
        raise SpecError(
            f"crs must be 'EPSG:4326' (lon/lat degrees; reproject first), got {crs!r}"
        )


@dataclass(frozen=True)
class BBox:
    """An EPSG:4326 lon/lat bounding box."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float
    crs: str = "EPSG:4326"

    def validate(self) -> BBox:
        _check_crs(self.crs)
        minlon = _check_number("minlon", self.minlon)
        minlat = _check_number("minlat", self.minlat)
        maxlon = _check_number("maxlon", self.maxlon)
        maxlat = _check_number("maxlat", self.maxlat)
        for name, v, lim in (("minlon", minlon, 180), ("maxlon", maxlon, 180),
                             ("minlat", minlat, 90), ("maxlat", maxlat, 90)):
            if not -lim <= v <= lim:
                raise SpecError(f"{name} must be within [-{lim}, {lim}] degrees, got {v}")
        if not minlon < maxlon:
            raise SpecError(f"minlon must be < maxlon, got minlon={minlon}, maxlon={maxlon}")
        if not minlat < maxlat:
            raise SpecError(f"minlat must be < maxlat, got minlat={minlat}, maxlat={maxlat}")
        return self

    @property
    def center(self) -> tuple[float, float]:
        return ((self.minlon + self.maxlon) / 2.0, (self.minlat + self.maxlat) / 2.0)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "BBox", **asdict(self)}


@dataclass(frozen=True)
class PointBuffer:
    """A square ROI of half-side ``buffer_m`` metres centred at a lon/lat point."""

    lon: float
    lat: float
    buffer_m: float
    crs: str = "EPSG:4326"

    def validate(self) -> PointBuffer:
        _check_crs(self.crs)
        lon = _check_number("lon", self.lon)
        lat = _check_number("lat", self.lat)
        buf = _check_number("buffer_m", self.buffer_m)
        if not -180 <= lon <= 180:
            raise SpecError(f"lon must be within [-180, 180] degrees, got {lon}")
        if not -90 <= lat <= 90:
            raise SpecError(f"lat must be within [-90, 90] degrees, got {lat}")
        if buf <= 0:
            raise SpecError(f"buffer_m must be > 0, got {self.buffer_m}")
        return self

    @property
    def center(self) -> tuple[float, float]:
        return (self.lon, self.lat)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "PointBuffer", **asdict(self)}


SpatialSpec = BBox | PointBuffer


def spatial_from_dict(d: dict[str, Any]) -> SpatialSpec:
    kind = d.get("type")
    args = {k: v for k, v in d.items() if k != "type"}
    if kind == "BBox":
        return BBox(**args)
    if kind == "PointBuffer":
        return PointBuffer(**args)
    raise SpecError(f"spatial type must be 'BBox' or 'PointBuffer', got {kind!r}")


def validate_spatial(spatial: Any) -> SpatialSpec:
    if not isinstance(spatial, (BBox, PointBuffer)):
        raise SpecError(
            f"spatial must be a BBox or PointBuffer, got {type(spatial).__name__}: {spatial!r}"
        )
    return spatial.validate()


def _parse_date(name: str, value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        raise SpecError(f"{name} must be an ISO date string 'YYYY-MM-DD', got {value!r}")
    try:
        return _dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise SpecError(f"{name} must be an ISO date 'YYYY-MM-DD', got {value!r}") from None


_DATE_IN_TEXT = re.compile(r"((?:19|20)\d\d)[-_]?([01]\d)[-_]?([0-3]\d)")


def date_in_text(text: str | None) -> _dt.date | None:
    """The first ``YYYYMMDD`` / ``YYYY-MM-DD`` / ``YYYY_MM_DD`` date in a name or tag, if any."""
    for m in _DATE_IN_TEXT.finditer(text or ""):
        try:
            return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class TimeBin:
    """One sub-window ``[start, end)`` of a temporal window, with its midpoint."""

    start: _dt.date
    end: _dt.date

    @property
    def mid(self) -> _dt.date:
        return self.start + (self.end - self.start) / 2

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "mid": self.mid.isoformat()}


@dataclass(frozen=True, init=False)
class TemporalSpec:
    """A year or a half-open date range ``[start, end)``."""

    # ``year`` is both a field and the ``TemporalSpec.year(2022)`` constructor,
    # as in rs-embed, hence the hand-written ``__init__``.
    mode: Literal["year", "range"]
    year: int | None
    start: str | None
    end: str | None

    def __init__(self, mode: str, year: int | None = None,
                 start: str | None = None, end: str | None = None) -> None:
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "year", year)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def year(cls, year: int) -> TemporalSpec:  # type: ignore[override]
        return cls(mode="year", year=year).validate()

    @classmethod
    def range(cls, start: str, end: str) -> TemporalSpec:
        return cls(mode="range", start=start, end=end).validate()

    def validate(self) -> TemporalSpec:
        if self.mode == "year":
            if isinstance(self.year, bool) or not isinstance(self.year, int):
                raise SpecError(f"year must be an int for mode='year', got {self.year!r}")
            if not 1970 <= self.year <= 2100:
                raise SpecError(f"year must be within 1970..2100, got {self.year}")
            return self
        if self.mode == "range":
            if self.start is None or self.end is None:
                raise SpecError(
                    f"mode='range' needs start and end, got start={self.start!r}, end={self.end!r}"
                )
            s = _parse_date("start", self.start)
            e = _parse_date("end", self.end)
            if not s < e:
                raise SpecError(
                    f"start must be before end (the window is [start, end), end excluded), "
                    f"got start={self.start!r}, end={self.end!r}"
                )
            return self
        raise SpecError(f"mode must be 'year' or 'range', got {self.mode!r}")

    def bounds(self) -> tuple[_dt.date, _dt.date]:
        """The half-open window ``[start, end)`` as dates."""
        self.validate()
        if self.mode == "year":
            return _dt.date(self.year, 1, 1), _dt.date(self.year + 1, 1, 1)
        return _parse_date("start", self.start), _parse_date("end", self.end)

    @property
    def input_time(self) -> _dt.date:
        """Midpoint of the window: metadata (and a side input for some models)."""
        s, e = self.bounds()
        return s + (e - s) / 2

    def split(self, n: int) -> list[TimeBin]:
        """Split the window into ``n`` contiguous bins of (near) equal length."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(f"number of time bins must be a positive int, got {n!r}")
        s, e = self.bounds()
        days = (e - s).days
        edges = [s + _dt.timedelta(days=round(i * days / n)) for i in range(n + 1)]
        bins = []
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            if b <= a:  # window shorter than n days: bins of one day at least
                b = a + _dt.timedelta(days=1)
            bins.append(TimeBin(a, b))
        return bins

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TemporalSpec:
        return cls(**d).validate()


def normalize_temporal(temporal: TemporalSpec | None,
                       default: TemporalSpec | None = None) -> TemporalSpec:
    """``year``/``None`` become a range, as rs-embed's shared helper does."""
    if temporal is None:
        if default is None:
            raise SpecError("temporal is required for this model, got None")
        temporal = default
    if not isinstance(temporal, TemporalSpec):
        raise SpecError(f"temporal must be a TemporalSpec, got {temporal!r}")
    s, e = temporal.bounds()
    return TemporalSpec(mode="range", start=s.isoformat(), end=e.isoformat())


#: Sentinel-1 GRD products: the linear-scale one and the dB one (``use_float_linear`` picks)
S1_FLOAT = "COPERNICUS/S1_GRD_FLOAT"
S1_DB = "COPERNICUS/S1_GRD"
S1_ORBITS = ("ASCENDING", "DESCENDING")


def is_sentinel1(collection: str) -> bool:
    return str(collection).strip().upper() in (S1_FLOAT, S1_DB)


@dataclass(frozen=True)
class SensorSpec:
    """Which collection and bands to fetch, at what resolution and compositing.

    The fields after ``check_save_dir`` are rs-embed 0.3's: ``modality`` names the input
    branch of a model with several (``"s2"``, ``"s1"``); the others filter Sentinel-1 scenes
    (``COPERNICUS/S1_GRD[_FLOAT]``) by their metadata, which only the Earth Engine backend has
    (other backends read the radar files they have, and refuse an orbit or a strict IW filter):
    ``orbit`` keeps one pass (``"ASCENDING"``/``"DESCENDING"``, None: both),
    ``use_float_linear=False`` reads dB backscatter (``S1_GRD``) where the sensor names the
    linear product (``S1_GRD_FLOAT``; a sensor naming ``S1_GRD`` reads dB anyway),
    ``s1_require_iw`` keeps Interferometric Wide swath scenes only and
    ``s1_relax_iw_on_empty`` drops that filter when it leaves no scene.
    """

    collection: str
    bands: tuple[str, ...]
    scale_m: int = 10
    cloudy_pct: int = 30
    fill_value: float = 0.0
    composite: Literal["median", "mosaic"] = "median"
    check_input: bool = False
    check_raise: bool = True
    check_save_dir: str | None = None
    modality: str | None = None
    orbit: str | None = None
    use_float_linear: bool = True
    s1_require_iw: bool = True
    s1_relax_iw_on_empty: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.bands, list):
            object.__setattr__(self, "bands", tuple(self.bands))

    def validate(self) -> SensorSpec:
        if not isinstance(self.collection, str) or not self.collection.strip():
            raise SpecError(f"collection must be a non-empty string, got {self.collection!r}")
        if isinstance(self.bands, str) or not isinstance(self.bands, tuple) or not self.bands:
            raise SpecError(f"bands must be a non-empty tuple of band names, got {self.bands!r}")
        for b in self.bands:
            if not isinstance(b, str) or not b.strip():
                raise SpecError(f"every band must be a non-empty string, got {b!r} in {self.bands!r}")
        if len(set(self.bands)) != len(self.bands):
            raise SpecError(f"bands must not repeat, got {self.bands!r}")
        scale = _check_number("scale_m", self.scale_m)
        if scale <= 0:
            raise SpecError(f"scale_m must be > 0, got {self.scale_m}")
        cp = _check_number("cloudy_pct", self.cloudy_pct)
        if not 0 <= cp <= 100:
            raise SpecError(f"cloudy_pct must be within 0..100, got {self.cloudy_pct}")
        fv = self.fill_value
        if not isinstance(fv, (int, float)) or isinstance(fv, bool):
            raise SpecError(f"fill_value must be a number, got {fv!r}")
        if self.composite not in ("median", "mosaic"):
            raise SpecError(f"composite must be 'median' or 'mosaic', got {self.composite!r}")
        if self.modality is not None and (not isinstance(self.modality, str) or not self.modality.strip()):
            raise SpecError(f"modality must be a modality name such as 's2' or 's1', or None, got {self.modality!r}")
        if self.orbit is not None and str(self.orbit).strip().upper() not in S1_ORBITS:
            raise SpecError(f"orbit must be 'ASCENDING', 'DESCENDING' or None (both passes), got {self.orbit!r}")
        for name in ("use_float_linear", "s1_require_iw", "s1_relax_iw_on_empty"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"{name} must be True or False, got {getattr(self, name)!r}")
        return self

    @property
    def is_sentinel1(self) -> bool:
        return is_sentinel1(self.collection)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bands"] = list(self.bands)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SensorSpec:
        d = dict(d)
        d["bands"] = tuple(d.get("bands") or ())
        return cls(**d).validate()


@dataclass(frozen=True)
class OutputSpec:
    """A pooled vector ``(D,)`` or a dense grid ``(D, H, W)``.

    Validated when built (as rs-embed 0.3 does), so a typo such as ``mode="gird"``
    fails at once. ``scale_m`` is the reference's grid cell size; rs-embed 0.3 has no
    such field (it sets the resolution with ``FetchSpec(scale_m=...)``), so
    ``OutputSpec.pooled(scale_m=...)`` is a :class:`SpecError` as in 0.3, while
    ``OutputSpec.grid(scale_m=...)`` keeps the reference's meaning.
    """

    mode: Literal["grid", "pooled"]
    scale_m: int = 10
    pooling: Literal["mean", "max"] = "mean"
    grid_orientation: Literal["north_up", "native"] = "north_up"

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def pooled(cls, pooling: str = "mean", **kwargs: Any) -> OutputSpec:
        if "scale_m" in kwargs:
            raise SpecError(
                f"OutputSpec.pooled() takes no scale_m (got scale_m={kwargs['scale_m']!r}): a pooled vector "
                f"has no cells; set the input resolution with fetch=FetchSpec(scale_m=...) or "
                f"SensorSpec(scale_m=...)")
        if kwargs:
            raise SpecError(f"OutputSpec.pooled() got unexpected keyword(s) {sorted(kwargs)}; it takes pooling=")
        return cls(mode="pooled", pooling=pooling)  # type: ignore[arg-type]

    @classmethod
    def grid(cls, scale_m: int = 10, grid_orientation: str = "north_up", **kwargs: Any) -> OutputSpec:
        if kwargs:
            raise SpecError(f"OutputSpec.grid() got unexpected keyword(s) {sorted(kwargs)}; it takes "
                            f"scale_m= and grid_orientation=")
        return cls(mode="grid", scale_m=scale_m, grid_orientation=grid_orientation)  # type: ignore[arg-type]

    def validate(self) -> OutputSpec:
        if self.mode not in ("grid", "pooled"):
            raise SpecError(f"output mode must be 'grid' or 'pooled', got {self.mode!r}")
        scale = _check_number("scale_m", self.scale_m)
        if scale <= 0:
            raise SpecError(f"output scale_m must be > 0, got {self.scale_m}")
        if self.pooling not in ("mean", "max"):
            raise SpecError(f"pooling must be 'mean' or 'max', got {self.pooling!r}")
        if self.grid_orientation not in ("north_up", "native"):
            raise SpecError(
                f"grid_orientation must be 'north_up' or 'native', got {self.grid_orientation!r}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputSpec:
        return cls(**d).validate()


@dataclass(frozen=True)
class FetchSpec:
    """rs-embed 0.3: change how a model's default sensor is fetched, field by field.

    Each field that is not None replaces the same field of the model's default
    :class:`SensorSpec` (or of its modality's); the bands stay the model's. Use it
    instead of a whole ``sensor=`` (giving both is an error).
    """

    scale_m: int | None = None
    cloudy_pct: int | None = None
    fill_value: float | None = None
    composite: Literal["median", "mosaic"] | None = None

    def validate(self) -> FetchSpec:
        if self.scale_m is not None and _check_number("FetchSpec.scale_m", self.scale_m) <= 0:
            raise SpecError(f"FetchSpec.scale_m must be > 0, got {self.scale_m}")
        if self.cloudy_pct is not None and not 0 <= _check_number("FetchSpec.cloudy_pct", self.cloudy_pct) <= 100:
            raise SpecError(f"FetchSpec.cloudy_pct must be within 0..100, got {self.cloudy_pct}")
        if self.fill_value is not None:
            _check_number("FetchSpec.fill_value", self.fill_value)
        if self.composite not in (None, "median", "mosaic"):
            raise SpecError(f"FetchSpec.composite must be 'median', 'mosaic' or None, got {self.composite!r}")
        return self

    def apply(self, sensor: SensorSpec) -> SensorSpec:
        """``sensor`` with this spec's non-None fields."""
        self.validate()
        changes = {k: v for k, v in asdict(self).items() if v is not None}
        return replace(sensor, **changes) if changes else sensor

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


INPUT_PREP_MODES = ("auto", "resize", "tile")


@dataclass(frozen=True)
class InputPrepSpec:
    """rs-embed 0.3: how an input larger than the model's image size is prepared.

    ``resize``: the whole patch is resized to the model's input size; ``tile``: cut
    into tiles of the model's input size at native resolution, each embedded, the grids
    stitched; ``auto``: tile a grid output that needs 2 to ``max_tiles`` tiles,
    otherwise resize. How these map onto the engine (tile size, stride, padding) is
    decided in one place, ``call_shapes.input_prep``.
    """

    mode: Literal["auto", "resize", "tile"] = "tile"
    tile_size: int | None = None
    tile_stride: int | None = None
    max_tiles: int = 64
    max_tiles_hard: int = 1024
    pad_edges: bool = True
    tile_snap_frac: float = 0.1

    @staticmethod
    def auto(*, tile_size: int | None = None, tile_stride: int | None = None, max_tiles: int = 64,
             max_tiles_hard: int = 1024, pad_edges: bool = True, tile_snap_frac: float = 0.1) -> InputPrepSpec:
        return InputPrepSpec("auto", tile_size, tile_stride, max_tiles, max_tiles_hard, pad_edges, tile_snap_frac)

    @staticmethod
    def resize() -> InputPrepSpec:
        return InputPrepSpec(mode="resize")

    @staticmethod
    def tile(*, tile_size: int | None = None, tile_stride: int | None = None, max_tiles: int = 64,
             max_tiles_hard: int = 1024, pad_edges: bool = True, tile_snap_frac: float = 0.1) -> InputPrepSpec:
        return InputPrepSpec("tile", tile_size, tile_stride, max_tiles, max_tiles_hard, pad_edges, tile_snap_frac)

    def validate(self) -> InputPrepSpec:
        if self.mode not in INPUT_PREP_MODES:
            raise SpecError(f"InputPrepSpec.mode must be one of {INPUT_PREP_MODES}, got {self.mode!r}")
        for name in ("tile_size", "tile_stride"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise SpecError(f"InputPrepSpec.{name} must be a positive int or None, got {v!r}")
        for name in ("max_tiles", "max_tiles_hard"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"InputPrepSpec.{name} must be an int >= 1, got {v!r}")
        if not 0 <= _check_number("InputPrepSpec.tile_snap_frac", self.tile_snap_frac) <= 0.5:
            raise SpecError(f"InputPrepSpec.tile_snap_frac must be within [0, 0.5], got {self.tile_snap_frac}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = [
    "BBox", "PointBuffer", "SpatialSpec", "TemporalSpec", "TimeBin", "SensorSpec",
    "OutputSpec", "FetchSpec", "InputPrepSpec", "INPUT_PREP_MODES", "S1_FLOAT", "S1_DB", "S1_ORBITS",
    "is_sentinel1", "spatial_from_dict", "validate_spatial", "normalize_temporal",
]
