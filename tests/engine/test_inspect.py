"""Input inspection: inspect_provider_patch / inspect_gee_patch reports, quick-looks,
and SensorSpec.check_input / check_raise during embedding."""
import json

import numpy as np
import pytest
from PIL import Image

from rs_embed_qgis.engine import (
    PointBuffer,
    ProviderError,
    SensorSpec,
    SpecError,
    TemporalSpec,
    get_embedding,
)
from rs_embed_qgis.engine.input_checks import check_patch, inspect_array
from rs_embed_qgis.engine.providers.base import Patch

ROI = PointBuffer(9.02, 47.84, 300)
SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")


def s2(**kw):
    d = dict(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"), scale_m=10)
    d.update(kw)
    return SensorSpec(**d)


def test_inspect_array_statistics_and_issues():
    x = np.stack([np.arange(100, dtype=np.float32).reshape(10, 10),
                  np.full((10, 10), 7.0, np.float32),
                  np.zeros((10, 10), np.float32)])
    x[0, 0, :5] = np.nan
    rep = inspect_array(x, name="t", bands=["a", "b", "c"], value_range=(0, 50), fill_value=0.0)
    assert rep["ok"] is False
    assert rep["band_stats"]["a"]["max"] == 99.0 and rep["band_stats"]["b"]["mean"] == 7.0
    assert rep["band_nan_frac"] == [0.05, 0.0, 0.0]
    assert rep["constant_bands"] == ["b", "c"]
    assert rep["band_fill_frac"][2] == 1.0
    assert rep["band_outside_range_frac"][0] == pytest.approx(49 / 95)  # 51..99 of the 95 finite values
    issues = " ".join(rep["issues"])
    assert "NaN" in issues and "near-constant" in issues and "outside [0.0, 50.0]" in issues
    json.dumps(rep)


def test_inspect_array_clean_patch_is_ok_and_tchw_frames():
    rng = np.random.default_rng(0)
    x = rng.uniform(100, 3000, size=(2, 3, 16, 16)).astype(np.float32)
    x[1] = 0.0  # a frame of fill only
    rep = inspect_array(x, bands=["B4", "B3", "B2"], fill_value=0.0, value_range=(0, 10000))
    assert rep["frame_fill_frac"] == [0.0, 1.0]
    assert rep["fill_frac"] == 0.5 and rep["ok"] is True
    with pytest.raises(SpecError, match="value_range"):
        inspect_array(x, value_range=(5, 1))


def test_inspect_provider_patch_local_backend_with_quicklook(tmp_path):
    from rs_embed_qgis.engine import inspect_provider_patch

    out = inspect_provider_patch(spatial=ROI, temporal=SUMMER, backend="local",
                                 sensor=s2(check_input=True, check_save_dir=str(tmp_path)),
                                 value_range=(0, 10000), return_array=True)
    arr = out.pop("array_chw")
    json.dumps(out)  # everything else is JSON
    assert out["ok"] is True and out["backend"] == "local"
    rep = out["report"]
    assert rep["shape"] == [1, 3, 61, 61] and arr.shape == (3, 61, 61)
    assert rep["fill_frac"] == 0.0 and rep["outside_range_frac"] == 0.0
    assert rep["frames"][0]["n_scenes"] == 3 and rep["grid"]["crs"] == "EPSG:32632"
    assert out["sensor"]["bands"] == ["B4", "B3", "B2"]
    assert out["temporal"] == {"mode": "range", "year": None, "start": "2022-06-01", "end": "2022-09-01"}
    png = out["artifacts"]["quicklook_rgb"]
    img = Image.open(png)
    assert img.size == (61, 61) and img.mode == "RGB"
    assert np.asarray(img).std() > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_inspect_gee_patch_matches_local(gee_options):
    from rs_embed_qgis.engine import inspect_gee_patch, inspect_provider_patch

    gee = inspect_gee_patch(spatial=ROI, temporal=SUMMER, sensor=s2(), provider_options=gee_options)
    loc = inspect_provider_patch(spatial=ROI, temporal=SUMMER, sensor=s2(), backend="local")
    assert gee["ok"] and gee["backend"] == "gee" and gee["artifacts"] is None
    for k in ("band_min", "band_max", "band_mean", "fill_frac"):
        assert gee["report"][k] == loc["report"][k]
    assert gee["input"]["collection"] == "COPERNICUS/S2_SR_HARMONIZED"
    json.dumps(gee)


def test_inspect_multi_frame_quicklook_strip(tmp_path, gee_options):
    from rs_embed_qgis.engine import inspect_gee_patch

    out = inspect_gee_patch(spatial=ROI, temporal=TemporalSpec.year(2022), frames=3,
                            sensor=s2(check_save_dir=str(tmp_path)), provider_options=gee_options,
                            return_array=True)
    assert out["array_tchw"].shape == (3, 3, 61, 61)
    assert Image.open(out["artifacts"]["quicklook_rgb"]).size == (3 * 61 + 2 * 2, 61)
    assert len(out["report"]["frames"]) == 3


def _constant_input():
    return np.full((3, 40, 40), 500.0, np.float32)


def test_check_input_raises_during_embedding():
    with pytest.raises(ProviderError, match="input check failed.*near-constant"):
        get_embedding("mosaiks", spatial=ROI, sensor=s2(check_input=True), input_chw=_constant_input(),
                      backend="local", model_options={"num_features": 16})


def test_check_input_report_and_quicklook_kept_when_not_raising(tmp_path):
    emb = get_embedding("mosaiks", spatial=ROI, input_chw=_constant_input(), backend="local",
                        sensor=s2(check_input=True, check_raise=False, check_save_dir=str(tmp_path)),
                        model_options={"num_features": 16})
    chk = emb.meta["input_check"]
    assert chk["ok"] is False and chk["report"]["constant_bands"] == ["B4", "B3", "B2"]
    assert Image.open(chk["artifacts"]["quicklook_rgb"]).size == (40, 40)


def test_environment_switches_checks_on(monkeypatch):
    monkeypatch.setenv("RS_EMBED_CHECK_INPUT", "1")
    with pytest.raises(ProviderError, match="input check failed"):
        get_embedding("mosaiks", spatial=ROI, sensor=s2(), input_chw=_constant_input(),
                      backend="local", model_options={"num_features": 16})
    monkeypatch.setenv("RS_EMBED_CHECK_RAISE", "0")
    emb = get_embedding("mosaiks", spatial=ROI, sensor=s2(), input_chw=_constant_input(),
                        backend="local", model_options={"num_features": 16})
    assert emb.meta["input_check"]["ok"] is False


def test_check_patch_without_grid_or_frames():
    p = Patch(np.ones((2, 4, 4), np.float32) * np.arange(16).reshape(4, 4), ("B4", "B8"))
    out = check_patch(p, name="data")
    assert out["ok"] is True and out["sensor"] is None and "grid" not in out["report"]
