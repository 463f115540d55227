"""Forecast GeoTIFFs, raster-stack input, cancellation, scoring and the analysis scripts."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import rasterio
import torch

from rs_embed_qgis.engine.errors import SpecError
from rs_embed_qgis.engine.forecast import scoring as S
from rs_embed_qgis.engine.forecast.checkpoint import save_checkpoint
from rs_embed_qgis.engine.forecast.data import compute_norm_stats, read_minicube, synthetic_minicube
from rs_embed_qgis.engine.forecast.model import ForecastConfig, ReflectanceForecaster
from rs_embed_qgis.engine.forecast.predict import (
    ForecastCancelled,
    forecast_arrays,
    forecast_to_geotiffs,
    predict_deltas,
    read_s2_stack,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    split = tmp_path_factory.mktemp("split")
    return synthetic_minicube(split / "val" / "32UNU" / "cube_a.nc", size=16, seed=4)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, cube):
    torch.manual_seed(1)
    model = ReflectanceForecaster(ForecastConfig.small(height=16, width=16))
    d = tmp_path_factory.mktemp("ck")
    return save_checkpoint(d / "model_at_1", model, norm=compute_norm_stats([cube]), epoch=1)


def test_forecast_to_geotiffs_writes_20_dated_georeferenced_frames(cube, ckpt, tmp_path):
    seen = []
    frames = forecast_to_geotiffs(cube, ckpt, tmp_path / "out", progress=lambda fraction, m: seen.append(100 * fraction))
    mc = read_minicube(cube)
    assert len(frames) == 20
    dates = [d for d, _ in frames]
    assert dates[0] == mc.frame_dates[10] and dates == mc.frame_dates[10:30]
    assert seen[-1] == 100.0 and seen == sorted(seen)
    with rasterio.open(frames[0][1]) as src:
        assert src.count == 4 and src.descriptions == ("B02", "B03", "B04", "B8A")
        assert src.crs.to_epsg() == 4326
        assert np.allclose(tuple(src.transform)[:6], mc.transform)
        tags = src.tags()
        assert tags["date"] == dates[0].isoformat() and tags["RANDOM_WEIGHTS"] == "false"
        refl = src.read()
    assert np.isfinite(refl).all() and 0 < np.median(refl[3]) < 1
    with rasterio.open(frames[0].ndvi_path) as src:
        nd = src.read(1)
        assert src.descriptions == ("NDVI",)
    np.testing.assert_allclose(nd, (refl[3] - refl[2]) / (refl[3] + refl[2]), rtol=1e-5, atol=1e-6)
    manifest = json.loads(frames.manifest.read_text())
    assert [f["date"] for f in manifest["frames"]] == [d.isoformat() for d in dates]
    assert manifest["random_weights"] is False
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_random_weights_are_marked(cube, tmp_path):
    frames = forecast_to_geotiffs(cube, None, tmp_path, write_ndvi=False)
    assert frames.random_weights and frames[0].ndvi_path is None
    with rasterio.open(frames[-1][1]) as src:
        assert src.tags()["RANDOM_WEIGHTS"] == "true" and src.tags()["weights_status"] == "random"
    meta = json.loads(frames.manifest.read_text())
    assert meta["random_weights"] is True and meta["weights"]["status"] == "random"


def test_cancel_leaves_no_partial_files(cube, ckpt, tmp_path):
    calls = {"n": 0}

    def cancel_after_some():
        calls["n"] += 1
        return calls["n"] > 5            # model done, part of the frames written

    out = tmp_path / "out"
    with pytest.raises(ForecastCancelled):
        forecast_to_geotiffs(cube, ckpt, out, is_cancelled=cancel_after_some)
    assert calls["n"] > 5
    assert not out.exists()  # no partial files, and no empty folder: the run had created it
    kept = tmp_path / "kept"
    kept.mkdir()
    calls["n"] = 0
    with pytest.raises(ForecastCancelled):
        forecast_to_geotiffs(cube, ckpt, kept, is_cancelled=cancel_after_some)
    assert list(kept.iterdir()) == []  # a folder that was there stays, empty


def test_cancel_stops_the_model_between_tiles(cube, ckpt):
    from rs_embed_qgis.engine.forecast.checkpoint import load_forecast_model
    from rs_embed_qgis.engine.forecast.data import build_sample

    model, norm, _ = load_forecast_model(ckpt)
    s = build_sample(read_minicube(cube), norm, with_targets=False)
    tiles = []

    def cancel_at_third_tile():  # the user clicks once two tiles are done
        return len(tiles) >= 2

    with pytest.raises(ForecastCancelled):
        predict_deltas(model, s["inputs"], tile=10, overlap=2, is_cancelled=cancel_at_third_tile,
                       progress=lambda f, m: tiles.append(m))
    assert tiles == ["tile 1/4", "tile 2/4"]


def test_cancel_stops_inside_a_tiles_forward(cube, ckpt, tmp_path):
    """One tile's forward takes seconds at full size: a cancel stops it between time steps, and
    the run leaves no file."""
    import traceback

    calls = {"n": 0}

    def click_during_the_forward():  # 1 before the tile, then one per ConvLSTM step
        calls["n"] += 1
        return calls["n"] > 4

    out = tmp_path / "out"
    with pytest.raises(ForecastCancelled) as e:
        forecast_to_geotiffs(cube, ckpt, out, is_cancelled=click_during_the_forward)  # one 16 px tile
    assert any(f.name == "forward" and f.filename.endswith("model.py")
               for f in traceback.extract_tb(e.value.__traceback__))
    assert calls["n"] == 5 and not out.exists()


def test_tiled_prediction_covers_every_pixel(cube, ckpt):
    from rs_embed_qgis.engine.forecast.checkpoint import load_forecast_model
    from rs_embed_qgis.engine.forecast.data import build_sample

    model, norm, _ = load_forecast_model(ckpt)
    s = build_sample(read_minicube(cube), norm, with_targets=False)
    whole = predict_deltas(model, s["inputs"], tile=128)
    tiles = []
    tiled = predict_deltas(model, s["inputs"], tile=10, overlap=2,  # progress message: "tile k/n"
                           progress=lambda f, m: tiles.append(tuple(int(v) for v in m.split()[1].split("/"))))
    assert tiles[-1][0] == tiles[-1][1] > 1
    assert (tiled != 0).all()
    # away from tile borders the two agree closely (same model, local context)
    assert np.abs(tiled - whole).mean() < np.abs(whole).mean()


def test_raster_stack_with_landcover_and_weather(cube, ckpt, tmp_path):
    mc = read_minicube(cube)
    from rasterio.transform import Affine

    paths = []
    for i in range(12):                       # two extra, older frames: the last 10 are used
        d = mc.frame_dates[0] - dt.timedelta(days=10) + dt.timedelta(days=5 * i)
        src_i = max(0, i - 2)
        p = tmp_path / f"S2_{d.isoformat()}.tif"
        data = np.nan_to_num(mc.reflectance[src_i]) * 10000.0
        scl = np.where(mc.clear[src_i], 4, 9)[None].astype(np.float32)
        with rasterio.open(p, "w", driver="GTiff", width=16, height=16, count=5, dtype="float32",
                           crs="EPSG:4326", transform=Affine(*mc.transform)) as dst:
            dst.write(np.concatenate([data, scl]).astype(np.float32))
            for b, n in enumerate(["B2", "B3", "B4", "B8A", "SCL"], start=1):
                dst.set_band_description(b, n)
        paths.append(p)
    lc = tmp_path / "worldcover.tif"
    with rasterio.open(lc, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=Affine(*mc.transform)) as dst:
        dst.write(mc.landcover.astype(np.uint8)[None])
    csv = tmp_path / "eobs.csv"
    rows = ["date," + ",".join(mc.weather)]
    for j, d in enumerate(mc.weather_dates):
        rows.append(d.isoformat() + "," + ",".join(f"{mc.weather[v][j]:.4f}" for v in mc.weather))
    csv.write_text("\n".join(rows))
    stack = read_s2_stack(list(reversed(paths)), landcover=lc, weather_csv=csv)
    assert stack.frame_dates == mc.frame_dates[:10]
    np.testing.assert_allclose(stack.reflectance, np.nan_to_num(mc.reflectance[:10]), atol=1e-6)
    assert (stack.landcover == mc.landcover).all()
    assert (stack.clear == mc.clear[:10]).all()
    res = forecast_arrays(stack, ckpt)
    assert res["reflectance"].shape == (20, 4, 16, 16) and res["meta"]["weather_coverage"] == 1.0
    assert res["dates"][0] == mc.frame_dates[9] + dt.timedelta(days=5)
    with pytest.raises(SpecError, match="at least 10"):
        read_s2_stack(paths[:3])


def test_pixel_metrics_and_summary():
    rng = np.random.default_rng(0)
    targ = rng.uniform(0.2, 0.8, (20, 3, 3)).astype(np.float32)
    targ[::4, 0, 0] = np.nan
    lc = np.array([[10, 10, 30], [30, 40, 40], [40, 10, 80]], float)
    perfect = S.pixel_metrics(targ, np.nan_to_num(targ, nan=0.5), landcover=lc, name="a", hq=False)
    assert np.allclose(perfect.nnse, 1.0) and np.allclose(perfect.rmse, 0.0) and np.allclose(perfect.r, 1.0)
    off = S.pixel_metrics(targ, targ + 0.1, landcover=lc, name="a", hq=False)
    assert np.allclose(off.bias, -0.1, atol=1e-5) and np.allclose(off.rmse, 0.1, atol=1e-5)
    summ = S.summarize(off)
    assert summ["rmse"] == pytest.approx(0.1, abs=1e-5) and summ["R2"] == pytest.approx(1.0)
    assert summ["biasabs"] == pytest.approx(0.1, abs=1e-5) and "nse_forest" in summ
    # GreenEarthNet's high-quality filter drops land cover >= 41 and low-variance pixels
    hq = S.pixel_metrics(targ, targ, landcover=lc, name="a", targ_full=np.concatenate([targ[:5], targ]))
    assert set(hq.landcover) <= {10.0, 30.0, 40.0}
    gain = S.outperformance(perfect, off)
    assert gain["outperformance"] == 1.0 and gain["gain_rmse_mean"] == pytest.approx(0.1, abs=1e-5)
    assert S.outperformance(off, off)["outperformance"] == 0.0


def test_climatology_from_multiyear_cube(tmp_path):
    full = read_minicube(synthetic_minicube(tmp_path / "full.nc", size=4, days=3 * 365, start="2017-01-01",
                                            cloud_fraction=0.0))
    dates = [dt.date(2019, 6, 1) + dt.timedelta(days=5 * j) for j in range(20)]
    clim = S.climatology_ndvi(full, dates, exclude_year=2019)
    assert clim.shape == (20, 4, 4) and np.isfinite(clim).all()
    nd = S.target_ndvi(full)
    same_doy = [i for i, d in enumerate(full.frame_dates)
                if d.year != 2019 and abs(d.timetuple().tm_yday - dates[0].timetuple().tm_yday) <= 3]
    assert np.abs(clim[0] - np.nanmean(nd[same_doy], 0)).max() < 0.05


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_score_visualize_and_diagnose_scripts(cube, ckpt, tmp_path, capsys):
    split = cube.parent.parent
    full = tmp_path / "full"
    synthetic_minicube(full / cube.name, size=16, seed=4, days=2 * 365, start="2017-03-01")
    assert _script("score_forecast").main(["--model", str(ckpt), "--split", str(split), "--all_pixels",
                                           "--full_dir", str(full), "--out", str(tmp_path / "scores")]) == 0
    metrics = json.loads((tmp_path / "scores" / "metrics.json").read_text())
    assert {"nse", "rmse", "R2", "biasabs"} <= set(metrics["model"])
    assert 0.0 <= metrics["vs_climatology"]["outperformance"] <= 1.0
    assert (tmp_path / "scores" / "pixel_scores.parquet").exists()
    assert _script("visualize_forecast").main(["--model", str(ckpt), "--split", str(split),
                                               "--out_dir", str(tmp_path / "img")]) == 0
    assert (tmp_path / "img" / "cube_a.png").stat().st_size > 10000
    assert _script("diagnose_signal").main(["--model", str(ckpt), "--split", str(split),
                                            "--out_dir", str(tmp_path / "diag")]) == 0
    for f in ("signal_by_horizon.png", "delta_hist.png", "signal.json"):
        assert (tmp_path / "diag" / f).exists()
    sig = json.loads((tmp_path / "diag" / "signal.json").read_text())
    assert len(sig["bands"]["B8A"]["corr"]) == 20


def test_start_frame_moves_the_input_window(ckpt, tmp_path):
    long = synthetic_minicube(tmp_path / "long.nc", size=16, days=200, seed=5)
    mc = read_minicube(long)
    frames = forecast_to_geotiffs(long, ckpt, tmp_path / "out", start_frame=8, write_ndvi=False)
    assert frames[0].date == mc.frame_dates[8 + 9] + dt.timedelta(days=5)


def test_run_analysis_script_loads_once_and_runs_all_steps(cube, ckpt, tmp_path, monkeypatch):
    import rs_embed_qgis.engine.forecast.checkpoint as ck_mod

    mod = _script("run_forecast_analysis")
    calls = []
    real = ck_mod.load_forecast_model
    monkeypatch.setattr(ck_mod, "load_forecast_model", lambda p: calls.append(p) or real(p))
    assert mod.main(["--model", str(ckpt), "--split", str(cube.parent.parent), "--images_dir",
                     str(tmp_path / "img"), "--scores_dir", str(tmp_path / "sc")]) == 0
    assert len(calls) == 1
    assert (tmp_path / "img" / "predictions" / "cube_a.png").exists()
    assert (tmp_path / "img" / "diagnostics" / "signal.json").exists()
    assert "nse" in json.loads((tmp_path / "sc" / "metrics.json").read_text())["model"]


def test_pixels_never_clear_in_the_input_are_nodata(ckpt, tmp_path):
    mc = read_minicube(synthetic_minicube(tmp_path / "c.nc", size=16, seed=4))
    mc.clear[:10, 3, 5] = False                       # always cloudy in the 10 input frames
    res = forecast_arrays(mc, ckpt)
    assert np.isnan(res["reflectance"][:, :, 3, 5]).all() and np.isnan(res["ndvi"][:, 3, 5]).all()
    assert np.isfinite(res["reflectance"][:, :, 3, 4]).all()
    assert res["meta"]["pixels_without_clear_input"] == 1
