"""Coverage (issue 17): the share of the ROI with valid data is in the meta, the files and the
manifests; a partly covered ROI warns; below the threshold the run fails."""
from __future__ import annotations

import json
import logging

import pytest

from rs_embed_qgis.engine import BBox, OutputSpec, ProviderError, TemporalSpec, get_embedding
from rs_embed_qgis.engine.providers.sanity import COVERAGE_WARN_BELOW, MIN_VALID_FRACTION

SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
SMALL = {"num_features": 8}
# the sample ends at lon 9.0401: three quarters of this ROI lie east of the data
HALF_OUT = BBox(9.025, 47.83, 9.085, 47.85)
INSIDE = BBox(9.005, 47.83, 9.035, 47.85)


def test_coverage_is_in_the_meta_and_a_partly_covered_roi_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="rs_embed_qgis"):
        emb = get_embedding("mosaiks", spatial=HALF_OUT, temporal=SUMMER, output=OutputSpec.grid(scale_m=100),
                            backend="local", model_options=SMALL)
    cov = emb.meta["coverage"]
    assert cov["valid_fraction"] == pytest.approx(0.25, abs=0.02)  # 0.0151 of 0.06 degrees
    assert cov["min_valid_fraction"] == MIN_VALID_FRACTION and cov["warn_below"] == COVERAGE_WARN_BELOW
    assert len(cov["frame_valid_fraction"]) == 1
    (warning,) = emb.meta["warnings"]
    assert "only 25% of ROI" in warning and "fill value" in warning
    assert warning in caplog.text  # the log: the plugin shows it in its log tab
    inside = get_embedding("mosaiks", spatial=INSIDE, temporal=SUMMER, output=OutputSpec.grid(scale_m=100),
                           backend="local", model_options=SMALL)
    assert inside.meta["coverage"]["valid_fraction"] >= COVERAGE_WARN_BELOW and "warnings" not in inside.meta


def test_below_the_threshold_the_run_fails_naming_the_fraction():
    with pytest.raises(ProviderError, match=r"only 25\.\d% of the pixels have valid data.*min_valid_fraction is 0\.5"):
        get_embedding("mosaiks", spatial=HALF_OUT, temporal=SUMMER, backend="local", model_options=SMALL,
                      provider_options={"min_valid_fraction": 0.5})


def test_coverage_travels_into_geotiff_tags_and_export_manifests(tmp_path):
    from rs_embed_qgis.engine.export import export_batch
    from rs_embed_qgis.engine.geoio import raster_info
    from rs_embed_qgis.engine.io import write_embedding_geotiff

    emb = get_embedding("mosaiks", spatial=HALF_OUT, temporal=SUMMER, output=OutputSpec.grid(scale_m=100),
                        backend="local", model_options=SMALL)
    meta = json.loads(raster_info(write_embedding_geotiff(emb, tmp_path / "g.tif")).tags["RS_EMBED_META"])
    assert meta["coverage"]["valid_fraction"] == pytest.approx(0.25, abs=0.02) and meta["warnings"]
    (item,) = export_batch(spatials=[HALF_OUT], temporal=SUMMER, models=["mosaiks"], out_dir=str(tmp_path / "e"),
                           backend="local", model_options={"mosaiks": SMALL}, show_progress=False)
    m = item["models"][0]["meta"]
    assert m["coverage"]["valid_fraction"] == pytest.approx(0.25, abs=0.02) and "fill value" in m["warnings"][0]
