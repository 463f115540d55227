"""Prithvi-EO-2.0 against the upstream code (IBM's ``prithvi_mae.py``).

``data/prithvi_official_keys.json``: every key and shape of the official MAE files of
the 100M, 300M and 600M -TL models, taken from upstream ``PrithviMAE(**cfg).state_dict()``.
``data/prithvi_upstream_reference.json``: outputs of upstream ``forward_features`` on
random weights made from those key lists (the json's note says how); the checkpoints
here are rebuilt the same way, saved in the official layout and loaded through our loader.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rs_embed_qgis.engine import api
from rs_embed_qgis.engine.nn.prithvi import PRITHVI_CONFIGS, PrithviEncoder
from rs_embed_qgis.engine.nn.vit import sincos_3d

DATA = Path(__file__).parent / "data"
KEYS = json.loads((DATA / "prithvi_official_keys.json").read_text())["variants"]
REFERENCE = json.loads((DATA / "prithvi_upstream_reference.json").read_text())["cases"]
BUFFERS = ("encoder.pos_embed", "decoder.decoder_pos_embed")


@pytest.mark.parametrize("variant", ["100M", "300M", "600M"])
def test_our_encoder_has_the_official_encoder_keys_and_shapes(variant):
    with torch.device("meta"):  # shapes only
        ours = {f"encoder.{k}": list(v.shape) for k, v in PrithviEncoder(PRITHVI_CONFIGS[variant]).state_dict().items()}
    official = dict(KEYS[variant])
    assert ours == {k: s for k, s in official.items() if k.startswith("encoder.")}
    assert all(k.startswith("decoder.") for k in set(official) - set(ours))  # set aside by name


def reduced_layout(variant: str, depth: int, decoder_depth: int, frames: int) -> list[tuple[str, list[int]]]:
    """The official key list of a variant at a smaller depth and frame count (as the case was built)."""
    d_enc, d_dec = dict(KEYS[variant])["encoder.cls_token"][-1], 512
    grid = (224 // PRITHVI_CONFIGS[variant].patch_size[1]) ** 2
    out = []
    for k, shape in KEYS[variant]:
        m = re.match(r"(encoder\.blocks|decoder\.decoder_blocks)\.(\d+)\.", k)
        if m and int(m.group(2)) >= (depth if m.group(1) == "encoder.blocks" else decoder_depth):
            continue
        if k in BUFFERS:
            shape = [1, 1 + frames * grid, d_enc if k == BUFFERS[0] else d_dec]
        out.append((k, shape))
    return out


def official_checkpoint(variant: str, case: dict) -> dict[str, torch.Tensor]:
    """Parameters from the seed-0 generator in key order (randn*0.05, +1 for 1-d norm
    weights); the fixed sin-cos buffers as the official code makes them."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    layout = reduced_layout(variant, case["depth"], case["decoder_depth"], case["num_frames_built"])
    for k, shape in layout:
        if k in BUFFERS:
            grid = (case["num_frames_built"], *(2 * [224 // PRITHVI_CONFIGS[variant].patch_size[1]]))
            sd[k] = sincos_3d(shape[-1], grid, cls_token=True)[None]
            continue
        x = torch.randn(tuple(shape), generator=g) * 0.05
        if "norm" in k and k.endswith(".weight") and x.ndim == 1:
            x = x + 1.0
        sd[k] = x
    return sd


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_forward_matches_upstream_on_the_same_weights(tmp_path, name, one_torch_thread):
    case = REFERENCE[name]
    variant = case["variant"]
    path = tmp_path / f"Prithvi_EO_V2_{variant}_TL.pt"
    torch.save(official_checkpoint(variant, case), str(path))  # the official file's layout
    api.clear_caches()
    emb = api.get_embedder("prithvi", device="cpu", model_options={
        "variant": variant, "weights": str(path),
        "arch": {"depth": case["depth"], "num_frames": case["num_frames_built"]}})
    assert emb.weights_meta["status"] == "pretrained" and emb.weights_meta["ignored_key_groups"] == ["decoder"]
    t = case["frames"]
    x = torch.randn((2, 6, t, case["img"], case["img"]), generator=torch.Generator().manual_seed(1))
    tc = torch.tensor([[[2022, 46 + 91 * i] for i in range(t)], [[2021, 200 + 30 * i] for i in range(t)]],
                      dtype=torch.float32)
    lc = torch.tensor([[45.46, 9.19], [-12.5, 130.8]], dtype=torch.float32)
    with torch.inference_mode():
        y = emb.model(x, tc if case["temporal_coords"] else None, lc if case["location_coords"] else None).numpy()
    api.clear_caches()
    assert list(y.shape) == case["shape"]
    got = {"cls_0_0to8": y[0, 0, :8], "tok_0_1_0to8": y[0, 1, :8], "tok_1_last_0to8": y[1, -1, :8],
           "tokmean_0_0to16": y[0, 1:].mean(axis=0)[:16], "tokmean_1_0to16": y[1, 1:].mean(axis=0)[:16]}
    for key, value in got.items():
        np.testing.assert_allclose(value, case[key], rtol=1e-5, atol=2e-6, err_msg=f"{name} {key}")
    assert abs(float(y.mean()) - case["mean"]) < 1e-6 and abs(float(y.std()) - case["std"]) < 1e-5
