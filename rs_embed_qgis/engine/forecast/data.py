"""GreenEarthNet (EarthNet2021x) minicubes -> the forecaster's inputs and packed targets.

Layout read (as published by the EarthNet toolkit and earthnet-models-pytorch,
see docs/forecast.md): one NetCDF per minicube, daily ``time`` axis (150 days in
the train/``*_chopped`` cubes), spatial dims ``lat``/``lon`` (or ``y``/``x``),

* ``s2_B02``, ``s2_B03``, ``s2_B04``, ``s2_B8A`` (time, lat, lon): reflectance,
  observed every 5th day (day index 4, 9, ...), NaN on the other days;
* ``s2_dlmask`` (0 = clear) and ``s2_SCL`` (clear classes 1, 2, 4, 5, 6, 7),
  the GreenEarthNet cloud mask; the older ``s2_mask`` (0 = clear) is the fallback;
* ``eobs_tg``, ``eobs_tn``, ``eobs_tx``, ``eobs_rr``, ``eobs_pp``, ``eobs_hu``,
  ``eobs_qq`` (time): E-OBS daily weather at the cube centre;
* ``esawc_lc`` (lat, lon): ESA WorldCover class codes (10, 20, ... 100).

Sampling follows the reference: 10 input frames every 5th day from day 4
(days 4..49), 20 target frames from day 54 (days 54..149).
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProviderError, SpecError

S2_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B8A")
S2_VARS: tuple[str, ...] = tuple(f"s2_{b}" for b in S2_BANDS)
SCL_CLEAR: tuple[int, ...] = (1, 2, 4, 5, 6, 7)
EOBS_VARS: tuple[str, ...] = ("tg", "tn", "tx", "rr", "pp", "hu", "qq")
# Means and standard deviations of the E-OBS variables over EarthNet2021x, as used by
# earthnet-models-pytorch (data/en21x_data.py); the same units as the minicubes.
EOBS_MEAN = {"tg": 8.90661030749754, "hu": 77.54440854529798, "pp": 1014.330962704611,
             "qq": 126.47924227500346, "rr": 1.7713217310829938, "tn": 4.770701430461286,
             "tx": 13.567999825718509}
EOBS_STD = {"tg": 9.75620252236597, "hu": 13.511387994026359, "pp": 10.262645403460999,
            "qq": 97.05522895011327, "rr": 4.147967261223076, "tn": 9.044987677752898,
            "tx": 11.08198777356161}
WEATHER_AGGREGATIONS = ("min_anomaly", "max_anomaly", "mean_climatology")
CLIMATOLOGY_WINDOW_DAYS = 21
# ESA WorldCover codes -> one-hot channel. Mangroves (95) share the wetland channel:
# the reference uses 10 channels for WorldCover's 11 classes and Europe has no mangroves.
WORLDCOVER_CODES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
WORLDCOVER_NAMES: tuple[str, ...] = ("tree cover", "shrubland", "grassland", "cropland", "built-up",
                                     "bare / sparse vegetation", "snow and ice", "permanent water",
                                     "herbaceous wetland (+ mangroves)", "moss and lichen")
FIRST_FRAME_DAY = 4
FRAME_STEP_DAYS = 5
CONTEXT_FRAMES = 10
TARGET_FRAMES = 20
YEAR_ORIGIN, YEAR_SPAN = 2015, 10.0   # temporal_metadata[0] = (year - 2015) / 10
TARGET_CHANNELS = ("cloudmask", "delta_B02", "delta_B03", "delta_B04", "delta_B8A",
                   "bap_B02", "bap_B03", "bap_B04", "bap_B8A")


# ---------------------------------------------------------------- normalisation
@dataclass
class NormStats:
    """Global per-band 2nd and 98th percentiles of reflectance: ``x' = (x - p2) / (p98 - p2)``."""

    p2: tuple[float, ...]
    p98: tuple[float, ...]
    source: str = ""

    def __post_init__(self) -> None:
        self.p2 = tuple(float(v) for v in self.p2)
        self.p98 = tuple(float(v) for v in self.p98)
        if len(self.p2) != len(S2_BANDS) or len(self.p98) != len(S2_BANDS):
            raise SpecError(f"NormStats needs {len(S2_BANDS)} values per percentile, got "
                            f"p2={self.p2!r}, p98={self.p98!r}")
        bad = [b for b, lo, hi in zip(S2_BANDS, self.p2, self.p98, strict=True) if not hi > lo]
        if bad:
            raise SpecError(f"NormStats p98 must exceed p2 for every band; not so for {bad}: "
                            f"p2={self.p2!r}, p98={self.p98!r}")

    def _arrays(self, ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        shape = [1] * ndim
        shape[axis] = len(S2_BANDS)
        return (np.asarray(self.p2, np.float32).reshape(shape),
                np.asarray(self.p98, np.float32).reshape(shape))

    def normalize(self, x: np.ndarray, axis: int = -3) -> np.ndarray:
        lo, hi = self._arrays(x.ndim, axis)
        return ((x - lo) / (hi - lo)).astype(np.float32)

    def denormalize(self, x: np.ndarray, axis: int = -3) -> np.ndarray:
        lo, hi = self._arrays(x.ndim, axis)
        return (x * (hi - lo) + lo).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"p2": list(self.p2), "p98": list(self.p98), "bands": list(S2_BANDS), "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NormStats:
        return cls(d["p2"], d["p98"], d.get("source", ""))


# ---------------------------------------------------------------- reading
@dataclass
class MinicubeArrays:
    """One minicube's pixels at its Sentinel-2 frames, north-up, channels-first.

    ``reflectance`` (N, 4, H, W) float32 in reflectance units (0..1), NaN where
    missing; ``clear`` (N, H, W) bool; ``frame_dates`` N dates; ``landcover``
    (H, W) WorldCover codes or None; ``weather`` variable -> daily values on
    ``weather_dates`` (or empty).
    """

    reflectance: np.ndarray
    clear: np.ndarray
    frame_dates: list[_dt.date]
    landcover: np.ndarray | None = None
    weather: dict[str, np.ndarray] = field(default_factory=dict)
    weather_dates: list[_dt.date] = field(default_factory=list)
    transform: tuple[float, ...] | None = None   # rasterio/affine order a, b, c, d, e, f
    crs: str | None = None
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = np.asarray(self.reflectance, np.float32)
        if r.ndim != 4 or r.shape[1] != len(S2_BANDS):
            raise SpecError(f"reflectance must be (frames, {len(S2_BANDS)}, H, W) for bands {S2_BANDS}, "
                            f"got shape {r.shape}")
        c = np.asarray(self.clear, bool)
        if c.shape != (r.shape[0],) + r.shape[2:]:
            raise SpecError(f"clear mask must be {(r.shape[0],) + r.shape[2:]}, got {c.shape}")
        if len(self.frame_dates) != r.shape[0]:
            raise SpecError(f"{r.shape[0]} frames but {len(self.frame_dates)} frame dates")
        if self.landcover is not None and np.shape(self.landcover) != r.shape[2:]:
            raise SpecError(f"landcover must be {r.shape[2:]} (H, W), got {np.shape(self.landcover)}")
        self.reflectance, self.clear = r, c & np.isfinite(r).all(axis=1)

    def window(self, start: int, n: int | None = None) -> MinicubeArrays:
        """The frames ``start .. start + n`` (all after ``start`` when ``n`` is None)."""
        total = self.reflectance.shape[0]
        if not 0 <= start < total:
            raise SpecError(f"start frame {start} outside the cube's {total} Sentinel-2 frames")
        sl = slice(start, None if n is None else start + n)
        return MinicubeArrays(self.reflectance[sl], self.clear[sl], self.frame_dates[sl], self.landcover,
                              self.weather, self.weather_dates, self.transform, self.crs, self.name,
                              dict(self.meta, start_frame=start))

    @property
    def shape_hw(self) -> tuple[int, int]:
        return tuple(self.reflectance.shape[2:])  # type: ignore[return-value]


def _to_date(v: Any) -> _dt.date:
    return np.datetime64(v, "D").astype(_dt.date)


def spatial_dims(ds: Any) -> tuple[str, str]:
    """``("lat", "lon")`` or ``("y", "x")``, whichever the minicube uses."""
    for ydim, xdim in (("lat", "lon"), ("y", "x"), ("latitude", "longitude")):
        if ydim in ds.dims and xdim in ds.dims:
            return ydim, xdim
    raise ProviderError(f"minicube has no lat/lon or y/x dimensions; dims are {dict(ds.sizes)}")


def _crs_of(ds: Any, ydim: str) -> str | None:
    if ydim in ("lat", "latitude"):
        return "EPSG:4326"
    for key in ("crs", "epsg", "spatial_ref"):
        v = ds.attrs.get(key)
        if v:
            return f"EPSG:{int(v)}" if str(v).isdigit() else str(v)
    for var in ("spatial_ref", "crs"):
        if var in ds.variables:
            a = ds[var].attrs
            for key in ("crs_wkt", "spatial_ref"):
                if a.get(key):
                    return str(a[key])
            if a.get("epsg"):
                return f"EPSG:{int(a['epsg'])}"
    return None


def clear_sky_mask(ds: Any, time_index: Any) -> np.ndarray:
    """GreenEarthNet's clear-sky mask: ``s2_dlmask < 1`` and ``s2_SCL`` in 1, 2, 4, 5, 6, 7.

    Falls back to ``s2_mask == 0`` (EarthNet2021x) and then to SCL alone.
    """
    ydim, xdim = spatial_dims(ds)

    def arr(name: str) -> np.ndarray:
        return ds[name].isel(time=time_index).transpose("time", ydim, xdim).values

    if "s2_dlmask" in ds and "s2_SCL" in ds:
        dl, scl = arr("s2_dlmask"), arr("s2_SCL")
        return (dl < 1) & np.isin(scl, SCL_CLEAR)
    if "s2_mask" in ds:
        return arr("s2_mask") == 0
    if "s2_SCL" in ds:
        return np.isin(arr("s2_SCL"), SCL_CLEAR)
    raise ProviderError("minicube has no cloud mask: expected s2_dlmask + s2_SCL, s2_mask or s2_SCL")


def read_minicube(path: str | Path) -> MinicubeArrays:
    """Read a GreenEarthNet minicube NetCDF into :class:`MinicubeArrays` (north-up)."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise ProviderError(f"minicube file not found: {str(path)!r}")
    try:
        ds = xr.open_dataset(path)
    except Exception as exc:  # noqa: BLE001 - netCDF4/h5netcdf raise many kinds
        raise ProviderError(f"cannot open minicube {str(path)!r} as NetCDF: {exc}") from exc
    with ds:
        missing = [v for v in S2_VARS if v not in ds]
        if missing:
            raise ProviderError(f"minicube {path.name!r} lacks {missing}; expected variables {list(S2_VARS)}")
        if "time" not in ds.dims:
            raise ProviderError(f"minicube {path.name!r} has no 'time' dimension; dims {dict(ds.sizes)}")
        ydim, xdim = spatial_dims(ds)
        times = ds["time"].values
        if len(times) >= 2:
            step = float(np.median(np.diff(times).astype("timedelta64[h]").astype(float))) / 24.0
        else:
            step = 1.0
        # Daily cubes carry S2 on every 5th day from day 4; 5-daily cubes hold only the frames.
        frame_idx = np.arange(FIRST_FRAME_DAY, len(times), FRAME_STEP_DAYS) if step < 2.5 \
            else np.arange(len(times))
        s2 = np.stack([ds[v].isel(time=frame_idx).transpose("time", ydim, xdim).values
                       for v in S2_VARS], axis=1).astype(np.float32)
        clear = clear_sky_mask(ds, frame_idx)
        finite = s2[np.isfinite(s2)]
        scaled = bool(finite.size and np.nanpercentile(finite, 99) > 2.0)
        if scaled:  # digital numbers (reflectance x 10000)
            s2 = s2 / 10000.0
        lc = None
        if "esawc_lc" in ds:
            lc_da = ds["esawc_lc"]
            extra = [d for d in lc_da.dims if d not in (ydim, xdim)]
            lc_da = lc_da.isel({d: 0 for d in extra}).transpose(ydim, xdim)
            lc = lc_da.values.astype(np.float32)
        weather: dict[str, np.ndarray] = {}
        for v in EOBS_VARS:
            name = f"eobs_{v}"
            if name in ds and ds[name].dims == ("time",):
                weather[v] = ds[name].values.astype(np.float64)
        ys = ds[ydim].values.astype(np.float64)
        xs = ds[xdim].values.astype(np.float64)
        crs = _crs_of(ds, ydim)
        attrs = {k: str(v) for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    flip = len(ys) > 1 and ys[1] > ys[0]   # south-up -> north-up
    if flip:
        s2, clear, ys = s2[..., ::-1, :], clear[..., ::-1, :], ys[::-1]
        lc = lc[::-1] if lc is not None else None
    transform = None
    if len(xs) > 1 and len(ys) > 1:
        dx, dy = float(np.mean(np.diff(xs))), float(np.mean(np.diff(ys)))
        transform = (dx, 0.0, float(xs[0] - dx / 2), 0.0, dy, float(ys[0] - dy / 2))
    dates = [_to_date(t) for t in times]
    return MinicubeArrays(
        reflectance=np.ascontiguousarray(s2), clear=np.ascontiguousarray(clear),
        frame_dates=[dates[i] for i in frame_idx], landcover=None if lc is None else np.ascontiguousarray(lc),
        weather=weather, weather_dates=dates if weather else [], transform=transform, crs=crs,
        name=path.stem, meta={"path": str(path), "scaled_from_dn": scaled, "attrs": attrs})


# ---------------------------------------------------------------- preparation
def bap_fill(frames: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-available-pixel fill of ``frames`` (T, C, H, W) under ``clear`` (T, H, W).

    A cloudy pixel takes the most recent earlier clear value (walking backwards
    in time); before its first clear observation it takes that first one; a
    pixel never clear takes the band median of all clear pixels (0 if none).
    Returns the filled sequence and the BAP composite (the last filled frame).
    """
    t = frames.shape[0]
    out = np.where(clear[:, None], frames, np.nan).astype(np.float32)
    for i in range(1, t):                                   # carry last clear value forward
        out[i] = np.where(np.isnan(out[i]), out[i - 1], out[i])
    for i in range(t - 2, -1, -1):                          # before the first clear: next clear
        out[i] = np.where(np.isnan(out[i]), out[i + 1], out[i])
    if np.isnan(out).any():
        valid = np.where(clear[:, None], frames, np.nan)
        with np.errstate(all="ignore"):
            med = np.nanmedian(valid.transpose(1, 0, 2, 3).reshape(frames.shape[1], -1), axis=1) \
                if np.isfinite(valid).any() else np.zeros(frames.shape[1])
        med = np.nan_to_num(med, nan=0.0).astype(np.float32)
        out = np.where(np.isnan(out), med[None, :, None, None], out)
    return out, out[-1].copy()


def landcover_onehot(codes: np.ndarray | None, shape_hw: tuple[int, int]) -> np.ndarray:
    """WorldCover codes (H, W) -> (10, H, W) one-hot; 95 (mangroves) joins 90; unknown -> zeros."""
    out = np.zeros((len(WORLDCOVER_CODES),) + tuple(shape_hw), np.float32)
    if codes is None:
        return out
    codes = np.nan_to_num(np.asarray(codes, np.float64), nan=0).round().astype(np.int64)
    codes = np.where(codes == 95, 90, codes)
    for i, c in enumerate(WORLDCOVER_CODES):
        out[i] = codes == c
    return out


def temporal_metadata(date: _dt.date) -> np.ndarray:
    """``[(year - 2015) / 10, sin(2 pi doy / 365.25), cos(2 pi doy / 365.25)]`` of the last input frame."""
    doy = date.timetuple().tm_yday
    ang = 2 * np.pi * doy / 365.25
    return np.array([(date.year - YEAR_ORIGIN) / YEAR_SPAN, np.sin(ang), np.cos(ang)], np.float32)


def normalized_doy(date: _dt.date) -> float:
    """Day of year as a year fraction in [0, 1): ``(doy - 1) / 365.25``."""
    return (date.timetuple().tm_yday - 1) / 365.25


def weather_features(weather: Mapping[str, np.ndarray], weather_dates: Sequence[_dt.date],
                     target_dates: Sequence[_dt.date], window_days: int = FRAME_STEP_DAYS
                     ) -> tuple[np.ndarray, float]:
    """(len(target_dates), 21) weather features and the fraction of them that had data.

    For each variable: a centred 21-day rolling mean is the climatology, the
    daily value minus it the detrended anomaly. For the ``window_days`` days
    ending on each target date: min anomaly, max anomaly, mean climatology,
    standardised with the EarthNet2021x E-OBS statistics. Missing -> 0 (the mean).
    """
    n = len(target_dates)
    out = np.zeros((n, len(EOBS_VARS) * len(WEATHER_AGGREGATIONS)), np.float32)
    have = np.zeros(out.shape, bool)
    if not weather or not weather_dates:
        return out, 0.0
    import pandas as pd

    index = {d: i for i, d in enumerate(weather_dates)}
    for vi, v in enumerate(EOBS_VARS):
        if v not in weather:
            continue
        series = pd.Series(np.asarray(weather[v], np.float64))
        clim = series.rolling(CLIMATOLOGY_WINDOW_DAYS, center=True, min_periods=1).mean().to_numpy()
        anom = series.to_numpy() - clim
        for j, d in enumerate(target_dates):
            idx = [index[d - _dt.timedelta(days=k)] for k in range(window_days)
                   if d - _dt.timedelta(days=k) in index]
            if not idx:
                continue
            a, c = anom[idx], clim[idx]
            if not np.isfinite(a).any():
                continue
            with np.errstate(all="ignore"):
                vals = (np.nanmin(a) / EOBS_STD[v], np.nanmax(a) / EOBS_STD[v],
                        (np.nanmean(c) - EOBS_MEAN[v]) / EOBS_STD[v])
            out[j, vi * 3:vi * 3 + 3] = vals
            have[j, vi * 3:vi * 3 + 3] = True
    return np.nan_to_num(out), float(have.mean())


def target_dates_after(last_context: _dt.date, n: int = TARGET_FRAMES,
                       step: int = FRAME_STEP_DAYS) -> list[_dt.date]:
    return [last_context + _dt.timedelta(days=step * (j + 1)) for j in range(n)]


def build_sample(cube: MinicubeArrays, norm: NormStats, *, context_frames: int = CONTEXT_FRAMES,
                 target_frames: int = TARGET_FRAMES, with_targets: bool = True
                 ) -> dict[str, Any]:
    """Model inputs (channels-first numpy), packed targets and the dates of one minicube.

    Returns ``{"inputs": {name: array}, "y": (20, 9, H, W) or None, "target_dates",
    "context_dates", "bap": (4, H, W) normalised, "weather_coverage"}``. ``y`` packs
    ``[cloudmask(1), deltas(4), BAP(4)]`` per target frame; cloudmask is 1 where the
    target is clear and finite (the only pixels the loss sees), deltas are 0 elsewhere.
    """
    n = cube.reflectance.shape[0]
    need = context_frames + (target_frames if with_targets else 0)
    if n < need:
        raise SpecError(f"minicube {cube.name!r} has {n} Sentinel-2 frames; need {need} "
                        f"({context_frames} input{f' + {target_frames} target' if with_targets else ''})")
    ctx = norm.normalize(np.nan_to_num(cube.reflectance[:context_frames], nan=0.0))
    filled, bap = bap_fill(ctx, cube.clear[:context_frames])
    last = cube.frame_dates[context_frames - 1]
    if with_targets:
        tdates = list(cube.frame_dates[context_frames:context_frames + target_frames])
    else:
        tdates = target_dates_after(last, target_frames)
    weather, coverage = weather_features(cube.weather, cube.weather_dates, tdates)
    inputs = {
        "sentinel2_sequence": filled,
        "landcover_map": landcover_onehot(cube.landcover, cube.shape_hw),
        "temporal_metadata": temporal_metadata(last),
        "weather_sequence": weather,
        "target_start_doy": np.array([normalized_doy(tdates[0])], np.float32),
    }
    y = None
    if with_targets:
        tgt = cube.reflectance[context_frames:context_frames + target_frames]
        ok = cube.clear[context_frames:context_frames + target_frames] & np.isfinite(tgt).all(axis=1)
        tnorm = norm.normalize(np.nan_to_num(tgt, nan=0.0))
        deltas = np.where(ok[:, None], tnorm - bap[None], 0.0)
        y = np.concatenate([ok[:, None].astype(np.float32), deltas.astype(np.float32),
                            np.broadcast_to(bap[None], deltas.shape).astype(np.float32)], axis=1)
    return {"inputs": inputs, "y": y, "target_dates": tdates,
            "context_dates": list(cube.frame_dates[:context_frames]), "bap": bap,
            "weather_coverage": coverage}


def compute_norm_stats(paths: Sequence[str | Path], *, max_files: int = 200,
                       pixels_per_file: int = 20000, seed: int = 0) -> NormStats:
    """Global 2nd/98th percentiles per band over clear pixels of (a sample of) ``paths``."""
    paths = list(paths)
    if not paths:
        raise SpecError("compute_norm_stats needs at least one minicube path, got none")
    rng = np.random.default_rng(seed)
    if len(paths) > max_files:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), max_files, replace=False))]
    samples = []
    for p in paths:
        cube = read_minicube(p)
        vals = cube.reflectance.transpose(1, 0, 2, 3)[:, cube.clear]     # (4, n_clear)
        if vals.shape[1] > pixels_per_file:
            vals = vals[:, rng.choice(vals.shape[1], pixels_per_file, replace=False)]
        samples.append(vals)
    allv = np.concatenate(samples, axis=1)
    if allv.shape[1] < 10:
        raise SpecError(f"only {allv.shape[1]} clear pixels in {len(paths)} minicubes; cannot "
                        "compute percentiles")
    p2, p98 = np.percentile(allv, [2, 98], axis=1)
    return NormStats(tuple(p2), tuple(p98), source=f"{len(paths)} minicubes, {allv.shape[1]} clear pixels")


def find_minicubes(root: str | Path | Sequence[str | Path]) -> list[Path]:
    """Every ``*.nc`` under a folder (recursively, sorted), or the given list of files."""
    if isinstance(root, (list, tuple)):
        files = [Path(p) for p in root]
    else:
        r = Path(root)
        if r.is_file():
            files = [r]
        elif r.is_dir():
            files = sorted(r.rglob("*.nc"))
        else:
            raise ProviderError(f"minicube folder or file not found: {str(r)!r}")
    if not files:
        raise ProviderError(f"no minicubes (*.nc) under {str(root)!r}")
    return files


class GreenEarthNetDataset:
    """A torch-style dataset of minicubes: item -> (inputs dict of tensors, y tensor).

    ``crop`` (pixels) takes a random square window per item (deterministic when
    ``random_crop=False``: the top-left corner), to train on CPU-sized tiles.
    ``random_window`` picks a random 30-frame window in cubes longer than 30 frames
    (default: the first, days 4..149, as the reference).
    """

    def __init__(self, root: str | Path | Sequence[str | Path], norm: NormStats | None = None,
                 *, crop: int | None = None, random_crop: bool = True, seed: int = 0,
                 random_window: bool = False,
                 context_frames: int = CONTEXT_FRAMES, target_frames: int = TARGET_FRAMES) -> None:
        self.files = find_minicubes(root)
        self.norm = norm or compute_norm_stats(self.files)
        self.crop, self.random_crop = crop, random_crop
        self.random_window = random_window
        self.context_frames, self.target_frames = context_frames, target_frames
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.files)

    def sample(self, idx: int) -> dict[str, Any]:
        cube = read_minicube(self.files[idx])
        spare = cube.reflectance.shape[0] - self.context_frames - self.target_frames
        if self.random_window and spare > 0:   # long cubes: any 30-frame window
            cube = cube.window(int(self._rng.integers(0, spare + 1)))
        return build_sample(cube, self.norm, context_frames=self.context_frames,
                            target_frames=self.target_frames)

    def __getitem__(self, idx: int):
        import torch

        info = torch.utils.data.get_worker_info()
        if info is not None and getattr(self, "_worker_seeded", None) != info.id:
            # DataLoader workers get copies of one RNG: reseed each from its own torch seed
            self._rng = np.random.default_rng(info.seed)
            self._worker_seeded = info.id
        s = self.sample(idx)
        inputs, y = s["inputs"], s["y"]
        if self.crop:
            h, w = y.shape[-2:]
            c = int(self.crop)
            if c > h or c > w:
                raise SpecError(f"crop={c} is larger than the minicube ({h}x{w})")
            r0 = int(self._rng.integers(0, h - c + 1)) if self.random_crop else 0
            c0 = int(self._rng.integers(0, w - c + 1)) if self.random_crop else 0
            win = (Ellipsis, slice(r0, r0 + c), slice(c0, c0 + c))
            inputs = dict(inputs, sentinel2_sequence=inputs["sentinel2_sequence"][win],
                          landcover_map=inputs["landcover_map"][win])
            y = y[win]
        return ({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()},
                torch.from_numpy(np.ascontiguousarray(y)))


def write_minicube(path: str | Path, *, s2: np.ndarray, dates: Sequence[Any], lat: np.ndarray,
                   lon: np.ndarray, dlmask: np.ndarray | None = None, scl: np.ndarray | None = None,
                   s2_mask: np.ndarray | None = None, eobs: Mapping[str, np.ndarray] | None = None,
                   landcover: np.ndarray | None = None, attrs: Mapping[str, Any] | None = None) -> Path:
    """Write arrays as a minicube NetCDF in the GreenEarthNet layout (atomically).

    ``s2`` is (days, 4, H, W) over the daily ``dates`` (NaN on days without an
    observation); masks are (days, H, W); ``eobs`` maps variable names without
    the ``eobs_`` prefix to (days,) series.
    """
    import os

    import xarray as xr

    path = Path(path)
    thw = ("time", "lat", "lon")
    data: dict[str, Any] = {f"s2_{b}": (thw, s2[:, i].astype(np.float32)) for i, b in enumerate(S2_BANDS)}
    if dlmask is not None:
        data["s2_dlmask"] = (thw, dlmask.astype(np.float32))
    if scl is not None:
        data["s2_SCL"] = (thw, scl.astype(np.float32))
    if s2_mask is not None:
        data["s2_mask"] = (thw, s2_mask.astype(np.float32))
    for v, series in (eobs or {}).items():
        data[f"eobs_{v}"] = (("time",), np.asarray(series, np.float32))
    if landcover is not None:
        data["esawc_lc"] = (("lat", "lon"), landcover.astype(np.float32))
    ds = xr.Dataset(data, coords={"time": np.asarray(dates, dtype="datetime64[ns]"),
                                  "lat": lat.astype(np.float64), "lon": lon.astype(np.float64)},
                    attrs=dict(attrs or {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp, engine="netcdf4")
    os.replace(tmp, path)
    return path


def synthetic_minicube(path: str | Path, *, size: int = 32, days: int = 150, seed: int = 0,
                       start: str = "2019-04-01", cloud_fraction: float = 0.15,
                       lat0: float = 47.5, lon0: float = 10.5, res_deg: float = 0.0002) -> Path:
    """A small minicube with a learnable signal, in the real layout (for tests, demos, benchmarks).

    Each pixel's NIR and red follow a seasonal curve whose amplitude depends on
    its land-cover class and whose level shifts with the weather anomaly, so a
    model that reads land cover, the input frames and the weather can predict
    the target frames. Clouds are random blobs flagged in ``s2_dlmask`` and ``s2_SCL``.
    """
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start, "D") + np.timedelta64(int(rng.integers(0, 120)), "D")
    dates = t0 + np.arange(days).astype("timedelta64[D]")
    doy = np.array([d.astype(_dt.date).timetuple().tm_yday for d in dates], np.float64)
    classes = np.array([10, 30, 40, 60])
    lc = classes[(np.add.outer(np.arange(size) // 8, np.arange(size) // 8) + seed) % len(classes)]
    lc = lc.astype(np.float32)
    amp = np.select([lc == 10, lc == 30, lc == 40], [0.08, 0.15, 0.25], 0.02)
    base_nir = np.select([lc == 10, lc == 30, lc == 40], [0.30, 0.25, 0.22], 0.18)
    base = np.array([0.04, 0.07, 0.06, 0.0])
    temp_anom = np.sin(np.arange(days) / 9.0 + seed) * 3.0
    season = np.sin(2 * np.pi * (doy - 100) / 365.25)                     # (days,)
    weather_effect = np.convolve(temp_anom, np.ones(10) / 10, mode="same") * 0.01
    green = season[:, None, None] * amp[None] + weather_effect[:, None, None]  # (days, H, W)
    s2 = np.empty((days, 4, size, size), np.float32)
    s2[:, 0] = base[0] + 0.02 - 0.1 * green
    s2[:, 1] = base[1] + 0.02 - 0.05 * green
    s2[:, 2] = base[2] + 0.04 - 0.3 * green
    s2[:, 3] = base_nir[None] + green
    s2 += rng.normal(0, 0.003, s2.shape).astype(np.float32)
    s2 = np.clip(s2, 0.001, 1.0)
    obs = np.zeros(days, bool)
    obs[FIRST_FRAME_DAY::FRAME_STEP_DAYS] = True
    s2[~obs] = np.nan
    dl = np.zeros((days, size, size), np.float32)
    scl = np.full((days, size, size), 4.0, np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    for d in np.flatnonzero(obs):
        if rng.random() < cloud_fraction * 2:
            cy, cx, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(3, max(4, size // 3)))]
            blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            dl[d][blob] = 1.0
            scl[d][blob] = 9.0
            s2[d][:, blob] = 0.6
    dl[~obs] = np.nan
    scl[~obs] = np.nan
    eobs = {"tg": 12 + 8 * season + temp_anom, "tn": 6 + 8 * season + temp_anom,
            "tx": 18 + 8 * season + temp_anom, "rr": np.abs(rng.normal(1.5, 2.0, days)),
            "pp": 1014 + rng.normal(0, 5, days), "hu": 75 + rng.normal(0, 8, days),
            "qq": 150 + 100 * season + rng.normal(0, 20, days)}
    lat = lat0 - np.arange(size) * res_deg - res_deg / 2
    lon = lon0 + np.arange(size) * res_deg + res_deg / 2
    return write_minicube(path, s2=s2, dates=dates, lat=lat, lon=lon, dlmask=dl, scl=scl, eobs=eobs,
                          landcover=lc, attrs={"dataset_name": "synthetic GreenEarthNet-layout minicube",
                                               "synthetic": 1, "seed": seed})


def dataset_summary(root: str | Path, norm: NormStats | None = None) -> dict[str, Any]:
    """Ranges and counts of what the dataset produces, for ``scripts/check_dataset.py``."""
    files = find_minicubes(root)
    norm = norm or compute_norm_stats(files)
    agg: dict[str, list[float]] = {}
    problems: list[str] = []
    for f in files:
        try:
            s = build_sample(read_minicube(f), norm)
        except (SpecError, ProviderError) as exc:
            problems.append(f"{f.name}: {exc}")
            continue
        arrays = dict(s["inputs"])
        y = s["y"]
        arrays.update(cloudmask=y[:, 0], deltas=y[:, 1:5], bap=y[:, 5:9])
        for k, v in arrays.items():
            if not np.isfinite(v).all():
                problems.append(f"{f.name}: {k} has non-finite values")
            lo, hi = agg.get(k, [np.inf, -np.inf])
            agg[k] = [min(lo, float(np.min(v))), max(hi, float(np.max(v)))]
        agg.setdefault("clear_fraction", []).append(float(y[:, 0].mean()))
        agg.setdefault("weather_coverage", []).append(float(s["weather_coverage"]))
    return {"files": len(files), "norm": norm.to_dict(), "ranges": agg, "problems": problems}


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
