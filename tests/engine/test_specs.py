"""Specs follow the rs-embed reference; bad values raise SpecError naming the value."""
import datetime as dt

import pytest

from rs_embed_qgis.engine import BBox, OutputSpec, PointBuffer, SensorSpec, SpecError, TemporalSpec
from rs_embed_qgis.engine.specs import normalize_temporal, spatial_from_dict


def test_defaults_match_the_reference():
    s = SensorSpec(collection="COPERNICUS/S2_SR_HARMONIZED", bands=("B4", "B3", "B2"))
    assert (s.scale_m, s.cloudy_pct, s.fill_value, s.composite) == (10, 30, 0.0, "median")
    assert (s.check_input, s.check_raise, s.check_save_dir) == (False, True, None)
    o = OutputSpec.pooled()
    assert (o.mode, o.scale_m, o.pooling, o.grid_orientation) == ("pooled", 10, "mean", "north_up")
    g = OutputSpec.grid(scale_m=20, grid_orientation="native")
    assert (g.mode, g.scale_m, g.grid_orientation) == ("grid", 20, "native")
    assert BBox(1, 2, 3, 4).crs == "EPSG:4326" and PointBuffer(1, 2, 3).crs == "EPSG:4326"


def test_temporal_is_half_open_with_midpoint():
    t = TemporalSpec.range("2022-06-01", "2022-09-01")
    assert t.bounds() == (dt.date(2022, 6, 1), dt.date(2022, 9, 1))
    assert t.input_time == dt.date(2022, 7, 17)
    y = TemporalSpec.year(2022)
    assert y.mode == "year" and y.year == 2022
    assert y.bounds() == (dt.date(2022, 1, 1), dt.date(2023, 1, 1))
    n = normalize_temporal(y)
    assert (n.mode, n.start, n.end) == ("range", "2022-01-01", "2023-01-01")


def test_split_into_bins_covers_the_window_without_gaps():
    bins = TemporalSpec.year(2022).split(8)
    assert len(bins) == 8
    assert bins[0].start == dt.date(2022, 1, 1) and bins[-1].end == dt.date(2023, 1, 1)
    for a, b in zip(bins, bins[1:], strict=False):
        assert a.end == b.start
    assert all(b.start < b.mid < b.end for b in bins)


@pytest.mark.parametrize("make, bad", [
    (lambda: BBox(10, 50, 9, 51).validate(), "minlon=10"),
    (lambda: BBox(9, 51, 10, 50).validate(), "minlat=51"),
    (lambda: BBox(200, 50, 201, 51).validate(), "200"),
    (lambda: BBox(9, 50, 10, 51, crs="EPSG:3857").validate(), "EPSG:3857"),
    (lambda: BBox("a", 50, 10, 51).validate(), "'a'"),
    (lambda: PointBuffer(9, 47, -5).validate(), "-5"),
    (lambda: PointBuffer(9, 47, 0).validate(), "got 0"),
    (lambda: PointBuffer(9, 95, 100).validate(), "95"),
    (lambda: PointBuffer(float("nan"), 47, 100).validate(), "nan"),
    (lambda: TemporalSpec.range("2022-09-01", "2022-06-01"), "2022-09-01"),
    (lambda: TemporalSpec.range("2022-06-01", "2022-06-01"), "2022-06-01"),
    (lambda: TemporalSpec.range("2022-13-01", "2023-01-01"), "2022-13-01"),
    (lambda: TemporalSpec.range("June", "2023-01-01"), "June"),
    (lambda: TemporalSpec(mode="range", start="2022-01-01").validate(), "end=None"),
    (lambda: TemporalSpec.year("2022"), "'2022'"),
    (lambda: TemporalSpec.year(1800), "1800"),
    (lambda: TemporalSpec(mode="month", year=2022).validate(), "'month'"),
    (lambda: SensorSpec("C", ()).validate(), "()"),
    (lambda: SensorSpec("C", ("B4", "B4")).validate(), "'B4', 'B4'"),
    (lambda: SensorSpec("", ("B4",)).validate(), "''"),
    (lambda: SensorSpec("C", ("B4",), scale_m=-10).validate(), "-10"),
    (lambda: SensorSpec("C", ("B4",), cloudy_pct=130).validate(), "130"),
    (lambda: SensorSpec("C", ("B4",), composite="mean").validate(), "'mean'"),
    (lambda: SensorSpec("C", ("B4",), fill_value="x").validate(), "'x'"),
    (lambda: OutputSpec.pooled(pooling="median"), "'median'"),
    (lambda: OutputSpec.grid(scale_m=0), "got 0"),
    (lambda: OutputSpec.grid(grid_orientation="south_up"), "'south_up'"),
    (lambda: OutputSpec(mode="vector").validate(), "'vector'"),
    (lambda: spatial_from_dict({"type": "Circle"}), "'Circle'"),
    (lambda: TemporalSpec.year(2022).split(0), "0"),
])
def test_bad_specs_raise_spec_error_naming_the_value(make, bad):
    with pytest.raises(SpecError) as info:
        make()
    assert bad in str(info.value)


def test_specs_round_trip_through_dicts():
    s = SensorSpec("COPERNICUS/S2_SR_HARMONIZED", ("B4", "B3"), scale_m=20, composite="mosaic")
    assert SensorSpec.from_dict(s.to_dict()) == s
    o = OutputSpec.grid(30)
    assert OutputSpec.from_dict(o.to_dict()) == o
    t = TemporalSpec.range("2022-01-01", "2022-02-01")
    assert TemporalSpec.from_dict(t.to_dict()) == t
    for sp in (BBox(9, 47, 9.1, 47.1), PointBuffer(9, 47, 100)):
        assert spatial_from_dict(sp.to_dict()) == sp


def test_dates_are_found_in_file_names_and_tags():
    from rs_embed_qgis.engine.specs import date_in_text

    assert date_in_text("S2_L2A_20220715_sample.tif") == dt.date(2022, 7, 15)
    assert date_in_text("scene_2022-06-10.tif") == dt.date(2022, 6, 10)
    assert date_in_text("2022_06_10") == dt.date(2022, 6, 10)
    assert date_in_text("tile_12345678_20210101") == dt.date(2021, 1, 1)  # skips non-dates
    assert date_in_text("no date here") is None and date_in_text(None) is None


def test_spec_dicts_are_dataclasses_asdict():
    """specs.asdict skips dataclasses.asdict's deep copy: right only while every field is flat."""
    import dataclasses

    from rs_embed_qgis.engine import specs as S
    from rs_embed_qgis.engine.catalog import ENTRIES

    objs = [S.BBox(9, 47, 9.1, 47.1), S.PointBuffer(9, 47, 100), S.TemporalSpec.range("2022-01-01", "2022-02-01"),
            S.TemporalSpec.year(2022), S.OutputSpec.pooled(), S.OutputSpec.grid(scale_m=30), S.FetchSpec(scale_m=20),
            S.InputPrepSpec.auto()] + [e.default_sensor for e in ENTRIES.values() if e.default_sensor is not None]
    for o in objs:
        assert S.asdict(o) == dataclasses.asdict(o)
        for v in S.asdict(o).values():
            assert v is None or isinstance(v, (str, int, float)) or (
                isinstance(v, tuple) and all(isinstance(x, (str, int, float)) for x in v)), (type(o).__name__, v)
