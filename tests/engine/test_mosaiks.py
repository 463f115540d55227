"""MOSAIKS against the paper's own featurisation code, and its option/filter-source errors.

``tests/engine/data/mosaiks_upstream_reference.json`` holds what
``Global-Policy-Lab/mosaiks-paper``'s ``featurization.py`` (commit 7efb09ed) produced on the
bundled sample: the filters its ``build_featurizer`` drew from the 2022-07-15 scene for a
seed, and the features its ``BasicCoatesNgNet`` computed from those filters on a crop of the
2022-08-09 scene, reflect-padded by one pixel as ours is (the JSON's note says exactly how).
Our code must draw the same filters and compute the same features.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rs_embed_qgis.engine import ModelError, OutputSpec, get_embedder, get_embedding_from_data
from rs_embed_qgis.engine.embedders.mosaiks import draw_filters

REF = json.loads((Path(__file__).parent / "data" / "mosaiks_upstream_reference.json").read_text())
CASES = {c["seed"]: c for c in REF["cases"]}
RGB = ["B4", "B3", "B2"]


def read_bands(path: Path, bands, rows=slice(None), cols=slice(None)) -> np.ndarray:
    with rasterio.open(path) as src:
        names = list(src.descriptions)
        return src.read([names.index(b) + 1 for b in bands])[:, rows, cols].astype(np.float32)


@pytest.fixture
def crop(sample_dir):
    """The upstream run's input: reflectance x 10000 (DN), as a provider hands it over."""
    inp = REF["input"]
    return read_bands(sample_dir / inp["file"], inp["bands"], slice(*inp["rows"]), slice(*inp["cols"]))


@pytest.mark.parametrize("seed", sorted(CASES))
def test_filters_are_the_ones_upstream_draws_from_the_same_scene_and_seed(seed):
    case = CASES[seed]
    assert REF["filter_source"] == {"file": "S2_L2A_20220715_sample.tif", "bands": RGB}  # our default
    bank = get_embedder("mosaiks", model_options={"num_features": case["num_features"], "seed": seed}).filters(RGB)
    assert bank.shape == (case["num_filters"], 27) and bank.dtype == np.float32
    # upstream's float64 run and ours differ only by eigensolver rounding before the float32 cast
    for row, values in case["bank_rows"].items():
        np.testing.assert_allclose(bank[int(row)], values, rtol=1e-6, atol=1e-6 * np.abs(values).max())
    assert np.abs(bank.astype(np.float64)).sum() == pytest.approx(case["bank_abs_sum"], rel=1e-6)


@pytest.mark.parametrize("seed, bias", [(s, b) for s in sorted(CASES) for b in CASES[s]["features"]])
def test_pooled_features_match_upstream_on_the_same_filters(crop, seed, bias):
    case = CASES[seed]
    want = case["features"][bias]
    e = get_embedding_from_data("mosaiks", crop, bands=RGB, output=OutputSpec.pooled(),
                                model_options={"num_features": case["num_features"], "seed": seed,
                                               "bias": float(bias)})
    assert list(e.data.shape) == want["shape"]
    # float32 products both sides (ours without the windows' DC level, see _blocks): ~1e-6
    # apart; exact zeros of the ReLU stay zeros, so the tolerance is relative to the vector's scale
    scale = max(abs(v) for _, _, vals in want["slices"] for v in vals)
    for a, z, vals in want["slices"]:
        np.testing.assert_allclose(e.data[a:z], vals, rtol=1e-5, atol=1e-5 * scale)
    for a, z, m in want["section_means"]:  # every block of pos/neg features in upstream's order
        assert float(e.data[a:z].mean()) == pytest.approx(m, rel=1e-5, abs=1e-6 * scale)
    assert float(e.data.mean()) == pytest.approx(want["mean"], rel=1e-5)


def test_features_run_in_blocks_of_1024_filters_positive_then_negative(crop):
    """With b = 0, ReLU(z) - ReLU(-z) = z, so pooled pos - neg = filter . mean patch (linear)."""
    n = 1152  # two blocks: filters 0-1023, then 1024-1151
    emb = get_embedder("mosaiks", model_options={"num_features": 2 * n})
    e = emb.embed_patches([_patch(crop)], OutputSpec.pooled())[0]
    img = np.pad(crop / np.float32(10000.0), ((0, 0), (1, 1), (1, 1)), mode="reflect")
    win = np.lib.stride_tricks.sliding_window_view(img, (3, 3), axis=(1, 2))  # one window per pixel
    mean_patch = win.mean(axis=(1, 2)).reshape(-1).astype(np.float64)
    z = emb.filters(RGB).astype(np.float64) @ mean_patch
    i = np.arange(n)
    pos = 2048 * (i // 1024) + i % 1024
    neg = pos + np.where(i < 1024, 1024, n - 1024)
    np.testing.assert_allclose(e.data[pos] - e.data[neg], z, rtol=1e-4, atol=1e-4 * np.abs(z).max())
    assert (e.data >= 0).all()


def _patch(chw):
    from rs_embed_qgis.engine.providers.base import Patch

    return Patch(data=chw, bands=tuple(RGB))


def test_an_roi_smaller_than_the_kernel_still_gets_features():
    """Upstream cannot featurise an image smaller than its filters; padding gives every pixel one."""
    e = get_embedder("mosaiks", model_options={"num_features": 16}).embed_patches(
        [_patch(np.array([[[900, 1200], [700, 800]]] * 3, np.float32))], OutputSpec.pooled())[0]
    assert e.data.shape == (16,) and np.isfinite(e.data).all() and e.data.max() > 0


def test_a_flat_image_has_no_response():
    """The filters are zero-sum (centred patches), so a uniform surface gives all-zero features."""
    e = get_embedder("mosaiks", model_options={"num_features": 64}).embed_patches(
        [_patch(np.full((3, 12, 12), 1234, np.float32))], OutputSpec.grid(scale_m=40))[0]
    assert e.data.shape == (64, 3, 3) and not e.data.any()


@pytest.mark.parametrize("options, text", [
    ({"num_features": 3}, "even number from 2 to 200000, got 3"),
    ({"num_features": 200002}, "got 200002"),
    ({"kernel_size": 4}, "odd number"),
    ({"zca_eps": 0}, "zca_eps must be > 0"),
])
def test_bad_options_are_model_errors(options, text):
    with pytest.raises(ModelError, match=text):
        get_embedder("mosaiks", model_options=options)


def test_a_filter_source_too_small_to_draw_from_is_refused():
    with pytest.raises(ModelError, match=r"is 4 x 6 px; drawing 3 x 3 filters needs at least 5 x 5"):
        draw_filters(np.ones((3, 4, 6), np.float32), 8)


def test_a_filter_source_with_gaps_is_named(tmp_path, sample_dir):
    arr = read_bands(sample_dir / "S2_L2A_20220715_sample.tif", RGB)
    arr[:, 100:220, :] = np.nan  # no-data stripe across the scene: some drawn patches fall on it
    path = tmp_path / "gappy.tif"
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=3,
                       dtype="float32", crs="EPSG:32632",
                       transform=rasterio.transform.from_origin(500000, 5300000, 10, 10)) as dst:
        dst.write(arr)
        for i, b in enumerate(RGB):
            dst.set_band_description(i + 1, b)
    emb = get_embedder("mosaiks", model_options={"num_features": 16, "filter_source": str(path)})
    with pytest.raises(ModelError, match=r"gappy\.tif.*no-data"):
        emb.filters(RGB)


# -- the written-out array steps equal numpy's general ones ------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("hw", [(41, 37), (4, 9), (2, 2), (1, 5)])
def test_padding_is_numpys_reflect_pad(k, hw):
    e = get_embedder("mosaiks", device="cpu", model_options={"num_features": 16, "kernel_size": k})
    img = np.random.default_rng(k).random((3, *hw), dtype=np.float32)
    p = k // 2
    mode = "reflect" if min(hw) > p else "edge"
    np.testing.assert_array_equal(e._padded(img), np.pad(img, ((0, 0), (p, p), (p, p)), mode=mode))


def test_scaling_is_clip_of_nan_to_num():
    img = np.array([[[np.nan, -5.0, 0.0, 1234.0, np.inf, -np.inf, 3.4e38, 12345.678]]], np.float32)
    e = get_embedder("mosaiks", device="cpu", model_options={"num_features": 16})
    want = np.clip(np.nan_to_num(img), 0, None).astype(np.float32) / 10000.0
    np.testing.assert_array_equal(e._scaled(img), want)
    np.testing.assert_array_equal(e._scaled(img.astype(np.float64)),
                                  np.clip(np.nan_to_num(img.astype(np.float64)), 0, None).astype(np.float32) / 10000.0)


def test_a_batch_gives_each_roi_what_it_gets_alone():
    from rs_embed_qgis.engine.providers.base import Patch

    rng = np.random.default_rng(3)
    patches = [Patch(rng.random((1, 3, h, w), dtype=np.float32) * 3000, tuple(RGB), None)
               for h, w in ((41, 41), (41, 41), (20, 33), (41, 41))]
    e = get_embedder("mosaiks", device="cpu", model_options={"num_features": 64})
    for out in (OutputSpec.pooled(), OutputSpec.pooled(pooling="max"), OutputSpec.grid(scale_m=30)):
        together = e.embed_patches(patches, out)
        for p, t in zip(patches, together, strict=True):
            alone = e.embed_patches([p], out)[0]
            np.testing.assert_array_equal(alone.data, t.data)
            assert alone.meta["filter_bank_sha256"] == t.meta["filter_bank_sha256"]
        assert together[0].meta is not together[1].meta and together[0].meta["output"] is not together[1].meta["output"]
