"""Weights: pinned and sha256-checked downloads (a stand-in hub, a loopback HTTP server), the
trust-on-first-use lock, and clear errors for files that are not checkpoints."""
from __future__ import annotations

import hashlib
import http.server
import json
import pickle
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from rs_embed_qgis.engine import weights as W
from rs_embed_qgis.engine.errors import ModelError
from rs_embed_qgis.engine.weights import WeightsSpec, load_state_dict, resolve_weights

REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RS_EMBED_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _checkpoint_bytes(tmp_path: Path, seed: int = 0) -> bytes:
    p = tmp_path / f"ck{seed}.pt"
    torch.save({"w": torch.full((3,), float(seed))}, p)
    return p.read_bytes()


class FakeHub:
    """Stands in for huggingface_hub.hf_hub_download: serves bytes, records every call."""

    def __init__(self, content: bytes):
        self.content = content
        self.calls: list[dict] = []

    def __call__(self, *, repo_id, filename, revision, local_dir):
        self.calls.append({"repo_id": repo_id, "filename": filename, "revision": revision})
        p = Path(local_dir) / filename
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.content)
        return str(p)


def _hf_spec(**kw) -> WeightsSpec:
    return WeightsSpec(**{"hf_repo": "org/model", "hf_filename": "sub/model.pt", "revision": REV,
                          "note": "test", **kw})


# -- Hugging Face downloads ------------------------------------------------------------------
def test_download_is_pinned_checked_and_cached(tmp_path, monkeypatch, _cache):
    content = _checkpoint_bytes(tmp_path)
    hub = FakeHub(content)
    monkeypatch.setattr(W, "_hub_download", hub)
    spec = _hf_spec(sha256=_sha(content), cache_name="model.pt")
    r = resolve_weights("m", spec, download=True)
    assert hub.calls == [{"repo_id": "org/model", "filename": "sub/model.pt", "revision": REV}]
    assert r.source == "download" and r.path == _cache / "weights" / "m" / "model.pt"
    assert r.path.read_bytes() == content and "checked against the catalog" in r.verified
    assert sorted(p.name for p in r.path.parent.iterdir()) == ["model.pt"]   # no temp files left
    lock = json.loads(W.lock_path().read_text())["files"]
    assert lock[f"hf:org/model@{REV}/sub/model.pt"]["sha256"] == _sha(content)
    # the next use finds the cached copy; unchanged since its check, it is not hashed again
    hashed = []
    monkeypatch.setattr(W, "sha256_of", lambda p: hashed.append(p) or _sha(Path(p).read_bytes()))
    again = resolve_weights("m", spec, download=True)
    assert again.source == "cache" and "unchanged since" in again.verified and hashed == []
    assert len(hub.calls) == 1
    assert torch.equal(load_state_dict(again.path)["w"], torch.zeros(3))


def test_a_tampered_download_names_both_hashes_and_leaves_nothing(tmp_path, monkeypatch, _cache):
    good, bad = _checkpoint_bytes(tmp_path, 0), _checkpoint_bytes(tmp_path, 1)
    monkeypatch.setattr(W, "_hub_download", FakeHub(bad))
    spec = _hf_spec(sha256=_sha(good))
    with pytest.raises(ModelError) as ei:
        resolve_weights("m", spec, download=True)
    msg = str(ei.value)
    assert _sha(good) in msg and _sha(bad) in msg and "org/model" in msg and "allow_unverified" in msg
    assert list((_cache / "weights" / "m").iterdir()) == []
    # allow_unverified=True is the only way past, and says so
    r = resolve_weights("m", spec, download=True, allow_unverified=True)
    assert r.path.read_bytes() == bad and r.verified.startswith("UNVERIFIED")
    # the catalog's hash still rules: without allow_unverified the cached copy is refused
    with pytest.raises(ModelError, match=_sha(bad)):
        resolve_weights("m", spec)


def test_without_a_published_hash_a_download_needs_allow_unverified_then_is_locked(tmp_path, monkeypatch, _cache):
    first, changed = _checkpoint_bytes(tmp_path, 0), _checkpoint_bytes(tmp_path, 1)
    hub = FakeHub(first)
    monkeypatch.setattr(W, "_hub_download", hub)
    spec = _hf_spec(revision=None)
    with pytest.raises(ModelError, match="no published sha256.*allow_unverified=True"):
        resolve_weights("m", spec, download=True)
    assert hub.calls == []                                  # refused before any byte is fetched
    r = resolve_weights("m", spec, download=True, allow_unverified=True)
    assert hub.calls[0]["revision"] == "main" and "trusted on first use" in r.verified
    locked = json.loads(W.lock_path().read_text())["files"]["hf:org/model@main/sub/model.pt"]
    assert locked["sha256"] == _sha(first) and locked["model"] == "m"
    # upstream changes the file: the next download (cache emptied) is caught by the lock
    r.path.unlink()
    hub.content = changed
    with pytest.raises(ModelError) as ei:
        resolve_weights("m", spec, download=True)
    assert _sha(first) in str(ei.value) and _sha(changed) in str(ei.value) and "lock file" in str(ei.value)
    # the locked file comes back: accepted without allow_unverified
    hub.content = first
    assert "lock file" in resolve_weights("m", spec, download=True).verified


def test_a_cached_file_changed_on_disk_is_caught(tmp_path, monkeypatch, _cache):
    content = _checkpoint_bytes(tmp_path)
    monkeypatch.setattr(W, "_hub_download", FakeHub(content))
    spec = _hf_spec(sha256=_sha(content))
    path = resolve_weights("m", spec, download=True).path
    path.write_bytes(_checkpoint_bytes(tmp_path, 5))
    with pytest.raises(ModelError, match="cached file is not the one expected"):
        resolve_weights("m", spec)
    assert resolve_weights("m", spec, verify=False).source == "cache"   # a quick look does not hash


def test_a_file_the_user_names_is_used_as_is(tmp_path):
    mine = tmp_path / "fine_tuned.pt"
    mine.write_bytes(_checkpoint_bytes(tmp_path, 7))
    r = resolve_weights("m", _hf_spec(sha256="0" * 64), str(mine))
    assert r.source == "explicit" and r.path == mine and r.verified.startswith("not checked")


def test_hub_failures_are_model_errors_naming_the_file(monkeypatch):
    def offline(**kw):
        raise OSError("network is unreachable")

    monkeypatch.setattr(W, "_hub_download", offline)
    with pytest.raises(ModelError, match=f"org/model/blob/{REV}/sub/model.pt.*network is unreachable"):
        resolve_weights("m", _hf_spec(sha256="0" * 64), download=True)


# -- URL downloads (a loopback HTTP server) --------------------------------------------------
class _Server:
    def __init__(self, files: dict[str, bytes]):
        files_ = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                if self.path.startswith("/redirect-to/"):
                    self.send_response(302)
                    self.send_header("Location", self.path[len("/redirect-to/"):])
                    self.end_headers()
                    return
                body = files_.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                declared = len(body) + 100 if self.path.endswith("short.pt") else len(body)
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_url_download_is_streamed_checked_and_refuses_a_changed_file(tmp_path, _cache):
    good, bad = _checkpoint_bytes(tmp_path, 0), _checkpoint_bytes(tmp_path, 2)
    with _Server({"/good.pt": good, "/bad.pt": bad, "/short.pt": good}) as srv:
        r = resolve_weights("u", WeightsSpec(url=srv.url + "/good.pt", sha256=_sha(good)), download=True)
        assert r.path == _cache / "weights" / "u" / "good.pt" and r.path.read_bytes() == good
        with pytest.raises(ModelError) as ei:
            resolve_weights("u", WeightsSpec(url=srv.url + "/bad.pt", sha256=_sha(good)), download=True)
        assert _sha(good) in str(ei.value) and _sha(bad) in str(ei.value)
        assert not (_cache / "weights" / "u" / "bad.pt").exists()
        with pytest.raises(ModelError, match="stopped after"):
            resolve_weights("u", WeightsSpec(url=srv.url + "/short.pt", sha256=_sha(good)), download=True)
        # a redirect is followed only to an address that passes the same check
        r = resolve_weights("r", WeightsSpec(url=srv.url + "/redirect-to/" + srv.url + "/good.pt",
                                             cache_name="good.pt", sha256=_sha(good)), download=True)
        assert r.path.read_bytes() == good
        with pytest.raises(ModelError, match="only fetched over https"):
            resolve_weights("r2", WeightsSpec(url=srv.url + "/redirect-to/http://example.org/x.pt",
                                              cache_name="x.pt", sha256=_sha(good)), download=True)
        # no published hash: refused, unless the lock already holds the file's (same source)
        with pytest.raises(ModelError, match="no published sha256"):
            resolve_weights("u2", WeightsSpec(url=srv.url + "/bad.pt"), download=True)
        again = resolve_weights("u3", WeightsSpec(url=srv.url + "/good.pt"), download=True)
        assert "lock file" in again.verified and again.path.read_bytes() == good


@pytest.mark.parametrize("url", ["http://example.org/w.pt", "file:///etc/passwd", "ftp://example.org/w.pt",
                                 "https:///nohost.pt", "zenodo.org/w.pt"])
def test_only_https_urls_are_fetched(url):
    with pytest.raises(ModelError, match="only fetched over https"):
        W.download_weights("m", WeightsSpec(url=url, cache_name="w.pt", sha256="0" * 64))


def test_a_damaged_lock_file_is_a_clear_error(monkeypatch):
    W.lock_path().parent.mkdir(parents=True)
    W.lock_path().write_text("{not json")
    with pytest.raises(ModelError, match="weights lock file .* unreadable"):
        W.download_weights("m", _hf_spec())


# -- files that are not checkpoints ----------------------------------------------------------
class Thing:
    pass


def _cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    out: dict[str, tuple[Path, str]] = {}
    p = tmp_path / "notes.pt"
    p.write_text("hello, these are my notes\n")
    out["text"] = (p, "text starting with 'hello")
    p = tmp_path / "random.pth"
    p.write_bytes(bytes(range(7, 250)) * 40)
    out["random"] = (p, "unrecognised binary data")
    p = tmp_path / "empty.safetensors"
    p.write_bytes(b"")
    out["empty"] = (p, "empty")
    full = tmp_path / "full.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(full))
    p = tmp_path / "cut.safetensors"
    p.write_bytes(full.read_bytes()[:2000])
    out["truncated safetensors"] = (p, "safetensors file cut short")
    p = tmp_path / "archive.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "not a torch file")
    out["zip"] = (p, "zip archive without torch's data.pkl")
    p = tmp_path / "objects.pt"
    torch.save({"w": torch.zeros(2), "thing": Thing()}, p)
    out["torch file with a Python object"] = (p, "Python objects besides tensors (test_weights.Thing)")
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps({"thing": Thing()}, protocol=2))
    out["pickle with a Python object"] = (p, "Python objects besides tensors (test_weights.Thing)")
    p = tmp_path / "dict.pkl"
    p.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    out["pickle of plain data"] = (p, "pickle that is not a torch checkpoint")
    p = tmp_path / "new.pkl"
    p.write_bytes(pickle.dumps({"thing": Thing()}, protocol=5))
    out["pickle, protocol 5"] = (p, "pickle that is not a torch checkpoint")
    return out


@pytest.mark.parametrize("case", ["text", "random", "empty", "truncated safetensors", "zip",
                                  "torch file with a Python object", "pickle with a Python object",
                                  "pickle of plain data", "pickle, protocol 5"])
def test_a_file_that_is_not_a_checkpoint_says_what_it_is(tmp_path, case):
    path, found = _cases(tmp_path)[case]
    with pytest.raises(ModelError) as ei:
        load_state_dict(path)
    msg = str(ei.value)
    assert msg.startswith(f"{str(path)!r} is not a PyTorch or safetensors checkpoint (")
    assert found in msg, msg
    assert "weights_only" not in msg and "IndexError" not in msg


def test_a_model_given_a_text_file_says_so(tmp_path):
    from rs_embed_qgis.engine.api import clear_caches, get_embedder

    notes = tmp_path / "RemoteCLIP-ViT-B-32.pt"
    notes.write_text("not weights")
    clear_caches()
    with pytest.raises(ModelError, match="is not a PyTorch or safetensors checkpoint \\(text"):
        get_embedder("remoteclip", device="cpu", model_options={"weights": str(notes), "download": False})


def test_the_superres_and_forecast_loaders_say_the_same(tmp_path):
    from rs_embed_qgis.engine.forecast.checkpoint import load_forecast_model
    from rs_embed_qgis.engine.superres.loader import load_s2x10_from_chunks

    text = tmp_path / "w.safetensors"
    text.write_text("hello")
    for load in (load_s2x10_from_chunks, load_forecast_model):
        with pytest.raises(ModelError, match="is not a PyTorch or safetensors checkpoint \\(text"):
            load(text)
    torch_file = tmp_path / "t.safetensors"
    torch.save({"w": torch.zeros(1)}, torch_file)
    with pytest.raises(ModelError, match="reads safetensors only"):
        load_s2x10_from_chunks(torch_file)


def test_a_model_downloads_its_unhashed_file_only_when_told(tmp_path, monkeypatch, _cache):
    """SatMAE++ publishes no sha256: model_options allow_unverified=True is the explicit choice."""
    from _vit_ckpt import SMALL, write_official

    from rs_embed_qgis.engine.api import clear_caches, get_embedder

    monkeypatch.delenv("RS_EMBED_SATMAEPP_CKPT", raising=False)
    path, enc = write_official("satmaepp", tmp_path / "official")
    hub = FakeHub(path.read_bytes())
    monkeypatch.setattr(W, "_hub_download", hub)
    clear_caches()
    with pytest.raises(ModelError, match="no published sha256.*allow_unverified=True"):
        get_embedder("satmaepp", device="cpu", model_options={"arch": SMALL["satmaepp"]})
    assert hub.calls == []
    emb = get_embedder("satmaepp", device="cpu",
                       model_options={"arch": SMALL["satmaepp"], "allow_unverified": True})
    assert hub.calls == [{"repo_id": "mubashir04/checkpoint_ViT-L_pretrain_fmow_rgb",
                          "filename": "checkpoint_ViT-L_pretrain_fmow_rgb.pth", "revision": "main"}]
    meta = emb.weights_meta
    assert meta["status"] == "pretrained" and meta["source"] == "download"
    assert meta["verified"].startswith("trusted on first use") and meta["encoder_keys"] == len(enc)
    clear_caches()   # from now on the lock vouches for the cached copy
    emb = get_embedder("satmaepp", device="cpu", model_options={"arch": SMALL["satmaepp"]})
    assert emb.weights_meta["source"] == "cache" and "lock file" in emb.weights_meta["verified"]
    clear_caches()
