"""The shared frame-selection policy of multi-frame models (engine/embedders/frames.py)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rs_embed_qgis.engine import TemporalSpec
from rs_embed_qgis.engine.embedders.frames import FramePolicy, months_in, resolve_window
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.providers.base import Patch


def _patch(n_scenes, valid=None, t=TemporalSpec.range("2022-01-01", "2023-01-01")):
    """A 2-band patch whose frames carry the provider's bin records."""
    bins = t.split(len(n_scenes))
    valid = valid or [1.0 if n else 0.0 for n in n_scenes]
    frames = [{**b.to_dict(), "n_scenes": n, "valid_fraction": v}
              for b, n, v in zip(bins, n_scenes, valid, strict=True)]
    data = np.arange(len(n_scenes), dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 4, 4), np.float32)
    return Patch(data, ("B4", "B8"), frames=frames, temporal=t)


def test_monthly_bins_follow_the_window_and_stop_at_the_cap():
    monthly = FramePolicy.from_option("monthly", default=4, max_frames=12, empty="drop", model="m")
    assert monthly.mode == "monthly"
    assert monthly.n_bins(TemporalSpec.year(2022)) == 12
    assert monthly.n_bins(TemporalSpec.range("2022-01-01", "2024-01-01")) == 12   # capped
    assert monthly.n_bins(TemporalSpec.range("2022-06-01", "2022-09-01")) == 3
    assert monthly.n_bins(TemporalSpec.range("2022-06-01", "2022-06-10")) == 1
    assert months_in(TemporalSpec.range("2022-01-01", "2022-03-01")) == 2
    # "auto" is the same window-adaptive mode (rs-embed's name for it)
    assert FramePolicy.from_option("auto", default=4, max_frames=12, empty="drop", model="m") == monthly


def test_fixed_count_and_bad_values():
    p = FramePolicy.from_option(None, default=4, max_frames=4, empty="drop", model="prithvi")
    assert (p.mode, p.n_bins(TemporalSpec.year(2022))) == ("fixed", 4)
    assert FramePolicy.from_option("3", default=4, max_frames=4, empty="drop", model="x").frames == 3
    for bad in (0, 5, True, 2.5, "weekly"):
        with pytest.raises(ModelError, match="prithvi model option frames must be an int from 1 to 4"):
            FramePolicy.from_option(bad, default=4, max_frames=4, empty="drop", model="prithvi")
    with pytest.raises(ModelError, match="empty-bin handling"):
        FramePolicy("fixed", 2, None, "fill")


def test_empty_bins_are_reported_and_handled_as_the_model_says():
    patch = _patch([2, 0, 3, 1], valid=[1.0, 0.0, 0.0, 0.5])  # bin 2 has scenes but no valid pixel
    drop = FramePolicy("fixed", 4, 4, "drop").select(patch)
    assert drop.used == [0, 3] and drop.masked == []
    assert drop.meta["empty_bins"] == [1, 2] and drop.meta["empty_handling"] == "dropped"
    assert drop.meta["empty_reasons"] == {"1": "no scene in the bin",
                                          "2": "no valid pixel over the ROI (all masked)"}
    assert drop.dates == [dt.date(2022, 2, 15), dt.date(2022, 11, 16)]
    keep = FramePolicy("fixed", 4, None, "keep").select(patch)
    assert keep.used == [0, 1, 2, 3] and keep.meta["empty_handling"].startswith("kept")
    mask = FramePolicy("fixed", 4, None, "mask").select(patch)
    assert mask.used == [0, 1, 2, 3] and mask.masked == [1, 2]
    assert mask.mask_flags().tolist() == [False, True, True, False]
    full = FramePolicy("fixed", 4, 4, "drop").select(_patch([1, 1, 1, 1]))
    assert full.meta["empty_bins"] == [] and full.meta["empty_handling"] is None


def test_all_empty_keeps_one_frame_and_says_so():
    sel = FramePolicy("fixed", 3, 3, "drop").select(_patch([0, 0, 0]))
    assert sel.used == [0] and "every bin was empty" in sel.meta["note"]


def test_more_frames_than_the_model_takes_are_evenly_thinned():
    sel = FramePolicy("monthly", 1, 4, "drop").select(_patch([1] * 12))
    assert sel.used == [0, 4, 7, 11]
    assert sel.meta["frames_over_max_dropped"] == [1, 2, 3, 5, 6, 8, 9, 10]


def test_caller_data_without_bin_records_uses_every_frame():
    p = Patch(np.zeros((3, 2, 4, 4), np.float32), ("B4", "B8"))
    sel = FramePolicy("monthly", 1, 12, "drop").select(p)
    assert sel.used == [0, 1, 2] and sel.dates == [None, None, None] and sel.meta["empty_bins"] == []


def test_default_window_warns():
    with pytest.warns(UserWarning, match="galileo: temporal=None"):
        t = resolve_window(None, "galileo")
    assert t.bounds() == (dt.date(2022, 6, 1), dt.date(2022, 9, 1))
    assert resolve_window(TemporalSpec.year(2021), "galileo").mode == "range"


def test_export_batch_fetches_the_bins_the_policy_asks_for(tmp_path, one_torch_thread):
    """export_batch plans its fetch with frames_for: monthly models get one bin per month
    of the window, Prithvi its fixed count; one fetch group each, embeddings written."""
    import json

    from rs_embed_qgis.engine import PointBuffer
    from rs_embed_qgis.engine.api import clear_caches
    from rs_embed_qgis.engine.export import export_batch

    clear_caches()
    small = {"allow_random_weights": True, "image_size": 16, "variant": "nano"}
    export_batch(spatials=[PointBuffer(9.02, 47.8398, 200)], temporal=TemporalSpec.range("2022-03-01", "2022-06-01"),
                 models=["galileo", "olmoearth", "prithvi"], out_dir=str(tmp_path / "o"), backend="local",
                 device="cpu", save_inputs=False,
                 model_options={"galileo": small, "olmoearth": small,
                                "prithvi": {"allow_random_weights": True, "variant": "100M", "frames": 2,
                                            "arch": {"depth": 1}}})
    run = json.loads((tmp_path / "o" / "export_run.json").read_text())
    frames = {m["model"]: m["frames"] for m in run["models"]}
    assert frames == {"galileo": 3, "olmoearth": 3, "prithvi": 2}
    groups = {m["model"]: m["fetch_group"] for m in run["models"]}
    assert groups["galileo"] == groups["olmoearth"] != groups["prithvi"]  # same bins: fetched once
    item = json.loads((tmp_path / "o" / "p00000.json").read_text())
    assert {e["model"]: e["status"] for e in item["models"]} == dict.fromkeys(frames, "ok")
    clear_caches()
