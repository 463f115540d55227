"""GreenEarthNet-style scores of NDVI forecasts (Benson et al., CVPR 2024, ``eval.py``).

Per pixel, over the clear target frames: RMSE, Pearson r, bias (mean target -
mean prediction), NSE and its normalised form ``NNSE = 1 / (2 - NSE)``. The
summary averages per (minicube, land cover) and then per land cover:
``nse = 2 - 1 / mean(NNSE)`` (the veg score), ``rmse``, ``R2 = mean(r^2)``,
``biasabs = mean(|bias|)``. Against a climatology, ``outperformance`` is the
share of (minicube, land cover) groups where more than two of four gains hold:
RMSE down by > 0.01, 1/NNSE down by > 0.05, R2 up by > 0.05, |bias| down by > 0.01.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..progress import CancelFn, ProgressFn, as_feedback
from .data import (
    CONTEXT_FRAMES,
    TARGET_FRAMES,
    WORLDCOVER_CODES,
    MinicubeArrays,
    find_minicubes,
    read_minicube,
)

LANDCOVER_GROUPS = {"forest": 10, "shrub": 20, "grass": 30, "crop": 40}


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    return ((nir - red) / (nir + red + 1e-8)).astype(np.float32)


def target_ndvi(cube: MinicubeArrays) -> np.ndarray:
    """NDVI of every frame of ``cube`` (N, H, W), NaN where not clear, clipped to [-1, 1]."""
    v = ndvi(cube.reflectance[:, 2], cube.reflectance[:, 3])
    return np.clip(np.where(cube.clear, v, np.nan), -1, 1)


def pixel_metrics(targ: np.ndarray, pred: np.ndarray, *, landcover: np.ndarray | None = None,
                  targ_full: np.ndarray | None = None, name: str = "", hq: bool = True) -> pd.DataFrame:
    """Per-pixel metrics of ``pred`` vs ``targ`` (both (T, H, W) NDVI; NaN = not observed).

    ``targ_full`` (all frames, context included) feeds the high-quality filter of
    GreenEarthNet: land cover < 41, min NDVI > 0, >= 10 clear target frames, >= 3
    clear context frames, target std > 0.1.
    """
    pred = np.nan_to_num(np.clip(pred, -1, 1), nan=0.5)
    mask = np.isfinite(targ)
    n_obs = mask.sum(0)
    with np.errstate(all="ignore"):
        err2 = np.where(mask, (targ - pred) ** 2, np.nan)
        tmean = np.nanmean(targ, 0)
        pm = np.where(mask, pred, np.nan)
        pmean = np.nanmean(pm, 0)
        sse = np.nansum(err2, 0)
        sst = np.nansum((targ - tmean) ** 2, 0)
        nse = 1 - sse / sst
        nnse = 1 / (2 - nse)
        rmse = np.sqrt(np.nanmean(err2, 0))
        cov = np.nansum((targ - tmean) * (pm - pmean), 0)
        r = cov / np.sqrt(sst * np.nansum((pm - pmean) ** 2, 0))
        sigma = np.nanstd(targ, 0, ddof=1)
        bias = tmean - pmean
        full = targ if targ_full is None else targ_full
        n_full = np.isfinite(full).sum(0)
        min_full = np.nanmin(np.where(np.isfinite(full), full, np.inf), 0)
    h, w = targ.shape[1:]
    lc = np.full((h, w), np.nan) if landcover is None else np.asarray(landcover, np.float64)
    df = pd.DataFrame({
        "row": np.repeat(np.arange(h), w), "col": np.tile(np.arange(w), h), "id": name,
        "landcover": lc.ravel(), "nnse": nnse.ravel(), "rmse": rmse.ravel(), "r": r.ravel(),
        "bias": bias.ravel(), "n_obs": n_obs.ravel(), "n_obs_full": n_full.ravel(),
        "sigma_targ": sigma.ravel(), "min_ndvi_targ": min_full.ravel()})
    if hq:
        df = df[(df.landcover < 41) & (df.min_ndvi_targ > 0.0) & (df.n_obs >= 10)
                & ((df.n_obs_full - df.n_obs) >= 3) & (df.sigma_targ > 0.1)]
    return df.replace([np.inf, -np.inf], np.nan).reset_index(drop=True)


def summarize(df: pd.DataFrame) -> dict[str, float]:
    """The GreenEarthNet summary of a per-pixel table (see the module docstring)."""
    if df.empty:
        return {"n_pixels": 0, "nse": float("nan"), "rmse": float("nan"), "R2": float("nan"),
                "biasabs": float("nan")}
    d = df.assign(r2=df.r ** 2, biasabs=df.bias.abs())
    per = d.groupby(["id", "landcover"])[["nnse", "rmse", "r2", "biasabs"]].mean().groupby("landcover").mean()
    out: dict[str, float] = {"n_pixels": int(len(df)), "n_minicubes": int(df.id.nunique()),
                             "nse": float(2 - 1 / per.nnse.mean()), "rmse": float(per.rmse.mean()),
                             "R2": float(per.r2.mean()), "biasabs": float(per.biasabs.mean())}
    for name, code in LANDCOVER_GROUPS.items():
        if code in per.index:
            out[f"nse_{name}"] = float(2 - 1 / per.nnse.loc[code])
            out[f"rmse_{name}"] = float(per.rmse.loc[code])
            out[f"R2_{name}"] = float(per.r2.loc[code])
            out[f"biasabs_{name}"] = float(per.biasabs.loc[code])
    return out


def outperformance(model: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, float]:
    """Gains of ``model`` over ``baseline`` (e.g. climatology) per pixel, and the outperformance share."""
    key = ["id", "row", "col", "landcover"]
    m = model.set_index(key)
    b = baseline.set_index(key)
    idx = m.index.intersection(b.index)
    if len(idx) == 0:
        return {"outperformance": float("nan"), "n_pixels": 0}
    m, b = m.loc[idx], b.loc[idx]
    gains = pd.DataFrame({"nnse": 1 / b.nnse - 1 / m.nnse, "R2": m.r ** 2 - b.r ** 2,
                          "rmse": b.rmse - m.rmse, "biasabs": b.bias.abs() - m.bias.abs()}, index=idx)
    per = gains.groupby(level=["id", "landcover"]).mean()
    wins = ((per.rmse > 0.01).astype(int) + (per.nnse > 0.05).astype(int)
            + (per.R2 > 0.05).astype(int) + (per.biasabs > 0.01).astype(int)) > 2
    out = {f"gain_{k}_mean": float(per[k].groupby(level="landcover").mean().mean()) for k in per.columns}
    out["outperformance"] = float(wins.mean())
    out["n_pixels"] = int(len(idx))
    return out


def climatology_ndvi(history: MinicubeArrays, target_dates: Sequence[_dt.date], *,
                     exclude_year: int | None = None, window_days: int = 30) -> np.ndarray:
    """NDVI climatology at ``target_dates`` from a multi-year cube, as GreenEarthNet's baseline.

    Clear NDVI of the other years is interpolated in time, averaged per day of
    year, smoothed with a circular ``window_days`` mean and read at each date's day of year.
    """
    import xarray as xr

    v = target_ndvi(history)
    times = np.array(history.frame_dates, dtype="datetime64[ns]")
    da = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": times})
    if exclude_year is not None:
        da = da.where(da["time.year"] != exclude_year, drop=True)
    if da.sizes["time"] < 2:
        raise ValueError("climatology needs at least two frames outside the forecast year")
    daily = da.resample(time="1D").mean().interpolate_na("time", method="linear")
    if exclude_year is not None:   # resampling re-created the excluded year's days: drop them again
        daily = daily.where(daily["time.year"] != exclude_year, drop=True)
    by_doy = daily.groupby("time.dayofyear").mean()
    doy_means = np.full((366,) + v.shape[1:], np.nan, np.float32)
    doy_means[by_doy["dayofyear"].values - 1] = by_doy.values
    out = []
    half = window_days // 2
    for d in target_dates:
        doy = d.timetuple().tm_yday - 1
        idx = [(doy + k) % 366 for k in range(-half, half)]
        with np.errstate(all="ignore"):
            out.append(np.nanmean(doy_means[idx], 0))
    return np.stack(out).astype(np.float32)


def score_split(split: str | Path | Sequence[str | Path], checkpoint: str | Path | tuple | None, *,
                full_dir: str | Path | None = None, hq: bool = True, limit: int | None = None,
                progress: ProgressFn | None = None, is_cancelled: CancelFn | None = None) -> dict[str, Any]:
    """Forecast and score every minicube of a split; climatology comparison when ``full_dir`` has
    multi-year cubes of the same names. Returns ``{"summary", "climatology", "outperformance", "pixels"}``.
    ``progress(fraction, minicube name)`` after each minicube; ``is_cancelled()`` is checked
    between minicubes and between model tiles.
    """
    from .checkpoint import load_forecast_model
    from .predict import forecast_arrays

    fb = as_feedback(progress, is_cancelled)
    files = find_minicubes(split)[: limit or None]
    if checkpoint is not None and not isinstance(checkpoint, tuple):
        checkpoint = load_forecast_model(checkpoint)      # once, not per minicube
    model_dfs: list[pd.DataFrame] = []
    clim_dfs: list[pd.DataFrame] = []
    for i, f in enumerate(files):
        fb.check("scoring cancelled")
        cube = read_minicube(f)
        if cube.reflectance.shape[0] < CONTEXT_FRAMES + TARGET_FRAMES:
            continue
        res = forecast_arrays(cube, checkpoint, is_cancelled=fb.cancelled)
        allv = target_ndvi(cube)[: CONTEXT_FRAMES + TARGET_FRAMES]
        targ = allv[CONTEXT_FRAMES:]
        model_dfs.append(pixel_metrics(targ, res["ndvi"], landcover=cube.landcover, targ_full=allv,
                                       name=f.stem, hq=hq))
        if full_dir is not None:
            hist_path = Path(full_dir) / f.name
            if hist_path.exists():
                clim = climatology_ndvi(read_minicube(hist_path), res["dates"],
                                        exclude_year=res["dates"][0].year)
                clim_dfs.append(pixel_metrics(targ, clim, landcover=cube.landcover, targ_full=allv,
                                              name=f.stem, hq=hq))
        fb.report((i + 1) / len(files), f"[{i + 1}/{len(files)}] {f.name}")
    pixels = pd.concat(model_dfs, ignore_index=True) if model_dfs else pd.DataFrame()
    out: dict[str, Any] = {"summary": summarize(pixels), "pixels": pixels}
    if clim_dfs:
        clim = pd.concat(clim_dfs, ignore_index=True)
        out["climatology"] = summarize(clim)
        out["outperformance"] = outperformance(pixels, clim)
        out["climatology_pixels"] = clim
    return out


__all__ = ["pixel_metrics", "summarize", "outperformance", "climatology_ndvi", "score_split", "target_ndvi",
           "WORLDCOVER_CODES"]
