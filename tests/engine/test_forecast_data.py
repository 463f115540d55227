"""GreenEarthNet minicube reading and sample building, on small cubes in the real NetCDF layout."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr

from rs_embed_qgis.engine.errors import ProviderError, SpecError
from rs_embed_qgis.engine.forecast import data as D


@pytest.fixture(scope="module")
def cube_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cubes")
    return D.synthetic_minicube(folder / "32UNU_2019-04-01_test.nc", size=16, seed=3)


def test_synthetic_cube_has_the_greenearthnet_layout(cube_path):
    ds = xr.open_dataset(cube_path)
    for v in ("s2_B02", "s2_B03", "s2_B04", "s2_B8A", "s2_dlmask", "s2_SCL"):
        assert ds[v].dims == ("time", "lat", "lon")
    for v in ("eobs_tg", "eobs_tn", "eobs_tx", "eobs_rr", "eobs_pp", "eobs_hu", "eobs_qq"):
        assert ds[v].dims == ("time",)
    assert ds["esawc_lc"].dims == ("lat", "lon")
    assert ds.sizes["time"] == 150
    assert np.isnan(ds.s2_B02.isel(time=0)).all() and np.isfinite(ds.s2_B02.isel(time=4)).all()
    ds.close()


def test_read_minicube_frames_every_5th_day_from_day_4(cube_path):
    cube = D.read_minicube(cube_path)
    ds = xr.open_dataset(cube_path)
    t0 = ds.time.values[0].astype("datetime64[D]").astype(dt.date)
    ds.close()
    assert cube.reflectance.shape == (30, 4, 16, 16)
    assert cube.frame_dates[0] == t0 + dt.timedelta(days=4)
    assert cube.frame_dates[10] == t0 + dt.timedelta(days=54)         # first target frame
    assert all((b - a).days == 5 for a, b in zip(cube.frame_dates, cube.frame_dates[1:], strict=False))
    assert cube.crs == "EPSG:4326" and cube.transform[0] > 0 and cube.transform[4] < 0
    assert set(cube.weather) == set(D.EOBS_VARS) and len(cube.weather_dates) == 150


def test_clear_mask_is_dlmask_and_scl_with_s2_mask_fallback(tmp_path):
    days, h, w = 10, 2, 2
    s2 = np.full((days, 4, h, w), 0.1, np.float32)
    dl = np.zeros((days, h, w))
    scl = np.full((days, h, w), 4.0)
    dl[4, 0, 0] = 1          # the DL cloud mask vetoes
    scl[4, 0, 1] = 9         # SCL cloud (high probability) vetoes
    scl[4, 1, 0] = 11        # SCL snow vetoes
    dates = np.datetime64("2020-05-01") + np.arange(days).astype("timedelta64[D]")
    lat, lon = np.array([47.0, 46.9]), np.array([10.0, 10.1])
    p = D.write_minicube(tmp_path / "m.nc", s2=s2, dates=dates, lat=lat, lon=lon, dlmask=dl, scl=scl)
    clear = D.read_minicube(p).clear[0]
    assert clear.tolist() == [[False, False], [False, True]]
    m = np.zeros((days, h, w))
    m[4, 1, 1] = 1
    p2 = D.write_minicube(tmp_path / "m2.nc", s2=s2, dates=dates, lat=lat, lon=lon, s2_mask=m)
    assert D.read_minicube(p2).clear[0].tolist() == [[True, True], [True, False]]


def test_south_up_cube_is_flipped_north_up(tmp_path):
    days = 10
    s2 = np.zeros((days, 4, 3, 2), np.float32)
    s2[:, :, 0] = 0.1
    s2[:, :, 2] = 0.3
    dates = np.datetime64("2020-05-01") + np.arange(days).astype("timedelta64[D]")
    p = D.write_minicube(tmp_path / "s.nc", s2=s2, dates=dates, lat=np.array([46.0, 46.1, 46.2]),
                         lon=np.array([10.0, 10.1]), s2_mask=np.zeros((days, 3, 2)))
    cube = D.read_minicube(p)
    assert cube.reflectance[0, 0, 0, 0] == pytest.approx(0.3)    # northernmost row first
    assert cube.transform[4] < 0 and cube.transform[5] == pytest.approx(46.25)


def test_digital_numbers_are_scaled_to_reflectance(tmp_path):
    days = 10
    s2 = np.full((days, 4, 2, 2), 1500.0, np.float32)
    dates = np.datetime64("2020-05-01") + np.arange(days).astype("timedelta64[D]")
    p = D.write_minicube(tmp_path / "dn.nc", s2=s2, dates=dates, lat=np.array([47.0, 46.9]),
                         lon=np.array([10.0, 10.1]), s2_mask=np.zeros((days, 2, 2)))
    cube = D.read_minicube(p)
    assert cube.reflectance.max() == pytest.approx(0.15) and cube.meta["scaled_from_dn"]


def test_missing_variables_and_files_are_named(tmp_path):
    ds = xr.Dataset({"s2_B02": (("time", "lat", "lon"), np.zeros((5, 2, 2)))},
                    coords={"time": np.arange(5).astype("datetime64[D]"), "lat": [1.0, 0.0],
                            "lon": [0.0, 1.0]})
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(ProviderError, match="s2_B03"):
        D.read_minicube(tmp_path / "bad.nc")
    with pytest.raises(ProviderError, match="nope.nc"):
        D.read_minicube(tmp_path / "nope.nc")


def test_bap_fill_walks_backwards_then_forwards():
    v = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(4, 1, 1, 1)
    frames = np.concatenate([v, v], axis=3)          # two pixels
    clear = np.array([[[False, False]], [[True, False]], [[False, False]], [[False, False]]])
    filled, bap = D.bap_fill(frames, clear)
    # pixel 0: first clear at t=1 (value 2) -> t0 back-filled, t2/t3 carry the last clear value
    assert filled[:, 0, 0, 0].tolist() == [2.0, 2.0, 2.0, 2.0]
    assert bap[0, 0, 0] == 2.0
    # pixel 1 never clear: the band median of clear pixels
    assert filled[:, 0, 0, 1].tolist() == [2.0] * 4
    clear2 = clear.copy()
    clear2[3, 0, 0] = True
    assert D.bap_fill(frames, clear2)[1][0, 0, 0] == 4.0      # the most recent clear value wins


def test_build_sample_packs_targets(cube_path):
    cube = D.read_minicube(cube_path)
    norm = D.compute_norm_stats([cube_path])
    s = D.build_sample(cube, norm)
    x, y = s["inputs"], s["y"]
    assert x["sentinel2_sequence"].shape == (10, 4, 16, 16)
    assert x["landcover_map"].shape == (10, 16, 16)
    assert x["temporal_metadata"].shape == (3,)
    assert x["weather_sequence"].shape == (20, 21)
    assert x["target_start_doy"].shape == (1,)
    assert y.shape == (20, 9, 16, 16)
    assert s["target_dates"][0] == cube.frame_dates[10]
    assert x["target_start_doy"][0] == pytest.approx(D.normalized_doy(cube.frame_dates[10]))
    mask = y[:, 0] > 0.5
    assert mask.any() and (~mask).any()                       # the cube has clouds
    assert np.all(y[:, 1:5][np.broadcast_to(~mask[:, None], y[:, 1:5].shape)] == 0)
    # deltas = target - BAP on clear pixels, in normalised units
    tn = norm.normalize(cube.reflectance[10:30])
    np.testing.assert_allclose(y[:, 1:5][np.broadcast_to(mask[:, None], tn.shape)],
                               (tn - s["bap"][None])[np.broadcast_to(mask[:, None], tn.shape)], atol=1e-5)
    np.testing.assert_allclose(y[5, 5:9], s["bap"])
    np.testing.assert_allclose(x["sentinel2_sequence"][-1], s["bap"])
    assert np.isfinite(x["sentinel2_sequence"]).all()


def test_weather_features_are_detrended_anomalies_and_climatology():
    dates = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(100)]
    weather = {v: np.full(100, D.EOBS_MEAN[v]) for v in D.EOBS_VARS}
    weather["tg"] = weather["tg"].copy()
    weather["tg"][60] += 21.0                      # one hot day
    targets = [dates[54], dates[64]]
    f, cov = D.weather_features(weather, dates, targets)
    assert f.shape == (2, 21) and cov == 1.0
    tg = D.EOBS_VARS.index("tg") * 3
    # the window ending day 64 contains the hot day: max anomaly > 0; day 54's window does not
    assert f[1, tg + 1] > 0.5 and f[0, tg + 1] < f[1, tg + 1]
    # other variables are constant at their mean: zero anomalies and zero standardised climatology
    hu = D.EOBS_VARS.index("hu") * 3
    np.testing.assert_allclose(f[:, hu:hu + 3], 0.0, atol=1e-6)
    none, cov0 = D.weather_features({}, [], targets)
    assert cov0 == 0.0 and not none.any()


def test_landcover_onehot_worldcover_codes():
    codes = np.array([[10, 20, 95], [100, np.nan, 0]])
    oh = D.landcover_onehot(codes, (2, 3))
    assert oh.shape == (10, 2, 3)
    assert oh[0, 0, 0] == 1 and oh[1, 0, 1] == 1
    assert oh[D.WORLDCOVER_CODES.index(90), 0, 2] == 1       # mangroves share the wetland channel
    assert oh[9, 1, 0] == 1
    assert oh[:, 1, 1].sum() == 0 and oh[:, 1, 2].sum() == 0


def test_norm_stats_are_global_percentiles(tmp_path, cube_path):
    other = D.synthetic_minicube(tmp_path / "b.nc", size=16, seed=9)
    norm = D.compute_norm_stats([cube_path, other])
    vals = []
    for p in (cube_path, other):
        c = D.read_minicube(p)
        vals.append(c.reflectance.transpose(1, 0, 2, 3)[:, c.clear])
    allv = np.concatenate(vals, axis=1)
    np.testing.assert_allclose(norm.p2, np.percentile(allv, 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(norm.p98, np.percentile(allv, 98, axis=1), rtol=1e-6)
    x = np.random.default_rng(0).random((3, 4, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-6)
    with pytest.raises(SpecError, match="B02"):
        D.NormStats((0.5, 0, 0, 0), (0.1, 1, 1, 1))


def test_dataset_crops_and_too_short_cubes(tmp_path, cube_path):
    ds = D.GreenEarthNetDataset([cube_path], crop=8, seed=1)
    x, y = ds[0]
    assert x["sentinel2_sequence"].shape == (10, 4, 8, 8) and y.shape == (20, 9, 8, 8)
    assert x["weather_sequence"].shape == (20, 21)
    short = D.synthetic_minicube(tmp_path / "short.nc", size=8, days=60)
    with pytest.raises(SpecError, match="30"):
        D.build_sample(D.read_minicube(short), ds.norm)


def test_check_dataset_script(tmp_path, cube_path, capsys):
    import importlib.util
    import pathlib

    split = tmp_path / "train"
    D.synthetic_minicube(split / "32UNU" / "a.nc", size=16, seed=1)
    D.synthetic_minicube(split / "32UNU" / "b.nc", size=16, seed=2)
    spec = importlib.util.spec_from_file_location(
        "check_dataset", pathlib.Path(__file__).resolve().parents[2] / "scripts" / "check_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--split", str(split)]) == 0
    out = capsys.readouterr().out
    assert "weather_sequence" in out and "OUT OF RANGE" not in out


def test_long_cubes_give_random_30_frame_windows(tmp_path):
    p = D.synthetic_minicube(tmp_path / "long.nc", size=8, days=300, seed=2)
    cube = D.read_minicube(p)
    assert cube.reflectance.shape[0] == 60
    w = cube.window(5, 30)
    assert w.frame_dates == cube.frame_dates[5:35] and w.meta["start_frame"] == 5
    with pytest.raises(SpecError, match="start frame 60"):
        cube.window(60)
    ds = D.GreenEarthNetDataset([p], random_window=True, seed=0)
    starts = {ds.sample(0)["context_dates"][0] for _ in range(8)}
    assert len(starts) > 1 and starts <= set(cube.frame_dates[:31])
    fixed = D.GreenEarthNetDataset([p], ds.norm)
    assert fixed.sample(0)["context_dates"][0] == cube.frame_dates[0]


def test_projected_xy_cube_keeps_its_crs(tmp_path):
    days, n = 10, 4
    rng = np.random.default_rng(0)
    thw = ("time", "y", "x")
    data = {f"s2_{b}": (thw, rng.uniform(0.05, 0.3, (days, n, n)).astype(np.float32)) for b in D.S2_BANDS}
    data["s2_mask"] = (thw, np.zeros((days, n, n), np.float32))
    time = np.datetime64("2021-05-01") + np.arange(days).astype("timedelta64[D]")
    ds = xr.Dataset(data, coords={"time": time, "y": 5300005.0 - 10 * np.arange(n),
                                  "x": 500005.0 + 10 * np.arange(n)},
                    attrs={"epsg": 32632})
    ds.to_netcdf(tmp_path / "utm.nc")
    cube = D.read_minicube(tmp_path / "utm.nc")
    assert cube.crs == "EPSG:32632"
    assert cube.transform == pytest.approx((10.0, 0.0, 500000.0, 0.0, -10.0, 5300010.0))
    assert cube.landcover is None and cube.weather == {}


def test_dataloader_workers_draw_different_crops(cube_path):
    import torch

    torch.manual_seed(0)
    ds = D.GreenEarthNetDataset([cube_path] * 2, crop=4, seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    # item 0 comes from worker 0, item 1 from worker 1: each worker's first draw
    crops = [x["sentinel2_sequence"][0, 0, 0].numpy().tobytes() for x, _ in loader]
    assert crops[0] != crops[1]
