"""Forecast a minicube (or a stack of Sentinel-2 rasters) into 20 dated GeoTIFFs plus NDVI.

:func:`forecast_to_geotiffs` is what the QGIS algorithm calls. All files are
written into a hidden temporary folder inside ``out_dir`` and moved into place
only when every frame is done, so a cancelled or failed run leaves nothing.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import Cancelled, ProviderError, SpecError
from ..progress import CancelFn, Feedback, ProgressFn, as_feedback, cancel_scope
from ..specs import date_in_text
from .checkpoint import load_forecast_model
from .data import (
    CONTEXT_FRAMES,
    EOBS_VARS,
    S2_BANDS,
    SCL_CLEAR,
    MinicubeArrays,
    NormStats,
    build_sample,
    read_minicube,
)
from .model import ForecastConfig, ReflectanceForecaster

#: the name this module used before the engine had one cancel exception
ForecastCancelled = Cancelled


class ForecastFrame(tuple):
    """``(date, path)`` of one forecast GeoTIFF; ``.ndvi_path`` is its NDVI GeoTIFF."""

    def __new__(cls, date: _dt.date, path: Path, ndvi_path: Path | None = None):
        obj = super().__new__(cls, (date, path))
        obj.ndvi_path = ndvi_path
        return obj

    @property
    def date(self) -> _dt.date:
        return self[0]

    @property
    def path(self) -> Path:
        return self[1]


class ForecastFrames(list):
    """The list of :class:`ForecastFrame`; ``.manifest`` is the JSON written beside them and
    ``.random_weights`` tells whether the model had no trained checkpoint."""

    manifest: Path | None = None
    random_weights: bool = False


# ---------------------------------------------------------------- inputs from rasters
def read_weather_csv(path: str | Path) -> tuple[dict[str, np.ndarray], list[_dt.date]]:
    """Daily E-OBS weather from a CSV with a ``date`` column and some of tg, tn, tx, rr, pp, hu, qq."""
    import pandas as pd

    df = pd.read_csv(path)
    cols = {c.lower().replace("eobs_", ""): c for c in df.columns}
    if "date" not in cols and "time" not in cols:
        raise SpecError(f"weather CSV {str(path)!r} needs a 'date' column; has {list(df.columns)}")
    dates = pd.to_datetime(df[cols.get("date", cols.get("time"))]).dt.date
    have = [v for v in EOBS_VARS if v in cols]
    if not have:
        raise SpecError(f"weather CSV {str(path)!r} has none of the E-OBS columns {list(EOBS_VARS)}; "
                        f"has {list(df.columns)}")
    full = pd.date_range(min(dates), max(dates), freq="D").date
    out = {}
    for v in have:
        s = pd.Series(df[cols[v]].to_numpy(np.float64), index=list(dates))
        out[v] = s.reindex(list(full)).to_numpy()
    return out, list(full)


def read_s2_stack(paths: Sequence[str | Path], *, dates: Sequence[_dt.date] | None = None,
                  landcover: str | Path | None = None,
                  weather_csv: str | Path | None = None) -> MinicubeArrays:
    """Sentinel-2 rasters (one per date; bands B02, B03, B04, B8A and optionally SCL) -> minicube arrays.

    Bands are matched by description (B02/B2, B03/B3, B04/B4, B8A); without
    descriptions the first four bands are taken in that order. Dates come from
    ``dates``, a ``date``/``DATETIME`` tag, or the file name (YYYY-MM-DD or YYYYMMDD).
    The last 10 rasters by date are used; values > 2 are taken as reflectance x 10000.
    """
    from ..geo import RoiGrid
    from ..geoio import open_raster, warp_read

    paths = [Path(p) for p in paths]
    if len(paths) < CONTEXT_FRAMES:
        raise SpecError(f"need at least {CONTEXT_FRAMES} Sentinel-2 rasters (one per date), got {len(paths)}")
    if dates is not None and len(dates) != len(paths):
        raise SpecError(f"{len(dates)} dates given for {len(paths)} rasters")
    frames, clears, ds_dates = [], [], []
    ref = None
    aliases = {"B02": ("B02", "B2", "BLUE"), "B03": ("B03", "B3", "GREEN"), "B04": ("B04", "B4", "RED"),
               "B8A": ("B8A", "NIR08", "NARROW_NIR")}
    for i, p in enumerate(paths):
        if not p.exists():
            raise ProviderError(f"Sentinel-2 raster not found: {str(p)!r}")
        with open_raster(p) as src:
            info = src.info
            desc = [d.upper() for d in info.descriptions]
            idx = []
            for b in S2_BANDS:
                hit = [j for j, d in enumerate(desc) if d in aliases[b]]
                idx.append(hit[0] + 1 if hit else None)
            if any(j is None for j in idx):
                if info.count < 4:
                    raise ProviderError(f"{p.name!r} has {info.count} bands; expected B02, B03, B04, B8A")
                idx = [1, 2, 3, 4]
            data = src.read(idx, dtype="float32")
            if info.nodata1 is not None and not np.isnan(info.nodata1):
                data[data == info.nodata1] = np.nan
            scl = [j for j, d in enumerate(desc) if d == "SCL"]
            clear = np.isin(src.read([scl[0] + 1])[0], SCL_CLEAR) if scl else np.ones(data.shape[1:], bool)
        grid = (info.crs, tuple(info.transform), info.shape)
        if ref is None:
            ref = grid
        elif grid[2] != ref[2] or not np.allclose(grid[1], ref[1]):
            raise SpecError(f"{p.name!r} is not on the grid of {paths[0].name!r} "
                            f"(shape {grid[2]} vs {ref[2]}); resample the stack to one grid first")
        tag = info.tags.get("date", "") or info.tags.get("TIFFTAG_DATETIME", "")
        d = dates[i] if dates is not None else (date_in_text(tag) or date_in_text(p.name))
        if d is None:
            raise SpecError(f"no date for {p.name!r}: give dates, a 'date' tag or a YYYY-MM-DD file name")
        frames.append(data)
        clears.append(clear)
        ds_dates.append(d)
    order = np.argsort(np.array(ds_dates, dtype="datetime64[D]"), kind="stable")[-CONTEXT_FRAMES:]
    refl = np.stack([frames[i] for i in order])
    if np.nanpercentile(refl, 99) > 2.0:
        refl = refl / 10000.0
    crs, transform, shape = ref
    lc = None
    if landcover:  # onto the stack's grid; outside the land-cover raster: 0
        lc = warp_read(landcover, [1], RoiGrid.from_transform(crs, transform, shape[1], shape[0]),
                       resampling="nearest", dst_nodata=0.0)[0]
    weather, wdates = read_weather_csv(weather_csv) if weather_csv else ({}, [])
    return MinicubeArrays(reflectance=refl, clear=np.stack([clears[i] for i in order]),
                          frame_dates=[ds_dates[i] for i in order], landcover=lc, weather=weather,
                          weather_dates=wdates, transform=transform, crs=crs,
                          name=Path(paths[0]).stem.split("_")[0] or "stack",
                          meta={"paths": [str(paths[i]) for i in order]})


# ---------------------------------------------------------------- model runs
def predict_deltas(model: ReflectanceForecaster, inputs: dict[str, np.ndarray], *, tile: int = 128,
                   overlap: int = 16, is_cancelled: CancelFn | None = None,
                   progress: ProgressFn | Feedback | None = None) -> np.ndarray:
    """``(20, 4, H, W)`` deltas for one sample, in overlapping tiles when larger than ``tile``.

    Each tile keeps its centre (``overlap`` pixels are dropped on inner edges),
    so memory stays bounded for large stacks. ``progress(fraction, "tile k/n")`` after
    each tile; ``is_cancelled()`` before each tile and between the model's time steps raises
    :class:`~..errors.Cancelled`.
    """
    fb = as_feedback(progress, is_cancelled)
    s2 = inputs["sentinel2_sequence"]
    h, w = s2.shape[-2:]
    out = np.zeros((model.cfg.target_frames, s2.shape[1], h, w), np.float32)
    step = max(1, tile - 2 * overlap)
    ys = list(range(0, max(1, h - tile) + 1, step)) if h > tile else [0]
    xs = list(range(0, max(1, w - tile) + 1, step)) if w > tile else [0]
    if h > tile and ys[-1] + tile < h:
        ys.append(h - tile)
    if w > tile and xs[-1] + tile < w:
        xs.append(w - tile)
    total, k = len(ys) * len(xs), 0
    with torch.no_grad(), cancel_scope(fb):  # the model checks between its time steps too
        for y0 in ys:
            for x0 in xs:
                fb.check("forecast cancelled")
                y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
                x = {k_: torch.from_numpy(np.ascontiguousarray(
                    v[..., y0:y1, x0:x1] if k_ in ("sentinel2_sequence", "landcover_map") else v))[None]
                    for k_, v in inputs.items()}
                pred = model(x)[0].numpy()
                # keep the centre of this tile: drop `overlap` px on edges that touch another tile
                ty0 = 0 if y0 == 0 else overlap
                tx0 = 0 if x0 == 0 else overlap
                ty1 = (y1 - y0) if y1 == h else (y1 - y0) - overlap
                tx1 = (x1 - x0) if x1 == w else (x1 - x0) - overlap
                out[..., y0 + ty0:y0 + ty1, x0 + tx0:x0 + tx1] = pred[..., ty0:ty1, tx0:tx1]
                k += 1
                fb.report(k / total, f"tile {k}/{total}")
    return out


def _load_model(checkpoint: str | Path | None, cube: MinicubeArrays, seed: int = 0
                ) -> tuple[ReflectanceForecaster, NormStats, dict[str, Any]]:
    if isinstance(checkpoint, tuple):      # already loaded: (model, norm, info)
        return checkpoint
    if checkpoint:
        return load_forecast_model(checkpoint)
    torch.manual_seed(seed)
    model = ReflectanceForecaster(ForecastConfig(height=cube.shape_hw[0], width=cube.shape_hw[1])).eval()
    clear = cube.reflectance.transpose(1, 0, 2, 3)[:, cube.clear[:, :]]
    if clear.shape[1] < 10:
        raise SpecError(f"minicube {cube.name!r} has only {clear.shape[1]} clear pixels; cannot normalise")
    p2, p98 = np.percentile(clear, [2, 98], axis=1)
    norm = NormStats(tuple(p2), tuple(p98), source=f"input {cube.name!r} (no checkpoint)")
    info = {"path": None, "epoch": 0, "format": None, "random_weights": True}
    return model, norm, info


def forecast_arrays(source: str | Path | MinicubeArrays, checkpoint: str | Path | tuple | None = None,
                    *, tile: int = 128, start_frame: int = 0, is_cancelled: CancelFn | None = None,
                    progress: ProgressFn | Feedback | None = None) -> dict[str, Any]:
    """Forecast in memory: ``{"reflectance": (20, 4, H, W), "ndvi": (20, H, W), "dates", "cube", "meta"}``.

    ``checkpoint`` is a path, None (random weights) or the ``(model, norm, info)`` of
    :func:`~.checkpoint.load_forecast_model`, to load once for many cubes.
    ``progress(fraction, message)``; ``is_cancelled()`` is checked between tiles.
    """
    fb = as_feedback(progress, is_cancelled)
    cube = source if isinstance(source, MinicubeArrays) else read_minicube(source)
    if start_frame:
        cube = cube.window(int(start_frame))
    model, norm, info = _load_model(checkpoint, cube)
    fb.report(0.05, f"loaded {'random weights' if info['random_weights'] else info['path']}")
    ctx = model.cfg.context_frames
    # A full minicube (30 frames) is forecast from its first 10 frames (after start_frame),
    # as in the benchmark.
    sample = build_sample(cube, norm, context_frames=ctx, target_frames=model.cfg.target_frames,
                          with_targets=False)
    deltas = predict_deltas(model, sample["inputs"], tile=tile, progress=fb.part(0.05, 1.0))
    refl = norm.denormalize(sample["bap"][None] + deltas, axis=1)
    # A pixel never clear in the input has no baseline of its own (BAP fell back to the
    # cube median): its forecast would be invented, so it is written as no-data.
    no_input = ~cube.clear[:ctx].any(axis=0)
    refl[:, :, no_input] = np.nan
    import spyndex

    ndvi = np.asarray(spyndex.computeIndex("NDVI", params={"N": refl[:, 3], "R": refl[:, 2]}), np.float32)
    meta = {"checkpoint": info, "random_weights": bool(info["random_weights"]),
            "weights": {"status": "random" if info["random_weights"] else "trained", "path": info["path"]},
            "norm": norm.to_dict(), "context_dates": [d.isoformat() for d in sample["context_dates"]],
            "weather_coverage": sample["weather_coverage"], "source": cube.meta, "name": cube.name,
            "pixels_without_clear_input": int(no_input.sum())}
    return {"reflectance": refl, "ndvi": ndvi, "dates": sample["target_dates"], "cube": cube, "meta": meta}


def _write_tif(path: Path, data: np.ndarray, cube: MinicubeArrays, names: Sequence[str],
               tags: dict[str, str]) -> None:
    from ..geoio import write_raster

    write_raster(path, data.astype(np.float32), crs=cube.crs or None, transform=cube.transform,
                 nodata=float("nan"), band_names=list(names), tags=tags, tiled=False)


def forecast_to_geotiffs(source: str | Path | MinicubeArrays, checkpoint: str | Path | None,
                         out_dir: str | Path, *, progress: ProgressFn | None = None,
                         is_cancelled: CancelFn | None = None, prefix: str | None = None,
                         write_ndvi: bool = True, tile: int = 128, start_frame: int = 0) -> ForecastFrames:
    """Write 20 forecast GeoTIFFs (bands B02, B03, B04, B8A; reflectance) and their NDVI.

    ``source`` is a minicube NetCDF path or :class:`MinicubeArrays` (e.g. from
    :func:`read_s2_stack`); ``checkpoint`` a ``.safetensors`` from training, or
    None for random weights (then every file is tagged ``RANDOM_WEIGHTS=true``).
    The 10 input frames are the cube's frames ``start_frame .. start_frame + 9``.
    Returns ``[(date, path), ...]`` (each item also has ``.ndvi_path``); a manifest
    ``<prefix>_forecast.json`` lists them. ``progress(fraction, message)``; raises
    :class:`~..errors.Cancelled` when ``is_cancelled()`` turns true (checked between model
    tiles and between written frames), leaving no files.
    """
    from ..io import make_folder, remove_empty

    fb = as_feedback(progress, is_cancelled)
    out_dir = Path(out_dir)
    made = make_folder(out_dir)  # removed again if the forecast fails: no empty folders
    try:
        return _forecast_files(source, checkpoint, out_dir, fb, prefix=prefix, write_ndvi=write_ndvi, tile=tile,
                               start_frame=start_frame)
    except BaseException:
        remove_empty(made)
        raise


def _forecast_files(source, checkpoint, out_dir: Path, fb, *, prefix, write_ndvi, tile,
                    start_frame) -> ForecastFrames:
    from ..io import folder_error
    from ..names import file_stems
    from ..provenance import public

    res = forecast_arrays(source, checkpoint, tile=tile, start_frame=start_frame, progress=fb.part(0.0, 0.8))
    cube = res["cube"]
    meta = public(res["meta"], out_dir=out_dir.absolute())  # what the files say: no private paths
    prefix = file_stems([prefix or cube.name or "forecast"], default="forecast")[0]  # "Zürich" stays
    random = "true" if meta["random_weights"] else "false"
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=".forecast-", dir=out_dir))
    except OSError as exc:
        raise folder_error(out_dir, exc) from exc
    frames = ForecastFrames()
    frames.random_weights = bool(meta["random_weights"])
    try:
        staged: list[tuple[Path, Path]] = []
        n = len(res["dates"])
        for j, d in enumerate(res["dates"]):
            fb.check("forecast cancelled; no files written")
            tags = {"date": d.isoformat(), "TIFFTAG_DATETIME": d.strftime("%Y:%m:%d 00:00:00"),
                    "forecast_frame": str(j + 1), "forecast_frames": str(n),
                    "forecast_start": res["dates"][0].isoformat(), "RANDOM_WEIGHTS": random,
                    "weights_status": meta["weights"]["status"], "checkpoint": str(meta["weights"]["path"]),
                    "units": "surface reflectance (0-1)",
                    "model": "ConvLSTM + Fourier reflectance forecaster"}
            name = f"{prefix}_forecast_{d.isoformat()}.tif"
            _write_tif(tmpdir / name, res["reflectance"][j], cube, list(S2_BANDS), tags)
            staged.append((tmpdir / name, out_dir / name))
            ndvi_path = None
            if write_ndvi:
                nname = f"{prefix}_ndvi_{d.isoformat()}.tif"
                _write_tif(tmpdir / nname, res["ndvi"][j][None], cube, ["NDVI"],
                           dict(tags, index="NDVI (spyndex)"))
                staged.append((tmpdir / nname, out_dir / nname))
                ndvi_path = out_dir / nname
            frames.append(ForecastFrame(d, out_dir / name, ndvi_path))
            fb.report(0.8 + 0.19 * (j + 1) / n, f"wrote frame {j + 1}/{n} ({d.isoformat()})")
        manifest = {"frames": [{"date": f.date.isoformat(), "path": f.path.name,
                                "ndvi_path": f.ndvi_path.name if f.ndvi_path else None} for f in frames],
                    **{k: v for k, v in meta.items() if k != "source"}, "source": str(meta["source"])}
        mname = f"{prefix}_forecast.json"
        (tmpdir / mname).write_text(json.dumps(manifest, indent=2, default=str))
        staged.append((tmpdir / mname, out_dir / mname))
        fb.check("forecast cancelled; no files written")
        for src, dst in staged:
            os.replace(src, dst)
        frames.manifest = out_dir / mname
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    fb.report(1.0, f"{len(frames)} forecast frames in {out_dir}")
    return frames


__all__ = ["forecast_to_geotiffs", "forecast_arrays", "read_s2_stack", "read_weather_csv", "predict_deltas",
           "ForecastCancelled", "ForecastFrame", "ForecastFrames"]
