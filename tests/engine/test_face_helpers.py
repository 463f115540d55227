"""Engine helpers the Processing algorithms and the dock share (no QGIS needed): safe file
names, band maps and raster pixels for a model, and the plugin's embedding runs."""
import numpy as np
import pytest
import rasterio

from rs_embed_qgis.engine import OutputSpec, PointBuffer, SpecError, names, pipeline, user_raster


def test_file_stems_are_safe_and_unique():
    assert names.file_stems(["field A", "Field A", "x/y:z", "", None, "..", "ok"]) == [
        "field_A", "Field_A_2", "x_y_z", "roi", "roi_2", "roi_3", "ok"]


def test_band_map_parsing_and_resolution():
    assert user_raster.parse_band_map("B4=3; B3 = 2,B2=1") == {"B4": 3, "B3": 2, "B2": 1}
    for bad, word in (("B4", "MODEL_BAND=LAYER_BAND"), ("B4=x", "'x'"), ("B4=0", ">= 1"),
                      ("B4=1,B04=2", "mapped twice")):
        with pytest.raises(SpecError, match=word):
            user_raster.parse_band_map(bad)
    model = ["B4", "B3", "B2"]
    assert user_raster.resolve_band_map(model, ["B02", "B03", "B04", "B08"]) == {"B4": 3, "B3": 2, "B2": 1}
    assert user_raster.resolve_band_map(model, ["", "", ""]) == {"B4": 1, "B3": 2, "B2": 3}
    with pytest.raises(SpecError, match="B4=1, B3=2, B2=3"):
        user_raster.resolve_band_map(model, ["a", "b", "c", "d"])
    with pytest.raises(SpecError, match="only 2 band"):
        user_raster.resolve_band_map(model, ["a", "b"], {"B4": 3, "B3": 2, "B2": 1})


def test_read_raster_window_scale_and_nodata(tmp_path):
    arr = np.arange(2 * 20 * 30, dtype=np.float32).reshape(2, 20, 30) / 1000
    arr[0, 0, 0] = -1
    t = rasterio.transform.from_origin(500000, 5300000, 10, 10)
    path = tmp_path / "r.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=2, dtype="float32",
                       crs="EPSG:32632", transform=t, nodata=-1) as dst:
        dst.write(arr)
    res = user_raster.read_raster_for_model(path, {"B8": 2, "B4": 1}, scale=10000,
                                     bounds=(500000, 5299900, 500100, 5300000))
    assert res["bands"] == ["B8", "B4"] and res["data"].shape == (2, 10, 10)
    np.testing.assert_allclose(res["data"][0], arr[1, :10, :10] * 10000, rtol=1e-6)
    assert res["data"][1, 0, 0] == 0 and res["nodata_fraction"] == pytest.approx(0.01)
    assert res["transform"] == pytest.approx([10, 0, 500000, 0, -10, 5300000])
    with pytest.raises(SpecError, match="does not overlap"):
        user_raster.read_raster_for_model(path, {"B4": 1}, bounds=(0, 0, 10, 10))


def test_run_embed_items_isolates_a_failing_roi(summer):
    req = pipeline.EmbedRequest(
        model="mosaiks", temporal=summer, output=OutputSpec.pooled(), backend="local",
        spatials=[PointBuffer(9.02, 47.84, 200), PointBuffer(10.5, 48.0, 200),
                  PointBuffer(9.01, 47.835, 200)],
        model_options={"num_features": 16})
    errors = []
    out = pipeline.run_embed(req, on_error=lambda i, e: errors.append((i, str(e))))
    assert [o is None for o in out] == [False, True, False]
    assert errors[0][0] == 1 and "outside the local data" in errors[0][1]
    shapes = pipeline.run_embed(req, on_error=lambda i, e: None, on_result=lambda i, e: (i, e.array.shape))
    assert shapes == [(0, (16,)), None, (2, (16,))]
    alone = pipeline.run_embed(pipeline.EmbedRequest(**{**req.__dict__, "spatials": [req.spatials[2]]}))[0]
    np.testing.assert_allclose(out[2].array, alone.array)
