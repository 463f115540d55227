"""Whole-raster super-resolution: exact tiling, georeferencing, nodata, tags, cancel."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from superres_util import S2, save_sharded, write_raster
from torch.nn import functional as F

from rs_embed_qgis.engine.errors import SpecError
from rs_embed_qgis.engine.superres.decoder import S2x10Config, S2x10NetS
from rs_embed_qgis.engine.superres.models import InterpolationUpsampler, LearnedUpsampler
from rs_embed_qgis.engine.superres.raster import (
    Cancelled,
    resolve_band_map,
    super_resolve_raster,
    tile_size,
    tile_starts,
)

# receptive-field radius 5 input px: fits in the guard band (overlap // 4) of overlap >= 20
NARROW = S2x10Config(num_feat=8, num_block=0, num_grow_ch=4, up_scales=(10,))


def _narrow_model():
    torch.manual_seed(0)
    net = S2x10NetS(NARROW)
    return LearnedUpsampler(net, weights_status="random", device="cpu")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.descriptions, ds


def test_tile_layout_covers_with_at_least_the_overlap():
    for n, t, o in [(70, 48, 20), (1000, 128, 32), (129, 128, 32), (128, 128, 32), (50, 128, 32)]:
        s = tile_starts(n, min(t, n), o)
        assert s[0] == 0 and s[-1] + min(t, n) == n
        assert all(b - a <= min(t, n) - o for a, b in zip(s, s[1:], strict=False))


def test_tiles_shrink_so_neighbours_overlap_by_the_overlap_not_more():
    """The overlap's cost (the area the model covers) stays ~(tile / (tile - overlap))^2 at any size."""
    for n, t, o in [(10980, 384, 24), (10980, 512, 32), (768, 384, 24), (1000, 128, 32), (700, 384, 24),
                    (385, 384, 24), (384, 384, 24), (50, 384, 24)]:
        size = tile_size(n, t, o)
        starts = tile_starts(n, size, o)
        assert size <= t and starts[0] == 0 and starts[-1] + size == n
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(size - g >= o for g in gaps)                    # at least the overlap everywhere
        assert all(size - g <= o + 1 for g in gaps)                # and no more (rounding aside)
        if n > t:
            assert len(starts) * size / n <= t / (t - o) + 1.0 / len(starts)
    assert (len(tile_starts(10980, tile_size(10980, 384, 24), 24)) * tile_size(10980, 384, 24) / 10980) ** 2 < 1.15


def test_tiling_is_exact_when_receptive_field_fits_the_overlap(tmp_path):
    data = write_raster(tmp_path / "in.tif", 70, 90)
    m = _narrow_model()
    assert m.receptive_field_radius() <= 20 // 4
    meta = super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model=m, tile=48, overlap=20,
                                out_dtype="float32")
    assert meta["tiles"] == 6 and meta["exact_tiling"] is True
    whole = m(torch.from_numpy(data.astype("float32"))[None])[0].numpy()
    out, *_ = _read(tmp_path / "out.tif")
    assert out.shape == (10, 700, 900)
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-6 * np.abs(whole).max())


def test_tiling_too_narrow_overlap_is_not_exact(tmp_path):
    """The exactness test above can fail: with a guard band narrower than the receptive field,
    seams differ."""
    data = write_raster(tmp_path / "in.tif", 70, 90)
    m = _narrow_model()
    meta = super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model=m, tile=48, overlap=4,
                                out_dtype="float32")
    assert meta["exact_tiling"] is False
    whole = m(torch.from_numpy(data.astype("float32"))[None])[0].numpy()
    out, *_ = _read(tmp_path / "out.tif")
    assert np.abs(out - whole).max() > 1000 * 1e-6 * np.abs(whole).max()  # 1000x the exact test's tolerance


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_baselines_run_through_the_same_tiled_path(tmp_path, method):
    data = write_raster(tmp_path / "in.tif", 45, 61, dtype="float32", nodata=None)
    meta = super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model=method, tile=40, overlap=16,
                                device="cpu")
    out, prof, tags, desc, _ = _read(tmp_path / "out.tif")
    x = torch.from_numpy(data)[None]
    if method == "bicubic":
        ref = F.interpolate(x, scale_factor=10, mode="bicubic", align_corners=False)[0].numpy()
    else:
        ref = InterpolationUpsampler("lanczos")(x)[0].numpy()
    assert meta["tiles"] == 4 and meta["exact_tiling"]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-2)
    assert tags["SR_WEIGHTS_STATUS"] == "baseline" and "interpolation baseline" in tags["SR_MODEL"]
    assert tags["SR_RANDOM_WEIGHTS"] == "False"


def test_output_georeferencing_tags_and_layout(tmp_path):
    write_raster(tmp_path / "in.tif", 30, 40)
    with rasterio.open(tmp_path / "in.tif") as src:
        src_t, src_crs = src.transform, src.crs
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model="bicubic", tile=24, overlap=8)
    out, prof, tags, desc, ds = _read(tmp_path / "out.tif")
    assert prof["crs"] == src_crs
    assert prof["transform"].a == pytest.approx(src_t.a / 10)
    assert prof["transform"].e == pytest.approx(src_t.e / 10)
    assert (prof["transform"].c, prof["transform"].f) == (src_t.c, src_t.f)
    assert (prof["width"], prof["height"]) == (400, 300)
    assert prof["tiled"] and prof["compress"] == "deflate" and prof["dtype"] == "uint16"
    assert prof["interleave"] == "band" and (prof["blockxsize"], prof["blockysize"]) == (256, 256)
    assert prof["nodata"] == 0
    assert list(desc) == S2
    assert tags["SR_TILE"] == "24" and tags["SR_OVERLAP"] == "8" and tags["SR_SCALE"] == "10"
    assert '"band_map": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]' in tags["SR_META"]


def test_random_and_user_weights_are_recorded(tmp_path, monkeypatch):
    write_raster(tmp_path / "in.tif", 20, 20)
    meta = super_resolve_raster(tmp_path / "in.tif", tmp_path / "r.tif", model=_narrow_model(), tile=20,
                                overlap=4)
    assert meta["random_weights"] is True
    assert _read(tmp_path / "r.tif")[2]["SR_WEIGHTS_STATUS"] == "random"
    torch.manual_seed(1)
    save_sharded(S2x10NetS(NARROW).state_dict(), tmp_path / "ck", n_chunks=2)
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "u.tif", model="s2x10", weights=tmp_path / "ck",
                         tile=20, overlap=4, device="cpu")
    tags = _read(tmp_path / "u.tif")[2]
    # the weights beside the output: recorded relative to the output's folder, not as an absolute path
    assert tags["SR_WEIGHTS_STATUS"] == "user file" and tags["SR_WEIGHTS_PATH"] == "<out>/ck"
    assert tags["SR_RANDOM_WEIGHTS"] == "False" and tags["SR_PRECISION"] == "fp32"
    assert str(tmp_path) not in "".join(tags.values())
    monkeypatch.setenv("RS_EMBED_FULL_PROVENANCE", "1")  # the user asks for full provenance
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "f.tif", model="s2x10", weights=tmp_path / "ck",
                         tile=20, overlap=4, device="cpu")
    assert _read(tmp_path / "f.tif")[2]["SR_WEIGHTS_PATH"] == str(tmp_path / "ck")


def test_nodata_is_carried_and_never_produced(tmp_path):
    data = write_raster(tmp_path / "in.tif", 40, 40, nodata=0)
    data[:, 5:15, 20:30] = 0
    data[:, 30:, :] = 1  # valid, and next to nodata once super-resolved
    with rasterio.open(tmp_path / "in.tif", "r+") as ds:
        ds.write(data)
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model="bicubic", tile=24, overlap=8)
    out, prof, *_ = _read(tmp_path / "out.tif")
    assert prof["nodata"] == 0
    assert (out[:, 50:150, 200:300] == 0).all()
    valid = np.ones((400, 400), bool)
    valid[50:150, 200:300] = False
    assert (out[:, valid] > 0).all()


def test_cancel_leaves_no_output_and_no_scratch(tmp_path):
    write_raster(tmp_path / "in.tif", 60, 60)
    (tmp_path / "out").mkdir()
    calls = []

    def is_cancelled():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "out" / "sr.tif", model="bicubic", tile=24,
                             overlap=8, is_cancelled=is_cancelled)
    assert list((tmp_path / "out").iterdir()) == []


def test_cancel_stops_inside_a_tiles_forward(tmp_path):
    """The full network takes seconds per tile: a cancel stops it between its blocks and between
    strips of its full-resolution tail, and nothing is left (issue 17)."""
    import traceback

    write_raster(tmp_path / "in.tif", 20, 20)
    (tmp_path / "out").mkdir()
    torch.manual_seed(0)
    net = S2x10NetS(S2x10Config(num_feat=8, num_block=2, num_grow_ch=4, up_scales=(2, 5)))
    net.max_tail_pixels = 20 * 200  # the tail in strips of 20 output rows
    sr = LearnedUpsampler(net, weights_status="random", device="cpu")
    for clicks_at, where in ((3, "forward"), (12, "_tail")):  # in the blocks, then in the tail
        calls = {"n": 0}

        def is_cancelled(at=clicks_at, calls=calls):
            calls["n"] += 1
            return calls["n"] >= at

        with pytest.raises(Cancelled) as e:  # one tile: every cancel point is inside its forward
            super_resolve_raster(tmp_path / "in.tif", tmp_path / "out" / "sr.tif", model=sr, tile=20, overlap=4,
                                 is_cancelled=is_cancelled)
        frames = [f.name for f in traceback.extract_tb(e.value.__traceback__)
                  if f.filename.endswith("decoder.py")]
        assert where in frames, frames
        assert list((tmp_path / "out").iterdir()) == []


def test_an_unwritable_or_new_output_folder_is_said_plainly_and_never_left_empty(tmp_path):
    """A folder that cannot be written is a SpecError naming it (never a misleading "blending
    buffer needs ... GiB", never an OSError from cleanup over it); a folder the run made is
    removed again when the run fails."""
    write_raster(tmp_path / "in.tif", 20, 20)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SpecError, match="cannot write to the output folder .*a_file.*choose a folder") as e:
        super_resolve_raster(tmp_path / "in.tif", blocker / "sub" / "sr.tif", model="bicubic", tile=20, overlap=4)
    assert "blending buffer" not in str(e.value)
    with pytest.raises(SpecError, match="band_map"):  # a run that fails after making its folder
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "new" / "deep" / "sr.tif", model="bicubic",
                             band_map=[1, 2, 99], tile=20, overlap=4)
    assert not (tmp_path / "new").exists()
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "made" / "sr.tif", model="bicubic", tile=20, overlap=4)
    assert (tmp_path / "made" / "sr.tif").exists()  # a new folder is made for the output


def test_progress_is_monotonic_and_ends_at_one(tmp_path):
    write_raster(tmp_path / "in.tif", 50, 50)
    seen = []
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model="bicubic", tile=24, overlap=8,
                         progress=lambda fraction, message: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5


def test_band_map_by_name_number_and_errors(tmp_path):
    order = ["B1", "B12", "B11", "B8A", "B8", "B7", "B6", "B5", "B4", "B3", "B2", "B9"]
    data = write_raster(tmp_path / "in.tif", 20, 24, bands=order, dtype="float32", nodata=None)
    with rasterio.open(tmp_path / "in.tif") as ds:
        desc = ds.descriptions
    assert resolve_band_map(desc, 12, S2, None) == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
    assert resolve_band_map(desc, 12, S2, ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
                                           "B12"]) == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
    assert resolve_band_map(desc, 12, None, None) == list(range(1, 13))
    # a baseline takes the ten S2 bands when the raster names them (not B1, B9 or SCL) ...
    assert resolve_band_map(desc, 12, None, None, prefer=S2) == [11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
    # ... and every band otherwise
    assert resolve_band_map([None] * 12, 12, None, None, prefer=S2) == list(range(1, 13))
    with pytest.raises(SpecError, match="13"):
        resolve_band_map(desc, 12, S2, [13, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    with pytest.raises(SpecError, match="has 3 entries"):
        resolve_band_map(desc, 12, S2, [1, 2, 3])
    with pytest.raises(SpecError, match="'B13'"):
        resolve_band_map(desc, 12, S2, ["B13"] * 10)
    with pytest.raises(SpecError, match="12 bands"):
        resolve_band_map([None] * 12, 12, S2, None)
    # the learned model reads bands by name from a shuffled 12-band raster
    m = _narrow_model()
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model=m, tile=24, overlap=0)
    out, _, tags, outdesc, _ = _read(tmp_path / "out.tif")
    assert list(outdesc) == S2
    ref = m(torch.from_numpy(data[[10, 9, 8, 7, 6, 5, 4, 3, 2, 1]])[None])[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-2)
    assert tags["SR_BAND_MAP"] == "11,10,9,8,7,6,5,4,3,2"


def test_bad_arguments_are_named(tmp_path):
    write_raster(tmp_path / "in.tif", 20, 20)
    with pytest.raises(SpecError, match="overlap.*got 12"):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "o.tif", tile=24, overlap=12)
    with pytest.raises(SpecError, match="tile.*got 4"):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "o.tif", tile=4, overlap=0)
    with pytest.raises(SpecError, match=r"o\.png.*GeoTIFF"):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "o.png")
    with pytest.raises(SpecError, match="must differ"):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "in.tif")
    assert not (tmp_path / "o.tif").exists()


def test_existing_output_is_replaced_atomically(tmp_path):
    write_raster(tmp_path / "in.tif", 16, 16)
    (tmp_path / "out.tif").write_bytes(b"old")
    super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model="bicubic", tile=16, overlap=0)
    assert _read(tmp_path / "out.tif")[0].shape == (10, 160, 160)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


def test_not_enough_scratch_space_is_reported_before_work(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    write_raster(tmp_path / "in.tif", 40, 40)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(SpecError, match="scratch_dir"):
        super_resolve_raster(tmp_path / "in.tif", tmp_path / "out.tif", model="bicubic", tile=24, overlap=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_raster_module_imports_without_torch():
    """QGIS code may import the entry point at start-up; torch loads only when a raster is processed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import rs_embed_qgis.engine.superres.raster as r; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(r.S2_BANDS[0])")
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "B2"
