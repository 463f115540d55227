"""Streamed loading of chunked safetensors checkpoints, and the S2DR3 pipeline on top of it."""
from __future__ import annotations

import json

import pytest
import torch
from superres_util import save_sharded

from rs_embed_qgis.engine.errors import ModelError, SpecError
from rs_embed_qgis.engine.superres.backbone import BackboneConfig, S2DR3Backbone
from rs_embed_qgis.engine.superres.decoder import S2x10Config, S2x10NetS
from rs_embed_qgis.engine.superres.loader import load_s2x10_from_chunks
from rs_embed_qgis.engine.superres.models import load_superres_model
from rs_embed_qgis.engine.superres.pipeline import S2DR3Pipeline, load_pipeline

SMALL = S2x10Config(num_feat=12, num_block=2, num_grow_ch=6)


def _trained_like(cfg=SMALL, seed=0):
    torch.manual_seed(seed)
    net = S2x10NetS(cfg).eval()
    return net


def _same(a, b):
    x = torch.rand(1, 10, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_sharded_folder_with_index(tmp_path):
    net = _trained_like()
    save_sharded(net.state_dict(), tmp_path / "ck", n_chunks=4)
    loaded = load_s2x10_from_chunks(tmp_path / "ck")
    assert loaded.config == SMALL
    _same(net, loaded)


def test_plain_folder_of_chunks_with_a_prefix(tmp_path):
    net = _trained_like(seed=3)
    save_sharded(net.state_dict(), tmp_path / "ck", n_chunks=3, index=False, prefix="module.")
    _same(net, load_s2x10_from_chunks(tmp_path / "ck"))


def test_single_file_and_half_precision_chunks(tmp_path):
    net = _trained_like(seed=4)
    save_sharded(net.state_dict(), tmp_path / "one", n_chunks=1, index=False, dtype=torch.float16)
    f = next((tmp_path / "one").glob("*.safetensors"))
    loaded = load_s2x10_from_chunks(f)
    assert loaded.conv_first.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.conv_first.weight, net.conv_first.weight.half().float())


def test_five_stage_checkpoint_is_matched_and_stays_10x(tmp_path):
    cfg = S2x10Config(num_feat=8, num_block=1, num_grow_ch=4, up_scales=(2, 5, 1, 1, 1))
    net = _trained_like(cfg)
    save_sharded(net.state_dict(), tmp_path / "ck", n_chunks=2)
    loaded = load_s2x10_from_chunks(tmp_path / "ck")
    assert loaded.config.up_scales == (2, 5, 1, 1, 1)
    assert loaded(torch.rand(1, 10, 4, 3)).shape == (1, 10, 40, 30)
    with pytest.raises(ModelError, match=r"\(2, 5\) has 2 stages"):
        load_s2x10_from_chunks(tmp_path / "ck", up_scales=(2, 5))


def test_missing_tensor_is_named(tmp_path):
    sd = _trained_like().state_dict()
    del sd["body.1.rdb2.conv3.bias"]
    save_sharded(sd, tmp_path / "ck", n_chunks=2)
    with pytest.raises(ModelError, match=r"missing tensors \['body\.1\.rdb2\.conv3\.bias'\]"):
        load_s2x10_from_chunks(tmp_path / "ck")


def test_shape_mismatch_is_named(tmp_path):
    sd = _trained_like().state_dict()
    sd["conv_hr.weight"] = torch.zeros(12, 12, 5, 5)
    save_sharded(sd, tmp_path / "ck", n_chunks=2)
    with pytest.raises(ModelError, match=r"conv_hr\.weight.*\(12, 12, 5, 5\).*\(12, 12, 3, 3\)"):
        load_s2x10_from_chunks(tmp_path / "ck")


def test_index_naming_a_missing_chunk(tmp_path):
    save_sharded(_trained_like().state_dict(), tmp_path / "ck", n_chunks=3)
    (tmp_path / "ck" / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(ModelError, match="model-00002-of-00003.safetensors"):
        load_s2x10_from_chunks(tmp_path / "ck")


def test_duplicate_tensor_across_plain_chunks(tmp_path):
    from safetensors.torch import save_file

    sd = _trained_like().state_dict()
    save_sharded(sd, tmp_path / "ck", n_chunks=2, index=False)
    save_file({"conv_first.weight": sd["conv_first.weight"].clone()}, str(tmp_path / "ck" / "zz.safetensors"))
    with pytest.raises(ModelError, match=r"conv_first\.weight.*two chunks"):
        load_s2x10_from_chunks(tmp_path / "ck")


def test_empty_folder_and_pickles_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="empty"):
        load_s2x10_from_chunks(tmp_path / "empty")
    torch.save({"a": torch.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(ModelError, match=r"w\.pt"):
        load_s2x10_from_chunks(tmp_path / "w.pt")


def test_index_json_path_is_accepted(tmp_path):
    net = _trained_like(seed=5)
    save_sharded(net.state_dict(), tmp_path / "ck", n_chunks=2)
    _same(net, load_s2x10_from_chunks(tmp_path / "ck" / "model.safetensors.index.json"))
    (tmp_path / "ck" / "model.safetensors.index.json").write_text(json.dumps({"nope": {}}))
    with pytest.raises(ModelError, match="weight_map"):
        load_s2x10_from_chunks(tmp_path / "ck")


def test_load_superres_model_needs_weights_or_an_explicit_random_choice(tmp_path):
    with pytest.raises(ModelError, match="bicubic"):
        load_superres_model("s2x10", device="cpu")
    m = load_superres_model("s2x10", random_weights=True, device="cpu", config=SMALL)
    assert m.random_weights and m.describe()["weights"]["status"] == "random"
    save_sharded(_trained_like().state_dict(), tmp_path / "ck")
    m = load_superres_model("s2x10", weights=tmp_path / "ck", device="cpu")
    assert not m.random_weights and m.describe()["weights"] == {
        "status": "user file", "path": str(tmp_path / "ck"), "source": "explicit"}
    b = load_superres_model("lanczos", device="cpu")
    assert b.describe()["weights"]["status"] == "baseline" and "baseline" in b.name
    with pytest.raises(SpecError, match="'nearest'"):
        load_superres_model("nearest")
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="'cuda'"):
            load_superres_model("bicubic", device="cuda")


def test_pipeline_end_to_end(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(7)
    vit = S2DR3Backbone(BackboneConfig(embed_dim=64, depth=2, num_heads=4)).eval()
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "vit.safetensors"))
    net = _trained_like(seed=8)
    save_sharded(net.state_dict(), tmp_path / "dec", n_chunks=3)
    art = load_pipeline(backbone_ckpt=tmp_path / "vit.safetensors", decoder_dir=tmp_path / "dec",
                        device="cpu")
    assert art.meta["random_weights"] is False
    assert art.meta["weights"]["decoder"]["status"] == "user file"
    pipe = S2DR3Pipeline(art)
    x = torch.rand(2, 10, 12, 16)
    sr = pipe.super_resolve(x)
    assert sr.shape == (2, 10, 120, 160)
    torch.testing.assert_close(sr, net(x))
    tok = pipe.extract_tokens(torch.rand(1, 3, 32, 32))
    assert tok["patch"].shape == (1, 4, 64)


def test_pipeline_random_weights_are_marked():
    art = load_pipeline(random_weights=True, device="cpu",
                        backbone_config=BackboneConfig(embed_dim=32, depth=1, num_heads=2),
                        decoder_config=S2x10Config(num_feat=8, num_block=1, num_grow_ch=4))
    assert art.meta["random_weights"] is True
    assert art.meta["weights"]["decoder"]["status"] == "random"
    assert S2DR3Pipeline(art).super_resolve(torch.rand(1, 10, 4, 4)).shape == (1, 10, 40, 40)
    with pytest.raises(ModelError, match="random_weights=True"):
        load_pipeline(device="cpu")


def test_default_weights_from_environment_then_cache(tmp_path, monkeypatch):
    from rs_embed_qgis.engine.weights import cache_dir

    save_sharded(_trained_like().state_dict(), tmp_path / "ck", n_chunks=2)
    monkeypatch.setenv("RS_EMBED_S2X10_WEIGHTS", str(tmp_path / "ck"))
    m = load_superres_model("s2x10", device="cpu")
    assert m.describe()["weights"]["source"] == "env:RS_EMBED_S2X10_WEIGHTS"
    monkeypatch.setenv("RS_EMBED_S2X10_WEIGHTS", str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="nowhere"):
        load_superres_model("s2x10", device="cpu")
    monkeypatch.delenv("RS_EMBED_S2X10_WEIGHTS")
    save_sharded(_trained_like().state_dict(), cache_dir() / "weights" / "s2x10", n_chunks=2)
    m = load_superres_model("s2x10", device="cpu")
    assert m.describe()["weights"]["source"] == "cache" and m.weights_status == "user file"


@pytest.mark.parametrize("index", [True, False])
def test_one_picked_shard_stands_for_its_checkpoint(tmp_path, index):
    """A file dialog returns one shard; the loader takes the whole sharded checkpoint."""
    net = _trained_like(seed=9)
    save_sharded(net.state_dict(), tmp_path / "ck", n_chunks=3, index=index)
    _same(net, load_s2x10_from_chunks(tmp_path / "ck" / "model-00002-of-00003.safetensors"))
    (tmp_path / "ck" / "model-00003-of-00003.safetensors").unlink()
    with pytest.raises(ModelError, match="model-00003-of-00003|shard of 3 but 2"):
        load_s2x10_from_chunks(tmp_path / "ck" / "model-00001-of-00003.safetensors")
