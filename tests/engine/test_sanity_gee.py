"""Input sanity is the same for the Earth Engine backend: the valid fraction and the value
checks of providers/sanity.py, against the loopback Earth Engine server."""
import pytest

pytest.importorskip("ee")

from rs_embed_qgis.engine import BBox, PointBuffer, ProviderError, SensorSpec, TemporalSpec  # noqa: E402

S2 = "COPERNICUS/S2_SR_HARMONIZED"
ROI = PointBuffer(9.02, 47.84, 500)


def test_earth_engine_patches_carry_and_enforce_the_same_facts(make_gee):
    patch = make_gee().fetch(ROI, TemporalSpec.range("2022-06-01", "2022-09-01"), SensorSpec(S2, ("B4", "B3")))
    facts = patch.meta["input_sanity"]
    assert facts["valid_fraction"] == 1.0 and facts["issues"] == [] and facts["checked_bands"] == ["B4", "B3"]
    cloudy = TemporalSpec.range("2022-05-30", "2022-05-31")  # the sample's 13 % cloudy scene
    sensor = SensorSpec(S2, ("B4", "B3"), cloudy_pct=100)
    whole = BBox(9.0, 47.8264, 9.0401, 47.8533)  # the whole sample: some of it under the clouds
    assert 0.5 < make_gee().fetch(whole, cloudy, sensor).meta["input_sanity"]["valid_fraction"] < 1.0
    with pytest.raises(ProviderError, match=r"of the pixels have valid data .*min_valid_fraction is 0.99"):
        make_gee(min_valid_fraction=0.99).fetch(whole, cloudy, sensor)
