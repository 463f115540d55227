"""What outputs may say (issue 17): never credentials, and no absolute local path unless the
user asks for full provenance."""
from __future__ import annotations

import json
import shutil

import pytest

from rs_embed_qgis.engine import OutputSpec, PointBuffer, ProviderError, TemporalSpec, get_embedding
from rs_embed_qgis.engine.provenance import FULL_ENV, public, register_secret

SUMMER = TemporalSpec.range("2022-06-01", "2022-09-01")
ROI = PointBuffer(9.02, 47.84, 300)


def test_public_names_roots_and_hides_what_is_private(tmp_path, monkeypatch):
    monkeypatch.delenv(FULL_ENV, raising=False)
    data, out = tmp_path / "private data", tmp_path / "results"
    key = tmp_path / "keys" / "sa-key.json"
    register_secret(key)
    meta = {
        "input": {"root": str(data), "scenes": [str(data / "T32" / "B04.jp2")]},
        "weights": {"path": "/srv/models/ckpt.safetensors", "sha256": "ab12"},
        "output": str(out / "grid.tif"), "url": "https://huggingface.co/x/resolve/abc/w.pt",
        "provider_options": {"credentials": str(key), "auth_token": "s3cr3t", "num_register_tokens": 4},
        "error": f"ProviderError: Earth Engine service-account key file not found: '{key}'",
        "note": f"read {data}/T32/B04.jp2 twice", "relative": "weights/ckpt.pt"}
    p = public(meta, out_dir=out)
    assert p["input"] == {"root": "<data>", "scenes": ["<data>/T32/B04.jp2"]}
    assert p["weights"] == {"path": "<local>/ckpt.safetensors", "sha256": "ab12"}  # the name and hash stay
    assert p["output"] == "<out>/grid.tif" and p["url"] == meta["url"] and p["relative"] == "weights/ckpt.pt"
    assert p["provider_options"] == {"credentials": "<redacted>", "auth_token": "<redacted>",
                                     "num_register_tokens": 4}  # a model setting, not a credential
    assert p["error"] == "ProviderError: Earth Engine service-account key file not found: '<redacted>'"
    assert p["note"] == "read <data>/T32/B04.jp2 twice"
    assert str(tmp_path) not in json.dumps(p) and "/srv/models" not in json.dumps(p)
    full = public(meta, out_dir=out, full=True)  # full provenance: paths as they are, secrets never
    assert full["weights"]["path"] == "/srv/models/ckpt.safetensors" and full["input"]["root"] == str(data)
    assert "sa-key" not in json.dumps(full) and "s3cr3t" not in json.dumps(full)


def test_export_run_manifest_never_holds_the_key_path(tmp_path):
    """The Earth Engine key file's path in a failure message is redacted in export_run.json."""
    pytest.importorskip("ee")
    from rs_embed_qgis.engine.export import export_batch

    key = tmp_path / "secret-folder" / "my-key-7f3a.json"
    with pytest.raises(ProviderError, match="key file not found"):  # the caller sees the real path
        export_batch(spatials=[ROI], temporal=SUMMER, models=["mosaiks"], out_dir=str(tmp_path / "exp"),
                     backend="gee", provider_options={"credentials": str(key), "project": "p"},
                     model_options={"mosaiks": {"num_features": 8}}, show_progress=False)
    text = (tmp_path / "exp" / "export_run.json").read_text()
    run = json.loads(text)
    assert run["status"] == "failed" and "<redacted>" in run["error"]
    assert "my-key-7f3a" not in text and "secret-folder" not in text
    assert str(tmp_path) not in text  # nor the output folder's own absolute path


def test_embedding_geotiff_tags_hold_paths_relative_to_the_data_root(tmp_path, sample_dir, monkeypatch):
    from rs_embed_qgis.engine.geoio import raster_info
    from rs_embed_qgis.engine.io import write_embedding_geotiff

    monkeypatch.delenv(FULL_ENV, raising=False)
    data = tmp_path / "my data"
    shutil.copytree(sample_dir, data)
    ref = tmp_path / "elsewhere" / "S2_L2A_20220715_sample.tif"
    ref.parent.mkdir()
    shutil.copy(sample_dir / "S2_L2A_20220715_sample.tif", ref)
    emb = get_embedding("mosaiks", spatial=ROI, temporal=SUMMER, output=OutputSpec.grid(scale_m=100),
                        backend="local", provider_options={"root": str(data)},
                        model_options={"num_features": 8, "filter_source": str(ref)})
    assert emb.meta["input"]["root"] == str(data)  # in memory, the caller's own object: as it is
    tags = raster_info(write_embedding_geotiff(emb, tmp_path / "out" / "grid.tif")).tags
    meta = json.loads(tags["RS_EMBED_META"])
    assert meta["input"]["root"] == "<data>" and meta["weights"]["filter_source"] == "<local>/" + ref.name
    assert str(tmp_path) not in "".join(tags.values())
    monkeypatch.setenv(FULL_ENV, "1")
    tags = raster_info(write_embedding_geotiff(emb, tmp_path / "out" / "full.tif")).tags
    assert json.loads(tags["RS_EMBED_META"])["input"]["root"] == str(data)
