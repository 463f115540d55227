"""Specs: what region, what time, what sensor, what output shape.

Names, signatures and defaults follow rs-embed's API reference exactly
(``BBox``, ``PointBuffer``, ``TemporalSpec``, ``SensorSpec``, ``OutputSpec``).
Every spec has ``validate()`` that raises :class:`SpecError` naming the bad
value, and ``to_dict()`` / ``from_dict()`` for manifests and QGIS settings.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .errors import SpecError

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


@dataclass(frozen=True)
class SensorSpec:
    """Which collection and bands to fetch, at what resolution and compositing."""

    collection: str
    bands: tuple[str, ...]
    scale_m: int = 10
    cloudy_pct: int = 30
    fill_value: float = 0.0
    composite: Literal["median", "mosaic"] = "median"
    check_input: bool = False
    check_raise: bool = True
    check_save_dir: str | None = None

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
        return self

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
    """A pooled vector ``(D,)`` or a dense grid ``(D, H, W)``."""

    mode: Literal["grid", "pooled"]
    scale_m: int = 10
    pooling: Literal["mean", "max"] = "mean"
    grid_orientation: Literal["north_up", "native"] = "north_up"

    @classmethod
    def pooled(cls, pooling: str = "mean") -> OutputSpec:
        return cls(mode="pooled", pooling=pooling).validate()  # type: ignore[arg-type]

    @classmethod
    def grid(cls, scale_m: int = 10, grid_orientation: str = "north_up") -> OutputSpec:
        return cls(mode="grid", scale_m=scale_m,
                   grid_orientation=grid_orientation).validate()  # type: ignore[arg-type]

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


__all__ = [
    "BBox", "PointBuffer", "SpatialSpec", "TemporalSpec", "TimeBin", "SensorSpec",
    "OutputSpec", "spatial_from_dict", "validate_spatial", "normalize_temporal",
]
